"""Model-parameter randomisation test (Adebayo et al. 2018, "Sanity checks for saliency maps").

A map that explains a model must change when the model's learned
parameters are destroyed. :func:`sanity_check` re-initialises the model's
layers one at a time from the output down (*cascading*: each stage keeps
the layers above randomised), recomputes the map after each stage for the
same target as the original, and reports how similar it stays (Spearman
rank correlation per sample). Everything happens on a deep copy: the user's
model is never run, changed or hooked.
"""
from __future__ import annotations

import copy
import difflib
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Sequence, Union

import numpy as np
import torch
from torch import nn

from ..attribution import Attribution
from ._core import (
    Target,
    as_batches,
    check_forward_kwargs,
    check_model,
    check_output_names,
    chunk_ranges,
    default_chunk,
    hooks,
    model_as_found,
    model_call_error,
    normal_tensor,
    repeat_kwargs,
    resolve_output_names,
    resolve_target,
    to_scores,
)
from ._progress import progress

__all__ = ["sanity_check", "SanityCheck", "KERNELS", "DEFAULT_THRESHOLD"]

#: Kernels taking ``(model, inputs, target=..., **params)``.
_PLAIN = ("saliency", "input_x_gradient", "integrated_gradients", "smoothgrad", "grad_cam", "occlusion")
#: Kernels taking ``(model, x, background, target=..., **params)``: ``background=`` is required.
_SHAPLEY = ("gradient_shap", "deep_shap", "kernel_shap", "exact_shap", "permutation_shap")
#: Every kernel name ``method=`` accepts.
KERNELS = _PLAIN + _SHAPLEY
#: A sample passes when its ``|map|`` rank correlation ends below this.
DEFAULT_THRESHOLD = 0.5

Method = Union[str, Callable[..., Any]]


