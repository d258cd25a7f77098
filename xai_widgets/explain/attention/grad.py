"""Gradient-weighted attention rollout (Chefer, Gur & Wolf, CVPR 2021)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ...attention_maps import AttentionMaps
from .._core import (
    check_model,
    check_output_names,
    gather,
    model_as_found,
    name_to_index,
    resolve_output_names,
    resolve_target,
    this_thread_only,
    to_scores,
)
from . import _hf
from ._common import Recorder
from .capture import _assemble

__all__ = ["grad_attention"]


def grad_attention(
    model: nn.Module,
    maps_or_inputs: Any,
    target: Any = None,
    *,
    output: Any = None,
    output_names: Sequence[str] | None = None,
    tokenizer: Any = None,
    **model_kwargs: Any,
) -> AttentionMaps:
    """Attention × its gradient, rolled out (Chefer et al. 2021, "Generic attention-model explainability").

    Parameters
    ----------
    model : torch.nn.Module
        A Hugging Face transformer (any ``attn_implementation``); left as found.
    maps_or_inputs : tensor or AttentionMaps
        The model's first input (e.g. ``input_ids``, passed first, with
        ``**model_kwargs``), or the ``AttentionMaps`` from
        :func:`capture_attention`, whose inputs are reused.
    target : None, int, one int per row, or a class name
        The output explained: None picks each row's top class; a name (or one
        per row) is looked up in ``output_names``. ``"all"`` is not supported.
    output : callable, optional
        Maps the model's return value to ``(N, K)`` scores (default: tensors,
        tuples and ``.logits``).
    output_names : list of str, optional
        Class names, one per output; default: the model's
        ``config.id2label`` (unless it is the generic ``LABEL_0, LABEL_1...``).
    tokenizer : optional
        Decodes ``input_ids`` into the maps' ``tokens``.
    **model_kwargs
        Further model inputs (``attention_mask``, ...).

    Returns
    -------
    AttentionMaps
        ``kind="grad_attention"``, weights ``(L, 1, Q, K)`` (``(B, L, 1, Q, K)``
        for a batch): layer ``l`` holds ``R`` after layer ``l``, the last is
        the result; ``params["target"]``, ``params["outputs"]`` (the target
        scores) and, when known, ``params["output_names"]``.
        ``.to_attribution(0)`` is the class token's row.

    Notes
    -----
    For the chosen output ``y_t`` and every self-attention layer ``l`` with
    weights ``A_l`` ``(H, Q, K)``: ``Ā_l = mean_h (∂y_t/∂A_l ⊙ A_l)⁺``
    (positive part, then the mean over heads), and ``R = I; R ← R + Ā_l · R``
    layer by layer.

    For the pass the attention function of every attention module is
    replaced by the eager computation (``softmax(q kᵀ) @ v`` on the queries
    and keys it receives), whatever ``attn_implementation`` is set, so the
    weights are in the autograd graph; outputs match the model's to float
    rounding (~1e-6). The model's configuration is not touched. The
    replacement applies to this thread's forward only: other threads may run
    the model (or other kernels on it) meanwhile, untouched.

    Examples
    --------
    >>> import xai_widgets as xw
    >>> from transformers import AutoModelForSequenceClassification, AutoTokenizer  # doctest: +SKIP
    >>> tok = AutoTokenizer.from_pretrained(path)                   # doctest: +SKIP
    >>> clf = AutoModelForSequenceClassification.from_pretrained(path)  # doctest: +SKIP
    >>> enc = tok("a gentle, funny film", return_tensors="pt")      # doctest: +SKIP
    >>> g = xw.grad_attention(clf, enc["input_ids"], target="POSITIVE",
    ...                       attention_mask=enc["attention_mask"], tokenizer=tok)  # doctest: +SKIP
    >>> xw.AttentionView(g)                                         # doctest: +SKIP
    """
    check_model(model)
    names = resolve_output_names(model, output_names)
    if isinstance(target, str):  # checked before the forward pass
        if target == "all":
            raise ValueError("grad_attention explains one output per row: target='all' is not supported")
        name_to_index(target, names)
    if isinstance(maps_or_inputs, AttentionMaps):
        saved = getattr(maps_or_inputs, "_inputs", None)
        if saved is None:
            raise ValueError(
                "these AttentionMaps do not carry the inputs they were captured from; pass the inputs instead: "
                "grad_attention(model, input_ids, attention_mask=...)"
            )
        args, kw = saved
        kw = {**kw, **model_kwargs}
    else:
        args, kw = (maps_or_inputs,), dict(model_kwargs)
    if not _hf.available() or not _hf.attention_modules(model):
        raise TypeError(
            f"grad_attention supports Hugging Face transformer models; found no attention module in {type(model).__name__}"
        )
    module_names = {id(m): n for n, m in model.named_modules()}
    rec = Recorder(module_names, names=None, heads=None, dtype=None, keep_graph=True)

    def make_leaf(module, inputs, out):
        if isinstance(out, torch.Tensor) and out.is_floating_point():
            return out.detach().requires_grad_(True)
        return None

    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if emb is not None and not isinstance(emb, nn.Module):
        emb = None
    with model_as_found(model), _hf.intercept(rec, replace=True):
        handle = emb.register_forward_hook(this_thread_only(make_leaf)) if emb is not None else None
        try:
            if emb is None:
                args = tuple(a.detach().requires_grad_(True) if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)
            out = model(*args, **kw)
        finally:
            if handle is not None:
                handle.remove()
        scores = to_scores(out, output)
        names = check_output_names(names, scores.shape[1], explicit=output_names is not None)
        t = resolve_target(target, scores, names)
        if isinstance(t, str):
            raise ValueError("grad_attention explains one output per row: target='all' is not supported")
        sel = gather(scores, t)
        if not rec.records:
            raise ValueError("the forward pass made no attention call")
        if not sel.requires_grad:
            raise ValueError("the chosen output does not depend on the attention weights (no gradient path)")
        ws = [w for _, w in rec.records]
        grads = torch.autograd.grad(sel.sum(), ws, allow_unused=True)
    rel = Recorder(module_names, names=None, heads=None, dtype=None)
    R = None
    with torch.no_grad():
        for (name, a), g in zip(rec.records, grads):
            a = a.detach().float()
            g = torch.zeros_like(a) if g is None else g.float()
            if a.shape[-1] != a.shape[-2]:
                raise ValueError(f"grad_attention needs self-attention (Q == K); {name} has shape {tuple(a.shape)}")
            cam = (g * a).clamp(min=0).mean(dim=1)  # (B, Q, K)
            if R is None:
                R = torch.eye(cam.shape[-1], dtype=cam.dtype).expand_as(cam).clone()
            R = R + torch.bmm(cam, R)
            rel.add(name, R[:, None].clone())
    params = {
        "target": t.detach().cpu().tolist(),
        "outputs": sel.detach().cpu().tolist(),
    }
    if names is not None:
        params["output_names"] = names
    maps = _assemble(model, rel, None, args, kw, tokenizer, params=params, kind="grad_attention")
    maps._inputs = (args, kw)
    return maps
