"""TextHeatmap: tokens, validation, serialization."""
import numpy as np
import pytest
import torch

import xai_widgets as xw
from xai_widgets.widgets import TextHeatmap
from xai_widgets.widgets import _serialize as ser
from xai_widgets.widgets.text_heatmap import FLAG_CONTINUATION, FLAG_SPECIAL, token_layout

TOKS = ["[CLS]", "the", "cat", "purr", "##ing", "[SEP]"]


def test_repr_and_defaults():
    a = xw.Attribution.from_array(np.arange(12.0).reshape(2, 6) - 5, method="ig")
    w = TextHeatmap(TOKS, a)
    assert repr(w) == "TextHeatmap(method='ig', samples=2, tokens=6)"
    assert (w.sample, w.token, w.colormap, w.sign, w.clip_percentile) == (0, None, "coolwarm", "all", 100.0)


def test_values_round_trip_and_shapes():
    v = np.random.default_rng(0).normal(size=(2, 6))
    w = TextHeatmap(TOKS, v)
    got = np.frombuffer(w._values, "<f4").reshape(w._values_meta["shape"])
    assert got.shape == (2, 1, 6)  # (rows, methods, tokens)
    np.testing.assert_allclose(got[:, 0], v, rtol=1e-6)
    assert w._values_meta["samples"] == [0, 1]
    one = TextHeatmap(TOKS, torch.tensor(v[0]))
    assert one.n_samples == 1
    emb = np.random.default_rng(1).normal(size=(1, 6, 8))
    w3 = TextHeatmap(TOKS, emb)
    np.testing.assert_allclose(ser.decode(w3._values, w3._values_meta)[0, 0], emb.sum(-1)[0], rtol=1e-5)
    w3m = TextHeatmap(TOKS, emb, reduce="mean")
    np.testing.assert_allclose(ser.decode(w3m._values, w3m._values_meta)[0, 0], emb.mean(-1)[0], rtol=1e-5)


def test_xss_token_stays_a_plain_string():
    evil = "<img src=x onerror=alert(1)>"
    w = TextHeatmap(["a", evil, "b"], np.ones(3))
    assert w._tokens[0][1] == evil and w._display[0][1] == evil
    assert w._flags[0][1] == 0


def test_wordpiece_and_special_tokens():
    display, flags = token_layout(TOKS)
    assert display == ["[CLS]", "the", "cat", "purr", "ing", "[SEP]"]
    assert flags[4] == FLAG_CONTINUATION and flags[0] == FLAG_SPECIAL and flags[5] == FLAG_SPECIAL
    assert flags[1:4] == [0, 0, 0]
    d, f = token_layout(["<s>", "▁Hello", "▁wor", "ld", "</s>"])
    assert d == ["<s>", "Hello", "wor", "ld", "</s>"] and f == [FLAG_SPECIAL, 0, 0, FLAG_CONTINUATION, FLAG_SPECIAL]
    d, f = token_layout(["Hello", "Ġworld", "s", "<|endoftext|>"])
    assert d == ["Hello", "world", "s", "<|endoftext|>"] and f == [0, 0, FLAG_CONTINUATION, FLAG_SPECIAL]


def test_tokens_per_row_and_from_feature_names():
    rows = [["a", "b"], ["c", "d"]]
    w = TextHeatmap(rows, np.zeros((2, 2)))
    assert w._tokens == rows
    a = xw.Attribution.from_array(np.ones((1, 3)), feature_names=["x", "y", "z"])
    assert TextHeatmap(None, a)._tokens == [["x", "y", "z"]]
    assert isinstance(a.widget(), TextHeatmap)