# ------------------------------------------------------------------ result
@dataclass(frozen=True, eq=False)
class SanityCheck:
    """Result of :func:`sanity_check`.

    Attributes
    ----------
    method : str
        The kernel's name (or the callable's ``__name__``).
    layers : tuple of str
        Randomised layers, top (output) first; stage ``j`` has layers
        ``0..j`` re-initialised. The root module's own parameters are named
        ``"(root)"``.
    rank_correlation : ndarray ``(L, N)``
        Spearman rank correlation of ``|map|`` (absolute values) between
        the original map and the map at each stage, per sample.
    signed_rank_correlation : ndarray ``(L, N)``
        The same for the signed maps.
    threshold : float
        The verdict's threshold (see :attr:`passed`).
    compare : str
        Which correlation the verdict reads: ``"abs"`` (``rank_correlation``)
        or ``"signed"`` (``signed_rank_correlation``).
    target : ndarray ``(N,)``
        The original model's output index per row, used at every stage.
    skipped : tuple of str
        Modules with parameters that the forward pass never called (not
        randomised: they cannot change the map).
    original : ndarray ``(N, ...)``
        The original map's values.
    maps : ndarray ``(L, N, ...)`` or None
        The map at each stage (``keep_maps=True``).
    seed : int

    Verdict
    -------
    A sample passes when the rank correlation of ``|map|`` (``compare="abs"``,
    the default; ``"signed"``: of the signed maps) is below ``threshold``
    once every listed layer is randomised (the last stage): a map that still
    ranks its elements like the original when no learned parameter is left
    does not depend on what the model learned. ``"abs"`` is the stricter
    reading (Adebayo et al.'s main one): magnitudes keep the input's
    structure longer than signs, so input-weighted maps (input x gradient,
    integrated gradients, SHAP from a zero baseline) often keep ``|map|``
    correlations near 0.5 on a random model while their signs decorrelate.
    :attr:`passed` is True when every sample passes. Constant maps have no
    ranking: two constant maps count as correlation 1 when equal, else 0;
    one constant map against a varying one counts as 0.
    """

    method: str
    layers: tuple
    rank_correlation: np.ndarray
    signed_rank_correlation: np.ndarray
    threshold: float
    compare: str
    target: np.ndarray
    skipped: tuple
    original: np.ndarray
    maps: np.ndarray | None
    seed: int

    @property
    def compared(self) -> np.ndarray:
        """The correlations the verdict reads, ``(L, N)`` (see ``compare``)."""
        return self.rank_correlation if self.compare == "abs" else self.signed_rank_correlation

    @property
    def passed_per_sample(self) -> np.ndarray:
        """``(N,)`` bool: the last stage's correlation is below ``threshold`` (NaN fails)."""
        return self.compared[-1] < self.threshold

    @property
    def passed(self) -> bool:
        """True when every sample's map decorrelates (see the class docstring)."""
        return bool(self.passed_per_sample.all())

    @property
    def first_below(self) -> np.ndarray:
        """``(N,)`` int: the first stage whose compared correlation is below ``threshold`` (-1: none)."""
        below = self.compared < self.threshold
        return np.where(below.any(0), below.argmax(0), -1)

    @property
    def verdict(self) -> str:
        n = self.rank_correlation.shape[1]
        what = "|map|" if self.compare == "abs" else "signed map"
        if self.passed:
            return (
                f"passed: every sample's {what} rank correlation with the original is below {self.threshold:g} "
                "with all layers randomised"
            )
        bad = np.flatnonzero(~self.passed_per_sample).tolist()
        return (
            f"FAILED for {len(bad)} of {n} samples {bad[:10]}{' ...' if len(bad) > 10 else ''}: their {what} keeps "
            f"a rank correlation >= {self.threshold:g} with the original after every layer is re-initialised, so "
            "the map does not depend on what the model learned"
        )

    def summary(self) -> str:
        """A table of the mean (min..max) correlation per stage, and the verdict."""
        n = self.rank_correlation.shape[1]
        width = max([len("randomised down to")] + [len(name) for name in self.layers])

        def cell(row: np.ndarray) -> str:
            return f"{np.mean(row):+.2f} ({np.min(row):+.2f}..{np.max(row):+.2f})"

        lines = [
            f"Sanity check of {self.method!r}: cascading randomisation of {len(self.layers)} layers, "
            f"{n} sample{'s' if n != 1 else ''}",
            "Spearman rank correlation with the original map, mean (min..max) over samples:",
            f"  {'randomised down to'.ljust(width)}  {'|map|'.ljust(22)}  signed",
        ]
        for j, name in enumerate(self.layers):
            lines.append(
                f"  {name.ljust(width)}  {cell(self.rank_correlation[j]).ljust(22)}  "
                f"{cell(self.signed_rank_correlation[j])}"
            )
        if self.skipped:
            lines.append(f"not called by the forward pass (not randomised): {list(self.skipped)}")
        lines.append(f"verdict: {self.verdict}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        last = self.compared[-1]
        what = "|map|" if self.compare == "abs" else "signed"
        return (
            f"SanityCheck(method={self.method!r}, layers={len(self.layers)}, samples={last.size}, "
            f"final {what} rank correlation={np.mean(last):.3g} (min {np.min(last):.3g}, max {np.max(last):.3g}), "
            f"passed={self.passed})"
        )


# -------------------------------------------------------------- utilities
def rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation per row of two ``(N, E)`` arrays (average ranks for ties) → ``(N,)``.

    Rows where a map is constant: 1.0 when both are constant and equal,
    else 0.0. Rows with NaN/inf give NaN.

    >>> rank_correlation(np.array([[1., 2., 3.]]), np.array([[10., 30., 20.]])).tolist()
    [0.5]
    """
    from scipy.stats import rankdata

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.full(a.shape[0], np.nan)
    for i in range(a.shape[0]):
        x, y = a[i], b[i]
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            continue
        cx, cy = np.ptp(x) == 0, np.ptp(y) == 0
        if cx or cy:
            out[i] = 1.0 if (cx and cy and np.array_equal(x, y)) else 0.0
            continue
        rx, ry = rankdata(x), rankdata(y)
        rx -= rx.mean()
        ry -= ry.mean()
        out[i] = float(np.clip((rx @ ry) / np.sqrt((rx @ rx) * (ry @ ry)), -1.0, 1.0))
    return out


def _kernels() -> dict[str, Callable[..., Any]]:
    # imported here: the kernel modules import the package's result types, and this module is imported with them
    from .grad_cam import grad_cam
    from .gradients import input_x_gradient, integrated_gradients, saliency, smoothgrad
    from .occlusion import occlusion
    from .shapley import deep_shap, exact_shap, gradient_shap, kernel_shap, permutation_shap

    found = dict(
        saliency=saliency, input_x_gradient=input_x_gradient, integrated_gradients=integrated_gradients,
        smoothgrad=smoothgrad, grad_cam=grad_cam, occlusion=occlusion, gradient_shap=gradient_shap,
        deep_shap=deep_shap, kernel_shap=kernel_shap, exact_shap=exact_shap, permutation_shap=permutation_shap,
    )
    return {k: found[k] for k in KERNELS}


def _resolve_method(method: Any) -> tuple[str, Callable[..., Any], bool]:
    """→ ``(name, function, takes_background)``."""
    if isinstance(method, str):
        if method not in KERNELS:
            close = difflib.get_close_matches(method.lower(), KERNELS, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"unknown method {method!r}: known kernels are {', '.join(KERNELS)}{hint}")
        return method, _kernels()[method], method in _SHAPLEY
    if callable(method):
        return getattr(method, "__name__", type(method).__name__), method, False
    raise TypeError(
        "method must be a kernel name (" + ", ".join(KERNELS) + ") or a callable "
        f"(model, inputs, target=..., **params) returning an Attribution; got {type(method).__name__}"
    )


def _own_param_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules with parameters of their own (not only their children's), in registration order."""
    out = []
    for name, mod in model.named_modules():
        if any(True for _ in mod.parameters(recurse=False)):
            out.append((name or "(root)", mod))
    return out


def _map_to_copy(value: Any, names: dict[int, str], copy_modules: dict[str, nn.Module]) -> Any:
    """A submodule of the user's model (e.g. ``layer=``) → the copy's module of the same name."""
    if isinstance(value, nn.Module) and id(value) in names:
        return copy_modules[names[id(value)]]
    return value


def _reinit(module: nn.Module, seed: int) -> None:
    """Re-initialise ``module``'s own parameters, seeded, without touching the global RNG state."""
    params = list(module.parameters(recurse=False))
    devices = sorted({p.device.index or 0 for p in params if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        reset = getattr(module, "reset_parameters", None) or getattr(module, "_reset_parameters", None)
        if callable(reset):
            reset()
            return
        # a custom module: redraw each parameter around zero with its own spread (so the scale stays)
        for p in params:
            flat = p.detach().double().reshape(-1)
            std = float(flat.std()) if flat.numel() > 1 else 0.0
            if not np.isfinite(std) or std == 0.0:
                std = float(flat.abs().mean()) or 1.0
            p.normal_(0.0, std)


def _map_values(result: Any, n: int, name: str) -> np.ndarray:
    """The map of ``result`` (Attribution, tuple of them, tensor or array) → float64 ``(N, ...)``;
    a tuple's maps are flattened and concatenated per row."""
    if isinstance(result, tuple):
        parts = [_map_values(r, n, name).reshape(n, -1) for r in result]
        return np.concatenate(parts, axis=1)
    if isinstance(result, Attribution):
        v = np.asarray(result.values)
    elif isinstance(result, torch.Tensor):
        v = result.detach().cpu().double().numpy()
    elif isinstance(result, np.ndarray):
        v = result
    else:
        raise TypeError(f"method {name!r} must return an Attribution, a tensor or an array; got {type(result).__name__}")
    if v.ndim < 1 or v.shape[0] != n:
        raise ValueError(f"method {name!r} returned values of shape {tuple(v.shape)} for {n} input rows")
    return np.asarray(v, dtype=np.float64)


# ------------------------------------------------------------------ kernel
def sanity_check(
    model: nn.Module,
    inputs: Any,
    method: Method,
    /,
    *,
    target: Target = None,
    layers: Sequence[str | nn.Module] | None = None,
    seed: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    compare: str = "abs",
    keep_maps: bool = False,
    **params: Any,
) -> SanityCheck:
    """Cascading model-parameter randomisation: does the map depend on the learned weights?

    Parameters
    ----------
    model : nn.Module
        Never changed, run or hooked: all work happens on ``copy.deepcopy(model)``
        (memory: one extra copy of the model). Hooks the user registered on
        the model are copied with it, so they see the copy's forward passes.
    inputs : tensor ``(N, ...)`` or tuple of tensors
        As the method takes them.
    method : str or callable
        A kernel name (:data:`KERNELS`: ``"saliency"``, ``"input_x_gradient"``,
        ``"integrated_gradients"``, ``"smoothgrad"``, ``"grad_cam"``,
        ``"occlusion"``, ``"gradient_shap"``, ``"deep_shap"``,
        ``"kernel_shap"``, ``"exact_shap"``, ``"permutation_shap"``; the
        Shapley ones need ``background=``), or a callable
        ``method(model, inputs, target=..., **params)`` returning an
        Attribution (a tuple of them, or a tensor/array ``(N, ...)``).
    target : None, int, class name or one per row
        Resolved once on the original model (``None``: each row's top
        class) and passed to every stage as one index per row.
    layers : list of names or submodules, optional
        Layers to randomise, top first, in that order (cumulatively).
        Default: every module with parameters of its own (``Linear``,
        ``Conv*``, norm layers, embeddings, a ``MultiheadAttention``'s
        input projection, the root's own ``nn.Parameter`` s ...) that the
        forward pass calls, ordered by when its forward ends, last first.
    seed : int
        Stage ``j`` re-initialises with ``torch.manual_seed(seed + j)``
        inside ``torch.random.fork_rng`` (the global RNG is untouched).
    threshold : float
        The verdict's threshold on the final rank correlation.
    compare : ``"abs"`` or ``"signed"``
        Whether the verdict reads the correlation of ``|map|`` (default,
        stricter) or of the signed maps; both are always reported.
    keep_maps : bool
        Keep every stage's map in ``maps`` (``(L, N, ...)``).
    **params
        Passed to the method at every stage (``layer=``, ``steps=``,
        ``background=``, ``output=``, ``forward_kwargs=`` ...; ``model``,
        ``inputs`` and ``method`` are positional only, so a kernel's own
        ``method=`` passes through too). A submodule of ``model`` is
        replaced by the copy's module of the same name.

    Returns
    -------
    SanityCheck
        ``layers``, ``rank_correlation`` ``(L, N)`` (of ``|map|``),
        ``signed_rank_correlation`` ``(L, N)``, ``passed`` / ``verdict`` /
        ``summary()``.

    Notes
    -----
    A layer is re-initialised by its own ``reset_parameters()`` (the
    initialiser torch uses when the layer is built: Kaiming-uniform for
    ``Linear``/``Conv``, ones and zeros for norm layers — whose running
    statistics are reset too — N(0, 1) for ``Embedding``); a module without
    one gets each parameter redrawn from ``N(0, std)`` with the parameter's
    own standard deviation. Cost: ``L + 1`` runs of the method plus one
    forward pass over the batch (target and layer order).

    Example
    -------
    >>> s = xw.sanity_check(model, images, "integrated_gradients", steps=32)   # doctest: +SKIP
    >>> print(s.summary())                                                      # doctest: +SKIP
    >>> s.passed                                                                # doctest: +SKIP
    True
    """
    # ------------------------------------------------------- cheap checks
    model = check_model(model)
    name, fn, shapley = _resolve_method(method)
    if shapley and "background" not in params:
        raise ValueError(f"method {name!r} needs background=<reference rows (B, ...)>, passed through **params")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {seed!r}")
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, numbers.Real) or not -1 <= threshold <= 1:
        raise ValueError(f"threshold must be a number in [-1, 1] (a rank correlation), got {threshold!r}")
    if compare not in ("abs", "signed"):
        raise ValueError(f"compare must be 'abs' or 'signed', got {compare!r}")
    if not isinstance(keep_maps, (bool, np.bool_)):
        raise TypeError(f"keep_maps must be True or False, got {keep_maps!r}")
    if isinstance(target, str) and target == "all":
        raise ValueError("target='all' is not supported: the check compares one map per row; pass one class or None")
    xs, was_tuple = as_batches(inputs, model, allow_int=True)
    n = int(xs[0].shape[0])
    fkw = {
        k: (normal_tensor(v).to(xs[0].device) if isinstance(v, torch.Tensor) else v)
        for k, v in check_forward_kwargs(params.get("forward_kwargs")).items()
    }
    output = params.get("output")
    if output is not None and not callable(output):
        raise TypeError(f"output must be a callable mapping the model's output to (N, K) scores, got {output!r}")

    user_names = {id(m): nm for nm, m in model.named_modules()}
    candidates = _own_param_modules(model)
    chosen: list[str] | None = None
    if layers is not None:
        if isinstance(layers, (str, nn.Module)):
            layers = [layers]
        by_name = {nm: m for nm, m in candidates}
        chosen = []
        for item in layers:
            if isinstance(item, nn.Module):
                if id(item) not in user_names:
                    raise ValueError(f"layer {type(item).__name__} is not a submodule of the model")
                key = user_names[id(item)] or "(root)"
            elif isinstance(item, str):
                key = item
            else:
                raise TypeError(f"layers must hold submodule names or submodules, got {type(item).__name__}")
            if key not in by_name:
                close = difflib.get_close_matches(key, list(by_name), n=3)
                hint = f"; close matches: {close}" if close else ""
                raise ValueError(
                    f"layer {key!r} is not a module with parameters of its own in the model{hint}; "
                    f"candidates: {list(by_name)[:12]}"
                )
            if key in chosen:
                raise ValueError(f"layer {key!r} is listed twice")
            chosen.append(key)
        if not chosen:
            raise ValueError("layers is empty; give at least one layer (or None for all)")
    elif not candidates:
        raise ValueError("the model has no parameters: there is nothing to randomise")

    # ------------------------------------------------- the copy, target, order
    try:
        work = copy.deepcopy(model)
    except Exception as e:  # noqa: BLE001 - whatever deepcopy cannot copy
        raise TypeError(
            f"sanity_check randomises a deep copy of the model, and copy.deepcopy failed: {type(e).__name__}: {e}"
        ) from e
    work_modules = {nm or "(root)": m for nm, m in work.named_modules()}
    ended: dict[str, int] = {}
    clock = [0]

    def recorder(key: str) -> Callable[[], Any]:
        def hook(module: nn.Module, args: Any, out: Any) -> None:
            clock[0] += 1
            ended[key] = clock[0]  # the last call wins: a reused module counts where it ends last

        return lambda: work_modules[key].register_forward_hook(hook)

    names = resolve_output_names(model, params.get("output_names"))
    chunk = default_chunk(n, params.get("batch_size"))
    with model_as_found(work), torch.no_grad():
        scores = []
        with hooks(*(recorder(nm) for nm, _ in candidates)):
            for a, b in chunk_ranges(n, chunk):
                rows = torch.arange(a, b, device=xs[0].device)
                part = tuple(x[a:b] for x in xs)
                try:
                    out = work(*part, **repeat_kwargs(fkw, rows, n))
                except Exception as e:  # noqa: BLE001 - the user's model failing on well-formed input
                    if a > 0:
                        raise
                    raise model_call_error(e, part if was_tuple else part[0], full=xs if was_tuple else xs[0]) from e
                scores.append(to_scores(out, output, n=b - a))
                if a == 0:
                    order = dict(ended)
        scores = torch.cat(scores)
    names = check_output_names(names, int(scores.shape[1]), explicit=params.get("output_names") is not None)
    tgt = resolve_target(target, scores, output_names=names)
    if isinstance(tgt, str):  # pragma: no cover - "all" is rejected above
        raise ValueError("target='all' is not supported")
    called = sorted(order, key=lambda k: -order[k])  # last to end first: the top of the model
    skipped = tuple(nm for nm, _ in candidates if nm not in order)
    stage_layers = chosen if chosen is not None else called
    if not stage_layers:
        raise ValueError("the forward pass called no module with parameters: there is nothing to randomise")

    call_params = {k: _map_to_copy(v, {i: (nm or "(root)") for i, nm in user_names.items()}, work_modules)
                   for k, v in params.items()}
    given = xs if was_tuple else xs[0]

    def run() -> np.ndarray:
        if shapley:
            background = call_params["background"]
            rest = {k: v for k, v in call_params.items() if k != "background"}
            res = fn(work, given, background, target=tgt, **rest)
        else:
            res = fn(work, given, target=tgt, **call_params)
        return _map_values(res, n, name)

    # ------------------------------------------------------------- stages
    original = run()
    flat0 = original.reshape(n, -1)
    corr_abs = np.empty((len(stage_layers), n))
    corr_sig = np.empty((len(stage_layers), n))
    maps = [] if keep_maps else None
    with progress(total=len(stage_layers), desc=f"sanity check ({name})", unit="layer") as bar:
        for j, key in enumerate(stage_layers):
            _reinit(work_modules[key], int(seed) + j)
            now = run()
            if now.shape != original.shape:
                raise ValueError(
                    f"method {name!r} returned values of shape {now.shape} after randomising {key!r}, "
                    f"{original.shape} before"
                )
            flat = now.reshape(n, -1)
            corr_abs[j] = rank_correlation(np.abs(flat0), np.abs(flat))
            corr_sig[j] = rank_correlation(flat0, flat)
            if maps is not None:
                maps.append(now)
            bar.update()
    del work
    return SanityCheck(
        method=name,
        layers=tuple(stage_layers),
        rank_correlation=corr_abs,
        signed_rank_correlation=corr_sig,
        threshold=float(threshold),
        compare=compare,
        target=tgt.detach().cpu().numpy(),
        skipped=skipped,
        original=original,
        maps=None if maps is None else np.stack(maps),
        seed=int(seed),
    )

