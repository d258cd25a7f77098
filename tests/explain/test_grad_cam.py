"""Grad-CAM / Grad-CAM++: hand-written formulas, Captum agreement, layer choice, model left as found."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import xai_widgets as xw


# ------------------------------------------------------------------ models
class SmallCNN(nn.Module):
    def __init__(self, k: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 5, 3, stride=2, padding=1)
        self.act2 = nn.ReLU(inplace=True)  # in-place right after the chosen layer
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(5, k)

    def features(self, x):
        return self.conv2(self.act1(self.conv1(x)))

    def head(self, a):
        return self.fc(self.pool(self.act2(a.clone())).flatten(1))

    def forward(self, x):
        return self.fc(self.pool(self.act2(self.features(x))).flatten(1))


class Block(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, 2, batch_first=True)
        self.norm2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """Patch conv → [cls] + tokens → 2 blocks → norm → head on the class token."""

    def __init__(self, d: int = 8, k: int = 4, patch: int = 4):
        super().__init__()
        self.patch = nn.Conv2d(3, d, patch, stride=patch)
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.5)
        self.blocks = nn.Sequential(Block(d), Block(d))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, k)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(t.shape[0], -1, -1), t], 1)
        return self.head(self.norm(self.blocks(t))[:, 0])


class CountCalls:
    """Counts forward calls and the rows they saw."""

    def __init__(self, model):
        self.calls, self.rows = 0, []
        self.handle = model.register_forward_pre_hook(self)

    def __call__(self, _m, args):
        self.calls += 1
        self.rows.append(args[0].shape[0])


@pytest.fixture
def cnn():
    torch.manual_seed(0)
    return SmallCNN().double()


@pytest.fixture
def images():
    torch.manual_seed(1)
    return torch.randn(3, 3, 12, 12, dtype=torch.float64)


# --------------------------------------------------------- hand formulas
def hand_act_grad(model, x, target):
    """Activations of conv2 and d score[target] / d activations, with plain autograd."""
    a = model.features(x).detach().requires_grad_(True)
    scores = model.head(a)
    sel = scores[torch.arange(x.shape[0]), torch.as_tensor(target)]
    (g,) = torch.autograd.grad(sel.sum(), a)
    return a.detach(), g, scores.detach()


def hand_grad_cam(a, g):
    n, c, h, w = a.shape
    cam = np.zeros((n, h, w))
    for i in range(n):
        for k in range(c):
            weight = g[i, k].sum() / (h * w)
            cam[i] += weight * a[i, k]
    return np.maximum(cam, 0)


def hand_grad_cam_pp(a, g):
    n, c, h, w = a.shape
    cam = np.zeros((n, h, w))
    for i in range(n):
        for k in range(c):
            s = a[i, k].sum()
            weight = 0.0
            for y in range(h):
                for x in range(w):
                    gi = g[i, k, y, x]
                    if gi == 0:
                        continue
                    alpha = gi**2 / (2 * gi**2 + s * gi**3 + 1e-6)
                    weight += alpha * max(gi, 0.0)
            cam[i] += weight * a[i, k]
    return np.maximum(cam, 0)


def upsample(raw, size):
    t = torch.as_tensor(raw)[:, None]
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[:, 0].numpy()


@pytest.mark.parametrize("plus_plus", [False, True])
def test_small_cnn_matches_hand_formula(cnn, images, plus_plus):
    target = [0, 2, 1]
    res = xw.grad_cam(cnn, images, target, plus_plus=plus_plus)
    a, g, scores = hand_act_grad(cnn, images, target)
    expect = (hand_grad_cam_pp if plus_plus else hand_grad_cam)(a.numpy(), g.numpy())
    assert res.params["layer"] == "conv2"
    assert res.method == ("grad_cam++" if plus_plus else "grad_cam")
    assert res.params["plus_plus"] is plus_plus
    assert expect.max() > 0
    np.testing.assert_allclose(res.params["raw"], expect, rtol=1e-9, atol=1e-12)
    assert res.values.shape == (3, 12, 12)
    np.testing.assert_allclose(res.values, upsample(expect, (12, 12)), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(res.target, target)
    np.testing.assert_allclose(res.outputs, scores.numpy()[np.arange(3), target], rtol=1e-12)
    np.testing.assert_array_equal(res.data, images.numpy())
    assert res.delta is None


def test_relu_off_keeps_negative_part(cnn, images):
    res = xw.grad_cam(cnn, images, 1, relu=False, upsample=None)
    a, g, _ = hand_act_grad(cnn, images, [1, 1, 1])
    signed = (g.mean(dim=(2, 3), keepdim=True) * a).sum(1).numpy()
    np.testing.assert_allclose(res.values, signed, rtol=1e-9, atol=1e-12)
    assert res.values.shape == res.params["raw"].shape == (3, 6, 6)


def test_target_variants(cnn, images):
    with torch.no_grad():
        top = cnn(images).argmax(1).numpy()
    default = xw.grad_cam(cnn, images)
    np.testing.assert_array_equal(default.target, top)
    by_row = xw.grad_cam(cnn, images, list(top))
    np.testing.assert_allclose(default.values, by_row.values)

    every = xw.grad_cam(cnn, images, "all")
    assert every.values.shape == (3, 3, 12, 12)
    assert every.params["raw"].shape == (3, 3, 6, 6)
    np.testing.assert_array_equal(every.target, [0, 1, 2])
    assert every.outputs.shape == (3, 3)
    for k in range(3):
        a, g, scores = hand_act_grad(cnn, images, [k] * 3)
        np.testing.assert_allclose(every.params["raw"][:, k], hand_grad_cam(a.numpy(), g.numpy()), atol=1e-12)
        np.testing.assert_allclose(every.outputs[:, k], scores[:, k].numpy())


# ---------------------------------------------------------- real model
def test_efficientnet_picks_conv_head_and_matches_captum(effnet, chelsea_input, state_check):
    from captum.attr import LayerAttribution, LayerGradCam

    with state_check(effnet):
        res = xw.grad_cam(effnet, chelsea_input)
    assert res.params["layer"] == "_conv_head"
    assert res.values.shape == (1, 224, 224)
    assert res.params["raw"].shape == (1, 7, 7)
    t = int(res.target[0])
    lgc = LayerGradCam(effnet, effnet._conv_head).attribute(chelsea_input, target=t, relu_attributions=True)
    ref = LayerAttribution.interpolate(lgc, (224, 224), "bilinear").detach().numpy()[:, 0]
    assert np.corrcoef(ref.ravel(), res.values.ravel())[0, 1] >= 0.99
    with torch.no_grad():
        logits = effnet(chelsea_input)
    assert t == int(logits.argmax())
    np.testing.assert_allclose(res.outputs, logits[0, t].numpy(), rtol=1e-5)


def test_efficientnet_reused_module_is_rejected(effnet, chelsea_input, state_check):
    counter = CountCalls(effnet)
    try:
        with state_check(effnet), pytest.raises(ValueError, match="ran 2 times"):
            xw.grad_cam(effnet, chelsea_input.expand(2, -1, -1, -1), layer="_blocks.1._swish")
    finally:
        counter.handle.remove()
    assert counter.rows == [1]  # only the one-row probe ran


# --------------------------------------------------------------- tokens
def hand_vit(model, x, target, layer_mod, drop=1):
    store = {}
    h = layer_mod.register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    try:
        scores = model(x)
    finally:
        h.remove()
    a = store["a"]
    sel = scores[torch.arange(x.shape[0]), torch.as_tensor(target)]
    (g,) = torch.autograd.grad(sel.sum(), a)
    return a.detach()[:, drop:], g[:, drop:]


@pytest.mark.parametrize("size", [(16, 16), (16, 32)])
def test_vit_tokens_reshaped_to_grid(size, state_check):
    torch.manual_seed(0)
    model = TinyViT().double().eval()
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    gh, gw = size[0] // 4, size[1] // 4
    with state_check(model):
        res = xw.grad_cam(model, x, [1, 3], layer="blocks.1.norm1")
    a, g = hand_vit(model, x, [1, 3], model.blocks[1].norm1)  # (N, h*w, D) after the class token
    weights = g.mean(1, keepdim=True)  # mean over tokens = mean over the grid
    expect = (weights * a).sum(2).clamp(min=0).reshape(2, gh, gw).numpy()
    assert res.params["dropped_tokens"] == 1
    assert res.params["raw"].shape == (2, gh, gw)
    np.testing.assert_allclose(res.params["raw"], expect, rtol=1e-9, atol=1e-12)
    assert res.values.shape == (2, *size)
    assert expect.max() > 0


def test_vit_plus_plus_and_all_on_module_object():
    torch.manual_seed(0)
    model = TinyViT().double().eval()
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    res = xw.grad_cam(model, x, "all", layer=model.blocks[1].norm1, plus_plus=True)
    assert res.params["layer"] == "blocks.1.norm1"
    assert res.values.shape == (2, 4, 16, 16)
    a, g = hand_vit(model, x, [2, 2], model.blocks[1].norm1)
    a = a.transpose(1, 2).reshape(2, 8, 4, 4).numpy()
    g = g.transpose(1, 2).reshape(2, 8, 4, 4).numpy()
    np.testing.assert_allclose(res.params["raw"][:, 2], hand_grad_cam_pp(a, g), rtol=1e-8, atol=1e-12)


def test_vit_without_layer_asks_for_one():
    model = TinyViT().eval()
    with pytest.raises(ValueError, match="layer= explicitly"):
        xw.grad_cam(model, torch.randn(1, 3, 16, 16))


# ------------------------------------------------------ as found / errors
class BNDropNet(nn.Module):
    def __init__(self, fail: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4, 3)
        self.fail = fail

    def forward(self, x):
        h = self.drop(torch.relu(self.bn(self.conv(x))))
        if self.fail and x.shape[0] > 1:
            raise RuntimeError("boom")
        return self.fc(h.mean((2, 3)))


def test_train_mode_model_left_as_found_and_deterministic(state_check):
    torch.manual_seed(0)
    model = BNDropNet().train()
    x = torch.randn(4, 3, 8, 8)
    with state_check(model):
        r1 = xw.grad_cam(model, x, 0)
        r2 = xw.grad_cam(model, x, 0)
    assert model.training and model.bn.training
    np.testing.assert_allclose(r1.values, r2.values)  # eval mode inside: no dropout noise
    assert r1.params["layer"] == "conv"


def test_left_as_found_after_exception_in_forward(state_check):
    model = BNDropNet(fail=True).train()
    with state_check(model), pytest.raises(RuntimeError, match="boom"):
        xw.grad_cam(model, torch.randn(3, 3, 8, 8))
    assert model.training


def test_works_under_no_grad(cnn, images):
    ref = xw.grad_cam(cnn, images, 1)
    with torch.no_grad():
        res = xw.grad_cam(cnn, images, 1)
    np.testing.assert_allclose(res.values, ref.values)
    assert ref.values.max() > 0


@pytest.mark.parametrize(
    "kwargs, exc, match, rows",
    [
        (dict(target=3), ValueError, "out of range", [1]),
        (dict(target=[0, 1]), ValueError, "2 entries", [1]),
        (dict(target="top"), ValueError, "class names are not known", [1]),
        (dict(target="brid", output_names=["cat", "bird", "dog"]), ValueError,
         r"'brid' is not one of the 3 class names; close matches: \['bird'\]", [1]),
        (dict(output_names=["cat", "dog"]), ValueError, "2 names but the model has 3 outputs", [1]),
        (dict(output_names="cat"), TypeError, "output_names", []),
        (dict(target=1.5), TypeError, "target", [1]),
        (dict(layer="nope"), ValueError, "no submodule", []),
        (dict(layer=nn.Conv2d(1, 1, 1)), ValueError, "not a submodule", []),
        (dict(layer="fc"), ValueError, "no spatial axes", [1]),
        (dict(layer="act1", upsample="cubic"), ValueError, "upsample", []),
        (dict(plus_plus="yes"), TypeError, "plus_plus", []),
        (dict(forward_kwargs=[1]), TypeError, "forward_kwargs", []),
    ],
)
def test_bad_arguments_fail_before_full_batch(cnn, images, state_check, kwargs, exc, match, rows):
    counter = CountCalls(cnn)
    try:
        with state_check(cnn), pytest.raises(exc, match=match):
            xw.grad_cam(cnn, images, **kwargs)
    finally:
        counter.handle.remove()
    assert counter.rows == rows


@pytest.mark.parametrize(
    "inputs, exc, match",
    [
        (torch.full((2, 3, 12, 12), float("nan"), dtype=torch.float64), ValueError, "NaN"),
        (torch.zeros((2, 3, 12, 12), dtype=torch.long), TypeError, "floating"),
        ([[1.0]], TypeError, "torch.Tensor"),
        (torch.zeros(12, dtype=torch.float64), ValueError, "batched"),
    ],
)
def test_bad_inputs_fail_before_the_model_runs(cnn, inputs, exc, match):
    counter = CountCalls(cnn)
    try:
        with pytest.raises(exc, match=match):
            xw.grad_cam(cnn, inputs)
    finally:
        counter.handle.remove()
    assert counter.calls == 0


def test_rejects_non_module():
    with pytest.raises(TypeError, match="nn.Module"):
        xw.grad_cam(lambda x: x, torch.zeros(1, 3, 4, 4))


def test_model_without_conv_needs_layer():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    with pytest.raises(ValueError, match="has none"):
        xw.grad_cam(model, torch.zeros(1, 3, 2, 2))


def test_layer_that_does_not_feed_output():
    class Side(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 1)
            self.unused = nn.Conv2d(3, 2, 1)
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            self.unused(x)  # runs, but the scores do not depend on it
            return self.fc(self.conv(x).mean((2, 3)).repeat(1, 2)[:, :3])

    model = Side()
    res = xw.grad_cam(model, torch.randn(2, 3, 4, 4))
    assert res.params["layer"] == "conv"  # traced: the last conv that feeds the output
    with pytest.raises(ValueError, match="do not depend"):
        xw.grad_cam(model, torch.randn(2, 3, 4, 4), layer="unused")


def test_conv1d_signal_model():
    torch.manual_seed(5)
    model = nn.Sequential(
        nn.Conv1d(2, 3, 3, padding=1), nn.ReLU(), nn.Conv1d(3, 4, 3, stride=2), nn.ReLU(),
        nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(4, 2),
    ).double()
    x = torch.randn(2, 2, 15, dtype=torch.float64)
    res = xw.grad_cam(model, x, 1)
    assert res.params["layer"] == "2"
    a = model[:3](x).detach().requires_grad_(True)
    (g,) = torch.autograd.grad(model[3:](a)[:, 1].sum(), a)
    raw = (g.mean(2, keepdim=True) * a).sum(1).clamp(min=0).detach()
    np.testing.assert_allclose(res.params["raw"], raw.numpy(), rtol=1e-9, atol=1e-12)
    up = F.interpolate(raw[:, None], size=15, mode="linear", align_corners=False)[:, 0]
    np.testing.assert_allclose(res.values, up.numpy(), rtol=1e-9, atol=1e-12)


def test_forward_kwargs_and_output_function(cnn, images):
    class Wrapped(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x, scale=None):
            return {"scores": self.inner(x) * scale[:, None]}

    scale = torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64)
    model = Wrapped(cnn)
    res = xw.grad_cam(model, images, 2, forward_kwargs={"scale": scale}, output=lambda o: o["scores"],
                      relu=False, upsample=None)
    assert res.params["layer"] == "inner.conv2"
    a, g, scores = hand_act_grad(cnn, images, [2, 2, 2])
    g = g * scale[:, None, None, None]
    expect = (g.mean(dim=(2, 3), keepdim=True) * a).sum(1).numpy()
    np.testing.assert_allclose(res.values, expect, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.outputs, scores[:, 2].numpy() * scale.numpy(), rtol=1e-12)
