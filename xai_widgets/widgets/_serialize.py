"""numpy <-> bytes for the browser, and the resampling the widgets need.

An array travels as a bytes trait plus a JSON ``meta`` dict
``{"dtype": "float32"|"float16"|"uint8", "shape": [...], "scale": s, "offset": o}``;
the browser decodes ``raw * scale + offset`` (little-endian, C order).
See ``js/src/lib/decode.ts``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ._traits import WidgetTypeError, WidgetValueError

STATIC = Path(__file__).resolve().parent.parent / "static"


def esm_path(name: str) -> Path:
    return STATIC / f"{name}.js"


def require_bundle(path: Path) -> None:
    if not path.is_file():
        raise RuntimeError(
            f"the widget's JavaScript bundle {path} is missing; build it with `make js` "
            f"(or `cd js && npm install && npm run build`) from the repository root"
        )


def to_numpy(x: Any, what: str) -> np.ndarray:
    """A numpy array from numpy/torch/nested lists; TypeError for non-numeric input."""
    try:
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach().cpu()
            if x.dtype in (torch.bfloat16, torch.float16):
                x = x.float()
            x = x.numpy()
    except ImportError:  # pragma: no cover
        pass
    if x is None:
        raise WidgetTypeError(f"{what} must be an array or tensor, got None")
    try:
        a = np.asarray(x)
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


# --------------------------------------------------------------------- encoding
def encode(a: np.ndarray, dtype: str = "float32", **extra: Any) -> tuple[bytes, dict]:
    """Encode an array as (bytes, meta). ``dtype``: float32 | float16 | uint8.

    float16 stores ``a / s`` with ``s = max|a|`` (so small attributions keep their
    relative precision); uint8 stores ``round((a - lo) / (hi - lo) * 255)``
    except for uint8 input, which is sent as is.
    """
    a = np.ascontiguousarray(a)
    meta: dict = {"dtype": dtype, "shape": [int(s) for s in a.shape], "scale": 1.0, "offset": 0.0}
    if dtype == "float32":
        raw = a.astype("<f4", copy=False).tobytes()
    elif dtype == "float16":
        s = float(np.max(np.abs(a))) if a.size else 0.0
        s = s if s > 0 and math.isfinite(s) else 1.0
        raw = (a.astype(np.float64) / s).astype("<f2").tobytes()
        meta["scale"] = s
    elif dtype == "uint8":
        if a.dtype == np.uint8:
            raw = a.tobytes()
        else:
            lo = float(a.min()) if a.size else 0.0
            hi = float(a.max()) if a.size else 1.0
            span = hi - lo if hi > lo else 1.0
            raw = np.clip(np.round((a.astype(np.float64) - lo) / span * 255), 0, 255).astype(np.uint8).tobytes()
            meta["scale"] = span / 255.0
            meta["offset"] = lo
    else:
        raise WidgetValueError(f"unknown dtype {dtype!r}; expected 'float32', 'float16' or 'uint8'")
    meta.update(extra)
    return raw, meta


def decode(raw: bytes, meta: dict) -> np.ndarray:
    """Inverse of :func:`encode` (what the browser does), as float64 (uint8 images: uint8)."""
    dt = {"float32": "<f4", "float16": "<f2", "uint8": "u1"}[meta["dtype"]]
    a = np.frombuffer(raw, dtype=dt).reshape(meta["shape"])
    scale, offset = meta.get("scale", 1.0), meta.get("offset", 0.0)
    if meta["dtype"] == "uint8" and scale == 1.0 and offset == 0.0:
        return a.copy()
    return a.astype(np.float64) * scale + offset


# ------------------------------------------------------------------- resampling
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


def display_to_original(y: float, x: float, display: tuple[int, int], original: tuple[int, int]) -> tuple[int, int]:
    """Display pixel coordinates (continuous y, x) to ORIGINAL pixel (row, col); mirrors scale.ts."""
    (h, w), (H, W) = display, original
    row = min(H - 1, max(0, math.floor(y * H / h)))
    col = min(W - 1, max(0, math.floor(x * W / w)))
    return row, col


def original_to_display(row: int, col: int, display: tuple[int, int], original: tuple[int, int]) -> tuple[float, float]:
    """Centre of ORIGINAL pixel (row, col) in display coordinates, as (y, x); mirrors scale.ts."""
    (h, w), (H, W) = display, original
    return (row + 0.5) * h / H, (col + 0.5) * w / W
