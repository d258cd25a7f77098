"""Attribution inputs shared by the row-wise widgets (ForcePlot, SummaryPlot).

``as_attribution`` accepts an Attribution, a shap.Explanation or an ``(N, M)``
array; ``one_target`` refuses rows that explain different outputs (one
message for every widget that puts one output on an axis).
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ..attribution import Attribution
from . import _serialize as ser
from .._display.rows import class_label, one_target  # noqa: F401  (re-exported)
from ._traits import WidgetTypeError, WidgetValueError

__all__ = ["as_attribution", "one_target", "class_label", "is_shap_explanation", "feature_names_for"]


def is_shap_explanation(x: Any) -> bool:
    return type(x).__name__ == "Explanation" and hasattr(x, "values") and hasattr(x, "base_values")


def as_attribution(x: Any) -> Attribution:
    if isinstance(x, Attribution):
        return x
    if is_shap_explanation(x):
        return Attribution.from_shap(x)
    try:
        import torch

        tensor = isinstance(x, torch.Tensor)
    except ImportError:  # pragma: no cover
        tensor = False
    if isinstance(x, (np.ndarray, list)) or tensor:
        return Attribution.from_array(ser.to_numpy(x, "attribution"))
    raise WidgetTypeError(
        f"attribution must be an Attribution, a shap.Explanation or an (N, M) array; got {type(x).__name__}"
    )


def feature_names_for(given: Any, stored: Any, m: int) -> list[str]:
    """``m`` feature names as strings: ``given`` (the widget's argument), else the attribution's, else ``x0``.."""
    names = given if given is not None else stored
    if names is None:
        return [f"x{i}" for i in range(m)]
    if isinstance(names, str) or not hasattr(names, "__len__"):
        raise WidgetTypeError(f"feature_names must be a list of strings, got {type(names).__name__}")
    names = list(names.tolist() if hasattr(names, "tolist") else names)
    if len(names) != m:
        raise WidgetValueError(f"feature_names has {len(names)} names but the attribution has {m} features")
    for f in names:
        if not isinstance(f, (str, numbers.Number, np.generic)):
            raise WidgetTypeError(f"feature names must be strings, got {type(f).__name__} {f!r}")
    return [str(f) for f in names]
