"""What users hand the widgets by mistake (lists, multi-input tuples, mixed classes) and the demo's class names."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import xai_widgets as xw
from xai_widgets import demo
from xai_widgets.attention_maps import AttentionMaps
from xai_widgets.widgets import AttentionView, ForcePlot, HeatmapOverlay, TextHeatmap
from xai_widgets.widgets import _serialize as ser
from xai_widgets.widgets import force_plot, heatmap_overlay

RNG = np.random.default_rng(7)
IMAGE = RNG.integers(0, 255, size=(2, 8, 8, 3), dtype=np.uint8)
IRIS = ["setosa", "versicolor", "virginica"]


def image_attr(method="a"):
    return xw.Attribution.from_array(RNG.normal(size=(2, 3, 8, 8)), method=method)


def token_attr():
    return xw.Attribution.from_array(RNG.normal(size=(2, 5)), feature_names=list("abcde"))


def tab_attr(target=None, n=4, **kw):
    return xw.Attribution.from_array(RNG.normal(size=(n, 3)), RNG.normal(size=(n, 3)), base_values=0.5,
                                     target=target, **kw)


@pytest.fixture
def no_array_work(monkeypatch):
    """Fail the test if a widget starts reading arrays (images, values) before rejecting its input."""
    def boom(*a, **k):
        raise AssertionError("the widget read an array before rejecting its input")

    monkeypatch.setattr(ser, "to_numpy", boom)
    monkeypatch.setattr(heatmap_overlay, "as_images", boom)
    monkeypatch.setattr(force_plot, "_as_attribution", boom)


# ------------------------------------------------------- a list instead of a dict
def test_list_of_attributions_into_heatmap_overlay(no_array_work):
    with pytest.raises(TypeError, match=r"pass a dict \{name: Attribution\}") as e:
        HeatmapOverlay(IMAGE, [image_attr("IG"), image_attr("CAM")])
    assert "list of 2 Attributions" in str(e.value)


def test_list_of_attributions_into_text_heatmap_points_to_a_dict(no_array_work):
    with pytest.raises(TypeError, match=r"pass a dict \{name: Attribution\}") as e:
        TextHeatmap(list("abcde"), [token_attr(), token_attr()])
    assert "list of 2 Attributions" in str(e.value) and "one row per method" in str(e.value)


def test_list_of_attributions_into_force_plot(no_array_work):
    a = tab_attr()
    with pytest.raises(TypeError, match=r"dict \{name: Attribution\}") as e:
        ForcePlot([a, a])
    msg = str(e.value)
    assert "ForcePlot shows one Attribution, got a list of 2" in msg and "attrs[0]" in msg
    assert "TextHeatmap" in msg and "HeatmapOverlay" in msg


def test_rows_iterated_out_of_an_attribution_are_a_list_too(no_array_work):
    a = tab_attr(n=3)
    with pytest.raises(TypeError, match="list of 3"):
        ForcePlot([a[0], a[1], a[2]])


def test_list_of_attention_maps_into_attention_view(no_array_work):
    maps = AttentionMaps(weights=np.full((1, 2, 3, 3), 1 / 3, dtype=np.float32))
    with pytest.raises(TypeError, match=r"extra=\{name: maps\}"):
        AttentionView([maps, maps])


# ------------------------------------------------ a multi-input kernel's tuple
@pytest.mark.parametrize("name", ["HeatmapOverlay", "TextHeatmap", "ForcePlot"])
def test_tuple_of_attributions_asks_for_one_input(name, no_array_work):
    if name == "HeatmapOverlay":
        pair = (image_attr(), image_attr())
        call = lambda: HeatmapOverlay(IMAGE, pair)  # noqa: E731
    elif name == "TextHeatmap":
        pair = (token_attr(), token_attr())
        call = lambda: TextHeatmap(list("abcde"), pair)  # noqa: E731
    else:
        pair = (tab_attr(), tab_attr())
        call = lambda: ForcePlot(pair)  # noqa: E731
    with pytest.raises(TypeError, match="one per model input") as e:
        call()
    assert "pick one, e.g. attrs[0]" in str(e.value) and name in str(e.value)


def test_tuple_as_a_dict_value(no_array_work):
    with pytest.raises(TypeError, match=r"attributions\['IG'\] is a tuple of 2 Attributions"):
        HeatmapOverlay(IMAGE, {"IG": (image_attr(), image_attr())})


def test_one_element_tuple_from_a_one_input_tuple_call(no_array_work):
    with pytest.raises(TypeError, match="tuple of 1 Attributions"):
        ForcePlot((tab_attr(),))


def test_valid_inputs_still_work():
    a, b = image_attr("IG"), image_attr("CAM")
    w = HeatmapOverlay(IMAGE, {"IG": a, "CAM": b})
    assert w.methods == ["IG", "CAM"]
    np.testing.assert_allclose(w._maps_full[0], a.values.sum(1), rtol=1e-6)
    # a plain list of numbers is still one row of values, not a list of results
    f = ForcePlot([0.1, -0.2, 0.3], base_values=1.0)
    np.testing.assert_allclose(f.outputs, [1.2])
    t = TextHeatmap(list("abc"), [[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(t.values, [[1.0, 2.0, 3.0]])


# --------------------------------------------------- ForcePlot over mixed classes
def test_force_plot_refuses_rows_explaining_different_classes():
    a = tab_attr(target=[0, 2, 0, 2], output_names=IRIS)
    with pytest.raises(ValueError, match="different outputs") as e:
        ForcePlot(a)
    msg = str(e.value)
    assert "0 ('setosa') in 2 rows" in msg and "2 ('virginica') in 2 rows" in msg
    assert "target=0 or target='setosa'" in msg
    # every mode: the index can move across rows, so no mode may mix them
    for mode in ("single", "waterfall", "stacked"):
        with pytest.raises(ValueError, match="different outputs"):
            ForcePlot(a, mode=mode)


def test_force_plot_mixed_classes_without_names():
    with pytest.raises(ValueError, match=r"\(1 in 3 rows, 4 in 1 row\)") as e:
        ForcePlot(tab_attr(target=[1, 4, 1, 1]))
    assert "target=1 in the kernel" in str(e.value)


def test_force_plot_one_class_one_row_and_all_as_before():
    shared = tab_attr(target=[2, 2, 2, 2], output_names=IRIS)
    w = ForcePlot(shared)
    assert w.n_samples == 4 and w.output_name == "virginica"
    np.testing.assert_allclose(w.outputs, 0.5 + shared.values.sum(1))
    assert ForcePlot(tab_attr(target=[0, 2, 0, 2])[1]).n_samples == 1
    assert ForcePlot(tab_attr()).output_name == "f(x)"
    multi = xw.Attribution(values=RNG.normal(size=(4, 3, 3)), target=np.arange(3), base_values=np.zeros((4, 3)),
                           params={"target": "all"})
    with pytest.raises(ValueError, match="multi-output attribution: pick one output"):
        ForcePlot(multi)


def test_force_plot_mixed_classes_from_a_kernel():
    # Linear model with 3 outputs; the rows are built so that their top classes differ.
    model = torch.nn.Linear(3, 3, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.eye(3))
    x = torch.tensor([[3.0, 0, 0], [0, 3.0, 0], [0, 0, 3.0]], dtype=torch.float64)
    bg = torch.zeros(4, 3, dtype=torch.float64)
    sv = xw.exact_shap(model, x, bg)
    np.testing.assert_array_equal(sv.target, [0, 1, 2])
    with pytest.raises(ValueError, match="3 different outputs"):
        ForcePlot(sv)
    one = xw.exact_shap(model, x, bg, target=1)
    w = ForcePlot(one)
    # exact Shapley values of a linear model: w_k * (x - E[bg]) -> only feature 1 moves output 1
    np.testing.assert_allclose(w.values, x.numpy() * np.array([0.0, 1.0, 0.0]), atol=1e-12)


# --------------------------------------------------------------- demo class names
def test_imagenet_labels_are_the_data_file_and_unique():
    from importlib import resources

    lines = resources.files("xai_widgets").joinpath("data/imagenet_classes.txt").read_text().splitlines()
    labels = demo.imagenet_labels()
    assert len(labels) == 1000 == len(set(labels))
    assert lines[282].split(",")[0] == labels[282] == "tiger cat"
    assert labels[134] == "crane (134)" and labels[517] == "crane (517)"


def test_class_name_target_on_the_demo_model(effnet, chelsea_input):
    assert effnet.output_names == demo.imagenet_labels()
    by_name = xw.saliency(effnet, chelsea_input, target="tiger cat")
    assert by_name.target.tolist() == [282]
    assert by_name.output_names[282] == "tiger cat"
    by_index = xw.saliency(effnet, chelsea_input, target=282)
    np.testing.assert_array_equal(by_name.values, by_index.values)
    with pytest.raises(ValueError, match="tiger cat"):  # a close match is offered
        xw.saliency(effnet, chelsea_input, target="tiger-cat")
