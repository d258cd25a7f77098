"""Dataset summaries of additive attributions (beeswarm, bar, dependence scatter), shared by
``Attribution.plot(style=...)`` and :class:`~xai_widgets.SummaryPlot`'s static picture.

The numbers (feature order, the "other features" row, bar heights, the swarm
layout, the colour range of each feature, the interaction partner of a
feature) are computed here once; the widget sends them, or the arrays they
come from, to the browser, whose pure mirrors live in ``js/src/summary/``.

Shapes: ``values`` is ``(N, M)`` (one output) or ``(N, K, M)`` (every output,
``target="all"``); ``data`` the explained inputs ``(N, M)`` or None.

>>> import numpy as np
>>> v = np.array([[1.0, -3.0, 0.5], [-1.0, 1.0, 0.5]])
>>> feature_order(v).tolist()          # by mean |value|, largest first
[1, 0, 2]
>>> collapse(feature_order(v), 2)      # shown rows, rows summed into "other"
([1], [0, 2])
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = [
    "KINDS", "BAR_MODES", "LOW", "HIGH", "mean_abs", "feature_order", "collapse", "beeswarm_rows", "bar_rows",
    "swarm_offsets", "color_range", "color_unit", "red_blue", "approximate_interactions", "interaction_partners",
    "quantize_u16", "dequantize_u16", "plot_beeswarm", "plot_bar", "plot_scatter", "plot_summary", "NBINS",
]

KINDS: tuple[str, ...] = ("beeswarm", "bar", "scatter")
BAR_MODES: tuple[str, ...] = ("stacked", "grouped")
#: shap's colours: low feature values blue, high red (js/src/summary/colors.ts uses the same two).
LOW = (0, 139, 251)
HIGH = (255, 0, 81)
#: Bins of the swarm layout per row (shap's beeswarm uses 100).
NBINS = 100
#: Largest quantised level (uint16); 65535 marks a missing feature value.
LEVELS = 65534
MISSING = 65535


# ----------------------------------------------------------------- statistics
def mean_abs(values: np.ndarray) -> np.ndarray:
    """Mean |value| over the rows: ``(M,)`` for ``(N, M)``, ``(K, M)`` for ``(N, K, M)``."""
    return np.abs(np.asarray(values, dtype=np.float64)).mean(axis=0)


def feature_order(values: np.ndarray) -> np.ndarray:
    """Features by mean |value| (summed over outputs), largest first; ties keep the lower index first."""
    score = mean_abs(values)
    if score.ndim == 2:
        score = score.sum(0)
    return np.argsort(-score, kind="stable")


def collapse(order: Sequence[int], max_display: int) -> tuple[list[int], list[int]]:
    """(features drawn in their own row, features summed into one "N other features" row).

    As shap does: with more than ``max_display`` features the first
    ``max_display - 1`` keep a row and the rest share the last one.
    """
    order = [int(j) for j in order]
    if len(order) <= max_display:
        return order, []
    k = max(0, int(max_display) - 1)
    return order[:k], order[k:]


def beeswarm_rows(values: np.ndarray, max_display: int) -> tuple[list[int], list[int], np.ndarray | None]:
    """(shown features, collapsed features, per-row sum of the collapsed features' values ``(N,)`` or None)."""
    v = np.asarray(values, dtype=np.float64)
    shown, rest = collapse(feature_order(v), max_display)
    return shown, rest, (v[:, rest].sum(1) if rest else None)


def bar_rows(values: np.ndarray, max_display: int) -> tuple[list[int], list[int], np.ndarray]:
    """(shown features, collapsed features, bar heights ``(R,)`` or ``(R, K)``; the last row is "other" when any).

    A height is a mean |value|; the "other" bar is the sum of the collapsed
    features' mean |value| (shap's bar plot).
    """
    ma = mean_abs(values)
    multi = ma.ndim == 2
    shown, rest = collapse(feature_order(values), max_display)
    cols = [ma[..., j] for j in shown]
    if rest:
        cols.append(ma[..., rest].sum(-1))
    heights = np.stack(cols, 0) if cols else np.zeros((0,) + ((ma.shape[0],) if multi else ()))
    return shown, rest, heights


def swarm_offsets(v: np.ndarray, nbins: int = NBINS) -> np.ndarray:
    """Vertical offset of each dot in one beeswarm row, in layers (0, 1, -1, 2, -2, ...).

    shap's layout: values are binned into ``nbins`` along x and the dots of a
    bin alternate above and below the row's centre line; within a bin, dots
    go in sample order (shap shuffles them; the order here is deterministic).
    The drawing scales offsets by ``max |offset| + 1``. Mirrors ``swarmOffsets``
    in js/src/summary/layout.ts.
    """
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    n = v.size
    out = np.zeros(n)
    if n == 0:
        return out
    lo, hi = float(v.min()), float(v.max())
    quant = np.round(nbins * (v - lo) / (hi - lo + 1e-8))
    inds = np.lexsort((np.arange(n), quant))
    q = quant[inds]
    starts = np.r_[0, np.flatnonzero(np.diff(q)) + 1]
    layer = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    out[inds] = np.ceil(layer / 2) * ((layer % 2) * 2 - 1)
    return out


def color_range(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per feature colour range ``(lo, hi)`` of ``(N, M)`` data: shap's 5th-95th percentile (1st-99th, then min-max,
    when those coincide); NaN-only features get (0, 1)."""
    d = np.asarray(data, dtype=np.float64)
    m = d.shape[1]
    lo, hi = np.zeros(m), np.ones(m)
    for j in range(m):
        col = d[:, j][np.isfinite(d[:, j])]
        if col.size == 0:
            continue
        a, b = np.percentile(col, [5, 95])
        if a == b:
            a, b = np.percentile(col, [1, 99])
            if a == b:
                a, b = col.min(), col.max()
        if b > a:
            lo[j], hi[j] = a, b
        else:
            lo[j], hi[j] = a - 0.5, a + 0.5
    return lo, hi


def color_unit(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Feature values to [0, 1] within (lo, hi), clipped; NaN stays NaN (drawn grey)."""
    return np.clip((np.asarray(x, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)


def red_blue(t: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] ``(..., 3)``: low (t=0) blue to high (t=1) red, straight in sRGB; NaN grey."""
    t = np.asarray(t, dtype=np.float64)[..., None]
    lo, hi = np.array(LOW) / 255.0, np.array(HIGH) / 255.0
    rgb = lo + (hi - lo) * np.nan_to_num(t, nan=0.0)
    return np.where(np.isnan(t), 0.6, rgb)


def approximate_interactions(index: int, values: np.ndarray, data: np.ndarray, *, max_rows: int = 10_000,
                             seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features ordered by how strongly they interact with feature ``index``, and their scores ``(M,)``.

    shap's heuristic (``shap.utils.approximate_interactions``), vectorised:
    sort the rows by feature ``index``'s value, cut them into bins of
    ``max(min(N // 10, 50), 1)`` rows, and add up, over the bins, the absolute
    correlation between ``index``'s SHAP values and the other feature's values
    (and, separately, its missingness); the larger sum of the two is the
    score. ``index`` itself scores 0. More than ``max_rows`` rows: a seeded
    random subset (shap: an unseeded one), so the choice is reproducible.
    """
    v = np.asarray(values, dtype=np.float64)
    x = np.asarray(data, dtype=np.float64)
    n, m = x.shape
    inds = np.arange(n)
    if n > max_rows:
        inds = np.sort(np.random.default_rng(seed).permutation(n)[:max_rows])
    xi = x[inds, index]
    srt = np.argsort(xi, kind="stable")
    ref = v[inds, index][srt]
    other = x[inds][srt]
    inc = max(min(int(len(inds) / 10.0), 50), 1)

    def score(cols: np.ndarray) -> np.ndarray:
        total = np.zeros(m)
        full = (len(inds) // inc) * inc
        # whole bins at once (bins x rows x features), then the short last bin
        for a, b in ((ref[:full].reshape(-1, inc), cols[:full].reshape(-1, inc, m)),
                     (ref[full:][None], cols[full:][None])):
            if a.shape[1] == 0:
                continue
            sa = a.std(1)
            sb = b.std(1)  # NaN where a value is missing: such a bin is skipped, as in shap
            ok = (sa[:, None] > 0) & (sb > 0)
            cov = ((a - a.mean(1, keepdims=True))[:, :, None] * (b - b.mean(1, keepdims=True))).mean(1)
            with np.errstate(invalid="ignore", divide="ignore"):
                r = np.abs(cov / (sa[:, None] * sb))
            total += np.where(ok, r, 0.0).sum(0)
        return total

    val = score(other)
    nan = score(np.isnan(other).astype(np.float64))
    skip_val = np.abs(other).sum(0) < 1e-8  # an all-zero column carries nothing (NaN sums are not < 1e-8)
    skip_nan = np.isnan(other).sum(0) < 1e-8
    val[skip_val] = 0.0
    nan[skip_nan] = 0.0
    s = np.maximum(val, nan)
    s[index] = 0.0
    return np.argsort(-np.abs(s), kind="stable"), s


def interaction_partners(values: np.ndarray, data: np.ndarray | None) -> list[int]:
    """For each feature of ``(N, M)`` values, the feature that interacts most with it (-1 without data or partner)."""
    m = values.shape[1]
    if data is None or m < 2:
        return [-1] * m
    return [interaction_partners_one(values, data, j) for j in range(m)]


# ----------------------------------------------------------------- transport
def quantize_u16(a: np.ndarray, *, axis: int = 0) -> tuple[bytes, np.ndarray, np.ndarray]:
    """uint16 codes of ``a``, each slice along ``axis`` (a feature) on its own range.

    Returns (little-endian bytes, lo, hi) with lo/hi of shape ``a.shape``
    without ``axis``; code ``c`` decodes to ``lo + c * (hi - lo) / 65534`` (error
    at most ``(hi - lo) / 131068``); NaN becomes 65535.
    """
    a = np.asarray(a, dtype=np.float64)
    finite = np.isfinite(a)
    big = np.where(finite, a, np.inf)
    small = np.where(finite, a, -np.inf)
    lo = np.min(big, axis=axis, keepdims=True)
    hi = np.max(small, axis=axis, keepdims=True)
    lo = np.where(np.isfinite(lo), lo, 0.0)
    hi = np.where(np.isfinite(hi), hi, 0.0)
    span = np.where(hi > lo, hi - lo, 1.0)
    q = np.clip(np.round((np.where(finite, a, lo) - lo) / span * LEVELS), 0, LEVELS).astype("<u2")
    q[~finite] = MISSING
    return q.tobytes(), np.squeeze(lo, axis), np.squeeze(hi, axis)


def dequantize_u16(raw: bytes, shape: Sequence[int], lo: np.ndarray, hi: np.ndarray, *, axis: int = 0) -> np.ndarray:
    """Inverse of :func:`quantize_u16` (what js/src/summary/state.ts does)."""
    q = np.frombuffer(raw, dtype="<u2").reshape(shape)
    lo_, hi_ = np.expand_dims(np.asarray(lo, dtype=np.float64), axis), np.expand_dims(np.asarray(hi, dtype=np.float64), axis)
    span = np.where(hi_ > lo_, hi_ - lo_, 0.0)
    out = lo_ + q.astype(np.float64) * span / LEVELS
    return np.where(q == MISSING, np.nan, out)


# ------------------------------------------------------------------- drawings
def _style(ax: Any) -> None:
    for side in ("right", "top", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)


def _other_label(k: int) -> str:
    return f"{k} other feature" + ("s" if k != 1 else "")


def _colorbar(ax: Any, label: str = "feature value") -> None:
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(red_blue(np.linspace(0, 1, 256)))
    sm = ScalarMappable(cmap=cmap)
    sm.set_array([0, 1])
    cb = ax.figure.colorbar(sm, ax=ax, ticks=[0, 1], aspect=50, pad=0.02, fraction=0.04)
    cb.set_ticklabels(["low", "high"])
    cb.set_label(label, labelpad=-4)
    cb.outline.set_visible(False)


#: Above this many dots the beeswarm is drawn as one stamped picture instead of markers.
_DOTS_AS_IMAGE = 20_000


def _dot_image(x: np.ndarray, y: np.ndarray, rgb: np.ndarray, xlim: tuple, ylim: tuple, w: int, h: int,
               radius: float) -> np.ndarray:
    """RGBA ``(h, w, 4)`` (row 0 at ``ylim[0]``): a disc of ``radius`` px per dot, later dots on top, clear elsewhere."""
    img = np.zeros((h * w, 4), dtype=np.uint8)
    cx = np.round((x - xlim[0]) / (xlim[1] - xlim[0]) * (w - 1)).astype(np.int64)
    cy = np.round((y - ylim[0]) / (ylim[1] - ylim[0]) * (h - 1)).astype(np.int64)
    col = np.concatenate([np.round(np.asarray(rgb) * 255), np.full((len(x), 1), 255)], 1).astype(np.uint8)
    r = int(np.ceil(radius))
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dx * dx + dy * dy > radius * radius + 0.5:
                continue
            xx, yy = cx + dx, cy + dy
            ok = (xx >= 0) & (xx < w) & (yy >= 0) & (yy < h)
            img[(yy * w + xx)[ok]] = col[ok]
    img = img.reshape(h, w, 4)
    return img


def plot_beeswarm(values: Any, names: Sequence[str], *, data: Any = None, ax: Any = None, max_display: int = 20,
                  marker: int | None = None, feature: int | None = None, colorbar: bool = True) -> Any:
    """One row per feature (largest mean |value| on top), one dot per sample at its value, swarmed; coloured by
    the feature's value (blue low, red high; grey without data). ``marker``: a sample ringed in every row;
    ``feature``: a row drawn bold."""
    v = np.asarray(values, dtype=np.float64)
    n, m = v.shape
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(8, 0.4 * min(m, max_display) + 1.5))
    shown, rest, other = beeswarm_rows(v, max_display)
    d = None if data is None else np.asarray(data, dtype=np.float64)
    lo, hi = color_range(d) if d is not None else (None, None)
    rows = [(j, v[:, j]) for j in shown] + ([(None, other)] if other is not None else [])
    r_count = len(rows)
    labels, px, py, pc, rings = [], [], [], [], []
    for r, (j, col) in enumerate(rows):
        y0 = r_count - 1 - r
        off = swarm_offsets(col)
        ys = y0 + off * (0.4 / (np.abs(off).max() + 1))
        if j is not None and d is not None:
            c = red_blue(color_unit(d[:, j], lo[j], hi[j]))
        else:
            c = np.full((n, 3), 0.55)
        px.append(col)
        py.append(ys)
        pc.append(c)
        if marker is not None and 0 <= marker < n:
            rings.append((col[marker], ys[marker]))
        labels.append(str(names[j]) if j is not None else _other_label(len(rest)))
    allx, ally, allc = np.concatenate(px), np.concatenate(py), np.concatenate(pc)
    xlo, xhi = float(allx.min()), float(allx.max())
    pad = 0.04 * (xhi - xlo) if xhi > xlo else 1.0
    xlim, ylim = (xlo - pad, xhi + pad), (-0.6, r_count - 0.4)
    if allx.size > _DOTS_AS_IMAGE:
        # many dots: stamped into one picture (matplotlib's markers take seconds at 10,000 rows x 20 features)
        ax.imshow(_dot_image(allx, ally, allc, xlim, ylim, 1100, 44 * r_count, 2.6), extent=(*xlim, *ylim),
                  aspect="auto", interpolation="antialiased", zorder=2, origin="lower")
    else:
        ax.scatter(allx, ally, s=10, c=allc, linewidths=0, alpha=0.9, rasterized=True, zorder=2)
    ax.set_xlim(*xlim)
    if rings:
        ax.scatter(*zip(*rings), s=60, facecolors="none", edgecolors="black", linewidths=1.2, zorder=3)
    ax.axvline(0, color="0.6", lw=0.8, zorder=1)
    ax.set_yticks(range(r_count - 1, -1, -1), labels)
    if feature is not None and feature in shown:
        ax.get_yticklabels()[shown.index(feature)].set_fontweight("bold")
    ax.set_ylim(-0.6, r_count - 0.4)
    ax.set_xlabel("SHAP value (impact on model output)")
    _style(ax)
    if colorbar and d is not None:
        _colorbar(ax)
    return ax


def plot_bar(values: Any, names: Sequence[str], *, ax: Any = None, max_display: int = 20,
             output_names: Sequence[str] | None = None, bar_mode: str = "stacked", feature: int | None = None) -> Any:
    """Mean |value| per feature as horizontal bars, largest on top; for ``(N, K, M)`` values one colour per output,
    stacked or grouped (``bar_mode``); the collapsed features' sum as the last bar."""
    if bar_mode not in BAR_MODES:
        raise ValueError(f"unknown bar_mode {bar_mode!r}; expected one of {list(BAR_MODES)}")
    v = np.asarray(values, dtype=np.float64)
    multi = v.ndim == 3
    shown, rest, heights = bar_rows(v, max_display)
    r_count = heights.shape[0]
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(8, 0.4 * r_count + 1.5))
    y = np.arange(r_count - 1, -1, -1, dtype=np.float64)
    labels = [str(names[j]) for j in shown] + ([_other_label(len(rest))] if rest else [])
    if not multi:
        bars = ax.barh(y, heights, height=0.7, color=np.array(HIGH) / 255.0)
        for b, h in zip(bars, heights):
            ax.annotate(f"+{h:.3g}", (h, b.get_y() + b.get_height() / 2), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=8, color=np.array(HIGH) / 255.0 * 0.75)
    else:
        from matplotlib import colormaps

        k = heights.shape[1]
        cmap = colormaps["tab10"]
        outs = list(output_names) if output_names is not None else [f"output {i}" for i in range(k)]
        left = np.zeros(r_count)
        for i in range(k):
            if bar_mode == "stacked":
                ax.barh(y, heights[:, i], left=left, height=0.7, color=cmap(i % 10), label=outs[i])
                left += heights[:, i]
            else:
                hgt = 0.8 / k
                ax.barh(y + 0.4 - hgt * (i + 0.5), heights[:, i], height=hgt, color=cmap(i % 10), label=outs[i])
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_yticks(y, labels)
    if feature is not None and feature in shown:
        ax.get_yticklabels()[shown.index(feature)].set_fontweight("bold")
    ax.set_ylim(-0.6, r_count - 0.4)
    ax.set_xlabel("mean(|SHAP value|)")
    _style(ax)
    ax.spines["left"].set_visible(True)
    return ax


def plot_scatter(values: Any, data: Any, names: Sequence[str], feature: int, *, color: int | None = None,
                 ax: Any = None, marker: int | None = None, colorbar: bool = True) -> Any:
    """Dependence plot: feature ``feature``'s value (x) against its attribution (y), coloured by feature ``color``
    (blue low, red high; None: one colour)."""
    v = np.asarray(values, dtype=np.float64)
    d = np.asarray(data, dtype=np.float64)
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7, 4.5))
    x, y = d[:, feature], v[:, feature]
    if color is not None and color >= 0:
        lo, hi = color_range(d[:, [color]])
        c = red_blue(color_unit(d[:, color], lo[0], hi[0]))
    else:
        c = np.array(LOW) / 255.0
    ax.scatter(x, y, s=12, c=c, linewidths=0, alpha=0.85 if len(x) < 2000 else 0.6, rasterized=True, zorder=2)
    if marker is not None and 0 <= marker < len(x):
        ax.scatter([x[marker]], [y[marker]], s=70, facecolors="none", edgecolors="black", linewidths=1.2, zorder=3)
    ax.axhline(0, color="0.6", lw=0.8, zorder=1)
    ax.set_xlabel(str(names[feature]))
    ax.set_ylabel(f"SHAP value for\n{names[feature]}")
    for side in ("right", "top"):
        ax.spines[side].set_visible(False)
    if colorbar and color is not None and color >= 0:
        _colorbar(ax, str(names[color]))
    return ax


