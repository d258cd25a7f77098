"""Attributions over generated text: the data ``explain_generation`` returns, its colour scales and its picture.

Shared by :class:`~xai_widgets.widgets.generation_heatmap.GenerationHeatmap`
(validation, payload, static picture) and any static plot of the same result.
The browser's pure mirrors live in ``js/src/generation/``.

The contract (``xw.explain_generation``): ``values`` ``(1, G, S)`` with
``S = P + G`` source positions (P prompt tokens, then the G generated ones);
``values[0, g, s]`` is source ``s``'s attribution to generated token ``g`` and
is only meaningful for ``s < P + g`` (the positions the model saw when it
wrote token ``g``). ``feature_names`` holds the S source tokens as display
strings (``"".join`` reads as the text), ``params["generated"]`` the G
generated ones, ``params["prompt_length"]`` P, ``params["special"]`` S bools.

>>> import numpy as np
>>> v = np.zeros((1, 2, 4)); v[0, 0, :2] = [0.5, -1.0]; v[0, 1, :3] = [0.1, 0.2, 0.4]
>>> row_scales(v[0], prompt_length=2, normalize="token").tolist()
[1.0, 0.4]
>>> row_scales(v[0], prompt_length=2, normalize="global").tolist()
[1.0, 1.0]
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from . import WidgetTypeError, WidgetValueError, check_finite, to_numpy
from .colors import DIVERGING, colormap, format_value, position

__all__ = [
    "NORMALIZE", "VIEWS", "GenerationData", "generation_data", "context_mask", "row_scales",
    "display_token", "source_colours", "readable_text", "plot_generation",
]

NORMALIZE: tuple[str, ...] = ("token", "global")
VIEWS: tuple[str, ...] = ("text", "matrix")

_SPECIAL = re.compile(r"^(\[[A-Z][A-Z_]*\]|</?s>|<\|[^|<>\s]{1,40}\|>|<(pad|unk|mask|bos|eos|cls|sep)>)$", re.IGNORECASE)


@dataclass(frozen=True)
class GenerationData:
    """One generation's attributions, validated.

    Parameters
    ----------
    values : (G, S) float64
        Source ``s``'s attribution to generated token ``g``; cells with
        ``s >= P + g`` are set to 0 (the model had not seen them).
    sources : list of S str
        Every source token as display text (prompt, then the generated tokens).
    generated : list of G str
        The generated tokens as display text.
    prompt_length : int
        P, the number of prompt tokens (special tokens included).
    special : (S,) bool
        Special tokens (``<|im_start|>``, BOS ...), drawn dimmed.
    method, contrast : str, str or None
        The method name and the contrastive alternative (None without one).
    log_probs : (G,) float64 or None
        Each generated token's log-probability (``outputs``), when recorded.

    Example
    -------
    >>> d = GenerationData(np.zeros((1, 2)), ["a", " b"], [" b"], 1, np.zeros(2, bool), "saliency", None, None)
    >>> d.n_generated, d.n_sources
    (1, 2)
    """

    values: np.ndarray
    sources: list
    generated: list
    prompt_length: int
    special: np.ndarray
    method: str
    contrast: str | None
    log_probs: np.ndarray | None

    @property
    def n_generated(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_sources(self) -> int:
        return int(self.values.shape[1])


def _strings(x: Any, what: str, n: int) -> list[str]:
    if isinstance(x, str) or not isinstance(x, Sequence) and not hasattr(x, "tolist"):
        raise WidgetTypeError(f"{what} must be a list of {n} strings, got {type(x).__name__}")
    items = x.tolist() if hasattr(x, "tolist") and not isinstance(x, (list, tuple)) else list(x)
    for t in items:
        if not isinstance(t, str):
            raise WidgetTypeError(f"{what} must hold strings, got {type(t).__name__} {t!r}")
    if len(items) != n:
        raise WidgetValueError(f"{what} has {len(items)} entries but the values need {n}; they must match")
    return items


def generation_data(attribution: Any) -> GenerationData:
    """Check an ``explain_generation`` result and return its parts (errors name what was expected).

    Parameters
    ----------
    attribution : Attribution
        From ``xw.explain_generation``: values ``(1, G, S)``, ``feature_names``
        (S), ``params["generated"]`` (G), ``params["prompt_length"]`` (P, with
        ``S = P + G``), optionally ``params["special"]`` (S bools; default:
        tokens that look like ``<|...|>``, ``<s>``, ``[CLS]``), ``outputs``
        ``(1, G)`` log-probabilities and ``params["contrast"]``.

    Returns
    -------
    GenerationData

    Example
    -------
    >>> import numpy as np, xai_widgets as xw
    >>> a = xw.Attribution(values=np.zeros((1, 1, 3)), feature_names=["The", " sky", " is"],
    ...                    params={"generated": [" is"], "prompt_length": 2})
    >>> generation_data(a).prompt_length
    2
    """
    from ..attribution import Attribution

    if not isinstance(attribution, Attribution):
        raise WidgetTypeError(
            f"GenerationHeatmap takes the Attribution returned by xw.explain_generation, got {type(attribution).__name__}"
        )
    params = attribution.params or {}
    if "generated" not in params:
        raise WidgetValueError(
            "this Attribution has no params['generated']: GenerationHeatmap shows the result of "
            "xw.explain_generation(model, tokenizer, prompt) (values (1, G, S) over generated tokens); "
            "for attributions of one output over tokens use TextHeatmap"
        )
    v = to_numpy(attribution.values, "attribution values")
    if v.ndim == 2:
        v = v[None]
    if v.ndim != 3 or v.shape[0] != 1:
        raise WidgetValueError(
            f"explain_generation values must have shape (1, G, S) (G generated tokens, S = P + G sources), got {v.shape}"
        )
    _, G, S = v.shape
    if G < 1:
        raise WidgetValueError(f"values of shape {v.shape} hold no generated token (G = 0); expected G >= 1")
    check_finite(v, "attribution values")
    generated = _strings(params["generated"], "params['generated']", G)
    P = params.get("prompt_length", S - G)
    if isinstance(P, (bool, np.bool_)) or not isinstance(P, (int, np.integer)):
        raise WidgetTypeError(f"params['prompt_length'] must be an integer, got {type(P).__name__} {P!r}")
    P = int(P)
    if P < 0 or P + G != S:
        raise WidgetValueError(
            f"values have S = {S} source positions but prompt_length {P} + {G} generated tokens = {P + G}; "
            "expected S = P + G"
        )
    if attribution.feature_names is None:
        raise WidgetValueError("the attribution has no feature_names: expected the S source tokens as display strings")
    sources = _strings(attribution.feature_names, "feature_names", S)
    special = params.get("special")
    if special is None:
        sp = np.array([bool(_SPECIAL.match(t.strip())) for t in sources])
    else:
        sp = to_numpy(special, "params['special']").reshape(-1)
        if sp.size != S:
            raise WidgetValueError(f"params['special'] has {sp.size} entries but there are {S} source tokens")
        sp = sp.astype(bool)
    contrast = params.get("contrast")
    if contrast is not None and not isinstance(contrast, str):
        raise WidgetTypeError(f"params['contrast'] must be a string or None, got {type(contrast).__name__}")
    lp = None
    if attribution.outputs is not None:
        o = to_numpy(attribution.outputs, "outputs").astype(np.float64).reshape(-1)
        if o.size != G:
            raise WidgetValueError(f"outputs hold {o.size} values but there are {G} generated tokens; expected (1, G)")
        lp = o
    vals = np.where(context_mask(G, S, P), v[0].astype(np.float64), 0.0)
    return GenerationData(vals, sources, generated, P, sp, str(attribution.method or ""), contrast, lp)


def context_mask(G: int, S: int, prompt_length: int) -> np.ndarray:
    """``(G, S)`` bool: True where source ``s`` came before generated token ``g`` (``s < P + g``).

    Example
    -------
    >>> context_mask(2, 3, 1).astype(int).tolist()
    [[1, 0, 0], [1, 1, 0]]
    """
    return np.arange(S)[None, :] < (prompt_length + np.arange(G))[:, None]


def row_scales(values: np.ndarray, prompt_length: int, normalize: str) -> np.ndarray:
    """Upper end of each generated token's colour scale, ``(G,)`` (always > 0).

    Parameters
    ----------
    values : (G, S)
    prompt_length : int
    normalize : "token" | "global"
        "token": each generated token's largest |value| over its context;
        "global": the largest over every token's context, the same for all.

    Example
    -------
    >>> row_scales(np.array([[2.0, 9.0], [-3.0, 1.0]]), 1, "token").tolist()
    [2.0, 3.0]
    """
    if normalize not in NORMALIZE:
        raise WidgetValueError(f"unknown normalize {normalize!r}; expected one of {list(NORMALIZE)}")
    v = np.asarray(values, np.float64)
    G, S = v.shape
    a = np.where(context_mask(G, S, prompt_length), np.abs(v), 0.0)
    top = a.max(axis=1) if S else np.zeros(G)
    if normalize == "global":
        top = np.full(G, top.max() if G else 0.0)
    return np.where(top > 0, top, 1.0)


def display_token(text: str) -> tuple[str, bool]:
    """(text drawn in a token's box, whether a line break follows it) — as js/src/generation/layout.ts.

    Newlines are shown as "↵" so they keep a box to colour, then break the line.

    Example
    -------
    >>> display_token(".\\n\\n")
    ('.↵↵', True)
    """
    return text.replace("\r", "").replace("\n", "↵"), "\n" in text


def readable_text(bg: np.ndarray) -> np.ndarray:
    """Black or white per colour ``(..., 3)`` 0..255, whichever contrasts more (WCAG 2.x, as lib/colormaps.ts)."""
    x = np.asarray(bg, np.float64) / 255.0
    lin = np.where(x <= 0.03928, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    lum = lin @ np.array([0.2126, 0.7152, 0.0722])
    black = (lum + 0.05) / 0.05
    white = 1.05 / (lum + 0.05)
    return np.where((black >= white)[..., None], 0, 255) * np.ones(3)


def source_colours(values: np.ndarray, vmax: float, cmap: str, page: Sequence[int] = (255, 255, 255)) -> np.ndarray:
    """Colour behind each value ``(n, 3)`` uint8: the colormap colour blended over ``page`` at opacity |v| / vmax.

    Diverging maps fade in with |value| (zero shows the page), sequential maps
    are opaque; the same rule as TextHeatmap's tokens (js/src/text/colors.ts).
    """
    v = np.asarray(values, np.float64)
    div = cmap in DIVERGING
    t, m = position(v, "all", vmax if vmax > 0 else 1.0, div)
    lut = np.round(colormap(cmap)(np.linspace(0, 1, 256))[:, :3] * 255)
    col = lut[np.round(np.clip(t, 0, 1) * 255).astype(int)]
    a = (m if div else np.ones_like(m))[..., None]
    base = np.asarray(page, np.float64)
    return np.clip(np.floor(col * a + base * (1 - a) + 0.5), 0, 255).astype(np.uint8)


def title_of(d: GenerationData) -> str:
    """The view's title: the method and, for a contrastive explanation, the alternative."""
    t = d.method or "attribution"
    if d.contrast is not None:
        t += f" · contrast: log p(generated) − log p({d.contrast!r})"
    return t


def plot_generation(d: GenerationData, token: int, *, normalize: str = "token", view: str = "text",
                    cmap: str = "coolwarm", width: float = 720.0) -> Any:
    """A matplotlib Figure of the view: flowing text coloured for generated token ``token``, or the matrix.

    Parameters
    ----------
    d : GenerationData
    token : int
        The selected generated token (0-based among the G generated).
    normalize : "token" | "global"
    view : "text" | "matrix"
        "text": prompt and generation as flowing text, each earlier source
        coloured by its attribution to ``token``, the generated part
        underlined, the selected token boxed, later positions plain.
        "matrix": generated (rows) × source (columns), positions after each
        row's token left grey.
    cmap : str
    width : float
        Figure width in points.

    Example
    -------
    >>> import numpy as np
    >>> d = GenerationData(np.array([[1.0, 0.0]]), ["Hi", " there"], [" there"], 1, np.zeros(2, bool), "ixg",
    ...                    None, None)
    >>> bool(plot_generation(d, 0).get_figwidth() > 0)
    True
    """
    if view == "matrix":
        return _plot_matrix(d, token, normalize, cmap, width)
    return _plot_text(d, token, normalize, cmap, width)


def _plot_text(d: GenerationData, token: int, normalize: str, cmap: str, W: float) -> Any:
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.collections import PatchCollection
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import Rectangle

    G, S, P = d.n_generated, d.n_sources, d.prompt_length
    vmax = float(row_scales(d.values, P, normalize)[token])
    limit = P + token
    page = (255, 255, 255)
    back = source_colours(d.values[token], vmax, cmap, page)
    back[limit:] = page
    ink = readable_text(back)
    pad, box_h, line_h, fs = 14.0, 17.0, 21.0, 11.0
    normal = FontProperties(size=fs)
    special = FontProperties(family="monospace", size=fs * 0.85)
    bold = FontProperties(size=fs + 1, weight="bold")
    # measured at the PNG's 144 dpi: hinting makes 72-dpi widths up to 10% narrower than the glyphs drawn
    measure = RendererAgg(8, 8, 144)

    def width(text: str, prop: FontProperties) -> float:
        return float(measure.get_text_width_height_descent(text.replace(" ", "\u00a0") or " ", prop, ismath=False)[0]) / 2

    ops: list[tuple] = []
    y = pad
    ops.append(("text", pad, y + 7, title_of(d), (0, 0, 0), bold))
    y += 20
    sel = d.generated[token]
    sub = f"generated token {token}: {sel!r}"
    if d.log_probs is not None:
        sub += f" · log p = {format_value(float(d.log_probs[token]))}"
    ops.append(("text", pad, y + 6, sub, (0, 0, 0), normal))
    y += 22
    x, right = pad, W - pad
    for s in range(S):
        text, brk = display_token(d.sources[s])
        prop = special if d.special[s] else normal
        w = width(text, prop) + 4
        if x > pad and x + w > right:
            x, y = pad, y + line_h
        c = tuple(int(k) for k in back[s])
        t = tuple(int(k) for k in ink[s])
        if d.special[s]:  # dimmed, as the widget: toward the background, still readable
            t = tuple(int(round(0.45 * b + 0.55 * k)) for b, k in zip(c, t))
        ops.append(("box", x, y, w, box_h, c, s == limit))
        ops.append(("text", x + 2, y + box_h / 2, text, t, prop))
        if s >= P:
            ops.append(("line", x, y + box_h + 1, w))
        x += w
        if brk:
            x, y = pad, y + line_h
    y += line_h + 10
    bar_y = y
    H = y + 44 + pad

    fig = Figure(figsize=(W / 72.0, H / 72.0), dpi=72)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.set_axis_off()
    boxes = [op for op in ops if op[0] == "box"]
    ax.add_collection(PatchCollection(
        [Rectangle((x0, y0), w0, h0) for _, x0, y0, w0, h0, _c, _s in boxes],
        facecolors=[np.array(c) / 255.0 for _, _, _, _, _, c, _s in boxes],
        edgecolors=[(0, 0, 0, 1) if sel_ else (0, 0, 0, 0) for *_, sel_ in boxes], linewidths=1.2,
    ))
    for op in ops:
        if op[0] == "text":
            _, x0, y0, text, c, prop = op
            ax.text(x0, y0, text, color=np.array(c) / 255.0, fontproperties=prop, va="center", ha="left",
                    parse_math=False)
        elif op[0] == "line":
            _, x0, y0, w0 = op
            ax.plot([x0, x0 + w0], [y0, y0], color=(0.10, 0.45, 0.91), linewidth=1.6, solid_capstyle="butt")
    _colour_bar(ax, pad, bar_y, vmax, cmap, "value" if normalize == "global" else f"value (token {token}'s scale)")
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    return fig


def _colour_bar(ax: Any, x: float, y: float, vmax: float, cmap: str, label: str, bar_w: float = 220.0) -> None:
    from matplotlib.patches import Rectangle

    xs = np.linspace(-vmax, vmax, 256)
    t, _ = position(xs, "all", vmax, cmap in DIVERGING)
    strip = colormap(cmap)(t)[None, :, :3]
    ax.imshow(strip, extent=(x, x + bar_w, y + 10, y), aspect="auto", interpolation="nearest")
    ax.add_patch(Rectangle((x, y), bar_w, 10, facecolor="none", edgecolor=(0.74, 0.74, 0.74), linewidth=0.8))
    for v, ha, tx in ((-vmax, "left", x), (0.0, "center", x + bar_w / 2), (vmax, "right", x + bar_w)):
        ax.text(tx, y + 18, format_value(v), color="black", fontsize=9, va="center", ha=ha)
    ax.text(x + bar_w + 10, y + 5, label, color="black", fontsize=9, va="center", ha="left", parse_math=False)


def _plot_matrix(d: GenerationData, token: int, normalize: str, cmap: str, W: float) -> Any:
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    G, S, P = d.n_generated, d.n_sources, d.prompt_length
    vm = row_scales(d.values, P, normalize)
    shown = d.values / vm[:, None]  # per-token: each row in units of its own maximum
    rgb = source_colours(shown.ravel(), 1.0, cmap).reshape(G, S, 3)
    rgb[~context_mask(G, S, P)] = (236, 236, 236)
    h = min(6.5, max(2.2, 0.22 * G + 1.6))
    fig = Figure(figsize=(W / 72.0, h))
    ax = fig.add_subplot()
    ax.imshow(rgb, aspect="auto", interpolation="nearest")
    ax.add_patch(Rectangle((-0.5, token - 0.5), S, 1, facecolor="none", edgecolor="black", linewidth=1.2))

    def ticks(n: int, cap: int) -> np.ndarray:
        return np.arange(0, n, max(1, int(np.ceil(n / cap))))

    xs, ys = ticks(S, 60), ticks(G, 30)
    ax.set_xticks(xs, [repr(d.sources[i])[1:-1][:14] for i in xs], rotation=90, fontsize=7)
    ax.set_yticks(ys, [repr(d.generated[i])[1:-1][:14] for i in ys], fontsize=7)
    ax.axvline(P - 0.5, color=(0.10, 0.45, 0.91), linewidth=1.2)
    ax.set_xlabel("source token (prompt | generated)", fontsize=8)
    ax.set_ylabel("generated token", fontsize=8)
    scale = "each row scaled to its own max |value|" if normalize == "token" else f"one scale ±{format_value(float(vm[0]))}"
    ax.set_title(f"{title_of(d)} · {scale}", fontsize=9)
    fig.tight_layout()
    return fig
