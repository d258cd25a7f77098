"""Gradient kernels at the edges a user's own model and data reach: a CNN given an image
without batch axis, a model returning one number, 0-d / one-element tensor targets,
torch.inference_mode(), a uint8 HWC image, class names (output_names, target="name"),
and the docstring layout (Parameters first)."""
from __future__ import annotations

import inspect
import re
import types

import numpy as np
import pytest
import torch

import xai_widgets as xw
from counting import RowCounter

KERNELS = {
    "saliency": lambda m, x, **kw: xw.saliency(m, x, **kw),
    "input_x_gradient": lambda m, x, **kw: xw.input_x_gradient(m, x, **kw),
    "integrated_gradients": lambda m, x, **kw: xw.integrated_gradients(m, x, steps=4, **kw),
    "smoothgrad": lambda m, x, **kw: xw.smoothgrad(m, x, samples=3, **kw),
}


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.act = torch.nn.Softplus()
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(4, 6)

    def forward(self, x):
        return self.fc(self.pool(self.act(self.conv(x))).flatten(1))


@pytest.fixture
def cnn():
    return SmallCNN()


@pytest.fixture
def images():
    return torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))


# ------------------------------------------------- the model fails on its first call
@pytest.mark.parametrize("name", list(KERNELS))
def test_image_without_batch_axis(cnn, images, state_check, name):
    counter = RowCounter(cnn)
    try:
        with state_check(cnn):
            with pytest.raises(ValueError, match=r"\(3, 8, 8\).*ONE image.*inputs\[None\]") as info:
                KERNELS[name](cnn, images[0])
    finally:
        counter.close()
    assert isinstance(info.value.__cause__, RuntimeError)  # torch's own error stays chained
    assert "shape (1, 8, 8)" in str(info.value)  # what the model was given
    assert counter.calls == 1 and counter.rows == 1


@pytest.mark.parametrize("name", list(KERNELS))
def test_two_dimensional_input_into_cnn(cnn, images, name):
    with pytest.raises(ValueError, match=r"\(8, 8\).*inputs\[None\]") as info:
        KERNELS[name](cnn, images[0, 0])
    assert isinstance(info.value.__cause__, RuntimeError)


def test_missing_batch_axis_with_layer(cnn, images, state_check):
    with state_check(cnn):
        with pytest.raises(ValueError, match="ONE image") as info:
            xw.integrated_gradients(cnn, images[0], layer=cnn.act, steps=2)
    assert isinstance(info.value.__cause__, RuntimeError)


@pytest.mark.parametrize("name", list(KERNELS))
def test_model_returning_one_number(cnn, images, name):
    class Summed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = cnn

        def forward(self, x):
            return self.inner(x).sum()

    with pytest.raises(ValueError, match=r"one number \(a 0-d tensor\) for the whole batch"):
        KERNELS[name](Summed(), images)


def test_layer_errors_are_not_reported_as_model_failures(images):
    """The tap's own error (a layer whose output is not a tensor) keeps its type and message."""

    class Pair(torch.nn.Module):
        def forward(self, x):
            return {"a": x}

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.pair = Pair()
            self.lin = torch.nn.Linear(8, 2)

        def forward(self, x):
            return self.lin(self.pair(x)["a"]).mean((1, 2))

    with pytest.raises(TypeError, match="returned dict; layer attribution needs"):
        xw.saliency(M(), images, layer="pair")


# ------------------------------------------------------------------- targets
@pytest.mark.parametrize(
    "target", [torch.tensor(5), torch.tensor([5]), np.int64(5), np.array([5]), np.array(5)], ids=repr
)
@pytest.mark.parametrize("name", list(KERNELS))
def test_scalar_and_one_element_targets(cnn, images, target, name):
    ref = KERNELS[name](cnn, images, target=5)
    a = KERNELS[name](cnn, images, target=target)
    np.testing.assert_array_equal(a.target, [5, 5, 5])
    np.testing.assert_allclose(a.values, ref.values, rtol=1e-6, atol=1e-9)
    with torch.no_grad():
        np.testing.assert_allclose(a.outputs, cnn(images)[:, 5].numpy(), rtol=1e-5)


