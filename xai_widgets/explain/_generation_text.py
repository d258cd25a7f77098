"""The tokenizer side of :func:`~.generation.explain_generation`: prompts to ids, ids to display text.

Nothing here calls the model. Every check raises before the kernel touches
the model, with a message naming what was expected and what came.

Example
-------
>>> ids = encode_prompt(tok, "The capital of France is")        # doctest: +SKIP
>>> display_pieces(tok, ids)                                     # doctest: +SKIP
['<s>', 'The', ' capital', ' of', ' France', ' is']
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Sequence

__all__ = ["check_tokenizer", "encode_prompt", "encode_text", "display_pieces", "special_flags", "eos_ids"]

#: Tokens of context decoded in front of a token to read its own text (see :func:`display_pieces`).
DISPLAY_CONTEXT = 4


def check_tokenizer(tokenizer: Any) -> Any:
    """``tokenizer`` itself if it looks like a Hugging Face tokenizer (callable, with ``decode``), else ``TypeError``."""
    if isinstance(tokenizer, (str, bytes)) or not callable(tokenizer) or not callable(getattr(tokenizer, "decode", None)):
        raise TypeError(
            "tokenizer must be a Hugging Face tokenizer (callable on a string, with .decode), e.g. "
            f"AutoTokenizer.from_pretrained(...); got {type(tokenizer).__name__}"
        )
    return tokenizer


def _ids_of(encoded: Any) -> list[int]:
    ids = encoded["input_ids"] if isinstance(encoded, Mapping) or hasattr(encoded, "keys") else encoded
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    if ids and isinstance(ids[0], (list, tuple)):  # a batch of one
        ids = ids[0]
    return [int(i) for i in ids]


def encode_text(tokenizer: Any, text: str, *, special: bool) -> list[int]:
    """Token ids of ``text`` (``special``: with the tokens the tokenizer adds, e.g. a leading bos)."""
    return _ids_of(tokenizer(text, add_special_tokens=special))


def _check_messages(prompt: Sequence[Any]) -> list[dict]:
    if not len(prompt):
        raise ValueError("prompt is an empty list of chat messages; give a string or at least one {'role', 'content'} message")
    out = []
    for i, m in enumerate(prompt):
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise TypeError(
                "a chat prompt must be a list of messages {'role': str, 'content': str}; "
                f"message {i} is {m!r:.80}"
            )
        out.append(dict(m))
    return out


def encode_prompt(tokenizer: Any, prompt: Any) -> list[int]:
    """Token ids of ``prompt``: a string (with the special tokens the tokenizer adds) or a list of
    chat messages (through the tokenizer's chat template, with the generation prompt).

    Parameters
    ----------
    tokenizer : Hugging Face tokenizer
    prompt : str or list of dict
        A non-empty string, or messages ``{"role": ..., "content": ...}`` (needs
        ``tokenizer.chat_template``).

    Returns
    -------
    list of int
        At least one id.

    Example
    -------
    >>> encode_prompt(tok, [{"role": "user", "content": "Hi"}])   # doctest: +SKIP
    [4, 70, 6, 74, 5, 6, 4, 72, 6]
    """
    if isinstance(prompt, str):
        if not prompt:
            raise ValueError("prompt is an empty string; give the text the model should continue")
        ids = encode_text(tokenizer, prompt, special=True)
    elif isinstance(prompt, (list, tuple)):
        messages = _check_messages(prompt)
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(
                f"prompt is a list of {len(messages)} chat message(s), but the tokenizer has no chat_template; "
                "pass the prompt as a string, or use a tokenizer with a chat template (e.g. an -Instruct model's)"
            )
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        # the template writes its own special tokens (bos, role markers) as text
        ids = encode_text(tokenizer, text, special=False)
    else:
        raise TypeError(f"prompt must be a string or a list of chat messages {{'role', 'content'}}, got {type(prompt).__name__}")
    if not ids:
        raise ValueError(f"prompt {prompt!r:.80} encodes to no tokens; give some text")
    return ids


def display_pieces(tokenizer: Any, ids: Sequence[int]) -> list[str]:
    """Each token's own text, so that ``"".join(pieces)`` reads as the decoded text.

    A token is decoded after up to :data:`DISPLAY_CONTEXT` tokens in front of it
    and keeps what its id adds to their text: a leading space stays even for
    tokenizers whose ``decode([id])`` drops it at the start of a text
    (SentencePiece). Where that is not a prefix (a character split over
    byte-level pieces), ``tokenizer.decode([id])`` is used as it comes (often
    ``"�"``).

    Parameters
    ----------
    tokenizer : Hugging Face tokenizer
    ids : sequence of int ``(S,)``

    Returns
    -------
    list of str ``(S,)``

    Example
    -------
    >>> display_pieces(tok, tok("The capital")["input_ids"])   # doctest: +SKIP
    ['<s>', 'The', ' capital']
    """
    ids = [int(i) for i in ids]

    def dec(x: list[int]) -> str:
        return tokenizer.decode(x, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    out = []
    for i, t in enumerate(ids):
        before = ids[max(0, i - DISPLAY_CONTEXT) : i]
        piece = None
        if before:
            head, whole = dec(before), dec(before + [t])
            if whole.startswith(head):
                piece = whole[len(head):]
        out.append(dec([t]) if piece is None else piece)
    return out


def special_flags(tokenizer: Any, ids: Sequence[int]) -> list[bool]:
    """True for each id that is a special token: bos/eos/pad/unk and added special tokens (chat markers).

    Parameters
    ----------
    tokenizer : Hugging Face tokenizer
    ids : sequence of int ``(S,)``

    Returns
    -------
    list of bool ``(S,)``

    Example
    -------
    >>> special_flags(tok, tok("The")["input_ids"])   # doctest: +SKIP
    [True, False]
    """
    special = {int(i) for i in (getattr(tokenizer, "all_special_ids", None) or [])}
    added = getattr(tokenizer, "added_tokens_decoder", None) or {}
    special |= {int(i) for i, tok in added.items() if getattr(tok, "special", False)}
    return [int(i) in special for i in ids]


def eos_ids(tokenizer: Any, model: Any) -> set[int]:
    """The ids that end generation: the tokenizer's eos and the model's ``generation_config.eos_token_id``."""
    out: set[int] = set()
    for v in (getattr(tokenizer, "eos_token_id", None),
              getattr(getattr(model, "generation_config", None), "eos_token_id", None)):
        if v is None:
            continue
        out |= {int(x) for x in (v if isinstance(v, (list, tuple, set)) else [v])}
    return out
