"""SummaryPlot: which features matter across a dataset (shap's beeswarm, bar and dependence plots)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import traitlets

from .._display import summary as S
from ..attribution import Attribution
from . import _serialize as ser
from ._base import XWidget
from ._rows import as_attribution, feature_names_for, one_target
from ._traits import (
    Choice,
    Index,
    OptionalIndex,
    WidgetTypeError,
    WidgetValueError,
    as_int,
    reject_result_sequence,
)

__all__ = ["SummaryPlot", "KINDS", "BAR_MODES"]

KINDS = S.KINDS
BAR_MODES = S.BAR_MODES


class SummaryPlot(XWidget):
    """Attributions of many rows summarised per feature: beeswarm, bar or dependence (scatter) plot.

    Beeswarm, bar or dependence view (details under Notes); clicking a dot
    sets the synced ``index`` and ``feature``.

    Parameters
    ----------
    attribution : Attribution or shap.Explanation
        Values ``(N, M)`` (tabular rows; ``(N, K, M)`` for ``target="all"``)
        with the explained inputs in ``data`` ``(N, M)`` (needed for colours
        and the scatter plot). Rows that explain different classes are refused.
    kind : "beeswarm" | "bar" | "scatter"
    feature : int or None
        The selected feature (scatter: the feature on x; None there means the
        one with the largest mean |value|).
    color : int or None
        Scatter: the feature colouring the dots (None: the strongest interaction).
    max_display : int, default 20
        Rows drawn before the rest collapse into one.
    index : int or None
        The selected sample (click a dot).
    output : int, default 0
        For ``(N, K, M)`` values: which output the beeswarm and scatter show
        (position among the explained outputs).
    bar_mode : "stacked" | "grouped"
        Multi-output bar plot layout.
    feature_names : list of str, optional
        Overrides the attribution's names (default ``x0 .. x{M-1}``).

    Shapes sent to the browser: values as uint16 per feature range
    (``(N, K, M)``, error <= range / 131068), feature values the same
    ``(N, M)`` (65535 = missing), exact mean |value| ``(K, M)`` as float32.

    Notes
    -----
    - ``kind="beeswarm"``: one row per feature, largest mean |value| on top,
      one dot per sample at its attribution, swarmed, coloured by the
      feature's value (blue low, red high);
    - ``kind="bar"``: mean |value| per feature; for a ``target="all"``
      attribution ``(N, K, M)`` one colour per output, stacked or grouped
      (``bar_mode``);
    - ``kind="scatter"``: feature ``feature``'s value (x) against its
      attribution (y), coloured by ``color`` (None: the feature that
      interacts most with it, chosen by shap's ``approximate_interactions``
      heuristic, see :func:`xai_widgets._display.summary.approximate_interactions`).

    Features beyond ``max_display`` share one row, "N other features" (per
    sample, the sum of their values; in the bar plot, the sum of their mean
    |value|), as in shap. Hovering a dot shows the sample, the feature and
    both values; clicking one sets ``index`` and ``feature`` (synced: Python
    reads and sets them, a ring marks the sample). :meth:`force_plot` is the
    ForcePlot of the picked sample.

    Example
    -------
    >>> import numpy as np, xai_widgets as xw
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 5))
    >>> a = xw.Attribution.from_array(X * [3, 1, 0.5, 0.2, 0], X, base_values=0.0)
    >>> w = xw.SummaryPlot(a)                      # doctest: +SKIP
    >>> w.kind = "scatter"; w.feature = 0          # doctest: +SKIP
    >>> w.force_plot()                             # doctest: +SKIP
    """

    _bundle = "summary_plot"

    kind = Choice(KINDS, "beeswarm", what="kind").tag(sync=True)
    feature = OptionalIndex(what="feature").tag(sync=True)
    color = OptionalIndex(what="color").tag(sync=True)
    index = OptionalIndex(what="index").tag(sync=True)
    max_display = Index(20, what="max_display").tag(sync=True)
    output = Index(0, what="output").tag(sync=True)
    bar_mode = Choice(BAR_MODES, "stacked", what="bar_mode").tag(sync=True)

    n_samples = traitlets.Int(0).tag(sync=True)
    n_features = traitlets.Int(0).tag(sync=True)
    feature_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    output_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    method = traitlets.Unicode("").tag(sync=True)
    has_data = traitlets.Bool(False).tag(sync=True)

    # uint16 (N, K, M), meta: {"dtype": "uint16", "shape", "lo": [K*M], "hi": [K*M]}
    _values = traitlets.Bytes(b"").tag(sync=True)
    _values_meta = traitlets.Dict().tag(sync=True)
    # uint16 (N, M) feature values (65535 = missing), meta lo/hi per feature and the colour range clo/chi
    _data = traitlets.Bytes(b"").tag(sync=True)
    _data_meta = traitlets.Dict().tag(sync=True)
    # exact mean |value| (K, M), float32
    _mean_abs = traitlets.Bytes(b"").tag(sync=True)
    _mean_abs_meta = traitlets.Dict().tag(sync=True)
    # per output, per feature: the interaction partner (-1: none); empty until a scatter plot needs it
    _partners = traitlets.List().tag(sync=True)

    _OPTIONS = ("kind", "feature", "color", "max_display", "index", "output", "bar_mode", "feature_names")
    _RANGES = {
        "feature": ("_m", "in [0, {last}] ({n} features)"),
        "color": ("_m", "in [0, {last}] ({n} features)"),
        "index": ("_n", "in [0, {last}] ({n} samples)"),
        "output": ("_k", "in [0, {last}] ({n} outputs)"),
    }
    _OPTIONAL = frozenset({"feature", "color", "index"})
    _DATA_ATTRS = ("_vals", "_dat", "_attribution")

    def __init__(
        self,
        attribution: Any,
        *,
        kind: str = "beeswarm",
        feature: int | None = None,
        color: int | None = None,
        max_display: int = 20,
        index: int | None = None,
        output: int = 0,
        bar_mode: str = "stacked",
        feature_names: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self._check_options(kwargs)
        reject_result_sequence(attribution, "SummaryPlot", "attribution")
        Choice(KINDS, what="kind").validate(self, kind)
        Choice(BAR_MODES, what="bar_mode").validate(self, bar_mode)
        attr = as_attribution(attribution)
        values = np.asarray(attr.values)
        if values.dtype == object or not (np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_):
            raise WidgetTypeError(f"attribution values must be numeric, got dtype {values.dtype}")
        multi = attr.params.get("target") == "all"
        if values.ndim == 1 and not multi:
            values = values[None]
        want = 3 if multi else 2
        if values.ndim != want:
            per_row = values.shape[2 if multi else 1:]
            raise WidgetValueError(
                f"SummaryPlot needs one value per feature and row: (N, M) values"
                f"{' or (N, K, M) for target=all' if not multi else ' (N, K, M) for target=all'}; got {values.shape} "
                f"({len(per_row)} axes per row{' and output' if multi else ''}: image- or token-shaped). Show those "
                "with HeatmapOverlay (images) or TextHeatmap (tokens), or summarise them into one value per feature first"
            )
        n, m = values.shape[0], values.shape[-1]
        if n == 0 or m == 0:
            raise WidgetValueError(f"attribution values of shape {values.shape} are empty; expected N, M >= 1")
        if not multi:
            one_target(attr, n)  # rows explaining different classes: the stacked ForcePlot's message
        ser.check_finite(values, "attribution values")
        v3 = values.astype(np.float64).reshape(n, -1, m)
        k = v3.shape[1]

        names = feature_names_for(feature_names, attr.feature_names, m)

        data = None
        if attr.data is not None:
            d = np.asarray(attr.data)
            if d.ndim == 1 and n == 1:
                d = d[None]
            if d.shape != (n, m):
                raise WidgetValueError(f"data has shape {d.shape} but the values are {(n, m)} per output; they must match")
            if np.issubdtype(d.dtype, np.number) or d.dtype == np.bool_:
                data = d.astype(np.float64)
            # non-numeric data (strings): no colours, no scatter; the view says so

        self._vals, self._dat, self._attribution = v3, data, attr
        self._n, self._m, self._k = n, m, k
        self._multi = multi
        self._output_labels = self._outputs_of(attr, k, multi)

        index = OptionalIndex(what="index").validate(self, index)
        self._check_range("index", index)
        feature = OptionalIndex(what="feature").validate(self, feature)
        self._check_range("feature", feature)
        color = OptionalIndex(what="color").validate(self, color)
        self._check_range("color", color)
        output = as_int(output, "output")
        self._check_range("output", output)
        max_display = as_int(max_display, "max_display")
        if max_display < 1:
            raise WidgetValueError(f"max_display must be >= 1, got {max_display}")
        if kind == "scatter" and data is None:
            raise WidgetValueError(self._no_data_message())

        raw, lo, hi = S.quantize_u16(v3, axis=0)
        v_meta = {"dtype": "uint16", "shape": [n, k, m], "lo": lo.reshape(-1).tolist(), "hi": hi.reshape(-1).tolist()}
        d_raw, d_meta = b"", {}
        if data is not None:
            d_raw, dlo, dhi = S.quantize_u16(data, axis=0)
            clo, chi = S.color_range(data)
            d_meta = {"dtype": "uint16", "shape": [n, m], "lo": dlo.tolist(), "hi": dhi.tolist(),
                      "clo": clo.tolist(), "chi": chi.tolist()}
        ma_raw, ma_meta = ser.encode(S.mean_abs(v3), "float32")
        super().__init__(
            n_samples=n, n_features=m, feature_names=names, output_names=self._output_labels,
            method=attr.method, has_data=data is not None,
            _values=raw, _values_meta=v_meta, _data=d_raw, _data_meta=d_meta,
            _mean_abs=ma_raw, _mean_abs_meta=ma_meta,
            kind=kind, feature=feature, color=color, index=index, output=output, max_display=max_display,
            bar_mode=bar_mode, **kwargs,
        )
        if kind == "scatter":
            self._ensure_partners()

    # ------------------------------------------------------------- inputs
    @staticmethod
    def _outputs_of(attr: Attribution, k: int, multi: bool) -> list[str]:
        """Class name per output shown (``output_names`` indexed by ``target``), or "f(x)"."""
        names = attr.output_names
        t = None if attr.target is None else np.asarray(attr.target).reshape(-1)
        if multi:
            idx = [int(x) for x in t] if t is not None and t.size == k else list(range(k))
            return [names[i] if names is not None and 0 <= i < len(names) else f"output {i}" for i in idx]
        if names and len(names) == 1:
            return [names[0]]
        if t is not None and t.size >= 1 and np.issubdtype(t.dtype, np.integer) and len(set(t.tolist())) == 1:
            i = int(t[0])
            if names is not None and 0 <= i < len(names):
                return [names[i]]
        return ["f(x)"]

    def _no_data_message(self) -> str:
        return ("a dependence (scatter) plot puts each feature's value on x: the attribution has no numeric data "
                "(keep the explained inputs in Attribution.data, or use kind='beeswarm' or 'bar')")

    # ---------------------------------------------------------- validation
    @traitlets.validate("max_display")
    def _valid_max_display(self, proposal: dict) -> int:
        if proposal["value"] < 1:
            raise WidgetValueError(f"max_display must be >= 1, got {proposal['value']}")
        return proposal["value"]

    @traitlets.validate("kind")
    def _valid_kind(self, proposal: dict) -> str:
        if proposal["value"] == "scatter" and getattr(self, "_dat", 0) is None and getattr(self, "_vals", None) is not None:
            raise WidgetValueError(self._no_data_message())
        return proposal["value"]

    @traitlets.observe("kind")
    def _on_kind(self, change: dict) -> None:
        if change["new"] == "scatter" and getattr(self, "_vals", None) is not None:
            self._ensure_partners()

    def _ensure_partners(self) -> None:
        """Interaction partners for every output and feature (computed once, when a scatter plot first needs them)."""
        if self._partners or self._dat is None:
            return
        self._partners = [S.interaction_partners(self._vals[:, j], self._dat) for j in range(self._k)]

    # ------------------------------------------------------------ readers
    @property
    def values(self) -> np.ndarray:
        """The attributions, ``(N, M)`` (``(N, K, M)`` for a ``target="all"`` attribution), float64."""
        return (self._vals if self._multi else self._vals[:, 0]).copy()

    @property
    def attribution(self) -> Attribution:
        return self._attribution

    def _shown_values(self) -> np.ndarray:
        """``(N, M)`` values of the output the beeswarm and scatter show."""
        return self._vals[:, self.output]

    @property
    def feature_order(self) -> np.ndarray:
        """Features by mean |value|, largest first (over every output for ``(N, K, M)``)."""
        return S.feature_order(self._vals)

    @property
    def mean_abs(self) -> np.ndarray:
        """Mean |value| per feature ``(M,)`` (``(K, M)`` for several outputs): the bar heights."""
        ma = S.mean_abs(self._vals)
        return ma if self._multi else ma[0]

    @property
    def scatter_feature(self) -> int:
        """The feature the scatter plot shows: ``feature``, else the largest mean |value|."""
        return int(self.feature) if self.feature is not None else int(S.feature_order(self._shown_values())[0])

    @property
    def color_feature(self) -> int | None:
        """The feature colouring the scatter plot: ``color``, else the strongest interaction (None when none)."""
        if self.color is not None:
            return int(self.color)
        if self._dat is None:
            return None
        self._ensure_partners()
        p = self._partners[self.output][self.scatter_feature]
        return None if p < 0 else int(p)

    def force_plot(self, index: int | None = None, **kwargs: Any) -> Any:
        """The :class:`~xai_widgets.ForcePlot` of sample ``index`` (default: the clicked one, ``self.index``).

        For several outputs, the one shown (``output``). ``kwargs`` go to ForcePlot.
        """
        from . import ForcePlot  # the package's widget (a linked view, not a shared helper)

        i = self.index if index is None else as_int(index, "index")
        if i is None:
            raise WidgetValueError("no sample picked: click a dot or set summary.index (or pass force_plot(index=...))")
        self._check_range("index", i)
        a = self._attribution
        row = a[i]
        if self._multi:
            kk = self.output

            def col(x: Any) -> Any:
                return None if x is None or np.ndim(x) < 2 else np.asarray(x)[:, kk]

            t = np.asarray(a.target).reshape(-1) if a.target is not None else None
            target = None if t is None or t.size != self._k else np.full(1, int(t[kk]))
            row = Attribution(values=row.values[:, kk], data=row.data, target=target, outputs=col(row.outputs),
                              base_values=col(row.base_values), method=a.method, feature_names=list(self.feature_names),
                              output_names=a.output_names)
        elif a.feature_names is None:
            row = Attribution(values=row.values, data=row.data, target=row.target, outputs=row.outputs,
                              base_values=row.base_values, method=a.method, params=dict(a.params),
                              feature_names=list(self.feature_names), output_names=a.output_names)
        return ForcePlot(row, **kwargs)

    # ------------------------------------------------------- static picture
    def _static_figure(self) -> Any:
        from matplotlib.figure import Figure

        if self._vals is None:
            raise WidgetValueError("the widget is closed; its attributions were released")
        names = list(self.feature_names)
        kind = self.kind
        rows = min(self._m, self.max_display)
        if kind == "scatter":
            fig = Figure(figsize=(8, 4.6))
            ax = fig.add_subplot()
            S.plot_scatter(self._shown_values(), self._dat, names, self.scatter_feature, color=self.color_feature,
                           ax=ax, marker=self.index)
        else:
            fig = Figure(figsize=(8, 0.34 * rows + 1.4))
            ax = fig.add_subplot()
            if kind == "bar":
                vals = self._vals if self._multi else self._vals[:, 0]
                S.plot_bar(vals, names, ax=ax, max_display=self.max_display, output_names=self._output_labels,
                           bar_mode=self.bar_mode, feature=self.feature)
            else:
                S.plot_beeswarm(self._shown_values(), names, data=self._dat, ax=ax, max_display=self.max_display,
                                marker=self.index, feature=self.feature)
        title = self._title()
        if title:
            ax.set_title(title, fontsize=10)
        fig.tight_layout()
        return fig

    def _title(self) -> str:
        parts = []
        out = self._output_labels[self.output] if self.kind != "bar" or not self._multi else ""
        if out and out != "f(x)":
            parts.append(out)
        if self._attribution.method and self._attribution.method != "custom":
            parts.append(self._attribution.method)
        parts.append(f"{self._n} samples")
        return " · ".join(parts)

    def __repr__(self) -> str:
        extra = f", outputs={self._k}" if self._multi else ""
        return f"SummaryPlot(samples={self._n}, features={self._m}{extra}, kind={self.kind!r})"
