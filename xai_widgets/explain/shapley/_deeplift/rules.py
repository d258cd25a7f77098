"""Which torch operations deep_shap passes through, and the DeepLIFT rule for the others.

Operations are recognised by name (``torch.relu``, ``F.relu``,
``Tensor.relu`` and ``Tensor.relu_`` all arrive as ``"relu"``/``"relu_"``).
Three kinds:

* **linear / shape ops** (:data:`LINEAR`, and the products in
  :data:`MULTILINEAR` when at most one factor carries the signal): ordinary
  autograd already gives exact DeepLIFT multipliers;
* **nonlinear ops with a rule** (:data:`ELEMENTWISE`, :data:`MULTILINEAR`
  with two signal factors, and :data:`SPECIAL`): see :mod:`._pairs`;
* everything else that touches the signal and returns floating-point
  values is refused with :class:`UnsupportedOperation`.
"""
from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from ._pairs import bilinear, rescale, route_max, scaled_product

__all__ = [
    "UnsupportedOperation",
    "ELEMENTWISE",
    "MULTILINEAR",
    "LINEAR",
    "SPECIAL",
    "supported_ops",
]


class UnsupportedOperation(ValueError):
    """deep_shap met an operation on the input signal that it has no DeepLIFT rule for."""


# ---------------------------------------------------------------- tables
#: One-signal elementwise ops: the rescale rule ``Δy / Δu``.
ELEMENTWISE = frozenset({
    "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu",
    "selu_", "celu", "celu_", "gelu", "silu", "mish", "softplus", "sigmoid", "sigmoid_", "tanh", "tanh_",
    "hardswish", "hardsigmoid", "logsigmoid", "softsign", "tanhshrink", "softshrink", "hardshrink", "threshold",
    "threshold_", "prelu", "rrelu", "rrelu_", "exp", "exp_", "exp2", "expm1", "log", "log_", "log2", "log10",
    "log1p", "sqrt", "sqrt_", "rsqrt", "rsqrt_", "reciprocal", "reciprocal_", "square", "abs", "abs_", "absolute",
    "__abs__", "sin", "cos", "atan", "arctan", "asinh", "arcsinh", "sinh", "cosh", "erf", "erfc", "logit", "sinc",
    "clamp", "clamp_", "clip", "clip_", "clamp_min", "clamp_min_", "clamp_max", "clamp_max_",
    "pow", "pow_", "__pow__", "__ipow__", "__rpow__", "float_power",
    "__rdiv__", "__rtruediv__", "maximum", "minimum", "fmax", "fmin",
})

