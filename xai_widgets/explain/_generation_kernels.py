"""The model side of :func:`~.generation.explain_generation`: greedy decoding and the per-method kernels.

Every kernel explains the same thing: a sequence ``ids`` ``(S,)`` whose last
``G`` tokens are the generated ones (prompt length ``P = S - G``), and for
each generated token ``g`` a score ``f_g`` = ``log p(ids[P+g] | ids[:P+g])``
(minus ``log p(contrast[g] | ids[:P+g])`` with a contrast). The model reads
``ids[:S-1]`` (the last token predicts nothing that is explained); its
output at position ``P+g-1`` predicts token ``g``. Each kernel returns
``values`` ``(G, S)`` float64 with ``values[g, s] = 0`` for ``s >= P + g``.

The caller holds the model with :func:`~._core.model_as_found` (eval mode,
parameters frozen, gradients enabled).

Example
-------
>>> ids, stop = greedy(model, prompt_ids, 5, eos={2})            # doctest: +SKIP
>>> values, scores = input_x_gradient(Explained(model, ids, P, targets, None))   # doctest: +SKIP
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ._core import chunk_ranges
from ._progress import progress
from .quadrature import quadrature

__all__ = ["Explained", "greedy", "input_x_gradient", "integrated_gradients", "occlusion", "attention"]


def _accepts(model: nn.Module, name: str) -> bool:
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False


@dataclass
class Explained:
    """One explained sequence and its targets.

    Attributes
    ----------
    model : nn.Module
        A causal LM taking ``inputs_embeds`` and returning ``.logits``.
    ids : LongTensor ``(S,)``
        Prompt then generated ids, on the model's device.
    P : int
        Prompt length.
    targets : LongTensor ``(G,)``
        ``ids[P:]``.
    contrast : LongTensor ``(G,)`` or None
        The token each target is compared with (same prefix).
    base_ids : LongTensor ``(S,)`` or None
        The baseline sequence of integrated gradients and occlusion (a
        baseline token at every content position, special tokens kept);
        None: all-zero embeddings.
    prompt_only : bool
        Attribute to the prompt only: the generated tokens keep their own
        embeddings on the path and are never occluded, and their values are 0.
    """

    model: nn.Module
    ids: torch.Tensor
    P: int
    targets: torch.Tensor
    contrast: torch.Tensor | None
    base_ids: torch.Tensor | None = None
    prompt_only: bool = False

    @property
    def G(self) -> int:
        return int(self.targets.numel())

    @property
    def S(self) -> int:
        return int(self.ids.numel())

    def embeddings(self) -> torch.Tensor:
        """The input embeddings of ``ids[:S-1]``, ``(1, S-1, H)``, detached."""
        return self.model.get_input_embeddings()(self.ids[None, : self.S - 1]).detach()

    def base_embeddings(self, emb: torch.Tensor) -> torch.Tensor:
        """The baseline's input embeddings ``(1, S-1, H)`` (zeros without ``base_ids``), detached."""
        if self.base_ids is None:
            base = torch.zeros_like(emb)
        else:
            base = self.model.get_input_embeddings()(self.base_ids[None, : self.S - 1]).detach().to(emb.dtype)
        if self.prompt_only:  # generated tokens stay themselves: no path, no share
            base[:, self.P :] = emb[:, self.P :]
        return base

    def scores(self, embeds: torch.Tensor) -> torch.Tensor:
        """``(B, G)`` scores of the rows of ``embeds`` ``(B, S-1, H)`` (differentiable)."""
        kw: dict[str, Any] = {"use_cache": False}
        if _accepts(self.model, "logits_to_keep"):  # only the last G positions predict explained tokens
            kw["logits_to_keep"] = self.G
        logits = self.model(inputs_embeds=embeds, **kw).logits[:, -self.G :]
        # log_softmax in float32 at least: a bfloat16 log-sum-exp over a large vocabulary loses the score
        logp = torch.log_softmax(logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits, -1)
        b = logp.shape[0]
        s = logp.gather(-1, self.targets.view(1, -1, 1).expand(b, -1, 1)).squeeze(-1)
        if self.contrast is not None:
            s = s - logp.gather(-1, self.contrast.view(1, -1, 1).expand(b, -1, 1)).squeeze(-1)
        return s

    def finish(self, values: torch.Tensor | np.ndarray) -> np.ndarray:
        """``(G, S-1)`` → ``(G, S)`` float64 with zeros where ``s >= P + g`` (causality, made exact)."""
        v = values.detach().double().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values, np.float64)
        out = np.zeros((self.G, self.S))
        out[:, : self.S - 1] = v
        s = np.arange(self.S)[None, :]
        g = np.arange(self.G)[:, None]
        out[s >= self.P + g] = 0.0
        if self.prompt_only:
            out[:, self.P :] = 0.0
        return out


