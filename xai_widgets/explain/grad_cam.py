"""Grad-CAM and Grad-CAM++: class activation maps weighted by gradients.

Grad-CAM (Selvaraju et al. 2017) weights each channel ``k`` of a layer's
activations ``A`` by the spatial mean of the score's gradient ``g = dS/dA``::

    w_k = mean_ij g_kij            cam = relu(sum_k w_k A_k)

Grad-CAM++ (Chattopadhyay et al. 2018) uses the closed-form pixel weights
obtained with the exp-of-score trick (second and third derivatives of
``exp(S)`` written with powers of ``g``), as pytorch-grad-cam implements it::

    alpha_kij = g_kij^2 / (2 g_kij^2 + (sum_ab A_kab) g_kij^3 + 1e-6)   (0 where g = 0)
    w_k       = sum_ij alpha_kij relu(g_kij)
    cam       = relu(sum_k w_k A_k)

Choosing the layer (``layer=None``)
-----------------------------------
Without running the model, the graph is traced symbolically
(``torch.fx``, convolutions kept as leaves) and the layer is the **last
``nn.Conv2d`` (or subclass) whose output feeds the model's output**,
preferring convolutions called once per forward pass (``nn.Conv1d`` for
``(N, C, L)`` inputs, ``nn.Conv3d`` for ``(N, C, D, H, W)``). If tracing
fails the rule falls back to the last such convolution in registration
order (``model.named_modules()``). For EfficientNet-Lite0 both give
``_conv_head``. When an attention module (``nn.MultiheadAttention`` or a
class named ``*Attention``) is registered after that convolution (a vision
transformer whose only conv is the patch embedding) there is no good
automatic choice and a ``ValueError`` asks for ``layer=``.

Token layers (vision transformers)
----------------------------------
When the inputs are images ``(N, C, H, W)`` and the layer outputs tokens
``(N, T, D)``, the leading tokens (class/register/distillation tokens) are
dropped: the fewest ``p`` such that ``T - p = h * w`` with ``h / w = H / W``
(a perfect square for square images). The remaining tokens are read
row-major as an ``(h, w)`` grid with ``D`` channels. For ViTs pick the first
norm of the last block (e.g. ``"blocks.11.norm1"``): later layers only reach
the head through the class token, so their gradients at patch tokens are 0.
"""
from __future__ import annotations

import math
import weakref
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
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
    gather,
    hooks,
    model_as_found,
    model_call_error,
    normal_tensor,
    repeat_kwargs,
    resolve_layer,
    resolve_output_names,
    resolve_target,
    this_thread_only,
    to_scores,
)

__all__ = ["grad_cam"]

_UPSAMPLE = ("bilinear", "bicubic", "nearest", "area")
_EPS = 1e-6


# ----------------------------------------------------------------- layers
_CONV = {3: nn.Conv1d, 4: nn.Conv2d, 5: nn.Conv3d}


