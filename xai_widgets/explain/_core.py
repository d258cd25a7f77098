"""Shared plumbing for every explainer kernel.

Nothing here is an algorithm: it checks input, resolves targets and model
outputs, runs a model "as found" (state restored on every exit path), and
splits expanded batches into chunks.
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Iterator, Sequence, Union

import numpy as np
import torch
from torch import nn

Target = Union[None, int, str, Sequence[int], np.ndarray, torch.Tensor]
OutputFn = Callable[[Any], torch.Tensor]

#: Default number of expanded rows (IG steps, noise samples, occlusion
#: windows) evaluated in one forward/backward pass.
DEFAULT_CHUNK = 16


# --------------------------------------------------------------------- checks
def check_model(model: Any, name: str = "model") -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(model).__name__}")
    return model


def model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def as_batch(
    inputs: Any,
    model: nn.Module | None = None,
    *,
    name: str = "inputs",
    min_dim: int = 2,
    allow_int: bool = False,
) -> torch.Tensor:
    """Validate a batched input tensor ``(N, ...)`` and move it to the model's device.

    Raises ``TypeError`` for non-tensors and ``ValueError`` for too few
    dimensions, an empty batch or non-finite values.
    """
    if isinstance(inputs, np.ndarray):
        inputs = torch.from_numpy(inputs)
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor or numpy array of shape (N, ...), "
            f"got {type(inputs).__name__}"
        )
    if inputs.dim() < min_dim:
        raise ValueError(
            f"{name} must be batched with at least {min_dim} dimensions (N, ...); "
            f"got shape {tuple(inputs.shape)}. Add a batch axis with inputs[None]."
        )
    if inputs.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(inputs.shape)})")
    if inputs.is_floating_point() or inputs.is_complex():
        if not torch.isfinite(inputs).all():
            raise ValueError(f"{name} contains NaN or inf values")
    elif not allow_int:
        raise TypeError(
            f"{name} must be a floating-point tensor to take gradients, got dtype {inputs.dtype}; "
            "for token ids pass layer=<the embedding module>"
        )
    if model is not None:
        inputs = inputs.to(model_device(model))
    return inputs.detach()


def check_positive_int(value: Any, name: str, *, minimum: int = 1, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_forward_kwargs(forward_kwargs: Any) -> dict:
    if forward_kwargs is None:
        return {}
    if not isinstance(forward_kwargs, dict):
        raise TypeError(f"forward_kwargs must be a dict of extra model inputs, got {type(forward_kwargs).__name__}")
    return dict(forward_kwargs)


# ---------------------------------------------------------- model as found
@contextlib.contextmanager
def model_as_found(model: nn.Module, *, eval_mode: bool = True) -> Iterator[nn.Module]:
    """Run ``model`` for attribution and put it back exactly as it was.

    Inside: eval mode (so dropout is off and BatchNorm buffers are not
    updated), parameters frozen (no parameter gradients are computed or
    kept), gradients enabled even under ``torch.no_grad()``. On exit (also
    after an exception) every module's ``training`` flag and every
    parameter's ``requires_grad`` are restored.
    """
    modes = [(m, m.training) for m in model.modules()]
    grads = [(p, p.requires_grad) for p in model.parameters()]
    try:
        if eval_mode:
            model.eval()
        for p, _ in grads:
            p.requires_grad_(False)
        with torch.enable_grad():
            yield model
    finally:
        for p, flag in grads:
            p.requires_grad_(flag)
        for m, flag in modes:
            m.training = flag


@contextlib.contextmanager
def hooks(*handles_factory: Callable[[], Any]) -> Iterator[list]:
    """Register hooks from zero-argument factories; remove them all on exit."""
    handles: list = []
    try:
        for make in handles_factory:
            handles.append(make())
        yield handles
    finally:
        for h in handles:
            h.remove()


# ----------------------------------------------------------- outputs/targets
def to_scores(out: Any, output: OutputFn | None = None) -> torch.Tensor:
    """Map a model's return value to scores of shape ``(N, K)``.

    Handles tensors, tuples/lists (first element), dicts and Hugging Face
    outputs (``.logits``), or applies the user's ``output`` function.
    A 1-D result ``(N,)`` becomes ``(N, 1)``.
    """
    if output is not None:
        out = output(out)
    elif not isinstance(out, torch.Tensor):
        if hasattr(out, "logits") and isinstance(getattr(out, "logits"), torch.Tensor):
            out = out.logits
        elif isinstance(out, dict) and "logits" in out:
            out = out["logits"]
        elif isinstance(out, (tuple, list)) and len(out) and isinstance(out[0], torch.Tensor):
            out = out[0]
    if not isinstance(out, torch.Tensor):
        raise TypeError(
            "the model's output could not be read as scores: expected a tensor, a tuple whose "
            f"first item is a tensor, or an object with .logits; got {type(out).__name__}. "
            "Pass output=<function mapping it to an (N, K) tensor>."
        )
    if out.dim() == 1:
        out = out[:, None]
    elif out.dim() > 2:
        raise ValueError(
            f"the model's scores must be (N,) or (N, K); got shape {tuple(out.shape)}. "
            "Pass output=<function> to reduce them (e.g. lambda o: o[:, 0])."
        )
    return out


def resolve_target(target: Target, scores: torch.Tensor) -> torch.Tensor | str:
    """Turn ``target`` into a LongTensor ``(N,)`` of output indices, or ``"all"``.

    ``None`` picks each row's top-scoring output.
    """
    n, k = scores.shape
    if isinstance(target, str):
        if target != "all":
            raise ValueError(f"target must be None, an int, one int per row or 'all'; got {target!r}")
        return "all"
    if target is None:
        return scores.detach().argmax(dim=1)
    if isinstance(target, (bool, np.bool_)):
        raise TypeError(f"target must be an int, not a bool ({target!r})")
    if isinstance(target, (int, np.integer)):
        t = torch.full((n,), int(target), dtype=torch.long)
    else:
        try:
            t = torch.as_tensor(np.asarray(target.cpu() if isinstance(target, torch.Tensor) else target))
        except Exception as e:  # noqa: BLE001
            raise TypeError(f"target must be None, an int, one int per row or 'all'; got {target!r}") from e
        if t.dtype.is_floating_point or t.dtype == torch.bool or t.dim() != 1:
            raise TypeError(f"target must be one int per row, got {target!r}")
        if t.numel() != n:
            raise ValueError(f"target has {t.numel()} entries but the batch has {n} rows")
        t = t.long()
    bad = (t < 0) | (t >= k)
    if bad.any():
        raise ValueError(f"target {t[bad][0].item()} is out of range: the model has {k} outputs (0..{k - 1})")
    return t.to(scores.device)


def gather(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pick ``scores[i, target[i]]`` → ``(N,)``."""
    return scores.gather(1, target.view(-1, 1).to(scores.device)).squeeze(1)


