"""AttentionView: traits, validation, binary payloads, thumbnails, custom-message fetches."""
import numpy as np
import pytest
import torch

import xai_widgets as xw
from xai_widgets.attention_maps import AttentionMaps
from xai_widgets.widgets import AttentionView
from xai_widgets.widgets import _serialize as ser
from xai_widgets.widgets.attention_view import (
    LOG_RANGE,
    THUMB_CLIP,
    decode_head as decode_payload,
    encode_head,
    pool_thumbnails,
)

TOKS = ["[CLS]", "the", "cat", "sat", "[SEP]"]


def softmax_maps(L=2, H=3, Q=5, K=5, seed=0, B=None):
    rng = np.random.default_rng(seed)
    shape = (L, H, Q, K) if B is None else (B, L, H, Q, K)
    x = rng.normal(size=shape) * 2
    e = np.exp(x - x.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def decode_head(w):
    return decode_payload(w._head, w._head_meta)


def log_tol(want):
    """encode_head's uint8 bound: half a code step in log1p(w / eps), i.e. |q - w| <= (w + eps) * (e^(step/2) - 1)."""
    eps = want.max() / LOG_RANGE
    return (np.abs(want) + eps) * np.expm1(np.log1p(LOG_RANGE) / 255 / 2) * 1.001 + 1e-12  # 1.001: float32 log1p


def test_repr_defaults_and_state():
    w = AttentionView(softmax_maps(), TOKS)
    assert repr(w) == "AttentionView(layers=2, heads=3, tokens=5)"
    assert (w.layer, w.head, w.token, w.source, w.view, w.sample) == (0, 0, None, "attention", "matrix", 0)
    assert w.sources == ["attention"] and w.tokens == TOKS
    cross = AttentionView(softmax_maps(Q=3, K=5), TOKS, query_tokens=["a", "b", "c"])
    assert repr(cross) == "AttentionView(layers=2, heads=3, tokens=5, queries=3)"
    m = AttentionMaps(softmax_maps(), tokens=TOKS)
    w2 = AttentionView(m, extra={"rollout": AttentionMaps(softmax_maps(H=1), kind="rollout")})
    assert repr(w2) == "AttentionView(layers=2, heads=3, tokens=5, extra=['rollout'])"
    assert w2.tokens == TOKS and w2.sources == ["attention", "rollout"]


def test_accepts_array_tensor_and_attention_maps_alike():
    a = softmax_maps()
    for maps in (a, torch.from_numpy(a), AttentionMaps(a, tokens=TOKS)):
        w = AttentionView(maps, TOKS, layer=1, head=2)
        assert (np.abs(decode_head(w) - a[1, 2]) <= log_tol(a[1, 2])).all()
    # fewer dims: one layer / one head
    assert AttentionView(a[0]).weights().shape == (1, 3, 5, 5)
    assert AttentionView(a[0, 0]).weights().shape == (1, 1, 5, 5)


def test_head_binary_round_trip_uint8_and_float16():
    a = softmax_maps(L=3, H=4, Q=7, K=7, seed=1)
    w = AttentionView(a, layer=2, head=3)
    m = w._head_meta
    assert m["dtype"] == "uint8" and m["shape"] == [7, 7] and len(w._head) == 49
    assert (m["source"], m["sample"], m["layer"], m["head"]) == ("attention", 0, 2, 3)
    assert (np.abs(decode_head(w) - a[2, 3]) <= log_tol(a[2, 3])).all()
    assert m["codes"] == "log1p"
    # head -1: mean of heads
    w.head = -1
    assert w._head_meta["head"] == -1
    assert (np.abs(decode_head(w) - a[2].mean(0)) <= log_tol(a[2].mean(0))).all()
    np.testing.assert_allclose(w.current(), a[2].mean(0), rtol=1e-6)
    f = AttentionView(a, dtype="float16", layer=1, head=0)
    assert f._head_meta["dtype"] == "float16" and len(f._head) == 2 * 49
    np.testing.assert_allclose(decode_head(f), a[1, 0], rtol=2e-3, atol=1e-6)


def test_thumbnails_are_mean_pooled():
    a = softmax_maps(L=2, H=3, Q=64, K=96, seed=2)
    w = AttentionView(a, thumb_size=16)
    L, C, tq, tk = w._thumbs_meta["shape"]
    assert (L, C, tq, tk) == (2, 4, 16, 16)
    raw = np.frombuffer(w._thumbs, np.uint8).reshape(L, C, tq, tk).astype(np.float64)
    scales = np.asarray(w._thumbs_meta["scales"]).reshape(L, C, 1, 1)
    got = raw * scales
    pooled = a.reshape(2, 3, 16, 4, 16, 6).mean(axis=(3, 5))  # numpy block means
    want = np.concatenate([pooled.mean(1, keepdims=True), pooled], axis=1)
    # each thumbnail's scale tops out at its THUMB_CLIP percentile; cells above saturate
    top = np.percentile(want.reshape(L, C, -1), THUMB_CLIP, axis=2).reshape(L, C, 1, 1)
    np.testing.assert_allclose(scales * 255, top, rtol=1e-6)
    assert (want > top).any() and (raw == 255).sum() >= (want > top).sum()
    np.testing.assert_allclose(got, np.minimum(want, top), atol=top.max() / 255 / 2 + 1e-7)
    np.testing.assert_allclose(w.thumbnails(), want, rtol=1e-5)
    # not divisible: area average (each output keeps the mean)
    b = softmax_maps(L=1, H=1, Q=50, K=50, seed=3)
    t = pool_thumbnails(b, 16, 16)
    assert t.shape == (1, 1, 16, 16)
    np.testing.assert_allclose(t.mean(), b.mean(), rtol=1e-5)
    # small maps are not upsampled
    assert AttentionView(softmax_maps()).thumbnails().shape == (2, 4, 5, 5)


def test_custom_message_fetch_returns_the_right_head():
    a = softmax_maps(L=3, H=4, Q=6, K=6, seed=4)
    ro = softmax_maps(L=3, H=1, Q=6, K=6, seed=5)
    w = AttentionView(a, extra={"rollout": ro})
    sent = []
    w.send = lambda content, buffers=None: sent.append((content, buffers))
    w._on_custom_msg(w, {"type": "get", "requests": [
        {"id": 1, "source": "attention", "sample": 0, "layer": 2, "head": 1},
        {"id": 2, "source": "attention", "sample": 0, "layer": 0, "head": -1},
        {"id": 3, "source": "rollout", "sample": 0, "layer": 1, "head": 0},
        {"id": 4, "source": "attention", "sample": 0, "layer": 9, "head": 0},
    ]}, [])
    assert [c["id"] for c, _ in sent] == [1, 2, 3, 4]
    for (c, bufs), want in zip(sent[:3], [a[2, 1], a[0].mean(0), ro[1, 0]]):
        assert c["type"] == "head" and len(bufs) == 1
        assert (np.abs(decode_payload(bytes(bufs[0]), c["meta"]) - want) <= log_tol(want)).all()
    assert (sent[1][0]["meta"]["layer"], sent[1][0]["meta"]["head"]) == (0, -1)
    assert sent[3][0]["type"] == "error" and "layer" in sent[3][0]["message"]
    # single inline request, and junk is ignored
    sent.clear()
    w._on_custom_msg(w, {"type": "get", "id": 7, "layer": 1, "head": 3}, [])
    w._on_custom_msg(w, {"type": "other"}, [])
    w._on_custom_msg(w, "nonsense", [])
    assert len(sent) == 1 and sent[0][0]["id"] == 7
    assert (np.abs(decode_payload(bytes(sent[0][1][0]), sent[0][0]["meta"]) - a[1, 3]) <= log_tol(a[1, 3])).all()


def test_selection_updates_payload_and_source_clamps():
    a = softmax_maps(L=3, H=4)
    w = AttentionView(a, extra={"rollout": softmax_maps(L=3, H=1, seed=9), "flow": softmax_maps(L=1, H=1, seed=8)})
    w.layer, w.head = 2, 3
    assert (w._head_meta["layer"], w._head_meta["head"]) == (2, 3)
    w.source = "rollout"
    assert (w.layer, w.head) == (2, 0) and w._head_meta["source"] == "rollout"
    assert w._thumbs_meta["source"] == "rollout" and w._thumbs_meta["shape"][:2] == [3, 2]
    w.source = "flow"
    assert (w.layer, w.head) == (0, 0)
    with pytest.raises(ValueError, match="unknown source"):
        w.source = "nope"


def test_validation_errors():
    a = softmax_maps()
    with pytest.raises(ValueError, match="shape"):
        AttentionView(np.ones((2, 2, 2, 3, 4, 4)))
    with pytest.raises(TypeError, match="numeric"):
        AttentionView(np.array([["a"]]))
    with pytest.raises(TypeError, match="AttentionMaps"):
        AttentionView("weights")
    bad = a.copy()
    bad[0, 0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        AttentionView(bad)
    with pytest.raises(ValueError, match="tokens has 4 entries"):
        AttentionView(a, TOKS[:4])
    with pytest.raises(TypeError, match="strings"):
        AttentionView(a, [1, 2, 3, 4, 5])
    with pytest.raises(TypeError, match="single string"):
        AttentionView(a, "hello")
    with pytest.raises(ValueError, match="layer must be in"):
        AttentionView(a, layer=2)
    with pytest.raises(ValueError, match="head must be -1"):
        AttentionView(a, head=3)
    with pytest.raises(ValueError, match="head must be -1"):
        AttentionView(a, head=-2)
    with pytest.raises(TypeError, match="integer"):
        AttentionView(a, layer=1.5)
    w = AttentionView(a)
    with pytest.raises(ValueError, match="layer must be in"):
        w.layer = 5
    with pytest.raises(ValueError, match="head must be -1"):
        w.head = 3
    with pytest.raises(ValueError, match="token"):
        w.token = 5
    with pytest.raises(ValueError, match="unknown view"):
        w.view = "3d"
    with pytest.raises(TypeError, match="unexpected keyword"):
        AttentionView(a, colour="red")
    with pytest.raises(ValueError, match="extra"):
        AttentionView(a, extra={"rollout": softmax_maps(K=4, Q=4)})
    with pytest.raises(TypeError, match="extra must be a dict"):
        AttentionView(a, extra=[a])
    with pytest.raises(ValueError, match="patch_grid"):
        AttentionView(a, image=np.zeros((8, 8, 3), np.uint8), patch_grid=(3, 3))
    w.token = 4
    w.token = None


def test_xss_tokens_stay_plain_strings():
    evil = '<img src=x onerror="alert(1)">'
    w = AttentionView(softmax_maps(), ["a", evil, "<b>b</b>", "&amp;", "e"])
    assert w._tokens[1] == evil and w._tokens[3] == "&amp;"
    assert w.get_state()["_tokens"][1] == evil


def test_causal_and_padding_masks():
    a = np.tril(softmax_maps(Q=4, K=4))
    a /= a.sum(-1, keepdims=True)
    w = AttentionView(a)
    assert w.causal
    np.testing.assert_array_equal(w.masked(), np.triu(np.ones((4, 4), bool), 1))
    # the causal triangle is not sent: the browser adds it (causal and Q == K); the head is its lower triangle
    assert w._mask == b"" and w.masked(causal=False) is None
    assert w._head_meta["packed"] == "tril" and len(w._head) == 4 * 5 // 2
    assert not AttentionView(softmax_maps()).causal and AttentionView(softmax_maps())._mask == b""
    # batch with padding: sample switch changes tokens and mask
    b = softmax_maps(B=2, Q=5, K=5)
    maps = AttentionMaps(b, tokens=[TOKS, ["x", "y", "z", "[PAD]", "[PAD]"]],
                         mask=np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool))
    w = AttentionView(maps)
    assert w.n_samples == 2 and w._mask == b"" and w.tokens == TOKS
    w.sample = 1
    assert w._tokens == ["x", "y", "z", "[PAD]", "[PAD]"]
    mk = w.masked()
    assert mk[:, 3:].all() and mk[3:, :].all() and not mk[:3, :3].any()
    assert w._head_meta["sample"] == 1
    with pytest.raises(ValueError, match="sample"):
        w.sample = 2


def test_vit_mode():
    rng = np.random.default_rng(0)
    a = softmax_maps(L=1, H=2, Q=17, K=17)  # 1 class token + 4x4 patches
    img = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    w = AttentionView(a, image=img)
    assert (w.patch_grid, w.n_prefix_tokens) == ([4, 4], 1)
    assert w._image_meta["shape"] == [64, 64, 3]
    m = AttentionMaps(softmax_maps(L=1, H=2, Q=21, K=21), patch_grid=(4, 4), n_prefix_tokens=5)
    w2 = AttentionView(m, image=img, token=7)
    assert (w2.patch_grid, w2.n_prefix_tokens, w2.token) == ([4, 4], 5, 7)
    with pytest.raises(ValueError, match="need image"):
        AttentionView(a, patch_grid=(4, 4))


def test_large_payload_fits_budget():
    a = np.random.default_rng(0).random((12, 12, 512, 512), dtype=np.float32)
    w = AttentionView(a)
    assert len(w._head) == 512 * 512
    assert len(w._thumbs) == 12 * 13 * 32 * 32
    assert len(w._head) + len(w._thumbs) < 1_000_000


def test_exported_at_top_level():
    assert xw.AttentionView is AttentionView


def test_base_class_options_ranges_and_close():
    from xai_widgets.widgets._base import XWidget

    a = softmax_maps(B=2)
    w = AttentionView(a, TOKS)
    assert isinstance(w, XWidget) and isinstance(w._esm, str) and "_esm" not in AttentionView.__dict__
    with pytest.raises(ValueError, match=r"sample must be in \[0, 1\] \(the maps hold 2 rows\), got 2"):
        w.sample = 2
    with pytest.raises(ValueError, match=r"token must be None or a query index in \[0, 4\], got 5"):
        w.token = 5
    with pytest.raises(ValueError, match=r"sample must be in \[0, 1\]"):
        AttentionView(a, sample=3)
    text = repr(w)
    w.close()
    assert w._srcs is None and w._maps is None and w._head == b"" and w._thumbs == b""
    assert repr(w) == text  # deterministic, also once the data is gone
    w._on_custom_msg(w, {"type": "get", "requests": [{"id": 1, "layer": 0, "head": 0}]}, [])  # no crash


def _png_from_bundle(w):
    import base64
    import io

    import matplotlib.image as mpimg

    data, meta = w._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    png = base64.b64decode(data["image/png"])
    img = mpimg.imread(io.BytesIO(png), format="png")[..., :3]  # float RGB in [0, 1]
    assert meta["image/png"]["width"] == img.shape[1] // 2
    return img


def _cell_rgb(img, ax, q, k, Q, K):
    """Pixel colour at the centre of cell (query q, key k) of the heatmap axes."""
    box = ax.get_position()  # figure fractions (the axes are placed at fixed positions)
    H, W = img.shape[:2]
    x = (box.x0 + (k + 0.5) / K * box.width) * W
    y = (1 - (box.y1 - (q + 0.5) / Q * box.height)) * H
    return img[int(y), int(x)]


def test_static_png_draws_the_shown_head_with_the_view_colormap():
    from matplotlib import colormaps

    L, H, T = 2, 3, 6
    a = np.zeros((L, H, T, T), np.float32)
    # head (1, 2): every cell a different, known weight; other heads something else
    a[1, 2] = (np.arange(T * T, dtype=np.float32).reshape(T, T) + 1) / (T * T)
    a[1, 0] = np.eye(T)
    a[1, 1] = 1.0 / T
    toks = [f"w{i}" for i in range(T)]
    w = AttentionView(a, toks, layer=1, head=2, colormap="plasma", clip_percentile=100.0)
    img = _png_from_bundle(w)
    fig = w._static_figure()
    ax = fig.axes[0]
    assert ax.get_title() == "layer 1 · head 2"
    assert [t.get_text() for t in ax.get_yticklabels()] == toks
    assert [t.get_text() for t in ax.get_xticklabels()] == toks
    cmap = colormaps["plasma"]
    vmax = a[1, 2].max()  # clip 100: the scale ends at the largest weight
    worst = 0.0
    for q in range(T):
        for k in range(T):
            want = np.asarray(cmap(a[1, 2, q, k] / vmax))[:3]
            got = _cell_rgb(img, ax, q, k, T, T)
            worst = max(worst, float(np.abs(got - want).max()))
    assert worst <= 2 / 255, f"cell colours differ from plasma by up to {worst * 255:.1f}/255"
    # and they are not some other head's colours: head 0 (eye) would give the extremes on the diagonal
    assert np.abs(_cell_rgb(img, ax, 0, 0, T, T) - np.asarray(cmap(0.0))[:3]).max() > 0.05

    # the mean of heads, with the default clip (99.5th percentile as the scale's top)
    w.head = -1
    fig = w._static_figure()
    ax = fig.axes[0]
    assert ax.get_title() == "layer 1 · mean of heads"
    img = _png_from_bundle(w)
    mean = a[1].mean(0)
    vmax = np.percentile(mean, 100.0)
    for q, k in [(0, 0), (2, 3), (5, 5)]:
        want = np.asarray(cmap(min(1.0, mean[q, k] / vmax)))[:3]
        np.testing.assert_allclose(_cell_rgb(img, ax, q, k, T, T), want, atol=2 / 255)


def test_static_png_masked_cells_scale_and_many_tokens():
    from matplotlib import colormaps

    T = 5
    a = np.tril(softmax_maps(L=1, H=1, Q=T, K=T, seed=3))
    a /= a.sum(-1, keepdims=True)
    w = AttentionView(a, clip_percentile=90.0)
    assert w.causal
    img = _png_from_bundle(w)
    ax = w._static_figure().axes[0]
    # masked (above the diagonal): the flat grey, not a colormap colour
    np.testing.assert_allclose(_cell_rgb(img, ax, 0, 4, T, T), [0xD6 / 255, 0xD8 / 255, 0xDC / 255], atol=2 / 255)
    # the scale: the 90th percentile of the unmasked weights; cells above it saturate
    vals = a[0, 0][np.tril(np.ones((T, T), bool))]
    vmax = np.percentile(vals, 90.0)
    assert w.colour_max() == pytest.approx(vmax, rel=1e-6)
    cmap = colormaps["viridis"]
    for q in range(T):
        for k in range(q + 1):
            want = np.asarray(cmap(min(1.0, a[0, 0, q, k] / vmax)))[:3]
            np.testing.assert_allclose(_cell_rgb(img, ax, q, k, T, T), want, atol=2 / 255)
    # more than 64 tokens: numbered ticks instead of unreadable token labels
    big = AttentionView(softmax_maps(L=1, H=1, Q=65, K=65), [f"t{i}" for i in range(65)])
    ax = big._static_figure().axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert 2 <= len(labels) <= 12 and not any(s.startswith("t") for s in labels)
    # other sources and samples are named in the title
    two = AttentionView(softmax_maps(B=2), extra={"rollout": softmax_maps(B=2, H=1, seed=4)}, sample=1)
    two.source = "rollout"
    assert two._static_figure().axes[0].get_title() == "rollout: layer 0 · head 0 · sample 1"


def _spec_head(spec, request):
    """Answer a view's request from a save_html spec as the standalone runtime does (js/src/standalone.ts)."""
    import base64
    import zlib

    m = spec["messages"]
    assert (m["request"], m["reply"]) == ("get", "head")
    key = "|".join(str(request[f]) for f in m["key_fields"])
    hit = m["table"].get(key)
    if hit is None:
        return None
    b = spec["buffers"][hit["buf"]]
    raw = base64.b64decode(b["b64"])
    return decode_payload(zlib.decompress(raw) if b.get("z") else raw, hit["meta"]), hit["meta"]


def test_save_html_embeds_every_head_nearest_first_within_the_budget():
    from xai_widgets.widgets._html import widget_spec

    a = softmax_maps(L=3, H=4, Q=6, K=6, B=2, seed=11)
    ro = softmax_maps(L=3, H=1, Q=6, K=6, B=2, seed=12)
    w = AttentionView(a, extra={"rollout": ro}, layer=1, head=2)
    spec = widget_spec(w, max_bytes=10**9)
    info = spec["state"]["_embed"]
    # 2 samples x 3 layers x (mean + 4 heads) + 2 x 3 x 1 (one-head source: -1 is head 0)
    assert (info["heads"], info["embedded"], info["missing"]) == (36, 36, 0)
    for src, w5 in (("attention", a), ("rollout", ro)):
        heads = range(-1, 4) if src == "attention" else (-1, 0)
        for b in range(2):
            for layer in range(3):
                for h in heads:
                    got, meta = _spec_head(spec, {"id": 1, "source": src, "sample": b, "layer": layer, "head": h})
                    want = w5[b, layer].mean(0) if h == -1 else w5[b, layer, max(h, 0)]
                    # the meta names the head asked for (the view caches by it)
                    assert (meta["source"], meta["sample"], meta["layer"], meta["head"]) == (src, b, layer, h)
                    assert (np.abs(got - want) <= log_tol(want)).all()
    # a budget for 5 heads of 36 bytes (uint8): the shown one and its 4 nearest, same source and sample
    small = w._embed_extra(5 * 36)
    keys = list(small["messages"]["table"])
    assert keys == ["attention|0|1|2", "attention|0|1|1", "attention|0|1|3", "attention|0|0|2", "attention|0|2|2"]
    assert sum(len(b) for b in small["buffers"]) <= 5 * 36
    assert small["state"]["_embed"]["missing"] == 36 - 5
    # larger budgets keep what smaller ones kept (nearest first)
    prev: set = set()
    for budget in (0, 100, 400, 2000, 5000):
        ks = set(w._embed_extra(budget)["messages"]["table"])
        assert prev <= ks
        prev = ks
    # with no budget the shown head still counts: it is in the saved state
    none = w._embed_extra(0)
    assert none["buffers"] == [] and none["state"]["_embed"]["embedded"] == 1


def test_save_html_embeds_what_the_kernel_pushes_on_source_and_sample_change():
    maps = AttentionMaps(softmax_maps(B=2, Q=5, K=5), tokens=[TOKS, ["x", "y", "z", "[PAD]", "[PAD]"]],
                         mask=np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool))
    w = AttentionView(maps, extra={"rollout": softmax_maps(B=2, H=1, Q=5, K=5, seed=3)})
    info = w._embed_extra(10**9)["state"]["_embed"]
    assert set(info["views"]) == {"attention|0", "attention|1", "rollout|0", "rollout|1"}
    assert info["views"]["attention|0"] == {}  # the saved state holds it
    v = info["views"]["attention|1"]
    np.testing.assert_array_equal(np.frombuffer(v["_thumbs"], np.uint8), np.frombuffer(w._thumb_payload("attention", 1)[0], np.uint8))
    mask = np.unpackbits(np.frombuffer(v["_mask"], np.uint8))[:25].reshape(5, 5).astype(bool)
    np.testing.assert_array_equal(mask, w.masked(1, "attention"))
    assert info["samples"]["1"]["_tokens"] == ["x", "y", "z", "[PAD]", "[PAD]"]
    assert info["samples"]["0"]["_tokens"] == TOKS


