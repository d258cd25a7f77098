"""capture_attention: equals the eager weights whatever the implementation; model left as found."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xai_widgets.attention_maps import AttentionMaps
from xai_widgets.explain.attention import capture_attention

transformers = pytest.importorskip("transformers")

SDPA = F.scaled_dot_product_attention


def _interface_state():
    from transformers.modeling_utils import AttentionInterface

    return {k: AttentionInterface.__dict__.get(k) for k in ("get_interface", "__getitem__")}


@pytest.fixture(scope="module")
def minilm_pair():
    from xai_widgets import demo

    tok, eager = demo.minilm("eager")
    _, sdpa = demo.minilm("sdpa")
    sdpa.load_state_dict(eager.state_dict())
    return tok, eager.eval(), sdpa.eval()


def _real(ref: np.ndarray, keep: np.ndarray) -> np.ndarray:
    return ref[:, :, keep][..., keep]


def test_minilm_sdpa_matches_eager(minilm_pair, state_check):
    tok, eager, sdpa = minilm_pair
    assert sdpa.config._attn_implementation == "sdpa"
    enc = tok(["the cat sat on the mat, quietly.", "a dog"], return_tensors="pt", padding=True)
    with torch.no_grad():
        ref = torch.stack(eager(**enc, output_attentions=True).attentions, 1).numpy()
    before = _interface_state()
    with state_check(sdpa):
        maps = capture_attention(sdpa, **enc, tokenizer=tok)
    assert F.scaled_dot_product_attention is SDPA
    assert _interface_state() == before
    assert isinstance(maps, AttentionMaps) and maps.shape == ref.shape and maps.kind == "attention"
    assert maps.mask.shape == (2, ref.shape[-1]) and not maps.causal
    for i in range(2):
        keep = enc["attention_mask"][i].bool().numpy()
        s = maps.sample(i)
        np.testing.assert_allclose(s.weights, _real(ref[i], keep), atol=1e-5)
        assert s.tokens[0] == "[CLS]" and len(s.tokens) == keep.sum()
    assert maps.layer_names[0].endswith("layer.0.attention.self")
    # a single input: (L, H, Q, K), padding none
    one = tok("hello there", return_tensors="pt")
    m1 = capture_attention(sdpa, **one)
    with torch.no_grad():
        r1 = torch.stack(eager(**one, output_attentions=True).attentions, 1)[0].numpy()
    np.testing.assert_allclose(m1.weights, r1, atol=1e-5)
    np.testing.assert_allclose(m1.weights.sum(-1), 1.0, atol=1e-5)


def test_minilm_eager_reads_returned_weights(minilm_pair, state_check):
    tok, eager, _ = minilm_pair
    enc = tok(["reading the weights"], return_tensors="pt")
    with torch.no_grad():
        ref = torch.stack(eager(**enc, output_attentions=True).attentions, 1)[0].numpy()
    with state_check(eager):
        maps = capture_attention(eager, **enc)
    np.testing.assert_allclose(maps.weights, ref, atol=1e-6)


def test_outputs_unchanged_and_options(minilm_pair):
    tok, _, sdpa = minilm_pair
    enc = tok(["options pass through"], return_tensors="pt")
    with torch.no_grad():
        want = sdpa(**enc).last_hidden_state
    seen = []
    h = sdpa.register_forward_hook(lambda m, a, o: seen.append(o.last_hidden_state.detach().clone()))
    try:
        full = capture_attention(sdpa, **enc)
        sub = capture_attention(sdpa, **enc, layers=[0, -1], heads=[1, 3], dtype=torch.float16)
        named = capture_attention(sdpa, **enc, layers="encoder.layer.2.attention.self")
    finally:
        h.remove()
    for o in seen:
        torch.testing.assert_close(o, want, atol=1e-6, rtol=0)
    assert sub.shape == (2, 2) + full.shape[2:] and sub.dtype == np.float16
    np.testing.assert_allclose(sub.weights.astype(np.float32), full.weights[[0, -1]][:, [1, 3]], atol=1e-3)
    np.testing.assert_allclose(named.weights[0], full.weights[2], atol=1e-7)
    assert named.layer_names == ["encoder.layer.2.attention.self"]
    assert full.head(0, -1).shape == full.shape[2:]
    np.testing.assert_allclose(full.head(1, -1), full.weights[1].mean(0), atol=1e-6)
    assert full.mean_heads().shape == (6, 1) + full.shape[2:]
    assert len(full) == 6


def test_bad_input(minilm_pair, state_check):
    tok, _, sdpa = minilm_pair
    enc = tok(["bad"], return_tensors="pt")
    before = _interface_state()
    with state_check(sdpa):
        with pytest.raises(ValueError, match="out of range"):
            capture_attention(sdpa, **enc, layers=6)
        with pytest.raises(ValueError, match="out of range"):
            capture_attention(sdpa, **enc, heads=[12])
        with pytest.raises(ValueError, match="no module named"):
            capture_attention(sdpa, **enc, layers="nope")
        with pytest.raises(TypeError):
            capture_attention(sdpa, **enc, dtype="half")
        def boom(*a):
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):  # fails mid-forward: everything restored
            capture_attention(sdpa, **enc, modules={"encoder.layer.3.output": boom})
    assert _interface_state() == before
    assert F.scaled_dot_product_attention is SDPA
    assert torch.backends.mha.get_fastpath_enabled()
    with pytest.raises(ValueError, match="no attention module"):
        capture_attention(nn.Linear(3, 3), torch.zeros(1, 3))


def _llama(impl):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    cfg._attn_implementation = impl
    return LlamaForCausalLM(cfg).eval()


def test_llama_rope_gqa(state_check):
    eager, sdpa = _llama("eager"), _llama("sdpa")
    sdpa.load_state_dict(eager.state_dict())
    ids = torch.randint(0, 64, (2, 9))
    am = torch.ones_like(ids)
    am[1, 6:] = 0
    with torch.no_grad():
        ref = torch.stack(eager(ids, attention_mask=am, output_attentions=True).attentions, 1).numpy()
        out = sdpa(ids, attention_mask=am).logits
    with state_check(sdpa):
        maps = capture_attention(sdpa, ids, attention_mask=am)
    assert maps.shape == (2, 2, 4, 9, 9) and maps.causal
    np.testing.assert_allclose(maps.weights[0], ref[0], atol=1e-5)
    keep = am[1].bool().numpy()
    np.testing.assert_allclose(maps.sample(1).weights, _real(ref[1], keep), atol=1e-5)
    # no mask at all: sdpa takes its is_causal path
    with torch.no_grad():
        ref1 = torch.stack(eager(ids[:1], output_attentions=True).attentions, 1)[0].numpy()
    m1 = capture_attention(sdpa, ids[:1])
    np.testing.assert_allclose(m1.weights, ref1, atol=1e-5)
    assert m1.causal
    with torch.no_grad():
        torch.testing.assert_close(sdpa(ids, attention_mask=am).logits, out)


def test_vit_patch_grid(state_check):
    from transformers import ViTConfig, ViTModel

    def make(impl):
        torch.manual_seed(0)
        cfg = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64)
        cfg._attn_implementation = impl
        return ViTModel(cfg, add_pooling_layer=False).eval()

    eager, sdpa = make("eager"), make("sdpa")
    sdpa.load_state_dict(eager.state_dict())
    assert sdpa.config._attn_implementation == "sdpa"
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        ref = torch.stack(eager(pixel_values=x, output_attentions=True).attentions, 1)[0].numpy()
    with state_check(sdpa):
        maps = capture_attention(sdpa, pixel_values=x)
    np.testing.assert_allclose(maps.weights, ref, atol=1e-5)
    assert maps.patch_grid == (4, 4) and maps.n_prefix_tokens == 1 and maps.shape == (2, 4, 17, 17)


class _MHAModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True)

    def forward(self, x, mask=None):
        return self.attn(x, x, x, key_padding_mask=mask, need_weights=False)[0]


def test_multihead_attention(state_check):
    torch.manual_seed(0)
    model = _MHAModel().eval()
    x = torch.randn(2, 5, 16)
    pad = torch.tensor([[False] * 5, [False] * 3 + [True] * 2])
    with torch.no_grad():
        ref = model.attn(x, x, x, key_padding_mask=pad, need_weights=True, average_attn_weights=False)[1].numpy()
    with state_check(model):
        maps = capture_attention(model, x, mask=pad)
    assert maps.shape == (2, 1, 4, 5, 5) and maps.layer_names == ["attn"]
    np.testing.assert_allclose(maps.weights[:, 0], ref, atol=1e-6)
    assert maps.mask.tolist() == (~pad).tolist()
    assert maps.sample(1).shape == (1, 4, 3, 3)


def _manual_self_attention(mha: nn.MultiheadAttention, x: torch.Tensor) -> torch.Tensor:
    E, H = mha.embed_dim, mha.num_heads
    q, k, _ = F.linear(x, mha.in_proj_weight, mha.in_proj_bias).split(E, dim=-1)
    B, S, _ = x.shape
    q = q.view(B, S, H, E // H).transpose(1, 2)
    k = k.view(B, S, H, E // H).transpose(1, 2)
    return torch.softmax(q @ k.transpose(-1, -2) / (E // H) ** 0.5, dim=-1)


def test_encoder_layer_fast_path(state_check):
    torch.manual_seed(0)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, 32, batch_first=True), 2,
                                enable_nested_tensor=False).eval()
    x = torch.randn(2, 6, 16)
    with torch.no_grad():
        out = enc(x)  # fast path
        h1 = enc.layers[0](x)
        ref = torch.stack([_manual_self_attention(enc.layers[0].self_attn, x),
                           _manual_self_attention(enc.layers[1].self_attn, h1)], 1).numpy()
    seen = []
    h = enc.register_forward_hook(lambda m, a, o: seen.append(o.detach().clone()))
    try:
        with state_check(enc):
            maps = capture_attention(enc, x)
    finally:
        h.remove()
    assert torch.backends.mha.get_fastpath_enabled()
    assert maps.layer_names == ["layers.0.self_attn", "layers.1.self_attn"]
    np.testing.assert_allclose(maps.weights, ref, atol=1e-5)
    torch.testing.assert_close(seen[0], out, atol=1e-5, rtol=0)


def test_decoder_cross_attention(state_check):
    torch.manual_seed(0)
    dec = nn.TransformerDecoderLayer(16, 2, 32, batch_first=True).eval()
    tgt, mem = torch.randn(1, 5, 16), torch.randn(1, 7, 16)
    with torch.no_grad():
        xq = dec.norm1(tgt + dec._sa_block(tgt, None, None))
        ref = dec.multihead_attn(xq, mem, mem, need_weights=True, average_attn_weights=False)[1][0].numpy()
    with state_check(dec):
        maps = capture_attention(dec, tgt, mem, layers=["multihead_attn"])
        both = None
        with pytest.raises(ValueError, match="differ in shape"):
            both = capture_attention(dec, tgt, mem)
    assert both is None
    assert maps.shape == (1, 2, 5, 7) and not maps.causal
    np.testing.assert_allclose(maps.weights[0], ref, atol=1e-6)


def test_custom_module_function(state_check):
    class Toy(nn.Module):
        def __init__(self):
            super().__init__()
            self.score = nn.Linear(4, 4)

        def forward(self, x):
            return torch.softmax(self.score(x) @ x.transpose(1, 2), -1) @ x

    torch.manual_seed(0)
    model = Toy().eval()
    x = torch.randn(2, 3, 4)

    def fn(module, args, kwargs, output):
        (inp,) = args
        return torch.softmax(inp @ inp.transpose(1, 2), -1)[:, None]

    with state_check(model):
        maps = capture_attention(model, x, modules={"score": fn})
    assert maps.shape == (2, 1, 1, 3, 3) and maps.layer_names == ["score"]
    np.testing.assert_allclose(maps.weights[:, 0, 0], torch.softmax(x @ x.transpose(1, 2), -1).numpy(), atol=1e-6)
