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

from ...attribution import Attribution
from .._core import OutputFn, Target, check_positive_int, chunk_ranges, default_chunk, gather, model_as_found
from .._engine import Engine, balanced
from ..distributed import check_client, row_generator, row_offset
from ._deeplift.inputs import check_background, check_bool, check_feature_names, check_seed, follow_model_dtype
from ._deeplift.results import attributions
from ._groups import parse_block_groups

__all__ = ["gradient_shap", "draw_baselines"]

#: One tensor ``(N, ...)`` or a tuple of them (a model with several inputs).
Inputs = Union[torch.Tensor, np.ndarray, Sequence[torch.Tensor]]


def draw_baselines(n: int, samples: int, weights: torch.Tensor, seed: int, row0: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
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
        Seeds the private generators.
    row0 : int
        Global index of row 0 (a chunk of a larger batch draws what the
        whole batch draws for those rows).

    Returns
    -------
    rows : LongTensor ``(n * samples,)``
        Background row of each draw.
    alphas : float64 tensor ``(n * samples,)``
        ``α ~ U(0, 1)`` of each draw.

    Notes
    -----
    Draw ``e = i * samples + s`` is sample ``s`` of row ``i``. Rows are drawn
    by ``weights`` (with replacement) and ``α`` uniformly, from one
    ``torch.Generator`` per row seeded with ``(seed, row0 + i)`` —
    reproducible, independent of ``batch_size`` and of row chunks
    (``client=``), and the global RNG is untouched.

    Example
    -------
    >>> rows, alphas = draw_baselines(2, 3, torch.tensor([0.0, 1.0]), seed=0)
    >>> rows.tolist(), alphas.shape
    ([1, 1, 1, 1, 1, 1], torch.Size([6]))
    """
    w = weights.detach().cpu().to(torch.float64)
    rows = torch.empty(n * samples, dtype=torch.long)
    alphas = torch.empty(n * samples, dtype=torch.float64)
    for i in range(n):
        gen = row_generator(int(seed), int(row0) + i)
        torch.multinomial(w, samples, replacement=True, generator=gen, out=rows[i * samples:(i + 1) * samples])
        torch.rand(samples, generator=gen, dtype=torch.float64, out=alphas[i * samples:(i + 1) * samples])
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
    client: Any = None,
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
    client : dask.distributed.Client, optional
        Explain the row chunks on its workers (model and background sent once; e.g.
        ``xw.local_cluster()``); the result equals the in-process one. Rows
        are chunked the same way with or without it (see
        :mod:`xai_widgets.explain.distributed`); a closed client or another
        object raises before any model call.

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
    client = check_client(client)
    run = Engine(model, x, layer=None, output=output, forward_kwargs=forward_kwargs, batch_size=batch_size,
                 output_names=output_names, inputs_name="x")
    run.xs = xs = follow_model_dtype(x, run.xs, run.model)
    was_tuple, n, device = run.was_tuple, run.n, run.device
    samples = check_positive_int(samples, "samples")
    seed = check_seed(seed)
    multiply = check_bool(multiply_by_inputs, "multiply_by_inputs")
    names = check_feature_names(feature_names, xs, was_tuple)
    row_shapes = [tuple(t.shape[1:]) for t in xs]
    grp = parse_block_groups(groups, row_shapes)
    bg = check_background(background, xs, was_tuple=was_tuple, summarize=False)
    nb = len(bg)
    chunk = default_chunk(samples, run.batch_size)
    # chunks get the background as validated here (a callable evaluated once, on the whole batch)
    split = run.split(gradient_shap, dict(
        model=model, x=x, background=bg.as_background(was_tuple), samples=samples, target=target, groups=groups,
        batch_size=batch_size, seed=seed, output=output, forward_kwargs=forward_kwargs, multiply_by_inputs=multiply,
        feature_names=feature_names, output_names=output_names,
    ), per_row=samples, client=client, desc="gradient_shap", row_args=("x", "target", "forward_kwargs"))
    if split is not None:
        return split

    def forward(parts: Sequence[torch.Tensor], rows: torch.Tensor) -> torch.Tensor:
        """Scores of ``parts`` in chunks, no gradients; ``rows``: whose forward kwargs each row uses."""
        with torch.no_grad():
            return torch.cat([run.call(tuple(t[a:b] for t in parts), rows[a:b])[0]
                              for a, b in chunk_ranges(int(rows.numel()), chunk)])

    with model_as_found(run.model):
        s0, _ = run.probe()  # one row with gradients: K, a differentiable path, a readable model error
        k = run.k
        del s0
        out_names = run.output_names
        spec: Any = run.check_target(target)
        fx = forward(xs, torch.arange(n, device=device))
        if not run.batched_kwargs:
            base = (forward(bg.parts, torch.zeros(nb, dtype=torch.long, device=device)).double()
                    * bg.weights[:, None]).sum(0, keepdim=True).expand(n, k)
        else:  # batched forward kwargs: each row's base value uses its own kwargs
            base = torch.stack([
                (forward(bg.parts, torch.full((nb,), r, dtype=torch.long, device=device)).double()
                 * bg.weights[:, None]).sum(0)
                for r in range(n)
            ])
        fx = fx.double()
        if not torch.isfinite(fx).all() or not torch.isfinite(base).all():
            raise ValueError("the model returned NaN or inf scores on x or the background")
        if spec is None:
            spec = fx.argmax(1)
        is_all = isinstance(spec, str)
        t_count = k if is_all else 1
        rows_idx, alphas = draw_baselines(n, samples, bg.weights, seed, row0=row_offset())
        rows_idx, alphas = rows_idx.to(device), alphas.to(device)
        accs = [torch.zeros((t_count, n) + rs, dtype=torch.float64, device=device) for rs in row_shapes]

        def row_of(draw: torch.Tensor) -> torch.Tensor:
            return torch.div(draw, samples, rounding_mode="floor")

        def point_of(draw: torch.Tensor, step: torch.Tensor) -> tuple[torch.Tensor, ...]:
            # one (background row, α) per draw, shared by every input (as Captum draws them);
            # α x + (1 − α) b is Captum's _scale_input, kept term for term
            row, al = row_of(draw), alphas[draw]
            out = []
            for t, c in zip(xs, bg.parts):
                a = al.to(t.dtype).view((-1,) + (1,) * (t.dim() - 1))
                out.append(a * t[row] + (1.0 - a) * c[rows_idx[draw]])
            return tuple(out)

        def finalize(lo: int, hi: int, sums: tuple[torch.Tensor, ...]) -> None:
            draw = torch.arange(lo, hi, device=device)
            row = row_of(draw)
            for j, (g, t, c) in enumerate(zip(sums, xs, bg.parts)):
                g = g.to(torch.float64)
                if multiply:
                    g = g * (t[row] - c[rows_idx[draw]]).to(torch.float64)
                for ti in range(t_count):
                    accs[j][ti].index_add_(0, row, g[ti])

        run.path_grads(n_pairs=n * samples, steps=1, row_of=row_of, point_of=point_of, weights=None, spec=spec,
                       finalize=finalize, desc="gradient_shap", rows_per_input=samples)
        chunk = balanced(n * samples, chunk)
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