def test_save_html_float16_and_file(tmp_path):
    a = softmax_maps(L=2, H=2, Q=7, K=7, seed=5)
    w = AttentionView(a, dtype="float16")
    ex = w._embed_extra(10**9)
    assert all(len(b) == 2 * 49 for b in ex["buffers"])
    assert ex["messages"]["missing"].startswith("This head is not in this file (size budget)")
    path = w.save_html(tmp_path / "attention.html", max_bytes=2 * 49 * 3)
    text = path.read_text(encoding="utf-8")
    assert '"_embed"' in text and '"missing":' in text


def test_uint8_heads_keep_relative_precision_where_attention_lives():
    rng = np.random.default_rng(7)
    # a head as in real models: a few rows sink nearly all their weight into token 0 (the max, near 1),
    # the rest spread over 256 keys (weights ~1/256; the colour scale ends at the 99.5th percentile, ~0.03)
    x = rng.standard_normal((256, 256))
    x[:4, 0] += 12.0
    e = np.exp(x - x.max(-1, keepdims=True))
    a = (e / e.sum(-1, keepdims=True)).astype(np.float32)
    raw, meta = encode_head(a)
    q = decode_payload(raw, meta)
    assert len(raw) == a.size and meta["codes"] == "log1p"
    assert (np.abs(q - a) <= log_tol(a)).all()
    assert q.max() == pytest.approx(a.max(), rel=1e-6) and decode_payload(*encode_head(np.zeros((2, 2)))).max() == 0
    # the colour the view gives each cell (its scale ends at the 99.5th percentile): a small change,
    # where linear uint8 codes (max / 255 per step) would move many cells a long way
    vmax = np.percentile(a, 99.5)

    def idx(v):
        return np.round(np.clip(v / vmax, 0, 1) * 255)

    moved = np.abs(idx(q) - idx(a))
    lin = np.abs(idx(ser.decode(*ser.encode(a, "uint8"))) - idx(a))
    assert moved.max() <= 6 and (moved > 2).mean() < 0.01
    assert lin.max() > 12 and (lin > 2).mean() > 0.5
    # maps with negative values (some derived sources) keep the linear encoding
    neg = rng.standard_normal((4, 4)).astype(np.float32)
    raw, meta = encode_head(neg)
    assert "codes" not in meta
    np.testing.assert_allclose(decode_payload(raw, meta), neg, atol=(neg.max() - neg.min()) / 255 / 2 + 1e-7)


