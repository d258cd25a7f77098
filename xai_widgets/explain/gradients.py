"""Gradient-family attribution kernels: saliency, input × gradient,
integrated gradients and SmoothGrad (with its squared and VarGrad variants).

This module holds the plain-gradient kernels and is the import point of the
family: :func:`integrated_gradients` lives in :mod:`.integrated`,
:func:`smoothgrad` in :mod:`.smoothing`, the shared engine in
:mod:`._engine`, baselines in :mod:`._baselines` and the integration rules
in :mod:`.quadrature`.

Every kernel works in an *attribution space*: the inputs themselves, or —
with ``layer=`` — the output of one submodule (gradients are then taken with
respect to that output, as in Captum's ``Layer*`` methods), or with
``layer_input=True`` that submodule's input (Captum's
``attribute_to_layer_input=True``). Expanded batches (integration steps,
noise samples) run in chunks of at most ``batch_size`` rows, so peak memory
does not grow with ``steps`` or ``samples``.

Shared behaviour:

* ``inputs`` — a float tensor ``(N, ...)`` (integer token ids only with
  ``layer=``), or a tuple of such tensors sharing ``N`` for a model that
  takes several inputs: the model is called ``model(*inputs,
  **forward_kwargs)`` and, without ``layer=``, the result is a tuple of
  :class:`~xai_widgets.Attribution`, one per input, sharing ``target``,
  ``outputs`` and ``base_values``; where completeness is promised each holds
  the *joint* ``delta`` (the residual of the sum over all inputs' values).
  With ``layer=`` the layer's tensor is what is attributed: one Attribution.
* ``target`` — ``None`` (each row's top output), an int (also a 0-d or
  one-element tensor, or a numpy integer), one int per row, a class name
  (looked up in ``output_names``), or ``"all"`` (values gain an output
  axis: ``(N, K, ...)``).
* ``output_names`` — class names, one per output; by default read from a
  Hugging Face ``config.id2label`` or a ``model.output_names`` attribute.
  Stored on the result as ``Attribution.output_names``.
* ``output`` — maps the model's return value to ``(N, K)`` or ``(N,)`` scores
  (default: tensors, tuples, Hugging Face ``.logits``).
* ``forward_kwargs`` — extra model inputs (``attention_mask`` ...); batched
  tensors (first axis ``N``) are repeated alongside expanded batches.
* The model is left as found (modes, ``requires_grad``, buffers, hooks), it
  runs in eval mode, and gradient is enabled even under ``torch.no_grad()``
  or ``torch.inference_mode()``.
  Several kernels may run on the same model at once from different threads
  (see :func:`~xai_widgets.explain._core.model_as_found`); layer hooks act
  only for the thread that registered them.
* Bad arguments raise ``TypeError``/``ValueError`` before any expensive work:
  at most one forward pass on one row is used to learn the output shape. If
  that first forward pass fails inside the model, a ``ValueError`` names the
  input shapes it got (the original error chained).
"""
from __future__ import annotations
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from ._baselines import baseline_pass, baselines
from ._baselines import check_baseline as _baseline  # noqa: F401 - faithfulness and older code import it from here
from .distributed import check_client
from ._core import OutputFn, Target, chunk_ranges, default_chunk, model_as_found
from ._engine import Engine, Inputs, Result, bar, check_bool, finish
from .integrated import IG_METHODS, integrated_gradients  # noqa: F401 - the family's import point
from .quadrature import QUADRATURE_RULES, quadrature  # noqa: F401
from .smoothing import SMOOTHGRAD_BASES, SMOOTHGRAD_KINDS, smoothgrad  # noqa: F401

__all__ = ["saliency", "input_x_gradient", "integrated_gradients", "smoothgrad"]


# ========================================================== plain gradients
def _plain(run: Engine, target: Target, *, times_input: bool, absolute: bool) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor | str]:
    """Gradient (× input) per row in chunks. Returns ``(values, scores (N, K), spec)``, values one ``(T, N, ...)`` per part."""
    probe_scores, probe_leaves = run.probe()
    spec = run.check_target(target)
    lazy = spec is None
    if lazy:
        spec = torch.zeros(run.n, dtype=torch.long, device=run.device)
    chunk = default_chunk(run.n, run.batch_size)
    ranges = [(0, 1)] + [(a + 1, b + 1) for a, b in chunk_ranges(run.n - 1, chunk)]
    values: list[torch.Tensor] | None = None
    sx = torch.empty((run.n, run.k), dtype=probe_scores.dtype, device=run.device)
    for a, b in bar(ranges, len(ranges), "gradients"):
        rows = run.rows(a, b)
        if a == 0:
            scores, leaves = probe_scores, probe_leaves
            probe_scores = probe_leaves = None
        elif run.tap is None:
            leaves = tuple(x[a:b].clone().requires_grad_() for x in run.xs)
            scores, _ = run.call(leaves, rows)
        else:
            scores, z = run.call(tuple(x[a:b] for x in run.xs), rows, leaf=True)
            leaves = (z,)
        sx[a:b] = scores.detach()
        if lazy:
            spec[a:b] = scores.detach().argmax(1)
        grads = run.grads(scores, leaves, run.targets_for(spec, rows))
        if values is None:
            values = [
                torch.empty((len(grads), run.n) + tuple(g.shape[1:]), dtype=g.dtype, device=run.device) for g in grads[0]
            ]
        for t, gs in enumerate(grads):
            for j, g in enumerate(gs):
                if times_input:
                    g = g * leaves[j].detach()
                values[j][t, a:b] = g.abs() if absolute else g
        del scores, leaves, grads
    return values, sx, spec


