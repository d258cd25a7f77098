"""Tiny random causal language models and offline tokenizers for tests.

Everything is built in code (no download, no file): a word-level tokenizer
with byte-level pre-tokenisation (so a word after a space is one token that
decodes with its leading space, ``" Paris"``, as in GPT-2/SmolLM2), wrapped
in ``PreTrainedTokenizerFast``, and small Llama / GPT-2 models from a
transformers config with random weights.

* :func:`chat_tokenizer` — Llama-like: adds ``<s>`` in front of every text,
  has ``</s>``, ``<pad>``, ``<unk>``, chat markers ``<|im_start|>`` /
  ``<|im_end|>`` and a ChatML chat template.
* :func:`plain_tokenizer` — GPT-2-like: no special token added, only
  ``<|endoftext|>`` (bos = eos = unk = it), no chat template.
* :func:`tiny_llama` — 2 layers, 4 query heads over 2 key-value heads
  (grouped-query attention), rotary positions.
* :func:`tiny_gpt2` — 2 layers, 4 heads, learned positions.

Weights are drawn with a larger spread than the transformers default
(``initializer_range=0.2``), so next-token distributions are peaked and
gradients are far from rounding noise.

Example
-------
>>> tok = chat_tokenizer()
>>> model = tiny_llama(tok)
>>> tok("The capital of France is")["input_ids"][0] == tok.bos_token_id
True
"""
from __future__ import annotations

import torch

__all__ = ["WORDS", "chat_tokenizer", "plain_tokenizer", "tiny_llama", "tiny_gpt2", "CHATML"]

#: The vocabulary's words; each is a token on its own and with a leading space.
WORDS = (
    "The capital of France is Paris Lyon Berlin Germany Italy Rome a city and the in on river "
    "country big small old new I like to visit what which answer question user assistant hello "
    ". , ? ! :"
).split()

#: A ChatML template (as SmolLM2's), system prompt optional.
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _vocab(specials: list[str]) -> dict[str, int]:
    from tokenizers import pre_tokenizers

    # the byte-level alphabet's spelling of a space ("Ġ") and a newline ("Ċ"), as GPT-2 stores them
    space = pre_tokenizers.ByteLevel(add_prefix_space=False).pre_tokenize_str(" a")[0][0][0]
    newline = pre_tokenizers.ByteLevel(add_prefix_space=False).pre_tokenize_str("\n")[0][0]
    tokens = list(specials) + [newline, space]
    for w in WORDS:
        tokens += [w, space + w]
    out: dict[str, int] = {}
    for t in tokens:
        out.setdefault(t, len(out))
    return out


def _word_level(specials: list[str], unk: str):
    """A ``tokenizers.Tokenizer``: whole words (with or without their leading space), byte-level spelling."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tk = Tokenizer(models.WordLevel(vocab=_vocab(specials), unk_token=unk))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tk.decoder = decoders.ByteLevel()
    return tk


def chat_tokenizer():
    """A Llama-like tokenizer: ``<s>`` added in front, special tokens and a ChatML chat template.

    Example
    -------
    >>> tok = chat_tokenizer()
    >>> tok.decode(tok("The capital")["input_ids"])
    '<s>The capital'
    """
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>"]
    tk = _word_level(specials, "<unk>")
    bos = tk.token_to_id("<s>")
    tk.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    tok.chat_template = CHATML
    return tok


def plain_tokenizer():
    """A GPT-2-like tokenizer: nothing added to a text, ``<|endoftext|>`` as bos/eos/unk, no chat template.

    Example
    -------
    >>> tok = plain_tokenizer()
    >>> [tok.decode([i]) for i in tok("The capital")["input_ids"]]
    ['The', ' capital']
    """
    from transformers import PreTrainedTokenizerFast

    tk = _word_level(["<|endoftext|>"], "<|endoftext|>")
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>",
    )


def tiny_llama(tokenizer, *, seed: int = 0, attn_implementation: str = "sdpa", dtype: torch.dtype = torch.float32):
    """A random 2-layer Llama over ``tokenizer``'s vocabulary: 4 query heads over 2 key-value heads, in eval mode.

    Parameters
    ----------
    tokenizer : PreTrainedTokenizerFast
        Sets the vocabulary size and the bos/eos/pad ids.
    seed : int
        Weights are drawn after ``torch.manual_seed(seed)`` (same seed, same weights
        whatever the attention implementation).
    attn_implementation : str
        ``"sdpa"`` (default) or ``"eager"``.
    dtype : torch dtype
        The parameters' dtype.

    Example
    -------
    >>> tiny_llama(chat_tokenizer()).config.num_key_value_heads
    2
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, initializer_range=0.2,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    cfg._attn_implementation = attn_implementation
    return LlamaForCausalLM(cfg).to(dtype).eval()


def tiny_gpt2(tokenizer, *, seed: int = 0, attn_implementation: str = "sdpa", dtype: torch.dtype = torch.float32):
    """A random 2-layer GPT-2 (4 heads, learned positions, tied embeddings) over ``tokenizer``'s vocabulary, in eval mode.

    Parameters
    ----------
    tokenizer : PreTrainedTokenizerFast
        Sets the vocabulary size and the bos/eos ids.
    seed, attn_implementation, dtype
        As for :func:`tiny_llama`.

    Example
    -------
    >>> tiny_gpt2(plain_tokenizer()).config.n_head
    4
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(
        vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4, n_positions=128, initializer_range=0.2,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )
    cfg._attn_implementation = attn_implementation
    return GPT2LMHeadModel(cfg).to(dtype).eval()
