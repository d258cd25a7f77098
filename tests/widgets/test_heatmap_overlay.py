"""HeatmapOverlay: validation, serialization, downsampling, state."""
import numpy as np
import pytest
import torch
import traitlets

import xai_widgets as xw
from xai_widgets.widgets import HeatmapOverlay
from xai_widgets.widgets import _serialize as ser


def rng(seed=0):
    return np.random.default_rng(seed)


def img(n=2, h=16, w=20, seed=0):
    return rng(seed).random((n, 3, h, w)).astype(np.float32)


def attr(n=2, h=16, w=20, c=3, seed=1, method="ig"):
    shape = (n, c, h, w) if c else (n, h, w)
    return xw.Attribution.from_array(rng(seed).normal(size=shape), method=method)


def maps_of(w):
    return ser.decode(w._maps, w._maps_meta)


def test_repr_is_deterministic():
    w = HeatmapOverlay(img(), {"ig": attr(), "saliency": attr(c=0, method="saliency")})
    assert repr(w) == "HeatmapOverlay(methods=['ig', 'saliency'], samples=2, image=16x20)"
    assert repr(w) == repr(HeatmapOverlay(img(), {"ig": attr(), "saliency": attr(c=0)}))
    bundle = w._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert data["text/plain"] == repr(w)  # what nbval compares


def test_single_attribution_title_is_method_and_defaults():
    w = HeatmapOverlay(img(1), attr(1, method="integrated_gradients"))
    assert w.methods == ["integrated_gradients"]
    assert (w.opacity, w.sign, w.clip_percentile, w.shared_scale, w.sample, w.selected) == (0.6, "all", 99.5, False, 0, None)
    assert w.colormap == "coolwarm"  # signed values -> diverging
    assert w.image_shape == (16, 20) and w.display_shape == (16, 20) and w.n_samples == 1


def test_unsigned_maps_get_sequential_colormap():
    w = HeatmapOverlay(img(1), xw.Attribution.from_array(np.abs(rng().normal(size=(1, 16, 20)))))
    assert w.colormap == "inferno"


