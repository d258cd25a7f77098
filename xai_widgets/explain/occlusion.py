"""Occlusion: slide a baseline-filled window over the input, watch the score drop.

Semantics are exactly those of ``captum.attr.Occlusion``: the window slides
over every non-batch axis, starting at index 0 and moving by ``stride``
until the axis is covered (``ceil((D - w) / s) + 1`` positions per axis; the
last window may hang over the end and is cut off). The attribution of an
element is the mean, over the windows that cover it, of
``f(x)[t] - f(x with the window set to baseline)[t]``.

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
from ._core import (
    OutputFn,
    Target,
    as_batch,
    check_forward_kwargs,
    check_model,
    chunk_ranges,
    default_chunk,
    gather,
    model_as_found,
    repeat_kwargs,
    resolve_target,
    to_scores,
)

__all__ = ["occlusion"]

#: Show a progress bar when the occluded copies need at least this many forward passes.
PROGRESS_MIN_CHUNKS = 20


def _as_shape(value: Any, name: str, dims: tuple[int, ...]) -> tuple[int, ...]:
    nd = len(dims)
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        value = (int(value),) * nd
    if not isinstance(value, (tuple, list)) or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in value
    ):
        raise TypeError(f"{name} must be an int or a tuple of ints (one per input axis after the batch), got {value!r}")
    if len(value) != nd:
        raise ValueError(
            f"{name} has {len(value)} entries but the input has {nd} axes after the batch "
            f"(shape {dims}); give one per axis, e.g. {name}={tuple(min(3, d) for d in dims)}"
        )
    value = tuple(int(v) for v in value)
    if any(v < 1 for v in value):
        raise ValueError(f"{name} entries must be >= 1, got {value}")
    return value


def _baseline(baseline: Any, x: torch.Tensor) -> torch.Tensor:
    if isinstance(baseline, (bool, np.bool_)):
        raise TypeError(f"baseline must be a number or a tensor broadcastable to the input, got {baseline!r}")
    if isinstance(baseline, (int, float, np.integer, np.floating)):
        b = torch.tensor(float(baseline), dtype=x.dtype, device=x.device)
    elif isinstance(baseline, (torch.Tensor, np.ndarray)):
        b = torch.as_tensor(baseline).detach().to(device=x.device, dtype=x.dtype)
    else:
        raise TypeError(f"baseline must be a number or a tensor broadcastable to the input, got {type(baseline).__name__}")
    if not torch.isfinite(b).all():
        raise ValueError("baseline contains NaN or inf values")
    if b.dim() == x.dim() - 1:  # one row's shape: add the batch axis
        b = b[None]
    try:
        shape = torch.broadcast_shapes(b.shape, x.shape)
    except RuntimeError:
        shape = None
    if shape != x.shape or b.dim() > x.dim():
        raise ValueError(
            f"baseline of shape {tuple(b.shape)} does not broadcast to the input's shape {tuple(x.shape)}"
        )
    while b.dim() < x.dim():
        b = b[None]
    return b


def occlusion(
    model: nn.Module,
    inputs: torch.Tensor,
    target: Target = None,
    *,
    window: int | Sequence[int] = (3, 16, 16),
    stride: int | Sequence[int] = (3, 8, 8),
    baseline: float | torch.Tensor | np.ndarray = 0.0,
    batch_size: int | None = None,
    output: OutputFn | None = None,
    forward_kwargs: dict | None = None,
) -> Attribution:
    """Occlusion attributions (Zeiler & Fergus 2014), identical to ``captum.attr.Occlusion``.

    Parameters
    ----------
    model : torch.nn.Module
        Returns scores ``(N, K)`` (or anything ``output`` maps to them).
    inputs : tensor ``(N, ...)``
        The batch to explain, e.g. images ``(N, C, H, W)``.
    target : None, int, one int per row, or ``"all"``
        ``None`` explains each row's top class; ``"all"`` every output.
    window : int or tuple of ints
        The occluded block, one size per input axis after the batch
        (an int: the same on every axis). Each must fit the axis.
    stride : int or tuple of ints
        Step between windows per axis; at most the window size on axes the
        window does not fill (otherwise elements would go uncovered).
    baseline : float or tensor
        Value put in the window: a number, or a tensor broadcastable to the
        input (one row's shape, or with a batch axis of 1 or N).
    batch_size : int, optional
        Occluded copies per forward pass (default: a small constant).
    output : callable, optional
        Maps the model's return value to ``(N, K)`` scores.
    forward_kwargs : dict, optional
        Extra model inputs; batched tensors follow their rows.

    Returns
    -------
    Attribution
        ``values`` the input's shape ``(N, ...)`` (``(N, K, ...)`` for
        ``target="all"``); ``outputs`` ``f(x)[target]``; ``params`` window,
        stride, number of windows per row.

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
    x = as_batch(inputs, model)
    kwargs = check_forward_kwargs(forward_kwargs)
    dims = tuple(x.shape[1:])
    win = _as_shape(window, "window", dims)
    steps = _as_shape(stride, "stride", dims)
    for d, (size, w, s) in enumerate(zip(dims, win, steps)):
        if w > size:
            raise ValueError(f"window {win} does not fit the input: axis {d + 1} has size {size} < {w}")
        if size > w and s > w:
            raise ValueError(
                f"stride {steps} is larger than the window {win} on axis {d + 1}: elements would never be occluded"
            )
    base = _baseline(baseline, x)
    if output is not None and not callable(output):
        raise TypeError(f"output must be a callable mapping the model's output to (N, K) scores, got {output!r}")
    if isinstance(target, str) and target != "all":
        raise ValueError(f"target must be None, an int, one int per row or 'all'; got {target!r}")
    n = x.shape[0]
    shifts = tuple(math.ceil((size - w) / s) + 1 for size, w, s in zip(dims, win, steps))
    n_win = int(np.prod(shifts))
    total = n * n_win
    chunk = default_chunk(total, batch_size)

    # per-axis masks (shifts_d, size_d): window k covers [k*s, k*s + w) clipped to the axis
    masks = []
    for size, w, s, m in zip(dims, win, steps, shifts):
        start = torch.arange(m, device=x.device)[:, None] * s
        pos = torch.arange(size, device=x.device)[None, :]
        masks.append((pos >= start) & (pos < start + w))
    window_strides = [int(np.prod(shifts[d + 1:])) for d in range(len(dims))]

    with model_as_found(model), torch.no_grad():
        # ------------------------------ one forward pass on one row: output shape, target
        row0 = torch.zeros(1, dtype=torch.long, device=x.device)
        probe = to_scores(model(x[:1], **repeat_kwargs(kwargs, row0, n)), output)
        if probe.shape[0] != 1:
            raise ValueError(f"the model returned {probe.shape[0]} score rows for 1 input row")
        k = probe.shape[1]
        if target is not None and not isinstance(target, str):
            resolve_target(target, probe.new_zeros(n, k))

        # ------------------------------------------------------ f(x), once
        if n == 1:
            full = probe
        else:
            full = torch.cat([
                to_scores(model(x[a:b], **repeat_kwargs(kwargs, torch.arange(a, b, device=x.device), n)), output)
                for a, b in chunk_ranges(n, max(chunk, 1))
            ])
        if full.shape != (n, k):
            raise ValueError(f"the model's scores have shape {tuple(full.shape)}, expected ({n}, {k})")
        tgt = resolve_target(target, full)
        every = isinstance(tgt, str)
        f0 = full if every else gather(full, tgt)  # (N, K) or (N,)

        # ------------------------------------------- occluded copies, chunked
        drops = full.new_empty((total, k) if every else (total,))
        n_chunks = -(-total // chunk)
        from tqdm.auto import tqdm

        with tqdm(total=n_chunks, desc="occlusion", unit="batch", leave=False,
                  disable=n_chunks < PROGRESS_MIN_CHUNKS) as bar:
            for a, b in chunk_ranges(total, chunk):
                j = torch.arange(a, b, device=x.device)
                rows, wins = j // n_win, j % n_win
                mask = None
                for d, m in enumerate(masks):
                    md = m[(wins // window_strides[d]) % shifts[d]]  # (B, size_d)
                    md = md.view(md.shape[0], *([1] * d), md.shape[1], *([1] * (len(dims) - d - 1)))
                    mask = md if mask is None else mask & md
                xb = x.expand(b - a, *dims) if n == 1 else x.index_select(0, rows)  # n == 1: no copy
                bb = base if base.shape[0] == 1 else base.index_select(0, rows)
                occluded = torch.where(mask, bb, xb)
                scores = to_scores(model(occluded, **repeat_kwargs(kwargs, rows, n)), output)
                if scores.shape != (b - a, k):
                    raise ValueError(
                        f"the model's scores have shape {tuple(scores.shape)} for {b - a} rows, expected ({b - a}, {k})"
                    )
                if every:
                    drops[a:b] = f0.index_select(0, rows) - scores
                else:
                    drops[a:b] = f0.index_select(0, rows) - gather(scores, tgt.index_select(0, rows))
                bar.update()

    # ------------------------------------- spread drops back: separable contraction
    lead = (n, k) if every else (n,)
    acc = drops.double().reshape(n, *shifts, *((k,) if every else ()))
    if every:
        acc = acc.movedim(-1, 1)
    for m in masks:  # contract the first window axis with its mask; the element axis goes last
        acc = torch.tensordot(acc, m.double(), dims=([len(lead)], [0]))
    count = None
    for d, m in enumerate(masks):
        c = m.double().sum(0).view(*([1] * d), -1, *([1] * (len(dims) - d - 1)))
        count = c if count is None else count * c
    values = (acc / count).to(x.dtype)
    return Attribution(
        values=values,
        data=x,
        target=torch.arange(k) if every else tgt,
        outputs=f0,
        method="occlusion",
        params={
            "window": win,
            "stride": steps,
            "baseline": float(baseline) if isinstance(baseline, (int, float, np.integer, np.floating)) else "tensor",
            "batch_size": chunk,
            "windows": n_win,
            "target": "all" if every else None,
        },
    )
