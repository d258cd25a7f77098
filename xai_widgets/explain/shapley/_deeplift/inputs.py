"""Argument checks shared by gradient_shap and deep_shap (no model calls).

Both kernels take one input tensor ``(N, ...)`` or a tuple of them (a model
called as ``model(*inputs)``). The background follows the same structure: a
tensor (or array) per input, all with the same number of rows ``B``; a
scalar stands for one row filled with that value; a callable is evaluated
once on the validated inputs and its result checked like any background.
"""
from __future__ import annotations

import inspect
import numbers
from typing import Any

import numpy as np
import torch

from ..._core import normal_tensor
from .._background import MAX_BACKGROUND, SUMMARY_SIZE, Background, summarize_background, warn_summarized

__all__ = [
    "check_background",
    "check_seed",
    "check_bool",
    "check_feature_names",
    "follow_model_dtype",
    "BackgroundRows",
]


class BackgroundRows:
    """A validated background: ``parts`` one tensor ``(B, ...)`` per input (on that input's device and
    dtype), ``weights`` float64 ``(B,)`` summing to 1."""

    def __init__(self, parts: tuple[torch.Tensor, ...], weights: torch.Tensor, summarized: bool, rows: int) -> None:
        self.parts, self.weights, self.summarized, self.rows = parts, weights, summarized, rows

    @property
    def data(self) -> torch.Tensor:
        """The first (for one input: the only) part."""
        return self.parts[0]

    def __len__(self) -> int:
        return int(self.parts[0].shape[0])

    def params(self) -> dict:
        return {"background": len(self), "background_rows": self.rows, "background_summarized": self.summarized}

    def as_background(self, was_tuple: bool) -> Background:
        """This validated background as a :class:`Background` (for kernels called again on row chunks:
        no second summary, the same weights)."""
        return Background(data=self.parts if was_tuple else self.parts[0], weights=self.weights.cpu().numpy(),
                          summarized=self.summarized, rows=self.rows)


def follow_model_dtype(given: Any, xs: tuple[torch.Tensor, ...], model: torch.nn.Module) -> tuple[torch.Tensor, ...]:
    """A numpy input takes the model's floating dtype (float64 arrays for a float32 model, as the other
    Shapley kernels do); a tensor is used as given. ``given`` is what the user passed (one array or a
    tuple), ``xs`` the validated parts."""
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
    parts = list(given) if isinstance(given, (tuple, list)) else [given]
    out = []
    for g, t in zip(parts, xs):
        out.append(t.to(dtype) if dtype is not None and isinstance(g, np.ndarray) and t.is_floating_point() else t)
    return tuple(out)


def check_seed(seed: Any) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {seed!r}")
    return int(seed)


def check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_feature_names(names: Any, xs: tuple[torch.Tensor, ...], was_tuple: bool) -> list[list[str] | None]:
    """One list of names per input (or None): each names every element of one row of its input."""
    if names is None:
        return [None] * len(xs)
    if was_tuple:
        if not isinstance(names, (list, tuple)) or len(names) != len(xs) or any(
            isinstance(n, str) or not (n is None or isinstance(n, (list, tuple, np.ndarray))) for n in names
        ):
            raise ValueError(
                f"feature_names for {len(xs)} inputs must be a list of {len(xs)} lists of names (one list "
                f"per input, None to skip one); got {_describe(names)}"
            )
        per = list(names)
    else:
        per = [names]
    out: list[list[str] | None] = []
    for i, (n, x) in enumerate(zip(per, xs)):
        if n is None:
            out.append(None)
            continue
        if isinstance(n, str) or not isinstance(n, (list, tuple, np.ndarray)):
            raise TypeError(f"feature_names must be a list of names, one per element of a row; got {_describe(n)}")
        elements = int(np.prod(tuple(x.shape[1:]), dtype=np.int64))
        label = f"feature_names[{i}]" if was_tuple else "feature_names"
        if len(n) != elements:
            raise ValueError(
                f"{label} has {len(n)} names but one row of {'x[%d]' % i if was_tuple else 'x'} has {elements} "
                f"elements (shape {tuple(x.shape[1:])}); give one name per element"
            )
        out.append([str(s) for s in n])
    return out


def _describe(a: Any) -> str:
    if hasattr(a, "shape") and hasattr(a, "dtype"):
        return f"{type(a).__name__} of shape {tuple(a.shape)}"
    if isinstance(a, (list, tuple)):
        return f"a {type(a).__name__} of {len(a)} items"
    return type(a).__name__


def _is_scalar(a: Any) -> bool:
    if isinstance(a, (bool, np.bool_)):
        return False
    if isinstance(a, numbers.Real):
        return True
    return isinstance(a, (torch.Tensor, np.ndarray)) and a.ndim == 0


def call_background(background: Any, given: Any) -> Any:
    """Evaluate a callable background once: ``background()`` if it takes no argument, else
    ``background(inputs)`` with the validated inputs (one tensor, or a tuple), as Captum does."""
    try:
        takes = len(inspect.signature(background).parameters)
    except (TypeError, ValueError):  # builtins without a signature: give them the inputs
        takes = 1
    try:
        return background() if takes == 0 else background(given)
    except Exception as e:  # noqa: BLE001 - the user's function: say which argument failed
        raise ValueError(f"the background function raised {type(e).__name__}: {e}") from e


