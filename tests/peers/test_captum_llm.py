"""explain_generation against Captum's LLMGradientAttribution on a tiny random GPT-2.

Captum attributes each generated token to the prompt only: the earlier
generated tokens stay as they are, also on the integrated-gradients path.
``explain_generation(..., sources="prompt")`` is that convention, so the two
must agree token by token (Captum's ``LayerIntegratedGradients`` with token
ids and no baseline interpolates from the embedding of token id 0, which is
``baseline=0`` here; the plain tokenizer adds no special token, so both
encode the prompt alike).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "explain"))
from _tiny_lm import plain_tokenizer, tiny_gpt2  # noqa: E402

from xai_widgets.explain.generation import explain_generation  # noqa: E402

captum_attr = pytest.importorskip("captum.attr")
PROMPT = "I like to visit"  # its greedy text re-encodes to the same ids (see test_generation)


@pytest.fixture(scope="module")
def gpt2():
    tok = plain_tokenizer()
    model = tiny_gpt2(tok)
    gen = explain_generation(model, tok, PROMPT, max_new_tokens=4)
    text = "".join(gen.params["generated"])
    # Captum encodes the target text again; a generated token equal to the baseline token would hide the difference
    assert tok(text, add_special_tokens=False)["input_ids"] == gen.params["generated_ids"], text
    assert 0 not in gen.params["generated_ids"]
    return model, tok, text


def _captum(model, tok, text, inner, **kwargs):
    llm = captum_attr.LLMGradientAttribution(inner, tok)
    res = llm.attribute(captum_attr.TextTokenInput(PROMPT, tok), target=text, **kwargs)
    return res.token_attr.detach().double().numpy()


@pytest.mark.parametrize("steps", [4, 16])
def test_integrated_gradients_equal_captum_prompt_convention(gpt2, steps):
    model, tok, text = gpt2
    ours = explain_generation(model, tok, PROMPT, continuation=text, method="integrated_gradients", steps=steps,
                              baseline=0, sources="prompt")
    theirs = _captum(model, tok, text, captum_attr.LayerIntegratedGradients(model, model.get_input_embeddings()),
                     n_steps=steps)
    P = ours.params["prompt_length"]
    assert theirs.shape == (ours.values.shape[1], P) and ours.params["sources"] == "prompt"
    np.testing.assert_allclose(ours.values[0, :, :P], theirs, atol=1e-5 * np.abs(theirs).max())
    assert (ours.values[0, :, P:] == 0).all()
    # the default (every earlier token on the path) differs from the second generated token on
    full = explain_generation(model, tok, PROMPT, continuation=text, method="integrated_gradients", steps=steps,
                              baseline=0)
    np.testing.assert_allclose(full.values[0, 0, :P], theirs[0], atol=1e-5 * np.abs(theirs).max())
    assert np.abs(full.values[0, 1:, :P] - theirs[1:]).max() > 1e-3 * np.abs(theirs).max()


def test_input_x_gradient_equals_captum(gpt2):
    model, tok, text = gpt2
    ours = explain_generation(model, tok, PROMPT, continuation=text, sources="prompt")
    theirs = _captum(model, tok, text, captum_attr.LayerGradientXActivation(model, model.get_input_embeddings()))
    P = ours.params["prompt_length"]
    np.testing.assert_allclose(ours.values[0, :, :P], theirs, atol=1e-5 * np.abs(theirs).max())
    full = explain_generation(model, tok, PROMPT, continuation=text)
    np.testing.assert_array_equal(full.values[0, :, :P], ours.values[0, :, :P])  # no path: the same gradients
    assert (ours.values[0, :, P:] == 0).all() and np.abs(full.values[0, 1:, P:]).max() > 0
