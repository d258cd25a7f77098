"""GenerationHeatmap: the payload against the attribution, scales against closed form, validation of the
explain_generation contract, traits, static picture, save_html, repr."""
from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot  # noqa: E402,F401
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import xai_widgets as xw  # noqa: E402
from xai_widgets._display import generation as gen  # noqa: E402
from xai_widgets.widgets import _serialize as ser  # noqa: E402
from xai_widgets.widgets.generation_heatmap import GenerationHeatmap  # noqa: E402

EVIL = '<img src=x onerror="alert(1)">'
PROMPT = ["<|im_start|>", "The", " capital", " of", " France", " is"]
GENERATED = [" Paris", ".", "\n"]


def make(values=None, *, prompt=PROMPT, generated=GENERATED, contrast=None, seed=0, **params):
    """A synthetic explain_generation result: (1, G, S), zero where s >= P + g (unless values are given)."""
    P, G = len(prompt), len(generated)
    S = P + G
    if values is None:
        rng = np.random.default_rng(seed)
        values = rng.normal(size=(1, G, S))
        values[0][~gen.context_mask(G, S, P)] = 0.0
    p = {"generated": list(generated), "prompt_length": P, "special": [t.startswith("<|") for t in prompt + generated],
         "generated_ids": list(range(100, 100 + G)), "contrast": contrast}
    p.update(params)
    return xw.Attribution(values=values, feature_names=list(prompt) + list(generated), target=np.arange(G)[None],
                          outputs=-np.linspace(0.1, 2.0, G)[None], method="input_x_gradient", params=p)


# -------------------------------------------------------------- payload
def test_state_carries_the_attribution():
    a = make(contrast=" Lyon")
    w = GenerationHeatmap(a)
    G, S, P = 3, 9, 6
    assert (w.n_generated, w.n_sources, w.prompt_length) == (G, S, P)
    assert w.token == 0  # None selects the first generated token
    assert w._values_meta["dtype"] == "float32" and w._values_meta["shape"] == [G, S]
    sent = ser.decode(w._values, w._values_meta)
    np.testing.assert_array_equal(sent, a.values[0].astype(np.float32))
    assert w._sources == PROMPT + GENERATED and w._generated == GENERATED
    assert w._special == [True] + [False] * 8
    np.testing.assert_allclose(w._log_probs, a.outputs[0])
    assert w.method == "input_x_gradient" and w.contrast == " Lyon"
    assert "Lyon" in w.title and "contrast" in w.title
    assert GenerationHeatmap(make()).contrast is None and "contrast" not in GenerationHeatmap(make()).title
    np.testing.assert_array_equal(w.values, a.values[0])
    assert w.sources == PROMPT + GENERATED and w.generated == GENERATED
    assert w.attribution is a


def test_positions_the_model_had_not_seen_are_blanked():
    a = make(values=np.ones((1, 3, 9)))  # a kernel that filled the future would still show nothing there
    w = GenerationHeatmap(a)
    expect = np.tril(np.ones((3, 9)), k=5)  # row g keeps s < 6 + g
    np.testing.assert_array_equal(w.values, expect)
    np.testing.assert_array_equal(ser.decode(w._values, w._values_meta), expect)
    np.testing.assert_array_equal(gen.context_mask(3, 9, 6), expect.astype(bool))


def test_scales_per_token_and_global_are_the_context_maxima():
    v = np.zeros((1, 3, 9))
    v[0, 0, :6] = [0.1, -4.0, 0.5, 0, 0, 1.0]
    v[0, 1, :7] = [0.0, 0.2, 0.3, 0.0, 0.0, 0.0, -0.25]
    w = GenerationHeatmap(make(values=v))  # row 2 is all zero: its scale falls back to 1
    np.testing.assert_allclose(w.scales, [4.0, 0.3, 1.0])
    w.normalize = "global"
    np.testing.assert_allclose(w.scales, [4.0, 4.0, 4.0])
    # a value after the token never sets a scale
    v2 = v.copy()
    v2[0, 1, 8] = 100.0
    np.testing.assert_allclose(gen.row_scales(v2[0], 6, "token"), [4.0, 0.3, 1.0])


def test_large_generations_travel_as_float16_within_its_precision():
    P, G = 2000, 600  # 600 x 2600 float32 = 6.2 MB > 4 MiB
    prompt = ["a"] * P
    generated = [" b"] * G
    rng = np.random.default_rng(1)
    v = rng.normal(size=(1, G, P + G))
    w = GenerationHeatmap(make(values=v, prompt=prompt, generated=generated, special=None))
    assert w._values_meta["dtype"] == "float16" and len(w._values) == 2 * G * (P + G)
    sent = ser.decode(w._values, w._values_meta)
    top = np.abs(w.values).max()
    assert np.abs(sent - w.values).max() <= top * 2**-11
    assert not any(w._special)


