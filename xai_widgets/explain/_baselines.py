"""Baselines of the path methods (integrated gradients, input x gradient's zero point):
validation of every accepted form and the forward pass at the baseline."""
from __future__ import annotations

import inspect
import numbers
from typing import Any, Callable

import numpy as np
import torch

from ._core import normal_tensor
from ._engine import Engine, Parts

__all__ = ["check_baseline", "call_baseline", "baselines", "baseline_pass"]


def check_baseline(baseline: Any, x: torch.Tensor, name: str = "baseline") -> torch.Tensor:
    """Validate one input's baseline → tensor with ``x.dim()`` dims, broadcastable to ``x``."""
    is_int = not x.is_floating_point()
    if baseline is None:
        b = torch.zeros((1,) * x.dim(), dtype=x.dtype, device=x.device)
    elif isinstance(baseline, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number or a tensor, got {baseline!r}")
    elif isinstance(baseline, numbers.Real):
        if not np.isfinite(float(baseline)):
            raise ValueError(f"{name} must be finite, got {baseline!r}")
        if is_int and float(baseline) != int(baseline):
            raise TypeError(f"inputs are integer token ids, so {name} must be an integer id; got {baseline!r}")
        b = torch.full((1,) * x.dim(), baseline, dtype=x.dtype, device=x.device)
    else:
        if isinstance(baseline, np.ndarray):
            baseline = torch.from_numpy(baseline)
        if not isinstance(baseline, torch.Tensor):
            raise TypeError(
                f"{name} must be None, a number, a tensor broadcastable to the inputs, or a function of the "
                f"inputs returning one; got {type(baseline).__name__}"
            )
        baseline = normal_tensor(baseline)
        if baseline.is_floating_point():
            if not torch.isfinite(baseline).all():
                raise ValueError(f"{name} contains NaN or inf values")
            if is_int:
                raise TypeError(
                    f"inputs are integer token ids (dtype {x.dtype}), so {name} must hold integer ids too; "
                    f"got dtype {baseline.dtype}"
                )
        elif baseline.is_complex() or baseline.dtype == torch.bool:
            raise TypeError(f"{name} must be real-valued, got dtype {baseline.dtype}")
        try:
            shape = torch.broadcast_shapes(tuple(baseline.shape), tuple(x.shape))
        except RuntimeError:
            shape = None
        if shape != tuple(x.shape):
            raise ValueError(
                f"{name} of shape {tuple(baseline.shape)} does not broadcast to the inputs' shape {tuple(x.shape)}"
            )
        b = baseline.detach().to(device=x.device, dtype=x.dtype)
        b = b.reshape((1,) * (x.dim() - b.dim()) + tuple(b.shape))
    return b


def call_baseline(fn: Callable, given: Any) -> Any:
    """Evaluate a callable baseline once: ``fn(inputs)``, or ``fn()`` if it takes no argument (as Captum)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins without a signature: assume one argument
        params = None
    if params is not None and len(params) == 0:
        return fn()
    return fn(given)


def baselines(baseline: Any, run: Engine) -> Parts:
    """One validated baseline per input: None, a number (every input), a tensor (a single
    input), a tuple/list with one number or tensor per input, or a function of the inputs
    returning any of these."""
    xs = run.xs
    name = "baseline"
    if callable(baseline) and not isinstance(baseline, (torch.Tensor, np.ndarray)):
        baseline = call_baseline(baseline, run.given)
        name = "baseline(inputs)"
        if callable(baseline) and not isinstance(baseline, (torch.Tensor, np.ndarray)):
            raise TypeError(f"{name} returned a function; it must return a number, a tensor or a tuple of them")
    if isinstance(baseline, (tuple, list)):
        if len(baseline) != len(xs):
            what = f"a tuple of {len(xs)} inputs" if run.was_tuple else "a single tensor"
            raise ValueError(
                f"{name} is a {type(baseline).__name__} of {len(baseline)} items but inputs is {what}; give "
                f"one baseline per input ({len(xs)}: a number or a tensor each), or one number for all"
            )
        return tuple(check_baseline(b, x, f"{name}[{i}]") for i, (b, x) in enumerate(zip(baseline, xs)))
    if run.was_tuple and baseline is not None and not isinstance(baseline, numbers.Real):
        raise ValueError(
            f"inputs is a tuple of {len(xs)} tensors, so {name} must be a number (used for every input) or a "
            f"tuple of {len(xs)} baselines (one per input); got {type(baseline).__name__}"
            + (f" of shape {tuple(baseline.shape)}" if hasattr(baseline, "shape") else "")
        )
    return tuple(check_baseline(baseline, x, name) for x in xs)


def baseline_pass(run: Engine, bs: Parts) -> tuple[torch.Tensor, torch.Tensor | None]:
    """f(baseline) ``(N, K)`` (and the layer tensor at the baseline), one row when shared."""
    shared = all(b.shape[0] == 1 for b in bs) and not run.batched_kwargs
    rows = 1 if shared else run.n
    rows_b = tuple(b.expand((rows,) + tuple(x.shape[1:])) for b, x in zip(bs, run.xs))
    s, z = run.evaluate(rows_b, capture=run.tap is not None)
    if shared:
        s = s.expand(run.n, -1)
        z = None if z is None else z.expand((run.n,) + tuple(z.shape[1:]))
    return s, z
