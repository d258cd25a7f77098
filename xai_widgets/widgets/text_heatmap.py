"""TextHeatmap: tokens coloured by their attribution, one row per method."""
from __future__ import annotations

import functools
from typing import Any, Mapping

import numpy as np
import traitlets

from ..attribution import Attribution
from .._display import FLAG_CONTINUATION, FLAG_SPECIAL, token_layout  # noqa: F401  (re-exported)
from .._display.colors import format_value
from . import _serialize as ser
from ._base import XWidget
from ._traits import (
    COLORMAPS,
    DIVERGING,
    REDUCTIONS,
    SIGNS,
    BoundedFloat,
    Choice,
    Index,
    OptionalIndex,
    StrictBool,
    WidgetTypeError,
    WidgetValueError,
    as_int,
    reject_result_sequence,
)

__all__ = ["TextHeatmap", "token_layout"]

#: A position the attention mask drops (padding): sent, never drawn (js/src/text/colors.ts).
FLAG_PADDING = 4


# ------------------------------------------------- colours (as js/src/text/colors.ts)
def _luminance(c: Any) -> float:
    """WCAG 2.x relative luminance of an sRGB colour with 0..255 channels."""
    x = np.asarray(c, dtype=np.float64) / 255.0
    lin = np.where(x <= 0.03928, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    return float(0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2])


def _contrast(a: Any, b: Any) -> float:
    la, lb = _luminance(a), _luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def _blend(top: Any, bottom: Any, alpha: float) -> tuple[int, int, int]:
    a = min(1.0, max(0.0, float(alpha)))
    # round half up like JavaScript's Math.round, so both sides paint the same colour
    return tuple(int(np.floor(t * a + u * (1 - a) + 0.5)) for t, u in zip(top, bottom))  # type: ignore[return-value]


def _readable_text(bg: Any) -> tuple[int, int, int]:
    """Black or white, whichever contrasts more with ``bg`` (always >= 4.58:1)."""
    return (0, 0, 0) if _contrast((0, 0, 0), bg) >= _contrast((255, 255, 255), bg) else (255, 255, 255)


def _dimmed_text(bg: Any, min_ratio: float = 4.6, max_fade: float = 0.7) -> tuple[int, int, int]:
    """``_readable_text`` moved toward ``bg`` as far as keeps ``min_ratio`` (special tokens)."""
    pure = _readable_text(bg)
    if _contrast(pure, bg) <= min_ratio:
        return pure
    if _contrast(_blend(bg, pure, max_fade), bg) >= min_ratio:
        return _blend(bg, pure, max_fade)
    lo, hi = 0.0, max_fade
    for _ in range(16):
        mid = (lo + hi) / 2
        if _contrast(_blend(bg, pure, mid), bg) >= min_ratio:
            lo = mid
        else:
            hi = mid
    c = _blend(bg, pure, lo)
    return c if _contrast(c, bg) >= min_ratio else pure


def _signed(v: np.ndarray, sign: str) -> np.ndarray:
    if sign == "positive":
        return np.where(v > 0, v, 0.0)
    if sign == "negative":
        return np.where(v < 0, -v, 0.0)
    if sign == "absolute":
        return np.abs(v)
    return v


def _scale_max(values: np.ndarray, sign: str, clip: float) -> float:
    """Upper end of a colour scale (as scaleMax in js/src/lib/scale.ts)."""
    mags = np.abs(_signed(np.asarray(values, dtype=np.float64).ravel(), sign))
    mags = mags[np.isfinite(mags)]
    top = float(mags.max()) if mags.size else 0.0
    v = top if clip >= 100 or not mags.size else float(np.percentile(mags, clip))
    if not (v > 0 and np.isfinite(v)):
        v = top
    return v if v > 0 and np.isfinite(v) else 1.0


@functools.lru_cache(maxsize=None)
def _colormap(name: str) -> Any:
    from matplotlib import colormaps

    return colormaps[name]


