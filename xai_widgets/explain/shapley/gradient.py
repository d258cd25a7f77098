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
``1 / sqrt(samples)``. With ``multiply_by_inputs=False`` the values are the
expected gradients alone, without the ``(x − b)`` factor (Captum's "global"
variant), and promise no completeness.

For a model with several inputs (``x`` a tuple) one draw takes the same
background row and the same ``α`` for every input, as Captum does, and the
result is one attribution per input; their values add up jointly.
"""
from __future__ import annotations

from typing import Any, Sequence, Union

import numpy as np
import torch
from torch import nn
from .._progress import progress

from ...attribution import Attribution
from .._core import (
    OutputFn,
    Target,
    as_batches,
    ceil_div,
    check_forward_kwargs,
    check_model,
    check_output_names,
    check_positive_int,
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
from ._deeplift.inputs import check_background, check_bool, check_feature_names, check_seed, follow_model_dtype
from ._deeplift.results import attributions
from ._groups import parse_block_groups

__all__ = ["gradient_shap", "draw_baselines"]

#: A progress bar appears when a run has more passes than this.
PROGRESS_MIN_PASSES = 8

#: One tensor ``(N, ...)`` or a tuple of them (a model with several inputs).
Inputs = Union[torch.Tensor, np.ndarray, Sequence[torch.Tensor]]


def draw_baselines(n: int, samples: int, weights: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``(background row, α)`` pairs gradient_shap uses: two ``(n * samples,)`` tensors.

    Parameters
    ----------
    n : int
        Rows to explain.
    samples : int
        Draws per row.
    weights : tensor ``(B,)``
        Draw probabilities of the background rows.
    seed : int
        Seeds the private generator.

    Returns
    -------
    rows : LongTensor ``(n * samples,)``
        Background row of each draw.
    alphas : float64 tensor ``(n * samples,)``
        ``α ~ U(0, 1)`` of each draw.

    Notes
    -----
    Draw ``e = i * samples + s`` is sample ``s`` of row ``i``. Rows are drawn
    by ``weights`` (with replacement) and ``α`` uniformly, from a
    ``torch.Generator`` seeded with ``seed`` — reproducible, independent of
    ``batch_size``, and the global RNG is untouched.

    Example
    -------
    >>> rows, alphas = draw_baselines(2, 3, torch.tensor([0.0, 1.0]), seed=0)
    >>> rows.tolist(), alphas.shape
    ([1, 1, 1, 1, 1, 1], torch.Size([6]))
    """
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(seed))
    rows = torch.multinomial(weights.detach().cpu().to(torch.float64), n * samples, replacement=True, generator=gen)
    alphas = torch.rand(n * samples, generator=gen, dtype=torch.float64)
    return rows, alphas


