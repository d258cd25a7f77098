"""``explain_generation``: why a causal language model wrote each token of its answer.

The model generates greedily (or is given a ``continuation``), and every
generated token's log-probability is attributed to every earlier token, the
prompt's and the previously generated ones. The kernels live in
:mod:`._generation_kernels`, the tokenizer side in :mod:`._generation_text`.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..attribution import Attribution
from . import _generation_kernels as kernels
from ._core import DEFAULT_CHUNK, check_model, check_positive_int, model_as_found, model_device
from ._engine import check_choice
from ._generation_text import check_tokenizer, display_pieces, encode_prompt, encode_text, eos_ids, special_flags

__all__ = ["explain_generation", "GENERATION_METHODS"]

#: The ``method=`` strings :func:`explain_generation` accepts.
GENERATION_METHODS = ("input_x_gradient", "integrated_gradients", "occlusion", "attention", "attention_rollout")
#: What ``sources=`` accepts: attribute to every earlier token, or to the prompt only.
SOURCES = ("all", "prompt")


def _check_string(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string (or None), got {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} is an empty string; give the text to force, or None")
    return value


def _check_embeddings(model: nn.Module) -> None:
    get = getattr(model, "get_input_embeddings", None)
    emb = get() if callable(get) else None
    if not isinstance(emb, nn.Module):
        raise TypeError(
            f"{type(model).__name__} has no input embedding module (get_input_embeddings()); explain_generation "
            "needs a Hugging Face causal language model (e.g. AutoModelForCausalLM) that accepts inputs_embeds"
        )


def _max_positions(model: nn.Module) -> int | None:
    cfg = getattr(model, "config", None)
    for name in ("max_position_embeddings", "n_positions"):
        v = getattr(cfg, name, None)
        if isinstance(v, int) and v > 0:
            return v
    return None


def _contrast_per_token(contrast_ids: list[int], g: int, what: str) -> list[int]:
    """The contrast token at each of ``g`` positions: one token everywhere, or one per position."""
    if len(contrast_ids) == 1:
        return contrast_ids * g
    if len(contrast_ids) != g:
        raise ValueError(
            f"contrast has {len(contrast_ids)} tokens but {what} {g}: a contrast of several tokens is compared "
            "position by position with the explained tokens, so the counts must agree (or give a one-token contrast, "
            "compared at every position)"
        )
    return contrast_ids


def _baseline_token(tokenizer: Any, model: nn.Module, baseline: Any) -> int | None:
    """The baseline token id of ``baseline`` ("unk", "zeros" → None, or an id), checked before any work."""
    if isinstance(baseline, str):
        if baseline == "zeros":
            return None
        if baseline == "unk":
            for name in ("unk_token_id", "pad_token_id"):
                tid = getattr(tokenizer, name, None)
                if isinstance(tid, int):
                    return tid
            raise ValueError(
                "baseline='unk': the tokenizer has neither an unk nor a pad token; pass baseline='zeros' or a token id"
            )
        raise ValueError(f"baseline must be 'unk', 'zeros' or a token id (int), got {baseline!r}")
    if isinstance(baseline, bool) or not isinstance(baseline, (int, np.integer)):
        raise TypeError(f"baseline must be 'unk', 'zeros' or a token id (int), got {type(baseline).__name__}")
    vocab = model.get_input_embeddings().num_embeddings
    if not 0 <= int(baseline) < vocab:
        raise ValueError(f"baseline token id {int(baseline)} is out of range: the embedding has {vocab} rows")
    return int(baseline)


def explain_generation(
    model: nn.Module,
    tokenizer: Any,
    prompt: str | list[dict],
    *,
    max_new_tokens: int = 20,
    method: str = "input_x_gradient",
    continuation: str | None = None,
    contrast: str | None = None,
    steps: int = 16,
    batch_size: int | None = None,
    baseline: str | int = "unk",
    sources: str = "all",
) -> Attribution:
    """Attribute each generated token's log-probability to every earlier token (prompt and generated).

    Parameters
    ----------
    model : nn.Module
        A Hugging Face causal language model (``AutoModelForCausalLM``: takes
        ``inputs_embeds``, returns ``.logits``), float32, bfloat16 or float16.
        Used in eval mode with frozen parameters and left as found.
    tokenizer : Hugging Face tokenizer
        The model's tokenizer.
    prompt : str or list of dict
        The text to continue (encoded with the special tokens the tokenizer
        adds, e.g. a leading bos), or chat messages ``[{"role": "user",
        "content": ...}, ...]`` put through ``tokenizer.chat_template`` with
        the generation prompt (a ``ValueError`` without a template).
    max_new_tokens : int >= 1
        Generation stops after this many tokens or at an eos token (the
        tokenizer's or ``model.generation_config``'s), which is kept as the
        last generated token. Ignored with ``continuation``.
    method : str
        One of :data:`GENERATION_METHODS`:

        * ``"input_x_gradient"``: ``sum_h grad_e f_g * e`` over the hidden axis
          of each source position's input embedding ``e``;
        * ``"integrated_gradients"``: ``sum_h`` of the gradient averaged along
          the straight path from the ``baseline`` embeddings to the input,
          times (input − baseline) embedding, ``steps`` Gauss–Legendre points;
          ``delta`` per generated token;
        * ``"occlusion"``: ``f_g(x) - f_g(x with source s's embedding replaced
          by the baseline's)``, one source token at a time;
        * ``"attention"``: the last layer's attention, heads averaged, row
          ``P + g - 1`` (the query that predicts token ``g``);
        * ``"attention_rollout"``: row ``P + g - 1`` of the attention rollout
          (:func:`~xai_widgets.explain.attention.attention_rollout`, heads
          averaged, residual added) through all layers.

        The attention methods do not depend on the target (``contrast``
        changes only ``outputs``).
    continuation : str, optional
        Explain this text instead of generating: its tokens (encoded without
        special tokens, so start it with the space it needs, e.g. ``" Paris."``)
        are forced one by one after the prompt.
    contrast : str, optional
        Explain ``log p(token) - log p(contrast token)`` instead of ``log
        p(token)``, both given the same prefix (the explained sequence's).
        A contrast of one token is compared at every generated position; one
        of several tokens is compared position by position, so it must have as
        many tokens as are explained (generation must then be asked for
        exactly that many: ``max_new_tokens = len(contrast tokens)``, or give
        a ``continuation`` of that length). Encoded without special tokens:
        ``" Lyon"`` (with its space) is one token where ``"Lyon"`` may not be.
    steps : int >= 1
        Path points for ``"integrated_gradients"`` (checked for every method).
    baseline : "unk", "zeros" or int
        The reference of ``"integrated_gradients"`` and ``"occlusion"``: the
        embedding of the tokenizer's unk token (its pad token where it has no
        unk; the default, as inseq), of a given token id, or all-zero
        embeddings (``"zeros"``). Special tokens (bos, chat markers) keep
        their own embedding, so their share is 0 and the baseline is the
        same template with its content blanked. Why not zeros by default:
        Llama-type models normalise the embeddings first (RMSNorm), and a
        near-zero embedding is scaled back up, so the score jumps within ~1%
        of the path next to a zero baseline, which a few quadrature points
        cannot resolve (``delta`` then shows residuals as large as the score).
    sources : "all" or "prompt"
        What the gradient and occlusion methods attribute to: every earlier
        token (default), or the prompt only, the earlier generated tokens kept
        as they are (on the integrated-gradients path and under occlusion;
        their values are 0). ``"prompt"`` is the convention of Captum's
        ``LLMGradientAttribution``, whose integrated gradients then agree with
        ours token by token. The attention methods read weights and take
        ``"all"`` only.
    batch_size : int >= 1, optional
        Default 16. Rows per forward pass for ``"integrated_gradients"`` (path
        points) and ``"occlusion"`` (occluded copies); for the gradient methods
        also the rows one vectorised backward may hold: ``batch_size`` tokens'
        gradients at once for ``"input_x_gradient"``, ``batch_size // points``
        for ``"integrated_gradients"`` (1 is a plain backward per token).

    Returns
    -------
    Attribution
        With ``G`` generated tokens, ``P`` prompt tokens and ``S = P + G``:

        * ``values`` ``(1, G, S)`` float64; ``values[0, g, s]`` is source
          ``s``'s share in generated token ``g``, 0 for ``s >= P + g``;
        * ``data`` ``(1, S)`` int64: prompt ids (special tokens included) then
          generated ids; ``target`` ``(1, G)`` int64: the generated ids;
        * ``outputs`` ``(1, G)``: the explained score ``f_g = log p(token g |
          prefix)`` (minus ``log p(contrast_g | prefix)``);
        * ``base_values`` ``(1, G)`` (integrated gradients: the score at the
          baseline) and ``delta`` ``(1, G)`` (integrated gradients:
          ``values.sum(-1) - (outputs - base_values)``), else None;
        * ``feature_names``: the ``S`` tokens' texts (``"".join`` reads as the
          text; leading spaces kept);
        * ``params``: ``generated`` (G texts), ``generated_ids``,
          ``prompt_length`` (P), ``special`` (S bools: bos/eos/pad/unk and chat
          markers), ``contrast``, ``contrast_ids`` (the contrast's tokens) and
          ``compared_ids`` (the G ids compared at each position), or None,
          ``continuation``, ``stopped_at_eos``, ``sources``, and ``steps``,
          ``rule``, ``batch_size``, ``chunks`` where they apply.

    Notes
    -----
    Cost, with ``S`` tokens: generation is one forward per token with the
    key-value cache. The gradient methods then teacher-force the whole
    sequence once (causality makes every later position's gradient exactly
    zero, so one pass serves every generated token): ``"input_x_gradient"``
    is one forward and ``G`` vector-Jacobian products, batched into one
    backward (``torch.autograd.grad(..., is_grads_batched=True)``; a model
    whose backward cannot be vmapped gets ``G`` plain backwards);
    ``"integrated_gradients"`` one forward of up to ``batch_size`` path points
    and ``G`` backwards per chunk of points, plus one forward of the input
    and the baseline;
    ``"occlusion"`` ``S - 1`` occluded rows in chunks (forwards only);
    the attention methods one forward with attention capture. Log-softmax
    runs in float32 for half-precision models; values are returned in
    float64.

    Example
    -------
    >>> from xai_widgets.explain.generation import explain_generation
    >>> a = explain_generation(model, tok, "The capital of France is", max_new_tokens=3)   # doctest: +SKIP
    >>> "".join(a.params["generated"])                                                      # doctest: +SKIP
    ' Paris.'
    >>> a.values.shape                                                                      # doctest: +SKIP
    (1, 3, 9)
    """
    check_model(model)
    tokenizer = check_tokenizer(tokenizer)
    method = check_choice(method, "method", GENERATION_METHODS)
    max_new_tokens = check_positive_int(max_new_tokens, "max_new_tokens")
    steps = check_positive_int(steps, "steps")
    batch_size = check_positive_int(batch_size, "batch_size", allow_none=True)
    continuation = _check_string(continuation, "continuation")
    contrast = _check_string(contrast, "contrast")
    _check_embeddings(model)
    base_token = _baseline_token(tokenizer, model, baseline)
    sources = check_choice(sources, "sources", SOURCES)
    if sources == "prompt" and method in ("attention", "attention_rollout"):
        raise ValueError(
            f"sources='prompt' applies to the gradient and occlusion methods; method={method!r} reads attention "
            "weights as they are: use sources='all'"
        )
    prompt_ids = encode_prompt(tokenizer, prompt)
    P = len(prompt_ids)
    forced = None
    if continuation is not None:
        forced = encode_text(tokenizer, continuation, special=False)
        if not forced:
            raise ValueError(f"continuation {continuation!r} encodes to no tokens")
    contrast_ids = None
    if contrast is not None:
        contrast_ids = encode_text(tokenizer, contrast, special=False)
        if not contrast_ids:
            raise ValueError(f"contrast {contrast!r} encodes to no tokens")
        if forced is not None:
            _contrast_per_token(contrast_ids, len(forced), "the continuation has")
        elif len(contrast_ids) > 1 and max_new_tokens != len(contrast_ids):
            raise ValueError(
                f"contrast {contrast!r} has {len(contrast_ids)} tokens, compared position by position with the "
                f"generated ones, but max_new_tokens={max_new_tokens}: pass max_new_tokens={len(contrast_ids)} "
                "(or a continuation of that many tokens, or a one-token contrast)"
            )
    longest = P + (len(forced) if forced is not None else max_new_tokens)
    limit = _max_positions(model)
    if limit is not None and longest > limit:
        raise ValueError(
            f"prompt ({P} tokens) plus {'the continuation' if forced is not None else 'max_new_tokens'} "
            f"({longest - P}) is {longest} tokens, more than the model's {limit} positions"
        )
    chunk = batch_size if batch_size is not None else DEFAULT_CHUNK

    device = model_device(model)
    with model_as_found(model):
        # ids are made inside: under the caller's inference_mode they would be inference tensors
        prompt_t = torch.tensor(prompt_ids, dtype=torch.long, device=device)
        stopped = False
        if forced is None:
            generated, stopped = kernels.greedy(model, prompt_t, max_new_tokens, eos_ids(tokenizer, model))
        else:
            generated = forced
        G = len(generated)
        compared = None
        if contrast_ids is not None:
            compared = _contrast_per_token(contrast_ids, G, "generation stopped at eos after")
        ids = torch.tensor(prompt_ids + generated, dtype=torch.long, device=device)
        special = special_flags(tokenizer, prompt_ids + list(generated))
        base_ids = None
        if base_token is not None:
            base_ids = torch.where(torch.tensor(special, device=device), ids, torch.full_like(ids, base_token))
        seq = kernels.Explained(
            model, ids, P, ids[P:], None if compared is None else torch.tensor(compared, dtype=torch.long, device=device),
            base_ids, prompt_only=sources == "prompt",
        )
        params: dict[str, Any] = {}
        base = delta = None
        if method == "input_x_gradient":
            values, scores = kernels.input_x_gradient(seq, chunk)
            params.update(batch_size=chunk)
        elif method == "integrated_gradients":
            values, scores, base, chunks = kernels.integrated_gradients(seq, steps, chunk)
            delta = values.sum(-1) - (scores - base)
            params.update(steps=steps, rule="gausslegendre", batch_size=chunk, chunks=chunks,
                          baseline="zeros" if base_token is None else base_token)
        elif method == "occlusion":
            values, scores, chunks = kernels.occlusion(seq, chunk)
            params.update(baseline="zeros" if base_token is None else base_token, batch_size=chunk, chunks=chunks)
        else:
            values, scores = kernels.attention(seq, rollout=method == "attention_rollout")
            params.update(layer="last" if method == "attention" else "rollout", head_fusion="mean")

    all_ids = prompt_ids + generated
    pieces = display_pieces(tokenizer, all_ids)
    params = {
        "generated": pieces[P:],
        "generated_ids": list(generated),
        "prompt_length": P,
        "special": special,
        "contrast": contrast,
        "contrast_ids": contrast_ids,
        "compared_ids": compared,
        "continuation": continuation,
        "stopped_at_eos": bool(stopped),
        "sources": sources,
        **params,
    }
    row = lambda x: None if x is None else np.asarray(x, dtype=np.float64)[None]  # noqa: E731
    return Attribution(
        values=values[None],
        data=np.asarray([all_ids], dtype=np.int64),
        target=np.asarray([generated], dtype=np.int64),
        outputs=row(scores),
        base_values=row(base),
        delta=row(delta),
        method=method,
        params=params,
        feature_names=pieces,
    )
