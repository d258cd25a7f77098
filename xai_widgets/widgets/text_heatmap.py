"""TextHeatmap: tokens coloured by their attribution."""
from __future__ import annotations

from typing import Any

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
    WidgetTypeError,
    WidgetValueError,
    as_int,
    reject_result_sequence,
)

__all__ = ["TextHeatmap", "token_layout"]

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


class TextHeatmap(XWidget):
    """Tokens coloured by attribution value.

    Parameters
    ----------
    tokens : list of str, or one list per row
        ``None`` uses the attribution's ``feature_names``.
    attribution : Attribution or array
        Values ``(N, T)``, ``(T,)`` or ``(N, T, D)`` (reduced over D by ``reduce``,
        default "sum" — e.g. embedding-layer attributions).
    colormap : str, default "coolwarm"
        Diverging maps use a symmetric scale around zero.
    sign : "all" | "positive" | "negative" | "absolute"
    clip_percentile : float in (0, 100], default 100
        The colour scale ends at this percentile of |values| of the row.
    sample : int
        The row shown (a selector appears when N > 1).
    token : int or None
        The pinned token (click a token to pin/unpin it).
    max_bytes : int, default 8 MiB
        All rows are sent when they fit, otherwise only the current ``sample``.

    Examples
    --------
    >>> import xai_widgets as xw
    >>> from xai_widgets import demo
    >>> tok, model = demo.minilm()                               # doctest: +SKIP
    >>> enc = tok(["the cat sat on the mat"], return_tensors="pt")  # doctest: +SKIP
    >>> def first_dim(out):  # (N,) score: one dimension of the sentence embedding
    ...     return demo.mean_pool(out.last_hidden_state, enc["attention_mask"])[:, 0]
    >>> a = xw.integrated_gradients(model, enc["input_ids"], output=first_dim, layer=model.embeddings,
    ...                             forward_kwargs={"attention_mask": enc["attention_mask"]})  # doctest: +SKIP
    >>> w = xw.TextHeatmap(tok.convert_ids_to_tokens(enc["input_ids"][0]), a)  # (1, T, D) summed over D  # doctest: +SKIP
    >>> w.token = 2                                              # doctest: +SKIP
    """

    _bundle = "text_heatmap"

    sample = Index(0, what="sample").tag(sync=True)
    token = OptionalIndex(what="token").tag(sync=True)
    colormap = Choice(COLORMAPS, "coolwarm", what="colormap").tag(sync=True)
    sign = Choice(SIGNS, "all", what="sign").tag(sync=True)
    clip_percentile = BoundedFloat(100.0, 0.0, 100.0, lo_open=True, what="clip_percentile").tag(sync=True)

    method = traitlets.Unicode("").tag(sync=True)
    n_samples = traitlets.Int(1).tag(sync=True)
    n_tokens = traitlets.Int(0).tag(sync=True)

    _tokens = traitlets.List().tag(sync=True)
    _display = traitlets.List().tag(sync=True)
    _flags = traitlets.List().tag(sync=True)
    _values = traitlets.Bytes(b"").tag(sync=True)
    _values_meta = traitlets.Dict().tag(sync=True)
    _sample_labels = traitlets.List(traitlets.Unicode()).tag(sync=True)

    _OPTIONS = ("colormap", "sign", "clip_percentile", "sample", "token", "reduce", "max_bytes")
    _RANGES = {
        "sample": ("_n", "in [0, {last}] (the batch has {n} rows)"),
        "token": ("_t", "in [0, {last}] ({n} tokens per row)"),
    }
    _OPTIONAL = frozenset({"token"})
    _DATA_ATTRS = ("_vals", "_rows", "_layout", "_attribution")

    def __init__(
        self,
        tokens: Any,
        attribution: Any,
        *,
        colormap: str = "coolwarm",
        sign: str = "all",
        clip_percentile: float = 100.0,
        sample: int = 0,
        token: int | None = None,
        reduce: str = "sum",
        max_bytes: int = 8 * 2**20,
        **kwargs: Any,
    ) -> None:
        self._check_options(kwargs)
        reject_result_sequence(attribution, "TextHeatmap", "attribution")
        Choice(REDUCTIONS, what="reduce").validate(self, reduce)

        if isinstance(attribution, Attribution):
            attr = attribution
            values = attr.values
        else:
            values = ser.to_numpy(attribution, "attribution")
            attr = None
        values = np.asarray(values)
        if values.ndim == 1:
            values = values[None]
        if values.ndim == 3:
            v = values.astype(np.float64)
            values = v.sum(-1) if reduce == "sum" else v.mean(-1) if reduce == "mean" else np.take_along_axis(
                v, np.abs(v).argmax(-1)[..., None], -1)[..., 0]
        if values.ndim != 2:
            raise WidgetValueError(
                f"attribution values of shape {np.shape(values)}: expected (N, T), (T,) or (N, T, D) token attributions"
            )
        ser.check_finite(values, "attribution values")
        if tokens is None:
            tokens = attr.feature_names if attr is not None else None
            if tokens is None:
                raise WidgetValueError("tokens is None and the attribution has no feature_names; pass the tokens")
        n, t = values.shape
        rows = _token_rows(tokens, n, t)
        self._rows = rows
        self._layout = [token_layout(r) for r in rows]
        self._vals = values.astype(np.float32)
        self._n, self._t = n, t
        self._max_bytes = as_int(max_bytes, "max_bytes")
        self._send_all = n * t * 4 + sum(len("".join(r)) * 2 for r in rows) <= self._max_bytes
        self._reduce = reduce
        self._attribution = attr

        sample = as_int(sample, "sample")
        self._check_range("sample", sample)
        token = OptionalIndex(what="token").validate(self, token)
        self._check_range("token", token)

        labels = [str(i) for i in range(n)]
        if attr is not None and attr.target is not None and np.ndim(attr.target) == 1 and len(attr.target) == n:
            labels = [f"{i} · target {int(x)}" for i, x in enumerate(attr.target)]
        payload = self._payload(sample)
        super().__init__(
            method=attr.method if attr is not None else "",
            n_samples=n,
            n_tokens=t,
            _sample_labels=labels,
            sample=sample,
            token=token,
            colormap=colormap,
            sign=sign,
            clip_percentile=clip_percentile,
            **payload,
            **kwargs,
        )

    def _payload(self, sample: int) -> dict:
        rows = list(range(self._n)) if self._send_all else [sample]
        raw, meta = ser.encode(self._vals[rows], "float32", samples=rows)
        return {
            "_values": raw,
            "_values_meta": meta,
            "_tokens": [self._rows[i] for i in rows],
            "_display": [self._layout[i][0] for i in rows],
            "_flags": [self._layout[i][1] for i in rows],
        }

    @traitlets.observe("sample")
    def _on_sample(self, change: dict) -> None:
        if getattr(self, "_send_all", True) or self._vals is None or change["new"] in self._values_meta.get("samples", []):
            return
        p = self._payload(change["new"])
        with self.hold_sync():
            for k, v in p.items():
                setattr(self, k, v)

    @property
    def tokens(self) -> list[list[str]]:
        """The tokens, one list per row (as given)."""
        return [list(r) for r in self._rows]

    @property
    def values(self) -> np.ndarray:
        """The (reduced) values ``(N, T)``."""
        return self._vals.copy()

    @property
    def reduce(self) -> str:
        return self._reduce

    def __repr__(self) -> str:
        return f"TextHeatmap(method={self.method!r}, samples={self._n}, tokens={self._t})"