def test_channel_reduction_sum_mean_absmax():
    v = rng().normal(size=(2, 3, 16, 20))
    a = xw.Attribution.from_array(v)
    np.testing.assert_allclose(maps_of(HeatmapOverlay(img(), a))[:, 0], v.sum(1), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(maps_of(HeatmapOverlay(img(), a, reduce="mean"))[:, 0], v.mean(1), rtol=1e-6, atol=1e-6)
    am = maps_of(HeatmapOverlay(img(), a, reduce="absmax"))[:, 0]
    idx = np.abs(v).argmax(1)[:, None]
    np.testing.assert_allclose(am, np.take_along_axis(v, idx, 1)[:, 0], rtol=1e-6)
    with pytest.raises(ValueError, match="reduce"):
        HeatmapOverlay(img(), a, reduce="max")


def test_serialization_round_trip_images_and_maps():
    images = (rng().random((2, 16, 20, 3)) * 255).astype(np.uint8)
    v = rng(5).normal(size=(2, 16, 20))
    w = HeatmapOverlay(images, {"a": v, "b": torch.tensor(-v)})
    assert isinstance(w._maps, bytes) and isinstance(w._image, bytes)
    got_img = np.frombuffer(w._image, np.uint8).reshape(w._image_meta["shape"])
    np.testing.assert_array_equal(got_img, images)
    got = np.frombuffer(w._maps, "<f4").reshape(w._maps_meta["shape"])
    assert got.shape == (2, 2, 16, 20)
    np.testing.assert_allclose(got[:, 0], v, rtol=1e-6)
    np.testing.assert_allclose(got[:, 1], -v, rtol=1e-6)
    assert w._maps_meta["samples"] == [0, 1]
    # state carries bytes, not JSON lists
    state = w.get_state()
    assert isinstance(state["_maps"], (bytes, memoryview))


def test_float16_option():
    v = rng().normal(size=(1, 16, 20)) * 1e-4
    w = HeatmapOverlay(img(1), v, dtype="float16")
    assert w._maps_meta["dtype"] == "float16" and len(w._maps) == 16 * 20 * 2
    np.testing.assert_allclose(maps_of(w)[0, 0], v[0], atol=np.abs(v).max() * 1e-3)


def test_image_layouts_and_float_normalisation():
    base = rng().random((16, 20, 3)) * 7 - 3  # any float range
    v = rng().normal(size=(1, 16, 20))
    for image in (base, np.moveaxis(base, -1, 0), base[None], np.moveaxis(base, -1, 0)[None], torch.tensor(base)):
        w = HeatmapOverlay(image, v)
        got = np.frombuffer(w._image, np.uint8).reshape(w._image_meta["shape"])[0]
        expect = np.round((base - base.min()) / (base.max() - base.min()) * 255)
        np.testing.assert_array_equal(got, expect)
    gray = HeatmapOverlay(np.zeros((16, 20), np.uint8), v)
    assert gray._image_meta["shape"] == [1, 16, 20, 3]


def test_downsampling_above_cap_preserves_mean_and_maps_coordinates():
    H, W = 300, 200
    v = rng().normal(size=(1, 3, H, W))
    image = (rng().random((1, H, W, 3)) * 255).astype(np.uint8)
    w = HeatmapOverlay(image, v, max_size=100, selected=(299, 199))
    assert w.display_shape == (100, 67) and w.image_shape == (300, 200) and w.max_size == 100
    m = maps_of(w)[0, 0]
    assert m.shape == (100, 67)
    np.testing.assert_allclose(m.mean(), v.sum(1).mean(), rtol=1e-5, atol=1e-6)
    img_small = np.frombuffer(w._image, np.uint8).reshape(w._image_meta["shape"])[0].astype(float)
    assert abs(img_small.mean() - image.mean()) < 0.6
    # a display pixel maps back into the original pixels it averages
    r, c = ser.display_to_original(50.5, 33.5, w.display_shape, w.image_shape)
    assert (r, c) == (151, 100)
    w.selected = (r, c)
    assert w.selected == (151, 100)  # original coordinates, not display


def test_coarser_map_is_upsampled_and_larger_rejected():
    w = HeatmapOverlay(img(1, 28, 28), rng().normal(size=(1, 7, 7)))
    assert maps_of(w).shape == (1, 1, 28, 28)
    with pytest.raises(ValueError, match="spatial size 32x32 but the image is 28x28"):
        HeatmapOverlay(img(1, 28, 28), rng().normal(size=(1, 32, 32)))
    with pytest.raises(ValueError, match="expected \\(N, C, H, W\\) or \\(N, H, W\\)"):
        HeatmapOverlay(img(1, 28, 28), rng().normal(size=(1, 2, 3, 28, 28)))


def test_batch_mismatch_nan_and_types():
    with pytest.raises(ValueError, match="rows but the image batch has 2"):
        HeatmapOverlay(img(2), attr(3))
    bad = rng().normal(size=(2, 16, 20))
    bad[0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        HeatmapOverlay(img(2), bad)
    with pytest.raises(TypeError, match="Attribution, an array/tensor, or a dict"):
        HeatmapOverlay(img(2), "ig")
    with pytest.raises(TypeError, match="names must be strings"):
        HeatmapOverlay(img(2), {1: attr()})
    with pytest.raises(ValueError, match="empty dict"):
        HeatmapOverlay(img(2), {})
    with pytest.raises(ValueError, match="image of shape"):
        HeatmapOverlay(np.zeros((2, 5, 16, 20, 3)), attr())


def test_unknown_keyword_rejected():
    with pytest.raises(TypeError, match="unexpected keyword argument.*opactiy"):
        HeatmapOverlay(img(), attr(), opactiy=0.5)


@pytest.mark.parametrize(
    "name,value,exc,msg",
    [
        ("opacity", 1.5, ValueError, r"opacity must be in \[0, 1\]"),
        ("opacity", -0.1, ValueError, "opacity"),
        ("opacity", "high", TypeError, "opacity must be a number"),
        ("colormap", "jet", ValueError, "unknown colormap 'jet'"),
        ("colormap", 3, TypeError, "colormap must be a string"),
        ("sign", "both", ValueError, "unknown sign 'both'"),
        ("clip_percentile", 0, ValueError, "clip_percentile"),
        ("clip_percentile", 101, ValueError, "clip_percentile"),
        ("shared_scale", 1, TypeError, "shared_scale must be True or False"),
        ("sample", 2, ValueError, r"sample must be in \[0, 1\]"),
        ("sample", 1.0, TypeError, "sample must be an integer"),
    ],
)
def test_trait_validation(name, value, exc, msg):
    w = HeatmapOverlay(img(), attr())
    with pytest.raises(exc, match=msg):
        setattr(w, name, value)
    with pytest.raises(traitlets.TraitError):  # also a TraitError
        setattr(w, name, value)
    with pytest.raises(exc, match=msg):
        HeatmapOverlay(img(), attr(), **{name: value})


def test_selected_validation_and_sync():
    w = HeatmapOverlay(img(), attr())
    w.selected = [3, 4]  # what the browser sends
    assert w.selected == (3, 4)
    w.selected = np.array([15, 19])
    assert w.selected == (15, 19)
    assert set(w.values_at()) == {"ig"}
    np.testing.assert_allclose(w.values_at(3, 4)["ig"], attr().values.sum(1)[0, 3, 4], rtol=1e-6)
    w.selected = None
    assert w.selected is None
    with pytest.raises(ValueError, match="outside the 16x20 image"):
        w.selected = (16, 0)
    with pytest.raises(ValueError, match="outside"):
        w.selected = (-1, 0)
    with pytest.raises(TypeError, match="pair"):
        w.selected = (1, 2, 3)
    with pytest.raises(TypeError, match="integer"):
        w.selected = (1.5, 2)
    with pytest.raises(ValueError, match="outside"):
        HeatmapOverlay(img(), attr(), selected=(100, 100))


def test_large_batch_sends_only_current_sample():
    w = HeatmapOverlay(img(4), {"a": attr(4), "b": attr(4, seed=3)}, max_bytes=10_000)
    assert w._maps_meta["samples"] == [0] and w._image_meta["samples"] == [0]
    full = {k: v.values.sum(1) for k, v in {"a": attr(4), "b": attr(4, seed=3)}.items()}
    w.sample = 2
    assert w._maps_meta["samples"] == [2] and w._image_meta["samples"] == [2]
    got = maps_of(w)[0]
    np.testing.assert_allclose(got[0], full["a"][2], rtol=1e-6)
    np.testing.assert_allclose(got[1], full["b"][2], rtol=1e-6)
    small = HeatmapOverlay(img(4), attr(4))
    assert small._maps_meta["samples"] == [0, 1, 2, 3]


def test_image_none_uses_attribution_data_and_widget_helper():
    images = img(2)
    a = xw.Attribution.from_array(rng().normal(size=(2, 3, 16, 20)), images, method="ig")
    assert HeatmapOverlay(None, a).image_shape == (16, 20)
    assert isinstance(a.widget(), HeatmapOverlay)
    with pytest.raises(ValueError, match="no data"):
        HeatmapOverlay(None, attr())


def test_sample_labels_show_targets():
    a = xw.Attribution.from_array(rng().normal(size=(2, 16, 20)), target=[281, 7])
    w = HeatmapOverlay(img(), a)
    assert w._sample_labels == ["0 · target 281", "1 · target 7"]
    assert w._captions == [["target 281"], ["target 7"]]


def test_sample_labels_use_class_names_and_scores():
    names = [f"class{i}" for i in range(300)]
    names[285], names[7] = "Egyptian cat", "cock"
    v = rng().normal(size=(2, 16, 20))
    a = xw.Attribution.from_array(v, target=[285, 7], outputs=[0.4012, 12.3456], output_names=names)
    w = HeatmapOverlay(img(), a)
    assert w._sample_labels == ["0 · Egyptian cat 0.40", "1 · cock 12.35"]
    assert w._captions == [["Egyptian cat · score 0.40"], ["cock · score 12.35"]]
    # two methods explaining different classes in row 1: the label names none, each caption its own
    b = xw.Attribution.from_array(v, target=[285, 9], outputs=[0.4012, 3.0], output_names=names)
    w2 = HeatmapOverlay(img(), {"ig": a, "gc": b})
    assert w2._sample_labels == ["0 · Egyptian cat 0.40", "1"]
    assert w2._captions[1] == ["cock · score 12.35", "class9 · score 3.00"]
    # no target: plain indices, empty captions
    w3 = HeatmapOverlay(img(), v)
    assert w3._sample_labels == ["0", "1"] and w3._captions == [[""], [""]]


def test_esm_points_at_the_bundle():
    w = HeatmapOverlay(img(1), attr(1))
    assert "render" in w._esm and len(w._esm) > 1000


def test_close_releases_data_and_payload():
    w = HeatmapOverlay(img(4), attr(4), max_bytes=10_000)
    assert len(w._maps) > 0
    w.close()
    assert w._imgs is None and w._maps_full is None and w._attributions is None
    assert w._maps == b"" and w._image == b""
    w.sample = 1  # no payload to rebuild: nothing happens, no error


# ------------------------------------------------------------------ per-class grid
def all_attr(n=2, k=4, c=3, h=16, w=20, seed=2, names=None, outputs=True):
    shape = (n, k, c, h, w) if c else (n, k, h, w)
    v = rng(seed).normal(size=shape)
    out = rng(seed + 1).normal(size=(n, k)) if outputs else None
    return xw.Attribution(values=v, target=np.arange(k), outputs=out, method="ig", params={"target": "all"},
                          output_names=names)


def test_target_all_draws_a_class_grid_with_each_class_values():
    names = ["cat", "dog", "tabby", "Egyptian cat"]
    a = all_attr(names=names)
    w = HeatmapOverlay(img(), a)
    assert w._grid and w.classes == names and w._columns == names and w.methods == ["ig"]
    assert w.shared_scale is True
    got = maps_of(w)
    assert got.shape == (2, 4, 16, 20)
    for j in range(4):  # each column is that class's map, channel-summed
        np.testing.assert_allclose(got[:, j], a.values[:, j].sum(1), rtol=1e-6, atol=1e-6)
    # scores: one caption per sample and class, from outputs[i, k]
    assert w._captions[1][3] == f"score {a.outputs[1, 3]:.2f}"
    assert repr(w) == "HeatmapOverlay(method='ig', classes=['cat', 'dog', 'tabby', 'Egyptian cat'], samples=2, image=16x20)"


def test_classes_pick_and_order_columns_by_name_or_index():
    names = ["cat", "dog", "tabby", "Egyptian cat"]
    a = all_attr(c=0, names=names)  # (N, K, H, W)
    w = HeatmapOverlay(img(), a, classes=["Egyptian cat", 0])
    assert w.classes == ["Egyptian cat", "cat"]
    got = maps_of(w)
    np.testing.assert_allclose(got[:, 0], a.values[:, 3], rtol=1e-6)
    np.testing.assert_allclose(got[:, 1], a.values[:, 0], rtol=1e-6)
    # values_at per class, at an original pixel
    w.sample = 1
    w.selected = (5, 7)
    assert w.values_at() == pytest.approx({"Egyptian cat": a.values[1, 3, 5, 7], "cat": a.values[1, 0, 5, 7]})
    assert w.values_at(2, 3, sample=0)["cat"] == pytest.approx(a.values[0, 0, 2, 3])
    # without names: "class k" titles; numpy index arrays work too
    w2 = HeatmapOverlay(img(), all_attr(c=0), classes=np.array([2, 1]))
    assert w2.classes == ["class 2", "class 1"]


def test_many_outputs_default_to_the_top_classes_and_say_so():
    k = 30
    a = all_attr(k=k, c=0, h=8, w=8)
    a.outputs[:, 17] += 100  # clearly the top class on average
    a.outputs[:, 4] += 50
    w = HeatmapOverlay(img(2, 8, 8), a)
    assert len(w.classes) == 5 and w.classes[:2] == ["class 17", "class 4"]
    expected = list(np.argsort(-a.outputs.mean(0), kind="stable")[:5])
    assert w.classes == [f"class {j}" for j in expected]
    assert "5 classes with the highest mean score of 30" in w._note and "classes=[...]" in w._note
    assert HeatmapOverlay(img(2, 8, 8), all_attr(k=4, c=0, h=8, w=8))._note == ""


def test_grid_from_a_real_kernel_matches_the_closed_form():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 6 * 6, 3))
    x = torch.rand(2, 3, 6, 6)
    names = ["cat", "dog", "bird"]
    a = xw.integrated_gradients(model, x, target="all", output_names=names)
    w = HeatmapOverlay(x, a, classes=["bird", "cat"])
    wt = model[1].weight.detach().numpy().reshape(3, 3, 6, 6)
    got = maps_of(w)
    for j, k in enumerate([2, 0]):  # IG of a linear model from a zero baseline: w * x
        np.testing.assert_allclose(got[:, j], (wt[k] * x.numpy()).sum(1), rtol=1e-4, atol=1e-6)
    scores = model(x).detach().numpy()
    for i in range(2):
        shown = [float(c.removeprefix("score ")) for c in w._captions[i]]
        assert shown == pytest.approx([scores[i, 2], scores[i, 0]], rel=0.01, abs=0.005)