class _ConvLeafTracer(torch.fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:  # noqa: D102
        return isinstance(m, nn.modules.conv._ConvNd) or super().is_leaf_module(m, qualname)


def _is_attention(m: nn.Module) -> bool:
    name = type(m).__name__
    return isinstance(m, nn.MultiheadAttention) or name.endswith("Attention")


# Tracing costs about as much as one forward pass of a small CNN, so the
# choice is kept per model, keyed by its module structure (a changed model
# is traced again).
_TRACE_CACHE: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def _traced_conv_choice(model: nn.Module, conv: type) -> str | None:
    """The last conv (execution order) that feeds the output, via torch.fx; None if tracing fails."""
    signature = (conv, tuple((n, id(m)) for n, m in model.named_modules()))
    cached = _TRACE_CACHE.get(model)
    if cached is not None and signature in cached:
        return cached[signature]
    choice = _trace_conv_choice(model, conv)
    _TRACE_CACHE.setdefault(model, {})[signature] = choice
    return choice


def _trace_conv_choice(model: nn.Module, conv: type) -> str | None:
    try:
        graph = _ConvLeafTracer().trace(model)
    except Exception:  # noqa: BLE001 - dynamic models cannot be traced; fall back
        return None
    modules = dict(model.named_modules())
    nodes = list(graph.nodes)
    outputs = [n for n in nodes if n.op == "output"]
    if not outputs:
        return None
    feeds: set = set()
    stack = list(outputs)
    while stack:
        node = stack.pop()
        if node in feeds:
            continue
        feeds.add(node)
        stack.extend(node.all_input_nodes)
    convs = [
        n.target
        for n in nodes
        if n.op == "call_module" and n in feeds and isinstance(modules.get(n.target), conv)
    ]
    if not convs:
        return None
    counts = {t: sum(1 for n in nodes if n.op == "call_module" and n.target == t) for t in set(convs)}
    once = [t for t in convs if counts[t] == 1]
    return (once or convs)[-1]


def _default_layer(model: nn.Module, shape: tuple[int, ...]) -> tuple[str, nn.Module]:
    input_dim = len(shape)
    conv = _CONV.get(input_dim, nn.Conv2d)
    named = list(model.named_modules())
    convs = [(n, m) for n, m in named if isinstance(m, conv)]
    if not convs:
        bigger = _CONV.get(input_dim + 1)
        if bigger is not None and any(isinstance(m, bigger) for _, m in named):
            # a conv for one more axis: most likely one example passed without its batch axis
            raise ValueError(
                f"inputs have shape {shape}, but the model's convolutions are nn.{bigger.__name__}, which "
                f"take {input_dim + 1}-D batches: if {shape} is a single example, it has no batch axis "
                "(its first axis is read as the batch); add one with inputs[None]"
            )
        raise ValueError(
            f"layer=None looks for the last nn.{conv.__name__} (inputs have {input_dim} axes), but the model "
            "has none; pass layer=<module or "
            "dotted name> (for a vision transformer e.g. the last block's first norm, 'blocks.11.norm1')"
        )
    last_name = convs[-1][0]
    after = named[[n for n, _ in named].index(last_name) + 1:]
    attn = [
        n for n, m in after
        if not n.startswith(last_name + ".")
        and _is_attention(m)
    ]
    if attn:
        raise ValueError(
            f"layer=None would pick the convolution {last_name!r}, but attention modules run after it "
            f"(e.g. {attn[0]!r}); this looks like a vision transformer. Pass layer= explicitly, e.g. the "
            "last block's first norm"
        )
    name = _traced_conv_choice(model, conv) or last_name
    return resolve_layer(model, name)


# ------------------------------------------------------------------- runs
def _first_tensor(out: Any) -> tuple[torch.Tensor | None, Callable[[torch.Tensor], Any]]:
    """The tensor a layer returns (or the first one of a tuple/list) and a way to put a replacement back."""
    if isinstance(out, torch.Tensor):
        return out, lambda t: t
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0], lambda t: type(out)([t, *out[1:]]) if isinstance(out, list) else (t, *out[1:])
    return None, lambda t: out


def _run(
    model: nn.Module,
    module: nn.Module,
    xs: tuple[torch.Tensor, ...],
    kwargs: dict,
    output: OutputFn | None,
    on_error: Callable[[Exception], Exception] | None = None,
):
    """One forward pass ``model(*xs, **kwargs)``.

    Returns (scores, activation leaf or None, number of calls of ``module``,
    bad type). ``on_error`` turns an exception from the model itself into
    the one to raise (chained); used for the first call only.
    """
    state: dict = {"calls": 0, "act": None, "bad": None}

    def hook(_m, _inp, out):
        state["calls"] += 1
        if state["calls"] > 1:
            return None
        t, put_back = _first_tensor(out)
        if t is None or not t.is_floating_point():
            state["bad"] = type(out).__name__ if t is None else f"tensor of dtype {t.dtype}"
            return None
        leaf = t.detach().requires_grad_(True)
        state["act"] = leaf
        # a clone, so in-place ops after the layer (x += identity, ReLU(inplace)) do not touch the leaf
        return put_back(leaf.clone())

    # this thread only: a forward of the same model in another thread must not replace its own activation
    with hooks(lambda: module.register_forward_hook(this_thread_only(hook))):
        try:
            out = model(*xs, **kwargs)
        except Exception as e:  # noqa: BLE001 - any failure of the user's model on well-formed input
            if on_error is None:
                raise
            raise on_error(e) from e
        scores = to_scores(out, output, n=xs[0].shape[0])
    return scores, state["act"], state["calls"], state["bad"]


