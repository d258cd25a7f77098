"""The one result type every kernel returns and every widget accepts."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["Attribution"]


def _np(x: Any, *, dtype=None) -> np.ndarray | None:
    if x is None:
        return None
    try:
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach().cpu()
            if x.dtype in (torch.bfloat16, torch.float16):
                x = x.float()
            x = x.numpy()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    a = np.asarray(x)
    return a.astype(dtype, copy=False) if dtype is not None else a


@dataclass(repr=False, eq=False)
class Attribution:
    """Attributions for a batch of inputs, plus what is needed to read them.

    Attributes
    ----------
    values : ndarray ``(N, ...)``
        One value per input element, same shape as the input (``(N, K, ...)``
        when ``target="all"``). Grad-CAM maps are upsampled to the input's
        spatial size (the raw map is in ``params["raw"]``).
    data : ndarray or None
        The explained input ``(N, ...)``.
    target : ndarray or None
        Output index explained per row ``(N,)`` (``(K,)`` for ``"all"``).
    outputs : ndarray or None
        The model's score for the target ``(N,)`` (``(N, K)`` for ``"all"``).
    base_values : ndarray or None
        The score at the baseline (or expected score over a background).
    method : str
        Name of the method that produced the values.
    params : dict
        Method parameters (steps, window, layer name, ...).
    feature_names : list of str or None
        Names of the features (tokens, tabular columns).
    delta : ndarray or None
        Completeness residual per row,
        ``values.reshape(N, -1).sum(1) - (outputs - base_values)``, for
        methods that promise completeness; None otherwise.
    group_values : ndarray or None
        Per-group values for grouped Shapley methods.
    output_names : list of str or None
        Class names of the model's outputs (as in ``shap.Explanation``),
        indexed by ``target``.

    An ``Attribution`` is a sequence of rows: ``len(a)`` is N, ``a[i]`` is
    row ``i`` (keeping the batch axis, N=1; ``IndexError`` past the end),
    ``for row in a`` yields the rows, and ``np.asarray(a)`` is ``values``.

    Example
    -------
    >>> import numpy as np, xai_widgets as xw
    >>> a = xw.Attribution.from_array(np.ones((1, 3, 4, 4)), method="custom")
    >>> a.shape
    (1, 3, 4, 4)
    """

    values: np.ndarray
    data: np.ndarray | None = None
    target: np.ndarray | None = None
    outputs: np.ndarray | None = None
    base_values: np.ndarray | None = None
    method: str = "custom"
    params: dict = field(default_factory=dict)
    feature_names: list[str] | None = None
    delta: np.ndarray | None = None
    group_values: np.ndarray | None = None
    output_names: list[str] | None = None

    def __post_init__(self) -> None:
        self.values = _np(self.values)
        if self.values.ndim < 1:
            raise ValueError("values must be batched: shape (N, ...)")
        for name in ("data", "target", "outputs", "base_values", "delta", "group_values"):
            setattr(self, name, _np(getattr(self, name)))
        if self.feature_names is not None:
            self.feature_names = [str(f) for f in self.feature_names]
        if self.output_names is not None:
            self.output_names = [str(o) for o in self.output_names]

    # ------------------------------------------------------------ basics
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def numpy(self) -> np.ndarray:
        """The values as a numpy array ``(N, ...)``."""
        return self.values

    def __getitem__(self, rows: Any) -> "Attribution":
        """Select batch rows: an int keeps the batch axis (``a[0]`` has N=1); also slices,
        index arrays and boolean masks. An int past the end raises ``IndexError``."""
        n = len(self)
        if isinstance(rows, (bool, np.bool_)):
            raise TypeError("an Attribution is indexed by row: an int, a slice, an index array or a boolean mask")
        if isinstance(rows, (int, np.integer)) or (hasattr(rows, "ndim") and getattr(rows, "ndim") == 0 and not isinstance(rows, str)):
            i = int(rows)
            if not -n <= i < n:
                raise IndexError(f"row {i} is out of range for an Attribution of {n} row{'s' if n != 1 else ''}")
            i %= n
            rows = slice(i, i + 1)
        elif isinstance(rows, tuple):
            raise TypeError(
                "an Attribution is indexed by row only (a[i], a[i:j], a[[i, j]]); index the values with a.values[...]"
            )
        elif not isinstance(rows, slice):
            rows = np.asarray(rows.detach().cpu() if hasattr(rows, "detach") else rows)
            if rows.dtype != bool and not np.issubdtype(rows.dtype, np.integer):
                raise TypeError(f"rows must be an int, a slice, integer indices or a boolean mask; got dtype {rows.dtype}")
            if rows.dtype != bool and rows.size and (rows.max() >= n or rows.min() < -n):
                raise IndexError(f"row index out of range for an Attribution of {n} rows")

        def pick(x):
            if x is None or np.ndim(x) == 0 or x.shape[0] != n:
                return x
            return x[rows]

        return replace(
            self,
            values=self.values[rows],
            data=pick(self.data),
            target=self.target if (self.target is not None and self.params.get("target") == "all") else pick(self.target),
            outputs=pick(self.outputs),
            base_values=pick(self.base_values),
            delta=pick(self.delta),
            group_values=pick(self.group_values),
            params=dict(self.params),
        )

    def __iter__(self):
        """Yield each row as an ``Attribution`` of one row."""
        for i in range(len(self)):
            yield self[i]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self.values if dtype is None else self.values.astype(dtype)
        return a.copy() if copy else a

    @property
    def target_names(self) -> list[str] | None:
        """The class name of each row's target (``output_names[target]``), or None."""
        if self.output_names is None or self.target is None:
            return None
        return [self.output_names[int(t)] if 0 <= int(t) < len(self.output_names) else str(int(t)) for t in np.ravel(self.target)]

    def __repr__(self) -> str:
        parts = [f"method={self.method!r}", f"shape={self.shape}"]
        if self.target is not None:
            t = self.target.tolist()
            parts.append(f"target={t if len(t) <= 8 else str(t[:8])[:-1] + ', ...]'}")
        names = self.target_names
        if names is not None:
            parts.append(f"classes={names if len(names) <= 4 else names[:4] + ['...']}")
        if self.delta is not None:
            parts.append(f"max|delta|={float(np.abs(self.delta).max()):.3g}")
        if self.params.get("background_summarized"):
            parts.append(
                f"background=k-means summary of {self.params.get('background_rows')} rows "
                f"into {self.params.get('background')} weighted centres"
            )
        return f"Attribution({', '.join(parts)})"

    # -------------------------------------------------------- constructors
    @classmethod
    def from_array(
        cls,
        values: Any,
        data: Any = None,
        *,
        target: Any = None,
        outputs: Any = None,
        base_values: Any = None,
        method: str = "custom",
        params: Mapping[str, Any] | None = None,
        feature_names: Sequence[str] | None = None,
        delta: Any = None,
        output_names: Sequence[str] | None = None,
    ) -> "Attribution":
        """Wrap raw arrays (numpy, torch, or a Captum result) as an ``Attribution``.

        ``values`` may be a tensor/array ``(N, ...)``, a 1-tuple of tensors
        (Captum's multi-input form) or Captum's ``(attributions, delta)``
        pair from ``return_convergence_delta=True``.

        Example
        -------
        >>> from captum.attr import IntegratedGradients            # doctest: +SKIP
        >>> ig = IntegratedGradients(model)                         # doctest: +SKIP
        >>> attr, d = ig.attribute(x, target=3, return_convergence_delta=True)  # doctest: +SKIP
        >>> a = Attribution.from_array((attr, d), x, target=3, method="captum-ig")  # doctest: +SKIP
        """
        if isinstance(values, (tuple, list)) and len(values) == 2 and delta is None and not _is_number_seq(values):
            first, second = values
            if _is_tensor_like(second) and np.ndim(_np(second)) <= 1 and np.ndim(_np(first)) > 1:
                values, delta = first, second
        if isinstance(values, (tuple, list)) and len(values) == 1 and _is_tensor_like(values[0]):
            values = values[0]
        if isinstance(values, (tuple, list)) and len(values) > 1 and all(_is_tensor_like(v) for v in values):
            raise ValueError(
                f"values holds {len(values)} tensors (a multi-input attribution); pass one at a time"
            )
        arr = _np(values)
        if arr is None or arr.dtype == object:
            raise TypeError(f"values must be an array or tensor of shape (N, ...), got {type(values).__name__}")
        if not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"values must be numeric, got dtype {arr.dtype}")
        if arr.ndim == 0:
            raise ValueError("values must have a batch axis: shape (N, ...)")
        data_arr = _np(data)
        if data_arr is not None and data_arr.shape[0] != arr.shape[0]:
            raise ValueError(f"data has {data_arr.shape[0]} rows but values has {arr.shape[0]}")
        n = arr.shape[0]
        tgt = None
        if target is not None:
            tgt = np.broadcast_to(np.asarray(_np(target)).astype(np.int64), (n,)).copy()
        return cls(
            values=arr,
            data=data_arr,
            target=tgt,
            outputs=outputs,
            base_values=base_values,
            method=str(method),
            params=dict(params or {}),
            feature_names=list(feature_names) if feature_names is not None else None,
            delta=_np(delta).reshape(-1) if delta is not None else None,
            output_names=list(output_names) if output_names is not None else None,
        )

    # ------------------------------------------------------------- shap interop
    def to_shap(self):
        """This attribution as a ``shap.Explanation`` (so every shap plot accepts it).

        ``values`` and ``data`` keep their shape, except that a ``target="all"``
        attribution ``(N, K, ...)`` moves its output axis last, as shap does
        (``(N, ..., K)``); ``base_values`` becomes ``(N,)`` (``(N, K)``);
        ``feature_names`` and ``output_names`` pass through.
        Needs the optional ``shap`` package.
        """
        try:
            import shap
        except ImportError as e:  # pragma: no cover - shap is a dev dependency
            raise ImportError(
                "Attribution.to_shap() needs the shap package, which is not installed: pip install shap"
            ) from e
        n = len(self)
        values = np.asarray(self.values)
        data = self.data
        multi = self.params.get("target") == "all" and values.ndim >= 3
        if multi:
            values = np.moveaxis(values, 1, -1)
        base = None
        if self.base_values is not None:
            b = np.asarray(self.base_values, dtype=np.float64)
            if multi:
                k = values.shape[-1]
                base = np.broadcast_to(b.reshape(-1, k) if b.size % k == 0 and b.ndim >= 1 else b, (n, k)).copy()
            else:
                base = np.broadcast_to(b.reshape(-1) if b.size in (1, n) else b, (n,)).copy()
        out_names = self.output_names
        if out_names is not None and not multi and self.target is not None:
            # shap's single-output Explanation names the one output explained per row
            t = np.ravel(self.target)
            out_names = [out_names[int(t[0])]] if len(set(t.tolist())) == 1 else None
        return shap.Explanation(
            values=values,
            base_values=base,
            data=data,
            feature_names=list(self.feature_names) if self.feature_names is not None else None,
            output_names=list(out_names) if out_names is not None else None,
        )

    @classmethod
    def from_shap(cls, explanation: Any, *, method: str | None = None) -> "Attribution":
        """Wrap a ``shap.Explanation`` as an ``Attribution`` (inverse of :meth:`to_shap`).

        A single row (``values`` of shape ``(M,)``) gains a batch axis; a
        multi-output explanation (``base_values`` ``(N, K)``, values
        ``(N, ..., K)``) becomes a ``target="all"`` attribution ``(N, K, ...)``.
        ``method`` defaults to ``"shap"``. Does not import shap.
        """
        if not (hasattr(explanation, "values") and hasattr(explanation, "base_values")):
            raise TypeError(
                f"from_shap() expects a shap.Explanation (with .values and .base_values), got {type(explanation).__name__}"
            )
        values = _np(explanation.values)
        if values is None or values.dtype == object or not np.issubdtype(values.dtype, np.number):
            raise TypeError("the explanation's values must be a numeric array (ragged/object values are not supported)")
        base = _np(explanation.base_values)
        data = getattr(explanation, "data", None)
        data = None if data is None else np.asarray(data)
        if values.ndim == 0:
            raise ValueError("the explanation's values are a scalar; expected (N, M) or (M,)")
        if values.ndim == 1:  # one row: explanation[i]
            values = values[None]
            base = None if base is None else base.reshape(1, *base.shape)
            data = None if data is None or data.ndim == 0 else data[None]
        n = values.shape[0]
        if base is not None and base.ndim == 0:
            base = np.full(n, float(base))
        if data is not None and (data.ndim == 0 or data.shape[0] != n):
            data = None  # shap allows unrelated data (e.g. a single background row)
        params: dict = {}
        out_names = getattr(explanation, "output_names", None)
        if out_names is not None and not isinstance(out_names, str):
            out_names = [str(o) for o in out_names]
        elif isinstance(out_names, str):
            out_names = [out_names]
        multi = base is not None and base.ndim == 2 and values.ndim >= 3 and values.shape[-1] == base.shape[-1]
        if multi:
            values = np.moveaxis(values, -1, 1)
            params["target"] = "all"
        names = getattr(explanation, "feature_names", None)
        if names is not None:
            names = [str(f) for f in (names.tolist() if hasattr(names, "tolist") else names)]
            if names and isinstance(names[0], (list, tuple)):  # pragma: no cover - per-row names
                names = [str(f) for f in names[0]]
        target = np.arange(base.shape[1], dtype=np.int64) if multi else None
        return cls(
            values=values,
            data=data,
            target=target,
            base_values=base,
            method=str(method) if method is not None else "shap",
            params=params,
            feature_names=names,
            output_names=out_names,
        )

    # ---------------------------------------------------------------- views
    def plot(self, sample: int = 0, *, ax: Any = None, image: Any = None, feature_names: Any = None,
             target: Any = None, **kwargs: Any):
        """Draw one row with matplotlib (a static fallback for every widget); returns the ``Axes``.

        Parameters
        ----------
        sample : int, default 0
            The batch row to draw.
        ax : matplotlib Axes, optional
            Where to draw (default: a new figure).
        image : array, optional
            The picture under an image-shaped map (default: ``data``).
        feature_names : list of str, optional
            Names of the features of a 1-D row, one per feature (default: the
            attribution's ``feature_names``, else the indices); used by the
            "bars", "tokens", "force" and "waterfall" styles.
        target : int or str, optional
            For an attribution computed with ``target="all"``: the output (index
            or class name from ``output_names``) to draw. Required there.
        **kwargs
            ``cmap``, ``alpha`` (overlay opacity at the clip value), ``sign``,
            ``clip_percentile``, ``reduce``, ``style`` ("auto", "bars",
            "tokens", "force", "waterfall"; "beeswarm", "bar", "scatter"
            summarise every row), ``title``, ``colorbar``, ``max_features``,
            ``coverage``, ``link``; for the summary styles ``feature`` (the
            scatter plot's feature; default the largest mean |value|),
            ``color`` (its colouring feature; default the strongest
            interaction) and ``max_display`` (rows before the rest collapse
            into "N other features", default 20).

        Image-shaped values ``(N, C, H, W)``/``(N, H, W)`` are drawn over the
        image as ``HeatmapOverlay`` draws them: a diverging colormap covers the
        image in proportion to |value| (zero leaves it untouched); 1-D rows as
        coloured bars or tokens, a force plot (the default when the attribution
        has base values/outputs) or a waterfall. ``style="beeswarm"``, ``"bar"``
        and ``"scatter"`` draw the whole dataset ``(N, M)`` as
        :class:`~xai_widgets.SummaryPlot` does (``sample`` is ignored; with
        ``target="all"`` values, the bar plot shows every output and the
        other two need ``target=``).

        Example
        -------
        >>> import numpy as np, xai_widgets as xw
        >>> a = xw.Attribution.from_array(np.array([[0.5, -0.2, 0.1]]))
        >>> ax = a.plot(style="bars", feature_names=["age", "bmi", "bp"])  # doctest: +SKIP
        >>> many = xw.Attribution.from_array(np.random.randn(100, 3), np.random.randn(100, 3))
        >>> ax = many.plot(style="beeswarm")                                  # doctest: +SKIP
        """
        from .plotting import plot_attribution

        return plot_attribution(self, sample=sample, ax=ax, image=image, feature_names=feature_names,
                                target=target, **kwargs)

    def widget(self, source: Any = None, **kwargs: Any):
        """The widget that fits these values: ``HeatmapOverlay`` for images, ``TextHeatmap`` for token rows."""
        from . import widgets

        values = self.values
        if values.ndim >= 3:
            image = source if source is not None else self.data
            if image is None:
                raise ValueError("an image is needed: pass widget(image) or keep data in the Attribution")
            return widgets.HeatmapOverlay(image, self, **kwargs)
        tokens = source if source is not None else self.feature_names
        if tokens is None:
            raise ValueError("tokens are needed: pass widget(tokens) or set feature_names")
        return widgets.TextHeatmap(tokens, self, **kwargs)


def _is_tensor_like(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype")


def _is_number_seq(x: Any) -> bool:
    return all(isinstance(v, (int, float, np.number)) for v in x)
