"""Layer attribution on MiniLM token ids (embeddings layer), against Captum."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import xai_widgets as xw
from xai_widgets import demo

SENTENCE = "the cat sat quietly on the warm mat"
REFERENCE = "a kitten is resting"


@pytest.fixture(scope="module")
def text_setup(minilm):
    tok, model = minilm
    enc = tok([SENTENCE], return_tensors="pt")
    ref_enc = tok([REFERENCE], return_tensors="pt")
    with torch.no_grad():
        ref = demo.mean_pool(model(**ref_enc).last_hidden_state, ref_enc["attention_mask"])
    ids, mask = enc["input_ids"], enc["attention_mask"]

    def cosine(out):  # model output -> (N,) similarity with the reference sentence
        return torch.nn.functional.cosine_similarity(demo.mean_pool(out.last_hidden_state, mask), ref)

    def forward(input_ids, attention_mask):  # the same, as one function for Captum
        return cosine(model(input_ids=input_ids, attention_mask=attention_mask))

    return model, ids, mask, cosine, forward


def test_layer_ig_matches_captum_and_is_complete(text_setup, state_check):
    from captum.attr import LayerIntegratedGradients

    model, ids, mask, cosine, forward = text_setup
    with state_check(model):
        a = xw.integrated_gradients(
            model, ids, layer=model.embeddings, forward_kwargs={"attention_mask": mask}, output=cosine,
            steps=32, batch_size=16,
        )
    T = ids.shape[1]
    assert a.shape == (1, T, model.config.hidden_size)
    assert a.params["layer"] == "embeddings"
    np.testing.assert_array_equal(a.data, ids.numpy())
    np.testing.assert_array_equal(a.target, [0])

    lig = LayerIntegratedGradients(forward, model.embeddings)
    c, d = lig.attribute(
        ids, baselines=torch.zeros_like(ids), additional_forward_args=(mask,), n_steps=32,
        internal_batch_size=16, return_convergence_delta=True,
    )
    ours, theirs = a.values.sum(-1).ravel(), c.detach().sum(-1).numpy().ravel()
    assert np.corrcoef(ours, theirs)[0, 1] >= 0.99
    np.testing.assert_allclose(ours, theirs, atol=1e-4 * np.abs(theirs).max())

    # completeness against independently computed scores
    with torch.no_grad():
        fx = forward(ids, mask).item()
        fb = forward(torch.zeros_like(ids), mask).item()
    np.testing.assert_allclose(a.outputs, fx, atol=1e-6)
    np.testing.assert_allclose(a.base_values, fb, atol=1e-6)
    gap = fx - fb
    assert abs(a.values.sum() - gap) <= 0.01 * abs(gap)
    assert abs(float(a.delta[0])) <= 0.01 * abs(gap)
    np.testing.assert_allclose(a.delta, d.numpy(), atol=1e-4)


def test_layer_input_x_gradient_matches_captum(text_setup, state_check):
    from captum.attr import LayerGradientXActivation

    model, ids, mask, cosine, forward = text_setup
    with state_check(model):
        a = xw.input_x_gradient(
            model, ids, layer="embeddings", forward_kwargs={"attention_mask": mask}, output=cosine
        )
    c = LayerGradientXActivation(forward, model.embeddings).attribute(ids, additional_forward_args=(mask,))
    np.testing.assert_allclose(a.values, c.detach().numpy(), atol=1e-6)
    s = xw.saliency(model, ids, layer=model.embeddings, forward_kwargs={"attention_mask": mask}, output=cosine)
    assert s.shape == a.shape and (s.values >= 0).all()


def test_layer_smoothgrad_on_token_ids(text_setup):
    model, ids, mask, cosine, forward = text_setup
    a = xw.smoothgrad(
        model, ids, layer=model.embeddings, forward_kwargs={"attention_mask": mask}, output=cosine,
        samples=3, noise=0.05,
    )
    assert a.shape == (1, ids.shape[1], model.config.hidden_size)
    assert np.isfinite(a.values).all() and a.params["layer"] == "embeddings"


def test_batched_mask_expands_with_steps(minilm):
    """Two sentences of different length: the padded attention_mask must follow each row's steps."""
    tok, model = minilm
    enc = tok([SENTENCE, "a dog"], return_tensors="pt", padding=True)
    ids, mask = enc["input_ids"], enc["attention_mask"]

    def first_token(out):  # score that needs no mask: the [CLS] state's first coordinate
        return out.last_hidden_state[:, 0, 0]

    a = xw.integrated_gradients(
        model, ids, layer=model.embeddings, forward_kwargs={"attention_mask": mask}, output=first_token,
        steps=24, batch_size=10,
    )
    with torch.no_grad():
        fx = first_token(model(input_ids=ids, attention_mask=mask))
        fb = first_token(model(input_ids=torch.zeros_like(ids), attention_mask=mask))
    gap = (fx - fb).numpy()
    np.testing.assert_allclose(a.values.reshape(2, -1).sum(1), gap, atol=0.01 * np.abs(gap).max())
    one = xw.integrated_gradients(
        model, ids[1:], layer=model.embeddings, forward_kwargs={"attention_mask": mask[1:]}, output=first_token,
        steps=24,
    )
    np.testing.assert_allclose(a.values[1], one.values[0], atol=1e-5)


def test_token_ids_need_a_layer(text_setup):
    model, ids, mask, cosine, forward = text_setup
    with pytest.raises(TypeError, match="layer="):
        xw.integrated_gradients(model, ids, output=cosine)
    with pytest.raises(TypeError, match="integer ids"):
        xw.integrated_gradients(model, ids, layer=model.embeddings, baseline=torch.zeros(ids.shape), output=cosine)


def test_encoder_input_is_the_embeddings_output(text_setup, state_check):
    """BertModel calls its encoder with the embeddings' output as first positional argument, so
    attributing to the encoder's input (layer_input=True) gives the embeddings-output attribution,
    and Captum's LayerGradientXActivation(attribute_to_layer_input=True) agrees."""
    from captum.attr import LayerGradientXActivation

    model, ids, mask, cosine, forward = text_setup
    kw = {"forward_kwargs": {"attention_mask": mask}, "output": cosine}
    with state_check(model):
        a = xw.integrated_gradients(model, ids, layer=model.encoder, layer_input=True, steps=6, **kw)
    b = xw.integrated_gradients(model, ids, layer=model.embeddings, steps=6, **kw)
    assert a.params["layer"] == "encoder" and a.params["layer_input"] is True
    np.testing.assert_allclose(a.values, b.values, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(a.base_values, b.base_values, atol=1e-6)
    i = xw.input_x_gradient(model, ids, layer="encoder", layer_input=True, **kw)
    c = LayerGradientXActivation(forward, model.encoder).attribute(
        ids, additional_forward_args=(mask,), attribute_to_layer_input=True
    )
    np.testing.assert_allclose(i.values, c.detach().numpy(), atol=1e-6)