def _cache_of(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def greedy(model: nn.Module, prompt: torch.Tensor, max_new_tokens: int, eos: set[int]) -> tuple[list[int], bool]:
    """Greedy decoding with the key-value cache: ``(generated ids, stopped at eos)``.

    Parameters
    ----------
    model : nn.Module
        A Hugging Face causal LM.
    prompt : LongTensor ``(P,)``
    max_new_tokens : int >= 1
    eos : set of int
        Ids that end generation (kept as the last generated token).

    Example
    -------
    >>> greedy(model, torch.tensor([1, 8, 11]), 3, {2})   # doctest: +SKIP
    ([19, 76, 2], True)
    """
    kw: dict[str, Any] = {"use_cache": True}
    if _accepts(model, "logits_to_keep"):
        kw["logits_to_keep"] = 1
    # transformers >= 5.2x renamed past_key_values to cache (the old name warns, then goes)
    cache_arg = "cache" if _accepts(model, "cache") else "past_key_values"
    out_ids: list[int] = []
    with torch.no_grad(), progress(total=max_new_tokens, desc="generating", unit="token") as bar:
        out = model(input_ids=prompt[None], **kw)
        while True:
            nxt = int(out.logits[0, -1].argmax())
            out_ids.append(nxt)
            bar.update()
            if nxt in eos:
                return out_ids, True
            if len(out_ids) == max_new_tokens:
                return out_ids, False
            step = torch.tensor([[nxt]], device=prompt.device)
            out = model(input_ids=step, **{cache_arg: _cache_of(out)}, **kw)


def _token_grads(scores: torch.Tensor, x: torch.Tensor, per_call: int, bar: Any, last: bool) -> Any:
    """Yield ``(g, gradient of scores[:, g].sum() wrt x)`` for every generated token ``g``.

    Up to ``per_call`` tokens share one vectorised backward (``is_grads_batched``:
    the vector-Jacobian products of one-hot output vectors, batched by
    ``torch.vmap``), which on CPU beats as many separate backwards of a short
    sequence; models whose backward cannot be vmapped fall back to one backward
    per token. Rows of ``x`` are independent, so the gradient of the sum over
    rows is each row's own gradient. ``last``: the graph may be freed after the
    last token.
    """
    G = scores.shape[1]
    batched = per_call > 1
    for lo in range(0, G, max(1, per_call)):
        hi = min(G, lo + max(1, per_call))
        keep = not (last and hi == G)
        if batched:
            eye = torch.zeros(hi - lo, *scores.shape, dtype=scores.dtype, device=scores.device)
            eye[torch.arange(hi - lo), :, torch.arange(lo, hi)] = 1
            try:
                (grads,) = torch.autograd.grad(scores, x, grad_outputs=eye, retain_graph=keep, is_grads_batched=True)
            except RuntimeError:  # no batching rule for some op of this model: one backward per token
                batched = False
            else:
                for k in range(hi - lo):
                    yield lo + k, grads[k]
                bar.update(hi - lo)
                continue
        for g in range(lo, hi):
            (grad,) = torch.autograd.grad(scores[:, g].sum(), x, retain_graph=keep or g < hi - 1)
            yield g, grad
            bar.update()


def input_x_gradient(seq: Explained, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Gradient × embedding, summed over the hidden axis: one forward, then the gradients of the
    ``G`` scores (``batch_size`` of them per vectorised backward). Returns ``(values (G, S), scores (G,))``.
    """
    emb = seq.embeddings()
    x = emb.clone().requires_grad_(True)
    scores = seq.scores(x)
    values = torch.zeros(seq.G, seq.S - 1, dtype=torch.float64, device=emb.device)
    with progress(total=seq.G, desc="input x gradient", unit="token") as bar:
        for g, grad in _token_grads(scores, x, batch_size, bar, last=True):
            values[g] = (grad[0] * emb[0]).double().sum(-1)
    return seq.finish(values), scores[0].detach().double().cpu().numpy()


def integrated_gradients(seq: Explained, steps: int, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Integrated gradients from the baseline embeddings (:meth:`Explained.base_embeddings`) with Gauss–Legendre points.

    Each chunk of up to ``batch_size`` path points is one forward of that many
    rows and ``G`` backwards (``batch_size // points`` tokens per vectorised
    backward, so a backward holds about ``batch_size`` rows). Returns ``(values (G, S), scores (G,) at the
    input, base scores (G,) at the zero baseline, chunks)``.
    """
    emb = seq.embeddings()
    base = seq.base_embeddings(emb)
    diff = emb - base
    alphas, weights = quadrature("gausslegendre", steps)
    with torch.no_grad():
        ends = seq.scores(torch.cat([emb, base]))
    values = torch.zeros(seq.G, seq.S - 1, dtype=torch.float64, device=emb.device)
    chunks = list(chunk_ranges(steps, batch_size))
    with progress(total=seq.G * len(chunks), desc="integrated gradients", unit="token") as bar:
        for lo, hi in chunks:
            a = torch.as_tensor(alphas[lo:hi], dtype=emb.dtype, device=emb.device).view(-1, 1, 1)
            w = torch.as_tensor(weights[lo:hi], dtype=torch.float64, device=emb.device).view(-1, 1)
            x = (base + a * diff).requires_grad_(True)
            scores = seq.scores(x)
            # a vectorised backward over several tokens holds their gradients at once: B rows each
            for g, grad in _token_grads(scores, x, batch_size // (hi - lo), bar, last=True):
                values[g] += ((grad * diff).double().sum(-1) * w).sum(0)
            del x, scores
    out = ends.double().cpu().numpy()
    return seq.finish(values), out[0], out[1], len(chunks)


def occlusion(seq: Explained, batch_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``f(x) - f(x with source s's embedding replaced by the baseline's)`` for every source ``s`` (forwards only).

    Returns ``(values (G, S), scores (G,), chunks)``.
    """
    emb = seq.embeddings()
    base = seq.base_embeddings(emb)
    n = seq.P if seq.prompt_only else seq.S - 1
    drops = torch.zeros(seq.S - 1, seq.G, dtype=torch.float64, device=emb.device)
    chunks = list(chunk_ranges(n, batch_size))
    with torch.no_grad(), progress(total=n, desc="occlusion", unit="token") as bar:
        full = seq.scores(emb)[0].double()
        for lo, hi in chunks:
            x = emb.expand(hi - lo, -1, -1).clone()
            rows = torch.arange(hi - lo, device=emb.device)
            cols = torch.arange(lo, hi, device=emb.device)
            x[rows, cols] = base[0, cols]
            drops[lo:hi] = full[None] - seq.scores(x).double()
            bar.update(hi - lo)
    return seq.finish(drops.T), full.cpu().numpy(), len(chunks)


def attention(seq: Explained, rollout: bool) -> tuple[np.ndarray, np.ndarray]:
    """Row ``P+g-1`` (the query predicting token ``g``) of the last layer's head-averaged attention,
    or of the attention rollout through all layers. Returns ``(values (G, S), scores (G,))``.
    """
    from .attention import attention_rollout, capture_attention

    ids = seq.ids[None, : seq.S - 1]
    maps = capture_attention(seq.model, input_ids=ids, layers=None if rollout else [-1])
    if rollout:
        w = attention_rollout(maps).weights[-1, 0]  # (Q, K): the rollout through every layer
    else:
        w = maps.weights[-1].astype(np.float64).mean(0)
    with torch.no_grad():
        scores = seq.scores(seq.embeddings())[0].double().cpu().numpy()
    return seq.finish(np.asarray(w, np.float64)[seq.P - 1 :]), scores