# ------------------------------------------------------------------ chunking
def chunk_ranges(total: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, size):
        yield start, min(total, start + size)


def default_chunk(rows_per_input: int, batch_size: int | None) -> int:
    """Rows per forward pass: ``batch_size`` if given, else a small constant."""
    if batch_size is not None:
        return check_positive_int(batch_size, "batch_size")
    return max(1, min(rows_per_input, DEFAULT_CHUNK))


def repeat_kwargs(kwargs: dict, index: torch.Tensor, n: int) -> dict:
    """Select rows ``index`` of every batched tensor in ``kwargs`` (others pass through)."""
    out = {}
    for key, v in kwargs.items():
        if isinstance(v, torch.Tensor) and v.dim() >= 1 and v.shape[0] == n:
            out[key] = v.index_select(0, index.to(v.device))
        else:
            out[key] = v
    return out


def ceil_div(a: int, b: int) -> int:
    return int(math.ceil(a / b))


# -------------------------------------------------------------------- layers
def resolve_layer(model: nn.Module, layer: Any) -> tuple[str, nn.Module]:
    """Find ``layer`` in ``model``: a submodule object or its dotted name → ``(name, module)``."""
    if isinstance(layer, str):
        modules = dict(model.named_modules())
        if layer not in modules:
            close = [n for n in modules if layer in n][:5]
            hint = f"; similar names: {close}" if close else ""
            raise ValueError(f"model has no submodule named {layer!r}{hint}")
        return layer, modules[layer]
    if isinstance(layer, nn.Module):
        for name, m in model.named_modules():
            if m is layer:
                return name, m
        raise ValueError(f"layer {type(layer).__name__} is not a submodule of the model")
    raise TypeError(f"layer must be a submodule of the model or its dotted name, got {type(layer).__name__}")
