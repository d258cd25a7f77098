"""Occlusion: slide a baseline-filled window over the input, watch the score drop.

Semantics are exactly those of ``captum.attr.Occlusion``: the window slides
over every non-batch axis, starting at index 0 and moving by ``stride``
until the axis is covered (``ceil((D - w) / s) + 1`` positions per axis; the
last window may hang over the end and is cut off). The attribution of an
element is the mean, over the windows that cover it, of
``f(x)[t] - f(x with the window set to baseline)[t]``. With several inputs
(a tuple), each input is occluded by its own windows while the others are
kept as they are, as Captum does for tuple inputs.

Unlike Captum, ``f(x)`` is evaluated once, the occluded copies of many
windows (and rows) go through the model together in chunks of
``batch_size`` rows, masks are built by broadcasting per-axis masks, and
the per-window score drops are spread back to elements with one separable
tensor contraction (no per-window Python work beyond the forward passes).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..attribution import Attribution
from .distributed import check_client, elements, plan_chunks, run_chunks
from ._core import (
    OutputFn,
    Target,
    as_batches,
    check_forward_kwargs,
    check_model,
    check_output_names,
    chunk_ranges,
    default_chunk,
    gather,
    model_as_found,
    model_call_error,
    normal_tensor,
    repeat_kwargs,
    resolve_output_names,
    resolve_target,
    to_scores,
)

__all__ = ["occlusion"]

#: Show a progress bar when the occluded copies need at least this many forward passes.
PROGRESS_MIN_CHUNKS = 20

def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _as_shape(value: Any, name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    dims = shape[1:]
    nd = len(dims)
    if _is_int(value):
        value = (int(value),) * nd
    if not isinstance(value, (tuple, list)) or not all(_is_int(v) for v in value):
        raise TypeError(f"{name} must be an int or a tuple of ints (one per input axis after the batch), got {value!r}")
    if len(value) != nd:
        hint = ""
        if len(value) == nd + 1:
            # the classic slip: one image (C, H, W) passed without its batch axis
            hint = (
                f". If the input of shape {shape} is a single example, it has no batch axis "
                "(its first axis is read as the batch): add one with inputs[None]"
            )
        raise ValueError(
            f"{name} has {len(value)} entries but the input has {nd} axes after the batch "
            f"(shape {dims}); give one per axis, e.g. {name}={tuple(min(3, d) for d in dims)}{hint}"
        )
    value = tuple(int(v) for v in value)
    if any(v < 1 for v in value):
        raise ValueError(f"{name} entries must be >= 1, got {value}")
    return value


def _per_input(value: Any, name: str, xs: tuple[torch.Tensor, ...], was_tuple: bool) -> list[Any]:
    """Split a window/stride/baseline argument into one entry per input.

    For a single input the argument is that input's; for a tuple of inputs it
    is either one value for every input (an int window/stride, a number
    baseline) or a tuple/list with exactly one entry per input.
    """
    if not was_tuple:
        return [value]
    m = len(xs)
    if isinstance(value, (tuple, list)):
        if len(value) != m:
            raise ValueError(
                f"with {m} inputs, {name} must be one value for all of them or a tuple of {m} "
                f"(one per input, each as for a single input); got {len(value)} entries: {value!r}"
            )
        return list(value)
    if isinstance(value, (torch.Tensor, np.ndarray)):
        raise ValueError(
            f"with {m} inputs, a tensor {name} is ambiguous: give a tuple of {m} (one per input) "
            "or a number for all of them"
        )
    return [value] * m


def _baseline(baseline: Any, x: torch.Tensor, name: str = "baseline") -> torch.Tensor:
    if isinstance(baseline, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number or a tensor broadcastable to the input, got {baseline!r}")
    if isinstance(baseline, (int, float, np.integer, np.floating)):
        b = torch.tensor(float(baseline), dtype=x.dtype, device=x.device)
    elif isinstance(baseline, (torch.Tensor, np.ndarray)):
        b = normal_tensor(torch.as_tensor(baseline).detach()).to(device=x.device, dtype=x.dtype)
    else:
        raise TypeError(f"{name} must be a number or a tensor broadcastable to the input, got {type(baseline).__name__}")
    if not torch.isfinite(b).all():
        raise ValueError(f"{name} contains NaN or inf values")
    if b.dim() == x.dim() - 1:  # one row's shape: add the batch axis
        b = b[None]
    try:
        shape = torch.broadcast_shapes(b.shape, x.shape)
    except RuntimeError:
        shape = None
    if shape != x.shape or b.dim() > x.dim():
        raise ValueError(
            f"{name} of shape {tuple(b.shape)} does not broadcast to the input's shape {tuple(x.shape)}"
        )
    while b.dim() < x.dim():
        b = b[None]
    return b


def _describe_baseline(baseline: Any) -> Any:
    return float(baseline) if isinstance(baseline, (int, float, np.integer, np.floating)) else "tensor"


class _Windows:
    """The windows of one input: per-axis masks and how a flat window index maps to them."""

    def __init__(self, dims: tuple[int, ...], win: tuple[int, ...], steps: tuple[int, ...], label: str = ""):
        for d, (size, w, s) in enumerate(zip(dims, win, steps)):
            if w > size:
                raise ValueError(
                    f"window{label} {win} does not fit the input{label}: axis {d + 1} has size {size} < {w}"
                )
            if size > w and s > w:
                raise ValueError(
                    f"stride{label} {steps} is larger than the window {win} on axis {d + 1} of the "
                    f"input{label}: elements would never be occluded"
                )
        self.dims, self.win, self.steps = dims, win, steps
        self.shifts = tuple(math.ceil((size - w) / s) + 1 for size, w, s in zip(dims, win, steps))
        self.count = int(np.prod(self.shifts))
        self.strides = [int(np.prod(self.shifts[d + 1:])) for d in range(len(dims))]
        self.masks: list[torch.Tensor] = []

    def build(self, device: torch.device) -> None:
        # per-axis masks (shifts_d, size_d): window k covers [k*s, k*s + w) clipped to the axis
        self.masks = []
        for size, w, s, m in zip(self.dims, self.win, self.steps, self.shifts):
            start = torch.arange(m, device=device)[:, None] * s
            pos = torch.arange(size, device=device)[None, :]
            self.masks.append((pos >= start) & (pos < start + w))

    def mask(self, wins: torch.Tensor) -> torch.Tensor:
        """Boolean masks ``(B, *dims)`` (broadcast-shaped) for flat window indices ``wins``."""
        nd = len(self.dims)
        mask = None
        for d, m in enumerate(self.masks):
            md = m[(wins // self.strides[d]) % self.shifts[d]]  # (B, size_d)
            md = md.view(md.shape[0], *([1] * d), md.shape[1], *([1] * (nd - d - 1)))
            mask = md if mask is None else mask & md
        return mask

    def spread(self, drops: torch.Tensor, n: int, k: int | None) -> torch.Tensor:
        """Per-window drops ``(n * count[, k])`` → mean drop per element ``(n[, k], *dims)``, float64."""
        nd = len(self.dims)
        lead = 1 if k is None else 2
        acc = drops.double().reshape(n, *self.shifts, *(() if k is None else (k,)))
        if k is not None:
            acc = acc.movedim(-1, 1)
        for m in self.masks:  # contract the first window axis with its mask; the element axis goes last
            acc = torch.tensordot(acc, m.double(), dims=([lead], [0]))
        count = None
        for d, m in enumerate(self.masks):
            c = m.double().sum(0).view(*([1] * d), -1, *([1] * (nd - d - 1)))
            count = c if count is None else count * c
        return acc / count


def occlusion(
    model: nn.Module,
    inputs: torch.Tensor | Sequence[torch.Tensor],
    target: Target = None,
    *,
    window: int | Sequence[int] | Sequence[int | Sequence[int]] = (3, 16, 16),
    stride: int | Sequence[int] | Sequence[int | Sequence[int]] = (3, 8, 8),
    baseline: float | torch.Tensor | np.ndarray | Sequence[Any] = 0.0,
    batch_size: int | None = None,
    output: OutputFn | None = None,
    forward_kwargs: dict | None = None,
    output_names: Sequence[str] | None = None,
    client: Any = None,
) -> Attribution | tuple[Attribution, ...]:
    """Occlusion attributions (Zeiler & Fergus 2014), identical to ``captum.attr.Occlusion``.

    Parameters
    ----------
    model : torch.nn.Module
        Returns scores ``(N, K)`` (or anything ``output`` maps to them);
        called as ``model(*inputs, **forward_kwargs)`` for a tuple of inputs.
    inputs : tensor ``(N, ...)`` or tuple of tensors
        The batch to explain, e.g. images ``(N, C, H, W)``; or several
        inputs of the model (image and tabular, ...) that share ``N``.
    target : None, int, class name, one per row, or ``"all"``
        ``None`` explains each row's top class; ``"all"`` every output. An
        int, a 0-d or one-element tensor applies to every row; class names
        need ``output_names`` (or names the model carries).
    window : int or tuple of ints (a tuple of them for tuple inputs)
        The occluded block, one size per input axis after the batch
        (an int: the same on every axis). Each must fit the axis. For tuple
        inputs: one window per input (or one int for all of them).
    stride : int or tuple of ints (a tuple of them for tuple inputs)
        Step between windows per axis; at most the window size on axes the
        window does not fill (otherwise elements would go uncovered). For
        tuple inputs: one per input, or one int for all.
    baseline : float or tensor (a tuple of them for tuple inputs)
        Value put in the window: a number, or a tensor broadcastable to the
        input (one row's shape, or with a batch axis of 1 or N). For tuple
        inputs: one per input, or one number for all.
    batch_size : int, optional
        Occluded copies per forward pass (default: a small constant).
    output : callable, optional
        Maps the model's return value to ``(N, K)`` scores.
    forward_kwargs : dict, optional
        Extra model inputs; batched tensors follow their rows.
    output_names : list of str, optional
        Class names, one per output; default: a Hugging Face model's
        ``config.id2label`` or the model's ``output_names`` attribute.
    client : dask.distributed.Client, optional
        Explain the row chunks on its workers (the model sent once; e.g.
        ``xw.local_cluster()``); the result equals the in-process one. Rows
        are chunked the same way with or without it (see
        :mod:`xai_widgets.explain.distributed`); a closed client or another
        object raises before any model call.

    Returns
    -------
    Attribution or tuple of Attribution
        ``values`` the input's shape ``(N, ...)`` (``(N, K, ...)`` for
        ``target="all"``); ``outputs`` ``f(x)[target]``; ``params`` window,
        stride, number of windows per row; ``delta`` None (occlusion makes no
        completeness promise). For tuple inputs, one ``Attribution`` per
        input (``data`` that input), sharing target, outputs and params.

    Notes
    -----
    The model runs once on one row first (output shape, target and class
    names are checked there), then once on the full batch for ``f(x)``,
    then on the occluded copies in chunks. With tuple inputs, every window
    of input ``i`` is evaluated with the other inputs unchanged, so each
    input's values are the same as Captum's for the same tuple.

    Example
    -------
    >>> import xai_widgets as xw                                   # doctest: +SKIP
    >>> model = xw.demo.efficientnet_lite0()                       # doctest: +SKIP
    >>> x = xw.demo.preprocess(xw.demo.load_image("chelsea"))      # doctest: +SKIP
    >>> a = xw.occlusion(model, x, window=(3, 32, 32), stride=(3, 16, 16))   # doctest: +SKIP
    >>> a.values.shape                                             # doctest: +SKIP
    (1, 3, 224, 224)
    """
    # ------------------------------------------------------- cheap checks
    model = check_model(model)
    xs, was_tuple = as_batches(inputs, model)
    kwargs = {k: normal_tensor(v) for k, v in check_forward_kwargs(forward_kwargs).items()}
    wins_in = _per_input(window, "window", xs, was_tuple)
    steps_in = _per_input(stride, "stride", xs, was_tuple)
    bases_in = _per_input(baseline, "baseline", xs, was_tuple)
    geoms: list[_Windows] = []
    bases: list[torch.Tensor] = []
    for i, x in enumerate(xs):
        label = f"[{i}]" if was_tuple else ""
        win = _as_shape(wins_in[i], f"window{label}", tuple(x.shape))
        steps = _as_shape(steps_in[i], f"stride{label}", tuple(x.shape))
        geoms.append(_Windows(tuple(x.shape[1:]), win, steps, label))
        bases.append(_baseline(bases_in[i], x, f"baseline{label}"))
    if output is not None and not callable(output):
        raise TypeError(f"output must be a callable mapping the model's output to (N, K) scores, got {output!r}")
    names = resolve_output_names(model, output_names)
    n = xs[0].shape[0]
    device = xs[0].device
    chunk = default_chunk(sum(n * g.count for g in geoms), batch_size)
    client = check_client(client)
    chunks = plan_chunks(n, per_row=sum(g.count for g in geoms), row_elements=elements(xs), batch_size=batch_size)
    if client is not None or len(chunks) > 1:
        # the validated baselines (batch axis of 1 or N rows) travel, so the chunks slice them by row
        return run_chunks(occlusion, dict(
            model=model, inputs=inputs, target=target, window=window, stride=stride,
            baseline=tuple(bases) if was_tuple else bases[0], batch_size=batch_size, output=output,
            forward_kwargs=forward_kwargs, output_names=output_names,
        ), row_args=("inputs", "target", "forward_kwargs", "baseline"), n=n, chunks=chunks, client=client,
            desc="occlusion")

    with model_as_found(model), torch.no_grad():
        for g in geoms:
            g.build(device)

        # ------------------------------ one forward pass on one row: output shape, target
        row0 = torch.zeros(1, dtype=torch.long, device=device)
        probe_in = tuple(x[:1] for x in xs)
        try:
            raw = model(*probe_in, **repeat_kwargs(kwargs, row0, n))
        except Exception as e:  # noqa: BLE001 - any failure of the user's model on well-formed input
            raise model_call_error(e, probe_in if was_tuple else probe_in[0],
                                   full=xs if was_tuple else xs[0]) from e
        probe = to_scores(raw, output, n=1)
        if probe.shape[0] != 1:
            raise ValueError(f"the model returned {probe.shape[0]} score rows for 1 input row")
        k = probe.shape[1]
        names = check_output_names(names, k, explicit=output_names is not None)
        if target is not None:
            resolve_target(target, probe.new_zeros(n, k), output_names=names)

        # ------------------------------------------------------ f(x), once
        if n == 1:
            full = probe
        else:
            full = torch.cat([
                to_scores(model(*(x[a:b] for x in xs),
                                **repeat_kwargs(kwargs, torch.arange(a, b, device=device), n)), output, n=b - a)
                for a, b in chunk_ranges(n, max(chunk, 1))
            ])
        if full.shape != (n, k):
            raise ValueError(f"the model's scores have shape {tuple(full.shape)}, expected ({n}, {k})")
        tgt = resolve_target(target, full, output_names=names)
        every = isinstance(tgt, str)
        f0 = full if every else gather(full, tgt)  # (N, K) or (N,)

        # ------------------------------------------- occluded copies, chunked
        n_chunks = sum(-(-(n * g.count) // chunk) for g in geoms)
        from ._progress import progress

        values = []
        with progress(total=n_chunks, desc="occlusion", unit="batch", disable=n_chunks < PROGRESS_MIN_CHUNKS) as bar:
            for i, (x, g, base) in enumerate(zip(xs, geoms, bases)):
                total = n * g.count
                drops = full.new_empty((total, k) if every else (total,))
                for a, b in chunk_ranges(total, chunk):
                    j = torch.arange(a, b, device=device)
                    rows = j // g.count
                    xb = x.expand(b - a, *g.dims) if n == 1 else x.index_select(0, rows)  # n == 1: no copy
                    bb = base if base.shape[0] == 1 else base.index_select(0, rows)
                    parts = [
                        torch.where(g.mask(j % g.count), bb, xb) if q == i else other.index_select(0, rows)
                        for q, other in enumerate(xs)
                    ]
                    scores = to_scores(model(*parts, **repeat_kwargs(kwargs, rows, n)), output, n=b - a)
                    if scores.shape != (b - a, k):
                        raise ValueError(
                            f"the model's scores have shape {tuple(scores.shape)} for {b - a} rows, "
                            f"expected ({b - a}, {k})"
                        )
                    if every:
                        drops[a:b] = f0.index_select(0, rows) - scores
                    else:
                        drops[a:b] = f0.index_select(0, rows) - gather(scores, tgt.index_select(0, rows))
                    bar.update()
                # ------------------------- spread drops back: separable contraction
                values.append(g.spread(drops, n, k if every else None).to(x.dtype))

    def pick(entries: list) -> Any:
        return tuple(entries) if was_tuple else entries[0]

    params = {
        "window": pick([g.win for g in geoms]),
        "stride": pick([g.steps for g in geoms]),
        "baseline": pick([_describe_baseline(b) for b in bases_in]),
        "batch_size": chunk,
        "windows": pick([g.count for g in geoms]),
        "target": "all" if every else None,
    }
    results = [
        Attribution(
            values=v,
            data=x,
            target=torch.arange(k) if every else tgt,
            outputs=f0,
            method="occlusion",
            params=dict(params),
            output_names=names,
        )
        for v, x in zip(values, xs)
    ]
    return pick(results)
