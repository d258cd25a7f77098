"""Display helpers shared by the widgets and the static plots.

Conversion to numpy, image and map reduction, resampling and token layout.
Both :mod:`xai_widgets.plotting` (matplotlib) and :mod:`xai_widgets.widgets`
(anywidget) sit on top of this module, so neither imports the other and the
static picture of a widget is drawn from exactly what the widget shows.
"""
from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np
import traitlets

__all__ = [
    "WidgetValueError", "WidgetTypeError", "to_numpy", "check_finite", "display_size",
    "area_resize", "bilinear_resize", "as_images", "reduce_map", "token_layout",
    "FLAG_CONTINUATION", "FLAG_SPECIAL",
]


class WidgetValueError(traitlets.TraitError, ValueError):
    """A value of the right type but outside what the widget accepts."""


class WidgetTypeError(traitlets.TraitError, TypeError):
    """A value of the wrong type."""


def to_numpy(x: Any, what: str) -> np.ndarray:
    """A numpy array from numpy/torch/nested lists; TypeError for non-numeric input."""
    from ..attribution import _np  # the results' own torch → numpy conversion (half floats widened)

    if x is None:
        raise WidgetTypeError(f"{what} must be an array or tensor, got None")
    try:
        a = _np(x)
    except (ValueError, TypeError) as e:  # ragged lists
        raise WidgetTypeError(f"{what} must be a numeric array or tensor: {e}") from None
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise WidgetTypeError(f"{what} must be a numeric array or tensor, got {type(x).__name__} of dtype {a.dtype}")
    return a


def check_finite(a: np.ndarray, what: str) -> None:
    if np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.complexfloating):
        bad = ~np.isfinite(a)
        if bad.any():
            n = int(bad.sum())
            raise WidgetValueError(f"{what} contains {n} NaN/inf value(s); expected finite numbers")


def display_size(height: int, width: int, max_size: int) -> tuple[int, int]:
    """Size shown in the browser: unchanged when both sides fit ``max_size``, else scaled to fit."""
    if max(height, width) <= max_size:
        return int(height), int(width)
    f = max_size / max(height, width)
    return max(1, int(round(height * f))), max(1, int(round(width * f)))


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights: output cell i averages input interval [i, i+1) * n_in / n_out."""
    r = n_in / n_out
    edges = np.arange(n_out + 1) * r
    lo, hi = edges[:-1, None], edges[1:, None]
    j = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0, None)
    return overlap / r


def area_resize(a: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Area-average the last two axes ``(..., H, W)`` to ``(..., out_h, out_w)`` (downsampling; mean preserved)."""
    H, W = a.shape[-2:]
    if (H, W) == (out_h, out_w):
        return a.astype(np.float64, copy=False)
    ry = _area_matrix(H, out_h)
    rx = _area_matrix(W, out_w)
    return np.einsum("ih,...hw,jw->...ij", ry, a.astype(np.float64, copy=False), rx, optimize=True)