def _as_part(b: Any, x: torch.Tensor, label: str, xname: str) -> torch.Tensor:
    row_shape = tuple(x.shape[1:])
    if _is_scalar(b):  # one reference row filled with the scalar
        v = float(b.item()) if isinstance(b, (torch.Tensor, np.ndarray)) else float(b)
        if not np.isfinite(v):
            raise ValueError(f"{label} is {v}; give a finite number")
        return torch.full((1,) + row_shape, v, dtype=x.dtype, device=x.device)
    if isinstance(b, np.ndarray):
        if b.dtype == object:
            raise TypeError(f"{label} must be a numeric array (B, ...), got dtype object")
        b = torch.from_numpy(np.ascontiguousarray(b))
    if not isinstance(b, torch.Tensor):
        raise TypeError(
            f"{label} must be a tensor, numpy array, number or Background of shape (B, ...), got {type(b).__name__}"
        )
    b = normal_tensor(b)
    if b.dim() == x.dim() - 1 and tuple(b.shape) == row_shape and b.numel() > 0:
        b = b[None]  # one row without its batch axis
    if b.dim() == 0 or b.shape[0] == 0 or b.numel() == 0:
        raise ValueError(f"{label} is empty (shape {tuple(b.shape)}); give at least one row (B, ...)")
    if tuple(b.shape[1:]) != row_shape:
        hint = ""
        if tuple(b.shape[1:]) == tuple(x.shape):
            hint = (f"; {xname} {tuple(x.shape)} looks like one row without its batch axis: pass {xname}[None] "
                    "(shape (1, ...))")
        raise ValueError(
            f"{label} rows have shape {tuple(b.shape[1:])} but {xname}'s rows have shape {row_shape}; "
            f"{label} must be (B, {', '.join(map(str, row_shape))}){hint}"
        )
    if not b.is_floating_point():
        raise TypeError(f"{label} must be floating point like {xname} ({x.dtype}), got dtype {b.dtype}")
    if not torch.isfinite(b).all():
        raise ValueError(f"{label} contains NaN or inf values")
    return b.detach()


def check_background(
    background: Any,
    xs: tuple[torch.Tensor, ...] | torch.Tensor,
    *,
    was_tuple: bool = False,
    summarize: bool = True,
    seed: int = 0,
) -> BackgroundRows:
    """Validate ``background`` against the inputs ``xs`` (one tensor ``(N, ...)`` or a tuple of them).

    ``background`` mirrors the inputs: one tensor/array ``(B, ...)`` (a
    single row without the batch axis is accepted) or, for tuple inputs, a
    tuple with one per input, all with ``B`` rows; a number is one row
    filled with it (also as a tuple entry, then repeated to ``B`` rows); a
    :class:`Background` keeps its weights; a callable is evaluated once
    (``background(inputs)``, or ``background()``) and its result checked
    the same way. With ``summarize``, more than :data:`MAX_BACKGROUND` rows
    are reduced to :data:`SUMMARY_SIZE` weighted k-means centres, with a
    :class:`~.._background.BackgroundSummaryWarning`.
    """
    if isinstance(xs, torch.Tensor):
        xs = (xs,)
    k = len(xs)
    if callable(background) and not isinstance(background, (torch.Tensor, np.ndarray, Background)):
        background = call_background(background, xs if was_tuple else xs[0])
    weights = None
    summarized, rows = False, None
    if isinstance(background, Background):
        weights, summarized, rows = background.weights, background.summarized, background.rows
        background = background.data
    if isinstance(background, (tuple, list)):
        if len(background) != k:
            what = f"{k} inputs" if was_tuple else "one input"
            raise ValueError(
                f"background is a tuple of {len(background)} parts but x has {what}; give one background "
                f"tensor (B, ...) per input" + ("" if was_tuple else ", or a single tensor")
            )
        given = list(background)
    elif was_tuple and not _is_scalar(background):
        raise ValueError(
            f"x is a tuple of {k} inputs, so background must be a tuple of {k} tensors (B, ...) (one per input, "
            f"sharing B) or a number; got {_describe(background)}"
        )
    else:
        given = [background] * k
    labels = [f"background[{i}]" if was_tuple else "background" for i in range(k)]
    xnames = [f"x[{i}]" if was_tuple else "x" for i in range(k)]
    parts = [_as_part(b, x, lab, xn) for b, x, lab, xn in zip(given, xs, labels, xnames)]
    sizes = {int(p.shape[0]) for p, b in zip(parts, given) if not _is_scalar(b)}
    if len(sizes) > 1:
        raise ValueError(
            "the parts of background must share the number of rows B; got shapes "
            + ", ".join(str(tuple(p.shape)) for p in parts)
        )
    nb = sizes.pop() if sizes else 1
    parts = [p.expand((nb,) + tuple(p.shape[1:])) if p.shape[0] != nb else p for p in parts]
    if weights is None:
        if summarize and nb > MAX_BACKGROUND:
            s = summarize_background(tuple(parts) if k > 1 else parts[0], SUMMARY_SIZE, seed=seed)
            parts = list(s.data) if k > 1 else [s.data]
            weights, summarized, rows = s.weights, True, s.rows
            # frames: warn_summarized <- check_background <- the kernel <- the user's call
            warn_summarized(nb, len(weights), all(p.is_floating_point() for p in parts), stacklevel=3)
            nb = len(weights)
        else:
            weights = np.full(nb, 1.0 / nb)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape[0] != nb or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError("background weights must be finite, >= 0, one per row, with a positive sum")
    data = tuple(p.to(device=x.device, dtype=x.dtype) for p, x in zip(parts, xs))
    wt = torch.as_tensor(w / w.sum(), dtype=torch.float64, device=xs[0].device)
    return BackgroundRows(data, wt, bool(summarized), int(rows or nb))