def _colormap_rgb(name: str, t: float) -> tuple[int, int, int]:
    c = _colormap(name)(float(np.clip(t, 0.0, 1.0)))
    return tuple(int(np.floor(x * 255 + 0.5)) for x in c[:3])  # type: ignore[return-value]


def token_style(v: float, sign: str, vmax: float, colormap: str, bg: Any = (255, 255, 255),
                dim: bool = False) -> tuple[tuple[int, int, int], tuple[int, int, int], float]:
    """(background, text colour, opacity) of a token, as the widget paints it over a page colour ``bg``.

    Parameters
    ----------
    v : float
        The token's value.
    sign : "all" | "positive" | "negative" | "absolute"
    vmax : float
        Upper end of the colour scale.
    colormap : str
        A name from the widget's colormaps.
    bg : (r, g, b)
        The page colour behind the token, 0..255.
    dim : bool
        A special token: its text fades toward the background within 4.5:1.

    Example
    -------
    >>> token_style(0.0, "all", 1.0, "coolwarm", (33, 33, 33))[1]
    (255, 255, 255)
    """
    vmax = vmax if vmax > 0 else 1.0
    diverging = colormap in DIVERGING
    if not np.isfinite(v):
        back = tuple(int(x) for x in bg)
        return back, _readable_text(back), 0.0  # type: ignore[return-value]
    if sign == "all":
        x = max(-1.0, min(1.0, v / vmax))
        t, m = 0.5 + x / 2, abs(x)
    else:
        m = min(1.0, float(_signed(np.array([v]), sign)[0]) / vmax)
        t = m if not diverging else (0.5 - m / 2 if sign == "negative" else 0.5 + m / 2)
    alpha = min(1.0, m) if diverging else (0.0 if sign != "all" and m == 0 else 1.0)
    back = _blend(_colormap_rgb(colormap, t), bg, alpha)
    return back, (_dimmed_text(back) if dim else _readable_text(back)), alpha


def _bar_colour(v: float, sign: str, vmax: float, colormap: str) -> tuple[int, int, int]:
    """The colour bar's colour at ``v``: the colormap colour itself (no blending), as lib/canvas.ts draws it."""
    diverging = colormap in DIVERGING
    if sign == "all":
        t = 0.5 + max(-1.0, min(1.0, v / vmax)) / 2
    else:
        m = min(1.0, abs(v) / vmax)
        t = m if not diverging else (0.5 - m / 2 if sign == "negative" else 0.5 + m / 2)
    return _colormap_rgb(colormap, t)


def _token_rows(tokens: Any, n: int, t: int) -> list[list[str]]:
    if isinstance(tokens, str) or tokens is None:
        raise WidgetTypeError(f"tokens must be a list of strings (or one list per row), got {type(tokens).__name__}")
    if hasattr(tokens, "tolist") and not isinstance(tokens, list):
        tokens = tokens.tolist()
    tokens = list(tokens)
    if tokens and all(isinstance(x, (list, tuple)) for x in tokens):
        rows = [list(r) for r in tokens]
        if len(rows) != n:
            raise WidgetValueError(f"tokens has {len(rows)} rows but the attribution has {n}")
    else:
        rows = [tokens] * n
    for i, r in enumerate(rows):
        for tok in r:
            if not isinstance(tok, str):
                raise WidgetTypeError(f"tokens must be strings, got {type(tok).__name__} {tok!r} in row {i}")
        if len(r) != t:
            raise WidgetValueError(
                f"tokens row {i} has {len(r)} tokens but the attribution has {t} values per row; they must match"
            )
    return [list(map(str, r)) for r in rows]