def saliency(
    model: nn.Module,
    inputs: Inputs,
    target: Target = None,
    *,
    abs: bool = True,
    layer: nn.Module | str | None = None,
    layer_input: bool = False,
    output: OutputFn | None = None,
    forward_kwargs: dict | None = None,
    batch_size: int | None = None,
    output_names: Sequence[str] | None = None,
    client: Any = None,
) -> Result:
    """Gradient of the target score with respect to the input (Simonyan et al. 2014).

    Parameters
    ----------
    model : nn.Module
    inputs : tensor ``(N, ...)`` or tuple of tensors
        Float inputs; integer token ids only together with ``layer=``. A
        tuple is passed to the model as ``model(*inputs)``.
    target : None, int, sequence of N ints, class name, or ``"all"``
        See the module docstring.
    abs : bool
        Return ``|gradient|`` (default, as Captum's ``Saliency``) or the signed gradient.
    layer : submodule or dotted name, optional
        Take the gradient with respect to this layer's output instead.
    layer_input : bool
        With ``layer=``: take it with respect to the layer's input (its first
        positional tensor argument) instead of its output.
    output, forward_kwargs, batch_size, output_names
        See the module docstring; ``batch_size`` caps rows per forward pass.
    client : dask.distributed.Client, optional
        Explain the row chunks on its workers (the model sent once; e.g.
        ``xw.local_cluster()``); the result equals the in-process one. Rows
        are chunked the same way with or without it (see
        :mod:`xai_widgets.explain.distributed`); a closed client or another
        object raises before any model call.

    Returns
    -------
    Attribution or tuple of Attribution
        ``values`` ``(N, ...)`` like ``inputs`` (the layer tensor's shape with
        ``layer=``; ``(N, K, ...)`` for ``target="all"``), ``outputs`` the
        target scores ``(N,)``, ``delta`` None. One per input for tuple
        inputs (without ``layer=``).

    Example
    -------
    >>> a = xw.saliency(model, images)            # doctest: +SKIP
    >>> a.values.shape == tuple(images.shape)     # doctest: +SKIP
    True
    >>> img_attr, tab_attr = xw.saliency(two_input_model, (images, table))   # doctest: +SKIP
    """
    absolute = check_bool(abs, "abs")
    client = check_client(client)
    run = Engine(
        model, inputs, layer=layer, layer_input=layer_input, output=output, forward_kwargs=forward_kwargs,
        batch_size=batch_size, output_names=output_names,
    )
    split = run.split(saliency, dict(
        model=model, inputs=inputs, target=target, abs=absolute, layer=layer, layer_input=layer_input, output=output,
        forward_kwargs=forward_kwargs, batch_size=batch_size, output_names=output_names,
    ), per_row=1, client=client, desc="saliency")
    if split is not None:
        return split
    with model_as_found(run.model):
        values, sx, spec = _plain(run, target, times_input=False, absolute=absolute)
        return finish(values, run, spec, sx, method="saliency", params={"abs": absolute, "batch_size": run.batch_size})


def input_x_gradient(
    model: nn.Module,
    inputs: Inputs,
    target: Target = None,
    *,
    layer: nn.Module | str | None = None,
    layer_input: bool = False,
    output: OutputFn | None = None,
    forward_kwargs: dict | None = None,
    batch_size: int | None = None,
    output_names: Sequence[str] | None = None,
    client: Any = None,
) -> Result:
    """Input (or layer activation) times the gradient of the target score.

    Parameters
    ----------
    model : nn.Module
    inputs : tensor ``(N, ...)`` or tuple of tensors
    target : None, int, sequence of N ints, class name, or ``"all"``
    layer, layer_input, output, forward_kwargs, batch_size, output_names
        See :func:`saliency`.
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
        ``(N, K, ...)`` for ``"all"``), ``outputs`` f(x), ``base_values``
        f(0), ``delta`` None. One per input for tuple inputs.

    Notes
    -----
    It is the first-order Taylor term around a zero baseline, so
    ``base_values`` is ``f(0)`` (every input zero; with ``layer=``: the model
    with that layer's output, or input, set to zero). ``delta`` is None:
    ``values`` add up to ``f(x) - f(0)`` only for models that are linear in
    the input, so the method makes no completeness promise (use integrated
    gradients for that).

    Example
    -------
    >>> a = xw.input_x_gradient(model, x, target=2)   # doctest: +SKIP
    """
    client = check_client(client)
    run = Engine(
        model, inputs, layer=layer, layer_input=layer_input, output=output, forward_kwargs=forward_kwargs,
        batch_size=batch_size, output_names=output_names,
    )
    split = run.split(input_x_gradient, dict(
        model=model, inputs=inputs, target=target, layer=layer, layer_input=layer_input, output=output,
        forward_kwargs=forward_kwargs, batch_size=batch_size, output_names=output_names,
    ), per_row=1, client=client, desc="input_x_gradient")
    if split is not None:
        return split
    with model_as_found(run.model):
        values, sx, spec = _plain(run, target, times_input=True, absolute=False)
        if run.tap is None:
            base, _ = baseline_pass(run, baselines(None, run))
        else:  # zero layer tensor, per row (the rest of the model still sees the real input)
            zeros = torch.zeros((run.n,) + tuple(values[0].shape[2:]), dtype=values[0].dtype, device=run.device)
            base, _ = run.evaluate(run.xs, replace=zeros)
        return finish(
            values, run, spec, sx, method="input_x_gradient", params={"batch_size": run.batch_size}, base=base
        )
