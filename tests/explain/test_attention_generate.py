"""capture_attention during model.generate: several forward passes assembled into one causal map.

Truth: one eager forward over the generated sequence (the capture runs the
sdpa twin of the same weights, so the maps are recomputed from the query
and key each pass received through the key-value cache). Tiny random
models from transformers configs: Llama with grouped-query attention (4
query heads over 2 key-value heads, rotary positions) and GPT-2.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from xai_widgets.explain.attention import capture_attention

transformers = pytest.importorskip("transformers")

VOCAB = 96


def _llama(impl: str):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      initializer_range=0.2, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    cfg._attn_implementation = impl
    return LlamaForCausalLM(cfg).eval()


def _gpt2(impl: str):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=128, initializer_range=0.2,
                     pad_token_id=0, bos_token_id=1, eos_token_id=2)
    cfg._attn_implementation = impl
    return GPT2LMHeadModel(cfg).eval()


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def pair(request):
    make = {"llama": _llama, "gpt2": _gpt2}[request.param]
    eager, sdpa = make("eager"), make("sdpa")
    sdpa.load_state_dict(eager.state_dict())
    assert sdpa.config._attn_implementation == "sdpa" and eager.config._attn_implementation == "eager"
    return eager, sdpa


GEN = dict(do_sample=False, min_new_tokens=7, max_new_tokens=7)


def _prompt(n: int = 6, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, VOCAB, (1, n), generator=g)


def _eager_maps(eager, ids, **kw) -> np.ndarray:
    with torch.no_grad():
        return torch.stack(eager(ids, output_attentions=True, **kw).attentions, 1).numpy()


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_generate_maps_equal_one_eager_forward(pair, impl, state_check):
    eager, sdpa = pair
    model = sdpa if impl == "sdpa" else eager
    ids = _prompt()
    P, G = ids.shape[1], GEN["max_new_tokens"]
    with torch.no_grad():
        plain = model.generate(ids, **GEN)
    with state_check(model):
        maps = capture_attention(model.generate, ids, **GEN)
    assert torch.equal(maps._output, plain)  # generated tokens unchanged by the capture
    S = P + G
    assert plain.shape == (1, S)
    # the last new token was produced but never read: S - 1 positions
    assert maps.shape == (2, 4, S - 1, S - 1) and maps.causal and maps.params["passes"] == G
    ref = _eager_maps(eager, plain)[0]
    np.testing.assert_allclose(maps.weights, ref[..., : S - 1, : S - 1], atol=1e-5, rtol=0)
    np.testing.assert_allclose(maps.weights.sum(-1), 1.0, atol=1e-5)
    # the maps carry the sequence they were read from (grad_attention re-runs it)
    args, kw = maps._inputs
    assert args == () and torch.equal(kw["input_ids"], plain[:, :-1])


def test_generate_options_layers_heads_dtype_tokens(pair):
    eager, sdpa = pair
    ids = _prompt(5, seed=3)

    class Tok:  # the tokenizer protocol capture_attention uses
        def convert_ids_to_tokens(self, ids):
            return [f"t{i}" for i in ids]

    full = capture_attention(sdpa.generate, ids, **GEN)
    sub = capture_attention(sdpa.generate, input_ids=ids, **GEN, layers=-1, heads=[1, 3], dtype=torch.float16,
                            tokenizer=Tok())
    assert sub.shape == (1, 2) + full.shape[2:] and sub.dtype == np.float16
    np.testing.assert_allclose(sub.weights[0].astype(np.float32), full.weights[-1][[1, 3]], atol=1e-3)
    assert sub.layer_names == full.layer_names[-1:]
    assert sub.tokens == [f"t{i}" for i in sub._output[0, :-1].tolist()]
    assert sub.params["heads"] == [1, 3] and sub.params["dtype"] == "float16"


def test_generate_without_cache_overwrites_repeated_rows(pair):
    eager, sdpa = pair
    ids = _prompt(4, seed=5)
    cached = capture_attention(sdpa.generate, ids, **GEN)
    uncached = capture_attention(sdpa.generate, ids, **GEN, use_cache=False)
    assert uncached.params["passes"] == GEN["max_new_tokens"]
    assert torch.equal(cached._output, uncached._output)
    np.testing.assert_allclose(uncached.weights, cached.weights, atol=1e-5, rtol=0)


def test_generate_batch_left_padding(state_check):
    eager, sdpa = _llama("eager"), _llama("sdpa")
    sdpa.load_state_dict(eager.state_dict())
    ids = torch.cat([_prompt(6, seed=7), _prompt(6, seed=8)])
    am = torch.ones_like(ids)
    ids[1, :2], am[1, :2] = 0, 0  # left padding, as for decoder batches
    with torch.no_grad():
        plain = sdpa.generate(ids, attention_mask=am, **GEN)
    with state_check(sdpa):
        maps = capture_attention(sdpa.generate, ids, attention_mask=am, **GEN)
    assert torch.equal(maps._output, plain)
    S = plain.shape[1] - 1
    assert maps.shape == (2, 2, 4, S, S) and maps.mask.shape == (2, S)
    assert maps.mask[1].tolist() == [False, False] + [True] * (S - 2) and maps.mask[0].all()
    full_am = torch.cat([am, torch.ones(2, S - am.shape[1], dtype=am.dtype)], 1)
    pos = (full_am.cumsum(-1) - 1).clamp_min(0)  # generate's positions under left padding
    ref = _eager_maps(eager, plain[:, :-1], attention_mask=full_am, position_ids=pos)
    for i in range(2):
        keep = full_am[i].bool().numpy()
        np.testing.assert_allclose(maps.sample(i).weights, ref[i][:, :, keep][..., keep], atol=1e-5, rtol=0)


def test_single_forward_unchanged_and_method_single_pass(pair):
    eager, sdpa = pair
    ids = _prompt(6, seed=9)
    one = capture_attention(sdpa, ids)
    assert "passes" not in one.params and one._inputs[1] == {} and torch.equal(one._inputs[0][0], ids)
    np.testing.assert_allclose(one.weights, _eager_maps(eager, ids)[0], atol=1e-5)
    # max_new_tokens=1: one pass (the prefill); the maps cover the prompt
    g1 = capture_attention(sdpa.generate, ids, do_sample=False, max_new_tokens=1)
    np.testing.assert_allclose(g1.weights, one.weights, atol=1e-6)
    assert torch.equal(g1._inputs[1]["input_ids"], ids) and g1._output.shape == (1, 7)


def test_bad_calls(pair, state_check):
    import types

    eager, sdpa = pair
    ids = _prompt(4, seed=11)

    def twice_unrelated(self, x):  # two passes that do not extend one sequence
        self(x)
        return self(x)

    with state_check(sdpa):
        with pytest.raises(TypeError, match="bound method"):
            capture_attention(lambda x: sdpa(x), ids)
        with pytest.raises(TypeError, match="bound method"):
            capture_attention("generate", ids)
        with pytest.raises(ValueError, match="do not extend one sequence"):
            capture_attention(types.MethodType(twice_unrelated, sdpa), ids)
        with pytest.raises(ValueError, match="out of range"):
            capture_attention(sdpa.generate, ids, **GEN, layers=5)


def test_encoder_decoder_generate_needs_decoder_layers(state_check):
    from transformers import BartConfig, BartForConditionalGeneration

    def make(impl):
        torch.manual_seed(0)
        cfg = BartConfig(vocab_size=VOCAB, d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=4,
                         decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=2,
                         forced_bos_token_id=None, forced_eos_token_id=None, init_std=0.2)
        cfg._attn_implementation = impl
        return BartForConditionalGeneration(cfg).eval()

    eager, sdpa = make("eager"), make("sdpa")
    sdpa.load_state_dict(eager.state_dict())
    ids = _prompt(6, seed=13)
    with state_check(sdpa):
        with pytest.raises(ValueError, match="outside the model's forward passes"):
            capture_attention(sdpa.generate, ids, **GEN)  # the encoder runs once, before the decoder passes
    names = [f"model.decoder.layers.{i}.self_attn" for i in range(2)]
    maps = capture_attention(sdpa.generate, ids, **GEN, layers=names)
    seq = maps._output
    with torch.no_grad():
        ref = torch.stack(eager(ids, decoder_input_ids=seq, output_attentions=True).decoder_attentions, 1)[0].numpy()
    S = seq.shape[1] - 1
    assert maps.layer_names == names and maps.shape == (2, 4, S, S)
    np.testing.assert_allclose(maps.weights, ref[..., :S, :S], atol=1e-5, rtol=0)
