"""Gradient SHAP: expected gradients (Erion et al. 2021), as Captum's ``GradientShap``.

``φ_j(x) = E_{b ~ background, α ~ U(0, 1)} [(x_j − b_j) · ∂f/∂x_j (b + α (x − b))]``

is integrated gradients averaged over baselines drawn from the background;
for a model that is linear (or additive) in its inputs it equals
``w · (x − E[b])``. The expectation is estimated by ``samples`` draws of a
background row ``b`` (by the background weights) and ``α`` per input row.
This is Captum's ``GradientShap`` with ``stdevs=0`` (no extra input noise):
Captum evaluates the gradient at ``α x + (1 − α) b``, as here.

``values`` add up to ``f(x) − E_b f(b)`` only in expectation: ``delta``
reports the residual of this sampling estimate, which shrinks like
``1 / sqrt(samples)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ...attribution import Attribution
from .._core import (
    OutputFn,
    Target,
    as_batch,
    ceil_div,
    check_forward_kwargs,
    check_model,
    check_positive_int,
    chunk_ranges,
    default_chunk,
    gather,
    model_as_found,
    repeat_kwargs,
    resolve_target,
    to_scores,
)
from ._deeplift.inputs import check_background, check_seed, follow_model_dtype
from ._groups import parse_groups

__all__ = ["gradient_shap", "draw_baselines"]

#: A progress bar appears when a run has more passes than this.
PROGRESS_MIN_PASSES = 8


def draw_baselines(n: int, samples: int, weights: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``(background row, α)`` pairs gradient_shap uses: two ``(n * samples,)`` tensors.

    Draw ``e = i * samples + s`` is sample ``s`` of row ``i``. Rows are drawn
    by ``weights`` (with replacement) and ``α ~ U(0, 1)`` (float64), from a
    ``torch.Generator`` seeded with ``seed`` — reproducible, independent of
    ``batch_size``, and the global RNG is untouched.
    """
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(seed))
    rows = torch.multinomial(weights.detach().cpu().to(torch.float64), n * samples, replacement=True, generator=gen)
    alphas = torch.rand(n * samples, generator=gen, dtype=torch.float64)
    return rows, alphas


