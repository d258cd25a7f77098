"""Deep SHAP: DeepLIFT's rescale rule averaged over a background (Lundberg & Lee 2017).

For one input row ``x`` and one reference (background row) ``r``, DeepLIFT
(Shrikumar et al. 2017) propagates *multipliers* ``m = Δout / Δin`` from the
output back to the input, with ``Δ = value at x − value at r``:

* linear ops (conv, linear, BatchNorm in eval mode, add, average pooling,
  reshapes, ...) multiply by their matrix, as a gradient would;
* an elementwise nonlinearity ``y = g(u)`` uses ``Δy / Δu`` (the rescale
  rule), ``g'`` at the midpoint where ``Δu`` vanishes;
* a product of two activations ``a * b`` (also ``a @ b``, einsum) splits its
  change as ``ā Δb + b̄ Δa`` with ``ā = (a_x + a_r) / 2`` (exact, and the
  two-player Shapley value);
* softmax is ``exp(u − logsumexp(u))``: logsumexp as ``s + log Σ exp(u − s)``
  with ``s`` each side's own max (the max rule below), ``exp`` and ``log`` by
  the rescale rule — exact values and bounded multipliers however far apart
  the two sides' logits are (a shift shared by the pair would underflow
  ``exp`` on one side once they differ by more than ~745);
* LayerNorm/GroupNorm/RMSNorm are centring (linear), square and
  ``rsqrt(· + eps)`` (rescale), then centred values times scale, split so
  that it equals the Shapley split when both sides have the same spread and
  stays bounded when one side is nearly constant (a zero reference through
  BERT's LayerNorm with eps=1e-12);
* max pooling sends each output's change to one position (the input's
  argmax when the output grew, else the reference's; as shap's rule) with a
  multiplier in ``[0, 1]``.

Every rule satisfies ``Δout = Σ m Δin`` exactly, so the attributions
``φ(x; r) = m · (x − r)`` add up to ``f(x) − f(r)`` ("summation to delta")
up to float64 rounding. As in ``shap.DeepExplainer`` the values are averaged
over the background: ``values = Σ_b w_b φ(x; b)``, so
``values.sum() = f(x) − E_b f(b)``. With ``multiply_by_inputs=False`` the
values are the averaged multipliers ``Σ_b w_b m(x; b)`` alone (Captum's
"global" variant). A model with several inputs gets each input paired with
the same background row of every part; the multipliers of all inputs
together satisfy summation to delta, so the values add up jointly.

How: the model runs once per chunk on a stacked batch ``[x rows; reference
rows]`` inside a :class:`torch.overrides.TorchFunctionMode`
(:mod:`._deeplift`) that sees every torch call — ``F.relu``, ``torch.relu``,
``x.relu()``, ``x * y`` and the calls inside modules — and swaps each
nonlinear op's gradient for its DeepLIFT multiplier. No module hooks do the
math, so a module used several times in one forward pass (EfficientNet-Lite's
shared ``nn.ReLU6``, shap issue #3938) is handled per call. The pass runs in
float64 without touching the model: parameters are cast on the fly.
The mode is thread-local (PyTorch keeps the torch-function mode stack per
thread) and the module hooks act only in the running thread, so other
threads may run the same model (or other kernels on it) meanwhile.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Any, Iterator, Sequence, Union

import numpy as np
import torch
from torch import nn
from .._progress import progress
from ..distributed import check_client, elements, plan_chunks, run_chunks

from ...attribution import Attribution
from .._core import (
    DEFAULT_CHUNK,
    OutputFn,
    Target,
    as_batches,
    check_forward_kwargs,
    check_model,
    check_output_names,
    check_positive_int,
    chunk_ranges,
    gather,
    hooks,
    model_as_found,
    model_call_error,
    normal_tensor,
    repeat_kwargs,
    resolve_output_names,
    resolve_target,
    this_thread_only,
    to_scores,
)
from ._deeplift import DeepLiftMode, UnsupportedOperation, check_background, supported_ops
from ._deeplift.inputs import check_bool, check_feature_names, follow_model_dtype
from ._deeplift.results import attributions

__all__ = ["deep_shap", "UnsupportedOperation", "supported_ops", "ADDITIVITY_RTOL", "ADDITIVITY_ATOL"]

#: ``|delta| <= ADDITIVITY_RTOL * max|f(x) - E f(bg)| + ADDITIVITY_ATOL * max(1, |f|)`` is
#: checked after every run; a larger residual means an op escaped the rules and triggers a warning.
ADDITIVITY_RTOL = 1e-4
#: The rounding floor of that check: where f(x) = E f(bg) (a softmax that does not depend on the
#: input, however far apart the logits are) float64 rounding alone leaves a residual.
ADDITIVITY_ATOL = 1e-10
#: A progress bar appears when a run has more passes than this.
PROGRESS_MIN_PASSES = 8
#: Rows with more elements than this (images) run 4 rows (2 pairs) per pass by
#: default, smaller rows 16: one EfficientNet-Lite0 pair at 224x224 takes ~0.4 GB.
LARGE_ROW = 2**14

#: One tensor ``(N, ...)`` or a tuple of them (a model with several inputs).
Inputs = Union[torch.Tensor, np.ndarray, Sequence[torch.Tensor]]


@contextlib.contextmanager
def _closing(bar: Any) -> Iterator[Any]:
    try:
        yield bar
    finally:
        bar.close()


def _module_hooks(model: nn.Module, mode: DeepLiftMode) -> list:
    """Hook factories that keep ``mode.modules`` (a stack of module names) for error messages.

    The hooks act only in this thread: another thread's forward of the same model (another
    kernel, the user's own call) must not push onto this run's stack.
    """
    root = type(model).__name__
    makers = []
    for name, module in model.named_modules():
        label = name or root

        def pre(_m: nn.Module, _inp: Any, label: str = label) -> None:
            mode.modules.append(label)

        def post(_m: nn.Module, _inp: Any, _out: Any) -> None:
            if mode.modules:
                mode.modules.pop()

        makers.append(lambda module=module, pre=pre: module.register_forward_pre_hook(this_thread_only(pre)))
        makers.append(lambda module=module, post=post: module.register_forward_hook(this_thread_only(post)))
    return makers


def deep_shap(
    model: nn.Module,
    x: Inputs,
    background: Any,
    *,
    target: Target = None,
    batch_size: int | None = None,
    output: OutputFn | None = None,
    forward_kwargs: dict | None = None,
    multiply_by_inputs: bool = True,
    feature_names: Sequence[str] | Sequence[Sequence[str] | None] | None = None,
    output_names: Sequence[str] | None = None,
    summarize: bool = True,
    client: Any = None,
) -> Attribution | tuple[Attribution, ...]:
    """DeepLIFT (rescale rule) attributions averaged over a background, as ``shap.DeepExplainer``.

    Parameters
    ----------
    model : nn.Module
        Any differentiable model built from the supported ops (below); it is
        called as ``model(*inputs, **forward_kwargs)`` and left exactly as
        found (modes, ``requires_grad``, buffers, hooks).
    x : tensor or array ``(N, ...)``, or a tuple of them
        Float rows to explain; a tuple (sharing ``N``) for a model with
        several inputs.
    background : tensor, array, number, :class:`Background`, tuple or callable
        Reference rows ``(B, ...)`` (one row without the batch axis is
        accepted; a number is one row filled with it). For tuple inputs a
        tuple with one per input, sharing ``B``. A callable is evaluated
        once, ``background(x)`` (or ``background()``), on the validated
        inputs, and its result is checked like any background. Weights of a
        :class:`Background` are kept; more than 100 rows are summarised to
        50 weighted k-means centres, with a ``BackgroundSummaryWarning``
        (``summarize=False`` keeps every row).
    target : None, int, class name, one per row, or ``"all"``
        ``None`` explains each row's top output (of ``f(x)``); an int may
        also be a 0-d or one-element tensor or a numpy integer; a class
        name is looked up in ``output_names``; ``"all"`` gives values
        ``(N, K, ...)``.
    batch_size : int, optional
        Rows per forward pass (each input/reference pair takes two);
        default 16, or 4 when a row has more than 16384 elements (images).
    output : callable, optional
        Maps the model's return value to ``(N, K)`` scores; it runs inside
        the DeepLIFT pass, so a softmax in it gets the softmax rule.
    forward_kwargs : dict, optional
        Extra model inputs; batched tensors (first axis ``N``) follow their row.
    multiply_by_inputs : bool
        ``True`` (default): values are ``multiplier × (x − b)`` averaged
        over the background, adding up to ``f(x) − E f(b)``. ``False``:
        the averaged multipliers alone (Captum's "global" variant,
        ``DeepLiftShap(model, multiply_by_inputs=False)``); ``delta`` is
        then None.
    feature_names : list of str, optional
        One name per element of a row of ``x``; for tuple inputs one list
        (or None) per input.
    output_names : list of str, optional
        Class names, one per output (default: a Hugging Face
        ``config.id2label`` or a ``model.output_names`` attribute); stored
        as ``Attribution.output_names`` and used for class-name targets.
    summarize : bool
        Summarise a background of more than 100 rows (see ``background``).
    client : dask.distributed.Client, optional
        Explain the row chunks on its workers (model and background sent once; e.g.
        ``xw.local_cluster()``); the result equals the in-process one. Rows
        are chunked the same way with or without it (see
        :mod:`xai_widgets.explain.distributed`); a closed client or another
        object raises before any model call.

    Returns
    -------
    Attribution, or a tuple of Attribution (one per input)
        ``values`` float64 like the input (``(N, K, ...)`` for ``"all"``);
        ``outputs`` ``f(x)`` and ``base_values`` ``E_b f(b)`` (weighted),
        both from the float64 pass; ``delta`` the additivity residual
        ``Σ values − (outputs − base_values)`` over all inputs together —
        float64 rounding, at most ``1e-4 × max|outputs − base_values|``
        (checked; a warning otherwise); ``params["rules"]`` lists the
        nonlinear rules that were used.

    Notes
    -----
    The method (DeepLIFT's rules and how they run) is described in this
    module's docstring, :mod:`xai_widgets.explain.shapley.deep`.

    Supported ops: rescale rule (elementwise) for relu, relu6/hardtanh,
    leaky_relu, elu, selu, celu, gelu, silu, mish, softplus, sigmoid, tanh,
    hardswish, hardsigmoid, logsigmoid, softsign, exp, log, sqrt, rsqrt,
    reciprocal, square, abs, pow (constant exponent), clamp,
    maximum/minimum with a constant, sin, cos, erf, ... (see
    :func:`supported_ops`). Special rules: products and matmul/bmm/einsum
    of two activations, division by an activation,
    softmax/log_softmax/softmin, logsumexp, layer_norm, group_norm,
    rms_norm, instance_norm, F.normalize (p=2), glu, max pooling (1d/2d/3d,
    adaptive), max/min/amax/amin along an axis, maximum of two activations,
    scaled_dot_product_attention. Linear and shape ops pass through:
    conv*, linear, batch_norm (eval), add/sub, mean/sum (not over the batch
    axis), avg pooling, pad, interpolate, view/reshape/flatten/
    permute/cat/stack/indexing, dropout (eval). Any other op on the signal
    raises :class:`UnsupportedOperation` naming the op and the module.

    Cost: ``N × B`` input/reference pairs, run ``batch_size // 2`` pairs per
    forward/backward pass in float64 (about 2-4× a float32 pass; products
    of two activations evaluate their op three times). ``target="all"``
    adds one backward per output. Bad arguments raise before any model
    call but one probe on one row; if that first call fails inside the
    model, a ``ValueError`` names the input shapes (the error chained).

    Example
    -------
    >>> bg = torch.zeros(1, 3, 224, 224)                    # doctest: +SKIP
    >>> a = xw.deep_shap(model, images, bg)                  # doctest: +SKIP
    >>> abs(a.delta).max() < 1e-6                            # doctest: +SKIP
    True
    >>> img, tab = xw.deep_shap(two_input_model, (images, table), (img_bg, tab_bg))  # doctest: +SKIP
    """
    model = check_model(model)
    client = check_client(client)
    xs, was_tuple = as_batches(x, model, name="x")
    xs = follow_model_dtype(x, xs, model)
    multiply = check_bool(multiply_by_inputs, "multiply_by_inputs")
    summarize = check_bool(summarize, "summarize")
    names = check_feature_names(feature_names, xs, was_tuple)
    kwargs = check_forward_kwargs(forward_kwargs)
    if output is not None and not callable(output):
        raise TypeError(f"output must be a function mapping the model's output to scores, got {type(output).__name__}")
    rows_per_pass = check_positive_int(batch_size, "batch_size", allow_none=True)
    names_explicit = output_names is not None
    out_names = resolve_output_names(model, output_names)
    bg = check_background(background, xs, was_tuple=was_tuple, summarize=summarize)
    if rows_per_pass is None:  # float64 activations and the rule tensors: keep image passes small
        row_elems = sum(int(t[0].numel()) for t in xs)
        rows_per_pass = DEFAULT_CHUNK if row_elems <= LARGE_ROW else 4
    n, nb = int(xs[0].shape[0]), len(bg)
    device = xs[0].device
    # each row runs with every background row (x and reference: two model rows per pair)
    chunks = plan_chunks(n, per_row=2 * nb, row_elements=elements(xs), batch_size=batch_size)
    if client is not None or len(chunks) > 1:
        # the background as validated and summarised here: chunks neither summarise nor warn again
        return run_chunks(deep_shap, dict(
            model=model, x=x, background=bg.as_background(was_tuple), target=target, batch_size=batch_size,
            output=output, forward_kwargs=forward_kwargs, multiply_by_inputs=multiply, feature_names=feature_names,
            output_names=output_names, summarize=summarize,
        ), row_args=("x", "target", "forward_kwargs"), n=n, chunks=chunks, client=client, desc="deep_shap")
    fkw = {k: (normal_tensor(v).to(device) if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}
    batched_kw = any(isinstance(v, torch.Tensor) and v.dim() >= 1 and v.shape[0] == n for v in fkw.values())

    def kw_rows(rows: torch.Tensor) -> dict:
        return repeat_kwargs(fkw, rows, n) if batched_kw else fkw

    row_shapes = [tuple(t.shape[1:]) for t in xs]
    pairs_per_pass = max(1, rows_per_pass // 2)
    with model_as_found(model):
        first = tuple(t[:1] for t in xs)
        with torch.no_grad():  # probe one row in the model's own dtype: K, and check target
            try:
                out0 = model(*first, **kw_rows(torch.zeros(1, dtype=torch.long, device=device)))
            except Exception as e:  # noqa: BLE001 - any failure of the user's model on its first call
                raise model_call_error(e, first if was_tuple else first[0], full=xs if was_tuple else xs[0]) from e
            s0 = to_scores(out0, output, n=1)
        if s0.shape[0] != 1:
            raise ValueError(f"the scores have {s0.shape[0]} rows for a batch of 1; the model (or output=) must keep "
                             "the batch axis first")
        k = int(s0.shape[1])
        out_names = check_output_names(out_names, k, names_explicit)
        spec: Any = None if target is None else resolve_target(target, torch.zeros(n, k, device=device), out_names)
        is_all = isinstance(spec, str)
        known = torch.zeros(n, dtype=torch.bool, device=device)
        if spec is None:
            spec = torch.zeros(n, dtype=torch.long, device=device)
        elif not is_all:
            known[:] = True
        t_count = k if is_all else 1
        values = [torch.zeros((t_count, n) + rs, dtype=torch.float64, device=device) for rs in row_shapes]
        fx = torch.zeros(n, k, dtype=torch.float64, device=device)
        base = torch.zeros(n, k, dtype=torch.float64, device=device)
        x64 = [t.to(torch.float64) for t in xs]
        bg64 = [t.to(torch.float64) for t in bg.parts]
        mode = DeepLiftMode(model, 2 * pairs_per_pass)
        ranges = list(chunk_ranges(n * nb, pairs_per_pass))
        bar = progress(ranges, total=len(ranges), desc="deep_shap", unit="pass", disable=len(ranges) <= PROGRESS_MIN_PASSES)
        with hooks(*_module_hooks(model, mode)), _closing(bar):
            for p0, p1 in bar:
                e = torch.arange(p0, p1, device=device)
                i, b = e // nb, e % nb
                p = p1 - p0
                zs = tuple(torch.cat([xj[i], bj[b]]).requires_grad_() for xj, bj in zip(x64, bg64))
                mode.set_rows(2 * p)
                mode.modules.clear()
                with mode:
                    scores = to_scores(model(*zs, **kw_rows(torch.cat([i, i]))), output, n=2 * p)
                if scores.shape[0] != 2 * p:
                    raise ValueError(f"the scores have {scores.shape[0]} rows for a batch of {2 * p}; the model "
                                     "(or output=) must keep the batch axis first")
                if not scores.requires_grad:
                    raise ValueError(
                        "the model's scores do not depend on x through a differentiable path (a detach, "
                        "torch.no_grad or integer step inside the model?), so there is nothing to attribute"
                    )
                if not torch.isfinite(scores.detach()).all():
                    raise ValueError("the model returned NaN or inf scores on x or the background")
                sx, sr = scores[:p], scores[p:]
                wb = bg.weights[b]
                fx[i] = sx.detach().to(torch.float64)
                base.index_add_(0, i, sr.detach().to(torch.float64) * wb[:, None])
                if not is_all:
                    new = ~known[i]
                    if new.any():
                        spec[i[new]] = sx.detach()[new].argmax(1)
                        known[i[new]] = True
                tlist = ([torch.full((p,), c, dtype=torch.long, device=device) for c in range(k)]
                         if is_all else [spec[i]])
                # the multiplier times (x - b) (or alone), weighted by the reference's weight
                factors = [((z[:p] - z[p:]).detach() if multiply else torch.ones((), dtype=torch.float64,
                                                                                  device=device))
                           * wb.view((-1,) + (1,) * len(rs)) for z, rs in zip(zs, row_shapes)]
                for ti, t in enumerate(tlist):
                    gs = torch.autograd.grad(gather(sx, t).sum(), zs, retain_graph=ti < len(tlist) - 1,
                                             allow_unused=True)
                    for j, g in enumerate(gs):
                        if g is not None:  # an input the target does not depend on keeps zeros
                            values[j][ti].index_add_(0, i, g[:p].to(torch.float64) * factors[j])
                del scores, sx, sr, zs, gs
    if is_all:
        outputs, base_values = fx, base
        vals = [v.movedim(0, 1) for v in values]
        tgt = np.arange(k)
    else:
        outputs, base_values = gather(fx, spec), gather(base, spec)
        vals = [v[0] for v in values]
        tgt = spec.cpu().numpy()
    params = {
        "batch_size": rows_per_pass,
        "pairs": n * nb,
        "dtype": "float64",
        "rules": sorted(mode.rules_used),
        "multiply_by_inputs": multiply,
        **bg.params(),
    }
    if is_all:
        params["target"] = "all"
    result = attributions(
        vals, xs, was_tuple=was_tuple, target=tgt, outputs=outputs, base_values=base_values, method="deep_shap",
        params=params, feature_names=names, output_names=out_names, per_output=is_all, complete=multiply,
    )
    if multiply:
        delta = (result[0] if was_tuple else result).delta
        scale = float((outputs - base_values).abs().max())
        size = max(1.0, float(outputs.abs().max()), float(base_values.abs().max()))
        err = float(np.abs(np.asarray(delta)).max())
        if err > ADDITIVITY_RTOL * scale + ADDITIVITY_ATOL * size:
            warnings.warn(
                f"deep_shap: the attributions miss additivity by {err:.3g} (|f(x) - E f(bg)| up to {scale:.3g}). "
                "An op may have escaped the DeepLIFT rules: a path that is detached or runs under torch.no_grad, "
                "or nonlinear ops whose first axis is not the batch axis",
                RuntimeWarning,
                stacklevel=2,
            )
    return result
