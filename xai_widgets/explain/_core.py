"""Shared plumbing for every explainer kernel.

Nothing here is an algorithm: it checks input, resolves targets and model
outputs, runs a model "as found" (state restored on every exit path), and
splits expanded batches into chunks.
"""
from __future__ import annotations

import contextlib
import functools
import math
import threading
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
        raise TypeError(_integer_input_message(inputs, name))
    if model is not None:
        inputs = inputs.to(model_device(model))
    return normal_tensor(inputs.detach())


def _integer_input_message(x: torch.Tensor, name: str) -> str:
    """Say what came (shape, dtype, layout) and the conversion a user most likely needs."""
    shape = tuple(x.shape)
    what = f"{name} has shape {shape} and dtype {x.dtype}"
    if x.dim() in (3, 4) and shape[-1] in (1, 3, 4) and (x.dim() == 3 or shape[-2] > 4):
        batch = "" if x.dim() == 4 else "[None]"
        return (
            f"{what}: that looks like an image in HWC layout with {x.dtype} pixels (channels last), "
            "but gradients need floating-point input in the layout the model expects. Convert it, e.g. "
            f"x = torch.as_tensor(img){batch}.permute(0, 3, 1, 2).float() / 255 (then apply the model's "
            "normalisation), or use xai_widgets.demo.preprocess for the demo models"
        )
    if x.dtype == torch.bool:
        return f"{what}: gradients need floating-point input; convert with {name}.float()"
    return (
        f"{what}: gradients need floating-point input. If these are token ids, pass "
        "layer=<the embedding module> to attribute to the embeddings; if they are numbers "
        f"(counts, pixel values), convert with {name}.float()"
    )


def normal_tensor(t: Any) -> Any:
    """``t`` itself, or a normal copy of it when it was created under ``torch.inference_mode()``.

    Inference tensors cannot take part in autograd, so kernels copy them
    (outside inference mode) before they build a graph.
    """
    if isinstance(t, torch.Tensor) and t.is_inference():
        with torch.inference_mode(False):
            return t.clone()
    return t


def as_batches(
    inputs: Any,
    model: nn.Module | None = None,
    *,
    name: str = "inputs",
    min_dim: int = 2,
    allow_int: bool = False,
) -> tuple[tuple[torch.Tensor, ...], bool]:
    """One batch ``(N, ...)`` or a tuple of batches → ``(tensors, was_tuple)``.

    Each part is validated as by :func:`as_batch`; the parts must share the
    batch size ``N``.
    """
    if isinstance(inputs, (tuple, list)):
        if len(inputs) == 0:
            raise ValueError(f"{name} is an empty tuple; give a tensor (N, ...) or a tuple of tensors")
        parts = tuple(
            as_batch(x, model, name=f"{name}[{i}]", min_dim=min_dim, allow_int=allow_int)
            for i, x in enumerate(inputs)
        )
        sizes = [int(p.shape[0]) for p in parts]
        if len(set(sizes)) > 1:
            shapes = ", ".join(str(tuple(p.shape)) for p in parts)
            raise ValueError(
                f"the parts of {name} must share the batch size (first axis); got shapes {shapes}"
            )
        return parts, True
    return (as_batch(inputs, model, name=name, min_dim=min_dim, allow_int=allow_int),), False


def describe_inputs(inputs: Any) -> str:
    """``shape (1, 3, 224, 224), dtype torch.float32`` for a tensor or each part of a tuple."""
    if isinstance(inputs, (tuple, list)):
        return "(" + "; ".join(describe_inputs(x) for x in inputs) + ")"
    if hasattr(inputs, "shape") and hasattr(inputs, "dtype"):
        return f"shape {tuple(inputs.shape)}, dtype {inputs.dtype}"
    return type(inputs).__name__