@pytest.mark.parametrize(
    "tokens,values,exc,msg",
    [
        (["a", "b"], np.ones(3), ValueError, "tokens row 0 has 2 tokens but the attribution has 3"),
        ([["a"], ["b"], ["c"]], np.ones((2, 1)), ValueError, "tokens has 3 rows but the attribution has 2"),
        ("abc", np.ones(3), TypeError, "tokens must be a list of strings"),
        (["a", 1, "c"], np.ones(3), TypeError, "tokens must be strings"),
        (["a", "b"], np.array([1.0, np.nan]), ValueError, "NaN"),
        (["a"], np.ones((1, 1, 1, 1)), ValueError, r"expected \(N, T\), \(T,\) or \(N, T, D\)"),
        (None, np.ones(2), ValueError, "no feature_names"),
    ],
)
def test_input_validation(tokens, values, exc, msg):
    with pytest.raises(exc, match=msg):
        TextHeatmap(tokens, values)


def test_trait_validation():
    w = TextHeatmap(TOKS, np.ones((2, 6)))
    w.token = 5
    assert w.token == 5
    w.token = None
    with pytest.raises(ValueError, match=r"token must be None or in \[0, 5\]"):
        w.token = 6
    with pytest.raises(TypeError, match="token must be an integer"):
        w.token = "cat"
    with pytest.raises(ValueError, match="sample must be in"):
        w.sample = 2
    with pytest.raises(ValueError, match="unknown colormap"):
        w.colormap = "rainbow"
    with pytest.raises(ValueError, match="unknown sign"):
        w.sign = "neg"
    with pytest.raises(TypeError, match="unexpected keyword"):
        TextHeatmap(TOKS, np.ones(6), colour="red")
    with pytest.raises(ValueError, match="token must be None or in"):
        TextHeatmap(TOKS, np.ones(6), token=10)


def test_only_current_row_sent_when_large():
    v = np.random.default_rng(0).normal(size=(5, 6))
    w = TextHeatmap(TOKS, v, max_bytes=50)
    assert w._values_meta["samples"] == [0] and len(w._tokens) == 1
    w.sample = 3
    assert w._values_meta["samples"] == [3]
    np.testing.assert_allclose(ser.decode(w._values, w._values_meta)[0, 0], v[3], rtol=1e-6)


# ------------------------------------------------------------ several methods
def _two_methods(n=2, t=6, seed=0):
    rng = np.random.default_rng(seed)
    names = ["negative", "positive"]
    ig = xw.Attribution.from_array(rng.normal(size=(n, t)), method="integrated_gradients", target=[1] * n,
                                   outputs=np.linspace(0.93, 0.5, n), output_names=names)
    sg = xw.Attribution.from_array(rng.normal(size=(n, t)) * 10, method="smoothgrad", target=[1] * n,
                                   outputs=np.linspace(0.93, 0.5, n), output_names=names)
    return ig, sg


def test_several_methods_one_row_each():
    ig, sg = _two_methods()
    w = TextHeatmap(TOKS, {"IG": ig, "SG": sg})
    assert w.methods == ["IG", "SG"] and w.method == ""
    assert repr(w) == "TextHeatmap(methods=['IG', 'SG'], samples=2, tokens=6)"
    got = ser.decode(w._values, w._values_meta)
    assert got.shape == (2, 2, 6) and w._values_meta["methods"] == 2
    np.testing.assert_allclose(got[:, 0], ig.values, rtol=1e-6)
    np.testing.assert_allclose(got[:, 1], sg.values, rtol=1e-6)
    vals = w.values
    assert set(vals) == {"IG", "SG"}
    np.testing.assert_allclose(vals["SG"], sg.values, rtol=1e-6)
    w.token = 3
    at = w.values_at()
    assert at == pytest.approx({"IG": ig.values[0, 3], "SG": sg.values[0, 3]}, rel=1e-6)
    assert w.values_at(token=2, sample=1) == pytest.approx({"IG": ig.values[1, 2], "SG": sg.values[1, 2]}, rel=1e-6)
    assert w.shared_scale is False
    w.shared_scale = True
    with pytest.raises(TypeError, match="shared_scale must be True or False"):
        w.shared_scale = 1
    # a single attribution keeps its method name and the (N, T) values
    one = TextHeatmap(TOKS, ig)
    assert one.methods == ["integrated_gradients"] and one.method == "integrated_gradients"
    assert isinstance(one.values, np.ndarray) and one.values.shape == (2, 6)


