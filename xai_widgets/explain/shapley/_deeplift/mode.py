"""The TorchFunctionMode that turns one forward pass into a DeepLIFT graph.

While active it sees every torch call of the forward pass — ``F.relu``,
``torch.relu``, ``x.relu()``, ``x * y`` and the functions that modules call
internally — so a module reused at several places (EfficientNet's shared
``nn.ReLU6``) is handled per call, unlike with module hooks. For each call
it

1. computes in float64: floating tensors (parameters, buffers, constants)
   are cast on the fly (parameters once per run, cached), and floating
   dtype arguments become ``float64``; the model itself is not modified;
2. passes linear and shape ops through, replaces nonlinear ops by their
   DeepLIFT rule (:mod:`.rules`), and raises
   :class:`~.rules.UnsupportedOperation` for anything else that touches the
   input signal, naming the op and the module that called it;
3. refuses values derived from the input by non-differentiable ops (masks
   such as ``x > 0``) when they later meet the signal: DeepLIFT cannot
   attribute through them.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_map
from torch.utils.weak import WeakIdKeyDictionary

from . import rules
from .rules import (
    CONVERTS,
    DIVISION,
    ELEMENTWISE,
    FACTORIES,
    FACTORY_LIKE,
    LINEAR,
    MULTILINEAR,
    SPECIAL,
    RuleContext,
    UnsupportedOperation,
    _dim_arg,
    _dims,
    bind,
    is_signal,
)

__all__ = ["DeepLiftMode", "op_name", "qualified_name"]

_LOW_FLOATS = (torch.float32, torch.float16, torch.bfloat16)
_DROPOUTS = frozenset({"dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"})


def op_name(func: Callable) -> str:
    """``"relu"`` for torch.relu / F.relu / Tensor.relu; ``"shape.__get__"`` for attribute reads."""
    name = getattr(func, "__name__", None) or type(func).__name__
    if name == "__get__":
        owner = getattr(func, "__self__", None)
        name = f"{getattr(owner, '__name__', '?')}.__get__"
    return name


def qualified_name(func: Callable) -> str:
    """A readable full name for messages: ``torch.erfinv``, ``Tensor.erfinv_``, ``torch.nn.functional.gelu``."""
    name = op_name(func)
    qual = getattr(func, "__qualname__", "") or ""
    mod = getattr(func, "__module__", "") or ""
    if name.endswith(".__get__"):
        return f"Tensor.{name[:-8]}"
    if qual.startswith(("TensorBase.", "Tensor.", "_TensorBase.")):
        return f"Tensor.{name}"
    if mod.startswith(("torch.nn.functional", "torch._C._nn")) or "boolean_dispatch" in qual:
        return f"torch.nn.functional.{name}"
    return f"torch.{name}"


def _inplace(name: str, kwargs: dict) -> bool:
    return (
        (name.endswith("_") and not name.startswith("__"))
        or name in ("__setitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__", "__idiv__", "__ipow__")
        or bool(kwargs.get("inplace", False))
    )


class DeepLiftMode(TorchFunctionMode, RuleContext):
    """Active around one forward pass on a paired batch of ``rows`` rows (inputs, then references)."""

    def __init__(self, model: nn.Module, rows: int) -> None:
        super().__init__()
        self.rows = int(rows)
        self._cacheable = {id(t) for t in model.parameters()} | {id(t) for t in model.buffers()}
        self._cache: dict[int, tuple[torch.Tensor, int, torch.Tensor]] = {}
        self._taint: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self.modules: list[str] = []
        self.rules_used: set[str] = set()
        self._func = "?"

    # ------------------------------------------------------------ context
    def set_rows(self, rows: int) -> None:
        self.rows = int(rows)

    def where(self) -> str:
        return self.modules[-1] if self.modules else "<top level>"

    def fail(self, name: str, why: str) -> None:
        raise UnsupportedOperation(f"deep_shap: {self._func} (called in module '{self.where()}') {why}")

    def used(self, rule: str) -> None:
        self.rules_used.add(rule)

    # ------------------------------------------------------------ upcasting
    def _up(self, t: Any) -> Any:
        if isinstance(t, torch.dtype):
            return torch.float64 if t in _LOW_FLOATS else t
        if not isinstance(t, torch.Tensor) or t.dtype not in _LOW_FLOATS:
            return t
        key = id(t)
        if key in self._cacheable:
            hit = self._cache.get(key)
            if hit is not None and hit[0] is t and hit[1] == t._version:
                return hit[2]
            c = t.detach().to(torch.float64)
            self._cache[key] = (t, t._version, c)
            return c
        return t.to(torch.float64)

    def _upcast(self, args: tuple, kwargs: dict, inplace: bool) -> tuple[tuple, dict]:
        if inplace and args:
            first, rest = args[0], tree_map(self._up, tuple(args[1:]))
            args = (first,) + tuple(rest)
        else:
            args = tuple(tree_map(self._up, tuple(args)))
        out = kwargs.pop("out", None) if "out" in kwargs else None
        kwargs = tree_map(self._up, kwargs)
        if out is not None:
            kwargs["out"] = out
        return args, kwargs

    # ------------------------------------------------------------ taint
    def _mark(self, out: Any) -> None:
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self._taint[t] = True

    def _taint_from_signal(self, out: Any) -> None:
        """Non-floating results computed from the signal (masks, argmax): taint those whose halves differ."""
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.dim() >= 1 and t.shape[0] % self.rows == 0 and t.shape[0] > 0:
                h = t.shape[0] // 2
                if not torch.equal(t[:h], t[h:]):
                    self._taint[t] = True

    # ------------------------------------------------------------ checks
    def _check_linear(self, name: str, args: tuple, kwargs: dict, tensors: list) -> None:
        if name == "batch_norm":
            b = bind(args, kwargs, ("input", "running_mean", "running_var", "weight", "bias", "training"),
                     {"running_mean": None, "running_var": None, "training": False})
            if b["training"] or b["running_mean"] is None:
                self.fail(name, "uses batch statistics (training mode or no running stats), which mix rows; "
                                "deep_shap needs BatchNorm in eval mode")
        elif name in _DROPOUTS:
            b = bind(args, kwargs, ("input", "p", "training"), {"p": 0.5, "training": True})
            if b["training"] and float(b["p"]) > 0:
                self.fail(name, "runs in training mode (random); deep_shap needs a deterministic model")
        elif name in ("sum", "mean", "nansum", "cumsum"):
            u = args[0] if args else kwargs.get("input")
            if is_signal(u):
                dims = _dims(_dim_arg(args, kwargs), u.dim())
                if dims is None or 0 in dims:
                    self.fail(name, "reduces over the batch axis (axis 0), which mixes rows; give dim=")
        elif name in ("cat", "concat", "concatenate"):
            seq = args[0] if args else kwargs.get("tensors")
            dim = _dim_arg(args, kwargs)
            dim = 0 if dim is None else int(dim)
            sig = [t for t in seq if is_signal(t)]
            if sig and dim % max(sig[0].dim(), 1) == 0:
                self.fail(name, "joins tensors along the batch axis (axis 0), which breaks deep_shap's pairing "
                                "of each input row with its reference")
        elif name == "__getitem__" and is_signal(args[0]):
            idx = args[1]
            first = idx[0] if isinstance(idx, tuple) and idx else idx
            n = args[0].shape[0] if args[0].dim() else 0
            if isinstance(first, torch.Tensor) and first.dim() == 1 and first.numel() == n and not first.is_floating_point() \
                    and first.dtype != torch.bool and torch.equal(first.cpu(), torch.arange(n)):
                return  # x[torch.arange(N), ...]: every row in order (e.g. picking each row's last token)
            if isinstance(first, (int, torch.Tensor, list)) and not isinstance(first, bool) or (
                isinstance(first, slice) and first != slice(None)
            ):
                self.fail(name, f"selects rows of the batch axis (index {idx!r}), which breaks deep_shap's pairing; "
                                "index later axes only")

    # ------------------------------------------------------------ dispatch
    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = dict(kwargs or {})
        name = op_name(func)
        if name in CONVERTS and args and isinstance(args[0], torch.Tensor) and args[0].is_floating_point():
            return args[0].to(torch.float64)
        args, kwargs = self._upcast(tuple(args), kwargs, _inplace(name, kwargs))
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        signal = any(t.requires_grad for t in tensors)
        tainted = [t for t in tensors if t in self._taint]
        self._func = qualified_name(func)
        if not signal:
            out = func(*args, **kwargs)
            if name in FACTORIES and isinstance(out, torch.Tensor) and out.dtype in _LOW_FLOATS:
                out = out.to(torch.float64)
            if tainted:
                self._mark(out)
            return out
        if tainted:
            self.fail(name, "combines the input signal with a value computed from the input by a "
                            "non-differentiable op (e.g. a mask like x > 0, argmax, rounding); DeepLIFT cannot "
                            "attribute through it")
        if name in SPECIAL:
            return SPECIAL[name](self, func, name, args, kwargs)
        if name in ELEMENTWISE:
            return rules.elementwise_rule(self, func, name, args, kwargs)
        if name in MULTILINEAR:
            out = rules.multilinear_rule(self, func, name, args, kwargs)
            return func(*args, **kwargs) if out is None else out
        if name in DIVISION:
            out = rules.division_rule(self, func, name, args, kwargs)
            return func(*args, **kwargs) if out is None else out
        if name in LINEAR:
            self._check_linear(name, args, kwargs, tensors)
            return func(*args, **kwargs)
        if name in ("detach", "detach_", "data.__get__"):
            self.fail(name, "detaches the input signal, so part of the output change could not be attributed")
        out = func(*args, **kwargs)
        floats = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor) and t.is_floating_point()]
        if not floats:  # metadata, comparisons, argmax, .item(): nothing to attribute through
            self._taint_from_signal(out)
            return out
        if (name in FACTORY_LIKE or name.endswith(".__get__")) and not any(t.requires_grad for t in floats):
            return out
        listing = rules.short_listing()
        raise UnsupportedOperation(
            f"deep_shap has no rule for {self._func} (called in module '{self.where()}'); supported nonlinear "
            f"ops: {listing}; products of two activations (mul, matmul, bmm, einsum, linear); and linear/shape "
            "ops (conv, linear, BatchNorm in eval mode, add, avg pooling, reshape, cat, mean, ...). Replace the "
            "op, or use gradient_shap / kernel_shap, which need no op rules"
        )