def model_call_error(err: BaseException, inputs: Any, *, full: Any = None) -> ValueError:
    """A ``ValueError`` for an exception raised by the model's first forward call.

    Names the input shape(s) the model got (``inputs``: the probe rows) and
    the batch they come from (``full``), and hints at a missing batch axis
    where that fits. Raise it ``from err`` so the original error stays chained.
    """
    got = describe_inputs(inputs)
    batch = "" if full is None else f" (rows of the batch with {describe_inputs(full)})"
    msg = f"the model failed on inputs with {got}{batch}: {type(err).__name__}: {err}"
    first = inputs[0] if isinstance(inputs, (tuple, list)) and inputs else inputs
    src = full if full is not None else first
    if isinstance(src, (tuple, list)) and src:
        src = src[0]
    if hasattr(src, "shape"):
        shape = tuple(src.shape)
        if len(shape) == 3 and shape[0] in (1, 3, 4):
            msg += (
                f". The input {shape} looks like ONE image (C, H, W) without a batch axis: kernels read "
                "the first axis as the batch. Add one with inputs[None] (shape (1, ...))"
            )
        elif len(shape) in (2, 3):
            msg += (
                f". If {shape} is a single example, the first axis is being read as the batch: add a "
                "batch axis with inputs[None]; if the model expects channels (e.g. (N, 1, H, W) for a "
                "grayscale CNN), add that axis with inputs[:, None]"
            )
    return ValueError(msg)


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
# Kernels may run at the same time on the same model from several threads (an
# explorer's background thread beside the user's cells). Each kernel must see
# the model frozen and in eval mode for its whole run, and the model must be
# back exactly as found once the last one is done. Recording the flags per run
# (enter: save, exit: restore) breaks that: the second run saves the flags the
# first had already changed and restores them last, and the first to leave puts
# the model back in train mode under the feet of the others. So the state is
# shared and reference-counted, per module (``training``) and per parameter
# (``requires_grad``) rather than per model, which also covers two kernels on
# overlapping models (a model and one of its submodules): the first holder of
# an object records its flag and changes it, the last to let go restores it.
_HOLD_LOCK = threading.Lock()
#: id(object) -> [object, holders, flag as found]. The entry keeps the object
#: alive, so its id cannot be reused while it is held.
_HELD_MODES: dict[int, list] = {}
_HELD_GRADS: dict[int, list] = {}


def _hold(table: dict[int, list], objs: Sequence[Any], read: Callable[[Any], bool], write: Callable[[Any, bool], None], value: bool) -> None:
    for o in objs:
        entry = table.get(id(o))
        if entry is None:
            table[id(o)] = [o, 1, read(o)]
            write(o, value)
        else:
            entry[1] += 1


def _release(table: dict[int, list], objs: Sequence[Any], write: Callable[[Any, bool], None]) -> None:
    for o in objs:
        entry = table.get(id(o))
        if entry is None:  # pragma: no cover - only if a holder released twice
            continue
        entry[1] -= 1
        if entry[1] == 0:
            del table[id(o)]
            write(o, entry[2])


def _set_training(m: nn.Module, flag: bool) -> None:
    m.training = flag  # this module only: every submodule has its own entry


def _set_requires_grad(p: torch.Tensor, flag: bool) -> None:
    p.requires_grad_(flag)


@contextlib.contextmanager
def model_as_found(model: nn.Module, *, eval_mode: bool = True) -> Iterator[nn.Module]:
    """Run ``model`` for attribution and put it back exactly as it was.

    Inside: eval mode (so dropout is off and BatchNorm buffers are not
    updated), parameters frozen (no parameter gradients are computed or
    kept), gradients enabled even under ``torch.no_grad()``. On exit (also
    after an exception) every module's ``training`` flag and every
    parameter's ``requires_grad`` are restored.

    Safe when several threads explain the same model at once: the state is
    reference-counted per module and per parameter under a lock. The first
    holder records each flag and freezes/evals, later holders find the model
    already prepared, and the last one to leave restores the flags recorded
    by the first, so no run sees the model unfrozen or in train mode while
    another is still inside, and the model ends as found before the first
    entered. A flag the user changes by hand while a kernel holds the model
    is overwritten when the last holder leaves. ``eval_mode=False`` leaves
    the ``training`` flags alone (but a concurrent holder with the default
    may still have switched them to eval).

    Example::

        with model_as_found(model):
            scores = model(x)          # eval mode, parameters frozen, grad enabled
        # model.training and every p.requires_grad are back as they were
    """
    lazy = [n for n, p in model.named_parameters() if isinstance(p, nn.parameter.UninitializedParameter)]
    if lazy:
        raise ValueError(
            f"the model has lazy modules that were never run (uninitialized parameters: {lazy[:3]}); "
            "call the model once on an example input before explaining it"
        )
    modules = list(model.modules()) if eval_mode else []
    params = list(model.parameters())
    with _HOLD_LOCK:
        _hold(_HELD_MODES, modules, lambda m: m.training, _set_training, False)
        _hold(_HELD_GRADS, params, lambda p: p.requires_grad, _set_requires_grad, False)
    try:
        # inference_mode(False) too: inside torch.inference_mode() enable_grad alone is not enough
        with torch.inference_mode(False), torch.enable_grad():
            yield model
    finally:
        with _HOLD_LOCK:
            _release(_HELD_GRADS, params, _set_requires_grad)
            _release(_HELD_MODES, modules, _set_training)