def plot_summary(kind: str, values: Any, names: Sequence[str], *, data: Any = None, ax: Any = None,
                 max_display: int = 20, feature: int | None = None, color: int | None = None,
                 marker: int | None = None, output_names: Sequence[str] | None = None,
                 bar_mode: str = "stacked") -> Any:
    """Dispatch on ``kind`` ("beeswarm", "bar", "scatter"). ``values`` ``(N, M)`` (bar also ``(N, K, M)``).

    scatter: ``feature`` None is the feature with the largest mean |value|,
    ``color`` None its interaction partner (:func:`approximate_interactions`).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {list(KINDS)}")
    if kind == "bar":
        return plot_bar(values, names, ax=ax, max_display=max_display, output_names=output_names,
                        bar_mode=bar_mode, feature=feature)
    if kind == "beeswarm":
        return plot_beeswarm(values, names, data=data, ax=ax, max_display=max_display, marker=marker, feature=feature)
    if data is None:
        raise ValueError("a dependence (scatter) plot needs the feature values: the attribution has no data")
    v = np.asarray(values, dtype=np.float64)
    f = int(feature_order(v)[0]) if feature is None else int(feature)
    if color is None:
        color = interaction_partners_one(v, data, f)
    return plot_scatter(v, data, names, f, color=color, ax=ax, marker=marker)


def interaction_partners_one(values: np.ndarray, data: Any, feature: int) -> int:
    """The feature that interacts most with ``feature`` (-1 when none does)."""
    d = np.asarray(data, dtype=np.float64)
    if d.shape[1] < 2:
        return -1
    order, s = approximate_interactions(feature, values, d)
    best = int(order[0])
    return best if best != feature and s[best] > 0 else -1