def test_special_defaults_to_the_special_token_pattern():
    a = make(special=None)
    assert GenerationHeatmap(a)._special == [True] + [False] * 8


def test_values_for_lists_the_context():
    a = make()
    w = GenerationHeatmap(a, token=2)
    got = w.values_for()
    assert len(got) == 8 and list(got)[0] == "0: <|im_start|>" and list(got)[-1] == "7: ."
    np.testing.assert_allclose(list(got.values()), a.values[0, 2, :8])
    assert len(w.values_for(0)) == 6
    with pytest.raises(ValueError, match="token must be in"):
        w.values_for(3)


# ----------------------------------------------------------- validation
def test_an_attribution_without_generated_tokens_is_refused():
    a = xw.Attribution.from_array(np.zeros((1, 5)), feature_names=list("abcde"))
    with pytest.raises(ValueError, match=r"params\['generated'\].*explain_generation"):
        GenerationHeatmap(a)
    with pytest.raises(TypeError, match="explain_generation"):
        GenerationHeatmap(np.zeros((1, 3, 9)))
    with pytest.raises(TypeError, match="tuple of 2 Attributions"):
        GenerationHeatmap((make(), make()))


@pytest.mark.parametrize("change, error, match", [
    (dict(values=np.zeros((1, 3, 8))), ValueError, r"S = 8 .*prompt_length 6 \+ 3"),
    (dict(values=np.zeros((2, 3, 9))), ValueError, r"\(1, G, S\)"),
    (dict(values=np.zeros((1, 3, 9, 2))), ValueError, r"\(1, G, S\)"),
    (dict(prompt_length=5), ValueError, "expected S = P \\+ G"),
    (dict(prompt_length=2.0), TypeError, "prompt_length'\\] must be an integer"),
    (dict(generated=[" Paris", "."]), ValueError, "params\\['generated'\\] has 2 entries"),
    (dict(generated=" Paris."), TypeError, "list of 3 strings"),
    (dict(special=[True, False]), ValueError, "special'\\] has 2 entries"),
    (dict(contrast=3), TypeError, "contrast'\\] must be a string"),
])
def test_shapes_that_disagree_are_refused(change, error, match):
    values = change.pop("values", None)
    a = make(values=values) if values is not None else make()
    a.params.update(change)
    with pytest.raises(error, match=match):
        GenerationHeatmap(a)