@pytest.mark.parametrize(
    "kwargs,exc,msg",
    [
        ({"classes": ["Egyptain cat"]}, ValueError, r"unknown class name 'Egyptain cat'.*close matches: \['Egyptian cat'"),
        ({"classes": ["cat", 0]}, ValueError, r"lists output 0 twice \(classes\[0\] = 'cat' and classes\[1\] = 0\)"),
        ({"classes": [7]}, ValueError, r"classes\[0\] = 7 \(output 7\) is not among the attribution's 4 outputs 0..3"),
        ({"classes": []}, ValueError, "classes is empty"),
        ({"classes": "cat"}, TypeError, r"classes must be a list.*classes=\['cat'\]"),
        ({"classes": [True]}, TypeError, "must be an integer"),
        ({"classes": [1.5]}, TypeError, "must be an integer"),
        ({"shared_scale": False}, ValueError, "one colour scale"),
    ],
)
def test_classes_errors(kwargs, exc, msg):
    a = all_attr(c=0, names=["cat", "dog", "tabby", "Egyptian cat"])
    with pytest.raises(exc, match=msg):
        HeatmapOverlay(img(), a, **kwargs)


def test_classes_need_an_output_axis_and_one_attribution():
    with pytest.raises(ValueError, match=r"target='all'.*one target per row \(values \(2, 3, 16, 20\)\)"):
        HeatmapOverlay(img(), attr(), classes=[0])
    with pytest.raises(ValueError, match="has no output_names; give output indices"):
        HeatmapOverlay(img(), all_attr(c=0), classes=["cat"])
    with pytest.raises(ValueError, match="explains every output .*show it alone"):
        HeatmapOverlay(img(), {"all": all_attr(c=0), "ig": attr()})
    with pytest.raises(ValueError, match="classes= draws the per-class grid of one attribution"):
        HeatmapOverlay(img(), {"a": all_attr(c=0), "b": all_attr(c=0)}, classes=[0])
    w = HeatmapOverlay(img(), all_attr(c=0))
    with pytest.raises(ValueError, match="shared_scale must stay True"):
        w.shared_scale = False