#: Two-argument ops with the signal possibly in both: positions of the factors, of a bias.
#: With one signal factor they are linear; with two, the bilinear (Shapley) split.
MULTILINEAR: dict[str, tuple[tuple[int, int], int | None]] = {
    **{n: ((0, 1), None) for n in (
        "mul", "multiply", "mul_", "__mul__", "__rmul__", "__imul__", "matmul", "__matmul__", "__rmatmul__",
        "mm", "bmm", "dot", "inner", "outer", "ger", "mv", "tensordot", "einsum",
    )},
    **{n: ((0, 1), 2) for n in (
        "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    )},
}

#: Division: linear in the numerator; the denominator goes through ``1/u``.
DIVISION = frozenset({"div", "divide", "true_divide", "div_", "__truediv__", "__itruediv__", "__div__", "__idiv__"})

#: Linear (affine) and shape ops: ordinary gradients are exact multipliers.
LINEAR = frozenset({
    "add", "add_", "__add__", "__radd__", "__iadd__", "sub", "sub_", "subtract", "__sub__", "__rsub__", "__isub__",
    "rsub", "neg", "neg_", "negative", "__neg__", "__pos__", "positive",
    "sum", "mean", "nansum", "cumsum",
    "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "ravel", "squeeze", "squeeze_",
    "unsqueeze", "unsqueeze_", "permute", "transpose", "transpose_", "swapaxes", "swapdims", "t", "movedim",
    "moveaxis", "contiguous", "clone", "expand", "expand_as", "broadcast_to", "repeat", "tile", "repeat_interleave",
    "narrow", "select", "__getitem__", "__setitem__", "split", "split_with_sizes", "tensor_split", "chunk", "unbind",
    "unfold", "fold", "cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack", "flip", "fliplr",
    "flipud", "roll", "rot90", "index_select", "gather", "take_along_dim", "masked_fill", "masked_fill_", "where",
    "diagonal", "diag", "diag_embed", "tril", "triu", "tril_", "triu_", "copy_", "scatter", "scatter_add",
    "index_add", "index_put", "index_copy", "lerp",
    "pad", "constant_pad_nd", "interpolate", "upsample", "upsample_nearest", "upsample_bilinear", "pixel_shuffle",
    "pixel_unshuffle", "channel_shuffle", "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d",
    "adaptive_avg_pool2d", "adaptive_avg_pool3d", "batch_norm", "dropout", "dropout1d", "dropout2d", "dropout3d",
    "alpha_dropout", "feature_alpha_dropout", "embedding",
    "to", "type", "type_as", "double", "cpu", "cuda", "requires_grad_", "as_strided", "align_as",
    "T.__get__", "mT.__get__", "real.__get__",
})

#: Ops that only read metadata or build new tensors of a given shape.
FACTORY_LIKE = frozenset({
    "zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like", "new_zeros", "new_ones",
    "new_empty", "new_full", "new_tensor",
})

#: Factories whose floating-point results are computed in float64 instead.
FACTORIES = frozenset({
    "zeros", "ones", "empty", "full", "rand", "randn", "tensor", "as_tensor", "arange", "linspace", "logspace",
    "eye", "scalar_tensor", "normal", "zeros_like", "ones_like", "empty_like", "full_like", "rand_like",
    "randn_like", "new_zeros", "new_ones", "new_empty", "new_full", "new_tensor", "from_numpy", "triu_indices",
})

#: Ops that convert to another floating dtype: kept in float64.
CONVERTS = frozenset({"float", "half", "bfloat16", "double"})

#: Reductions/joins that must not run over the batch axis (axis 0).
_BATCH_CHECK = frozenset({"sum", "mean", "nansum", "cumsum", "cat", "concat", "concatenate"})


def _is_sig(t: Any) -> bool:
    return isinstance(t, torch.Tensor) and t.requires_grad


def is_signal(t: Any) -> bool:
    """Whether ``t`` carries the input signal (every tensor on a gradient path from the input)."""
    return _is_sig(t)


# --------------------------------------------------------------- binding
def bind(args: Sequence[Any], kwargs: dict, names: Sequence[str], defaults: dict) -> dict:
    """Match positional/keyword arguments against ``names`` (missing ones from ``defaults``)."""
    out = dict(defaults)
    for n, v in zip(names, args):
        out[n] = v
    for k, v in kwargs.items():
        out[k] = v
    return out


def _dim_arg(args: Sequence[Any], kwargs: dict, pos: int = 1) -> Any:
    for key in ("dim", "axis"):
        if key in kwargs:
            return kwargs[key]
    if len(args) > pos and not isinstance(args[pos], torch.dtype):
        return args[pos]
    return None


def _dims(dim: Any, ndim: int) -> list[int] | None:
    if dim is None:
        return None
    if isinstance(dim, (list, tuple)):
        if len(dim) == 0:
            return None
        return [int(d) % max(ndim, 1) for d in dim]
    return [int(dim) % max(ndim, 1)]


# ----------------------------------------------------------------- ctx
class RuleContext:
    """What a rule needs from the running mode: batch pairing, errors, bookkeeping."""

    rows: int = 2

    def fail(self, name: str, why: str) -> None:  # pragma: no cover - overridden by the mode
        raise UnsupportedOperation(f"{name}: {why}")

    def used(self, rule: str) -> None:  # pragma: no cover - overridden by the mode
        pass

    def paired(self, t: torch.Tensor, name: str) -> torch.Tensor:
        if t.dim() == 0 or t.shape[0] % self.rows != 0:
            self.fail(
                name,
                f"got a tensor of shape {tuple(t.shape)} whose first axis is not the batch axis (a multiple of "
                f"{self.rows} rows); deep_shap pairs each input row with its reference along the first axis, so "
                "nonlinear ops must keep the batch axis first (e.g. batch_first=True)",
            )
        return t


# ------------------------------------------------------------- helpers
def mul_any(ctx: RuleContext, a: Any, b: Any) -> Any:
    if _is_sig(a) and _is_sig(b):
        ctx.paired(a, "mul"), ctx.paired(b, "mul")
        return bilinear(torch.mul, a, b)
    return a * b


def matmul_any(ctx: RuleContext, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if _is_sig(a) and _is_sig(b):
        ctx.paired(a, "matmul"), ctx.paired(b, "matmul")
        return bilinear(torch.matmul, a, b)
    return a @ b


def _rescale_fn(ctx: RuleContext, u: torch.Tensor, g: Callable, name: str) -> torch.Tensor:
    ctx.paired(u, name)
    return rescale(u, g(u.detach()), g)


def _routed_amax(u: torch.Tensor, dims: list[int]) -> torch.Tensor:
    """Each side's own max over ``dims`` (kept), by the max routing rule; ``0`` where a side has no
    finite entry (a fully masked row), so the shift never turns into ``inf - inf``."""
    keep = [d for d in range(u.dim()) if d not in dims]
    perm = u.permute(keep + sorted(dims))
    flat = perm.reshape(tuple(perm.shape[: len(keep)]) + (-1,))
    with torch.no_grad():
        vals, idx = flat.detach().max(-1, keepdim=True)
    s = route_max(vals, idx, lambda i: flat.gather(-1, i))
    s = s.reshape([1 if d in dims else u.shape[d] for d in range(u.dim())])
    return torch.where(torch.isfinite(s.detach()), s, torch.zeros((), dtype=s.dtype, device=s.device))


def _logsumexp_keep(u: torch.Tensor, dims: list[int]) -> torch.Tensor:
    """log Σ exp(u) over ``dims`` (kept) as ``s + log Σ exp(u - s)`` with ``s`` each side's own max
    (routing rule), ``exp`` and ``log`` by the rescale rule.

    Why each side's own shift: with one shift shared by the pair, the side whose top logit is lower
    by more than ~745 sees ``exp`` underflow to 0 for every entry (``log 0``: NaN), and by more than
    ~708 it works on subnormals (the base value comes out wrong while ``delta`` stays ~0). With its
    own max, each side's ``u - s`` is <= 0 with one entry 0, so ``Σ exp`` lies in ``[1, K]`` on both
    sides: every value is exact and every multiplier bounded (``exp`` on arguments <= 0 and ``log``
    on sums >= 1 have slopes <= 1; the max rule's lies in ``[0, 1]``)."""
    s = _routed_amax(u, dims)
    v = u - s
    e = rescale(v, torch.exp(v.detach()), torch.exp)
    z = e.sum(dims, keepdim=True)
    return s + rescale(z, torch.log(z.detach()), torch.log)


def softmax_rule(ctx: RuleContext, u: torch.Tensor, dim: int, *, log: bool = False, name: str = "softmax") -> torch.Tensor:
    """softmax(u) = exp(u - logsumexp(u)): a linear step and rescaled ``exp``/``log`` only (no
    product of two activations, so no cancellation when the two sides' logits differ a lot)."""
    ctx.paired(u, name)
    d = dim % u.dim()
    if d == 0:
        ctx.fail(name, "normalises over the batch axis (axis 0), which mixes rows")
    w = u - _logsumexp_keep(u, [d])
    if log:
        return w
    return rescale(w, torch.exp(w.detach()), torch.exp)


def logsumexp_rule(ctx: RuleContext, u: torch.Tensor, dim: Any, keepdim: bool) -> torch.Tensor:
    ctx.paired(u, "logsumexp")
    dims = _dims(dim, u.dim())
    if dims is None or 0 in dims:
        ctx.fail("logsumexp", "reduces over the batch axis (axis 0), which mixes rows")
    out = _logsumexp_keep(u, dims)
    return out if keepdim else out.squeeze(tuple(dims))


def normalize_rule(ctx: RuleContext, u: torch.Tensor, dims: Sequence[int], eps: float, *, center: bool = True) -> torch.Tensor:
    """(u - mean) / sqrt(var + eps) over ``dims`` as: linear centring, square (rescale,
    exact: Δ(c²)/Δc = c_x + c_r), mean, rsqrt(· + eps) (rescale), and the product of the
    centred values with the scale (:func:`~._pairs.scaled_product`)."""
    ctx.paired(u, "normalize")
    dims = list(dims)
    if 0 in [d % u.dim() for d in dims]:
        ctx.fail("normalize", "normalises over the batch axis (axis 0), which mixes rows")
    c = u - u.mean(dims, keepdim=True) if center else u
    sq = rescale(c, torch.square(c.detach()), torch.square)
    var = sq.mean(dims, keepdim=True)

    def inv(t: torch.Tensor) -> torch.Tensor:
        return torch.rsqrt(t + eps)

    r = rescale(var, inv(var.detach()), inv)
    return scaled_product(c, r)


def _affine(ctx: RuleContext, y: torch.Tensor, weight: Any, bias: Any) -> torch.Tensor:
    if weight is not None:
        y = mul_any(ctx, y, weight)
    if bias is not None:
        y = y + bias
    return y


# ----------------------------------------------------------------- rules
def _positions(args: Sequence[Any], kwargs: dict) -> list[tuple[Any, int | str]]:
    return [(a, i) for i, a in enumerate(args) if _is_sig(a)] + [(v, k) for k, v in kwargs.items() if _is_sig(v)]


def _out_of_place(func: Callable, name: str) -> Callable:
    if name.endswith("_") and not name.startswith("__"):
        base = name[:-1]
        for owner in (F, torch.Tensor, torch):
            cand = getattr(owner, base, None)
            if callable(cand):
                return cand
    if name in ("__ipow__",):
        return torch.Tensor.__pow__
    return func


def _drop_inplace(func: Callable, args: tuple, kwargs: dict) -> tuple[tuple, dict, bool]:
    """Turn ``inplace=True`` (keyword or positional) into False; report whether it was set."""
    if "inplace" in kwargs:
        kw = dict(kwargs)
        flag = bool(kw["inplace"])
        kw["inplace"] = False
        return args, kw, flag
    try:
        params = list(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return args, kwargs, False
    if "inplace" in params:
        i = params.index("inplace")
        if len(args) > i:
            flag = bool(args[i])
            args = args[:i] + (False,) + args[i + 1:]
            return args, kwargs, flag
    return args, kwargs, False


def _finish_inplace(target: torch.Tensor, result: torch.Tensor) -> torch.Tensor:
    """Write an in-place op's result back into its input (autograd records the copy)."""
    target.copy_(result)
    return target


def elementwise_rule(ctx: RuleContext, func: Callable, name: str, args: tuple, kwargs: dict) -> Any:
    sigs = _positions(args, kwargs)
    if len(sigs) == 2 and name in ("maximum", "minimum", "fmax", "fmin"):
        return max_binary(ctx, sigs[0][0], sigs[1][0], smaller=name in ("minimum", "fmin"), name=name)
    if len(sigs) != 1:
        ctx.fail(name, "has the input signal in more than one argument; deep_shap's rescale rule handles one")
    u, pos = sigs[0]
    ctx.paired(u, name)
    inplace = name.endswith("_") and not name.startswith("__") or name in ("__ipow__",)
    base = _out_of_place(func, name)
    args2, kwargs2, flag = _drop_inplace(base, args, kwargs)
    inplace = inplace or flag

    def g(v: torch.Tensor) -> torch.Tensor:
        if isinstance(pos, int):
            a = args2[:pos] + (v,) + args2[pos + 1:]
            return base(*a, **kwargs2)
        kw = dict(kwargs2)
        kw[pos] = v
        return base(*args2, **kw)

    with torch.no_grad():
        y = g(u.detach())
    if not isinstance(y, torch.Tensor) or not y.is_floating_point():
        ctx.fail(name, "did not return a floating-point tensor")
    out = rescale(u, y, g)
    ctx.used(name.rstrip("_") if not name.startswith("__") else name)
    if inplace:
        return _finish_inplace(u, out)
    return out


def max_binary(ctx: RuleContext, a: torch.Tensor, b: torch.Tensor, *, smaller: bool, name: str) -> torch.Tensor:
    """maximum(a, b) of two signals: the routing rule over a stacked last axis."""
    a, b = torch.broadcast_tensors(a, b)
    ctx.paired(a, name)
    st = torch.stack([a, b], dim=-1)
    out = _route_reduce(ctx, -st if smaller else st, -1, keepdim=False, name=name)
    ctx.used(name)
    return -out if smaller else out


def _route_reduce(ctx: RuleContext, u: torch.Tensor, dim: int, *, keepdim: bool, name: str) -> torch.Tensor:
    d = dim % u.dim()
    if d == 0:
        ctx.fail(name, "takes the max over the batch axis (axis 0), which mixes rows")
    with torch.no_grad():
        vals, idx = u.detach().max(d, keepdim=True)
    out = route_max(vals, idx, lambda i: u.gather(d, i))
    return out if keepdim else out.squeeze(d)


def max_rule(ctx: RuleContext, func: Callable, name: str, args: tuple, kwargs: dict) -> Any:
    """torch.max/min (dim or binary form), amax/amin."""
    smaller = name in ("min", "amin")
    u = args[0] if args else kwargs.get("input")
    other = args[1] if len(args) > 1 and isinstance(args[1], torch.Tensor) else kwargs.get("other")
    if isinstance(other, torch.Tensor):
        sigs = [t for t in (u, other) if _is_sig(t)]
        if len(sigs) == 2:
            return max_binary(ctx, u, other, smaller=smaller, name=name)
        s, c = (u, other) if _is_sig(u) else (other, u)
        ctx.paired(s, name)
        g = (lambda v: torch.minimum(v, c)) if smaller else (lambda v: torch.maximum(v, c))
        ctx.used(name)
        return rescale(s, g(s.detach()), g)
    keepdim = bool(kwargs.get("keepdim", args[2] if len(args) > 2 else False))
    dim = _dim_arg(args, kwargs)
    dims = _dims(dim, u.dim())
    if dims is None or 0 in dims:
        ctx.fail(name, "reduces over every axis including the batch axis (axis 0), which mixes rows; give dim=")
    ctx.paired(u, name)
    v = -u if smaller else u
    if len(dims) == 1:
        out = _route_reduce(ctx, v, dims[0], keepdim=keepdim, name=name)
    else:  # several axes (amax): move them to the end and flatten
        keep = [d for d in range(u.dim()) if d not in dims]
        perm = v.permute(keep + sorted(dims))
        flat = perm.reshape(tuple(perm.shape[: len(keep)]) + (-1,))
        out = _route_reduce(ctx, flat, -1, keepdim=False, name=name)
        if keepdim:
            shape = [1 if d in dims else u.shape[d] for d in range(u.dim())]
            out = out.reshape(shape)
    out = -out if smaller else out
    ctx.used(name)
    if name in ("max", "min") and dim is not None and not isinstance(dim, (list, tuple)):
        with torch.no_grad():
            idx = (u.detach().min if smaller else u.detach().max)(int(dim), keepdim=keepdim).indices
        cls = torch.return_types.min if smaller else torch.return_types.max
        return cls((out, idx))
    return out


_POOL_SIG = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
_ADAPTIVE_SIG = ("input", "output_size", "return_indices")


def maxpool_rule(ctx: RuleContext, func: Callable, name: str, args: tuple, kwargs: dict) -> Any:
    nd = next(k for k in (1, 2, 3) if f"{k}d" in name)
    adaptive = "adaptive" in name
    with_indices = name.endswith("with_indices")
    if adaptive:
        b = bind(args, kwargs, _ADAPTIVE_SIG, {"return_indices": False})
        pool = getattr(F, f"adaptive_max_pool{nd}d_with_indices")
        params = {"output_size": b["output_size"]}
    else:
        b = bind(args, kwargs, _POOL_SIG, {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False,
                                           "return_indices": False})
        pool = getattr(F, f"max_pool{nd}d_with_indices")
        params = {k: b[k] for k in _POOL_SIG[1:6]}
    u = b["input"]
    ctx.paired(u, name)
    if u.dim() != nd + 2:
        ctx.fail(name, f"needs a batched input (N, C, *spatial) with {nd} spatial axes, got shape {tuple(u.shape)}")
    with torch.no_grad():
        vals, idx = pool(u.detach(), **params)

    def take(i: torch.Tensor) -> torch.Tensor:
        return u.flatten(2).gather(2, i.flatten(2)).view(i.shape)

    out = route_max(vals, idx, take)
    ctx.used("max_pool")
    if with_indices or b.get("return_indices"):
        return out, idx
    return out


def multilinear_rule(ctx: RuleContext, func: Callable, name: str, args: tuple, kwargs: dict) -> Any | None:
    """Returns None when at most one factor is a signal (then the op is linear)."""
    if name == "einsum":
        eq, ops = args[0], list(args[1:])
        if len(ops) == 1 and isinstance(ops[0], (list, tuple)):
            ops = list(ops[0])
        sig = [i for i, t in enumerate(ops) if _is_sig(t)]
        if len(sig) <= 1:
            return None
        if len(sig) > 2:
            ctx.fail(name, "multiplies more than two tensors that carry the input signal")
        i, j = sig

        def op(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            o = list(ops)
            o[i], o[j] = a, b
            return torch.einsum(eq, *o)

        ctx.paired(ops[i], name), ctx.paired(ops[j], name)
        ctx.used("bilinear")
        return bilinear(op, ops[i], ops[j])
    (p, q), bias_pos = MULTILINEAR[name]
    bname = "weight" if name == "linear" or name.startswith("conv") else "other"
    a = args[p] if len(args) > p else kwargs.get("input")
    bb = args[q] if len(args) > q else kwargs.get(bname)
    if not (_is_sig(a) and _is_sig(bb)):
        return None
    if name in ("mul_", "__imul__"):
        out = bilinear(torch.mul, a, bb)
        ctx.used("product")
        return _finish_inplace(a, out)
    ctx.paired(a, name)
    if bb.dim() > 0 and bb.shape[0] % ctx.rows == 0:
        ctx.paired(bb, name)
    elif name in ("linear",) or name.startswith("conv"):
        ctx.fail(name, "uses weights computed from the input (a dynamic weight without a batch axis)")
    args_l = list(args)
    kw = dict(kwargs)
    if bias_pos is not None:
        if len(args_l) > bias_pos:
            args_l[bias_pos] = None
        kw.pop("bias", None)
    bias = args[bias_pos] if bias_pos is not None and len(args) > bias_pos else kwargs.get("bias")

    def op(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        al = list(args_l)
        kk = dict(kw)
        if len(al) > p:
            al[p] = x
        else:
            kk["input"] = x
        if len(al) > q:
            al[q] = y
        else:
            kk[bname] = y
        return func(*al, **kk)

    y = func(*[t.detach() if _is_sig(t) else t for t in args],
             **{k: (v.detach() if _is_sig(v) else v) for k, v in kwargs.items()})
    ctx.used("product" if name in ("mul", "multiply", "__mul__", "__rmul__") else "bilinear")
    out = bilinear(op, a, bb, y=y)
    if bias is not None and _is_sig(bias):
        out = out + (bias - bias.detach())  # the bias enters linearly
    return out


def division_rule(ctx: RuleContext, func: Callable, name: str, args: tuple, kwargs: dict) -> Any | None:
    """a / b: linear in ``a``; ``1/b`` by the rescale rule, then a product."""
    b = bind(args, kwargs, ("input", "other"), {})
    a, d = b["input"], b["other"]
    if b.get("rounding_mode") is not None:
        ctx.fail(name, f"with rounding_mode={b['rounding_mode']!r} is not differentiable")
    if not _is_sig(d):
        return None
    ctx.paired(d, name)
    r = rescale(d, torch.reciprocal(d.detach()), torch.reciprocal)
    ctx.used("div")
    out = mul_any(ctx, a, r)
    if name in ("div_", "__itruediv__", "__idiv__") and isinstance(a, torch.Tensor):
        return _finish_inplace(a, out)
    return out


def softmax_dispatch(ctx: RuleContext, func: Callable, name: str, args: tuple, kwargs: dict) -> Any:
    u = args[0] if args else kwargs["input"]
    dim = _dim_arg(args, kwargs)
    if dim is None:  # legacy implicit dim (torch.nn.functional._get_softmax_dim)
        dim = 0 if u.dim() in (0, 1, 3) else 1
    log = name in ("log_softmax", "_log_softmax")
    if name == "softmin":
        u = -u
    ctx.used("log_softmax" if log else "softmax")
    return softmax_rule(ctx, u, int(dim), log=log, name=name)


def layer_norm_rule(ctx: RuleContext, func: Callable, name: str, args: tuple, kwargs: dict) -> Any:
    b = bind(args, kwargs, ("input", "normalized_shape", "weight", "bias", "eps"),
             {"weight": None, "bias": None, "eps": 1e-5})
    u = b["input"]
    shape = b["normalized_shape"]
    k = 1 if isinstance(shape, int) else len(shape)
    dims = list(range(u.dim() - k, u.dim()))
    ctx.used("layer_norm")
    return _affine(ctx, normalize_rule(ctx, u, dims, float(b["eps"])), b["weight"], b["bias"])


def rms_norm_rule(ctx: RuleContext, func: Callable, name: str, args: tuple, kwargs: dict) -> Any:
    b = bind(args, kwargs, ("input", "normalized_shape", "weight", "eps"), {"weight": None, "eps": None})
    u = b["input"]
    shape = b["normalized_shape"]
    k = 1 if isinstance(shape, int) else len(shape)
    dims = list(range(u.dim() - k, u.dim()))
    eps = b["eps"] if b["eps"] is not None else torch.finfo(u.dtype).eps
    ctx.used("rms_norm")
    return _affine(ctx, normalize_rule(ctx, u, dims, float(eps), center=False), b["weight"], None)


def group_norm_rule(ctx: RuleContext, func: Callable, name: str, args: tuple, kwargs: dict) -> Any:
    b = bind(args, kwargs, ("input", "num_groups", "weight", "bias", "eps"), {"weight": None, "bias": None, "eps": 1e-5})
    u = b["input"]
    n, c = u.shape[0], u.shape[1]
    g = int(b["num_groups"])
    y = normalize_rule(ctx, u.reshape(n, g, -1), [2], float(b["eps"])).reshape(u.shape)
    shape = (1, c) + (1,) * (u.dim() - 2)
    w = None if b["weight"] is None else b["weight"].reshape(shape)
    bi = None if b["bias"] is None else b["bias"].reshape(shape)
    ctx.used("group_norm")
    return _affine(ctx, y, w, bi)


def instance_norm_rule(ctx: RuleContext, func: Callable, name: str, args: tuple, kwargs: dict) -> Any:
    b = bind(args, kwargs, ("input", "running_mean", "running_var", "weight", "bias", "use_input_stats", "momentum", "eps"),
             {"running_mean": None, "running_var": None, "weight": None, "bias": None, "use_input_stats": True,
              "momentum": 0.1, "eps": 1e-5})
    u = b["input"]
    c = u.shape[1]
    shape = (1, c) + (1,) * (u.dim() - 2)
    w = None if b["weight"] is None else b["weight"].reshape(shape)
    bi = None if b["bias"] is None else b["bias"].reshape(shape)
    if not b["use_input_stats"]:  # running statistics: affine
        y = (u - b["running_mean"].reshape(shape)) * torch.rsqrt(b["running_var"].reshape(shape) + b["eps"])
        return _affine(ctx, y, w, bi)
    ctx.used("instance_norm")
    y = normalize_rule(ctx, u, list(range(2, u.dim())), float(b["eps"]))
    return _affine(ctx, y, w, bi)


def l2_normalize_rule(ctx: RuleContext, func: Callable, name: str, args: tuple, kwargs: dict) -> Any:
    b = bind(args, kwargs, ("input", "p", "dim", "eps"), {"p": 2.0, "dim": 1, "eps": 1e-12})
    if float(b["p"]) != 2.0:
        ctx.fail(name, f"with p={b['p']} has no rule (only p=2)")
    u = b["input"]
    ctx.paired(u, name)
    dim = int(b["dim"]) % u.dim()
    if dim == 0:
        ctx.fail(name, "normalises over the batch axis (axis 0), which mixes rows")
    eps = float(b["eps"])
    sq = rescale(u, torch.square(u.detach()), torch.square)
    s = sq.sum(dim, keepdim=True)

    def inv(t: torch.Tensor) -> torch.Tensor:
        return 1.0 / torch.sqrt(t).clamp_min(eps)

    r = rescale(s, inv(s.detach()), inv)
    ctx.used("normalize")
    return scaled_product(u, r)


def glu_rule(ctx: RuleContext, func: Callable, name: str, args: tuple, kwargs: dict) -> Any:
    b = bind(args, kwargs, ("input", "dim"), {"dim": -1})
    u = b["input"]
    a, g = u.chunk(2, dim=int(b["dim"]))
    ctx.paired(g, name)
    s = rescale(g, torch.sigmoid(g.detach()), torch.sigmoid)
    ctx.used("glu")
    return mul_any(ctx, a, s)


def sdpa_rule(ctx: RuleContext, func: Callable, name: str, args: tuple, kwargs: dict) -> Any:
    """scaled_dot_product_attention decomposed: q k^T (bilinear), mask, softmax, @ v (bilinear)."""
    b = bind(args, kwargs, ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa"),
             {"attn_mask": None, "dropout_p": 0.0, "is_causal": False, "scale": None, "enable_gqa": False})
    q, k, v = b["query"], b["key"], b["value"]
    if b["dropout_p"]:
        ctx.fail(name, f"with dropout_p={b['dropout_p']} is random; deep_shap needs a deterministic model")
    scale = b["scale"] if b["scale"] is not None else 1.0 / math.sqrt(q.shape[-1])
    if b["enable_gqa"] and k.dim() >= 3 and q.shape[-3] != k.shape[-3]:
        rep = q.shape[-3] // k.shape[-3]
        k = k.repeat_interleave(rep, dim=-3)
        v = v.repeat_interleave(rep, dim=-3)
    scores = matmul_any(ctx, q, k.transpose(-2, -1)) * scale
    L, S = q.shape[-2], k.shape[-2]
    if b["is_causal"]:
        causal = torch.ones(L, S, dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
    mask = b["attn_mask"]
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask
    w = softmax_rule(ctx, scores, -1, name=name) if _is_sig(scores) else torch.softmax(scores, -1)
    ctx.used("scaled_dot_product_attention")
    return matmul_any(ctx, w, v)


#: Ops with a dedicated rule.
SPECIAL: dict[str, Callable] = {
    **{n: softmax_dispatch for n in ("softmax", "_softmax", "log_softmax", "_log_softmax", "softmin")},
    **{n: max_rule for n in ("max", "min", "amax", "amin")},
    **{n: maxpool_rule for n in (
        "max_pool1d", "max_pool2d", "max_pool3d", "_max_pool1d", "_max_pool2d", "_max_pool3d",
        "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
        "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "_adaptive_max_pool1d",
        "_adaptive_max_pool2d", "_adaptive_max_pool3d", "adaptive_max_pool1d_with_indices",
        "adaptive_max_pool2d_with_indices", "adaptive_max_pool3d_with_indices",
    )},
    "layer_norm": layer_norm_rule,
    "rms_norm": rms_norm_rule,
    "group_norm": group_norm_rule,
    "instance_norm": instance_norm_rule,
    "normalize": l2_normalize_rule,
    "glu": glu_rule,
    "scaled_dot_product_attention": sdpa_rule,
    "logsumexp": lambda ctx, func, name, args, kwargs: _lse(ctx, args, kwargs),
}


def _lse(ctx: RuleContext, args: tuple, kwargs: dict) -> torch.Tensor:
    b = bind(args, kwargs, ("input", "dim", "keepdim"), {"keepdim": False})
    ctx.used("logsumexp")
    return logsumexp_rule(ctx, b["input"], b["dim"], bool(b["keepdim"]))


def supported_ops() -> dict[str, list[str]]:
    """The op names deep_shap knows, by kind (for messages and docs).

    Returns
    -------
    dict
        ``{kind: sorted op names}`` for the kinds "nonlinear (rescale rule)",
        "products of two signals (Shapley split)", "special rules" and
        "linear and shape ops (pass through)".

    Example
    -------
    >>> "relu" in supported_ops()["nonlinear (rescale rule)"]
    True
    """

    def clean(names: Any) -> list[str]:
        return sorted({n.rstrip("_") if not n.startswith("__") else n for n in names if not n.startswith("_") or n.startswith("__")})

    return {
        "nonlinear (rescale rule)": clean(ELEMENTWISE),
        "products of two signals (Shapley split)": clean(MULTILINEAR),
        "special rules": clean(SPECIAL) + ["div (signal denominator)"],
        "linear and shape ops (pass through)": clean(LINEAR),
    }


def short_listing() -> str:
    """The nonlinear ops with a rule, compactly (for error messages)."""
    ops = supported_ops()
    names = [n for n in ops["nonlinear (rescale rule)"] + ops["special rules"]
             if not n.startswith("__") and "max_pool" not in n and "(" not in n]
    return ", ".join(sorted(set(names))) + ", max_pool1d/2d/3d (and adaptive), division by an activation"
