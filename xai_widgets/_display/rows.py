"""Rows of a tabular attribution: the one output they explain (shared by plotting and the widgets).

A kernel's default ``target=None`` picks each row's top class, so the rows of
a multiclass attribution may explain different outputs; a view that puts
one output on its axis (stacked ForcePlot, SummaryPlot, the summary plots of
``Attribution.plot``) refuses them with one message.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from . import WidgetValueError

__all__ = ["class_label", "one_target"]


def class_label(k: int, names: Sequence[str] | None) -> str:
    if names is not None and 0 <= k < len(names):
        return f"{k} ({names[k]!r})"
    return str(k)


def one_target(attr: Any, n: int) -> int | None:
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
