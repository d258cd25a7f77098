"""explain_generation on tiny random Llama (GQA) and GPT-2 models, against hand-built per-token loops."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from xai_widgets.explain.generation import GENERATION_METHODS, explain_generation
from xai_widgets.explain.quadrature import quadrature

from _tiny_lm import chat_tokenizer, plain_tokenizer, tiny_gpt2, tiny_llama

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def llama():
    tok = chat_tokenizer()
    return tiny_llama(tok), tok


@pytest.fixture(scope="module")
def gpt2():
    tok = plain_tokenizer()
    return tiny_gpt2(tok), tok


@pytest.fixture(params=["llama", "gpt2"])
def lm(request):
    return request.getfixturevalue(request.param)


# --------------------------------------------------------------- references
def _prefix_scores(model, embeds, targets, contrast=None):
    """log p(target | prefix) (- log p(contrast | prefix)) at the last position of each prefix row."""
    logp = torch.log_softmax(model(inputs_embeds=embeds).logits[:, -1].float(), -1)
    s = logp[:, targets]
    return s - logp[:, contrast] if contrast is not None else s


def hand_ixg(model, ids, P, targets=None, contrast=None):
    """For each g: a fresh forward on ids[:P+g], gradient of the score wrt the embeddings, sum(grad * emb)."""
    ids = torch.as_tensor(ids)
    S = len(ids)
    targets = ids[P:].tolist() if targets is None else targets
    out = np.zeros((len(targets), S))
    for g, t in enumerate(targets):
        e = model.get_input_embeddings()(ids[None, : P + g]).detach().requires_grad_(True)
        c = None if contrast is None else contrast[g]
        (grad,) = torch.autograd.grad(_prefix_scores(model, e, t, c).sum(), e)
        out[g, : P + g] = (grad * e).sum(-1)[0].detach().double().numpy()
    return out


def hand_ig(model, emb, base, target, steps):
    """Gauss-Legendre integrated gradients of log p(target | prefix) from ``base`` to ``emb`` (1, T, H), summed over H."""
    total = torch.zeros_like(emb)
    for al, w in zip(*quadrature("gausslegendre", steps)):
        x = (base + float(al) * (emb - base)).requires_grad_(True)
        (grad,) = torch.autograd.grad(_prefix_scores(model, x, target).sum(), x)
        total += float(w) * grad
    return (total * (emb - base)).sum(-1)[0].double().numpy()


def assert_rows_close(actual, expected, rtol=1e-5):
    """Equal to ``rtol`` of each row's largest magnitude (a relative bound that tolerates exact zeros)."""
    scale = np.abs(expected).max(axis=-1, keepdims=True)
    assert (scale > 0).all()
    err = np.abs(actual - expected)
    np.testing.assert_array_less(err, np.broadcast_to(rtol * scale + 1e-12, err.shape))


def count_calls(model):
    calls = []
    handle = model.register_forward_pre_hook(lambda *a: calls.append(1))
    return calls, handle


# -------------------------------------------------------------------- tests
def test_input_x_gradient_matches_hand_loop(lm, state_check):
    model, tok = lm
    with state_check(model):
        a = explain_generation(model, tok, PROMPT, max_new_tokens=5)
    P = a.params["prompt_length"]
    G, S = 5, P + 5
    assert a.values.shape == (1, G, S) and a.values.dtype == np.float64
    assert a.data.shape == (1, S) and a.data.dtype == np.int64
    assert a.target.shape == (1, G) and a.target.dtype == np.int64
    assert a.outputs.shape == (1, G) and a.delta is None and a.base_values is None
    np.testing.assert_array_equal(a.data[0, :P], tok(PROMPT)["input_ids"])
    np.testing.assert_array_equal(a.target[0], a.data[0, P:])
    ref = hand_ixg(model, a.data[0], P)
    assert_rows_close(a.values[0], ref)
    with torch.no_grad():
        want = [float(_prefix_scores(model, model.get_input_embeddings()(torch.as_tensor(a.data[:, : P + g])), int(a.target[0, g])))
                for g in range(G)]
    np.testing.assert_allclose(a.outputs[0], want, rtol=1e-5)
    assert np.abs(a.values[0, :, :P]).sum() > 0