def test_classes_checked_before_any_work(monkeypatch):
    from xai_widgets.widgets import heatmap_overlay as mod

    def boom(*a, **k):
        raise AssertionError("images were prepared before classes= was checked")

    monkeypatch.setattr(mod, "as_images", boom)
    monkeypatch.setattr(mod, "reduce_map", boom)
    with pytest.raises(ValueError, match="unknown class name"):
        HeatmapOverlay(img(), all_attr(c=0, names=["a", "b", "c", "d"]), classes=["zebra"])
    with pytest.raises(TypeError, match="classes must be a list"):
        HeatmapOverlay(img(), all_attr(c=0), classes=3)


# ------------------------------------------------------------------ static picture
def _png_pixels(w):
    import base64
    import io

    import matplotlib.image as mpimg

    data, _ = w._repr_mimebundle_()
    png = base64.b64decode(data["image/png"])
    return np.round(mpimg.imread(io.BytesIO(png), format="png")[..., :3] * 255).astype(int)


def _count(px, rgb, tol=1):
    return int((np.abs(px - np.asarray(rgb)).max(-1) <= tol).sum())


def test_static_png_shows_the_colormap_over_the_image():
    from matplotlib import colormaps

    grey = np.full((16, 24, 3), 128, np.uint8)
    v = np.zeros((1, 16, 24))
    v[:, :, :8], v[:, :, 16:] = -1.0, 1.0  # blue third, untouched third, red third
    w = HeatmapOverlay(grey, v, opacity=0.6, clip_percentile=100)
    px = _png_pixels(w)
    lut = np.round(colormaps["coolwarm"](np.linspace(0, 1, 256))[:, :3] * 255)
    red = np.round(128 + (lut[255] - 128) * 0.6)  # |value| at the clip value: full opacity
    blue = np.round(128 + (lut[0] - 128) * 0.6)
    # each third of the image covers thousands of PNG pixels at 2x
    assert _count(px, red) > 1500 and _count(px, blue) > 1500
    assert _count(px, (128, 128, 128), tol=0) > 1500  # zero: the image exactly, no grey veil
    # the colour bar shows the map's ends unblended
    assert _count(px, lut[0], tol=3) > 8 and _count(px, lut[255], tol=3) > 8
    # static figure built without pyplot: nothing left open in pyplot's registry
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []


