"""A table of the attribution kernels: name → function, label, input kinds and parameter specs.

Tools that let a user pick a method by name (the Explorer widget, sanity
checks) read this table instead of keeping their own lists: what a method is
called on screen, which inputs it applies to, which keyword arguments a user
may set, their defaults and ranges, and a validator giving a clear
``ValueError`` (with close matches for a misspelt name) before any work.

Input kinds:

* ``"image"`` — float tensors ``(N, C, H, W)``;
* ``"text"`` — token ids ``(N, T)``; gradient methods attribute to the
  embedding layer's output (``layer=``), perturbation methods replace tokens;
* ``"tabular"`` — float rows ``(N, F)``.

Each :class:`Param` is one keyword argument of the kernel with a type
(``"int"``, ``"float"``, ``"bool"`` or ``"choice"``), a default (the value
an interactive tool starts from; it may be smaller than the kernel's own
default where that one is slow), bounds or choices, and a label. Bounds keep
interactive runs cancellable: integrated gradients' ``steps`` stops at 256
because its Gauss–Legendre nodes are computed before the first chunk, with
no cancellation point (0.06 s for 200 nodes, 3.8 s for 500, 9.7 s for 1000).

Example
-------
>>> from xai_widgets.explain import registry
>>> registry.get("integrated_gradients").label
'Integrated gradients'
>>> registry.validate_params("integrated_gradients", {"steps": 16})
{'steps': 16}
>>> registry.validate_params("integrated_gradients", {"step": 16})
Traceback (most recent call last):
ValueError: unknown parameter 'step' for method 'integrated_gradients'; did you mean 'steps'? (parameters: ['steps', 'method'])
"""
from __future__ import annotations

import difflib
import importlib
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from .quadrature import IG_METHODS

__all__ = ["Param", "Method", "METHODS", "get", "names", "methods_for", "validate_params", "defaults"]

KINDS = ("image", "text", "tabular")


@dataclass(frozen=True)
class Param:
    """One user-settable keyword argument of a kernel.

    Attributes
    ----------
    name : str
        The keyword argument's name.
    type : "int" | "float" | "bool" | "choice"
    default : Any
        Starting value in interactive tools.
    min, max : float, optional
        Inclusive bounds for numbers.
    choices : tuple of str
        Allowed values of a ``"choice"``.
    label : str
        What a control is labelled with.
    """

    name: str
    type: str
    default: Any
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    label: str = ""

    def validate(self, value: Any, method: str) -> Any:
        """``value`` checked and normalised (int/float/bool/str), or a ValueError naming what was expected."""
        where = f"parameter {self.name!r} of method {method!r}"
        if self.type == "bool":
            if not isinstance(value, bool) and type(value).__name__ != "bool_":
                raise ValueError(f"{where} must be True or False, got {value!r}")
            return bool(value)
        if self.type == "choice":
            if value not in self.choices:
                raise ValueError(f"{where} must be one of {list(self.choices)}, got {value!r}")
            return str(value)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{where} must be a{'n integer' if self.type == 'int' else ' number'}, got "
                             f"{type(value).__name__} {value!r}")
        if self.type == "int":
            if isinstance(value, numbers.Integral):
                v: Any = int(value)
            elif float(value).is_integer():
                v = int(value)  # 16.0 from a JSON number field is 16
            else:
                raise ValueError(f"{where} must be an integer, got {value!r}")
        else:
            v = float(value)
            if not math.isfinite(v):
                raise ValueError(f"{where} must be finite, got {value!r}")
        lo = -math.inf if self.min is None else self.min
        hi = math.inf if self.max is None else self.max
        if not lo <= v <= hi:
            rng = f"in [{self.min:g}, {self.max:g}]" if self.min is not None and self.max is not None else (
                f">= {self.min:g}" if self.min is not None else f"<= {self.max:g}")
            raise ValueError(f"{where} must be {rng}, got {value!r}")
        return v

    def spec(self) -> dict:
        """A JSON-able description (for a widget's controls)."""
        d: dict = {"name": self.name, "type": self.type, "default": self.default, "label": self.label or self.name}
        if self.min is not None:
            d["min"] = self.min
        if self.max is not None:
            d["max"] = self.max
        if self.choices:
            d["choices"] = list(self.choices)
        return d


