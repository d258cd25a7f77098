"""ForcePlot: additive explanations (SHAP values) from the base value to the output."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import traitlets

from ..attribution import Attribution
from ..explain.ordering import ORDERS, sample_order
from . import _serialize as ser
from ._base import XWidget
from ._traits import (
    BoundedFloat,
    Choice,
    Index,
    OptionalIndex,
    WidgetTypeError,
    WidgetValueError,
    as_int,
    reject_result_sequence,
)

__all__ = ["ForcePlot", "MODES", "LINKS"]

#: The built bundle (the base class reads it once per process, by name).
_ESM = ser.esm_path("force_plot")

#: ``ForcePlot.mode``: "auto" is "single" for one row, "stacked" otherwise.
MODES: tuple[str, ...] = ("auto", "single", "stacked", "waterfall")
#: ``ForcePlot.link``: "logit" reads the values as log-odds and labels the axis in probabilities.
LINKS: tuple[str, ...] = ("identity", "logit")


from ._rows import as_attribution as _as_attribution  # noqa: E402,F401  (shared with SummaryPlot)
from ._rows import class_label as _class_label  # noqa: E402,F401
from ._rows import is_shap_explanation as _is_shap_explanation  # noqa: E402,F401
from ._rows import feature_names_for  # noqa: E402
from ._rows import one_target as _one_target  # noqa: E402


def _rows(a: np.ndarray, what: str) -> np.ndarray:
    if a.ndim == 1:
        return a[None]
    return a


class ForcePlot(XWidget):
    """Force plot of additive attributions: how each feature moves the output away from the base value.

    One row is drawn as a horizontal force bar (features pushing the output up
    in red, down in blue; small ones collapsed into "other") or as a waterfall;
    many rows as a stacked force plot — samples side by side on x (ordered by
    similarity, by output, or as given), the output on y — drawn on a canvas.

    Parameters
    ----------
    attribution : Attribution, shap.Explanation or array
        Values ``(N, M)`` (tabular / 1-D rows; ``(M,)`` is one row). Base values
        come from the attribution (``base_values``), else from
        ``outputs - values.sum(1)``, else from the ``base_values`` argument; an
        array needs ``base_values``.
    link : "identity" | "logit"
        With "logit", values are log-odds: the axis keeps log-odds positions but
        its ticks and readouts are probabilities.
    mode : "auto" | "single" | "stacked" | "waterfall"
        "auto" is "single" for one row and "stacked" otherwise; "single" and
        "waterfall" show row ``index``.
    order : "similarity" | "output" | "original"
        Sample order in stacked mode. "similarity" is hierarchical clustering of
        the attribution rows with optimal leaf ordering up to 1,000 rows and a
        cheap greedy leaf ordering beyond
        (:func:`xai_widgets.explain.ordering.similarity_order`).
    y_feature : int or None
        Stacked mode: plot the output (None) or this feature's attribution.
    index : int
        The selected row (click a sample in stacked mode; a marker shows it).
    feature : int or None
        The selected feature (click a feature label or segment).
    max_features : int, default 12
        At most this many features are drawn individually ...
    coverage : float in (0, 1], default 0.95
        ... and only as many as needed to cover this fraction of sum|values|;
        the rest are collapsed into "other".
    feature_names : list of str, optional
        Overrides the attribution's names (default ``x0 .. x{M-1}``).
    base_values : float or array ``(N,)``, optional
        Used when the attribution has none.
    output_name : str, optional
        Label of the output (default "f(x)", or the class name from
        ``output_names`` when every row explains the same class).

    Rows that explain different outputs (a kernel's default ``target=None``
    picks each row's top class) are a ``ValueError`` naming the classes: a
    force plot has one output on its axis. Explain one class with
    ``target=k`` (or its name), or show one row.

    Examples
    --------
    >>> import torch, xai_widgets as xw
    >>> from sklearn.datasets import load_diabetes
    >>> X, y = load_diabetes(return_X_y=True)
    >>> X = torch.tensor(X, dtype=torch.float32)
    >>> model = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    >>> sv = xw.permutation_shap(model, X[:50], X[50:150])       # doctest: +SKIP
    >>> xw.ForcePlot(sv)                                         # doctest: +SKIP
    >>> xw.ForcePlot(sv[3], mode="waterfall")                    # doctest: +SKIP
    """

    _bundle = "force_plot"

    # state the user reads and sets
    mode = Choice(MODES, "auto", what="mode").tag(sync=True)
    order = Choice(ORDERS, "similarity", what="order").tag(sync=True)
    link = Choice(LINKS, "identity", what="link").tag(sync=True)
    index = Index(0, what="index").tag(sync=True)
    feature = OptionalIndex(what="feature").tag(sync=True)
    y_feature = OptionalIndex(what="y_feature").tag(sync=True)
    max_features = Index(12, what="max_features").tag(sync=True)
    coverage = BoundedFloat(0.95, 0.0, 1.0, lo_open=True, what="coverage").tag(sync=True)

    # description of the data (set once)
    n_samples = traitlets.Int(1).tag(sync=True)
    n_features = traitlets.Int(0).tag(sync=True)
    feature_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    output_name = traitlets.Unicode("f(x)").tag(sync=True)
    method = traitlets.Unicode("").tag(sync=True)

    # binary payload (float32, shape in meta): values (N, M), base (N,), data (N, M) or empty
    _values = traitlets.Bytes(b"").tag(sync=True)
    _values_meta = traitlets.Dict().tag(sync=True)
    _base = traitlets.Bytes(b"").tag(sync=True)
    _base_meta = traitlets.Dict().tag(sync=True)
    _data = traitlets.Bytes(b"").tag(sync=True)
    _data_meta = traitlets.Dict().tag(sync=True)
    _data_text = traitlets.List().tag(sync=True)  # only for non-numeric data: (N, M) strings
    # similarity order (N,) as float32 (exact for N < 2**24); empty until computed
    _similarity = traitlets.Bytes(b"").tag(sync=True)
    _similarity_meta = traitlets.Dict().tag(sync=True)
    # samples by output, largest first (N,) float32 (computed here so Python and the browser agree)
    _by_output = traitlets.Bytes(b"").tag(sync=True)
    _by_output_meta = traitlets.Dict().tag(sync=True)

    _OPTIONS = (
        "link", "mode", "order", "y_feature", "index", "feature", "max_features", "coverage",
        "feature_names", "base_values", "output_name",
    )
    _RANGES = {
        "index": ("_n", "in [0, {last}] ({n} samples)"),
        "feature": ("_m", "in [0, {last}] ({n} features)"),
        "y_feature": ("_m", "in [0, {last}] ({n} features)"),
    }
    _OPTIONAL = frozenset({"feature", "y_feature"})
    _DATA_ATTRS = ("_vals", "_base_full", "_attribution", "_sim_perm")

    def __init__(
        self,
        attribution: Any,
        *,
        link: str = "identity",
        mode: str = "auto",
        order: str = "similarity",
        y_feature: int | None = None,
        index: int = 0,
        feature: int | None = None,
        max_features: int = 12,
        coverage: float = 0.95,
        feature_names: Sequence[str] | None = None,
        base_values: Any = None,
        output_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._check_options(kwargs)
        reject_result_sequence(attribution, "ForcePlot", "attribution")
        for name, val, opts in (("link", link, LINKS), ("mode", mode, MODES), ("order", order, ORDERS)):
            Choice(opts, what=name).validate(self, val)

        attr = _as_attribution(attribution)
        values = np.asarray(attr.values)
        if values.dtype == object or not (np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_):
            raise WidgetTypeError(f"attribution values must be numeric, got dtype {values.dtype}")
        values = _rows(values, "values")
        if values.ndim != 2:
            hint = ""
            if attr.params.get("target") == "all" or values.ndim == 3:
                hint = (" (a multi-output attribution: pick one output first, e.g. "
                        "Attribution(values=a.values[:, k], base_values=a.base_values[:, k], ...) "
                        "or explanation[..., k] for shap)")
            raise WidgetValueError(
                f"ForcePlot needs (N, M) tabular attributions or one (M,) row; got values of shape {values.shape}{hint}"
            )
        n, m = values.shape
        if n == 0 or m == 0:
            raise WidgetValueError(f"attribution values of shape {values.shape} are empty; expected (N, M) with N, M >= 1")
        target = _one_target(attr, n)
        ser.check_finite(values, "attribution values")
        values = values.astype(np.float64)
        base = self._base_values(attr, values, base_values)

        # names
        names = feature_names_for(feature_names, attr.feature_names, m)

        # feature values (the explained inputs), shown as `name = value`
        data_raw, data_meta, data_text = b"", {}, []
        if attr.data is not None:
            d = _rows(np.asarray(attr.data), "data")
            if d.shape != (n, m):
                raise WidgetValueError(f"data has shape {d.shape} but the values are {(n, m)}; they must match")
            if np.issubdtype(d.dtype, np.number) or d.dtype == np.bool_:
                d = d.astype(np.float64)
                data_raw, data_meta = ser.encode(np.where(np.isfinite(d), d, np.nan), "float32")
            else:
                data_text = [[str(x) for x in row] for row in d.tolist()]

        if output_name is None:
            output_name = "f(x)"
            outs = getattr(attr, "output_names", None)
            if outs and len(outs) == 1:
                output_name = str(outs[0])
            elif outs and target is not None and 0 <= target < len(outs):
                output_name = str(outs[target])
        if not isinstance(output_name, str):
            raise WidgetTypeError(f"output_name must be a string, got {type(output_name).__name__}")

        self._vals = values
        self._base_full = base
        self._n, self._m = n, m
        self._attribution = attr

        index = as_int(index, "index")
        self._check_range("index", index)
        feature = OptionalIndex(what="feature").validate(self, feature)
        self._check_range("feature", feature)
        y_feature = OptionalIndex(what="y_feature").validate(self, y_feature)
        self._check_range("y_feature", y_feature)
        max_features = as_int(max_features, "max_features")
        if max_features < 1:
            raise WidgetValueError(f"max_features must be >= 1, got {max_features}")

        v_raw, v_meta = ser.encode(values, "float32")
        b_raw, b_meta = ser.encode(base, "float32")
        sim_raw, sim_meta = b"", {}
        if order == "similarity" and n > 1:
            sim_raw, sim_meta = self._similarity_payload()
        out_raw, out_meta = ser.encode(sample_order(values, "output", base).astype(np.float32), "float32")
        super().__init__(
            n_samples=n,
            n_features=m,
            feature_names=names,
            output_name=output_name,
            method=attr.method,
            _values=v_raw,
            _values_meta=v_meta,
            _base=b_raw,
            _base_meta=b_meta,
            _data=data_raw,
            _data_meta=data_meta,
            _data_text=data_text,
            _similarity=sim_raw,
            _similarity_meta=sim_meta,
            _by_output=out_raw,
            _by_output_meta=out_meta,
            link=link,
            mode=mode,
            order=order,
            index=index,
            feature=feature,
            y_feature=y_feature,
            max_features=max_features,
            coverage=coverage,
            **kwargs,
        )

    # ------------------------------------------------------------- inputs
    @staticmethod
    def _base_values(attr: Attribution, values: np.ndarray, override: Any) -> np.ndarray:
        n = values.shape[0]

        def per_row(b: Any, what: str) -> np.ndarray:
            a = ser.to_numpy(b, what).astype(np.float64)
            if a.ndim == 2 and a.shape[1] == 1:
                a = a[:, 0]
            if a.size == 1:
                a = np.full(n, float(a.reshape(-1)[0]))
            if a.shape != (n,):
                raise WidgetValueError(f"{what} has shape {a.shape}; expected a scalar or one value per row ({n},)")
            ser.check_finite(a, what)
            return a

        if override is not None:
            return per_row(override, "base_values")
        if attr.base_values is not None:
            return per_row(attr.base_values, "the attribution's base_values")
        if attr.outputs is not None:
            return per_row(attr.outputs, "the attribution's outputs") - values.sum(1)
        raise WidgetValueError(
            "ForcePlot needs the base value (the expected output) the attributions add up from: the attribution "
            "has neither base_values nor outputs; pass base_values=... (e.g. the mean prediction over the background)"
        )

    def _similarity_payload(self) -> tuple[bytes, dict]:
        perm = sample_order(self._vals, "similarity")
        self._sim_perm = perm
        return ser.encode(perm.astype(np.float32), "float32")

    @traitlets.observe("order")
    def _on_order(self, change: dict) -> None:
        if self._vals is None:  # closed
            return
        if change["new"] == "similarity" and self._n > 1 and not self._similarity:
            self._similarity, self._similarity_meta = self._similarity_payload()

    # ---------------------------------------------------------- validation
    @traitlets.validate("max_features")
    def _valid_max_features(self, proposal: dict) -> int:
        if proposal["value"] < 1:
            raise WidgetValueError(f"max_features must be >= 1, got {proposal['value']}")
        return proposal["value"]

    # ------------------------------------------------------------- helpers
    @property
    def resolved_mode(self) -> str:
        """``mode`` with "auto" resolved: "single" for one row, "stacked" otherwise."""
        if self.mode == "auto":
            return "single" if self._n == 1 else "stacked"
        return self.mode

    @property
    def values(self) -> np.ndarray:
        """The attributions ``(N, M)`` (float64)."""
        return self._vals.copy()

    @property
    def base_values(self) -> np.ndarray:
        """Base value per row ``(N,)``."""
        return self._base_full.copy()

    @property
    def outputs(self) -> np.ndarray:
        """``base_values + values.sum(1)`` per row: where each force plot ends."""
        return self._base_full + self._vals.sum(1)

    @property
    def sample_order(self) -> np.ndarray:
        """The samples left to right in stacked mode, for the current ``order``."""
        if self.order == "similarity":
            if getattr(self, "_sim_perm", None) is None:
                self._sim_perm = sample_order(self._vals, "similarity")
            return self._sim_perm.copy()
        return sample_order(self._vals, self.order, self._base_full)

    # ------------------------------------------------------- static picture
    def _title(self) -> str:
        """Like the view's title: the class (with its value for one row), then the method."""
        parts = []
        if self.output_name and self.output_name != "f(x)":
            if self.resolved_mode == "stacked":
                parts.append(self.output_name)
            else:
                parts.append(f"{self.output_name} = {float(self.outputs[self.index]):.3g}")
        if self.method and self.method != "custom":
            parts.append(self.method)
        return " · ".join(parts)

    def _static_figure(self) -> Any:
        """What the view shows (one row's force bar or waterfall, or the stacked rows) as a matplotlib Figure."""
        from matplotlib.figure import Figure

        from .._display.force import plot_force, plot_stacked, plot_waterfall

        if self._vals is None:
            raise WidgetValueError("the widget is closed; its attributions were released")
        mode = self.resolved_mode
        names = list(self.feature_names)
        title = self._title()
        if mode == "stacked":
            fig = Figure(figsize=(10, 3.6))
            ax = fig.add_axes((0.08, 0.16, 0.78, 0.72))
            text = {"similarity": "ordered by similarity", "output": f"ordered by {self.output_name}, largest first",
                    "original": "in original order"}[self.order]
            plot_stacked(self._vals, self._base_full, self.sample_order, ax=ax, y_feature=self.y_feature,
                         feature_names=names, output_name=self.output_name, link=self.link,
                         marker=self.index if self._n > 1 else None, order_text=text)
        else:
            i = self.index
            data = self._data_row(i)
            kw = dict(data=data, max_features=self.max_features, coverage=self.coverage, link=self.link,
                      output_name=self.output_name)
            if mode == "waterfall":
                rows = min(self._m, self.max_features) + 2
                fig = Figure(figsize=(8, 0.4 * rows + 1.4))
                ax = fig.add_subplot()
                plot_waterfall(self._vals[i], float(self._base_full[i]), names, ax=ax, **kw)
                fig.subplots_adjust(left=0.3, right=0.95)
            else:
                fig = Figure(figsize=(10, 2.6))
                ax = fig.add_axes((0.03, 0.02, 0.94, 0.72))
                plot_force(self._vals[i], float(self._base_full[i]), names, ax=ax, **kw)
            if self._n > 1:
                title = f"sample {i}" + (f" · {title}" if title else "")
        if title:
            fig.suptitle(title, fontsize=10, y=0.99)
        return fig

    def _data_row(self, i: int) -> Any:
        """Feature values of row ``i`` for the labels (``name = value``), or None."""
        if self._data_text:
            return self._data_text[i]
        d = self._attribution.data
        if d is None:
            return None
        return _rows(np.asarray(d), "data")[i]

    @property
    def attribution(self) -> Attribution:
        return self._attribution

    def __repr__(self) -> str:
        return f"ForcePlot(samples={self._n}, features={self._m}, mode={self.resolved_mode!r})"