def test_overlay_rgb_blends_by_magnitude():
    from matplotlib import colormaps

    from xai_widgets.widgets.heatmap_overlay import overlay_rgb

    image = np.array([[[10, 200, 30], [10, 200, 30], [10, 200, 30], [10, 200, 30]]], np.uint8)
    v = np.array([[0.0, 0.5, 1.0, 3.0]])
    out = overlay_rgb(image, v, "coolwarm", "all", 1.0, 0.8)
    lut = np.round(colormaps["coolwarm"](np.linspace(0, 1, 256))[:, :3] * 255)
    assert (out[0, 0] == image[0, 0]).all()  # zero: transparent
    np.testing.assert_array_equal(out[0, 1], np.round(image[0, 1] + (lut[191] - image[0, 1]) * 0.4))  # t=.75, a=.8*.5
    np.testing.assert_array_equal(out[0, 2], np.round(image[0, 2] + (lut[255] - image[0, 2]) * 0.8))
    np.testing.assert_array_equal(out[0, 3], out[0, 2])  # beyond the clip value: saturated
    # sequential colormaps blend uniformly, but a zero magnitude stays clear
    seq = overlay_rgb(image, np.array([[0.0, 0.5, 1.0, -1.0]]), "inferno", "positive", 1.0, 0.5)
    assert (seq[0, 0] == image[0, 0]).all() and (seq[0, 3] == image[0, 3]).all()
    lut_i = np.round(colormaps["inferno"](np.linspace(0, 1, 256))[:, :3] * 255)
    np.testing.assert_array_equal(seq[0, 2], np.round(image[0, 2] + (lut_i[255] - image[0, 2]) * 0.5))


