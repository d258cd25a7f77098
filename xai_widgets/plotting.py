"""Static matplotlib fallback behind :meth:`Attribution.plot`.

Image-shaped values ``(N, C, H, W)`` / ``(N, H, W)`` are drawn as a heatmap over
the image (the ``image`` argument or ``attribution.data``); 1-D rows ``(N, T)``
(``(N, T, D)`` summed over D) as coloured bars with feature names, or as
coloured tokens (``style="tokens"``, the default when the names look like
tokenizer output).
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_attribution"]

_TOKENISH = ("##", "▁", "Ġ")


def _signed(v: np.ndarray, sign: str) -> np.ndarray:
    if sign == "positive":
        return np.clip(v, 0, None)
    if sign == "negative":
        return np.clip(-v, 0, None)
    if sign == "absolute":
        return np.abs(v)
    if sign != "all":
        raise ValueError(f"unknown sign {sign!r}; expected 'all', 'positive', 'negative' or 'absolute'")
    return v


def _vmax(v: np.ndarray, clip: float) -> float:
    a = np.abs(v[np.isfinite(v)])
    if a.size == 0:
        return 1.0
    m = float(np.percentile(a, clip)) if clip < 100 else float(a.max())
    if not m > 0:
        m = float(a.max())
    return m if m > 0 else 1.0


def plot_attribution(
    attribution: Any,
    sample: int = 0,
    *,
    ax: Any = None,
    image: Any = None,
    cmap: str | None = None,
    alpha: float = 0.6,
    sign: str = "all",
    clip_percentile: float = 99.5,
    reduce: str = "sum",
    style: str = "auto",
    title: str | None = None,
    colorbar: bool = True,
):
    """Draw one row of an :class:`~xai_widgets.Attribution`; returns the ``Axes``."""
    import matplotlib.pyplot as plt

    from .widgets.heatmap_overlay import as_images, reduce_map

    values = np.asarray(attribution.values, dtype=np.float64)
    n = values.shape[0]
    if not -n <= sample < n:
        raise ValueError(f"sample must be in [0, {n - 1}], got {sample}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4) if values.ndim >= 3 else (8, 2.6))
    title = attribution.method if title is None else title

    if values.ndim >= 3 and not (values.ndim == 3 and style in ("bars", "tokens")):
        img_src = image if image is not None else attribution.data
        hw = None
        img = None
        if img_src is not None:
            imgs = as_images(img_src)
            img = imgs[sample if imgs.shape[0] > 1 else 0]
            hw = img.shape[:2]
        v = reduce_map(values, hw or values.shape[-2:], reduce, "attribution")[sample]
        if hw is not None and v.shape != hw:
            from .widgets._serialize import bilinear_resize

            v = bilinear_resize(v, *hw)
        v = _signed(v, sign)
        vmax = _vmax(v, clip_percentile)
        signed = sign == "all" and bool((v < 0).any())
        if cmap is None:
            cmap = "coolwarm" if signed else "inferno"
        lo = -vmax if signed else 0.0
        if img is not None:
            ax.imshow(img)
        im = ax.imshow(v, cmap=cmap, vmin=lo, vmax=vmax, alpha=alpha if img is not None else 1.0)
        if colorbar:
            ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        ax.set_axis_off()
        ax.set_title(title)
        return ax

    # 1-D rows
    if values.ndim == 3:
        values = values.sum(-1) if reduce == "sum" else values.mean(-1)
    v = _signed(values.reshape(n, -1)[sample], sign)
    names = attribution.feature_names or [str(i) for i in range(v.size)]
    if len(names) != v.size:
        names = [str(i) for i in range(v.size)]
    if style == "auto":
        tokenish = any(s.startswith(_TOKENISH) or (s.startswith("[") and s.endswith("]")) for s in names)
        style = "tokens" if tokenish else "bars"
    vmax = _vmax(v, clip_percentile)
    cm = plt.get_cmap(cmap or ("coolwarm" if sign == "all" else "Reds"))
    norm = (lambda x: 0.5 + np.clip(x / vmax, -1, 1) / 2) if sign == "all" else (lambda x: np.clip(x / vmax, 0, 1))
    colors = cm(norm(v))
    if style == "bars":
        y = np.arange(v.size)
        ax.barh(y, v, color=colors)
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.axvline(0, color="0.5", lw=0.8)
        ax.set_xlabel("attribution")
    elif style == "tokens":
        from .widgets.text_heatmap import token_layout

        display, flags = token_layout(names)
        ax.set_axis_off()
        fig = ax.figure
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        bbox = ax.get_window_extent(renderer)
        x, y, line = 0.0, 0.92, 0.16
        for d, f, c in zip(display, flags, colors):
            gap = 0.0 if f & 1 else 0.012
            t = ax.text(x + gap, y, d, transform=ax.transAxes, fontsize=11, va="top", ha="left",
                        bbox=dict(boxstyle="round,pad=0.15", fc=c, ec="none"), alpha=0.6 if f & 2 else 1.0)
            w = t.get_window_extent(renderer).width / max(1.0, bbox.width)
            if x + gap + w > 1.0 and x > 0:
                x, y = 0.0, y - line
                t.set_position((0.0, y))
            else:
                x += gap
            x += w
    else:
        raise ValueError(f"unknown style {style!r}; expected 'auto', 'bars' or 'tokens'")
    ax.set_title(title)
    return ax