def test_bad_values_and_names_are_refused():
    v = make().values.copy()
    v[0, 1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GenerationHeatmap(make(values=v))
    a = make()
    a.feature_names = None
    with pytest.raises(ValueError, match="no feature_names"):
        GenerationHeatmap(a)
    a = make()
    a.feature_names = a.feature_names[:-1]
    with pytest.raises(ValueError, match="feature_names has 8 entries"):
        GenerationHeatmap(a)
    a = make()
    a.outputs = np.zeros((1, 2))
    with pytest.raises(ValueError, match="outputs hold 2 values"):
        GenerationHeatmap(a)


def test_traits_are_validated():
    a = make()
    for kw, error, match in [
        (dict(token=3), ValueError, r"token must be in \[0, 2\] \(3 generated tokens\)"),
        (dict(token=-1), ValueError, "token must be in"),
        (dict(token=1.0), TypeError, "token must be an integer"),
        (dict(normalize="row"), ValueError, "unknown normalize 'row'"),
        (dict(view="grid"), ValueError, "unknown view 'grid'"),
        (dict(colormap="jet"), ValueError, "unknown colormap 'jet'"),
        (dict(sign="all"), TypeError, "unexpected keyword argument"),
    ]:
        with pytest.raises(error, match=match):
            GenerationHeatmap(a, **kw)
    w = GenerationHeatmap(a, token=np.int64(2), normalize="global", view="matrix", colormap="RdBu_r")
    assert (w.token, w.normalize, w.view, w.colormap) == (2, "global", "matrix", "RdBu_r")
    with pytest.raises(ValueError, match="token must be in"):
        w.token = 3
    with pytest.raises(TypeError):
        w.token = None
    with pytest.raises(ValueError):
        w.view = "both"
    assert w.token == 2 and w.view == "matrix"


# ------------------------------------------------------- colours, picture
def test_source_colours_follow_the_token_rule():
    page = (255, 255, 255)
    c = gen.source_colours(np.array([0.0, 1.0, -1.0, 0.5]), 1.0, "coolwarm", page)
    assert c[0].tolist() == [255, 255, 255]  # zero shows the page
    assert c[1].tolist() == [180, 4, 38] and c[2].tolist() == [59, 76, 192]  # matplotlib's coolwarm ends
    assert c[3][0] > c[3][2]  # positive is red
    dark = gen.source_colours(np.array([0.0]), 1.0, "coolwarm", (33, 33, 33))
    assert dark[0].tolist() == [33, 33, 33]
    np.testing.assert_array_equal(gen.readable_text(np.array([[255, 255, 255], [0, 0, 0], [59, 76, 192]])),
                                  [[0, 0, 0], [255, 255, 255], [255, 255, 255]])
    assert gen.display_token(" a\nb\r\n") == (" a↵b↵", True) and gen.display_token(" a") == (" a", False)


def _png(w) -> np.ndarray:
    data, meta = w._repr_mimebundle_()
    png = base64.b64decode(data["image/png"])
    assert meta["image/png"]["width"] > 300
    return matplotlib.pyplot.imread(io.BytesIO(png), format="png")


def test_static_picture_in_the_output_bundle_for_both_views():
    a = make(contrast=" Lyon")
    text = _png(GenerationHeatmap(a, token=1))
    matrix = _png(GenerationHeatmap(a, token=1, view="matrix"))
    for img in (text, matrix):
        assert img.shape[0] > 100 and img.shape[1] > 600
        assert len(np.unique(img.reshape(-1, img.shape[-1])[:, :3], axis=0)) > 30
    assert text.shape != matrix.shape
    # the selected token matters: another token, another picture
    other = _png(GenerationHeatmap(a, token=2))
    assert other.shape != text.shape or np.abs(other - text).max() > 0.1
    # the strongest negative context token of token 1 is drawn in coolwarm's blue end
    v = a.values[0, 1, :7]
    assert v.min() == -np.abs(v).max()
    blue = np.array([59, 76, 192]) / 255
    rgb = text[..., :3]
    assert (np.abs(rgb - blue).max(-1) < 0.02).sum() > 50


def test_save_html_embeds_the_view(tmp_path):
    a = make(prompt=["<|im_start|>", EVIL, " is"])
    w = GenerationHeatmap(a)
    path = w.save_html(tmp_path / "gen.html")
    text = path.read_text(encoding="utf-8")
    assert '"bundle":"generation_heatmap"' in text
    assert EVIL not in text and "\\u003cimg src=x onerror" in text
    assert "generation_heatmap" in (tmp_path / "gen.html").read_text(encoding="utf-8")


def test_repr_is_deterministic_and_close_releases():
    a = make()
    reprs = {repr(GenerationHeatmap(a)) for _ in range(3)}
    assert reprs == {"GenerationHeatmap(method='input_x_gradient', prompt_tokens=6, generated=3, view='text')"}
    w = GenerationHeatmap(a, view="matrix")
    assert "view='matrix'" in repr(w)
    w.close()
    assert w._values == b"" and w._data is None
    with pytest.raises(ValueError, match="closed"):
        w.to_png()


# ------------------------------------------------- the real producer
def test_takes_what_explain_generation_returns():
    """The contract end to end: explain_generation on a tiny random Llama with a chat template, and GPT-2."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "explain"))
    from _tiny_lm import chat_tokenizer, plain_tokenizer, tiny_gpt2, tiny_llama

    from xai_widgets.explain.generation import explain_generation

    tok = chat_tokenizer()
    cases = [(tiny_llama(tok), tok, dict(method="input_x_gradient")),
             (tiny_llama(tok), tok, dict(method="attention", contrast=" Lyon")),
             (tiny_gpt2(plain_tokenizer()), plain_tokenizer(), dict(method="occlusion"))]
    for model, tk, kw in cases:
        a = explain_generation(model, tk, "The capital of France is", max_new_tokens=4, **kw)
        w = GenerationHeatmap(a, token=3)
        P = a.params["prompt_length"]
        assert (w.n_generated, w.n_sources, w.prompt_length) == (4, P + 4, P)
        np.testing.assert_allclose(w.values, a.values[0], rtol=0, atol=0)  # already zero after each token
        assert w.sources == list(a.feature_names) and w.generated == list(a.params["generated"])
        assert w._special == [bool(x) for x in a.params["special"]]
        assert w.contrast == kw.get("contrast") and (("Lyon" in w.title) == ("contrast" in kw))
        np.testing.assert_allclose(w._log_probs, a.outputs[0])
        assert w.to_png()[:4] == b"\x89PNG"