def test_static_grid_has_one_colour_scale_over_every_class():
    from xai_widgets.widgets.heatmap_overlay import scale_max

    a = all_attr(c=0, names=["cat", "dog", "tabby", "Egyptian cat"])
    a.values[:, 2] *= 25  # one class much stronger: per-class scales would differ
    w = HeatmapOverlay(img(), a, clip_percentile=90)
    fig = w._static_figure()
    bars = [ax._colorbar for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]
    assert len(bars) == 1
    expected = np.percentile(np.abs(a.values.astype(np.float32)), 90)  # every sample and class together
    assert bars[0].mappable.norm.vmax == pytest.approx(expected, rel=1e-5)
    assert bars[0].mappable.norm.vmin == pytest.approx(-expected, rel=1e-5)
    assert scale_max([a.values[:, 0]], "all", 90) < expected / 5
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0].startswith("cat\nscore ") and any(t.startswith("Egyptian cat\n") for t in titles)
    # methods without a shared scale: one bar per panel, each its own
    w2 = HeatmapOverlay(img(), {"a": attr(), "b": attr(seed=4, c=0)})
    bars2 = [ax._colorbar for ax in w2._static_figure().axes if getattr(ax, "_colorbar", None) is not None]
    assert len(bars2) == 2
    w2.shared_scale = True
    bars3 = [ax._colorbar for ax in w2._static_figure().axes if getattr(ax, "_colorbar", None) is not None]
    assert len(bars3) == 1


def test_saved_page_keeps_samples_within_its_budget():
    from xai_widgets.widgets._html import widget_spec

    v = rng().normal(size=(5, 16, 20))
    w = HeatmapOverlay(img(5), v, max_bytes=3000, sample=3)  # one sample at a time live
    assert w._maps_meta["samples"] == [3]
    per = 16 * 20 * 3 + 16 * 20 * 4
    extra = w._embed_extra(3 * per)
    kept = extra["state"]["_maps_meta"]["samples"]
    assert kept == [2, 3, 4]  # the current one and its neighbours
    np.testing.assert_allclose(ser.decode(extra["state"]["_maps"], extra["state"]["_maps_meta"])[:, 0], v[kept],
                               rtol=1e-6)
    assert "holds 3 of 5 samples" in extra["messages"]["missing"]
    spec = widget_spec(w, max_bytes=3 * per)
    assert spec["state"]["_maps_meta"]["samples"] == [2, 3, 4]
    assert HeatmapOverlay(img(2), attr())._embed_extra(10**6) == {}  # everything is in the state already
