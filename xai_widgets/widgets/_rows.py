"""Attribution inputs shared by the row-wise widgets (ForcePlot, SummaryPlot).

``as_attribution`` accepts an Attribution, a shap.Explanation or an ``(N, M)``
array; ``one_target`` refuses rows that explain different outputs (one
message for every widget that puts one output on an axis).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..attribution import Attribution
from . import _serialize as ser
from ._traits import WidgetTypeError, WidgetValueError

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


def class_label(k: int, names: Sequence[str] | None) -> str:
    if names is not None and 0 <= k < len(names):
        return f"{k} ({names[k]!r})"
    return str(k)


def one_target(attr: Attribution, n: int) -> int | None:
    """The one output every row explains, or None when unknown; ValueError when the rows differ.

    A kernel's default ``target=None`` picks each row's top class, so the rows
    of a multiclass attribution may explain different outputs: stacking them
    would put different classes on one axis.
    """
    t = attr.target
    if t is None or attr.params.get("target") == "all":
        return None
    t = np.asarray(t).reshape(-1)
    if t.size == 0 or not np.issubdtype(t.dtype, np.integer):
        return None
    classes, counts = np.unique(t, return_counts=True)
    if len(classes) == 1:
        return int(classes[0])
    if t.size != n:
        return None
    names = getattr(attr, "output_names", None)
    listed = ", ".join(f"{class_label(int(c), names)} in {k} row{'s' if k > 1 else ''}"
                       for c, k in list(zip(classes, counts))[:8])
    more = f", and {len(classes) - 8} more" if len(classes) > 8 else ""
    first = int(classes[counts.argmax()])
    example = f"target={first}" + (f" or target={names[first]!r}" if names is not None and first < len(names) else "")
    raise WidgetValueError(
        f"the {n} rows explain {len(classes)} different outputs ({listed}{more}): a force plot puts one output "
        f"on its axis and would mix classes. Explain one class for every row ({example} in the kernel; the "
        f"default target=None picks each row's top class), or show one row (attribution[i])"
    )
