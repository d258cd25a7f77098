"""Static matplotlib fallback behind :meth:`Attribution.plot`.

Image-shaped values ``(N, C, H, W)`` / ``(N, H, W)`` are drawn as a heatmap over
the image (the ``image`` argument or ``attribution.data``), blended as
:class:`~xai_widgets.HeatmapOverlay` blends: a diverging colormap covers the
image in proportion to |value| (zero leaves the image untouched, the clip
value gets the full ``alpha``); 1-D rows ``(N, T)``
(``(N, T, D)`` summed over D) as coloured bars with feature names
(``style="bars"``), as coloured tokens (``style="tokens"``, the default when the
names look like tokenizer output), as a force plot from the base value to the
output (``style="force"``, the default when the attribution carries
``base_values`` or ``outputs``) or as a waterfall (``style="waterfall"``) —
the static counterparts of :class:`~xai_widgets.ForcePlot`. Whole datasets
``(N, M)`` (``(N, K, M)`` for ``target="all"``) are summarised with
``style="beeswarm"``, ``"bar"`` or ``"scatter"`` (dependence), drawn by the
same code as :class:`~xai_widgets.SummaryPlot`'s static picture
(``_display/summary.py``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._display.colors import DIVERGING, colorbar_mappable, colormap, overlay_rgb, position, shown
from ._display.force import _NEG, _POS, collapse_features, plot_force, plot_waterfall  # noqa: F401  (public here)

__all__ = ["plot_attribution", "plot_force", "plot_waterfall", "overlay_rgb", "SUMMARY_STYLES"]

#: ``Attribution.plot`` styles that summarise every row at once.
SUMMARY_STYLES: tuple[str, ...] = ("beeswarm", "bar", "scatter")

_TOKENISH = ("##", "▁", "Ġ")
_SIGNS = ("all", "positive", "negative", "absolute")
# The view's colour rules (js/src/lib/canvas.ts, scale.ts) live in _display/colors.py,
# shared with the widgets' static pictures.


def _class_of_row(attribution: Any, sample: int) -> str | None:
    """"name score" of the class a one-target-per-row attribution explains for ``sample``, or None."""
    t = attribution.target
    if t is None or attribution.params.get("target") == "all":
        return None
    t = np.ravel(t)
    n = len(attribution)
    if t.size not in (1, n):
        return None
    k = int(t[sample] if t.size == n else t[0])
    names = attribution.output_names
    text = names[k] if names is not None and 0 <= k < len(names) else f"target {k}"
    o = attribution.outputs
    if o is not None and np.size(o) in (1, n):
        x = float(np.ravel(o)[sample if np.size(o) == n else 0])
        text += f" {x:.2f}" if 0.01 <= abs(x) < 1e4 else f" {x:.3g}"
    return text


def _pick_output(attribution: Any, values: np.ndarray, target: Any) -> tuple[np.ndarray, str | None]:
    """One output's values of a target="all" attribution ``(N, K, ...)`` (by class name or index)."""
    multi = attribution.params.get("target") == "all" and values.ndim >= 2
    if not multi:
        if target is not None:
            raise ValueError(
                "target= picks one output of an attribution computed with target='all'; this one explains one "
                "target per row already"
            )
        return values, None
    k = values.shape[1]
    t = np.ravel(attribution.target) if attribution.target is not None else np.arange(k)
    targets = [int(x) for x in t] if t.size == k else list(range(k))
    names = attribution.output_names
    if target is None:
        raise ValueError(
            f"this attribution explains every output (target='all', values {values.shape}); pick the class to "
            "draw with target=<output index or class name>, or use HeatmapOverlay for a grid of classes"
        )
    if isinstance(target, str):
        if names is None or target not in names:
            import difflib

            close = difflib.get_close_matches(target, names or [], n=5, cutoff=0.5)
            raise ValueError(f"unknown class name {target!r}" + (f"; close matches: {close}" if close else
                             "" if names else "; the attribution has no output_names, give an output index"))
        idx = names.index(target)
    elif isinstance(target, (bool, np.bool_)) or not isinstance(target, (int, np.integer)):
        raise TypeError(f"target must be an output index or a class name, got {type(target).__name__}")
    else:
        idx = int(target)
    if idx not in targets:
        raise ValueError(f"target {idx} is not among the attribution's outputs {targets[0]}..{targets[-1]}")
    j = targets.index(idx)
    name = names[idx] if names is not None and 0 <= idx < len(names) else f"target {idx}"
    return values[:, j], name


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
    max_features: int = 12,
    coverage: float = 0.95,
    link: str = "identity",
    feature_names: Any = None,
    target: Any = None,
    feature: int | None = None,
    color: int | None = None,
    max_display: int = 20,
):
    """Draw one row of an :class:`~xai_widgets.Attribution` (or, for the summary styles, every row); returns the ``Axes``.

    See :meth:`xai_widgets.Attribution.plot` for the parameters.
    """
    import matplotlib.pyplot as plt

    from ._display import as_images, reduce_map

    if sign not in _SIGNS:
        raise ValueError(f"unknown sign {sign!r}; expected 'all', 'positive', 'negative' or 'absolute'")
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, (int, float, np.floating, np.integer)) \
            or not 0 <= float(alpha) <= 1:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    if not 0 < float(clip_percentile) <= 100:
        raise ValueError(f"clip_percentile must be in (0, 100], got {clip_percentile!r}")
    if style in SUMMARY_STYLES:
        return _plot_summary(attribution, style, ax=ax, title=title, feature_names=feature_names, target=target,
                             feature=feature, color=color, max_display=max_display)
    values = np.asarray(attribution.values, dtype=np.float64)
    n = values.shape[0]
    if not -n <= sample < n:
        raise ValueError(f"sample must be in [0, {n - 1}], got {sample}")
    values, picked = _pick_output(attribution, values, target)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4) if values.ndim >= 3 else (8, 2.6))
    if title is None:
        cls = picked if picked is not None else _class_of_row(attribution, sample % n)
        title = attribution.method + (f" · {cls}" if cls else "")

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
            from ._display import bilinear_resize

            v = bilinear_resize(v, *hw)
        vmax = _vmax(shown(v, sign), clip_percentile)
        # "all" with no negative value anywhere: the positive half, as the widget draws it
        drawn = "positive" if sign == "all" and not bool((v < 0).any()) else sign
        if cmap is None:
            cmap = "coolwarm" if drawn == "all" else "inferno"
        if img is not None:
            ax.imshow(overlay_rgb(img, v, cmap, drawn, vmax, float(alpha)), interpolation="nearest")
        else:
            # no picture to blend over: the map itself on white, at full strength
            ax.imshow(overlay_rgb(None, v, cmap, drawn, vmax, 1.0), interpolation="nearest")
        if colorbar:
            ax.figure.colorbar(colorbar_mappable(cmap, drawn, vmax), ax=ax, fraction=0.046, pad=0.04)
        ax.set_axis_off()
        ax.set_title(title)
        return ax

    # 1-D rows
    if values.ndim == 3:
        values = values.sum(-1) if reduce == "sum" else values.mean(-1)
    v = shown(values.reshape(n, -1)[sample], sign)
    if feature_names is not None:
        if isinstance(feature_names, str) or not hasattr(feature_names, "__len__"):
            raise TypeError(f"feature_names must be a list of {v.size} names, got {type(feature_names).__name__}")
        names = [str(f) for f in feature_names]
        if len(names) != v.size:
            raise ValueError(f"feature_names has {len(names)} names but the row has {v.size} features")
    else:
        names = attribution.feature_names or [str(i) for i in range(v.size)]
        if len(names) != v.size:
            names = [str(i) for i in range(v.size)]
    if style == "auto":
        tokenish = any(s.startswith(_TOKENISH) or (s.startswith("[") and s.endswith("]")) for s in names)
        additive = attribution.base_values is not None or attribution.outputs is not None
        style = "tokens" if tokenish else "force" if additive else "bars"
    if style in ("force", "waterfall"):
        if sign != "all":
            raise ValueError(f"style={style!r} draws signed contributions; sign must be 'all', got {sign!r}")
        base = _base_value(attribution, v, sample)
        data = None
        if attribution.data is not None and np.size(attribution.data) == values.size:
            data = np.asarray(attribution.data).reshape(n, -1)[sample]
        draw = plot_force if style == "force" else plot_waterfall
        draw(v, base, names, data=data, ax=ax, max_features=max_features, coverage=coverage, link=link)
        ax.set_title(title)
        return ax
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
        from ._display import token_layout

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
        raise ValueError(f"unknown style {style!r}; expected 'auto', 'bars', 'tokens', 'force', 'waterfall', "
                         "'beeswarm', 'bar' or 'scatter'")
    ax.set_title(title)
    return ax