def test_class_names_in_sample_labels_and_captions():
    ig, sg = _two_methods(n=2)
    w = TextHeatmap(TOKS, {"IG": ig, "SG": sg})
    assert w._sample_labels == ["0 · positive 0.93", "1 · positive 0.50"]
    assert w._captions == [["positive 0.93", "positive 0.93"], ["positive 0.50", "positive 0.50"]]
    # methods explaining different classes: the label names none, the captions each
    other = xw.Attribution.from_array(sg.values, target=[0, 0], output_names=["negative", "positive"])
    w2 = TextHeatmap(TOKS, {"IG": ig, "other": other})
    assert w2._sample_labels == ["0", "1"]
    assert w2._captions[0] == ["positive 0.93", "negative"]
    # no class names: the index
    w3 = TextHeatmap(TOKS, xw.Attribution.from_array(np.ones((2, 6)), target=[2, 3]))
    assert w3._sample_labels == ["0 · target 2", "1 · target 3"]
    assert TextHeatmap(TOKS, np.ones((2, 6)))._sample_labels == ["0", "1"]


@pytest.mark.parametrize(
    "attrs,msg",
    [
        ({"IG": np.ones((2, 6)), "SG": np.ones((2, 5))}, r"attribution 'SG' has 5 values per row but 'IG' has 6"),
        ({"IG": np.ones((2, 6)), "SG": np.ones((3, 6))}, r"attribution 'SG' has 3 rows but 'IG' has 2"),
        ({}, "empty dict"),
        ({"IG": np.ones((2, 6)), "SG": np.array([[np.inf] * 6] * 2)}, r"attribution 'SG' values contains 12 NaN/inf"),
    ],
)
def test_several_methods_validation(attrs, msg):
    with pytest.raises(ValueError, match=msg):
        TextHeatmap(TOKS, attrs)


def test_method_names_and_lists():
    with pytest.raises(TypeError, match="method names must be strings"):
        TextHeatmap(TOKS, {1: np.ones(6)})
    with pytest.raises(TypeError, match=r"pass a dict \{name: Attribution\}"):
        TextHeatmap(TOKS, [xw.Attribution.from_array(np.ones((1, 6))), xw.Attribution.from_array(np.ones((1, 6)))])
    all_out = xw.Attribution.from_array(np.ones((2, 3, 6)), params={"target": "all"})
    with pytest.raises(ValueError, match="explains every output"):
        TextHeatmap(TOKS, all_out)


def test_options_are_checked_before_any_array_work(monkeypatch):
    from xai_widgets.widgets import text_heatmap as th

    def boom(*a, **k):
        raise AssertionError("array work before the option check")

    monkeypatch.setattr(th, "_token_values", boom)
    with pytest.raises(ValueError, match="unknown colormap"):
        TextHeatmap(TOKS, np.ones(6), colormap="rainbow")
    with pytest.raises(TypeError, match="shared_scale must be True or False"):
        TextHeatmap(TOKS, np.ones(6), shared_scale="yes")
    with pytest.raises(ValueError, match="clip_percentile must be in"):
        TextHeatmap(TOKS, np.ones(6), clip_percentile=0)


# ------------------------------------------------------------------- padding
PADDED = [["[CLS]", "a", "b", "c", "[SEP]", "[PAD]"], ["[CLS]", "x", "[SEP]", "[PAD]", "[PAD]", "[PAD]"]]
MASK = np.array([[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0]])


def test_mask_trims_padding_and_keeps_positions():
    v = np.arange(12.0).reshape(2, 6)
    w = TextHeatmap(PADDED, v, mask=torch.tensor(MASK))
    np.testing.assert_array_equal(w.mask, MASK.astype(bool))
    flags = np.array(w._flags)
    from xai_widgets.widgets.text_heatmap import FLAG_PADDING

    np.testing.assert_array_equal((flags & FLAG_PADDING) != 0, MASK == 0)
    # the pad tokens are still special tokens underneath
    assert flags[1, 3] & FLAG_SPECIAL
    # positions stay the original ones
    w.sample = 1
    w.token = 2
    assert w.values_at() == {"": 8.0}
    with pytest.raises(ValueError, match=r"token 4 is padding in sample 1 .* shown positions \(0\.\.2\)"):
        w.token = 4
    w.sample = 0
    w.token = 4  # real in row 0
    w.sample = 1  # ... padding in row 1: unpinned
    assert w.token is None
    with pytest.raises(ValueError, match="token 5 is padding in sample 0"):
        TextHeatmap(PADDED, v, mask=MASK, token=5)


