"""Trait types and validation shared by the widgets.

Errors raised here are both a :class:`traitlets.TraitError` and a builtin
:class:`ValueError`/:class:`TypeError`, so ``pytest.raises(ValueError)`` and
``except TraitError`` both work and messages say what was expected.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import numpy as np
import traitlets

from .._display import WidgetTypeError, WidgetValueError

__all__ = [
    "WidgetValueError",
    "WidgetTypeError",
    "DIVERGING",
    "SEQUENTIAL",
    "COLORMAPS",
    "SIGNS",
    "REDUCTIONS",
    "Choice",
    "BoundedFloat",
    "StrictBool",
    "OptionalPair",
    "OptionalIndex",
    "as_int",
    "check_options",
    "reject_result_sequence",
]


# Same names, same order as js/src/lib/colormaps.ts (a test checks they agree).
DIVERGING: tuple[str, ...] = ("coolwarm", "bwr", "RdBu_r", "seismic", "PiYG")
SEQUENTIAL: tuple[str, ...] = (
    "viridis", "inferno", "magma", "plasma", "cividis", "hot", "gray", "Reds", "Blues", "Greens",
)
COLORMAPS: tuple[str, ...] = DIVERGING + SEQUENTIAL
SIGNS: tuple[str, ...] = ("all", "positive", "negative", "absolute")
REDUCTIONS: tuple[str, ...] = ("sum", "mean", "absmax")


def _tname(value: Any) -> str:
    return type(value).__name__


class Choice(traitlets.TraitType):
    """A string from a fixed list (like ``Enum``, with builtin error types)."""

    def __init__(self, options: Sequence[str], default_value: Any = traitlets.Undefined, *, what: str = "value", allow_none: bool = False, **kwargs: Any):
        self.options = tuple(options)
        self.what = what
        if default_value is traitlets.Undefined and not allow_none:
            default_value = self.options[0]
        super().__init__(default_value=default_value, allow_none=allow_none, **kwargs)

    def validate(self, obj: Any, value: Any) -> Any:
        if value is None and self.allow_none:
            return None
        if not isinstance(value, str):
            raise WidgetTypeError(f"{self.what} must be a string, one of {list(self.options)}; got {_tname(value)}")
        if value not in self.options:
            raise WidgetValueError(f"unknown {self.what} {value!r}; expected one of {list(self.options)}")
        return value

    def info(self) -> str:
        return f"one of {list(self.options)}"


class BoundedFloat(traitlets.TraitType):
    """A finite real number in ``[lo, hi]`` (``(lo, hi]`` when ``lo_open``)."""

    def __init__(self, default_value: float, lo: float, hi: float, *, lo_open: bool = False, what: str = "value", **kwargs: Any):
        self.lo, self.hi, self.lo_open, self.what = lo, hi, lo_open, what
        super().__init__(default_value=float(default_value), **kwargs)

    def validate(self, obj: Any, value: Any) -> float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise WidgetTypeError(f"{self.what} must be a number, got {_tname(value)}")
        v = float(value)
        left = "(" if self.lo_open else "["
        ok = (v > self.lo if self.lo_open else v >= self.lo) and v <= self.hi
        if not math.isfinite(v) or not ok:
            raise WidgetValueError(f"{self.what} must be in {left}{self.lo:g}, {self.hi:g}], got {value!r}")
        return v


class StrictBool(traitlets.TraitType):
    """True or False (numpy bools accepted, ints are not)."""

    def __init__(self, default_value: bool = False, *, what: str = "value", **kwargs: Any):
        self.what = what
        super().__init__(default_value=bool(default_value), **kwargs)

    def validate(self, obj: Any, value: Any) -> bool:
        if not isinstance(value, (bool, np.bool_)):
            raise WidgetTypeError(f"{self.what} must be True or False, got {value!r}")
        return bool(value)


def check_in_range(value: Any, n: int | None, what: str, detail: str, *, optional: bool = False) -> None:
    """Raise unless ``0 <= value < n``.

    ``n`` is None while a widget is still being built (nothing to check yet);
    with ``optional`` a None value is allowed (nothing picked).
    """
    if n is None or (optional and value is None):
        return
    if not 0 <= value < n:
        allowed = f"None or {detail}" if optional else detail
        raise WidgetValueError(f"{what} must be {allowed.format(last=n - 1, n=n)}, got {value}")


def as_int(value: Any, what: str) -> int:
    """An integer (Python/numpy int, or a 0-d integer array/tensor); bools and floats are rejected."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0 and not isinstance(value, (bool, np.bool_)):
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise WidgetTypeError(f"{what} must be an integer, got {_tname(value)} {value!r}")
    return int(value)