# --------------------------------------------------------------------------- LLM scale (issue 11 §3)
def causal_softmax(T, seed=0, sink=3.0):
    """One (T, T) causal softmax map: noise logits, a sink on token 0, zero above the diagonal."""
    x = np.random.default_rng(seed).normal(size=(T, T)).astype(np.float32)
    x[:, 0] += sink
    x[np.triu_indices(T, 1)] = -np.inf
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def sent_bytes(w):
    """What the front end receives at display: the state as JSON (buffers taken out) plus the buffers."""
    import json

    from ipywidgets.widgets.widget import _remove_buffers

    state = w.get_state()
    state.pop("_esm", None)
    state.pop("_css", None)
    stripped, _, buffers = _remove_buffers(state)
    return len(json.dumps(stripped, separators=(",", ":")).encode()) + sum(len(b) for b in buffers)


def test_llm_scale_state_fits_1mb_and_float16_maps_are_not_copied():
    import tracemalloc

    L, H, T = 30, 9, 1024
    head = causal_softmax(T).astype(np.float16)
    # 30 x 9 x 1,024 x 1,024 maps without 566 MB of test data: one head seen everywhere (a view)
    maps = np.broadcast_to(head, (L, H, T, T))
    tracemalloc.start()
    try:
        w = AttentionView(maps, layer=29, head=8)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    kept = w._srcs["attention"].w
    assert kept.dtype == np.float16 and np.shares_memory(kept, maps)
    # a float32 copy of the maps would be 1.1 GB (a float16 one 566 MB); per head and per layer work stays small
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MiB while building"
    assert w.causal and w._mask == b""
    assert len(w._head) == T * (T + 1) // 2 and w._head_meta["packed"] == "tril"
    assert len(w._thumbs) == L * (H + 1) * 32 * 32
    # the overview stays readable: the top-left block (first queries on the first keys) does not set every
    # thumbnail's scale; the masked triangle (no weight) is left out of the percentile
    th = np.frombuffer(w._thumbs, np.uint8).reshape(L, H + 1, 32, 32)
    lower = np.tri(32, dtype=bool)
    assert th[0, 1, 0, 0] == 255 and np.median(th[0, 1][lower]) >= 24  # max-scaled: 11
    assert sent_bytes(w) <= 1_000_000, sent_bytes(w)
    want = head.astype(np.float32)
    got = decode_head(w)
    np.testing.assert_array_equal(got[np.triu_indices(T, 1)], 0)
    assert (np.abs(got - want) <= log_tol(want)).all()
    # a prefetch reply is packed the same way
    sent = []
    w.send = lambda content, buffers=None: sent.append((content, buffers))
    w._on_custom_msg(w, {"type": "get", "requests": [{"id": 1, "source": "attention", "sample": 0, "layer": 3, "head": -1}]}, [])
    (c, bufs), = sent
    assert c["meta"]["packed"] == "tril" and len(bufs[0]) == T * (T + 1) // 2
    assert (np.abs(decode_payload(bytes(bufs[0]), c["meta"]) - want) <= log_tol(want)).all()


