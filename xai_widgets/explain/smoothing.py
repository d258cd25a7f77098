"""SmoothGrad (Smilkov et al. 2017) and its squared and VarGrad variants: an attribution
averaged over noisy copies of the input. Shared behaviour: see :mod:`.gradients`."""
from __future__ import annotations

import numbers
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ._baselines import baseline_pass, baselines
from ._core import OutputFn, Target, check_positive_int, model_as_found
from .distributed import check_client, row_generator, row_offset
from ._engine import Engine, Inputs, Parts, Result, check_choice, finish, widest
from .integrated import check_steps_method
from .quadrature import quadrature

__all__ = ["smoothgrad", "SMOOTHGRAD_KINDS", "SMOOTHGRAD_BASES"]

SMOOTHGRAD_KINDS = ("smoothgrad", "smoothgrad_sq", "vargrad")
SMOOTHGRAD_BASES = ("saliency", "integrated_gradients")


def smoothgrad(
    model: nn.Module,
    inputs: Inputs,
    target: Target = None,
    *,
    kind: str = "smoothgrad",
    base: str = "saliency",
    samples: int = 25,
    noise: float = 0.15,
    seed: int = 0,
    batch_size: int | None = None,
    layer: nn.Module | str | None = None,
    layer_input: bool = False,
    output: OutputFn | None = None,
    forward_kwargs: dict | None = None,
    steps: int = 20,
    output_names: Sequence[str] | None = None,
    client: Any = None,
) -> Result:
    """SmoothGrad (Smilkov et al. 2017): average an attribution over noisy copies of the input.

    Parameters
    ----------
    model : nn.Module
    inputs : tensor ``(N, ...)`` or tuple of tensors
        With a tuple, every input gets its own noise (scaled by its own
        rows' ranges) and its own Attribution.
    target : None, int, sequence of N ints, class name, or ``"all"``
        Chosen on the clean input.
    kind : str
        ``"smoothgrad"`` (mean), ``"smoothgrad_sq"`` (mean of squares) or
        ``"vargrad"`` (variance).
    base : str
        The attribution averaged: ``"saliency"`` (``|gradient|``, as Captum's
        ``Saliency``) or ``"integrated_gradients"`` (``steps`` Gauss–Legendre
        points from a zero baseline to each noisy copy).
    samples : int >= 1
        Noisy copies per row.
    noise : float >= 0
        Noise level as a fraction of each row's value range (see Notes).
    seed : int
        Seed of the noise generator.
    batch_size : int, optional
        Rows per forward/backward pass (``samples * steps`` rows per input
        run in chunks of at most this).
    layer, layer_input, output, forward_kwargs, output_names
        See :func:`saliency`. With ``layer=`` the noise is added to the
        layer's tensor instead (so token ids work).
    steps : int >= 1
        Integration steps when ``base="integrated_gradients"``.
    client : dask.distributed.Client, optional
        Explain the row chunks on its workers (the model sent once; e.g.
        ``xw.local_cluster()``); the result equals the in-process one. Rows
        are chunked the same way with or without it (see
        :mod:`xai_widgets.explain.distributed`); a closed client or another
        object raises before any model call.

    Returns
    -------
    Attribution or tuple of Attribution
        ``values`` ``(N, ...)`` (the layer tensor's shape with ``layer=``;
        ``(N, K, ...)`` for ``"all"``), ``outputs`` f(x) on the clean input.
        One per input for tuple inputs (without ``layer=``).

    Notes
    -----
    Each row ``x_i`` gets ``samples`` copies ``x_i + sigma_i * eps`` with
    ``eps ~ N(0, 1)`` and ``sigma_i = noise * (max(x_i) - min(x_i))`` — the
    noise level is a **fraction of each row's value range** (not an
    absolute standard deviation as in Captum's ``NoiseTunnel``). Each row's
    noise comes from its own ``torch.Generator`` seeded with ``(seed, row
    index)``: results are reproducible, independent of ``batch_size`` and of
    how rows are split into chunks (``client=``), and the global RNG is
    untouched.

    Example
    -------
    >>> a = xw.smoothgrad(model, images, samples=25, noise=0.15)          # doctest: +SKIP
    >>> v = xw.smoothgrad(model, images, kind="vargrad", seed=1)          # doctest: +SKIP
    """
    kind = check_choice(kind, "kind", SMOOTHGRAD_KINDS)
    base = check_choice(base, "base", SMOOTHGRAD_BASES)
    samples = check_positive_int(samples, "samples")
    if isinstance(noise, (bool, np.bool_)) or not isinstance(noise, numbers.Real):
        raise TypeError(f"noise must be a number (a fraction of each row's value range), got {noise!r}")
    noise = float(noise)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0 (a fraction of each row's value range), got {noise}")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {seed!r}")
    use_ig = base == "integrated_gradients"
    if use_ig:
        steps, _ = check_steps_method(steps, "gausslegendre")
    client = check_client(client)
    run = Engine(
        model, inputs, layer=layer, layer_input=layer_input, output=output, forward_kwargs=forward_kwargs,
        batch_size=batch_size, output_names=output_names,
    )
    split = run.split(smoothgrad, dict(
        model=model, inputs=inputs, target=target, kind=kind, base=base, samples=samples, noise=noise, seed=seed,
        batch_size=batch_size, layer=layer, layer_input=layer_input, output=output, forward_kwargs=forward_kwargs,
        steps=steps, output_names=output_names,
    ), per_row=samples * (steps if use_ig else 1), client=client, desc="smoothgrad")
    if split is not None:
        return split
    with model_as_found(run.model):
        probe_scores, probe_leaves = run.probe()
        spec = run.check_target(target)
        first = (probe_scores.detach(), None if run.tap is None else probe_leaves[0].detach())
        del probe_scores, probe_leaves
        sx, zx = run.evaluate(run.xs, first=first, capture=run.tap is not None)
        if spec is None:
            spec = sx.argmax(1)
        xs = run.xs if run.tap is None else (zx,)
        sb = bs = None
        if use_ig:
            b0 = baselines(None, run)
            sb, zb = baseline_pass(run, b0)
            bs = tuple(b.expand_as(x) for b, x in zip(b0, run.xs)) if run.tap is None else (zb,)
        sigmas = [(x.reshape(run.n, -1).max(1).values - x.reshape(run.n, -1).min(1).values) * noise for x in xs]
        row0 = row_offset()
        gen = row_generator(int(seed), row0)
        noisy: dict[int, Parts] = {}
        drawn = [0]  # pairs are drawn in order, each part one generator call → chunking-invariant

        def noisy_point(p: int) -> Parts:
            nonlocal gen
            while drawn[0] <= p:
                q = drawn[0]
                row = q // samples
                if q % samples == 0 and q:
                    # one generator per row, seeded by (seed, global row): the same noise whatever the
                    # row chunks (or the batch_size)
                    gen = row_generator(int(seed), row0 + row)
                noisy[q] = tuple(
                    x[row] + s[row] * torch.randn(tuple(x.shape[1:]), generator=gen, dtype=x.dtype).to(run.device)
                    for x, s in zip(xs, sigmas)
                )
                drawn[0] += 1
            return noisy[p]

        def stacked(pairs: Iterable[int]) -> Parts:
            pts = [noisy_point(int(p)) for p in pairs]
            return tuple(torch.stack([pt[j] for pt in pts]) for j in range(len(xs)))

        T = run.k if isinstance(spec, str) else 1
        s1 = [torch.zeros((T,) + tuple(x.shape), dtype=x.dtype, device=run.device) for x in xs]
        s2 = [torch.zeros_like(s) for s in s1] if kind != "smoothgrad" else None

        def row_of(pair: torch.Tensor) -> torch.Tensor:
            return torch.div(pair, samples, rounding_mode="floor")

        if use_ig:
            alphas_np, weights_np = quadrature("gausslegendre", steps)
            wide = widest(xs)
            alphas = torch.as_tensor(alphas_np, dtype=wide, device=run.device)
            weights = torch.as_tensor(weights_np, dtype=wide, device=run.device)

            def point_of(pair: torch.Tensor, step: torch.Tensor) -> Parts:
                rows = row_of(pair)
                al = alphas.index_select(0, step)
                out = []
                for pts, b in zip(stacked(pair.tolist()), bs):
                    b_rows = b.index_select(0, rows)
                    out.append(b_rows + al.to(pts.dtype).view((-1,) + (1,) * (pts.dim() - 1)) * (pts - b_rows))
                return tuple(out)
        else:
            steps, weights = 1, None

            def point_of(pair: torch.Tensor, step: torch.Tensor) -> Parts:
                return stacked(pair.tolist())

        def finalize(lo: int, hi: int, accs: Parts) -> None:
            pairs = torch.arange(lo, hi, device=run.device)
            rows = row_of(pairs)
            pts = stacked(range(lo, hi)) if use_ig else None
            for j, acc in enumerate(accs):
                attr = acc * (pts[j] - bs[j].index_select(0, rows)) if use_ig else acc.abs()
                s1[j].index_add_(1, rows, attr)
                if s2 is not None:
                    s2[j].index_add_(1, rows, attr * attr)
            for p in range(lo, hi):
                noisy.pop(p, None)

        run.path_grads(
            n_pairs=run.n * samples, steps=steps, row_of=row_of, point_of=point_of, weights=weights,
            spec=spec, finalize=finalize, desc="smoothgrad", rows_per_input=samples * steps,
        )
        values = []
        for j in range(len(xs)):
            mean = s1[j] / samples
            if kind == "smoothgrad":
                values.append(mean)
            elif kind == "smoothgrad_sq":
                values.append(s2[j] / samples)
            else:
                values.append((s2[j] / samples - mean * mean).clamp_min_(0))
        params = {
            "kind": kind, "base": base, "samples": samples, "noise": noise, "seed": int(seed),
            "batch_size": run.batch_size,
        }
        if use_ig:
            params.update(steps=steps, method="gausslegendre")
        return finish(values, run, spec, sx, method="smoothgrad", params=params, base=sb)