def test_mask_from_recorded_forward_kwargs():
    a = xw.Attribution.from_array(np.ones((2, 6)), params={"forward_kwargs": {"attention_mask": torch.tensor(MASK)}})
    w = TextHeatmap(PADDED, {"IG": a, "raw": np.zeros((2, 6))})
    np.testing.assert_array_equal(w.mask, MASK.astype(bool))
    b = xw.Attribution.from_array(np.ones((2, 6)), params={"attention_mask": MASK})
    np.testing.assert_array_equal(TextHeatmap(PADDED, b).mask, MASK.astype(bool))
    # an explicit mask wins
    np.testing.assert_array_equal(TextHeatmap(PADDED, b, mask=np.ones((2, 6))).mask, np.ones((2, 6), bool))
    c = xw.Attribution.from_array(np.ones((2, 6)), params={"attention_mask": np.ones((2, 6))})
    with pytest.raises(ValueError, match="recorded different attention masks; pass mask="):
        TextHeatmap(PADDED, {"b": b, "c": c})


@pytest.mark.parametrize(
    "mask,exc,msg",
    [
        (np.ones((2, 5)), ValueError, r"mask of shape \(2, 5\): expected \(N, T\) = \(2, 6\)"),
        (np.ones(6), ValueError, r"mask of shape \(6,\): expected \(N, T\) = \(2, 6\)"),
        (np.array([[1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0]]), ValueError, "mask row 1 is all zeros"),
        (np.full((2, 6), 0.5), ValueError, "mask must hold only 0 and 1"),
        ([["a"] * 6] * 2, TypeError, "mask must be a numeric array"),
    ],
)
def test_mask_validation(mask, exc, msg):
    with pytest.raises(exc, match=msg):
        TextHeatmap(PADDED, np.ones((2, 6)), mask=mask)