def bilinear_resize(a: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Bilinear upsampling of the last two axes (half-pixel centres, like ``align_corners=False``)."""
    h, w = a.shape[-2:]

    def axis(n_in: int, n_out: int):
        x = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
        x = np.clip(x, 0, n_in - 1)
        i0 = np.floor(x).astype(int)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, x - i0

    y0, y1, fy = axis(h, out_h)
    x0, x1, fx = axis(w, out_w)
    a = a.astype(np.float64, copy=False)
    top = a[..., y0, :] * (1 - fy)[:, None] + a[..., y1, :] * fy[:, None]
    return top[..., x0] * (1 - fx) + top[..., x1] * fx


def as_images(image: Any) -> np.ndarray:
    """Images as ``(N, H, W, 3)`` uint8 for display.

    Accepts ``(H, W)``, ``(H, W, C)``, ``(C, H, W)``, ``(N, H, W)`` (grey batch),
    ``(N, H, W, C)`` and ``(N, C, H, W)`` with C in 1/3/4 (alpha is dropped).
    uint8 is shown as is; float (and other integer) images are min-max
    normalised per image to [0, 255] — the widget shows the picture, not its
    preprocessing.
    """
    a = to_numpy(image, "image")
    shape = a.shape
    if a.ndim == 2:
        a = a[None, :, :, None]
    elif a.ndim == 3:
        if a.shape[-1] in (1, 3, 4):
            a = a[None]
        elif a.shape[0] in (1, 3):
            a = np.moveaxis(a, 0, -1)[None]
        else:
            a = a[..., None]
    elif a.ndim == 4:
        if a.shape[-1] in (1, 3, 4):
            pass
        elif a.shape[1] in (1, 3, 4):
            a = np.moveaxis(a, 1, -1)
        else:
            raise WidgetValueError(
                f"image of shape {shape}: expected (N, H, W, C) or (N, C, H, W) with C in (1, 3, 4)"
            )
    else:
        raise WidgetValueError(
            f"image of shape {shape}: expected (H, W), (H, W, 3), (3, H, W), (N, H, W, 3) or (N, 3, H, W)"
        )
    if a.shape[1] == 0 or a.shape[2] == 0 or a.shape[0] == 0:
        raise WidgetValueError(f"image of shape {shape} is empty")
    check_finite(a, "image")
    if a.shape[-1] == 4:
        a = a[..., :3]
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    f = a.astype(np.float64)
    lo = f.min(axis=(1, 2, 3), keepdims=True)
    hi = f.max(axis=(1, 2, 3), keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.round((f - lo) / span * 255).astype(np.uint8)


def reduce_map(values: np.ndarray, image_hw: tuple[int, int], reduce: str, what: str) -> np.ndarray:
    """Attribution values to ``(N, h, w)`` maps: ``(N, C, H, W)`` reduced over C, ``(N, H, W)`` as is.

    ``(N, H, W, C)`` (channels last, C <= 4) is recognised when ``(H, W)``
    matches the image. ``reduce``: "sum" (default), "mean", or "absmax" (the
    channel value with the largest magnitude, sign kept).
    """
    v = np.asarray(values)
    if v.ndim == 4:
        if v.shape[1:3] == tuple(image_hw) and v.shape[3] <= 4 and v.shape[1] > 4:
            v = np.moveaxis(v, -1, 1)
        v = v.astype(np.float64, copy=False)
        if reduce == "sum":
            v = v.sum(axis=1)
        elif reduce == "mean":
            v = v.mean(axis=1)
        else:
            idx = np.abs(v).argmax(axis=1)[:, None]
            v = np.take_along_axis(v, idx, axis=1)[:, 0]
    elif v.ndim != 3:
        raise WidgetValueError(
            f"{what} has values of shape {v.shape}; expected (N, C, H, W) or (N, H, W) image-shaped attributions"
            + (" (select one output of a target='all' attribution first)" if v.ndim == 5 else "")
        )
    return v


FLAG_CONTINUATION = 1  # no space before the token (WordPiece "##x", SentencePiece piece without "▁")
FLAG_SPECIAL = 2  # [CLS], [SEP], <s>, <|endoftext|> ... shown dimmed

_SPECIAL = re.compile(r"^(\[[A-Z][A-Z_]*\]|</?s>|<\|[^|<>\s]{1,40}\|>|<(pad|unk|mask|bos|eos|cls|sep)>)$", re.IGNORECASE)


def token_layout(tokens: Sequence[str]) -> tuple[list[str], list[int]]:
    """Display text and flags per token.

    WordPiece: ``"##ing"`` shows as ``"ing"`` joined to the previous token.
    SentencePiece (``"▁word"``) and byte-level BPE (``"Ġword"``): the marker means
    "space before"; pieces without it join the previous token. Special tokens
    (``[CLS]``, ``[SEP]``, ``<s>``, ``<|endoftext|>`` ...) are flagged to be dimmed.
    """
    marker = None
    if any(t.startswith("▁") for t in tokens):
        marker = "▁"
    elif any(t.startswith("Ġ") for t in tokens):
        marker = "Ġ"
    display, flags = [], []
    for i, t in enumerate(tokens):
        f = 0
        d = t
        if _SPECIAL.match(t):
            f |= FLAG_SPECIAL
        elif t.startswith("##") and len(t) > 2:
            d = t[2:]
            f |= FLAG_CONTINUATION
        elif marker is not None:
            if t.startswith(marker):
                d = t[len(marker):] or " "
            elif i > 0 and not (flags and flags[-1] & FLAG_SPECIAL):
                f |= FLAG_CONTINUATION
        if i == 0:
            f &= ~FLAG_CONTINUATION
        display.append(d)
        flags.append(f)
    return display, flags