@dataclass(frozen=True)
class Method:
    """One kernel in the table.

    Attributes
    ----------
    name : str
        The kernel's function name (``xw.<name>``).
    label : str
        Display name.
    kinds : tuple of str
        Input kinds it applies to (see the module docstring).
    params : tuple of Param
        User-settable keyword arguments.
    family : "gradient" | "cam" | "perturbation" | "shapley"
        ``shapley`` kernels take ``(f, x, background)``; the others
        ``(model, inputs, target)``.
    needs : tuple of str
        Requirements beyond the input kind: ``"conv"`` (a convolution layer),
        ``"float"`` (differentiable float inputs: no token ids),
        ``"background"`` (reference rows).
    module : str
        Where the function lives (imported on first use).
    """

    name: str
    label: str
    kinds: tuple[str, ...]
    params: tuple[Param, ...] = ()
    family: str = "gradient"
    needs: tuple[str, ...] = ()
    module: str = "xai_widgets.explain"
    description: str = ""
    _fn: list = field(default_factory=list, repr=False, compare=False)

    @property
    def fn(self) -> Callable[..., Any]:
        """The kernel function."""
        if not self._fn:
            self._fn.append(getattr(importlib.import_module(self.module), self.name))
        return self._fn[0]

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}

    def validate(self, params: Mapping[str, Any] | None, *, complete: bool = False) -> dict:
        """Check ``params`` (unknown key → ValueError with a close match; wrong type or range → ValueError).

        Returns the normalised dict, with every default filled in when
        ``complete`` (so equal settings give equal dicts, e.g. for a cache key).
        """
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise ValueError(f"params of method {self.name!r} must be a dict of keyword arguments, got "
                             f"{type(params).__name__}")
        known = [p.name for p in self.params]
        out = self.defaults() if complete else {}
        for key, value in params.items():
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ValueError(f"unknown parameter {key!r} for method {self.name!r}{hint} (parameters: {known})")
            out[key] = self.param(key).validate(value, self.name)
        return {k: out[k] for k in known if k in out}

    def spec(self) -> dict:
        """A JSON-able description (for a widget)."""
        return {"name": self.name, "label": self.label, "kinds": list(self.kinds), "family": self.family,
                "params": [p.spec() for p in self.params], "description": self.description}


_SAMPLES_MAX = 100_000

METHODS: dict[str, Method] = {m.name: m for m in (
    Method("saliency", "Saliency", ("image", "text", "tabular"),
           (Param("abs", "bool", True, label="absolute"),),
           description="gradient of the class score (its magnitude by default)"),
    Method("input_x_gradient", "Input × gradient", ("image", "text", "tabular"),
           description="gradient times the input"),
    Method("integrated_gradients", "Integrated gradients", ("image", "text", "tabular"),
           (Param("steps", "int", 64, 1, 256, label="steps"),
            # "adaptive" at 64 points: about the time of Captum's 64-step Gauss-Legendre rule on a CNN (the engine's
            # channels-last passes pay for its forward-only probes), far smaller residual (benchmarks/ig_completeness.py)
            Param("method", "choice", "adaptive", choices=IG_METHODS, label="rule")),
           description="gradients averaged along a path from a zero baseline"),
    Method("smoothgrad", "SmoothGrad", ("image", "text", "tabular"),
           (Param("samples", "int", 16, 1, 1024, label="samples"),
            Param("noise", "float", 0.15, 0.0, 1.0, label="noise")),
           description="saliency averaged over noisy copies of the input"),
    Method("grad_cam", "Grad-CAM", ("image",),
           (Param("plus_plus", "bool", False, label="Grad-CAM++"),),
           family="cam", needs=("conv",),
           description="class-weighted activations of the last convolution"),
    Method("occlusion", "Occlusion", ("image", "tabular"),
           (Param("window", "int", 16, 1, 4096, label="window"),
            Param("stride", "int", 8, 1, 4096, label="stride")),
           family="perturbation", needs=("float",),
           description="score drop when a sliding window is blanked out"),
    Method("kernel_shap", "Kernel SHAP", ("image", "text", "tabular"),
           (Param("samples", "int", 256, 1, _SAMPLES_MAX, label="coalitions"),),
           family="shapley", needs=("background",), module="xai_widgets.explain.shapley",
           description="Shapley values of superpixels (images) or words (text) by weighted regression"),
    Method("gradient_shap", "Gradient SHAP", ("image", "tabular"),
           (Param("samples", "int", 32, 1, 4096, label="samples"),),
           family="shapley", needs=("background", "float"), module="xai_widgets.explain.shapley",
           description="expected gradients over background rows"),
    Method("deep_shap", "Deep SHAP", ("image", "tabular"),
           family="shapley", needs=("background", "float"), module="xai_widgets.explain.shapley",
           description="DeepLIFT rescale rule averaged over background rows"),
)}


def names() -> list[str]:
    """Every method name, in table order."""
    return list(METHODS)


def get(name: str) -> Method:
    """The method called ``name``; unknown → ValueError with close matches."""
    if not isinstance(name, str):
        raise ValueError(f"method must be a string, one of {names()}; got {type(name).__name__} {name!r}")
    m = METHODS.get(name)
    if m is None:
        close = difflib.get_close_matches(name, names(), n=2, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown method {name!r}{hint} (methods: {names()})")
    return m


def methods_for(kind: str, *, exclude_needs: Sequence[str] = ()) -> list[Method]:
    """Methods that apply to inputs of ``kind``, leaving out those with a need in ``exclude_needs``."""
    if kind not in KINDS:
        raise ValueError(f"unknown input kind {kind!r}; expected one of {list(KINDS)}")
    return [m for m in METHODS.values() if kind in m.kinds and not set(m.needs) & set(exclude_needs)]


def validate_params(method: str, params: Mapping[str, Any] | None, *, complete: bool = False) -> dict:
    """``get(method).validate(params, complete=complete)``."""
    return get(method).validate(params, complete=complete)


def defaults(method: str) -> dict:
    """The starting parameters of ``method``."""
    return get(method).defaults()
