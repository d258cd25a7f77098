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

from .._display import (  # noqa: F401  (re-exported: widgets and tests use ser.*)
    area_resize,
    bilinear_resize,
    check_finite,
    display_size,
    to_numpy,
)
from ._traits import WidgetValueError

STATIC = Path(__file__).resolve().parent.parent / "static"


def esm_path(name: str) -> Path:
    return STATIC / f"{name}.js"


def require_bundle(path: Path) -> None:
    if not path.is_file():
        raise RuntimeError(
            f"the widget's JavaScript bundle {path} is missing; build it with `make js` "
            f"(or `cd js && npm install && npm run build`) from the repository root"
        )


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