def gradient_shap(
    model: nn.Module,
    x: Any,
    background: Any,
    *,
    samples: int = 200,
    target: Target = None,
    groups: Any = None,
    batch_size: int | None = None,
    seed: int = 0,
    output: OutputFn | None = None,
    forward_kwargs: dict | None = None,
) -> Attribution:
    """Expected gradients: ``mean_s (x − b_s) · ∇f(b_s + α_s (x − b_s))`` over sampled baselines.

    Parameters
    ----------
    model : nn.Module
        A differentiable model; left as found.
    x : tensor or array ``(N, ...)``
        Float rows to explain.
    background : tensor, array or :class:`Background` ``(B, ...)``
        Baselines to draw from (a :class:`Background`'s weights are the
        draw probabilities). The whole background is used (cost does not
        depend on ``B``); ``base_values`` is its weighted mean output.
    samples : int
        Draws per row (Captum's ``n_samples``).
    target : None, int, one int per row, or ``"all"``
    groups : optional
        Feature groups (see :mod:`._groups`): each group's value is the sum
        of its members' values, spread evenly over them in ``values`` and
        kept in ``group_values``.
    batch_size : int, optional
        Rows per forward/backward pass (default 16).
    seed : int
        Seeds a private ``torch.Generator`` (see :func:`draw_baselines`).
    output, forward_kwargs
        As for the gradient kernels.

    Returns
    -------
    Attribution
        ``values`` float64 like ``x`` (``(N, K, ...)`` for ``"all"``),
        ``outputs`` ``f(x)``, ``base_values`` ``E_b f(b)``, ``delta`` the
        additivity residual of the sampling estimate (not zero).

    Cost
    ----
    ``N × samples`` forward and backward passes (one backward per output
    with ``target="all"``) in chunks of ``batch_size`` rows, plus one
    forward over ``x`` and the background.

    Example
    -------
    >>> a = xw.gradient_shap(model, images, background, samples=100)   # doctest: +SKIP
    >>> a.delta                                                         # doctest: +SKIP
    """
    model = check_model(model)
    xt = follow_model_dtype(x, as_batch(x, model, name="x"), model)
    bg = check_background(background, xt, summarize=False)
    samples = check_positive_int(samples, "samples")
    seed = check_seed(seed)
    kwargs = check_forward_kwargs(forward_kwargs)
    if output is not None and not callable(output):
        raise TypeError(f"output must be a function mapping the model's output to scores, got {type(output).__name__}")
    batch_size = check_positive_int(batch_size, "batch_size", allow_none=True)
    row_shape = tuple(xt.shape[1:])
    grp = parse_groups(groups, row_shape)
    n, nb = int(xt.shape[0]), len(bg)
    device = xt.device
    fkw = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}
    batched_kw = any(isinstance(v, torch.Tensor) and v.dim() >= 1 and v.shape[0] == n for v in fkw.values())

    def call(inp: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        kw = repeat_kwargs(fkw, rows, n) if batched_kw else fkw
        s = to_scores(model(inp, **kw), output)
        if s.shape[0] != inp.shape[0]:
            raise ValueError(f"the scores have {s.shape[0]} rows for a batch of {inp.shape[0]}; the model (or "
                             "output=) must keep the batch axis first")
        return s

    chunk = default_chunk(samples, batch_size)
    with model_as_found(model):
        # probe: one row with gradients (K, a differentiable path)
        leaf = xt[:1].clone().requires_grad_()
        s0 = call(leaf, torch.zeros(1, dtype=torch.long, device=device))
        if not s0.is_floating_point() or not s0.requires_grad:
            raise ValueError(
                "the model's scores do not depend on x through a differentiable path, so there is no gradient "
                "to attribute; check that output= does not detach or round the scores"
            )
        k = int(s0.shape[1])
        del s0, leaf
        spec: Any = None if target is None else resolve_target(target, torch.zeros(n, k, device=device))
        with torch.no_grad():
            fx = torch.cat([call(xt[a:b], torch.arange(a, b, device=device)) for a, b in chunk_ranges(n, chunk)])
            fb = torch.cat([call(bg.data[a:b], torch.zeros(b - a, dtype=torch.long, device=device))
                            for a, b in chunk_ranges(nb, chunk)]) if not batched_kw else None
        if fb is None:  # batched forward kwargs: each row's base value uses its own kwargs
            with torch.no_grad():
                fb_rows = []
                for r in range(n):
                    rr = torch.full((nb,), r, dtype=torch.long, device=device)
                    fb_rows.append(torch.cat([call(bg.data[a:b], rr[a:b]) for a, b in chunk_ranges(nb, chunk)]))
            base = torch.stack([(f.double() * bg.weights[:, None]).sum(0) for f in fb_rows])
        else:
            base = (fb.double() * bg.weights[:, None]).sum(0, keepdim=True).expand(n, k)
        fx = fx.double()
        if not torch.isfinite(fx).all() or not torch.isfinite(base).all():
            raise ValueError("the model returned NaN or inf scores on x or the background")
        if spec is None:
            spec = fx.argmax(1)
        is_all = isinstance(spec, str)
        t_count = k if is_all else 1
        rows_idx, alphas = draw_baselines(n, samples, bg.weights, seed)
        rows_idx, alphas = rows_idx.to(device), alphas.to(device)
        acc = torch.zeros((t_count, n) + row_shape, dtype=torch.float64, device=device)
        total = n * samples
        chunk = ceil_div(total, ceil_div(total, chunk))
        ranges = list(chunk_ranges(total, chunk))
        shape1 = (-1,) + (1,) * len(row_shape)
        bar = tqdm(ranges, total=len(ranges), desc="gradient_shap", leave=False, delay=1.0,
                   disable=len(ranges) <= PROGRESS_MIN_PASSES)
        try:
            for e0, e1 in bar:
                e = torch.arange(e0, e1, device=device)
                row = torch.div(e, samples, rounding_mode="floor")
                xr, br = xt[row], bg.data[rows_idx[e]]
                a = alphas[e].to(xt.dtype).view(shape1)
                pts = (a * xr + (1.0 - a) * br).detach().requires_grad_()  # Captum's _scale_input
                s = call(pts, row)
                tl = ([torch.full((e1 - e0,), c, dtype=torch.long, device=device) for c in range(k)]
                      if is_all else [spec[row]])
                d = (xr - br).to(torch.float64)
                for ti, t in enumerate(tl):
                    (g,) = torch.autograd.grad(gather(s, t).sum(), pts, retain_graph=ti < len(tl) - 1)
                    acc[ti].index_add_(0, row, g.to(torch.float64) * d)
                del s, pts
        finally:
            bar.close()
    values = acc / samples  # (T, N, ...)
    flat = values.reshape(t_count, n, -1)
    labels = torch.as_tensor(grp.labels, device=device)
    group_values = None
    if grp.given:
        gv = torch.zeros(t_count, n, grp.n, dtype=torch.float64, device=device)
        gv.index_add_(2, labels, flat)
        sizes = torch.as_tensor(grp.sizes, dtype=torch.float64, device=device)
        flat = gv[..., labels] / sizes[labels]
        values = flat.reshape(values.shape)
        group_values = gv.movedim(0, 1) if is_all else gv[0]
    sums = flat.sum(-1)  # (T, N)
    if is_all:
        outputs, base_values = fx, base
        delta = sums.T - (fx - base)
        vals = values.movedim(0, 1)
        tgt = np.arange(k)
    else:
        outputs, base_values = gather(fx, spec), gather(base, spec)
        delta = sums[0] - (outputs - base_values)
        vals = values[0]
        tgt = spec.cpu().numpy()
    params = {"samples": samples, "seed": seed, "batch_size": chunk, "stdevs": 0.0, **bg.params()}
    if grp.given:
        params["groups"] = grp.n
        if grp.names is not None:
            params["group_names"] = list(grp.names)
    if is_all:
        params["target"] = "all"
    return Attribution(
        values=vals.cpu(),
        data=xt.detach().cpu(),
        target=tgt,
        outputs=outputs.cpu(),
        base_values=base_values.cpu(),
        method="gradient_shap",
        params=params,
        delta=delta.cpu(),
        group_values=None if group_values is None else group_values.cpu(),
    )
