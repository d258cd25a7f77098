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

    def __post_init__(self) -> None:
        self.values = _np(self.values)
        if self.values.ndim < 1:
            raise ValueError("values must be batched: shape (N, ...)")
        for name in ("data", "target", "outputs", "base_values", "delta", "group_values"):
            setattr(self, name, _np(getattr(self, name)))
        if self.feature_names is not None:
            self.feature_names = [str(f) for f in self.feature_names]

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
        """Select batch rows (an int keeps the batch axis: ``a[0]`` has N=1)."""
        if isinstance(rows, (int, np.integer)):
            rows = slice(int(rows), int(rows) + 1) if rows != -1 else slice(-1, None)

        def pick(x):
            if x is None or np.ndim(x) == 0 or x.shape[0] != len(self):
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

    def __repr__(self) -> str:
        parts = [f"method={self.method!r}", f"shape={self.shape}"]
        if self.target is not None:
            t = self.target.tolist()
            parts.append(f"target={t if len(t) <= 8 else str(t[:8])[:-1] + ', ...]'}")
        if self.delta is not None:
            parts.append(f"max|delta|={float(np.abs(self.delta).max()):.3g}")
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
        )

    # ---------------------------------------------------------------- views
    def plot(self, sample: int = 0, *, ax: Any = None, image: Any = None, **kwargs: Any):
        """Draw one row with matplotlib (a static fallback for every widget).

        Image-shaped values ``(N, C, H, W)``/``(N, H, W)`` are drawn as a
        heatmap over ``image`` (or ``data``); 1-D rows as coloured bars with
        feature names. Returns the matplotlib ``Axes``.
        """
        from .plotting import plot_attribution

        return plot_attribution(self, sample=sample, ax=ax, image=image, **kwargs)

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
