"""``capture_attention``: the attention weights of a model, whatever computes them."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ...attention_maps import AttentionMaps
from .._core import model_as_found, this_thread_only
from . import _hf, _torch_mha
from ._common import Recorder

__all__ = ["capture_attention"]


def capture_attention(
    model: nn.Module,
    *args: Any,
    layers: Any = None,
    heads: Any = None,
    dtype: torch.dtype | None = None,
    tokenizer: Any = None,
    modules: Any = None,
    **model_kwargs: Any,
) -> AttentionMaps:
    """Run ``model(*args, **model_kwargs)`` (or a method such as ``model.generate``) and return its attention weights.

    Parameters
    ----------
    model : torch.nn.Module or a bound method of one
        A Hugging Face transformer (any attention implementation), a model
        built from ``nn.MultiheadAttention``, or any model with ``modules=``.
        A bound method such as ``model.generate`` is called instead of the
        model, and every forward pass it makes is captured (see Notes,
        *Several forward passes*).
    *args
        The model's positional inputs (e.g. ``input_ids``).
    layers : None, int, str or a list of them
        Which attention calls to keep: indices into the calls in execution
        order (negative counts from the end) or module names. Default: all.
    heads : None, int or list of int
        Which heads to keep (computed only for those heads where the
        weights are recomputed).
    dtype : torch dtype, optional
        Cast each layer's maps as they are captured (``torch.float16`` halves
        memory). Default: float32 (the model's dtype for float64 models).
    tokenizer : optional
        Decodes ``input_ids`` (first positional tensor or ``input_ids=``) into ``tokens``.
    modules : dict or list, optional
        ``{"dotted.name": fn}`` where ``fn(module, args, kwargs, output)``
        returns that module's weights ``(B, H, Q, K)`` (for attention modules
        of other kinds), or a list of names restricting capture to those
        Hugging Face / ``MultiheadAttention`` modules.
    **model_kwargs
        Passed to the model untouched (``attention_mask``, ``pixel_values`` ...).

    Returns
    -------
    AttentionMaps
        ``(L, H, Q, K)`` for a batch of one (padding removed per
        ``attention_mask``), ``(B, L, H, Q, K)`` with ``mask`` for larger
        batches (``.sample(i)`` removes row ``i``'s padding). ViT-style
        inputs (``pixel_values`` and a ``config.patch_size``) set
        ``patch_grid`` and ``n_prefix_tokens``. Several forward passes over
        one growing sequence (``model.generate``) give one ``(S, S)`` map
        per layer and head over the whole sequence read.

    Notes
    -----
    Works on

    * **Hugging Face transformers** models with any attention implementation.
      The attention function each attention module calls (looked up in
      ``ALL_ATTENTION_FUNCTIONS``) is wrapped for the pass: ``eager``
      weights are read as returned; for ``sdpa`` / ``flash_attention_*`` the
      weights are computed from the query and key the function received —
      after rotary embeddings, with grouped-query heads expanded, with
      ``position_bias`` (relative positions), soft-capping, sinks and the mask
      applied — one batched ``softmax(q kᵀ)`` per layer. The function itself
      still computes the output, so outputs are unchanged.
    * ``nn.MultiheadAttention``, also inside ``nn.TransformerEncoderLayer`` /
      ``DecoderLayer`` (self- and cross-attention; the fused eval fast path is
      switched off for the pass, see ``_torch_mha``).
    * anything else, through ``modules={"dotted.name": fn}`` (a forward hook
      calls ``fn``).

    The model runs in eval mode under ``torch.no_grad()`` and is left as
    found: hooks and patches are removed on every exit path. Cost: the
    model's forward plus one ``q kᵀ`` / softmax per layer for implementations
    that do not return weights.

    Several forward passes: when the call runs the model's forward more than
    once, as ``model.generate`` does (a prefill pass over the ``P`` prompt
    tokens, then one pass per new token that reads the key-value cache, its
    query length 1), the passes are assembled into the full causal map of
    the sequence: pass ``p`` with ``Q`` queries over ``K`` keys fills rows
    ``K - Q .. K - 1`` (and columns ``0 .. K - 1``) of an ``(S, S)`` map
    per layer and head, ``S`` the longest key length. The result is what one
    forward over the whole sequence gives (to float rounding), except that
    the last generated token, which the model produced but never read, has
    no row or column: after ``G`` new tokens ``S = P + G - 1``, and
    ``tokens`` are the ``S`` tokens read (the decoded ``input_ids`` of the
    passes). ``params["passes"]`` counts the passes, ``layers=`` indexes
    the attention calls of one pass, and ``attention_mask`` of the last pass
    gives ``mask`` for a batch. The passes must extend one sequence: the
    first covers positions ``0 .. K - 1``, each later one has more keys
    and starts its queries where the previous ones ended or earlier (later
    passes overwrite rows they repeat, e.g. ``generate(use_cache=False)``);
    anything else (two unrelated calls) is a ``ValueError``, and so are
    attention calls outside the passes (the encoder of an encoder-decoder
    model, which ``generate`` runs once: select the decoder's layers by
    name). Per-step maps are not kept separately: a step's rows are
    ``maps.weights[..., K - Q:K, :K]``.

    Threads: captures (and other kernels) may run on the same model from
    several threads at once; each records only its own thread's forward, and
    forwards in other threads are neither recorded nor changed. Process-wide
    switches are held while any capture runs and restored by the last one:
    the Hugging Face attention lookup is wrapped (a pass-through outside a
    capture's thread) and the ``nn.MultiheadAttention`` fast path is off, so
    other threads' transformer layers take the slow path meanwhile (same
    outputs to float rounding).

    Examples
    --------
    >>> import xai_widgets as xw
    >>> from xai_widgets import demo
    >>> tok, model = demo.minilm("sdpa")                           # doctest: +SKIP
    >>> enc = tok(["The cat sat.", "A dog barked loudly."], padding=True, return_tensors="pt")  # doctest: +SKIP
    >>> maps = xw.capture_attention(model, **enc, tokenizer=tok, layers=[0, -1])  # doctest: +SKIP
    >>> maps.sample(0).shape                                        # (L, H, Q, K)  # doctest: +SKIP
    (2, 12, 6, 6)

    During generation (SmolLM2: 30 layers × 9 heads; 8 new tokens):

    >>> tok, lm = demo.smollm2()                                    # doctest: +SKIP
    >>> enc = tok("The capital of France is", return_tensors="pt")  # 5 tokens  # doctest: +SKIP
    >>> maps = xw.capture_attention(lm.generate, **enc, max_new_tokens=8, do_sample=False,
    ...                             tokenizer=tok, layers=-1)       # doctest: +SKIP
    >>> maps.shape                                                  # S = 5 + 8 - 1  # doctest: +SKIP
    (1, 9, 12, 12)
    """
    model, call = _resolve_call(model)
    dtype = _check_dtype(dtype)
    head_list = _check_heads(heads)
    custom, only = _check_modules(model, modules)
    want = _check_layers(layers)
    names_filter = None
    if only is not None:
        names_filter = set(only)
    if want is not None and all(isinstance(x, str) for x in want):
        known = {n for n, _ in model.named_modules()}
        for n in want:
            if n not in known:
                close = [k for k in known if n in k][:5]
                raise ValueError(f"layers: model has no module named {n!r}" + (f"; similar names: {close}" if close else ""))
        names_filter = set(want) if names_filter is None else names_filter & set(want)

    if only is None:
        cands = _hf.attention_modules(model) + _torch_mha.mha_modules(model)
        if not cands:
            raise ValueError(
                f"found no attention module in {type(model).__name__}: capture_attention reads Hugging Face "
                "attention modules and nn.MultiheadAttention; for anything else pass "
                "modules={'dotted.name': fn(module, args, kwargs, output) -> (B, H, Q, K)}"
            )
    module_names = {id(m): n for n, m in model.named_modules()}
    rec = Recorder(module_names, names=names_filter, heads=head_list, dtype=dtype)
    cands = _hf.attention_modules(model) + _torch_mha.mha_modules(model) if only is None else [(n, None) for n in only]
    rec.expected = sum(1 for n, _ in cands if names_filter is None or n in names_filter)
    passes = _Passes(model, rec)
    with model_as_found(model), torch.no_grad(), _hf.intercept(rec), _torch_mha.intercept(model, rec, custom), passes:
        result = call(*args, **model_kwargs)
    if len(passes.starts) > 1:
        maps = _assemble_passes(model, rec, passes, want, tokenizer, params={"heads": head_list})
    else:
        maps = _assemble(model, rec, want, args, model_kwargs, tokenizer, params={"heads": head_list})
        maps._inputs = (args, model_kwargs)
        if call is not model:  # the method's own arguments (max_new_tokens ...) are no model inputs
            ids, am = passes.inputs[0] if passes.inputs else (None, None)
            maps._inputs = None if ids is None else ((), {"input_ids": ids, **({} if am is None else {"attention_mask": am})})
    if call is not model:
        maps._output = result  # what the method returned (e.g. generate's sequences), for the caller
    return maps


def _resolve_call(model: Any) -> tuple[nn.Module, Callable]:
    """The module to capture and what to call: the module itself, or a bound method of it (``model.generate``)."""
    if isinstance(model, nn.Module):
        return model, model
    owner = getattr(model, "__self__", None)
    if callable(model) and isinstance(owner, nn.Module):
        return owner, model
    raise TypeError(
        "model must be a torch.nn.Module or a bound method of one (e.g. model.generate), "
        f"got {type(model).__name__}"
    )


class _Passes:
    """Marks where each forward pass of the root module starts in the recorder, with its inputs.

    A forward pre-hook on the root module (only in this thread) notes the
    number of records so far and the pass's ``input_ids`` / ``attention_mask``
    (positional first tensor or keywords); nested calls of the root (a model
    whose forward calls itself) are not new passes.
    """

    def __init__(self, model: nn.Module, rec: Recorder):
        self.model, self.rec = model, rec
        self.starts: list[int] = []
        self.inputs: list[tuple[Any, Any]] = []
        self._depth = 0
        self._handles: list = []

    def __enter__(self) -> "_Passes":
        def pre(module, args, kwargs):
            if self._depth == 0:
                self.starts.append(len(self.rec.records))
                self.inputs.append((_input_ids(args, kwargs), kwargs.get("attention_mask")))
            self._depth += 1

        def post(module, args, kwargs, output):
            self._depth -= 1

        self._handles = [
            self.model.register_forward_pre_hook(this_thread_only(pre), with_kwargs=True),
            self.model.register_forward_hook(this_thread_only(post), with_kwargs=True, always_call=True),
        ]
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


# ------------------------------------------------------------------ checks
def _check_dtype(dtype: Any) -> torch.dtype | None:
    if dtype is None:
        return None
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch dtype such as torch.float16, got {dtype!r}")
    return dtype


def _check_heads(heads: Any) -> list[int] | None:
    if heads is None:
        return None
    if isinstance(heads, (int, np.integer)) and not isinstance(heads, bool):
        heads = [int(heads)]
    try:
        out = [int(h) for h in heads if not isinstance(h, bool) and isinstance(h, (int, np.integer))]
        ok = len(out) == len(list(heads))
    except TypeError:
        ok = False
    if not ok or not out:
        raise TypeError(f"heads must be an int or a non-empty list of ints, got {heads!r}")
    if any(h < 0 for h in out):
        raise ValueError(f"heads must be >= 0, got {out}")
    return out


def _check_layers(layers: Any) -> list | None:
    if layers is None:
        return None
    if isinstance(layers, (str, int, np.integer)) and not isinstance(layers, bool):
        layers = [layers]
    if not isinstance(layers, (list, tuple, range)) or not len(layers):
        raise TypeError(f"layers must be an int, a module name or a non-empty list of them, got {layers!r}")
    out = []
    for x in layers:
        if isinstance(x, bool) or not isinstance(x, (int, np.integer, str)):
            raise TypeError(f"layers must hold ints or module names, got {x!r}")
        out.append(x if isinstance(x, str) else int(x))
    return out


def _check_modules(model: nn.Module, modules: Any) -> tuple[dict | None, list | None]:
    if modules is None:
        return None, None
    named = dict(model.named_modules())
    if isinstance(modules, dict):
        items = list(modules.items())
    elif isinstance(modules, (list, tuple)):
        items = [(m, None) for m in modules]
    else:
        raise TypeError("modules must be a dict {'dotted.name': fn(module, args, kwargs, output) -> (B, H, Q, K)} or a list of names")
    custom = {}
    for name, fn in items:
        if not isinstance(name, str) or name not in named:
            raise ValueError(f"modules: model has no module named {name!r}")
        if fn is None:
            m = named[name]
            if not (isinstance(m, nn.MultiheadAttention) or name in dict(_hf.attention_modules(model))):
                raise ValueError(
                    f"modules: {name!r} ({type(m).__name__}) is neither a Hugging Face attention module nor "
                    "nn.MultiheadAttention; pass {name: fn(module, args, kwargs, output) -> (B, H, Q, K)}"
                )
        elif not callable(fn):
            raise TypeError(f"modules[{name!r}] must be a function (module, args, kwargs, output) -> (B, H, Q, K)")
        else:
            custom[name] = fn
    return custom, [n for n, _ in items]


# ---------------------------------------------------------------- assemble
def _assemble(model, rec: Recorder, want, args, kwargs, tokenizer, params: dict, kind: str = "attention") -> AttentionMaps:
    _check_recorded(rec.records, rec.names is not None)
    idx, names = _select(rec.records, want)
    pre = rec.buffered(idx)
    tensors = [rec.records[i][1] for i in idx]
    layer_names = [names[i] for i in idx]
    extras = [rec.extra[i] for i in idx]
    _check_shapes(layer_names, tensors)
    if pre is not None:
        w = pre
    elif len(tensors) == 1:
        w = tensors[0].unsqueeze(1)
    else:
        w = torch.stack(tensors, dim=1)
    B, L, H, Q, K = w.shape
    weights = w.detach().cpu()

    mask = _key_mask(kwargs, extras, B, K)
    tokens = _decode(tokenizer, args, kwargs, B, K)
    patch_grid, n_prefix = _patch_grid(model, args, kwargs, K)
    return _maps(model, rec, weights, tokens, layer_names, kind, params, mask, patch_grid, n_prefix)


def _maps(model, rec: Recorder, weights, tokens, layer_names, kind, params, mask, patch_grid=None, n_prefix=0):
    """The AttentionMaps of ``weights (B, L, H, Q, K)``; a batch of one comes back unbatched."""
    p = dict(params)
    impl = getattr(getattr(model, "config", None), "_attn_implementation", None)
    if impl is not None:
        p["attn_implementation"] = impl
    if rec.dtype is not None:
        p["dtype"] = str(rec.dtype).replace("torch.", "")
    maps = AttentionMaps(
        weights=weights,
        tokens=tokens,
        layer_names=layer_names,
        kind=kind,
        params=p,
        mask=mask,
        query_mask=None,
        patch_grid=patch_grid,
        n_prefix_tokens=n_prefix,
    )
    if weights.shape[0] == 1:
        single = maps.sample(0)
        single.params.pop("sample", None)
        return single
    return maps


def _check_recorded(records: list, filtered: bool) -> None:
    if not records:
        raise ValueError(
            "the forward pass made no attention call that could be captured" + (" in the selected layers" if filtered else "")
        )


def _select(records: list, want) -> tuple[list[int], list[str]]:
    """Indices of the wanted records and every record's unique name (``name[i]`` for a module called i-th time)."""
    counts: dict[str, int] = {}
    for n, _ in records:
        counts[n] = counts.get(n, 0) + 1
    seen: dict[str, int] = {}
    names = []
    for n, _ in records:
        if counts[n] > 1:
            names.append(f"{n}[{seen.get(n, 0)}]")
            seen[n] = seen.get(n, 0) + 1
        else:
            names.append(n)
    idx = list(range(len(names)))
    if want is not None and not all(isinstance(x, str) for x in want):
        L = len(names)
        idx = []
        for x in want:
            if isinstance(x, str):
                hits = [i for i, (n, _) in enumerate(records) if n == x or names[i] == x]
                idx.extend(hits)
            else:
                if not -L <= x < L:
                    raise ValueError(f"layers: layer {x} is out of range, the model made {L} attention calls (0..{L - 1})")
                idx.append(x % L)
    return idx, names


def _check_shapes(layer_names: list[str], tensors: list) -> None:
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        detail = ", ".join(f"{n}: {tuple(t.shape)}" for n, t in zip(layer_names, tensors))
        raise ValueError(
            "the captured attention maps differ in shape (B, H, Q, K) — e.g. encoder self-attention and decoder "
            f"cross-attention; pick layers of one kind with layers=[names]. Captured: {detail}"
        )


def _assemble_passes(model, rec: Recorder, passes: _Passes, want, tokenizer, params: dict) -> AttentionMaps:
    """One ``(S, S)`` map per layer from several forward passes over one growing sequence (see Notes)."""
    if passes.starts[0] > 0:
        outside = sorted({n for n, _ in rec.records[: passes.starts[0]]})
        raise ValueError(
            f"the call ran attention modules outside the model's forward passes ({outside[:3]}, e.g. the encoder "
            "that generate runs once for an encoder-decoder model) and then several passes; pick the layers of "
            "the passes by name with layers=[...], or capture the other modules in a call of their own"
        )
    bounds = passes.starts[1:] + [len(rec.records)]
    groups = [rec.records[a:b] for a, b in zip(passes.starts, bounds)]
    first = [n for n, _ in groups[0]]
    for p, g in enumerate(groups[1:], 1):
        if [n for n, _ in g] != first:
            raise ValueError(
                f"forward pass {p} of the call made other attention calls than pass 0 ({len(g)} vs {len(first)}); "
                "capture_attention assembles several passes only when each runs the same layers"
            )
    _check_recorded(groups[0], rec.names is not None)
    idx, names = _select(groups[0], want)
    layer_names = [names[i] for i in idx]
    steps = []  # per pass: the selected (B, H, Q, K) maps
    for g in groups:
        tensors = [g[i][1] for i in idx]
        _check_shapes(layer_names, tensors)
        steps.append(tensors)
    B, H = steps[0][0].shape[:2]
    spans = []  # (first query position, key length) per pass
    prev = 0
    for p, tensors in enumerate(steps):
        b, h, Q, K = tensors[0].shape
        ok = (b, h) == (B, H) and Q <= K and (K == Q if p == 0 else prev < K and K - Q <= prev)
        if not ok:
            seen = ", ".join(f"{tuple(t[0].shape)}" for t in steps)
            raise ValueError(
                "the call ran several forward passes that do not extend one sequence (each pass's (B, H, Q, K) "
                f"in order: {seen}); capture_attention assembles passes as model.generate makes them "
                "(a prefill over the prompt, then passes with more keys whose queries continue the sequence) - "
                "capture unrelated forward passes one at a time"
            )
        spans.append((K - Q, K))
        prev = K
    S = prev
    ref = steps[0][0]
    w = torch.zeros((B, len(idx), H, S, S), dtype=ref.dtype, device=ref.device)
    for (q0, K), tensors in zip(spans, steps):
        for li, t in enumerate(tensors):
            w[:, li, :, q0:K, :K] = t
    ids = _passes_ids(passes, spans, B, S)
    mask = None
    last_mask = passes.inputs[-1][1]
    if isinstance(last_mask, torch.Tensor) and last_mask.dim() == 2 and tuple(last_mask.shape) == (B, S):
        mask = last_mask.detach().cpu().bool().numpy()
    tokens = None
    if tokenizer is not None and ids is not None:
        rows = [list(tokenizer.convert_ids_to_tokens(r.tolist())) for r in ids]
        tokens = rows if B > 1 else rows[0]
    p = {**params, "passes": len(steps)}
    maps = _maps(model, rec, w.cpu(), tokens, layer_names, "attention", p, mask)
    maps._inputs = None
    if ids is not None:
        kw = {"input_ids": ids}
        if mask is not None:
            kw["attention_mask"] = last_mask.detach()
        maps._inputs = ((), kw)
    return maps


def _passes_ids(passes: _Passes, spans: list, B: int, S: int) -> torch.Tensor | None:
    """The ``(B, S)`` token ids the passes read, or None when a pass had no ``input_ids`` of its query length."""
    ids = None
    for (ids_p, _), (q0, K) in zip(passes.inputs, spans):
        if not isinstance(ids_p, torch.Tensor) or ids_p.dim() != 2 or tuple(ids_p.shape) != (B, K - q0):
            return None
        if ids is None:
            ids = torch.zeros((B, S), dtype=ids_p.dtype)
        ids[:, q0:K] = ids_p.detach().cpu()
    return ids


def _key_mask(kwargs, extras, B, K):
    am = kwargs.get("attention_mask")
    if isinstance(am, torch.Tensor) and am.dim() == 2 and tuple(am.shape) == (B, K):
        return am.detach().cpu().bool().numpy()
    for e in extras:
        kpm = e.get("key_padding_mask")
        if isinstance(kpm, torch.Tensor) and tuple(kpm.shape) == (B, K):
            if kpm.dtype == torch.bool:
                return (~kpm).detach().cpu().numpy()
            return (kpm.detach().cpu() == 0).numpy()  # float mask: -inf marks padding
    return None


def _input_ids(args, kwargs):
    ids = kwargs.get("input_ids")
    if ids is None and args and isinstance(args[0], torch.Tensor) and not args[0].is_floating_point():
        ids = args[0]
    return ids


def _decode(tokenizer, args, kwargs, B, K):
    if tokenizer is None:
        return None
    ids = _input_ids(args, kwargs)
    if ids is None:
        raise ValueError("tokenizer= was given but there are no input_ids to decode (pass them first or as input_ids=)")
    ids = ids.detach().cpu().reshape(B, -1) if ids.dim() > 1 else ids.detach().cpu().reshape(1, -1)
    if ids.shape[-1] != K:
        return None
    rows = [list(tokenizer.convert_ids_to_tokens(r.tolist())) for r in ids]
    return rows if B > 1 else rows[0]


def _patch_grid(model, args, kwargs, K):
    pv = kwargs.get("pixel_values")
    if pv is None and args and isinstance(args[0], torch.Tensor) and args[0].is_floating_point() and args[0].dim() == 4:
        pv = args[0]
    cfg = getattr(model, "config", None)
    ps = getattr(cfg, "patch_size", None)
    if pv is None or ps is None:
        return None, 0
    ph, pw = (ps, ps) if isinstance(ps, int) else tuple(ps)[:2]
    h, w = pv.shape[-2] // ph, pv.shape[-1] // pw
    if h * w == 0 or h * w > K:
        return None, 0
    return (h, w), K - h * w
