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
    np.testing.assert_allclose(got, v, rtol=1e-6)
    assert w._values_meta["samples"] == [0, 1]
    one = TextHeatmap(TOKS, torch.tensor(v[0]))
    assert one.n_samples == 1
    emb = np.random.default_rng(1).normal(size=(1, 6, 8))
    w3 = TextHeatmap(TOKS, emb)
    np.testing.assert_allclose(ser.decode(w3._values, w3._values_meta)[0], emb.sum(-1)[0], rtol=1e-5)
    w3m = TextHeatmap(TOKS, emb, reduce="mean")
    np.testing.assert_allclose(ser.decode(w3m._values, w3m._values_meta)[0], emb.mean(-1)[0], rtol=1e-5)


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
    np.testing.assert_allclose(ser.decode(w._values, w._values_meta)[0], v[3], rtol=1e-6)