def this_thread_only(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a forward (pre-)hook so that it acts only in the thread that wrapped it.

    A hook is registered on the module, so it fires on every forward pass of
    that module, also those run by other threads at the same time (another
    kernel, or the user's own call of the model). Those calls must neither
    see nor change what this kernel captures or replaces: in any other thread
    the wrapped hook returns ``None`` (leaves the call untouched) without
    running ``fn``. Forward hooks run in the thread that called the model, so
    the kernel's own passes reach ``fn``. (A model that runs its own
    submodules in worker threads, e.g. ``nn.DataParallel``, is not supported
    by hook-based kernels.)
    """
    owner = threading.get_ident()

    @functools.wraps(fn)
    def hook(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() != owner:
            return None
        return fn(*args, **kwargs)

    return hook


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
def to_scores(out: Any, output: OutputFn | None = None, n: int | None = None) -> torch.Tensor:
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
    if out.dim() == 0:
        rows = "" if n is None else f" of {n} row{'s' if n != 1 else ''}"
        raise ValueError(
            f"the model returned one number (a 0-d tensor) for the whole batch{rows}; scores must be "
            "one per row: (N,) or (N, K). If the model sums or averages over the batch (e.g. "
            "model(x).sum()), return the per-row scores instead, or pass output=<function mapping the "
            "model's output to (N, K)>"
        )
    if out.dim() == 1:
        out = out[:, None]
    elif out.dim() > 2:
        raise ValueError(
            f"the model's scores must be (N,) or (N, K); got shape {tuple(out.shape)}. "
            "Pass output=<function> to reduce them (e.g. lambda o: o[:, 0])."
        )
    return out


def _close_names(name: str, names: Sequence[str], limit: int = 5) -> list[str]:
    import difflib

    low = name.lower()
    contains = [n for n in names if low in n.lower()]
    return (contains + [n for n in difflib.get_close_matches(name, list(names), n=limit, cutoff=0.6) if n not in contains])[:limit]


def name_to_index(name: str, output_names: Sequence[str] | None) -> int:
    """The output index of class ``name`` (exact match, then case-insensitive)."""
    if output_names is None:
        raise ValueError(
            f"target {name!r} is a class name, but the model's class names are not known; pass "
            "output_names=[...] (one per output), or give target as an int index"
        )
    names = list(output_names)
    if name in names:
        return names.index(name)
    low = [n.lower() for n in names]
    if name.lower() in low:
        return low.index(name.lower())
    close = _close_names(name, names)
    hint = f"; close matches: {close}" if close else ""
    raise ValueError(f"target {name!r} is not one of the {len(names)} class names{hint}")


def resolve_target(target: Target, scores: torch.Tensor, output_names: Sequence[str] | None = None) -> torch.Tensor | str:
    """Turn ``target`` into a LongTensor ``(N,)`` of output indices, or ``"all"``.

    ``None`` picks each row's top-scoring output. An int, a numpy integer, a
    0-d tensor or a one-element tensor/array applies to every row; a
    sequence/tensor of N ints gives one per row; a class name (or one name
    per row) is looked up in ``output_names``.
    """
    n, k = scores.shape
    if isinstance(target, str):
        if target == "all":
            return "all"
        target = name_to_index(target, output_names)
    if target is None:
        return scores.detach().argmax(dim=1)
    if isinstance(target, (bool, np.bool_)):
        raise TypeError(f"target must be an int, not a bool ({target!r})")
    if isinstance(target, (list, tuple)) and target and all(isinstance(t, str) for t in target):
        target = [name_to_index(t, output_names) for t in target]
    if isinstance(target, (int, np.integer)):
        t = torch.full((n,), int(target), dtype=torch.long)
    else:
        try:
            t = torch.as_tensor(np.asarray(target.detach().cpu() if isinstance(target, torch.Tensor) else target))
        except Exception as e:  # noqa: BLE001
            raise TypeError(
                f"target must be None, an int, one int per row, a class name or 'all'; got {target!r}"
            ) from e
        if t.dtype.is_floating_point or t.dtype == torch.bool or t.is_complex():
            raise TypeError(f"target must hold integer output indices, got dtype {t.dtype} ({target!r})")
        if t.dim() == 0 or t.numel() == 1:  # a 0-d or one-element tensor broadcasts, as in Captum
            t = torch.full((n,), int(t.reshape(-1)[0]), dtype=torch.long)
        elif t.dim() != 1:
            raise TypeError(f"target must be one int per row (shape ({n},)), got shape {tuple(t.shape)}")
        if t.numel() != n:
            raise ValueError(f"target has {t.numel()} entries but the batch has {n} rows")
        t = t.long()
    bad = (t < 0) | (t >= k)
    if bad.any():
        raise ValueError(f"target {t[bad][0].item()} is out of range: the model has {k} outputs (0..{k - 1})")
    return t.to(scores.device)


# -------------------------------------------------------------- class names
def resolve_output_names(model: Any, output_names: Any = None) -> list[str] | None:
    """Class names for the model's outputs, or None.

    The explicit ``output_names`` if given; else a Hugging Face
    ``model.config.id2label`` (in id order, unless it is the default
    ``LABEL_0, LABEL_1, ...``); else a ``model.output_names`` attribute (the
    demo models set it). Check them against the number of outputs with
    :func:`check_output_names` (``explicit=output_names is not None``).
    """
    if output_names is not None:
        if isinstance(output_names, str) or not isinstance(output_names, Sequence) and not isinstance(output_names, np.ndarray):
            raise TypeError(f"output_names must be a list of class names (one per output), got {type(output_names).__name__}")
        names = [str(o) for o in list(output_names)]
        if len(set(names)) != len(names):
            dup = sorted({x for x in names if names.count(x) > 1})[:3]
            raise ValueError(f"output_names must be unique; repeated: {dup}")
        return names
    config = getattr(model, "config", None)
    id2label = getattr(config, "id2label", None) if config is not None else None
    if isinstance(id2label, dict) and id2label:
        try:
            items = sorted((int(k), str(v)) for k, v in id2label.items())
        except (TypeError, ValueError):
            items = []
        if items and [k for k, _ in items] == list(range(len(items))):
            labels = [v for _, v in items]
            if labels != [f"LABEL_{i}" for i in range(len(labels))]:
                return labels
    names = getattr(model, "output_names", None)
    if isinstance(names, (list, tuple)) and names and all(isinstance(x, str) for x in names):
        return list(names)
    return None


def check_output_names(names: list[str] | None, k: int, explicit: bool) -> list[str] | None:
    """Names that fit the ``k`` outputs; an explicit list of another length is an error."""
    if names is None:
        return None
    if len(names) != k:
        if explicit:
            raise ValueError(f"output_names has {len(names)} names but the model has {k} outputs")
        return None
    return names


def joint_delta(values: Sequence[Any], outputs: Any, base_values: Any, per_output: bool = False) -> torch.Tensor:
    """Completeness residual over the sum of every input's values, float64 ``(N,)`` (``(N, K)``).

    ``sum_i values_i.reshape(N, [K,] -1).sum(-1) - (outputs - base_values)``.
    """
    total = None
    for v in values:
        v = torch.as_tensor(v).detach().cpu().double()
        n = v.shape[0]
        s = v.reshape((n, v.shape[1], -1) if per_output else (n, -1)).sum(-1)
        total = s if total is None else total + s
    out = torch.as_tensor(outputs).detach().cpu().double()
    base = torch.as_tensor(base_values).detach().cpu().double()
    return total - (out - base)


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