# ------------------------------------------------------------ inference mode
@pytest.mark.parametrize(
    "call",
    [
        lambda m, x, kw: xw.saliency(m, x, target=2, **kw),
        lambda m, x, kw: xw.input_x_gradient(m, x, target=2, **kw),
        lambda m, x, kw: xw.integrated_gradients(m, x, target=2, steps=5, baseline=torch.full((3, 8, 8), 0.5), **kw),
        lambda m, x, kw: xw.integrated_gradients(m, x, target=2, steps=12, method="adaptive", **kw),
        lambda m, x, kw: xw.integrated_gradients(m, x, target=2, steps=4, layer="net.act", **kw),
        lambda m, x, kw: xw.smoothgrad(m, x, target=2, samples=3, **kw),
        lambda m, x, kw: xw.smoothgrad(m, x, target=2, samples=2, base="integrated_gradients", steps=3, **kw),
    ],
    ids=["saliency", "input_x_gradient", "ig", "ig_adaptive", "ig_layer", "smoothgrad", "smoothgrad_ig"],
)
def test_inference_mode_same_as_outside(cnn, images, state_check, call):
    class Scaled(torch.nn.Module):  # forward kwargs, per row and shared, created in inference mode below
        def __init__(self):
            super().__init__()
            self.net = cnn

        def forward(self, x, scale, weight):
            return self.net(x) * scale[:, None] * weight

    model = Scaled().train()
    scale, weight = torch.tensor([1.0, -2.0, 0.5]), torch.linspace(0.5, 1.5, 6)
    ref = call(model, images, {"forward_kwargs": {"scale": scale, "weight": weight}})
    with state_check(model):
        with torch.inference_mode():
            x_inf = images.clone()  # an inference tensor, as a user's data loader would make it
            s_inf, w_inf = scale.clone(), weight.clone()
            assert x_inf.is_inference()
            a = call(model, x_inf, {"forward_kwargs": {"scale": s_inf, "weight": w_inf}})
            assert torch.is_inference_mode_enabled()  # the caller's mode is back
    assert model.training
    np.testing.assert_allclose(a.values, ref.values, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(a.outputs, ref.outputs, rtol=1e-6)


def test_inference_mode_tuple_inputs_and_callable_baseline(state_check):
    class Two(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(1)
            self.a, self.b = torch.nn.Linear(4, 2), torch.nn.Linear(3, 2)

        def forward(self, x1, x2):
            return torch.tanh(self.a(x1) + self.b(x2))

    model = Two()
    g = torch.Generator().manual_seed(2)
    x1, x2 = torch.randn(2, 4, generator=g), torch.randn(2, 3, generator=g)
    ref = xw.integrated_gradients(model, (x1, x2), target=1, baseline=lambda xs: tuple(x.mean(0) for x in xs), steps=6)
    with state_check(model):
        with torch.inference_mode():
            a = xw.integrated_gradients(
                model, (x1.clone(), x2.clone()), target=1, baseline=lambda xs: tuple(x.mean(0) for x in xs), steps=6
            )
    for r, b in zip(ref, a):
        np.testing.assert_allclose(b.values, r.values, rtol=1e-6)
        np.testing.assert_allclose(b.delta, r.delta, atol=1e-6)


# ---------------------------------------------------------- uint8 HWC image
def test_uint8_hwc_image_message(cnn):
    img = np.random.default_rng(0).integers(0, 255, size=(1, 8, 8, 3), dtype=np.uint8)
    counter = RowCounter(cnn)
    try:
        with pytest.raises(TypeError) as info:
            xw.integrated_gradients(cnn, img)
        msg = str(info.value)
        for part in ("shape (1, 8, 8, 3)", "torch.uint8", "HWC", "channels last",
                     "torch.as_tensor(img).permute(0, 3, 1, 2).float() / 255"):
            assert part in msg, (part, msg)
        with pytest.raises(TypeError, match=re.escape("torch.as_tensor(img)[None].permute(0, 3, 1, 2)")):
            xw.saliency(cnn, img[0])  # one HWC image, no batch axis
        with pytest.raises(TypeError, match=r"inputs\[1\] has shape \(1, 8, 8, 3\)"):
            xw.saliency(cnn, (torch.zeros(1, 3, 8, 8), img))
    finally:
        counter.close()
    assert counter.calls == 0
    # the conversion the message shows does run
    x = torch.as_tensor(img).permute(0, 3, 1, 2).float() / 255
    assert xw.saliency(cnn, x).shape == (1, 3, 8, 8)


# ---------------------------------------------------------------- class names
NAMES = ["cat", "dog", "tiger cat", "rocket", "coffee", "astronaut"]


@pytest.mark.parametrize("name", list(KERNELS))
def test_output_names_and_class_name_targets(cnn, images, name):
    a = KERNELS[name](cnn, images, target="rocket", output_names=NAMES)
    ref = KERNELS[name](cnn, images, target=3)
    np.testing.assert_array_equal(a.target, [3, 3, 3])
    np.testing.assert_allclose(a.values, ref.values, rtol=1e-6, atol=1e-9)
    assert a.output_names == NAMES and ref.output_names is None
    b = KERNELS[name](cnn, images, target=["dog", "Coffee", "tiger cat"], output_names=NAMES)  # one per row
    np.testing.assert_array_equal(b.target, [1, 4, 2])
    c = KERNELS[name](cnn, images, output_names=NAMES)  # top class, names stored
    assert c.output_names == NAMES


def test_output_names_read_from_the_model(cnn, images):
    cnn.output_names = NAMES  # as the demo models set it
    a = xw.saliency(cnn, images, target="coffee")
    np.testing.assert_array_equal(a.target, [4, 4, 4])
    assert a.output_names == NAMES
    cnn.output_names = NAMES[:5]  # automatic names of the wrong length are dropped, not trusted
    assert xw.saliency(cnn, images, target=1).output_names is None
    del cnn.output_names
    cnn.config = types.SimpleNamespace(id2label={i: n.upper() for i, n in enumerate(NAMES)})  # Hugging Face style
    a = xw.integrated_gradients(cnn, images, target="ROCKET", steps=2)
    assert a.output_names == [n.upper() for n in NAMES] and list(a.target) == [3, 3, 3]


def test_tuple_results_carry_output_names():
    class Two(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(4, 3), torch.nn.Linear(2, 3)

        def forward(self, x1, x2):
            return self.a(x1) + self.b(x2)

    r = xw.integrated_gradients(Two(), (torch.randn(2, 4), torch.randn(2, 2)), target="neg", output_names=["neg", "neu", "pos"])
    assert all(a.output_names == ["neg", "neu", "pos"] for a in r)
    assert all(list(a.target) == [0, 0] for a in r)


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"target": "tiger", "output_names": NAMES}, ValueError, r"'tiger' is not one of the 6 class names.*tiger cat"),
        ({"target": "cat"}, ValueError, "class names are not known"),
        ({"output_names": NAMES[:4]}, ValueError, "output_names has 4 names but the model has 6 outputs"),
        ({"output_names": "cat"}, TypeError, "output_names"),
        ({"target": ["cat", "dog"], "output_names": NAMES}, ValueError, "2 entries"),
    ],
)
@pytest.mark.parametrize("name", list(KERNELS))
def test_bad_class_names_fail_before_work(cnn, images, name, kwargs, err, match):
    counter = RowCounter(cnn)
    try:
        with pytest.raises(err, match=match):
            KERNELS[name](cnn, images, **kwargs)
    finally:
        counter.close()
    assert counter.rows <= 1


# ------------------------------------------------------------------ docstrings
@pytest.mark.parametrize("fn", [xw.saliency, xw.input_x_gradient, xw.integrated_gradients, xw.smoothgrad])
def test_docstring_parameters_first(fn):
    doc = inspect.getdoc(fn)
    lines = doc.splitlines()
    heads = [i for i in range(1, len(lines)) if set(lines[i]) == {"-"} and lines[i - 1].strip()]
    titles = [lines[i - 1].strip() for i in heads]
    assert titles[0] == "Parameters", titles
    summary = "\n".join(lines[: heads[0] - 1]).strip()
    assert "\n\n" not in summary, f"{fn.__name__}: one summary paragraph before Parameters"
    order = ["Parameters", "Returns", "Notes", "Example"]
    assert [t for t in titles if t in order] == [t for t in order if t in titles]
    assert "Returns" in titles and titles[-1] in ("Example", "Examples")
    # every keyword the function takes is described
    params_text = "\n".join(lines[heads[0] : heads[1] - 1])
    for p in inspect.signature(fn).parameters:
        assert re.search(rf"\b{p}\b", params_text), f"{fn.__name__}: parameter {p} not documented"
