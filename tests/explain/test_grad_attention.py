"""grad_attention (Chefer et al. 2021) against a hand computation on a tiny BERT."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from xai_widgets.explain.attention import capture_attention, grad_attention

transformers = pytest.importorskip("transformers")


def _bert(impl):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=48, max_position_embeddings=32, num_labels=3)
    cfg._attn_implementation = impl
    return BertForSequenceClassification(cfg).eval()


@pytest.fixture(scope="module")
def pair():
    eager, sdpa = _bert("eager"), _bert("sdpa")
    sdpa.load_state_dict(eager.state_dict())
    return eager, sdpa


def _hand(eager, ids, target):
    emb = eager.get_input_embeddings()(ids).detach().requires_grad_(True)
    out = eager(inputs_embeds=emb, output_attentions=True)
    att = out.attentions
    grads = torch.autograd.grad(out.logits[0, target], att)
    R = torch.eye(ids.shape[1])
    for a, g in zip(att, grads):
        cam = (g[0] * a[0]).clamp(min=0).mean(0)
        R = R + cam @ R
    return R.detach().numpy(), out.logits[0, target].item()


def test_grad_attention_matches_hand_computation(pair, state_check):
    eager, sdpa = pair
    ids = torch.tensor([[2, 7, 11, 5, 9, 3]])
    with torch.no_grad():
        logits = sdpa(ids).logits
    target = int(logits.argmax())
    want, score = _hand(eager, ids, target)
    with state_check(sdpa):
        g = grad_attention(sdpa, ids)
    assert sdpa.config._attn_implementation == "sdpa"
    assert g.kind == "grad_attention" and g.shape == (2, 1, 6, 6)
    assert g.params["target"] == [target]
    np.testing.assert_allclose(g.params["outputs"], [logits[0, target].item()], atol=1e-5)
    np.testing.assert_allclose(g.weights[-1, 0], want, atol=1e-5)
    assert g.to_attribution(0).values.shape == (1, 6)
    with torch.no_grad():
        torch.testing.assert_close(sdpa(ids).logits, logits)


def test_grad_attention_from_maps_and_batch(pair, state_check):
    _, sdpa = pair
    ids = torch.tensor([[2, 7, 11, 5, 3], [2, 8, 3, 0, 0]])
    am = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    maps = capture_attention(sdpa, ids, attention_mask=am)
    with state_check(sdpa):
        g = grad_attention(sdpa, maps, target=1)
        single = grad_attention(sdpa, ids[1:, :3], target=1)
    assert g.shape == (2, 2, 1, 5, 5) and g.params["target"] == [1, 1]
    np.testing.assert_allclose(g.sample(1).weights, single.weights, atol=1e-5)
    with pytest.raises(ValueError, match="out of range"):
        grad_attention(sdpa, ids, target=7)
    with pytest.raises(TypeError):
        grad_attention(torch.nn.Linear(2, 2), torch.zeros(1, 2))
    assert F.scaled_dot_product_attention is torch.nn.functional.scaled_dot_product_attention


def test_class_names_from_id2label_and_explicit(pair, state_check):
    eager, sdpa = pair
    ids = torch.tensor([[2, 7, 11, 5, 9, 3]])
    labelled = _bert("sdpa")
    labelled.load_state_dict(sdpa.state_dict())
    labelled.config.id2label = {0: "negative", 1: "neutral", 2: "positive"}
    labelled.config.label2id = {v: k for k, v in labelled.config.id2label.items()}
    want, score = _hand(eager, ids, 2)
    with state_check(labelled):
        g = grad_attention(labelled, ids, target="positive")
    assert g.params["target"] == [2] and g.params["output_names"] == ["negative", "neutral", "positive"]
    np.testing.assert_allclose(g.weights[-1, 0], want, atol=1e-5)
    np.testing.assert_allclose(g.params["outputs"], [score], atol=1e-5)
    # explicit names override the config; a per-row list of names works too
    g2 = grad_attention(sdpa, ids, target=["c"], output_names=["a", "b", "c"])
    assert g2.params["target"] == [2]
    np.testing.assert_allclose(g2.weights, g.weights, atol=1e-6)
    # the default LABEL_0.. names are not class names
    with pytest.raises(ValueError, match="class names are not known"):
        grad_attention(sdpa, ids, target="LABEL_2")


def test_bad_class_names_fail_before_the_forward_pass(pair, state_check):
    _, sdpa = pair
    ids = torch.tensor([[2, 7, 11, 5, 9, 3]])
    calls = []
    handle = sdpa.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        with state_check(sdpa):
            with pytest.raises(ValueError, match=r"'postive' is not one of the 3 class names; close matches: \['positive'\]"):
                grad_attention(sdpa, ids, target="postive", output_names=["negative", "neutral", "positive"])
            with pytest.raises(ValueError, match="target='all' is not supported"):
                grad_attention(sdpa, ids, target="all")
            with pytest.raises(TypeError, match="output_names must be a list"):
                grad_attention(sdpa, ids, output_names="positive")
        assert calls == []
        # a list of the wrong length is known to be wrong only once the model has said it has 3 outputs
        with pytest.raises(ValueError, match="output_names has 2 names but the model has 3 outputs"):
            grad_attention(sdpa, ids, output_names=["a", "b"])
    finally:
        handle.remove()


def test_inside_inference_mode(pair):
    _, sdpa = pair
    ids = torch.tensor([[2, 7, 11, 5, 9, 3]])
    want = grad_attention(sdpa, ids, target=1)
    with torch.inference_mode():
        inf_ids = ids.clone()
        got = grad_attention(sdpa, inf_ids, target=1)
    np.testing.assert_allclose(got.weights, want.weights, atol=1e-6)