def test_vectorised_backward_equals_plain_backwards(llama, monkeypatch):
    model, tok = llama
    one = explain_generation(model, tok, PROMPT, max_new_tokens=5, batch_size=1)  # a backward per token
    vec = explain_generation(model, tok, PROMPT, max_new_tokens=5, batch_size=2)  # 2 tokens per backward
    assert_rows_close(vec.values[0], one.values[0], rtol=1e-6)
    ig1 = explain_generation(model, tok, PROMPT, max_new_tokens=3, method="integrated_gradients", steps=4, batch_size=4)
    ig3 = explain_generation(model, tok, PROMPT, max_new_tokens=3, method="integrated_gradients", steps=4, batch_size=12)
    assert_rows_close(ig3.values[0], ig1.values[0], rtol=1e-6)
    grad = torch.autograd.grad
    seen = []

    def no_vmap(*args, **kwargs):  # a model whose backward has no batching rule
        if kwargs.get("is_grads_batched"):
            seen.append(1)
            raise RuntimeError("Batching rule not implemented")
        return grad(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", no_vmap)
    fallback = explain_generation(model, tok, PROMPT, max_new_tokens=5)
    assert seen and np.array_equal(fallback.values, one.values)


def test_greedy_equals_model_generate(lm):
    model, tok = lm
    a = explain_generation(model, tok, PROMPT, max_new_tokens=6, method="attention")
    P = a.params["prompt_length"]
    ref = model.generate(torch.as_tensor(a.data[:, :P]), do_sample=False, max_new_tokens=6,
                         pad_token_id=tok.eos_token_id)
    assert a.params["generated_ids"] == ref[0, P:].tolist()
    assert not a.params["stopped_at_eos"]


def test_contract_fields_and_causal_zeros(lm):
    model, tok = lm
    for method in GENERATION_METHODS:
        a = explain_generation(model, tok, PROMPT, max_new_tokens=4, method=method, steps=4)
        P, G = a.params["prompt_length"], 4
        S = P + G
        assert a.method == method and a.values.shape == (1, G, S)
        upper = np.arange(S)[None, :] >= P + np.arange(G)[:, None]
        assert (a.values[0][upper] == 0).all(), method
        assert np.isfinite(a.values).all()
        assert len(a.feature_names) == S and len(a.params["special"]) == S
        assert a.params["generated"] == a.feature_names[P:]
        assert "".join(a.feature_names) == tok.decode(a.data[0].tolist(), skip_special_tokens=False)
        assert a.params["generated_ids"] == a.target[0].tolist()
        for key in ("contrast", "contrast_ids", "continuation"):
            assert a.params[key] is None
    assert a.feature_names[P - 1] == " is"  # the leading space is kept


def test_special_flags(llama):
    model, tok = llama
    a = explain_generation(model, tok, PROMPT, max_new_tokens=1)
    assert a.params["special"][:2] == [True, False] and a.feature_names[0] == "<s>"


def _base_embeddings(model, tok, a, ids, baseline):
    """The baseline embeddings built by hand: zeros, or the unk token's at every non-special position."""
    emb = model.get_input_embeddings()(ids[None]).detach()
    if baseline == "zeros":
        return emb, torch.zeros_like(emb)
    special = torch.as_tensor(a.params["special"][: len(ids)])
    base_ids = torch.where(special, ids, torch.full_like(ids, tok.unk_token_id))
    assert (base_ids != ids).any()
    return emb, model.get_input_embeddings()(base_ids[None]).detach()


@pytest.mark.parametrize("baseline", ["zeros", "unk"])
def test_integrated_gradients_equals_hand_built(llama, state_check, baseline):
    model, tok = llama
    with state_check(model):
        a = explain_generation(model, tok, PROMPT, max_new_tokens=3, method="integrated_gradients", steps=7,
                               batch_size=3, baseline=baseline)
    assert a.params["steps"] == 7 and a.params["chunks"] == 3 and a.params["batch_size"] == 3
    assert a.params["baseline"] == ("zeros" if baseline == "zeros" else tok.unk_token_id)
    P = a.params["prompt_length"]
    g = 2
    ids = torch.as_tensor(a.data[0, : P + g])
    emb, base_emb = _base_embeddings(model, tok, a, ids, baseline)
    assert_rows_close(a.values[0, g, : P + g], hand_ig(model, emb, base_emb, int(a.target[0, g]), 7))
    if baseline == "unk":  # special tokens (the bos here) keep their embedding: no share
        special = np.asarray(a.params["special"])
        assert special[:P].any() and (a.values[0][:, special] == 0).all()
    with torch.no_grad():
        base = float(_prefix_scores(model, base_emb, int(a.target[0, g])))
    np.testing.assert_allclose(a.base_values[0, g], base, rtol=1e-5)
    np.testing.assert_allclose(a.delta[0], a.values[0].sum(-1) - (a.outputs[0] - a.base_values[0]), atol=1e-12)
    ixg = explain_generation(model, tok, PROMPT, max_new_tokens=3)
    np.testing.assert_allclose(a.outputs, ixg.outputs, rtol=1e-5)


def test_integrated_gradients_completeness(gpt2):
    model, tok = gpt2
    a = explain_generation(model, tok, PROMPT, max_new_tokens=4, method="integrated_gradients", steps=32)
    gap = np.abs(a.outputs - a.base_values)
    assert (gap > 0.1).all()
    assert np.abs(a.delta).max() < 1e-3 * gap.max()
    one = explain_generation(model, tok, PROMPT, max_new_tokens=4, method="integrated_gradients", steps=1)
    assert np.abs(one.delta).max() > 100 * np.abs(a.delta).max()  # the check can tell a crude rule


def test_integrated_gradients_completeness_llama_token_baseline(llama):
    """RMSNorm first: from zero embeddings the score jumps next to the baseline and few points miss it;
    from the unk token's embedding the path stays away from zero and the quadrature converges."""
    model, tok = llama
    res = {}
    for baseline in ("unk", "zeros"):
        a = explain_generation(model, tok, PROMPT, max_new_tokens=3, method="integrated_gradients", steps=32,
                               baseline=baseline)
        res[baseline] = np.abs(a.delta).max() / np.abs(a.outputs - a.base_values).max()
    assert res["unk"] < 1e-3
    assert res["zeros"] > 10 * res["unk"]


def test_forced_continuation_equals_generation(lm):
    model, tok = lm
    prompt = "I like to visit"  # greedy text here re-encodes to the same ids for both tiny models
    gen = explain_generation(model, tok, prompt, max_new_tokens=4)
    text = "".join(gen.params["generated"])
    assert tok(text, add_special_tokens=False)["input_ids"] == gen.params["generated_ids"], text
    forced = explain_generation(model, tok, prompt, continuation=text, max_new_tokens=1)
    assert forced.params["continuation"] == text and not forced.params["stopped_at_eos"]
    np.testing.assert_array_equal(forced.data, gen.data)
    np.testing.assert_array_equal(forced.values, gen.values)
    np.testing.assert_array_equal(forced.outputs, gen.outputs)


def test_forced_continuation_is_not_generated(llama):
    model, tok = llama
    a = explain_generation(model, tok, PROMPT, continuation=" Paris .")
    assert a.params["generated"] == [" Paris", " ."]
    assert_rows_close(a.values[0], hand_ixg(model, a.data[0], a.params["prompt_length"]))


def test_contrast_is_the_difference_of_two_attributions(lm):
    model, tok = lm
    plain = explain_generation(model, tok, PROMPT, max_new_tokens=3)
    con = explain_generation(model, tok, PROMPT, max_new_tokens=3, contrast=" Lyon")
    lyon = tok(" Lyon", add_special_tokens=False)["input_ids"]
    assert con.params["contrast"] == " Lyon" and con.params["contrast_ids"] == lyon
    assert con.params["compared_ids"] == lyon * 3
    P = plain.params["prompt_length"]
    other = hand_ixg(model, plain.data[0], P, targets=lyon * 3)
    assert_rows_close(con.values[0], plain.values[0] - other)
    np.testing.assert_array_equal(con.data, plain.data)
    with torch.no_grad():
        lp = [float(_prefix_scores(model, model.get_input_embeddings()(torch.as_tensor(plain.data[:, : P + g])), lyon[0]))
              for g in range(3)]
    np.testing.assert_allclose(con.outputs[0], plain.outputs[0] - lp, rtol=1e-5, atol=1e-6)


def test_contrast_of_several_tokens_is_position_wise(llama):
    model, tok = llama
    a = explain_generation(model, tok, PROMPT, continuation=" Paris .", contrast=" Lyon !")
    P = a.params["prompt_length"]
    c = tok(" Lyon !", add_special_tokens=False)["input_ids"]
    assert a.params["compared_ids"] == c
    ref = hand_ixg(model, a.data[0], P, contrast=c)
    assert_rows_close(a.values[0], ref)
    g = explain_generation(model, tok, PROMPT, max_new_tokens=2, contrast=" Lyon !")
    assert g.params["compared_ids"] == c


@pytest.mark.parametrize("baseline", ["zeros", "unk"])
def test_occlusion_matches_brute_force(lm, baseline):
    model, tok = lm
    if baseline == "unk" and tok.unk_token_id is None and tok.pad_token_id is None:
        pytest.skip("this tokenizer has no unk/pad token")
    a = explain_generation(model, tok, PROMPT, max_new_tokens=3, method="occlusion", batch_size=4, baseline=baseline)
    P = a.params["prompt_length"]
    ids = torch.as_tensor(a.data[0])
    ref = np.zeros_like(a.values[0])
    with torch.no_grad():
        for g in range(3):
            e, b = _base_embeddings(model, tok, a, ids[: P + g], baseline) if baseline == "zeros" or \
                tok.unk_token_id is not None else (None, None)
            if e is None:  # pad token as the baseline
                e = model.get_input_embeddings()(ids[None, : P + g])
                special = torch.as_tensor(a.params["special"][: P + g])
                b = model.get_input_embeddings()(torch.where(special, ids[: P + g], tok.pad_token_id)[None])
            t = int(ids[P + g])
            full = float(_prefix_scores(model, e, t))
            for s in range(P + g):
                x = e.clone()
                x[0, s] = b[0, s]
                ref[g, s] = full - float(_prefix_scores(model, x, t))
    np.testing.assert_allclose(a.values[0], ref, atol=2e-5 * np.abs(ref).max())
    assert a.params["chunks"] == -(-(P + 2) // 4)
    assert a.params["baseline"] == ("zeros" if baseline == "zeros" else (
        tok.unk_token_id if tok.unk_token_id is not None else tok.pad_token_id))


def test_prompt_sources(llama):
    """sources="prompt": generated tokens are never occluded nor moved; IG interpolates the prompt only."""
    model, tok = llama
    kw = dict(continuation=" Paris . Lyon")
    occ_all = explain_generation(model, tok, PROMPT, method="occlusion", **kw)
    occ = explain_generation(model, tok, PROMPT, method="occlusion", sources="prompt", **kw)
    P = occ.params["prompt_length"]
    assert occ.params["sources"] == "prompt" and occ_all.params["sources"] == "all"
    np.testing.assert_array_equal(occ.values[0, :, :P], occ_all.values[0, :, :P])
    assert (occ.values[0, :, P:] == 0).all() and np.abs(occ_all.values[0, 1:, P:]).max() > 0
    ig = explain_generation(model, tok, PROMPT, method="integrated_gradients", steps=7, sources="prompt", **kw)
    g = 2
    ids = torch.as_tensor(ig.data[0, : P + g])
    emb = model.get_input_embeddings()(ids[None]).detach()
    special = torch.as_tensor(ig.params["special"][: P + g])
    keep = special.clone()
    keep[P:] = True  # the generated context keeps its own tokens
    base = model.get_input_embeddings()(torch.where(keep, ids, tok.unk_token_id)[None]).detach()
    assert_rows_close(ig.values[0, g, : P + g], hand_ig(model, emb, base, int(ig.target[0, g]), 7))
    assert (ig.values[0, :, P:] == 0).all()
    with torch.no_grad():
        np.testing.assert_allclose(ig.base_values[0, g], float(_prefix_scores(model, base, int(ig.target[0, g]))),
                                   rtol=1e-5)


def _eager_twin(model, tok, kind):
    twin = (tiny_llama if kind == "llama" else tiny_gpt2)(tok, attn_implementation="eager")
    twin.load_state_dict(model.state_dict())
    return twin


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_attention_matches_eager_weights(kind, request, state_check):
    model, tok = request.getfixturevalue(kind)
    assert model.config._attn_implementation == "sdpa"
    with state_check(model):
        att = explain_generation(model, tok, PROMPT, max_new_tokens=3, method="attention")
        roll = explain_generation(model, tok, PROMPT, max_new_tokens=3, method="attention_rollout")
    P, S = att.params["prompt_length"], att.values.shape[-1]
    twin = _eager_twin(model, tok, kind)
    with torch.no_grad():
        maps = twin(torch.as_tensor(att.data[:, : S - 1]), output_attentions=True).attentions
    w = torch.stack(maps)[:, 0].double().numpy()  # (L, H, Q, K)
    ref = np.zeros((3, S))
    ref[:, : S - 1] = w[-1].mean(0)[P - 1 :]
    np.testing.assert_allclose(att.values[0], ref, atol=1e-5)
    np.testing.assert_allclose(att.values[0].sum(-1), 1.0, atol=1e-5)
    r = None
    for layer in w.mean(1):  # heads averaged, half residual, rows renormalised, multiplied through the layers
        m = 0.5 * layer + 0.5 * np.eye(S - 1)
        m /= m.sum(-1, keepdims=True)
        r = m if r is None else m @ r
    ref[:, : S - 1] = r[P - 1 :]
    np.testing.assert_allclose(roll.values[0], ref, atol=1e-5)
    assert roll.params["layer"] == "rollout" and att.params["head_fusion"] == "mean"


def test_chat_prompt(llama, gpt2):
    model, tok = llama
    msgs = [{"role": "user", "content": "what is the capital of France ?"}]
    a = explain_generation(model, tok, msgs, max_new_tokens=2)
    text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    want = tok(text, add_special_tokens=False)["input_ids"]
    P = a.params["prompt_length"]
    assert a.data[0, :P].tolist() == want and P == len(want)
    assert a.feature_names[0] == "<|im_start|>" and a.params["special"][0]
    assert a.feature_names[P - 3 : P] == ["<|im_start|>", "assistant", "\n"]
    assert a.params["special"][P - 3] and not a.params["special"][P - 2]
    assert_rows_close(a.values[0], hand_ixg(model, a.data[0], P))
    model2, tok2 = gpt2
    calls, handle = count_calls(model2)
    try:
        with pytest.raises(ValueError, match="no chat_template"):
            explain_generation(model2, tok2, msgs)
    finally:
        handle.remove()
    assert not calls


def test_stops_at_eos(llama):
    model, tok = llama
    first = explain_generation(model, tok, PROMPT, max_new_tokens=4, method="attention")
    stop = first.params["generated_ids"][1]
    assert stop not in first.params["generated_ids"][:1]
    old = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = [old, stop]
    try:
        a = explain_generation(model, tok, PROMPT, max_new_tokens=4, method="attention")
        with pytest.raises(ValueError, match="contrast has 3 tokens"):
            explain_generation(model, tok, PROMPT, max_new_tokens=3, contrast=" Lyon Paris Rome")
    finally:
        model.generation_config.eos_token_id = old
    assert a.params["stopped_at_eos"] and a.params["generated_ids"] == first.params["generated_ids"][:2]


BAD = [
    (dict(prompt=""), ValueError, "empty string"),
    (dict(prompt=[]), ValueError, "empty list"),
    (dict(prompt=[{"role": "user"}]), TypeError, "role"),
    (dict(prompt=3), TypeError, "prompt must be"),
    (dict(max_new_tokens=0), ValueError, "max_new_tokens must be >= 1"),
    (dict(max_new_tokens=2.5), TypeError, "max_new_tokens"),
    (dict(max_new_tokens=True), TypeError, "max_new_tokens"),
    (dict(method="saliency"), ValueError, "method must be one of"),
    (dict(steps=0), ValueError, "steps must be >= 1"),
    (dict(steps="16"), TypeError, "steps"),
    (dict(batch_size=0), ValueError, "batch_size must be >= 1"),
    (dict(continuation=""), ValueError, "continuation is an empty string"),
    (dict(continuation=5), TypeError, "continuation must be a string"),
    (dict(contrast=""), ValueError, "contrast is an empty string"),
    (dict(contrast=" Lyon Paris"), ValueError, "pass max_new_tokens=2"),
    (dict(contrast=" Lyon Paris", continuation=" Paris . ."), ValueError, "contrast has 2 tokens but the continuation has 3"),
    (dict(max_new_tokens=200), ValueError, "more than the model's 128 positions"),
    (dict(baseline="mean"), ValueError, "baseline must be 'unk', 'zeros' or a token id"),
    (dict(baseline=1.5), TypeError, "baseline must be"),
    (dict(baseline=10**6), ValueError, "out of range"),
    (dict(sources="generated"), ValueError, "sources must be one of"),
    (dict(sources="prompt", method="attention"), ValueError, "sources='prompt' applies to the gradient"),
]


@pytest.mark.parametrize("kwargs, err, match", BAD, ids=[str(b[0]) for b in BAD])
def test_bad_input_before_any_model_call(llama, kwargs, err, match, state_check):
    model, tok = llama
    kw = dict(prompt=PROMPT, **{k: v for k, v in kwargs.items() if k != "prompt"}) if "prompt" not in kwargs else kwargs
    prompt = kw.pop("prompt")
    calls, handle = count_calls(model)
    try:
        with state_check(model), pytest.raises(err, match=match):
            explain_generation(model, tok, prompt, **kw)
    finally:
        handle.remove()
    assert not calls


def test_bad_model_and_tokenizer(llama):
    model, tok = llama
    with pytest.raises(TypeError, match="torch.nn.Module"):
        explain_generation("gpt2", tok, PROMPT)
    with pytest.raises(TypeError, match="Hugging Face tokenizer"):
        explain_generation(model, "gpt2", PROMPT)
    with pytest.raises(TypeError, match="input embedding"):
        explain_generation(torch.nn.Linear(2, 2), tok, PROMPT)


def test_model_left_as_found_train_mode_frozen_and_no_grad(state_check):
    tok = chat_tokenizer()
    model = tiny_llama(tok, seed=1)
    ref = explain_generation(model, tok, PROMPT, max_new_tokens=3, method="integrated_gradients", steps=4)
    model.train()
    model.model.layers[0].requires_grad_(False)
    with state_check(model):
        with torch.no_grad():
            a = explain_generation(model, tok, PROMPT, max_new_tokens=3, method="integrated_gradients", steps=4)
        with torch.inference_mode():
            b = explain_generation(model, tok, PROMPT, max_new_tokens=3)
    assert model.training and not any(p.requires_grad for p in model.model.layers[0].parameters())
    assert all(p.grad is None for p in model.parameters())
    np.testing.assert_array_equal(a.values, ref.values)
    assert b.values.shape == (1, 3, len(b.feature_names))


def test_bfloat16_model(llama):
    model, tok = llama
    ref = explain_generation(model, tok, PROMPT, continuation=" Paris is a city")
    half = tiny_llama(tok, dtype=torch.bfloat16)
    for method in ("input_x_gradient", "integrated_gradients", "occlusion", "attention"):
        a = explain_generation(half, tok, PROMPT, continuation=" Paris is a city", method=method, steps=4)
        assert a.values.dtype == np.float64 and np.isfinite(a.values).all()
    a = explain_generation(half, tok, PROMPT, continuation=" Paris is a city")
    mask = ref.values[0] != 0
    r = np.corrcoef(a.values[0][mask], ref.values[0][mask])[0, 1]
    assert r > 0.9, r