def _token_values(x: Any, what: str, reduce: str) -> tuple[np.ndarray, Attribution | None]:
    """``(N, T)`` float64 values of one method (``(T,)`` gains a batch axis, ``(N, T, D)`` is reduced)."""
    attr = x if isinstance(x, Attribution) else None
    if attr is not None:
        if attr.params.get("target") == "all":
            raise WidgetValueError(
                f"{what} explains every output (target='all', values {tuple(np.shape(attr.values))}); TextHeatmap "
                "shows one output per method: pass one, e.g. {'IG, class k': Attribution.from_array(a.values[:, k])}"
            )
        values = np.asarray(attr.values)
    else:
        values = ser.to_numpy(x, what)
    if values.ndim == 1:
        values = values[None]
    if values.ndim == 3:
        v = values.astype(np.float64)
        if reduce == "sum":
            values = v.sum(-1)
        elif reduce == "mean":
            values = v.mean(-1)
        else:
            values = np.take_along_axis(v, np.abs(v).argmax(-1)[..., None], -1)[..., 0]
    if values.ndim != 2:
        raise WidgetValueError(
            f"{what} has values of shape {np.shape(values)}: expected (N, T), (T,) or (N, T, D) token attributions"
        )
    ser.check_finite(values, f"{what} values")
    return values.astype(np.float64), attr


def _format_score(v: float) -> str:
    v = float(v)
    return f"{v:.2f}" if 0.01 <= abs(v) < 1e4 else f"{v:.3g}"


def _row_class(a: Attribution | None, i: int, n: int) -> tuple[str, str] | None:
    """(class name, score text) that row ``i`` of an attribution explains, or None when unknown."""
    if a is None or a.target is None:
        return None
    t = np.ravel(a.target)
    if t.size not in (1, n):
        return None
    k = int(t[i] if t.size == n else t[0])
    names = a.output_names
    name = names[k] if names is not None and 0 <= k < len(names) else f"target {k}"
    score = ""
    if a.outputs is not None:
        o = np.ravel(a.outputs)
        if o.size in (1, n):
            score = _format_score(o[i] if o.size == n else o[0])
    return name, score


def _class_labels(attrs: list[Attribution | None], n: int) -> tuple[list[str], list[list[str]]]:
    """Sample selector labels ("0 · positive 0.93") and, per sample, each method's class caption."""
    labels, captions = [], []
    for i in range(n):
        per = [_row_class(a, i, n) for a in attrs]
        captions.append(["" if c is None else (f"{c[0]} {c[1]}" if c[1] else c[0]) for c in per])
        first = per[0]
        if first is not None and all(c is not None and c[0] == first[0] for c in per):
            same_score = all(c[1] == first[1] for c in per)
            labels.append(f"{i} · {first[0]}" + (f" {first[1]}" if first[1] and same_score else ""))
        else:
            labels.append(str(i))
    return labels, captions


def _recorded_mask(attrs: list[tuple[str, Attribution | None]]) -> tuple[Any, str] | None:
    """An attention mask the kernels recorded in ``params`` (directly or in ``forward_kwargs``), with its source."""
    found = []
    for name, a in attrs:
        if a is None:
            continue
        m = a.params.get("attention_mask")
        fk = a.params.get("forward_kwargs")
        if m is None and isinstance(fk, Mapping):
            m = fk.get("attention_mask")
        if m is not None:
            found.append((name, ser.to_numpy(m, f"the attention_mask recorded by {name!r}")))
    if not found:
        return None
    first_name, first = found[0]
    for name, m in found[1:]:
        if m.shape != first.shape or not np.array_equal(m, first):
            raise WidgetValueError(
                f"the attributions {first_name!r} and {name!r} recorded different attention masks; "
                "pass mask= to say which tokens are real"
            )
    return first, f"the attention_mask recorded by {first_name!r}"


def _check_mask(mask: Any, n: int, t: int, what: str = "mask") -> np.ndarray:
    """``(N, T)`` bool from a 0/1 mask (``(T,)`` for a single row)."""
    m = ser.to_numpy(mask, what)
    shape = tuple(m.shape)
    if m.ndim == 1 and n == 1:
        m = m[None]
    if m.shape != (n, t):
        raise WidgetValueError(
            f"{what} of shape {shape}: expected (N, T) = ({n}, {t}), a 0/1 per token of each row (1 = a real token)"
        )
    ser.check_finite(m, what)
    bad = ~np.isin(m, (0, 1))
    if bad.any():
        v = m[bad].ravel()[0]
        raise WidgetValueError(f"{what} must hold only 0 and 1 (1 = a real token, 0 = padding), found {v!r}")
    m = m.astype(bool)
    empty = np.flatnonzero(~m.any(axis=1))
    if empty.size:
        raise WidgetValueError(
            f"{what} row {int(empty[0])} is all zeros: that row would show no token (expected at least one 1 per row)"
        )
    return m