def test_float16_maps_and_tensors_are_kept_and_read_as_float32():
    a = np.stack([np.stack([causal_softmax(12, seed=3 * i + j) for j in range(3)]) for i in range(2)])
    for maps in (a.astype(np.float16), torch.from_numpy(a.astype(np.float16))):
        w = AttentionView(maps, layer=1, head=2)
        assert w._srcs["attention"].w.dtype == np.float16 and w.causal
        assert w.weights().dtype == np.float32 and w.current().dtype == np.float32
        want = a.astype(np.float16).astype(np.float32)
        np.testing.assert_array_equal(w.weights(), want)
        assert (np.abs(decode_head(w) - want[1, 2]) <= log_tol(want[1, 2])).all()
        np.testing.assert_allclose(w.thumbnails()[:, 1:], pool_thumbnails(want, 12, 12), rtol=1e-6)
    # float64 and integer maps become float32 as before
    assert AttentionView(a.astype(np.float64))._srcs["attention"].w.dtype == np.float32
    with pytest.raises(ValueError, match="NaN"):
        bad = a.astype(np.float16)
        bad[1, 2, 5, 0] = np.nan
        AttentionView(bad)


def test_causal_packing_float16_and_padding_mask():
    a = np.stack([causal_softmax(9, seed=s) for s in range(2)])[None]  # (1, 2, 9, 9)
    f = AttentionView(a, dtype="float16", head=1)
    assert f._head_meta["packed"] == "tril" and len(f._head) == 2 * 45
    np.testing.assert_allclose(decode_head(f), a[0, 1], rtol=2e-3, atol=1e-6)
    # padding goes in _mask (only it); masked() adds the causal triangle
    pad = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0], bool)
    w = AttentionView(AttentionMaps(a, mask=pad, causal=True))
    want_pad = ~pad[None, :] | ~pad[:, None]
    got = np.unpackbits(np.frombuffer(w._mask, np.uint8))[:81].reshape(9, 9).astype(bool)
    np.testing.assert_array_equal(got, want_pad)
    np.testing.assert_array_equal(w.masked(), want_pad | np.triu(np.ones((9, 9), bool), 1))
    # not causal: nothing packed
    assert "packed" not in AttentionView(softmax_maps(Q=6, K=6))._head_meta