def gradient_shap(
    model: nn.Module,
    x: Inputs,
    background: Any,
    *,
    samples: int = 200,
    target: Target = None,
    groups: Any = None,
    batch_size: int | None = None,
    seed: int = 0,
    output: OutputFn | None = None,
    forward_kwargs: dict | None = None,
    multiply_by_inputs: bool = True,
    feature_names: Sequence[str] | Sequence[Sequence[str] | None] | None = None,
    output_names: Sequence[str] | None = None,
) -> Attribution | tuple[Attribution, ...]:
    """Expected gradients: ``mean_s (x − b_s) · ∇f(b_s + α_s (x − b_s))`` over sampled baselines.

    Parameters
    ----------
    model : nn.Module
        A differentiable model, called as ``model(*inputs, **forward_kwargs)``;
        left as found.
    x : tensor or array ``(N, ...)``, or a tuple of them
        Float rows to explain; a tuple (sharing ``N``) for a model with
        several inputs.
    background : tensor, array, number, :class:`Background`, tuple or callable
        Baselines to draw from ``(B, ...)`` (a :class:`Background`'s weights
        are the draw probabilities; a number is one row filled with it). For
        tuple inputs a tuple with one per input, sharing ``B`` (a draw takes
        the same row of every part). A callable is evaluated once,
        ``background(x)`` (or ``background()``), on the validated inputs, and
        its result is checked like any background. The whole background is
        used (cost does not depend on ``B``); ``base_values`` is its weighted
        mean output.
    samples : int
        Draws per row (Captum's ``n_samples``).
    target : None, int, class name, one per row, or ``"all"``
        As for :func:`deep_shap` (0-d and one-element tensors broadcast).
    groups : optional
        Feature groups (see :mod:`._groups`): each group's value is the sum
        of its members' values, spread evenly over them in ``values`` and
        kept in ``group_values``. For tuple inputs, index lists count in the
        concatenation of all inputs' rows, or give a tuple of label maps
        (one per input; equal labels across inputs form one group).
    batch_size : int, optional
        Rows per forward/backward pass (default 16).
    seed : int
        Seeds a private ``torch.Generator`` (see :func:`draw_baselines`).
    output, forward_kwargs
        As for the gradient kernels.
    multiply_by_inputs : bool
        ``True`` (default): expected gradients times ``(x − b)``. ``False``:
        the expected gradients alone (Captum's
        ``GradientShap(model, multiply_by_inputs=False)``); ``delta`` is then
        None.
    feature_names : list of str, optional
        One name per element of a row of ``x``; for tuple inputs one list
        (or None) per input.
    output_names : list of str, optional
        Class names, one per output (default: a Hugging Face
        ``config.id2label`` or a ``model.output_names`` attribute).

    Returns
    -------
    Attribution, or a tuple of Attribution (one per input)
        ``values`` float64 like the input (``(N, K, ...)`` for ``"all"``),
        ``outputs`` ``f(x)``, ``base_values`` ``E_b f(b)``, ``delta`` the
        additivity residual of the sampling estimate over all inputs
        together (not zero).

    Notes
    -----
    See the module docstring for the method. Cost: ``N × samples`` forward
    and backward passes (one backward per output with ``target="all"``)
    in chunks of ``batch_size`` rows, plus one forward over ``x`` and the
    background. Bad arguments raise before any model call but one probe on
    one row; if that first call fails inside the model, a ``ValueError``
    names the input shapes (the error chained).

    Example
    -------
    >>> a = xw.gradient_shap(model, images, background, samples=100)   # doctest: +SKIP
    >>> a.delta                                                         # doctest: +SKIP
    >>> img, tab = xw.gradient_shap(two_input_model, (images, table), (img_bg, tab_bg))  # doctest: +SKIP
    """
    model = check_model(model)
    xs, was_tuple = as_batches(x, model, name="x")
    xs = follow_model_dtype(x, xs, model)
    samples = check_positive_int(samples, "samples")
    seed = check_seed(seed)
    multiply = check_bool(multiply_by_inputs, "multiply_by_inputs")
    names = check_feature_names(feature_names, xs, was_tuple)
    kwargs = check_forward_kwargs(forward_kwargs)
    if output is not None and not callable(output):
        raise TypeError(f"output must be a function mapping the model's output to scores, got {type(output).__name__}")
    batch_size = check_positive_int(batch_size, "batch_size", allow_none=True)
    row_shapes = [tuple(t.shape[1:]) for t in xs]
    grp = parse_block_groups(groups, row_shapes)
    names_explicit = output_names is not None
    out_names = resolve_output_names(model, output_names)
    bg = check_background(background, xs, was_tuple=was_tuple, summarize=False)
    n, nb = int(xs[0].shape[0]), len(bg)
    device = xs[0].device
    fkw = {k: (normal_tensor(v).to(device) if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}
    batched_kw = any(isinstance(v, torch.Tensor) and v.dim() >= 1 and v.shape[0] == n for v in fkw.values())

    def call(inp: tuple[torch.Tensor, ...], rows: torch.Tensor) -> torch.Tensor:
        kw = repeat_kwargs(fkw, rows, n) if batched_kw else fkw
        b = int(inp[0].shape[0])
        s = to_scores(model(*inp, **kw), output, n=b)
        if s.shape[0] != b:
            raise ValueError(f"the scores have {s.shape[0]} rows for a batch of {b}; the model (or "
                             "output=) must keep the batch axis first")
        return s

    def rows_of(part: Sequence[torch.Tensor], a: int, b: int) -> tuple[torch.Tensor, ...]:
        return tuple(t[a:b] for t in part)

    chunk = default_chunk(samples, batch_size)
    with model_as_found(model):
        # probe: one row with gradients (K, a differentiable path)
        leaves = tuple(t[:1].clone().requires_grad_() for t in xs)
        try:
            s0 = call(leaves, torch.zeros(1, dtype=torch.long, device=device))
        except Exception as e:  # noqa: BLE001 - any failure of the user's model on its first call
            first = tuple(t[:1] for t in xs)
            raise model_call_error(e, first if was_tuple else first[0], full=xs if was_tuple else xs[0]) from e
        if not s0.is_floating_point() or not s0.requires_grad:
            raise ValueError(
                f"the model's scores do not depend on {'any of the inputs' if was_tuple else 'x'} through a "
                "differentiable path, so there is no gradient to attribute; check that output= does not detach "
                "or round the scores"
            )
        k = int(s0.shape[1])
        del s0, leaves
        out_names = check_output_names(out_names, k, names_explicit)
        spec: Any = None if target is None else resolve_target(target, torch.zeros(n, k, device=device), out_names)
        with torch.no_grad():
            fx = torch.cat([call(rows_of(xs, a, b), torch.arange(a, b, device=device))
                            for a, b in chunk_ranges(n, chunk)])
            fb = torch.cat([call(rows_of(bg.parts, a, b), torch.zeros(b - a, dtype=torch.long, device=device))
                            for a, b in chunk_ranges(nb, chunk)]) if not batched_kw else None
        if fb is None:  # batched forward kwargs: each row's base value uses its own kwargs
            with torch.no_grad():
                fb_rows = []
                for r in range(n):
                    rr = torch.full((nb,), r, dtype=torch.long, device=device)
                    fb_rows.append(torch.cat([call(rows_of(bg.parts, a, b), rr[a:b])
                                              for a, b in chunk_ranges(nb, chunk)]))
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
        accs = [torch.zeros((t_count, n) + rs, dtype=torch.float64, device=device) for rs in row_shapes]
        total = n * samples
        chunk = ceil_div(total, ceil_div(total, chunk))
        ranges = list(chunk_ranges(total, chunk))
        bar = progress(ranges, total=len(ranges), desc="gradient_shap", unit="pass", disable=len(ranges) <= PROGRESS_MIN_PASSES)
        try:
            for e0, e1 in bar:
                e = torch.arange(e0, e1, device=device)
                row = torch.div(e, samples, rounding_mode="floor")
                xr = tuple(t[row] for t in xs)
                br = tuple(t[rows_idx[e]] for t in bg.parts)
                # one (background row, α) per draw, shared by every input (as Captum draws them)
                pts = tuple((alphas[e].to(a.dtype).view((-1,) + (1,) * (a.dim() - 1)) * a
                             + (1.0 - alphas[e].to(a.dtype).view((-1,) + (1,) * (a.dim() - 1))) * c
                             ).detach().requires_grad_() for a, c in zip(xr, br))  # Captum's _scale_input
                s = call(pts, row)
                tl = ([torch.full((e1 - e0,), c, dtype=torch.long, device=device) for c in range(k)]
                      if is_all else [spec[row]])
                factors = [(a - c).to(torch.float64) if multiply else None for a, c in zip(xr, br)]
                for ti, t in enumerate(tl):
                    gs = torch.autograd.grad(gather(s, t).sum(), pts, retain_graph=ti < len(tl) - 1,
                                             allow_unused=True)
                    for j, g in enumerate(gs):
                        if g is not None:  # an input the target does not depend on keeps zeros
                            g = g.to(torch.float64)
                            accs[j][ti].index_add_(0, row, g * factors[j] if multiply else g)
                del s, pts
        finally:
            bar.close()
    values = [a / samples for a in accs]  # (T, N, ...) per input
    group_values = None
    if grp.given:
        flat = torch.cat([v.reshape(t_count, n, -1) for v in values], dim=-1)
        labels = torch.as_tensor(grp.labels, device=device)
        gv = torch.zeros(t_count, n, grp.n, dtype=torch.float64, device=device)
        gv.index_add_(2, labels, flat)
        sizes = torch.as_tensor(grp.sizes, dtype=torch.float64, device=device)
        spread = gv[..., labels] / sizes[labels]
        widths = [int(np.prod(rs, dtype=np.int64)) for rs in row_shapes]
        values = [p.reshape(v.shape) for p, v in zip(torch.split(spread, widths, dim=-1), values)]
        joint = gv.movedim(0, 1) if is_all else gv[0]
        group_values = [joint] * len(values)
    if is_all:
        outputs, base_values = fx, base
        vals = [v.movedim(0, 1) for v in values]
        tgt = np.arange(k)
    else:
        outputs, base_values = gather(fx, spec), gather(base, spec)
        vals = [v[0] for v in values]
        tgt = spec.cpu().numpy()
    params = {"samples": samples, "seed": seed, "batch_size": chunk, "stdevs": 0.0, "multiply_by_inputs": multiply,
              **bg.params()}
    if grp.given:
        params["groups"] = grp.n
        if grp.names is not None:
            params["group_names"] = list(grp.names)
    if is_all:
        params["target"] = "all"
    return attributions(
        vals, xs, was_tuple=was_tuple, target=tgt, outputs=outputs, base_values=base_values, method="gradient_shap",
        params=params, feature_names=names, output_names=out_names, per_output=is_all, complete=multiply,
        group_values=group_values,
    )
