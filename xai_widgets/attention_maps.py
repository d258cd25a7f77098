"""The result type of the attention kernels (and the input of ``AttentionView``).

``capture_attention`` returns raw attention weights; ``attention_rollout``,
``attention_flow`` and ``grad_attention`` return derived maps of the same
type, so every view and helper accepts all four.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

__all__ = ["AttentionMaps", "KINDS"]

#: The values of :attr:`AttentionMaps.kind`.
KINDS = ("attention", "rollout", "flow", "grad_attention", "custom")


def _np(x: Any) -> np.ndarray | None:
    if x is None:
        return None
    try:
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach().cpu()
            if x.dtype == torch.bfloat16:  # numpy has no bfloat16
                x = x.float()
            x = x.numpy()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return np.asarray(x)


def _tokens(tokens: Any, name: str) -> list | None:
    if tokens is None:
        return None
    if isinstance(tokens, str):
        raise TypeError(f"{name} must be a list of strings (or one list per batch row), got a str")
    out = []
    for t in tokens:
        if isinstance(t, (list, tuple)):
            out.append([str(s) for s in t])
        else:
            out.append(str(t))
    return out


@dataclass(repr=False, eq=False)
class AttentionMaps:
    """Attention weights (or a map derived from them) for one input or a batch.

    Attributes
    ----------
    weights : ndarray ``(L, H, Q, K)`` or ``(B, L, H, Q, K)``
        ``weights[l, h, q, k]`` is how much query position ``q`` attends to
        key position ``k`` in head ``h`` of layer ``l`` (rows sum to 1 for raw
        softmax attention). A batch of one input gives the 4-D form with
        padding already removed; a batch of ``B > 1`` gives the 5-D form
        padded to the longest row (see ``mask`` and :meth:`sample`).
        Derived maps (``kind != "attention"``) have ``H = 1``:

        * ``"rollout"`` — ``(L, 1, Q, K)``: layer ``l`` holds the rollout
          *through* layer ``l`` (cumulative product of layers ``0..l``), so
          the last layer is the usual rollout.
        * ``"grad_attention"`` — ``(L, 1, Q, K)``: Chefer et al.'s relevance
          ``R`` after layer ``l`` (cumulative, last layer = the result).
        * ``"flow"`` — ``(1, 1, Q, K)``: max-flow from every input token
          ``k`` to every output token ``q`` through all layers; with
          ``output_token=t`` only that row is computed: ``(1, 1, 1, K)``
          and ``query_tokens`` names it (``params["output_token"] = t``).
    tokens : list[str] | list[list[str]] | None
        Key tokens (one list per batch row for a batch, padding included).
    query_tokens : list[str] | list[list[str]] | None
        Query tokens when they differ from the keys (cross-attention,
        ``Q != K``); ``None`` for self-attention (queries are ``tokens``).
    layer_names : list[str]
        One name per layer (the attention module's dotted name in the model).
    kind : str
        ``"attention"``, ``"rollout"``, ``"flow"``, ``"grad_attention"``
        (``"custom"`` for user-built maps).
    params : dict
        How the maps were made (selected heads, implementation, options ...).
    mask : ndarray ``(B, K)`` bool or None
        True for real key tokens, False for padding (batches only).
    query_mask : ndarray ``(B, Q)`` bool or None
        The same for queries; ``None`` means "same as ``mask``" for
        self-attention and "all real" for cross-attention.
    causal : bool
        True when every map is lower-triangular (decoder self-attention);
        detected from the weights (upper triangle all zero).
    patch_grid : (h, w) or None
        For vision transformers: the patch grid; the last ``h * w`` key
        positions are the patches in row-major order.
    n_prefix_tokens : int
        Tokens before the patches (class / distillation / register tokens).

    ``dtype`` is the weights' numpy dtype (``float32``, or ``float16`` when
    captured with ``dtype=torch.float16``).

    Example
    -------
    >>> import numpy as np
    >>> m = AttentionMaps(np.full((2, 3, 4, 4), 0.25), tokens=list("abcd"))
    >>> m.head(0, -1).shape, len(m)
    ((4, 4), 2)
    """

    weights: np.ndarray
    tokens: list | None = None
    query_tokens: list | None = None
    layer_names: list[str] = field(default_factory=list)
    kind: str = "attention"
    params: dict = field(default_factory=dict)
    mask: np.ndarray | None = None
    query_mask: np.ndarray | None = None
    causal: bool | None = None
    patch_grid: tuple[int, int] | None = None
    n_prefix_tokens: int = 0

    def __post_init__(self) -> None:
        w = _np(self.weights)
        if w is None or w.dtype == object or not np.issubdtype(w.dtype, np.floating):
            raise TypeError(f"weights must be a floating-point array (L, H, Q, K) or (B, L, H, Q, K), got {type(self.weights).__name__}")
        if w.ndim not in (4, 5):
            raise ValueError(f"weights must have shape (L, H, Q, K) or (B, L, H, Q, K); got shape {w.shape}")
        self.weights = w
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        L = w.shape[-4]
        if not self.layer_names:
            self.layer_names = [f"layer{i}" for i in range(L)]
        self.layer_names = [str(n) for n in self.layer_names]
        if len(self.layer_names) != L:
            raise ValueError(f"layer_names has {len(self.layer_names)} names but weights have {L} layers")
        self.tokens = _tokens(self.tokens, "tokens")
        self.query_tokens = _tokens(self.query_tokens, "query_tokens")
        self.params = dict(self.params or {})
        for name, ax in (("mask", -1), ("query_mask", -2)):
            m = _np(getattr(self, name))
            if m is not None:
                m = m.astype(bool)
                if w.ndim == 5:
                    want = (w.shape[0], w.shape[ax])
                else:
                    want = (w.shape[ax],) if m.ndim == 1 else (1, w.shape[ax])
                if m.shape != want:
                    raise ValueError(f"{name} must have shape {want}, got {m.shape}")
            setattr(self, name, m)
        if self.causal is None:
            self.causal = _detect_causal(w)
        self.causal = bool(self.causal)
        if self.patch_grid is not None:
            self.patch_grid = (int(self.patch_grid[0]), int(self.patch_grid[1]))
        self.n_prefix_tokens = int(self.n_prefix_tokens)

    # ------------------------------------------------------------- shape
    @property
    def dtype(self) -> np.dtype:
        return self.weights.dtype

    @property
    def batched(self) -> bool:
        """True for the 5-D ``(B, L, H, Q, K)`` form."""
        return self.weights.ndim == 5

    @property
    def batch_size(self) -> int:
        return int(self.weights.shape[0]) if self.batched else 1

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.weights.shape)

    @property
    def n_layers(self) -> int:
        return int(self.weights.shape[-4])

    @property
    def n_heads(self) -> int:
        return int(self.weights.shape[-3])

    @property
    def n_queries(self) -> int:
        return int(self.weights.shape[-2])

    @property
    def n_keys(self) -> int:
        return int(self.weights.shape[-1])

    def __len__(self) -> int:
        """The number of layers ``L`` (also for a batch)."""
        return self.n_layers

    def numpy(self) -> np.ndarray:
        return self.weights

    def __repr__(self) -> str:
        parts = [f"kind={self.kind!r}", f"shape={self.shape}", f"layers={self.n_layers}", f"heads={self.n_heads}"]
        if self.n_queries != self.n_keys and self.kind == "attention":
            parts.append("cross=True")
        if self.causal:
            parts.append("causal=True")
        if self.patch_grid is not None:
            parts.append(f"patch_grid={self.patch_grid}")
        parts.append(f"dtype={self.dtype}")
        return f"AttentionMaps({', '.join(parts)})"

    # ------------------------------------------------------------ access
    def _layer_index(self, layer: Any) -> int:
        if isinstance(layer, str):
            if layer not in self.layer_names:
                raise ValueError(f"no layer named {layer!r}; layers: {self.layer_names}")
            return self.layer_names.index(layer)
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
            raise TypeError(f"layer must be an int or a layer name, got {layer!r}")
        L = self.n_layers
        if not -L <= layer < L:
            raise ValueError(f"layer {layer} is out of range: the maps have {L} layers (0..{L - 1})")
        return int(layer) % L

    def layer(self, layer: Any) -> np.ndarray:
        """One layer's maps: ``(H, Q, K)`` (``(B, H, Q, K)`` for a batch)."""
        return self.weights[..., self._layer_index(layer), :, :, :]

    def head(self, layer: Any, head: int = -1) -> np.ndarray:
        """One head's map ``(Q, K)`` (``(B, Q, K)`` for a batch); ``head=-1`` is the mean over heads."""
        w = self.layer(layer)
        if isinstance(head, bool) or not isinstance(head, (int, np.integer)):
            raise TypeError(f"head must be an int (-1 for the mean of heads), got {head!r}")
        if head == -1:
            return w.mean(axis=-3, dtype=np.float32).astype(w.dtype, copy=False)
        if not 0 <= head < self.n_heads:
            raise ValueError(f"head {head} is out of range: the maps have {self.n_heads} heads (0..{self.n_heads - 1}, or -1 for the mean)")
        return w[..., head, :, :]

    def mean_heads(self) -> "AttentionMaps":
        """The same maps with heads averaged: ``H = 1``."""
        w = self.weights.mean(axis=-3, keepdims=True, dtype=np.float32).astype(self.dtype, copy=False)
        return replace(self, weights=w, params={**self.params, "head_fusion": "mean"}, causal=self.causal)

    def _row_masks(self, i: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        km = self.mask[i] if self.mask is not None else None
        if self.query_mask is not None:
            qm = self.query_mask[i]
        elif km is not None and self.n_queries == self.n_keys and self.query_tokens is None:
            qm = km
        else:
            qm = None
        return km, qm

    def sample(self, i: int = 0) -> "AttentionMaps":
        """Row ``i`` of a batch as ``(L, H, Q, K)`` maps with padding removed.

        On unbatched maps only ``i = 0`` is valid and the maps are returned as they are.
        """
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"sample must be an int, got {i!r}")
        if not self.batched:
            if i not in (0, -1):
                raise ValueError(f"sample {i} is out of range: these maps hold one input")
            return self
        B = self.batch_size
        if not -B <= i < B:
            raise ValueError(f"sample {i} is out of range: the batch has {B} rows (0..{B - 1})")
        i = int(i) % B
        w = self.weights[i]
        km, qm = self._row_masks(i)
        if self.params.get("output_token") is not None:
            qm = None  # flow into one output token: the single row stays
        if qm is not None and not qm.all():
            w = w[:, :, qm, :]
        if km is not None and not km.all():
            w = w[..., km]

        def pick(tokens, m):
            if tokens is None:
                return None
            t = tokens[i] if tokens and isinstance(tokens[0], list) else tokens
            if m is not None and len(t) == len(m):
                t = [s for s, keep in zip(t, m) if keep]
            return t

        return replace(
            self,
            weights=np.ascontiguousarray(w),
            tokens=pick(self.tokens, km),
            query_tokens=pick(self.query_tokens, qm),
            mask=None,
            query_mask=None,
            params={**self.params, "sample": i},
            causal=self.causal,
        )

    # ----------------------------------------------------------- interop
    def to_attribution(self, query: int = 0, *, layer: Any = -1, head: int = -1, sample: int | None = None):
        """Row ``query`` of one map as an :class:`~xai_widgets.Attribution` over tokens.

        Values are ``(1, K)``: how much ``query`` (e.g. 0, the class token)
        takes from each token, in ``layer`` (default the last: for rollout /
        grad_attention the full result) and ``head`` (-1: mean of heads).
        For a batch, ``sample`` picks the row (padding removed); ``None``
        means 0. ``feature_names`` are the tokens, so ``TextHeatmap`` shows it.
        """
        from .attribution import Attribution

        maps = self.sample(0 if sample is None else sample) if self.batched else self
        m = maps.head(layer, head)
        if isinstance(query, bool) or not isinstance(query, (int, np.integer)):
            raise TypeError(f"query must be an int (a query position), got {query!r}")
        Q = m.shape[0]
        if not -Q <= query < Q:
            raise ValueError(f"query {query} is out of range: the maps have {Q} query positions")
        values = m[query].astype(np.float32)[None, :]
        return Attribution.from_array(
            values,
            method=self.kind,
            params={**self.params, "query": int(query), "layer": maps.layer_names[maps._layer_index(layer)], "head": int(head)},
            feature_names=maps.tokens,
        )


def _detect_causal(w: np.ndarray) -> bool:
    """True when every map is square, has more than one position and an all-zero upper triangle."""
    q, k = w.shape[-2:]
    if q != k or q < 2:
        return False
    maps = w.reshape(-1, q, k)
    upper = np.triu(np.ones((q, k), dtype=bool), 1)
    if maps[0][upper].any():  # cheap early exit for ordinary (non-causal) attention
        return False
    return not any(m[upper].any() for m in maps)