def test_one_row_mask_may_be_1d():
    w = TextHeatmap(PADDED[0], np.ones(6), mask=[1, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(w.mask, [[True] * 5 + [False]])


def test_close_releases_arrays():
    ig, sg = _two_methods()
    w = TextHeatmap(TOKS, {"IG": ig, "SG": sg}, mask=np.ones((2, 6)))
    w.close()
    assert w._vals is None and w._mask is None and w._attributions is None
    assert w._values == b""


# ------------------------------------------------------------ static picture
def _png_pixels(png: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3).astype(int)


def _expected_token_colour(v: float, vmax: float, cmap: str = "coolwarm") -> np.ndarray:
    """Diverging map, sign 'all': colormap at 0.5 + v / (2 vmax), blended over white at |v| / vmax."""
    from matplotlib import colormaps

    x = float(np.clip(v / vmax, -1, 1))
    c = np.array(colormaps[cmap](0.5 + x / 2)[:3]) * 255
    a = abs(x)
    return np.round(c * a + 255 * (1 - a))


def test_static_png_has_the_token_colours(monkeypatch):
    monkeypatch.setenv("XAI_WIDGETS_STATIC", "1")
    toks = ["[CLS]", "good", "bad", "fine", "ok", "$x$", "[SEP]", "[PAD]"]
    ig = np.array([[0.1, 2.0, -2.0, 1.0, -0.5, 0.0, 0.3, 50.0]])  # the padding's 50 must not set the scale
    sg = np.array([[0.0, -4.0, 1.0, 4.0, 0.0, 2.0, 0.0, 0.0]])
    w = TextHeatmap(toks, {"IG": ig, "SG": sg}, mask=[[1] * 7 + [0]])
    data, meta = w._repr_mimebundle_()
    import base64

    png = base64.b64decode(data["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    px = _png_pixels(png)
    # each method on its own scale: IG's vmax is 2 (not 50), SG's is 4
    for v, vmax in [(2.0, 2.0), (-2.0, 2.0), (1.0, 2.0), (-4.0, 4.0), (1.0, 4.0), (2.0, 4.0)]:
        want = _expected_token_colour(v, vmax)
        d = np.abs(px - want).max(axis=1)
        assert (d <= 3).sum() > 200, f"no box of colour {want} (value {v}, scale {vmax}) in the PNG"
    # a colour no token of this widget has (IG at 1.5 / 2) is absent: the test can tell colours apart
    assert (np.abs(px - _expected_token_colour(1.5, 2.0)).max(axis=1) <= 1).sum() < 20
    assert meta["image/png"]["width"] == w._STATIC_WIDTH

    fig = w._static_figure()
    px = _png_pixels(w.to_png())
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "[PAD]" not in texts and "$x$" in texts and texts.count("good") == 2
    # shared scale: SG's 4 sets both rows, so IG's -0.5 is drawn at 1/8 strength instead of 1/4
    assert (np.abs(px - _expected_token_colour(-0.5, 2.0)).max(axis=1) <= 3).sum() > 200
    w.shared_scale = True
    px = _png_pixels(w.to_png())
    assert (np.abs(px - _expected_token_colour(-0.5, 4.0)).max(axis=1) <= 3).sum() > 200
    assert (np.abs(px - _expected_token_colour(-0.5, 2.0)).max(axis=1) <= 3).sum() < 20


def test_static_text_colours_follow_the_rule():
    from matplotlib.colors import to_rgb

    from xai_widgets.widgets.text_heatmap import _contrast

    w = TextHeatmap(TOKS, np.array([[0.0, 1.0, -1.0, 0.2, -0.05, 0.7]]))
    fig = w._static_figure()
    ax = fig.axes[0]
    (coll,) = ax.collections  # the token boxes
    boxes = [(p.get_extents(), fc) for p, fc in zip(coll.get_paths(), coll.get_facecolors())]
    assert len(boxes) == 6
    on_boxes = 0
    for t in ax.texts:
        x, y = t.get_position()
        under = [fc for b, fc in boxes if b.x0 <= x <= b.x1 and b.y0 <= y <= b.y1]
        on_boxes += bool(under)
        bg = np.array(to_rgb(under[0])) * 255 if under else np.array([255.0, 255, 255])
        ink = np.array(to_rgb(t.get_color())) * 255
        assert _contrast(ink, bg) >= 4.5, (t.get_text(), ink, bg)
    assert on_boxes == 6  # every token's text was checked against its own box
    # the special tokens are dimmed: not pure black on their (near-white) boxes
    cls = next(t for t in ax.texts if t.get_text() == "[CLS]")
    assert max(to_rgb(cls.get_color())) > 0.3


def test_token_style_contrast_on_light_and_dark_pages():
    from xai_widgets.widgets.text_heatmap import _contrast, token_style

    worst = np.inf
    for bg in [(255, 255, 255), (33, 33, 33)]:
        for cmap in ("coolwarm", "bwr", "viridis", "inferno", "gray", "Reds"):
            for sign in ("all", "positive", "negative", "absolute"):
                for v in np.linspace(-1.2, 1.2, 61):
                    for dim in (False, True):
                        back, ink, _ = token_style(float(v), sign, 1.0, cmap, bg, dim)
                        worst = min(worst, _contrast(ink, back))
    assert worst >= 4.5
    # WCAG reference: #777 on white is 4.48:1, black on white 21:1
    assert _contrast((119, 119, 119), (255, 255, 255)) == pytest.approx(4.48, abs=0.01)
    assert _contrast((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    # near-zero on the dark page: the page shows through and the text is white
    back, ink, a = token_style(0.01, "all", 1.0, "coolwarm", (33, 33, 33))
    assert max(back) < 40 and ink == (255, 255, 255) and a == pytest.approx(0.01)