# ------------------------------------------------------------ force / waterfall
def _base_value(attribution: Any, row: np.ndarray, sample: int) -> float:
    """Base value of one row: ``base_values``, else ``outputs - sum``, else 0."""
    for name in ("base_values", "outputs"):
        b = getattr(attribution, name)
        if b is None:
            continue
        b = np.asarray(b, dtype=np.float64).reshape(-1)
        x = float(b[sample] if b.size > 1 else b[0])
        return x if name == "base_values" else x - float(row.sum())
    return 0.0


# ------------------------------------------------------------ dataset summaries
def _plot_summary(attribution: Any, style: str, *, ax: Any, title: str | None, feature_names: Any, target: Any,
                  feature: int | None, color: int | None, max_display: int) -> Any:
    """Beeswarm, bar or dependence plot of every row (``SummaryPlot``'s static picture)."""
    import matplotlib.pyplot as plt

    from ._display.rows import one_target
    from ._display.summary import plot_summary

    values = np.asarray(attribution.values, dtype=np.float64)
    multi = attribution.params.get("target") == "all"
    if values.ndim != (3 if multi else 2):
        raise ValueError(
            f"style={style!r} summarises one value per feature and row, (N, M) values (N, K, M with target='all'); "
            f"got {values.shape}: image- or token-shaped values are shown with HeatmapOverlay or TextHeatmap"
        )
    n, m = values.shape[0], values.shape[-1]
    outs = None
    if multi and (style != "bar" or target is not None):
        values, picked = _pick_output(attribution, values, target)
        multi = False
    else:
        picked = None
        if not multi:
            if target is not None:
                _pick_output(attribution, values, target)  # the same error as the other styles
            one_target(attribution, n)
        else:
            t = np.ravel(attribution.target) if attribution.target is not None else np.arange(values.shape[1])
            names = attribution.output_names
            outs = [names[int(i)] if names is not None and 0 <= int(i) < len(names) else f"output {int(i)}" for i in t]
    if feature_names is not None:
        names_ = [str(f) for f in feature_names]
        if len(names_) != m:
            raise ValueError(f"feature_names has {len(names_)} names but the attribution has {m} features")
    else:
        names_ = attribution.feature_names if attribution.feature_names and len(attribution.feature_names) == m \
            else [f"x{j}" for j in range(m)]
    data = attribution.data
    if data is not None:
        data = np.asarray(data)
        data = data.astype(np.float64) if data.shape == (n, m) and np.issubdtype(data.dtype, np.number) else None
    for what, val in (("feature", feature), ("color", color)):
        if val is not None and not (isinstance(val, (int, np.integer)) and 0 <= int(val) < m):
            raise ValueError(f"{what} must be a feature index in [0, {m - 1}], got {val!r}")
    if isinstance(max_display, (bool, np.bool_)) or not isinstance(max_display, (int, np.integer)) or max_display < 1:
        raise ValueError(f"max_display must be an integer >= 1, got {max_display!r}")
    if ax is None:
        rows = min(m, max_display)
        _, ax = plt.subplots(figsize=(8, 4.6) if style == "scatter" else (8, 0.34 * rows + 1.4))
    plot_summary(style, values, names_, data=data, ax=ax, max_display=int(max_display), feature=feature, color=color,
                 output_names=outs)
    if title is None:
        parts = [p for p in (picked, attribution.method if attribution.method != "custom" else None) if p]
        title = " · ".join(parts + [f"{n} samples"])
    ax.set_title(title, fontsize=10)
    return ax
