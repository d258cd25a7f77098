"""Attention rollout (Abnar & Zuidema, 2020)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...attention_maps import AttentionMaps

__all__ = ["attention_rollout", "fuse_heads", "residual_attention"]

_FUSIONS = ("mean", "max", "min")


def _check_maps(maps, fn: str) -> AttentionMaps:
    if not isinstance(maps, AttentionMaps):
        raise TypeError(f"{fn} takes the AttentionMaps returned by capture_attention, got {type(maps).__name__}")
    if maps.kind != "attention":
        raise ValueError(f"{fn} needs raw attention maps (kind='attention'), got kind={maps.kind!r}")
    if maps.n_queries != maps.n_keys:
        raise ValueError(
            f"{fn} needs square self-attention maps (Q == K); got Q={maps.n_queries}, K={maps.n_keys} "
            "(cross-attention cannot be rolled out)"
        )
    return maps


def fuse_heads(w: np.ndarray, head_fusion: str = "mean") -> np.ndarray:
    """``(..., H, Q, K)`` → ``(..., Q, K)`` by mean, max or min over heads (float64)."""
    if head_fusion not in _FUSIONS:
        raise ValueError(f"head_fusion must be one of {_FUSIONS}, got {head_fusion!r}")
    w = w.astype(np.float64)
    return getattr(w, head_fusion)(axis=-3)


def _discard(a: np.ndarray, ratio: float) -> np.ndarray:
    """Zero the lowest ``ratio`` fraction of each row, never the diagonal nor key 0."""
    n = a.shape[-1]
    protect = np.zeros(a.shape[-2:], dtype=bool)
    np.fill_diagonal(protect, True)
    protect[:, 0] = True
    cand = np.where(protect, np.inf, a)
    k = int(ratio * (n - 2 if n > 2 else 0) + 1e-9)  # candidates per row: n minus diagonal and key 0
    if k <= 0:
        return a
    order = np.argsort(cand, axis=-1, kind="stable")[..., :k]
    out = a.copy()
    np.put_along_axis(out, order, 0.0, axis=-1)
    return out


def residual_attention(a: np.ndarray, *, residual: bool = True, discard_ratio: float = 0.0) -> np.ndarray:
    """Per layer: discard, ``0.5·A + 0.5·I`` when ``residual``, renormalise rows."""
    if discard_ratio:
        a = _discard(a, discard_ratio)
    if residual:
        a = 0.5 * a + 0.5 * np.eye(a.shape[-1])
    s = a.sum(axis=-1, keepdims=True)
    return a / np.where(s > 0, s, 1.0)


def attention_rollout(
    maps: AttentionMaps, *, head_fusion: str = "mean", discard_ratio: float = 0.0, residual: bool = True
) -> AttentionMaps:
    """Attention rollout: how much each token's representation draws on each input token.

    Parameters
    ----------
    maps : AttentionMaps
        Raw self-attention weights from :func:`capture_attention`
        (``kind="attention"``, square: ``Q == K``).
    head_fusion : "mean" | "max" | "min", default "mean"
        How each layer's heads are fused into one matrix.
    discard_ratio : float in [0, 1), default 0.0
        Fraction of each query row's lowest weights set to 0 before the
        residual is added (the diagonal and key 0, the class token, are kept).
    residual : bool, default True
        Add the skip connection: ``0.5·A + 0.5·I`` per layer.

    Returns
    -------
    AttentionMaps
        ``kind="rollout"``, weights ``(L, 1, Q, K)`` (``(B, L, 1, Q, K)``
        for a batch): layer ``l`` holds ``R_l``, the rollout through layer
        ``l``; the last layer is the usual rollout. ``maps.to_attribution(0)``
        gives the class token's row.

    Notes
    -----
    Per layer ``l``: heads fused into ``A_l``; with ``discard_ratio > 0`` the
    lowest fraction of each query row is set to 0 — the diagonal (the token
    itself) and key 0 (the class token) are never discarded, following the
    common implementation, which keeps the class token; with ``residual``
    ``Â_l = 0.5·A_l + 0.5·I``; rows are renormalised to sum to 1. Then
    ``R_l = Â_l · Â_{l-1} ··· Â_0``. Cost: ``L`` matrix products ``Q×Q``.

    Examples
    --------
    >>> import xai_widgets as xw
    >>> from xai_widgets import demo
    >>> tok, model = demo.minilm("eager")                          # doctest: +SKIP
    >>> maps = xw.capture_attention(model, **tok("The cat sat.", return_tensors="pt"), tokenizer=tok)  # doctest: +SKIP
    >>> r = xw.attention_rollout(maps, head_fusion="max", discard_ratio=0.9)  # doctest: +SKIP
    >>> r.to_attribution(0).values                                  # doctest: +SKIP
    """
    maps = _check_maps(maps, "attention_rollout")
    if isinstance(discard_ratio, bool) or not isinstance(discard_ratio, (int, float, np.floating)) or not 0 <= discard_ratio < 1:
        raise ValueError(f"discard_ratio must be a number in [0, 1), got {discard_ratio!r}")
    a = fuse_heads(maps.weights, head_fusion)  # (..., L, Q, K)
    a = residual_attention(a, residual=bool(residual), discard_ratio=float(discard_ratio))
    out = np.empty_like(a)
    r = None
    for l in range(a.shape[-3]):
        r = a[..., l, :, :] if r is None else np.matmul(a[..., l, :, :], r)
        out[..., l, :, :] = r
    return replace(
        maps,
        weights=out[..., :, None, :, :].astype(np.float32),
        kind="rollout",
        params={**maps.params, "head_fusion": head_fusion, "discard_ratio": float(discard_ratio), "residual": bool(residual)},
        causal=None,
    )
