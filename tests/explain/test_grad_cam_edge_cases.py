"""Grad-CAM edge cases (issue 7): tuple inputs against captum's LayerGradCam, class names, scalar-like
targets, inference mode, and the errors a user's own CNN meets first."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import xai_widgets as xw


class ImageTable(nn.Module):
    """conv → conv2 → pooled features, joined with a table stream; the order of the inputs is configurable."""

    def __init__(self, k: int = 3, image_first: bool = True):
        super().__init__()
        self.image_first = image_first
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 5, 3, stride=2, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.tab = nn.Linear(4, 5)
        self.head = nn.Linear(5, k)

    def forward(self, a, b, scale=None):
        image, table = (a, b) if self.image_first else (b, a)
        h = torch.relu(self.conv2(torch.relu(self.conv1(image))))
        out = self.head(self.pool(h).flatten(1) * torch.tanh(self.tab(table)) + table[:, :1])
        return out if scale is None else out * scale[:, None]


class SmallCNN(nn.Module):
    def __init__(self, k: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 5, 3, stride=2, padding=1)
        self.fc = nn.Linear(5, k)

    def forward(self, x):
        return self.fc(torch.relu(self.conv2(torch.relu(self.conv1(x)))).mean((2, 3)))


class Calls:
    def __init__(self, model):
        self.rows = []
        self.handle = model.register_forward_pre_hook(lambda m, args: self.rows.append(args[0].shape[0]))


@pytest.fixture
def images():
    torch.manual_seed(1)
    return torch.randn(3, 3, 12, 10, dtype=torch.float64)


@pytest.fixture
def table():
    torch.manual_seed(2)
    return torch.randn(3, 4, dtype=torch.float64)


@pytest.fixture
def cnn():
    torch.manual_seed(0)
    return SmallCNN().double().eval()


def captum_cam(model, layer, inputs, target, size=None, **kw):
    from captum.attr import LayerAttribution, LayerGradCam

    raw = LayerGradCam(model, layer).attribute(inputs, target=target, relu_attributions=True, **kw)
    up = None if size is None else LayerAttribution.interpolate(raw, size, "bilinear")[:, 0].detach().numpy()
    return raw[:, 0].detach().numpy(), up


# -------------------------------------------------------------- tuple inputs
@pytest.mark.parametrize("image_first", [True, False])
def test_two_input_model_matches_captum_layer_grad_cam(images, table, state_check, image_first):
    torch.manual_seed(0)
    model = ImageTable(image_first=image_first).double().eval()
    inputs = (images, table) if image_first else (table, images)
    with state_check(model):
        res = xw.grad_cam(model, inputs, [0, 2, 1])
    raw, up = captum_cam(model, model.conv2, inputs, [0, 2, 1], size=(12, 10))
    assert isinstance(res, xw.Attribution)
    assert res.params["layer"] == "conv2"
    assert res.params["input"] == (0 if image_first else 1)
    assert raw.max() > 0
    np.testing.assert_allclose(res.params["raw"], raw, rtol=1e-9, atol=1e-12)
    assert res.values.shape == (3, 12, 10)  # the image's spatial size, whichever position it has
    np.testing.assert_allclose(res.values, up, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(res.data, images.numpy())
    with torch.no_grad():
        scores = model(*inputs)
    np.testing.assert_allclose(res.outputs, scores[np.arange(3), [0, 2, 1]].numpy(), rtol=1e-12)


def test_two_input_model_with_forward_kwargs_and_all_targets(images, table):
    torch.manual_seed(0)
    model = ImageTable().double().eval()
    scale = torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64)
    res = xw.grad_cam(model, (images, table), "all", forward_kwargs={"scale": scale}, upsample=None)
    assert res.values.shape == (3, 3, 6, 5)
    for k in range(3):
        raw, _ = captum_cam(model, model.conv2, (images, table), k, additional_forward_args=(scale,))
        np.testing.assert_allclose(res.values[:, k], raw, rtol=1e-9, atol=1e-12)


def test_parts_with_different_batch_sizes_fail_before_the_model_runs(images, table):
    model = ImageTable().double()
    counter = Calls(model)
    try:
        with pytest.raises(ValueError, match=r"share the batch size.*\(3, 3, 12, 10\), \(2, 4\)"):
            xw.grad_cam(model, (images, table[:2]))
    finally:
        counter.handle.remove()
    assert counter.rows == []


def test_unknown_class_name_with_tuple_inputs_fails_after_the_probe(images, table, state_check):
    model = ImageTable().double()
    counter = Calls(model)
    try:
        with state_check(model), pytest.raises(ValueError, match=r"'zebra' is not one of the 3 class names"):
            xw.grad_cam(model, (images, table), "zebra", output_names=["cat", "dog", "bird"])
    finally:
        counter.handle.remove()
    assert counter.rows == [1]


# ------------------------------------------------------- targets and names
def hand_cam(model, x, target):
    """Grad-CAM of conv2 written out with plain autograd (relu of the gradient-mean-weighted channels)."""
    a = torch.relu(model.conv1(x))
    a = model.conv2(a)
    a_leaf = a.detach().requires_grad_(True)
    scores = model.fc(torch.relu(a_leaf).mean((2, 3)))
    sel = scores[torch.arange(x.shape[0]), torch.as_tensor(target)]
    (g,) = torch.autograd.grad(sel.sum(), a_leaf)
    return (g.mean((2, 3), keepdim=True) * a_leaf).sum(1).clamp(min=0).detach().numpy()


@pytest.mark.parametrize(
    "target",
    [torch.tensor(2), torch.tensor([2]), np.int64(2), np.array([2])],
    ids=["0-d tensor", "one-element tensor", "numpy scalar", "one-element array"],
)
def test_scalar_like_targets_broadcast_to_every_row(cnn, images, target):
    res = xw.grad_cam(cnn, images, target)
    np.testing.assert_array_equal(res.target, [2, 2, 2])
    expect = hand_cam(cnn, images, [2, 2, 2])
    assert expect.max() > 0
    np.testing.assert_allclose(res.params["raw"], expect, rtol=1e-9, atol=1e-12)


def test_class_name_targets_and_names_stored(cnn, images):
    names = ["cat", "tiger cat", "dog"]
    res = xw.grad_cam(cnn, images, "tiger cat", output_names=names)
    assert res.output_names == names
    np.testing.assert_array_equal(res.target, [1, 1, 1])
    np.testing.assert_allclose(res.params["raw"], hand_cam(cnn, images, [1, 1, 1]), rtol=1e-9, atol=1e-12)
    per_row = xw.grad_cam(cnn, images, ["dog", "cat", "TIGER CAT"], output_names=names)
    np.testing.assert_array_equal(per_row.target, [2, 0, 1])
    np.testing.assert_allclose(per_row.params["raw"], hand_cam(cnn, images, [2, 0, 1]), rtol=1e-9, atol=1e-12)


def test_output_names_read_from_the_model(cnn, images):
    cnn.output_names = ["a", "b", "c"]
    try:
        res = xw.grad_cam(cnn, images, "c")
        wrong = ["only", "two"]
        cnn.output_names = wrong  # names of the wrong length are dropped, not trusted
        dropped = xw.grad_cam(cnn, images, 2)
    finally:
        del cnn.output_names
    assert res.output_names == ["a", "b", "c"]
    np.testing.assert_array_equal(res.target, [2, 2, 2])
    assert dropped.output_names is None
    np.testing.assert_allclose(res.values, dropped.values, atol=0)


# ------------------------------------------------------------ where users are
def test_works_under_inference_mode_as_outside(cnn, images):
    class Scaled(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x, scale=None):
            return self.inner(x) * scale[:, None]

    model = Scaled(cnn)
    scale = torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64)
    outside = xw.grad_cam(model, images, 1, forward_kwargs={"scale": scale}, plus_plus=True)
    with torch.inference_mode():
        xi, si = images.clone(), scale.clone()  # inference tensors, as users' preprocessing makes them
        inside = xw.grad_cam(model, xi, 1, forward_kwargs={"scale": si}, plus_plus=True)
    assert outside.values.max() > 0
    np.testing.assert_allclose(inside.values, outside.values, atol=0)
    np.testing.assert_allclose(inside.params["raw"], outside.params["raw"], atol=0)
    assert all(p.grad is None for p in cnn.parameters())


def test_unbatched_image_with_default_layer_says_add_the_batch_axis(cnn, images):
    counter = Calls(cnn)
    try:
        with pytest.raises(ValueError, match=r"shape \(3, 12, 10\).*Conv2d.*no batch axis.*inputs\[None\]"):
            xw.grad_cam(cnn, images[0])
    finally:
        counter.handle.remove()
    assert counter.rows == []


def test_unbatched_image_with_explicit_layer_names_the_shape_and_chains_the_error(cnn, images, state_check):
    with state_check(cnn), pytest.raises(ValueError, match=r"\(3, 12, 10\).*inputs\[None\]") as info:
        xw.grad_cam(cnn, images[0], layer="conv2")
    assert isinstance(info.value.__cause__, RuntimeError)  # conv2d's own error, kept as the cause


def test_model_returning_one_number_for_the_batch(cnn, images, state_check):
    class Summed(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x).sum()

    model = Summed(cnn)
    with state_check(model), pytest.raises(ValueError, match="one number"):
        xw.grad_cam(model, images)
