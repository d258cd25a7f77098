"""AttentionView: attention matrices with layer/head sliders, token lines, overview grid and ViT patches.

Transport (see DESIGN.md "Binary to the browser"): the kernel keeps the full
``(L, H, Q, K)`` tensor of every source. The browser gets

* ``_thumbs``: every layer x (mean, head 0..H-1) of the current source,
  area-averaged to at most ``thumb_size`` x ``thumb_size`` and quantised to
  uint8 with one scale per thumbnail (``_thumbs_meta["scales"]``), whose top
  is the :data:`THUMB_CLIP` percentile of the thumbnail's cells that hold
  weight (cells above it saturate at 255);
* ``_head``: the selected (source, sample, layer, head) at full resolution,
  uint8 codes in the log1p domain (:func:`encode_head`; or float16), so saved
  widget state shows it. Causal heads send their lower triangle only
  (``meta["packed"] = "tril"``: half the bytes); ``_mask`` carries padding
  only and the browser adds the causal triangle itself;
* other heads on demand: the front end sends ``{"type": "get", "requests":
  [{"id", "source", "sample", "layer", "head"}, ...]}`` as a custom message
  and each answer comes back as ``{"type": "head", "id", "meta"}`` with the
  bytes as the message's one buffer (prefetched per layer, LRU-cached in the
  browser by bytes).

``save_html`` embeds the heads a page would otherwise ask the kernel for,
nearest to the shown one first, up to ``max_bytes`` (``_embed_extra``); the
page names any head that did not fit.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Mapping

import numpy as np
import traitlets

from . import _serialize as ser
from ._base import XWidget
from ._traits import (
    SEQUENTIAL,
    BoundedFloat,
    Choice,
    Index,
    OptionalIndex,
    WidgetTypeError,
    WidgetValueError,
    as_int,
    reject_result_sequence,
)

__all__ = ["AttentionView", "pool_thumbnails", "encode_head", "decode_head"]

VIEWS = ("matrix", "tokens", "overview")
_THUMB_BUDGET = 512 * 1024  # bytes of thumbnails per source at most
#: Overview thumbnails: the colour scale of each ends at this percentile of its cells holding weight.
THUMB_CLIP = 99.0


# --------------------------------------------------------------------------- helpers
def _is_maps(x: Any) -> bool:
    """Duck-typed AttentionMaps: an object with a ``weights`` array attribute (not an array itself)."""
    return hasattr(x, "weights") and not isinstance(x, np.ndarray) and not hasattr(x, "__array_interface__")


def _weights(x: Any, what: str) -> np.ndarray:
    """``(B, L, H, Q, K)`` float32 or float16 from an AttentionMaps, array or tensor ((L,H,Q,K), (H,Q,K), (Q,K) too).

    float32 and float16 input is kept as it is (a view, no copy: a 30-layer model's
    maps over 1,024 tokens are 1.1 GB in float32); heads are widened to float32 one
    at a time when they are shown. Other dtypes become float32.
    """
    raw = x.weights if _is_maps(x) else x
    if type(raw).__module__.startswith("torch") and str(getattr(raw, "dtype", "")) == "torch.float16":
        raw = raw.detach().cpu().numpy()  # the shared conversion widens half floats to float32
    a = ser.to_numpy(raw, what)
    shape = a.shape
    if a.ndim == 2:
        a = a[None, None, None]
    elif a.ndim == 3:
        a = a[None, None]
    elif a.ndim == 4:
        a = a[None]
    elif a.ndim != 5:
        raise WidgetValueError(
            f"{what} has shape {shape}; expected (L, H, Q, K) or (B, L, H, Q, K) attention weights "
            f"((H, Q, K) and (Q, K) are read as one layer / one head)"
        )
    if 0 in a.shape:
        raise WidgetValueError(f"{what} of shape {shape} is empty")
    if a.dtype not in (np.float32, np.float16):
        a = a.astype(np.float32)
    for b in range(a.shape[0]):  # layer by layer: a whole-array check would allocate a mask as large as the maps
        for layer in range(a.shape[1]):
            ser.check_finite(a[b, layer], what)
    return a


def _upper_empty(w: np.ndarray) -> bool:
    """Whether every ``(Q, K)`` map of ``(B, L, H, Q, K)`` is zero above the diagonal (checked layer by layer)."""
    Q, K = w.shape[-2:]
    upper = np.triu(np.ones((Q, K), dtype=bool), 1)
    for b in range(w.shape[0]):
        for layer in range(w.shape[1]):
            if w[b, layer][:, upper].any():
                return False
    return True


def _tril_mask(n: int) -> np.ndarray:
    """``(n, n)`` bool, True on and below the diagonal: the cells a causal head sends."""
    return np.tri(n, dtype=bool)


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    r = n_in / n_out
    edges = np.arange(n_out + 1) * r
    lo, hi = edges[:-1, None], edges[1:, None]
    j = np.arange(n_in)[None, :]
    return (np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0, None) / r).astype(np.float32)


def pool_thumbnails(w: np.ndarray, tq: int, tk: int) -> np.ndarray:
    """Mean-pool the last two axes ``(..., Q, K)`` to ``(..., tq, tk)`` (area average; exact block means when divisible)."""
    Q, K = w.shape[-2:]
    if (Q, K) == (tq, tk):
        return w.astype(np.float32, copy=True)
    if w.ndim > 3:  # one leading index at a time: float16 maps are widened per slice, not as a whole
        return np.stack([pool_thumbnails(x, tq, tk) for x in w])
    if Q % tq == 0 and K % tk == 0:
        s = w.shape[:-2] + (tq, Q // tq, tk, K // tk)
        return w.reshape(s).mean(axis=(-3, -1), dtype=np.float64).astype(np.float32)
    ry, rx = _area_matrix(Q, tq), _area_matrix(K, tk)
    return np.matmul(np.matmul(ry, w.astype(np.float32, copy=False)), rx.T)


#: uint8 heads store log1p(w / eps) with eps = max / LOG_RANGE: relative precision where
#: attention lives (most weights far below the max, the colour scale ending at a
#: high percentile). Linear codes (max / 255 per step) posterised such heads: on
#: MiniLM at 512 tokens 44% of cells moved by more than 2 of 255 colour steps,
#: these by 0.1% (benchmarks/save_html_attention.py).
LOG_RANGE = 1024


def encode_head(a: np.ndarray, dtype: str = "uint8") -> tuple[bytes, dict]:
    """Encode one ``(Q, K)`` map for the browser: ``(bytes, meta)``.

    Parameters
    ----------
    a : (Q, K) float array
    dtype : "uint8" | "float16"
        uint8 on non-negative maps: ``code = round(255 * log1p(w / eps) / log1p(LOG_RANGE))``
        with ``eps = max / LOG_RANGE``, decoded as ``scale * expm1(code * log_step)`` (meta
        ``codes="log1p"``): each weight within ``(w + eps) * 1.4%``. Maps with negative
        values, and float16, use the shared linear encoding (``_serialize.encode``).

    Examples
    --------
    >>> raw, meta = encode_head(np.array([[0.0, 0.5], [0.25, 1.0]]))
    >>> bool(np.allclose(decode_head(raw, meta), [[0, 0.5], [0.25, 1]], rtol=0.014, atol=1e-3))
    True
    """
    if dtype == "uint8" and a.size:
        hi = float(a.max())
        if hi > 0 and float(a.min()) >= 0 and math.isfinite(hi):
            eps = hi / LOG_RANGE
            step = math.log1p(LOG_RANGE) / 255
            x = np.log1p(a.astype(np.float32, copy=False) * np.float32(1 / eps))
            codes = np.clip(np.rint(x * np.float32(1 / step)), 0, 255).astype(np.uint8)
            meta = {"dtype": "uint8", "shape": [int(n) for n in a.shape], "scale": eps, "offset": 0.0,
                    "codes": "log1p", "log_step": step}
            return codes.tobytes(), meta
    return ser.encode(a, dtype)


def decode_head(raw: bytes, meta: dict) -> np.ndarray:
    """Inverse of :func:`encode_head` (what the browser does), as float64.

    Parameters
    ----------
    raw : bytes
    meta : dict
        As :func:`encode_head` returns it; with ``packed="tril"`` (causal heads
        from the widget) ``raw`` holds the lower triangle row by row and the
        cells above the diagonal decode as 0.

    Examples
    --------
    >>> decode_head(*encode_head(np.ones((2, 2)))).round(6).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    shape = [int(n) for n in meta["shape"]]
    if meta.get("packed") == "tril":  # the lower triangle, row by row; zeros above the diagonal
        flat = decode_head(raw, dict(meta, shape=[shape[0] * (shape[0] + 1) // 2], packed=None))
        out = np.zeros(shape, dtype=np.float64)
        out[_tril_mask(shape[0])] = flat
        return out
    if meta.get("codes") == "log1p":
        c = np.frombuffer(raw, dtype=np.uint8).reshape(shape).astype(np.float64)
        return meta["scale"] * np.expm1(c * meta["log_step"]) + meta.get("offset", 0.0)
    return ser.decode(raw, meta)


def _token_rows(x: Any, B: int, n: int, what: str, count: str) -> list[list[str]] | None:
    """One token list per batch row (a flat list is shared by all rows); each of length ``n``."""
    if x is None:
        return None
    if isinstance(x, str):
        raise WidgetTypeError(f"{what} must be a list of strings, got a single string")
    if hasattr(x, "tolist") and not isinstance(x, list):
        x = x.tolist()
    try:
        items = list(x)
    except TypeError:
        raise WidgetTypeError(f"{what} must be a list of strings, got {type(x).__name__}") from None
    if items and all(isinstance(r, (list, tuple)) for r in items):
        if len(items) != B:
            raise WidgetValueError(f"{what} has {len(items)} rows but the maps hold {B} batch rows")
        rows = [list(r) for r in items]
    else:
        rows = [items] * B
    for r in rows:
        for t in r:
            if not isinstance(t, str):
                raise WidgetTypeError(f"{what} must be strings, got {type(t).__name__} {t!r}")
        if len(r) != n:
            raise WidgetValueError(f"{what} has {len(r)} entries but the maps have {n} {count}; they must match")
    return rows


def _infer_prefix(k: int) -> tuple[int, tuple[int, int]] | None:
    for p in (1, 0, 5, 2, 3, 4, 6, 7, 8, 9, 17):
        n = k - p
        if n > 0 and math.isqrt(n) ** 2 == n:
            s = math.isqrt(n)
            return p, (s, s)
    return None


class _Source:
    """One choice of the ``source`` selector: full weights (B, L, H, Q, K) kept in the kernel."""

    def __init__(self, name: str, w: np.ndarray, kind: str, layer_names: list[str], params: dict,
                 query_tokens: list[list[str]] | None = None):
        self.name, self.w, self.kind, self.params = name, w, kind, params
        self.B, self.L, self.H, self.Q, self.K = w.shape
        self.layer_names = layer_names
        self.query_tokens = query_tokens  # per batch row; only for sources whose Q differs from the main maps'
        self._means: dict[tuple[int, int], np.ndarray] = {}

    def head(self, b: int, layer: int, head: int) -> np.ndarray:
        """One ``(Q, K)`` float32 map (``head=-1``: the mean of heads, kept once computed)."""
        if head >= 0 or self.H == 1:
            return self.w[b, layer, max(head, 0)].astype(np.float32, copy=False)
        key = (b, layer)
        if key not in self._means:
            self._means[key] = self.w[b, layer].mean(axis=0, dtype=np.float64).astype(np.float32)
        return self._means[key]

    def describe(self, sample: int = 0) -> dict:
        d = {"name": self.name, "kind": self.kind, "layers": self.L, "heads": self.H, "layer_names": self.layer_names,
             "queries": self.Q}
        if self.query_tokens is not None:
            d["query_tokens"] = self.query_tokens[sample]
        return d


# --------------------------------------------------------------------------- widget
class AttentionView(XWidget):
    """Attention weights, layer by layer and head by head.

    Parameters
    ----------
    maps : AttentionMaps, array or tensor
        ``(L, H, Q, K)`` or ``(B, L, H, Q, K)`` weights (``(H, Q, K)``/``(Q, K)``
        are one layer/head); float32 and float16 weights are kept without a
        copy (a 30-layer model over 1,024 tokens is 1.1 GB in float32), other
        dtypes become float32. An AttentionMaps also brings ``tokens``,
        ``query_tokens`` (cross-attention), ``layer_names``, ``kind``, ``mask``,
        ``causal``, ``patch_grid`` and ``n_prefix_tokens``.
    tokens : list of str, optional
        Key tokens (and query tokens when Q == K). Default: the maps' tokens,
        else ``"0", "1", ...``.
    extra : dict ``{name: AttentionMaps or array}``, optional
        Derived maps (rollout, flow, gradient-weighted ...) offered as further
        choices of ``source``; each needs the same (B, Q, K), any (L, H).
    image : (H, W, 3) array, optional
        ViT mode: with a ``patch_grid`` (from the maps, the ``patch_grid``
        option, or inferred from K), clicking a patch shows its attention
        over the image. ``n_prefix_tokens`` (class/register tokens) precede
        the patches.
    layer, head : int
        Selection; ``head = -1`` is the mean of heads.
    token : int or None
        The pinned query token (click a token / a matrix row / an image patch).
    source : str
        The main maps' kind ("attention" for raw arrays) or an ``extra`` name.
    view : "matrix" | "tokens" | "overview"
    sample : int
        Batch row for 5-D weights.
    colormap : sequential colormap name, default "viridis"
    clip_percentile : float in (0, 100], default 99.5
        The colour scale ends at this percentile of the shown head's weights.
    thumb_size : int, default 32
        Overview thumbnails are at most this size (smaller when L x H is large).
    dtype : "uint8" | "float16"
        Encoding of the full-resolution heads sent to the browser (and saved
        by ``save_html``): uint8 codes in the log1p domain (each weight within
        1.4% of itself plus max/1024; one byte per cell) or float16 (two).
        Causal heads send only the cells on and below the diagonal.

    Examples
    --------
    >>> import xai_widgets as xw
    >>> from xai_widgets import demo
    >>> tok, model = demo.minilm("eager")                        # doctest: +SKIP
    >>> enc = tok("The cat sat on the mat.", return_tensors="pt")  # doctest: +SKIP
    >>> maps = xw.capture_attention(model, **enc, tokenizer=tok)  # doctest: +SKIP
    >>> w = xw.AttentionView(maps, extra={"rollout": xw.attention_rollout(maps)})  # doctest: +SKIP
    >>> w.layer, w.head = 3, -1                                  # doctest: +SKIP
    """

    _bundle = "attention_view"

    layer = Index(0, what="layer").tag(sync=True)
    head = traitlets.Int(0).tag(sync=True)
    token = OptionalIndex(what="token").tag(sync=True)
    source = traitlets.Unicode("attention").tag(sync=True)
    view = Choice(VIEWS, "matrix", what="view").tag(sync=True)
    sample = Index(0, what="sample").tag(sync=True)
    colormap = Choice(SEQUENTIAL, "viridis", what="colormap").tag(sync=True)
    clip_percentile = BoundedFloat(99.5, 0.0, 100.0, lo_open=True, what="clip_percentile").tag(sync=True)

    # description (set once)
    n_samples = traitlets.Int(1).tag(sync=True)
    causal = traitlets.Bool(False).tag(sync=True)
    patch_grid = traitlets.List(traitlets.Int()).tag(sync=True)
    n_prefix_tokens = traitlets.Int(0).tag(sync=True)
    _sources = traitlets.List().tag(sync=True)
    _tokens = traitlets.List(traitlets.Unicode()).tag(sync=True)
    _query_tokens = traitlets.List(traitlets.Unicode()).tag(sync=True)  # empty: same as _tokens
    # np.packbits of (Q, K) cells masked by padding; empty: none. The causal triangle is not in it
    # (1,024 tokens: 128 KB of known bits): the browser adds it when `causal` and Q == K
    _mask = traitlets.Bytes(b"").tag(sync=True)
    _image = traitlets.Bytes(b"").tag(sync=True)
    _image_meta = traitlets.Dict().tag(sync=True)

    # payload
    _thumbs = traitlets.Bytes(b"").tag(sync=True)
    _thumbs_meta = traitlets.Dict().tag(sync=True)
    _head = traitlets.Bytes(b"").tag(sync=True)
    _head_meta = traitlets.Dict().tag(sync=True)

    _OPTIONS = (
        "extra", "image", "query_tokens", "layer", "head", "token", "source", "view", "sample", "colormap",
        "clip_percentile", "thumb_size", "dtype", "causal", "patch_grid", "n_prefix_tokens", "max_image_size",
    )
    # layer and head are checked by their own validators: their range depends on
    # the source, and head -1 (mean of heads) lies outside [0, n)
    _RANGES = {
        "sample": ("_B", "in [0, {last}] (the maps hold {n} rows)"),
        "token": ("_Q", "a query index in [0, {last}]"),
    }
    _OPTIONAL = frozenset({"token"})
    _DATA_ATTRS = ("_maps", "_srcs", "_tok_rows", "_q_rows", "_mask_src", "_qmask_src")

    def __init__(
        self,
        maps: Any,
        tokens: Any = None,
        *,
        extra: Mapping[str, Any] | None = None,
        image: Any = None,
        query_tokens: Any = None,
        layer: int = 0,
        head: int = 0,
        token: int | None = None,
        source: str | None = None,
        view: str = "matrix",
        sample: int = 0,
        colormap: str = "viridis",
        clip_percentile: float = 99.5,
        thumb_size: int = 32,
        dtype: str = "uint8",
        causal: bool | None = None,
        patch_grid: Any = None,
        n_prefix_tokens: int | None = None,
        max_image_size: int = 384,
        **kwargs: Any,
    ) -> None:
        self._check_options(kwargs)
        reject_result_sequence(maps, "AttentionView", "maps",
                               several="pass the main maps and the others as extra={name: maps}")
        Choice(("uint8", "float16"), what="dtype").validate(self, dtype)
        self._dtype = dtype
        thumb_size = as_int(thumb_size, "thumb_size")
        if not 4 <= thumb_size <= 128:
            raise WidgetValueError(f"thumb_size must be in [4, 128], got {thumb_size}")
        if maps is None or isinstance(maps, (str, bytes, Mapping)):
            raise WidgetTypeError(
                f"maps must be an AttentionMaps or an (L, H, Q, K) array/tensor, got {type(maps).__name__}"
            )

        # ---------------------------------------------------------- sources
        main_w = _weights(maps, "maps")
        is_maps = _is_maps(maps)
        kind = str(getattr(maps, "kind", None) or "attention") if is_maps else "attention"
        B, L, H, Q, K = main_w.shape
        self._maps = maps
        self._srcs: dict[str, _Source] = {}
        self._srcs[kind] = _Source(kind, main_w, kind, self._layer_names(maps, L), dict(getattr(maps, "params", {}) or {}))
        if extra is not None:
            if not isinstance(extra, Mapping):
                raise WidgetTypeError(f"extra must be a dict {{name: AttentionMaps or array}}, got {type(extra).__name__}")
            for name, m in extra.items():
                if not isinstance(name, str) or not name:
                    raise WidgetTypeError(f"extra names must be non-empty strings, got {name!r}")
                if name in self._srcs:
                    raise WidgetValueError(f"extra name {name!r} clashes with an existing source {list(self._srcs)}")
                w = _weights(m, f"extra[{name!r}]")
                if w.shape[0] == 1 and B > 1:
                    w = np.broadcast_to(w, (B,) + w.shape[1:])
                if (w.shape[0], w.shape[4]) != (B, K):
                    raise WidgetValueError(
                        f"extra[{name!r}] has shape {w.shape[1:]} (batch {w.shape[0]}); expected batch {B} and "
                        f"(layers, heads, queries, {K}) with the main maps' {K} key tokens"
                    )
                k = str(getattr(m, "kind", None) or name) if _is_maps(m) else name
                params = dict(getattr(m, "params", {}) or {}) if _is_maps(m) else {}
                eq = None
                if w.shape[3] != Q:  # e.g. attention_flow(output_token=t): one row
                    qt = getattr(m, "query_tokens", None) if _is_maps(m) else None
                    eq = _token_rows(qt, B, w.shape[3], f"extra[{name!r}].query_tokens", "queries") if qt is not None else None
                    if eq is None:
                        t = params.get("output_token")
                        eq = [[f"#{t}" if t is not None and w.shape[3] == 1 else str(i) for i in range(w.shape[3])]] * B
                self._srcs[name] = _Source(name, w, k, self._layer_names(m, w.shape[1]), params, eq)
        self._B, self._Q, self._K = B, Q, K

        # ----------------------------------------------------------- tokens
        tok = tokens if tokens is not None else (getattr(maps, "tokens", None) if is_maps else None)
        qtok = query_tokens if query_tokens is not None else (getattr(maps, "query_tokens", None) if is_maps else None)
        tok_rows = _token_rows(tok, B, K, "tokens", "key tokens") or [[str(i) for i in range(K)]] * B
        q_rows = _token_rows(qtok, B, Q, "query_tokens", "queries")
        if q_rows is None and Q != K:
            q_rows = [[str(i) for i in range(Q)]] * B
        self._tok_rows, self._q_rows = tok_rows, q_rows

        # ------------------------------------------------------------ masks
        if causal is None:
            causal = bool(getattr(maps, "causal", False)) if is_maps else False
            if not is_maps and Q == K and Q > 1:
                causal = _upper_empty(main_w)
        elif not isinstance(causal, (bool, np.bool_)):
            raise WidgetTypeError(f"causal must be True, False or None, got {causal!r}")
        self._causal = bool(causal)
        self._mask_src = getattr(maps, "mask", None) if is_maps else None
        self._qmask_src = getattr(maps, "query_mask", None) if is_maps else None

        # ------------------------------------------------------------- image
        img_b, img_m, grid, prefix = b"", {}, [], 0
        if image is not None:
            from .._display import as_images

            imgs = as_images(image)
            if imgs.shape[0] != 1:
                raise WidgetValueError(f"image must be one (H, W, 3) picture, got a batch of {imgs.shape[0]}")
            img = imgs[0]
            pg = patch_grid if patch_grid is not None else getattr(maps, "patch_grid", None)
            npf = n_prefix_tokens if n_prefix_tokens is not None else getattr(maps, "n_prefix_tokens", None)
            if pg is None:
                inferred = _infer_prefix(K if npf is None else K - as_int(npf, "n_prefix_tokens") + 1)
                if inferred is None:
                    raise WidgetValueError(
                        f"image given but no patch_grid: {K} tokens is not a square number of patches plus prefix "
                        f"tokens; pass patch_grid=(rows, cols) and n_prefix_tokens"
                    )
                npf = inferred[0] if npf is None else npf
                pg = inferred[1] if npf is None else (math.isqrt(K - as_int(npf, "n_prefix_tokens")),) * 2
            if not isinstance(pg, (list, tuple)) or len(pg) != 2:
                raise WidgetTypeError(f"patch_grid must be (rows, cols), got {pg!r}")
            gh, gw = as_int(pg[0], "patch_grid[0]"), as_int(pg[1], "patch_grid[1]")
            npf = 0 if npf is None else as_int(npf, "n_prefix_tokens")
            if gh < 1 or gw < 1 or npf < 0 or npf + gh * gw != K:
                raise WidgetValueError(
                    f"patch_grid {gh}x{gw} with {npf} prefix tokens makes {npf + gh * gw} tokens, but the maps have "
                    f"{K} key tokens; expected n_prefix_tokens + rows * cols == K"
                )
            max_image_size = as_int(max_image_size, "max_image_size")
            dh, dw = ser.display_size(img.shape[0], img.shape[1], max_image_size)
            if (dh, dw) != img.shape[:2]:
                r = ser.area_resize(np.moveaxis(img, -1, 0).astype(np.float64), dh, dw)
                img = np.clip(np.round(np.moveaxis(r, 0, -1)), 0, 255).astype(np.uint8)
            img_b, img_m = ser.encode(img, "uint8")
            grid, prefix = [gh, gw], npf
        elif patch_grid is not None or n_prefix_tokens is not None:
            raise WidgetValueError("patch_grid and n_prefix_tokens need image= (ViT mode)")

        # ----------------------------------------------------- thumbnails size
        self._thumb = thumb_size

        # ------------------------------------------------------- user state
        src = kind if source is None else source
        if not isinstance(src, str):
            raise WidgetTypeError(f"source must be a string, one of {list(self._srcs)}; got {type(src).__name__}")
        if src not in self._srcs:
            raise WidgetValueError(f"unknown source {src!r}; expected one of {list(self._srcs)}")
        sample = as_int(sample, "sample")
        self._check_range("sample", sample)
        layer, head = as_int(layer, "layer"), as_int(head, "head")
        self._check_layer(layer, src)
        self._check_head(head, src)
        token = OptionalIndex(what="token").validate(self, token)
        self._check_range("token", token)
        self._repr = self._describe()
        self._ready = False
        thumbs_b, thumbs_m = self._thumb_payload(src, sample)
        head_b, head_m = self._head_payload(src, sample, layer, head)
        super().__init__(
            n_samples=B,
            causal=self._causal,
            patch_grid=grid,
            n_prefix_tokens=prefix,
            _sources=[s.describe(sample) for s in self._srcs.values()],
            _tokens=tok_rows[sample],
            _query_tokens=q_rows[sample] if q_rows is not None else [],
            _mask=self._mask_payload(sample, src),
            _image=img_b,
            _image_meta=img_m,
            _thumbs=thumbs_b,
            _thumbs_meta=thumbs_m,
            _head=head_b,
            _head_meta=head_m,
            source=src,
            sample=sample,
            layer=layer,
            head=head,
            token=token,
            view=view,
            colormap=colormap,
            clip_percentile=clip_percentile,
            **kwargs,
        )
        self._ready = True
        self.on_msg(self._on_custom_msg)

    # ----------------------------------------------------------------- payloads
    @staticmethod
    def _layer_names(m: Any, L: int) -> list[str]:
        names = getattr(m, "layer_names", None) if _is_maps(m) else None
        if names is not None:
            names = [str(n) for n in list(names)]
            if len(names) == L:
                return names
        return [str(i) for i in range(L)]

    def _thumb_sizes(self, s: _Source) -> tuple[int, int]:
        t = self._thumb
        n = s.L * (s.H + 1)
        while t > 4 and n * t * t > _THUMB_BUDGET:
            t -= 1
        return min(t, s.Q), min(t, s.K)

    def thumbnails(self, source: str | None = None, sample: int | None = None) -> np.ndarray:
        """The overview's thumbnails as float32 ``(L, 1 + H, tq, tk)``: column 0 the mean of heads, then each head."""
        s = self._srcs[self.source if source is None else source]
        b = self.sample if sample is None else sample
        tq, tk = self._thumb_sizes(s)
        per_head = pool_thumbnails(s.w[b], tq, tk)  # (L, H, tq, tk)
        mean = per_head.mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
        return np.concatenate([mean, per_head], axis=1)

    def _thumb_payload(self, source: str, sample: int) -> tuple[bytes, dict]:
        th = self.thumbnails(source, sample)
        L, C, tq, tk = th.shape
        flat = th.reshape(L * C, -1).astype(np.float64)
        # each thumbnail's colour scale ends at THUMB_CLIP percent of its cells that hold weight (a
        # causal map's masked blocks hold none), not at its max: the first query rows of a causal
        # head put all their weight on the first keys, so the max (the top-left block) left every
        # other cell of a 1,024-token thumbnail near black; cells above the top saturate
        pos = np.where(flat > 0, flat, np.nan)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: empty thumbnails
            hi = np.nanpercentile(pos, THUMB_CLIP, axis=1)
        hi = np.where(np.isfinite(hi) & (hi > 0), hi, 1.0)
        q = np.clip(np.round(np.maximum(flat, 0) / hi[:, None] * 255), 0, 255).astype(np.uint8)
        meta = {
            "dtype": "uint8", "shape": [L, C, tq, tk], "scale": 1.0, "offset": 0.0,
            "scales": [float(x) / 255.0 for x in hi], "clip": THUMB_CLIP, "source": source, "sample": sample,
        }
        return q.tobytes(), meta

    def _packs(self, s: _Source) -> bool:
        """Whether this source's heads travel as their lower triangle (the rest is masked as causal)."""
        return self._causal and s.Q == s.K and s.Q > 1

    def _head_payload(self, source: str, sample: int, layer: int, head: int) -> tuple[bytes, dict]:
        s = self._srcs[source]
        a = s.head(sample, layer, head)
        if self._packs(s):
            # the cells above the diagonal are masked: never drawn nor counted in the colour scale,
            # so they stay home (half the bytes of every head, trait, reply and saved page)
            raw, meta = encode_head(a[_tril_mask(s.Q)], self._dtype)
            meta.update(shape=[s.Q, s.K], packed="tril")
        else:
            raw, meta = encode_head(a, self._dtype)
        meta.update(source=source, sample=int(sample), layer=int(layer), head=int(head), max=float(a.max()))
        return raw, meta

    def _mask_payload(self, sample: int, source: str) -> bytes:
        """The ``_mask`` trait: padding only; the browser masks the causal triangle itself (``causal`` and Q == K)."""
        m = self.masked(sample, source, causal=False)
        return b"" if m is None else np.packbits(m.reshape(-1)).tobytes()

    def masked(self, sample: int | None = None, source: str | None = None, *,
               causal: bool = True) -> np.ndarray | None:
        """``(Q, K)`` bool of a source: cells hidden by the causal mask or padding (None when nothing is masked).

        Padding comes from the maps' ``mask`` (``(B, K)`` or ``(K,)``, True = real
        token) and ``query_mask`` (default: ``mask`` for self-attention).

        Parameters
        ----------
        sample, source : optional
            Default: the shown ones.
        causal : bool, default True
            Include the causal triangle (when the view is causal and Q == K);
            False gives the padding alone, as the ``_mask`` trait carries it.
        """
        b = self.sample if sample is None else sample
        s = self._srcs[self.source if source is None else source]
        Q, K = s.Q, s.K
        out = np.zeros((Q, K), dtype=bool)
        if causal and self._causal and Q == K:
            out |= np.triu(np.ones((Q, K), dtype=bool), 1)

        def row(m: Any, n: int) -> np.ndarray | None:
            if m is None:
                return None
            m = np.asarray(ser.to_numpy(m, "mask")).astype(bool)
            if m.ndim == 2:
                m = m[b] if m.shape[0] == self._B else m[0]
            return m if m.shape == (n,) else None

        km = row(self._mask_src, K)
        if km is not None:
            out |= ~km[None, :]
        if Q == self._Q:
            qm = row(self._qmask_src, Q)
            if qm is None and self._q_rows is None and Q == K:
                qm = km
            if qm is not None:
                out |= ~qm[:, None]
        return out if out.any() else None

    # ------------------------------------------------------------ custom messages
    def _on_custom_msg(self, _widget: Any, content: Any, buffers: Any) -> None:
        """Answer ``{"type": "get", "requests": [...]}`` (or one request inline) with one message per head."""
        if not isinstance(content, dict) or content.get("type") != "get" or self._srcs is None:
            return
        reqs = content.get("requests")
        if reqs is None:
            reqs = [content]
        for r in reqs if isinstance(reqs, list) else []:
            rid = r.get("id") if isinstance(r, dict) else None
            try:
                if not isinstance(r, dict):
                    raise WidgetTypeError("request must be an object")
                src = r.get("source", self.source)
                if src not in self._srcs:
                    raise WidgetValueError(f"unknown source {src!r}")
                sample = as_int(r.get("sample", self.sample), "sample")
                layer = as_int(r.get("layer"), "layer")
                head = as_int(r.get("head"), "head")
                self._check_range("sample", sample)
                self._check_layer(layer, src)
                self._check_head(head, src)
                raw, meta = self._head_payload(src, sample, layer, head)
            except (TypeError, ValueError) as e:
                self.send({"type": "error", "id": rid, "message": str(e)})
                continue
            self.send({"type": "head", "id": rid, "meta": meta}, buffers=[raw])

    # ------------------------------------------------------------- observers
    @traitlets.observe("source", "sample", "layer", "head")
    def _on_selection(self, change: dict) -> None:
        if not getattr(self, "_ready", False) or self._srcs is None:
            return
        name = change["name"]
        s = self._srcs[self.source]
        with self.hold_sync():
            if name == "source":
                # clamp the selection into the new source's ranges
                if self.layer >= s.L:
                    self.layer = s.L - 1
                if self.head >= s.H:
                    self.head = s.H - 1
            if name in ("source", "sample"):
                self._thumbs, self._thumbs_meta = self._thumb_payload(self.source, self.sample)
                self._mask = self._mask_payload(self.sample, self.source)
            if name == "sample":
                b = self.sample
                self._tokens = self._tok_rows[b]
                self._query_tokens = self._q_rows[b] if self._q_rows is not None else []
                self._sources = [x.describe(b) for x in self._srcs.values()]
            key = (self.source, self.sample, self.layer, self.head)
            m = self._head_meta
            if (m.get("source"), m.get("sample"), m.get("layer"), m.get("head")) != key:
                self._head, self._head_meta = self._head_payload(*key)

    # ------------------------------------------------------------ validation
    def _src(self, source: str | None = None) -> _Source | None:
        srcs = getattr(self, "_srcs", None)
        if srcs is None:
            return None
        return srcs.get(source if source is not None else self.source)

    def _check_layer(self, layer: int, source: str | None = None) -> None:
        s = self._src(source)
        if s is not None and not 0 <= layer < s.L:
            raise WidgetValueError(f"layer must be in [0, {s.L - 1}] ({s.L} layers in {s.name!r}), got {layer}")

    def _check_head(self, head: int, source: str | None = None) -> None:
        s = self._src(source)
        if s is not None and not -1 <= head < s.H:
            raise WidgetValueError(
                f"head must be -1 (mean of heads) or in [0, {s.H - 1}] ({s.H} heads in {s.name!r}), got {head}"
            )

    @traitlets.validate("layer")
    def _valid_layer(self, proposal: dict) -> int:
        self._check_layer(proposal["value"])
        return proposal["value"]

    @traitlets.validate("head")
    def _valid_head(self, proposal: dict) -> int:
        v = as_int(proposal["value"], "head")
        self._check_head(v)
        return v

    @traitlets.validate("source")
    def _valid_source(self, proposal: dict) -> str:
        v = proposal["value"]
        if not isinstance(v, str):
            raise WidgetTypeError(f"source must be a string, got {type(v).__name__}")
        srcs = getattr(self, "_srcs", None)
        if srcs is not None and v not in srcs:
            raise WidgetValueError(f"unknown source {v!r}; expected one of {list(srcs)}")
        return v

    # ------------------------------------------------------------ static picture
    def colour_max(self, source: str | None = None, sample: int | None = None, layer: int | None = None,
                   head: int | None = None) -> float:
        """Top of the colour scale of a head: the ``clip_percentile`` of its unmasked weights (> 0), as the view draws it.

        Parameters
        ----------
        source, sample, layer, head : optional
            The head (default: the one shown; ``head=-1`` is the mean of heads).

        Examples
        --------
        >>> w = xw.AttentionView(maps, clip_percentile=100)   # doctest: +SKIP
        >>> w.colour_max() == w.current().max()               # doctest: +SKIP
        True
        """
        src = self.source if source is None else source
        b = self.sample if sample is None else sample
        a = self._srcs[src].head(b, self.layer if layer is None else layer, self.head if head is None else head)
        m = self.masked(b, src)
        vals = a[~m] if m is not None else a.reshape(-1)
        top = float(vals.max()) if vals.size else 0.0
        v = float(np.percentile(vals, self.clip_percentile)) if vals.size and self.clip_percentile < 100 else top
        return v if v > 0 else (top if top > 0 else 1.0)

    #: Most tokens per axis that still get a readable label in the static picture.
    _STATIC_MAX_LABELS = 64

    def _static_figure(self) -> Any:
        """The shown head as a heatmap: queries down, keys across, the view's colormap and scale."""
        from matplotlib import colormaps
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        if self._srcs is None:
            raise WidgetValueError("the widget is closed; its attention maps were released")
        s = self._srcs[self.source]
        a = self.current()
        mask = self.masked()
        vmax = self.colour_max()
        Q, K = a.shape
        qt = self.query_tokens if Q == self._Q else None
        if s.query_tokens is not None:
            qt = s.query_tokens[self.sample]
        kt = self.tokens
        label_q = qt is not None and len(qt) == Q and Q <= self._STATIC_MAX_LABELS
        label_k = len(kt) == K and K <= self._STATIC_MAX_LABELS

        # fixed axes boxes (figure fractions), cells about square: the layout is
        # the same on every call, so tests can find each cell in the PNG
        width_in = self._STATIC_WIDTH / 72
        left_in = 1.3 if label_q else 0.6
        top_in = 0.5
        bottom_in = 1.2 if label_k else 0.5
        cbar_in = 1.2
        plot_w = width_in - left_in - cbar_in - 0.3
        plot_h = plot_w * Q / K
        if plot_h > 9.0:  # tall (many queries, few keys): narrower, not taller
            plot_h, plot_w = 9.0, 9.0 * K / Q
        plot_h = max(0.6, plot_h)
        height_in = top_in + plot_h + bottom_in
        fig = Figure(figsize=(width_in, height_in))
        ax = fig.add_axes((left_in / width_in, bottom_in / height_in, plot_w / width_in, plot_h / height_in))
        cax = fig.add_axes(((left_in + plot_w + 0.25) / width_in, bottom_in / height_in, 0.18 / width_in,
                            plot_h / height_in))
        # the view hatches masked cells in the theme's quiet grey; one flat grey here
        cmap = colormaps[self.colormap].with_extremes(bad="#d6d8dc")
        shown = np.ma.masked_array(a, mask=mask) if mask is not None else a
        im = ax.imshow(shown, cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest", aspect="auto",
                       extent=(-0.5, K - 0.5, Q - 0.5, -0.5))
        cb = fig.colorbar(im, cax=cax)
        cb.set_label("weight")

        def ticks(n: int, labels: list[str] | None, axis: str) -> None:
            set_ticks = ax.set_yticks if axis == "y" else ax.set_xticks
            if labels is not None:
                size = max(5.0, min(9.0, 300.0 / max(n, 1)))
                set_ticks(np.arange(n), labels=labels, fontsize=size, **({"rotation": 90} if axis == "x" else {}))
            else:
                (ax.yaxis if axis == "y" else ax.xaxis).set_major_locator(MaxNLocator(nbins=8, integer=True))

        ticks(Q, qt if label_q else None, "y")
        ticks(K, kt if label_k else None, "x")
        ax.set_ylabel("query")
        ax.set_xlabel("key")
        head = "mean of heads" if self.head < 0 else f"head {self.head}"
        title = f"layer {self.layer} · {head}"
        if len(self._srcs) > 1 or self.source != "attention":
            title = f"{self.source}: {title}"
        if self._B > 1:
            title += f" · sample {self.sample}"
        ax.set_title(title, fontsize=11)
        return fig

    # ------------------------------------------------------------ HTML export
    #: What a standalone page says for a head that was left out of the file.
    MISSING_HEAD = "not in this file (size budget); re-export with save_html(..., max_bytes=...) to include it"

    def _embed_order(self) -> list[tuple[str, int, int, int]]:
        """Every (source, sample, layer, head) with head -1 (the mean), nearest to the shown one first.

        Near means: the shown source, then the shown sample, then the fewest
        slider steps away (layer and head together), so a reader of a file cut
        by its budget finds the neighbourhood of what was on screen.
        """
        cur_s, cur_b, cur_l, cur_h = self.source, self.sample, self.layer, self.head
        names = list(self._srcs)
        out = []
        for name in names:
            src = self._srcs[name]
            heads = [-1] + list(range(src.H)) if src.H > 1 else [0]  # one head: -1 is the same data
            for b in range(self._B):
                for layer in range(src.L):
                    for h in heads:
                        dl, dh = abs(layer - cur_l), abs(h - cur_h)
                        key = (name != cur_s, names.index(name), abs(b - cur_b), b, dl + dh, dl, dh, layer, h)
                        out.append((key, (name, b, layer, h)))
        out.sort(key=lambda x: x[0])
        return [x[1] for x in out]

    def _embed_extra(self, budget: int) -> dict:
        """Heads for the standalone page, nearest first, up to ``budget`` bytes (see ``js/src/standalone.ts``).

        The page answers the view's ``{"type": "get"}`` requests from a table
        keyed ``source|sample|layer|head``; heads are encoded as the live
        widget sends them (``dtype``: uint8 with per-head scale/offset, or
        float16). What the kernel would push on a source or sample change
        (thumbnails, mask, tokens) goes in the ``_embed`` state entry, counted
        in the budget as well; heads left out are counted there so the view
        can say how many are missing.
        """
        if self._srcs is None:
            raise WidgetValueError("the widget is closed; its attention maps were released")
        budget = int(budget)
        buffers: list[bytes] = []
        table: dict[str, dict] = {}
        views: dict[str, dict] = {}
        used = 0
        total = embedded = 0

        def view_patch(name: str, b: int) -> dict:
            if (name, b) == (self.source, self.sample):  # already in the saved state
                return {}
            th, th_meta = self._thumb_payload(name, b)
            return {"_thumbs": th, "_thumbs_meta": th_meta, "_mask": self._mask_payload(b, name)}

        def alias(name: str, b: int, layer: int, h: int, i: int) -> None:
            # a one-head source: its "mean of heads" (-1) is head 0; one buffer, a key and meta for each
            meta = dict(table[f"{name}|{b}|{layer}|{h}"]["meta"], head=-1 if h == 0 else 0)
            table[f"{name}|{b}|{layer}|{meta['head']}"] = {"meta": meta, "buf": i}

        cur_data = (self.source, self.sample, self.layer, self.head if self._srcs[self.source].H > 1 else 0)
        for name, b, layer, h in self._embed_order():
            src = self._srcs[name]
            total += 1
            vkey = f"{name}|{b}"
            if vkey not in views:
                patch = view_patch(name, b)
                size = sum(len(v) for v in patch.values() if isinstance(v, bytes))
                if used + size > budget:
                    continue  # neither the thumbnails nor this combination's heads fit
                used += size
                views[vkey] = patch
            # the shown head is in the saved state (_head) anyway; in the table too when it fits, since
            # a one-head source reaches it under head 0 and -1
            in_state = (name, b, layer, h) == cur_data
            cells = src.Q * (src.Q + 1) // 2 if self._packs(src) else src.Q * src.K
            n = cells * (1 if self._dtype == "uint8" else 2)
            if used + n > budget:
                embedded += in_state
                continue
            raw, meta = self._head_payload(name, b, layer, h)
            used += len(raw)
            table[f"{name}|{b}|{layer}|{h}"] = {"meta": meta, "buf": len(buffers)}
            if src.H == 1:
                alias(name, b, layer, h, len(buffers))
            buffers.append(raw)
            embedded += 1

        samples = {
            str(b): {
                "_tokens": self._tok_rows[b],
                "_query_tokens": self._q_rows[b] if self._q_rows is not None else [],
                "_sources": [x.describe(b) for x in self._srcs.values()],
            }
            for b in range(self._B)
        } if self._B > 1 else {}
        return {
            "buffers": buffers,
            "messages": {
                "request": "get",
                "key_fields": ["source", "sample", "layer", "head"],
                "reply": "head",
                "table": table,
                "missing": f"This head is {self.MISSING_HEAD}.",
            },
            "state": {
                "_embed": {
                    "heads": total,
                    "embedded": embedded,
                    "missing": total - embedded,
                    "max_bytes": budget,
                    "bytes": used,
                    "views": views,
                    "samples": samples,
                },
            },
        }

    # ------------------------------------------------------------------ helpers
    @property
    def sources(self) -> list[str]:
        """Names ``source`` can take."""
        return list(self._srcs)

    @property
    def tokens(self) -> list[str]:
        """Key tokens of the current sample (and query tokens for self-attention)."""
        return list(self._tok_rows[self.sample])

    @property
    def query_tokens(self) -> list[str]:
        """Query tokens of the current sample (the key tokens for self-attention)."""
        rows = self._q_rows if self._q_rows is not None else self._tok_rows
        return list(rows[self.sample])

    def weights(self, source: str | None = None, sample: int | None = None) -> np.ndarray:
        """The full ``(L, H, Q, K)`` float32 weights of a source (kept in the kernel; float16 maps are widened by this call)."""
        s = self._srcs[self.source if source is None else source]
        return s.w[self.sample if sample is None else sample].astype(np.float32, copy=False)

    def current(self) -> np.ndarray:
        """The shown ``(Q, K)`` map (selected source, sample, layer, head; head -1 = mean)."""
        return self._srcs[self.source].head(self.sample, self.layer, self.head)

    def __repr__(self) -> str:
        return getattr(self, "_repr", None) or "AttentionView()"

    def _describe(self) -> str:
        s = next(iter(self._srcs.values()))
        extra = f", extra={list(self._srcs)[1:]!r}" if len(self._srcs) > 1 else ""
        q = f", queries={self._Q}" if self._Q != self._K or self._q_rows is not None else ""
        b = f", samples={self._B}" if self._B > 1 else ""
        return f"AttentionView(layers={s.L}, heads={s.H}, tokens={self._K}{q}{b}{extra})"