def _token_grid(t: int, hw: tuple[int, ...] | None) -> tuple[int, int, int] | None:
    """Fewest leading tokens ``p`` to drop so that ``t - p`` tokens form an (h, w) grid with the image's aspect."""
    for p in range(t):
        n = t - p
        if hw is None or hw[0] == hw[1]:
            s = math.isqrt(n)
            if s * s == n:
                return p, s, s
            continue
        H, W = hw
        for h in range(1, n + 1):
            if n % h == 0 and h * W == (n // h) * H:
                return p, h, n // h
    return None


def _interp_mode(upsample: str, nd: int) -> str:
    if upsample == "bilinear":
        return {1: "linear", 2: "bilinear", 3: "trilinear"}[nd]
    if upsample == "bicubic" and nd != 2:
        raise ValueError(f"upsample='bicubic' needs a 2-D map, but the map has {nd} spatial axes")
    return upsample


def _cam(act: torch.Tensor, grad: torch.Tensor, plus_plus: bool, relu: bool) -> torch.Tensor:
    """act, grad (N, C, *S) → cam (N, *S)."""
    spatial = tuple(range(2, act.dim()))
    if plus_plus:
        g2 = grad * grad
        g3 = g2 * grad
        sum_a = act.sum(dim=spatial, keepdim=True)
        alpha = g2 / (2 * g2 + sum_a * g3 + _EPS)
        alpha = torch.where(grad != 0, alpha, torch.zeros_like(alpha))
        weights = (alpha * grad.clamp(min=0)).sum(dim=spatial, keepdim=True)
    else:
        weights = grad.mean(dim=spatial, keepdim=True)
    cam = (weights * act).sum(dim=1)
    return cam.clamp(min=0) if relu else cam


# ------------------------------------------------------------------ public
def grad_cam(
    model: nn.Module,
    inputs: torch.Tensor | Sequence[torch.Tensor],
    target: Target = None,
    *,
    layer: nn.Module | str | None = None,
    plus_plus: bool = False,
    output: OutputFn | None = None,
    forward_kwargs: dict | None = None,
    relu: bool = True,
    upsample: str | None = "bilinear",
    output_names: Sequence[str] | None = None,
    client: Any = None,
) -> Attribution:
    """Grad-CAM (or Grad-CAM++ with ``plus_plus=True``) maps for a batch of inputs.

    Parameters
    ----------
    model : torch.nn.Module
        Returns scores ``(N, K)`` (or anything ``output`` maps to them);
        called as ``model(*inputs, **forward_kwargs)`` for a tuple of inputs.
    inputs : tensor ``(N, C, H, W)`` (or ``(N, C, *S)``), or a tuple of tensors
        The batch to explain; or several inputs of the model sharing ``N``
        (e.g. an image and a table). The map is resized to the spatial size
        of the first input that has spatial axes (``(N, C, *S)``).
    target : None, int, class name, one per row, or ``"all"``
        ``None`` explains each row's top class; ``"all"`` every output. An
        int, a 0-d or one-element tensor applies to every row; class names
        need ``output_names`` (or names the model carries).
    layer : module or dotted name, optional
        Whose activations are weighted. ``None``: the last ``nn.Conv2d``
        feeding the output (see the module docstring for the rule). The
        layer must run exactly once per forward pass. Its output is
        ``(N, C, h, w)`` or, for image inputs, tokens ``(N, T, D)`` that are
        reshaped to a grid after dropping leading class/register tokens.
    plus_plus : bool
        Use Grad-CAM++ channel weights.
    output : callable, optional
        Maps the model's return value to ``(N, K)`` scores.
    forward_kwargs : dict, optional
        Extra model inputs; batched tensors are split with the rows.
    relu : bool
        Keep only the positive part of the map (the papers' choice).
    upsample : ``"bilinear"``, ``"bicubic"``, ``"nearest"``, ``"area"`` or None
        How the map is resized to the input's spatial size
        (``F.interpolate``, ``align_corners=False``). ``None`` keeps the raw
        map as ``values``.
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
    Attribution
        ``values`` ``(N, H, W)`` (``(N, K, H, W)`` for ``target="all"``);
        ``params["raw"]`` the low-resolution map ``(N, h, w)``
        (``(N, K, h, w)``); ``params["layer"]`` the layer's name; ``outputs``
        the target scores; ``method`` ``"grad_cam"`` or ``"grad_cam++"``.
        One ``Attribution`` also for tuple inputs (the map is the layer's,
        not an input's): ``data`` is the input the map is resized to and
        ``params["input"]`` its position in the tuple.

    Notes
    -----
    The model runs once on one row first (output shape, target, class names
    and the layer's use are checked there), then once on the full batch;
    one backward pass per explained output. The choice of ``layer=None``,
    the Grad-CAM++ weights and the handling of token layers are described
    in the module docstring.

    Example
    -------
    >>> import xai_widgets as xw                                   # doctest: +SKIP
    >>> model = xw.demo.efficientnet_lite0()                       # doctest: +SKIP
    >>> x = xw.demo.preprocess(xw.demo.load_image("chelsea"))      # doctest: +SKIP
    >>> cam = xw.grad_cam(model, x)                # layer "_conv_head"   # doctest: +SKIP
    >>> cam.values.shape, cam.params["raw"].shape                  # doctest: +SKIP
    ((1, 224, 224), (1, 7, 7))
    """
    # ------------------------------------------------ cheap checks first
    model = check_model(model)
    xs, was_tuple = as_batches(inputs, model)
    # the map is drawn over the first input with spatial axes (N, C, *S)
    ref = next((i for i, t in enumerate(xs) if t.dim() >= 3), 0)
    x = xs[ref]
    kwargs = {k: normal_tensor(v) for k, v in check_forward_kwargs(forward_kwargs).items()}
    for flag, fname in ((plus_plus, "plus_plus"), (relu, "relu")):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{fname} must be a bool, got {flag!r}")
    if upsample is not None and upsample not in _UPSAMPLE:
        raise ValueError(f"upsample must be one of {_UPSAMPLE} or None, got {upsample!r}")
    if output is not None and not callable(output):
        raise TypeError(f"output must be a callable mapping the model's output to (N, K) scores, got {output!r}")
    name, module = _default_layer(model, tuple(x.shape)) if layer is None else resolve_layer(model, layer)
    names = resolve_output_names(model, output_names)
    n = x.shape[0]
    image = x.dim() == 4
    client = check_client(client)
    chunks = plan_chunks(n, per_row=1, row_elements=elements(xs))
    if client is not None or len(chunks) > 1:
        return run_chunks(grad_cam, dict(
            model=model, inputs=inputs, target=target, layer=layer, plus_plus=plus_plus, output=output,
            forward_kwargs=forward_kwargs, relu=relu, upsample=upsample, output_names=output_names,
        ), row_args=("inputs", "target", "forward_kwargs"), n=n, chunks=chunks, client=client, desc="grad_cam")

    with model_as_found(model):
        # ---------------------- one forward pass on one row: shapes, target, layer use
        row0 = torch.zeros(1, dtype=torch.long, device=x.device)
        probe_in = tuple(t[:1] for t in xs)
        scores, act, calls, bad = _run(
            model, module, probe_in, repeat_kwargs(kwargs, row0, n), output,
            on_error=lambda e: model_call_error(
                e, probe_in if was_tuple else probe_in[0], full=xs if was_tuple else x
            ),
        )
        if calls == 0:
            raise ValueError(f"layer {name!r} did not run in the model's forward pass")
        if calls > 1:
            raise ValueError(
                f"layer {name!r} ({type(module).__name__}) ran {calls} times in one forward pass: the module "
                "object is reused, so its activations are ambiguous. Pick a layer that runs once "
                "(e.g. a convolution; EfficientNet-Lite reuses one ReLU6 per block)"
            )
        if bad is not None:
            raise ValueError(f"layer {name!r} must output a floating-point tensor, got {bad}")
        if act.shape[0] != 1:
            raise ValueError(
                f"layer {name!r} output has shape {tuple(act.shape)} for one input row; its first axis "
                "must be the batch (sequence-first layers are not supported)"
            )
        tokens = None
        if act.dim() == 3 and image:
            tokens = _token_grid(act.shape[1], tuple(x.shape[2:]))
            if tokens is None:
                raise ValueError(
                    f"layer {name!r} outputs {act.shape[1]} tokens, which cannot be read as an "
                    f"(h, w) grid matching the image's {tuple(x.shape[2:])} aspect after dropping leading tokens"
                )
        elif act.dim() < 3:
            raise ValueError(
                f"layer {name!r} output has shape {tuple(act.shape)}: no spatial axes. Pick a convolutional "
                "layer (N, C, h, w) or a token layer (N, T, D)"
            )
        spatial_nd = 2 if tokens is not None else act.dim() - 2
        upsampled = upsample is not None and spatial_nd == x.dim() - 2
        mode = _interp_mode(upsample, spatial_nd) if upsampled else None
        if not scores.requires_grad:
            raise ValueError(f"the model's scores do not depend on layer {name!r}: no gradient reaches it")
        k = scores.shape[1]
        names = check_output_names(names, k, explicit=output_names is not None)
        if target is not None:  # range/length/name checks before the full batch
            resolve_target(target, scores.detach().new_zeros(n, k), output_names=names)

        # ------------------------------------------------------------- full batch
        if n > 1:
            scores = act = None  # free the probe's graph first
            scores, act, _, _ = _run(model, module, xs, kwargs, output)
        if scores.shape != (n, k):
            raise ValueError(f"the model's scores have shape {tuple(scores.shape)}, expected ({n}, {k})")
        tgt = resolve_target(target, scores, output_names=names)

        def grid(a: torch.Tensor) -> torch.Tensor:
            if tokens is None:
                return a
            p, h, w = tokens
            return a[:, p:].reshape(a.shape[0], h, w, a.shape[2]).permute(0, 3, 1, 2)

        outputs = (scores if isinstance(tgt, str) else gather(scores, tgt)).detach()
        a_grid = grid(act.detach())
        picks = range(k) if isinstance(tgt, str) else [None]
        cams = []
        for i, j in enumerate(picks):
            sel = scores[:, j] if j is not None else gather(scores, tgt)
            g = None
            if sel.requires_grad:
                (g,) = torch.autograd.grad(sel.sum(), act, retain_graph=i < len(picks) - 1, allow_unused=True)
            if g is None:
                raise ValueError(f"the model's scores do not depend on layer {name!r}: no gradient reaches it")
            cams.append(_cam(a_grid, grid(g), plus_plus, relu))
        del scores, act
        raw = torch.stack(cams, dim=1) if isinstance(tgt, str) else cams[0]  # (N, [K,] *s)
        del cams

    lead = raw.shape[: 2 if isinstance(tgt, str) else 1]
    if upsampled:
        flat = raw.reshape(-1, 1, *raw.shape[len(lead):])
        kw = {"align_corners": False} if mode in ("linear", "bilinear", "bicubic", "trilinear") else {}
        values = F.interpolate(flat, size=tuple(x.shape[2:]), mode=mode, **kw).reshape(*lead, *x.shape[2:])
    else:
        values = raw
    extra = {"input": ref} if was_tuple else {}
    return Attribution(
        values=values,
        data=x,
        target=torch.arange(k) if isinstance(tgt, str) else tgt,
        outputs=outputs,
        method="grad_cam++" if plus_plus else "grad_cam",
        params={
            "layer": name,
            "plus_plus": bool(plus_plus),
            "raw": raw.detach().cpu().numpy(),
            "relu": bool(relu),
            "upsample": upsample if upsampled else None,
            "target": "all" if isinstance(tgt, str) else None,
            "dropped_tokens": tokens[0] if tokens is not None else None,
            **extra,
        },
        output_names=names,
    )