class OptionalPair(traitlets.TraitType):
    """``None`` or two integers ``(a, b)``; synced as a JSON list. Range is checked by the widget."""

    default_value = None

    def __init__(self, *, what: str = "value", names: tuple[str, str] = ("row", "col"), **kwargs: Any):
        self.what, self.names = what, names
        super().__init__(default_value=None, allow_none=True, **kwargs)

    def validate(self, obj: Any, value: Any) -> Any:
        if value is None:
            return None
        if hasattr(value, "tolist") and not isinstance(value, (list, tuple)):
            value = value.tolist()
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise WidgetTypeError(
                f"{self.what} must be None or a pair ({self.names[0]}, {self.names[1]}) of integers, got {value!r}"
            )
        return (as_int(value[0], f"{self.what}[0] ({self.names[0]})"), as_int(value[1], f"{self.what}[1] ({self.names[1]})"))


class OptionalIndex(traitlets.TraitType):
    """``None`` or an integer; the range is checked by the widget."""

    def __init__(self, *, what: str = "value", **kwargs: Any):
        self.what = what
        super().__init__(default_value=None, allow_none=True, **kwargs)

    def validate(self, obj: Any, value: Any) -> Any:
        return None if value is None else as_int(value, self.what)


# Keyword arguments every ipywidget understands; anything else not in a widget's
# signature is rejected.
_WIDGET_KWARGS = frozenset({"layout", "tabbable", "tooltip"})


def check_options(cls_name: str, kwargs: dict, valid: Sequence[str]) -> dict:
    """Reject unknown keyword arguments with a TypeError listing the valid ones."""
    unknown = sorted(set(kwargs) - _WIDGET_KWARGS)
    if unknown:
        raise TypeError(
            f"{cls_name}() got unexpected keyword argument(s) {unknown}; "
            f"valid options: {sorted(set(valid) | _WIDGET_KWARGS)}"
        )
    return kwargs


class Index(traitlets.TraitType):
    """A non-negative integer; the upper bound is checked by the widget."""

    def __init__(self, default_value: int = 0, *, what: str = "value", **kwargs: Any):
        self.what = what
        super().__init__(default_value=int(default_value), **kwargs)

    def validate(self, obj: Any, value: Any) -> int:
        return as_int(value, self.what)


def _result_kind(x: Any) -> str | None:
    """The result type's name if ``x`` is one (Attribution, AttentionMaps, shap.Explanation), else None."""
    name = type(x).__name__
    if name in ("Attribution", "AttentionMaps") and hasattr(x, "values" if name == "Attribution" else "weights"):
        return name
    if name == "Explanation" and hasattr(x, "values") and hasattr(x, "base_values"):
        return name
    return None


def reject_result_sequence(x: Any, widget: str, what: str, *, several: str | None = None) -> None:
    """TypeError when a list or tuple of results comes where the widget takes one.

    Checked before anything reads the list as an array: numpy would try to
    treat every result as a nested sequence. A tuple of Attributions is what a
    kernel returns for a tuple of inputs (one per input); a list is usually
    several methods. ``several`` says how this widget takes several results
    (HeatmapOverlay: a dict), or None when it shows one.
    """
    if not isinstance(x, (list, tuple)):
        return
    kinds = [_result_kind(v) for v in x]
    found = [k for k in kinds if k is not None]
    if not found:
        return
    kind = found[0]
    k = len(x)
    if isinstance(x, tuple) and kind == "Attribution" and len(found) == k:
        raise WidgetTypeError(
            f"{what} is a tuple of {k} Attributions, one per model input (what a kernel returns when its inputs "
            f"are a tuple of tensors); {widget} shows one input's attributions: pick one, e.g. attrs[0] for the "
            "first input"
        )
    plural = "list" if isinstance(x, list) else "tuple"
    if several is not None:
        raise WidgetTypeError(
            f"{what} is a {plural} of {k} {kind}s; to show several side by side {several}"
        )
    hint = ""
    if kind != "AttentionMaps":
        hint = " (HeatmapOverlay and TextHeatmap show several side by side: pass them a dict {name: Attribution})"
    raise WidgetTypeError(
        f"{widget} shows one {kind}, got a {plural} of {k}: pass one of them (e.g. attrs[0]) and make one "
        f"{widget} per result{hint}"
    )