class TextHeatmap(XWidget):
    """Tokens coloured by attribution value; several methods as aligned rows.

    Parameters
    ----------
    tokens : list of str, or one list per row
        ``None`` uses the (first) attribution's ``feature_names``.
    attribution : Attribution, array, or dict ``{name: Attribution}``
        Values ``(N, T)``, ``(T,)`` or ``(N, T, D)`` (reduced over D by
        ``reduce``, default "sum" — e.g. embedding-layer attributions). A dict
        shows one row per method, its name at the row start, the tokens aligned
        in columns across the rows; every method must have the same N and T.
    mask : array or tensor ``(N, T)`` of 0/1, optional
        The attention mask: positions with 0 (padding) are not drawn, so each
        row of a padded batch shows its own tokens; ``token`` keeps the
        original positions. Default: an ``attention_mask`` recorded in the
        attributions' ``params`` (or their ``forward_kwargs``), else every token.
    colormap : str, default "coolwarm"
        Diverging maps use a symmetric scale around zero.
    sign : "all" | "positive" | "negative" | "absolute"
    clip_percentile : float in (0, 100], default 100
        The colour scale ends at this percentile of |values| of the shown tokens.
    shared_scale : bool, default False
        One colour scale for all methods (True) or one per method row (False).
    sample : int
        The row shown (a selector appears when N > 1).
    token : int or None
        The pinned token, an index into the row's original positions (click a
        token to pin/unpin it; hovering shows every method's value).
    reduce : "sum" | "mean" | "absmax"
        Reduction over D for ``(N, T, D)`` values.
    max_bytes : int, default 8 MiB
        All rows are sent when they fit, otherwise only the current ``sample``.

    Examples
    --------
    >>> import xai_widgets as xw
    >>> from xai_widgets import demo
    >>> tok, model = demo.minilm()                               # doctest: +SKIP
    >>> enc = tok(["the cat sat on the mat", "a dog"], padding=True, return_tensors="pt")  # doctest: +SKIP
    >>> def first_dim(out):  # (N,) score: one dimension of the sentence embedding
    ...     return demo.mean_pool(out.last_hidden_state, enc["attention_mask"])[:, 0]
    >>> kw = dict(output=first_dim, layer=model.embeddings, forward_kwargs={"attention_mask": enc["attention_mask"]})
    >>> ig = xw.integrated_gradients(model, enc["input_ids"], **kw)  # doctest: +SKIP
    >>> ixg = xw.input_x_gradient(model, enc["input_ids"], **kw)     # doctest: +SKIP
    >>> toks = [tok.convert_ids_to_tokens(r) for r in enc["input_ids"]]  # doctest: +SKIP
    >>> w = xw.TextHeatmap(toks, {"IG": ig, "Input×Grad": ixg}, mask=enc["attention_mask"])  # doctest: +SKIP
    >>> w.token = 2                                              # doctest: +SKIP
    >>> w.values_at()                                            # doctest: +SKIP
    {'IG': ..., 'Input×Grad': ...}
    """

    _bundle = "text_heatmap"

    sample = Index(0, what="sample").tag(sync=True)
    token = OptionalIndex(what="token").tag(sync=True)
    colormap = Choice(COLORMAPS, "coolwarm", what="colormap").tag(sync=True)
    sign = Choice(SIGNS, "all", what="sign").tag(sync=True)
    clip_percentile = BoundedFloat(100.0, 0.0, 100.0, lo_open=True, what="clip_percentile").tag(sync=True)
    shared_scale = StrictBool(False, what="shared_scale").tag(sync=True)

    method = traitlets.Unicode("").tag(sync=True)
    methods = traitlets.List(traitlets.Unicode()).tag(sync=True)
    n_samples = traitlets.Int(1).tag(sync=True)
    n_tokens = traitlets.Int(0).tag(sync=True)

    _tokens = traitlets.List().tag(sync=True)
    _display = traitlets.List().tag(sync=True)
    _flags = traitlets.List().tag(sync=True)
    # float32 (rows, methods, T) for the samples in meta["samples"]
    _values = traitlets.Bytes(b"").tag(sync=True)
    _values_meta = traitlets.Dict().tag(sync=True)
    _sample_labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    # per sample, per method: the class explained and its score ("" when unknown)
    _captions = traitlets.List(traitlets.List(traitlets.Unicode())).tag(sync=True)

    _OPTIONS = (
        "mask", "colormap", "sign", "clip_percentile", "shared_scale", "sample", "token", "reduce", "max_bytes",
    )
    _RANGES = {
        "sample": ("_n", "in [0, {last}] (the batch has {n} rows)"),
        "token": ("_t", "in [0, {last}] ({n} tokens per row)"),
    }
    _OPTIONAL = frozenset({"token"})
    _DATA_ATTRS = ("_vals", "_rows", "_layout", "_attributions", "_mask")

    def __init__(
        self,
        tokens: Any,
        attribution: Any,
        *,
        mask: Any = None,
        colormap: str = "coolwarm",
        sign: str = "all",
        clip_percentile: float = 100.0,
        shared_scale: bool = False,
        sample: int = 0,
        token: int | None = None,
        reduce: str = "sum",
        max_bytes: int = 8 * 2**20,
        **kwargs: Any,
    ) -> None:
        self._check_options(kwargs)
        reject_result_sequence(
            attribution, "TextHeatmap", "attribution",
            several="pass a dict {name: Attribution}, e.g. {'IG': a, 'SmoothGrad': b} (one row per method)",
        )
        if isinstance(attribution, Mapping):
            for k, v in attribution.items():
                reject_result_sequence(v, "TextHeatmap", f"attribution[{k!r}]",
                                       several="give each its own name in the dict {name: Attribution}")
        Choice(REDUCTIONS, what="reduce").validate(self, reduce)
        # every option is checked before any array work
        for name, value in (("colormap", colormap), ("sign", sign), ("clip_percentile", clip_percentile),
                            ("shared_scale", shared_scale)):
            self.traits()[name].validate(self, value)
        self._max_bytes = as_int(max_bytes, "max_bytes")

        # ---------------------------------------------------------- methods
        if isinstance(attribution, Mapping):
            if not attribution:
                raise WidgetValueError("attribution is an empty dict; expected {name: Attribution}")
            raw = []
            for k, v in attribution.items():
                if not isinstance(k, str):
                    raise WidgetTypeError(f"method names must be strings, got {type(k).__name__} {k!r}")
                raw.append((k, v))
            several = True
        else:
            raw = [(None, attribution)]
            several = False
        items: list[tuple[str, np.ndarray, Attribution | None]] = []
        for k, v in raw:
            vals, attr = _token_values(v, "attribution" if k is None else f"attribution {k!r}", reduce)
            name = k if k is not None else (attr.method if attr is not None else "")
            items.append((name, vals, attr))
        name0, first, _ = items[0]
        n, t = first.shape
        for name, vals, _ in items[1:]:
            if vals.shape[0] != n:
                raise WidgetValueError(f"attribution {name!r} has {vals.shape[0]} rows but {name0!r} has {n}")
            if vals.shape[1] != t:
                raise WidgetValueError(
                    f"attribution {name!r} has {vals.shape[1]} values per row but {name0!r} has {t}; every method "
                    "must attribute the same tokens"
                )

        if tokens is None:
            tokens = next((a.feature_names for _, _, a in items if a is not None and a.feature_names is not None), None)
            if tokens is None:
                raise WidgetValueError("tokens is None and the attribution has no feature_names; pass the tokens")
        rows = _token_rows(tokens, n, t)

        if mask is not None:
            keep = _check_mask(mask, n, t)
        else:
            rec = _recorded_mask([(name, a) for name, _, a in items])
            keep = np.ones((n, t), dtype=bool) if rec is None else _check_mask(rec[0], n, t, rec[1])

        self._n, self._t, self._m = n, t, len(items)
        self._mask = keep
        self._rows = rows
        self._layout = [token_layout(r) for r in rows]
        self._vals = np.stack([v for _, v, _ in items], axis=1).astype(np.float32)  # (N, M, T)
        self._several = several
        self._reduce = reduce
        self._attributions = {name: a for name, _, a in items}
        self._send_all = n * (self._m * t * 4 + sum(len(x) * 2 for x in rows[0])) <= self._max_bytes

        sample = as_int(sample, "sample")
        self._check_range("sample", sample)
        token = OptionalIndex(what="token").validate(self, token)
        self._check_range("token", token, sample)

        labels, captions = _class_labels([a for _, _, a in items], n)
        names = [name for name, _, _ in items]
        super().__init__(
            method="" if several else names[0],
            methods=names,
            n_samples=n,
            n_tokens=t,
            _sample_labels=labels,
            _captions=captions,
            sample=sample,
            token=token,
            colormap=colormap,
            sign=sign,
            clip_percentile=clip_percentile,
            shared_scale=shared_scale,
            **self._payload(sample),
            **kwargs,
        )

    # ------------------------------------------------------------- payload
    def _payload(self, sample: int) -> dict:
        rows = list(range(self._n)) if self._send_all else [sample]
        raw, meta = ser.encode(self._vals[rows], "float32", samples=rows, methods=self._m)
        flags = []
        for i in rows:
            f = np.asarray(self._layout[i][1], dtype=np.int64)
            f[~self._mask[i]] |= FLAG_PADDING
            flags.append([int(x) for x in f])
        return {
            "_values": raw,
            "_values_meta": meta,
            "_tokens": [self._rows[i] for i in rows],
            "_display": [self._layout[i][0] for i in rows],
            "_flags": flags,
        }

    @traitlets.observe("sample")
    def _on_sample(self, change: dict) -> None:
        if self._vals is None:
            return
        s = change["new"]
        with self.hold_sync():
            # a token pinned in one row may be padding in the next
            if self.token is not None and not self._mask[s, self.token]:
                self.token = None
            if not self._send_all and s not in self._values_meta.get("samples", []):
                for k, v in self._payload(s).items():
                    setattr(self, k, v)

    def _check_range(self, name: str, value: Any, sample: int | None = None) -> None:
        super()._check_range(name, value)
        mask = getattr(self, "_mask", None)
        if name == "token" and value is not None and mask is not None:
            s = self.sample if sample is None else sample
            if not mask[s, value]:
                shown = np.flatnonzero(mask[s])
                raise WidgetValueError(
                    f"token {value} is padding in sample {s} (its mask is 0) and is not shown; expected one of the "
                    f"{shown.size} shown positions ({int(shown[0])}..{int(shown[-1])})"
                )

    # ------------------------------------------------------ static picture
    def _static_figure(self) -> Any:
        """The current sample as coloured token boxes flowing in lines, one block per method, and colour bars.

        Same colours and text rule as the widget on a white page: the colormap
        colour blended at the token's opacity, black or white text by contrast,
        special tokens in a smaller monospace face with dimmed text, padding
        left out.
        """
        from matplotlib.backends.backend_agg import RendererAgg
        from matplotlib.figure import Figure
        from matplotlib.font_manager import FontProperties
        from matplotlib.collections import PatchCollection
        from matplotlib.patches import Rectangle

        s = int(self.sample)
        names = list(self.methods)
        M = len(names)
        vals = self._vals[s].astype(np.float64)  # (M, T)
        shown = np.flatnonzero(self._mask[s])
        display, flags = self._layout[s]
        sign, clip, cmap = self.sign, float(self.clip_percentile), self.colormap
        if self.shared_scale:
            vmaxes = [_scale_max(vals[:, shown], sign, clip)] * M
        else:
            vmaxes = [_scale_max(vals[m, shown], sign, clip) for m in range(M)]
        page = (255, 255, 255)

        W = float(self._STATIC_WIDTH)  # points: the PNG is rendered at 2 px per point
        pad, tpad, gap, box_h, line_h = 14.0, 3.0, 4.0, 17.0, 21.0
        fs = 11.0
        normal = FontProperties(size=fs)
        special = FontProperties(family="monospace", size=fs * 0.85)
        bold = FontProperties(size=fs + 1, weight="bold")
        measure = RendererAgg(8, 8, 72)

        widths: dict[tuple[str, int], float] = {}

        def width(text: str, prop: FontProperties) -> float:
            key = (text, id(prop))  # every method row repeats the same tokens
            w = widths.get(key)
            if w is None:
                w = widths[key] = float(measure.get_text_width_height_descent(text, prop, ismath=False)[0])
            return w

        def chunks(text: str, prop: FontProperties, room: float) -> list[str]:
            # a token wider than a line breaks between characters, like the widget's overflow-wrap
            out, rest = [], text
            while rest and width(rest, prop) > room:
                k = max(1, max((j for j in range(1, len(rest) + 1) if width(rest[:j], prop) <= room), default=1))
                out.append(rest[:k])
                rest = rest[k:]
            return out + ([rest] if rest or not out else [])

        ops: list[tuple] = []  # ("box", x, y, w, h, colour) / ("text", x, y, text, colour, prop)
        y = pad
        title = names[0] if M == 1 and names[0] else (" · ".join(n for n in names if n) or "attribution")
        ops.append(("text", pad, y + 7, title, (0, 0, 0), bold))
        y += 20
        caps = [c for c in (self._captions[s] if s < len(self._captions) else []) if c]
        sub = f"sample {s}" if self._n > 1 else ""
        if caps:
            sub = (sub + " · " if sub else "") + ("explains " + caps[0] if len(set(caps)) == 1 else
                                                   " · ".join(f"{n}: {c}" for n, c in zip(names, self._captions[s])))
        if sub:
            ops.append(("text", pad, y + 6, sub, (0, 0, 0), normal))
            y += 18
        right = W - pad
        for m in range(M):
            if M > 1:
                y += 4
                ops.append(("text", pad, y + 6, names[m], (0, 0, 0), bold))
                y += 18
            x = pad
            for i in shown:
                f = int(flags[i])
                prop = special if f & FLAG_SPECIAL else normal
                back, ink, _ = token_style(float(vals[m, i]), sign, vmaxes[m], cmap, page, bool(f & FLAG_SPECIAL))
                for k, piece in enumerate(chunks(display[i], prop, right - pad - 2 * tpad)):
                    w = width(piece, prop) + 2 * tpad
                    g = 0.0 if (k > 0 or f & FLAG_CONTINUATION or x == pad) else gap
                    if x > pad and x + g + w > right:
                        x, y, g = pad, y + line_h, 0.0
                    ops.append(("box", x + g, y, w, box_h, back))
                    ops.append(("text", x + g + tpad, y + box_h / 2, piece, ink, prop))
                    x += g + w
            y += line_h + 6
        bars = [("", vmaxes[0])] if (M == 1 or self.shared_scale) else list(zip(names, vmaxes))
        bar_w, bar_gap = 220.0, 18.0
        per_line = max(1, int((W - 2 * pad + bar_gap) // (bar_w + bar_gap)))
        bar_boxes = []
        for k, (label, vmax) in enumerate(bars):
            col, row = k % per_line, k // per_line
            bx, by = pad + col * (bar_w + bar_gap), y + row * 44.0
            if label:
                ops.append(("text", bx, by + 5, label, (0, 0, 0), FontProperties(size=fs - 1)))
            bar_boxes.append((bx, by + 12, vmax))
        y += 44.0 * ((len(bars) + per_line - 1) // per_line) + pad
        H = y

        fig = Figure(figsize=(W / 72.0, H / 72.0), dpi=72)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, W)
        ax.set_ylim(H, 0)
        ax.set_axis_off()
        boxes = [op for op in ops if op[0] == "box"]
        if boxes:
            # one collection: a patch per token would cost a second per thousand tokens
            ax.add_collection(PatchCollection(
                [Rectangle((x, yy), w, h) for _, x, yy, w, h, _c in boxes],
                facecolors=[np.array(c) / 255.0 for *_, c in boxes], edgecolors="none", linewidths=0,
            ))
        for op in ops:
            if op[0] == "text":
                _, x, yy, text, c, prop = op
                ax.text(x, yy, text, color=np.array(c) / 255.0, fontproperties=prop, va="center", ha="left",
                        parse_math=False)
        lo_hi = {"all": lambda v: (-v, v), "negative": lambda v: (-v, 0.0)}
        for bx, by, vmax in bar_boxes:
            lo, hi = lo_hi.get(sign, lambda v: (0.0, v))(vmax)
            xs = np.linspace(lo, hi, 256)
            strip = np.array([[_bar_colour(v, sign, vmax, cmap) for v in xs]], dtype=np.uint8)
            ax.imshow(strip, extent=(bx, bx + bar_w, by + 10, by), aspect="auto", interpolation="nearest")
            ax.add_patch(Rectangle((bx, by), bar_w, 10, facecolor="none", edgecolor=(0.74, 0.74, 0.74), linewidth=0.8))
            tick = FontProperties(size=fs - 2)
            for v, ha, tx in ((lo, "left", bx), (hi, "right", bx + bar_w)):
                ax.text(tx, by + 17, format_value(v), color="black", fontproperties=tick, va="center", ha=ha)
            if lo < 0 < hi:
                ax.text(bx + bar_w / 2, by + 17, "0", color="black", fontproperties=tick, va="center", ha="center")
        ax.set_xlim(0, W)
        ax.set_ylim(H, 0)
        return fig

    # ------------------------------------------------------------- helpers
    @property
    def tokens(self) -> list[list[str]]:
        """The tokens, one list per row (as given, padding included)."""
        return [list(r) for r in self._rows]

    @property
    def values(self) -> Any:
        """The (reduced) values: ``(N, T)``, or ``{name: (N, T)}`` when built from a dict of methods."""
        if self._several:
            return {name: self._vals[:, k].copy() for k, name in enumerate(self.methods)}
        return self._vals[:, 0].copy()

    @property
    def mask(self) -> np.ndarray:
        """``(N, T)`` bool: the positions drawn (False: padding)."""
        return self._mask.copy()

    @property
    def attributions(self) -> dict:
        """The attributions shown, ``{name: Attribution or None}`` (None for plain arrays)."""
        return dict(self._attributions)

    @property
    def reduce(self) -> str:
        """Reduction used for ``(N, T, D)`` values (set at construction)."""
        return self._reduce

    def values_at(self, token: int | None = None, sample: int | None = None) -> dict:
        """Each method's value at a token (default: the pinned ``token``, current ``sample``), ``{name: float}``."""
        s = self.sample if sample is None else as_int(sample, "sample")
        self._check_range("sample", s)
        if token is None:
            if self.token is None:
                raise ValueError("no token given and none pinned")
            token = self.token
        token = as_int(token, "token")
        self._check_range("token", token, s)
        return {name: float(self._vals[s, k, token]) for k, name in enumerate(self.methods)}

    def __repr__(self) -> str:
        if self._several:
            return f"TextHeatmap(methods={list(self.methods)!r}, samples={self._n}, tokens={self._t})"
        return f"TextHeatmap(method={self.method!r}, samples={self._n}, tokens={self._t})"
