"""Attribution inputs shared by the row-wise widgets (ForcePlot, SummaryPlot).

``as_attribution`` accepts an Attribution, a shap.Explanation or an ``(N, M)``
array; ``one_target`` refuses rows that explain different outputs (one
message for every widget that puts one output on an axis).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..attribution import Attribution
from . import _serialize as ser
from .._display.rows import class_label, one_target  # noqa: F401  (re-exported)
from ._traits import WidgetTypeError

__all__ = ["as_attribution", "one_target", "class_label", "is_shap_explanation"]


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
