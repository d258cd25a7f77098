"""Colour rules of the heatmap views, shared by the widgets' static pictures and ``Attribution.plot``.

The same rules as js/src/lib/scale.ts and canvas.ts, so a PNG shows what the
browser draws: where a value lands on the colormap, how strongly it covers the
image, the colour-bar range and the clip value.
"""
from __future__ import annotations

from typing import Any

import numpy as np

SIGNS = ("all", "positive", "negative", "absolute")
# Diverging colormaps blend in proportion to |value|; the others uniformly.
DIVERGING = frozenset(("coolwarm", "bwr", "RdBu_r", "seismic", "PiYG"))


def shown(v: np.ndarray, sign: str) -> np.ndarray:
    """The part of the values a sign mode shows: signed ("all") or a magnitude >= 0."""
    if sign == "positive":
        return np.clip(v, 0, None)
    if sign == "negative":
        return np.clip(-v, 0, None)
    if sign == "absolute":
        return np.abs(v)
    if sign != "all":
        raise ValueError(f"unknown sign {sign!r}; expected 'all', 'positive', 'negative' or 'absolute'")
    return v


def position(v: np.ndarray, sign: str, vmax: float, diverging: bool) -> tuple[np.ndarray, np.ndarray]:
    """(t, m): place on the colormap in [0, 1] and normalised magnitude in [0, 1] (scale.ts ``normalize``)."""
    if sign == "all":
        x = np.clip(v / vmax, -1, 1)
        return 0.5 + x / 2, np.abs(x)
    m = np.minimum(1.0, shown(v, sign) / vmax)
    if not diverging:
        return m, m
    return (0.5 - m / 2 if sign == "negative" else 0.5 + m / 2), m


def colormap(name: str) -> Any:
    """The matplotlib colormap ``name``, or a ValueError naming what is expected."""
    from matplotlib import colormaps

    try:
        return colormaps[name]
    except KeyError:
        raise ValueError(f"unknown colormap {name!r}; expected a matplotlib colormap name such as 'coolwarm' or 'inferno'") from None


def overlay_rgb(image: np.ndarray | None, values: np.ndarray, cmap: str, sign: str, vmax: float,
                opacity: float) -> np.ndarray:
    """A map composited over an RGB uint8 image, as uint8 ``(h, w, 3)``, the way HeatmapOverlay draws it.

    Parameters
    ----------
    image : (h, w, 3) uint8 or None
        The picture under the map (None: white).
    values : (h, w) array
        The map.
    cmap : str
        Colormap name; diverging ones blend in proportion to |value| (zero
        leaves the image untouched), sequential ones uniformly (zero stays
        clear in a magnitude sign mode).
    sign : "all" | "positive" | "negative" | "absolute"
    vmax : float
        The clip value: full ``opacity`` and the colormap's end.
    opacity : float in [0, 1]

    Example
    -------
    >>> import numpy as np
    >>> img = np.full((1, 2, 3), 100, np.uint8)
    >>> overlay_rgb(img, np.array([[0.0, 1.0]]), "coolwarm", "all", 1.0, 0.5)[0, 0].tolist()
    [100, 100, 100]
    """
    v = np.asarray(values, np.float64)
    div = cmap in DIVERGING
    t, m = position(v, sign, vmax if vmax > 0 else 1.0, div)
    # the browser's 256-entry table: the same quantisation of t
    lut = np.round(colormap(cmap)(np.linspace(0, 1, 256))[:, :3] * 255)
    col = lut[np.round(np.nan_to_num(t) * 255).astype(int)]
    a = opacity * m if div else np.where((sign != "all") & (m == 0), 0.0, opacity)
    a = np.where(np.isfinite(v), a, 0.0)[..., None]
    base = np.full(v.shape + (3,), 255.0) if image is None else np.asarray(image, np.float64)
    return np.clip(np.round(base + (col - base) * a), 0, 255).astype(np.uint8)


def colorbar_mappable(cmap: str, sign: str, vmax: float) -> Any:
    """A ScalarMappable for a colour bar over the range a sign mode shows (scale.ts ``colorbarRange``)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, Normalize

    base = colormap(cmap)
    div = cmap in DIVERGING
    if sign == "all":
        lo, hi, ts = -vmax, vmax, np.linspace(0, 1, 256)
    elif sign == "negative":
        lo, hi, ts = -vmax, 0.0, np.linspace(0, 0.5, 256) if div else np.linspace(1, 0, 256)
    else:
        lo, hi, ts = 0.0, vmax, np.linspace(0.5, 1, 256) if div else np.linspace(0, 1, 256)
    return ScalarMappable(norm=Normalize(lo, hi), cmap=ListedColormap(base(ts)))


def scale_max(maps: list, sign: str, clip: float) -> float:
    """Upper end of the colour scale over ``maps``: the ``clip`` percentile of the shown magnitudes (> 0)."""
    mags = np.abs(np.concatenate([shown(np.asarray(m, np.float64), sign).ravel() for m in maps]))
    mags = mags[np.isfinite(mags)]
    if mags.size == 0:
        return 1.0
    top = float(mags.max())
    v = top if clip >= 100 else float(np.percentile(mags, clip))
    if not v > 0:
        v = top
    return v if v > 0 else 1.0


def draw_sign(maps: list, sign: str) -> str:
    """The sign mode maps are drawn with: "all" with no negative value anywhere is drawn as "positive"."""
    if sign == "all" and not any(bool((np.asarray(m) < 0).any()) for m in maps):
        return "positive"
    return sign


def draw_sign(maps: list, sign: str) -> str:
    """The sign mode maps are drawn with: "all" with no negative value anywhere is drawn as "positive"."""
    if sign == "all" and not any(bool((np.asarray(m) < 0).any()) for m in maps):
        return "positive"
    return sign


def format_value(v: float) -> str:
    """A colour-bar tick as formatValue in js/src/lib/scale.ts writes it: 3 significant digits.

    Example
    -------
    >>> format_value(0.031234), format_value(12345.0), format_value(0.0)
    ('0.0312', '1.23e4', '0')
    """
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e4 or a < 1e-3:
        return f"{v:.2e}".replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")
    return f"{v:.3g}"
