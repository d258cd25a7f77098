"""TextHeatmap: tokens coloured by their attribution, one row per method."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import traitlets

from ..attribution import Attribution
from .._display import FLAG_CONTINUATION, FLAG_SPECIAL, token_layout  # noqa: F401  (re-exported)
from . import _serialize as ser
from ._base import XWidget
from ._traits import (
    COLORMAPS,
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
