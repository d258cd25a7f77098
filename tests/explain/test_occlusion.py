"""Occlusion: equal to captum.attr.Occlusion, closed form on a linear model, chunking, errors, state."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import xai_widgets as xw


def captum_occlusion(model, x, target, window, stride, baseline=0.0, ppe=64, **kw):
    from captum.attr import Occlusion

    with torch.no_grad():
        return Occlusion(model).attribute(
            x, sliding_window_shapes=window, strides=stride, baselines=baseline, target=target,
            perturbations_per_eval=ppe, **kw
        ).numpy()


class SmallCNN(nn.Module):
    def __init__(self, k: int = 4):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 4, 3, stride=2), nn.Tanh(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, k),
        )

    def forward(self, x):
        return self.net(x)


class CountCalls:
    def __init__(self, model):
        self.rows = []
        self.handle = model.register_forward_pre_hook(lambda m, args: self.rows.append(args[0].shape[0]))


@pytest.fixture
def cnn():
    torch.manual_seed(0)
    return SmallCNN().double().eval()


@pytest.fixture
def images():
    torch.manual_seed(1)
    return torch.randn(2, 3, 11, 13, dtype=torch.float64)


# ------------------------------------------------------------ closed form
def test_linear_model_single_element_windows_are_w_times_x_minus_b(linear_model):
    torch.manual_seed(2)
    x = torch.randn(4, 6, dtype=torch.float64)
    res = xw.occlusion(linear_model, x, 1, window=1, stride=1, baseline=0.5)
    w = linear_model.weight.detach().numpy()[1]
    np.testing.assert_allclose(res.values, w * (x.numpy() - 0.5), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.outputs, (x @ linear_model.weight.T + linear_model.bias)[:, 1].detach().numpy())
    assert res.method == "occlusion" and res.delta is None


def test_linear_model_overlapping_windows_average_window_drops(linear_model):
    # window 3, stride 2 over 6 features → windows [0,3), [2,5), [4,6) (the last one cut off)
    x = torch.arange(1.0, 7.0, dtype=torch.float64)[None]
    res = xw.occlusion(linear_model, x, 0, window=3, stride=2)
    contrib = linear_model.weight.detach().numpy()[0] * x.numpy()[0]
    windows = [range(0, 3), range(2, 5), range(4, 6)]
    drops = [contrib[list(r)].sum() for r in windows]
    expect = [np.mean([d for d, r in zip(drops, windows) if i in r]) for i in range(6)]
    np.testing.assert_allclose(res.values[0], expect, rtol=1e-12)
    assert res.params["windows"] == 3


# ------------------------------------------------------------------ captum
@pytest.mark.parametrize(
    "window, stride",
    [((3, 4, 4), (3, 2, 2)), ((1, 3, 5), (1, 3, 4)), ((3, 11, 13), 1), ((2, 5, 3), (1, 4, 2)), (2, 1)],
)
def test_matches_captum_small_cnn(cnn, images, window, stride):
    res = xw.occlusion(cnn, images, [1, 3], window=window, stride=stride, batch_size=5)
    w = window if isinstance(window, tuple) else (window,) * 3
    ref = captum_occlusion(cnn, images, [1, 3], w, stride)
    assert res.values.shape == images.shape
    np.testing.assert_allclose(res.values, ref, atol=1e-6, rtol=1e-5)


def test_tensor_baseline_matches_captum(cnn, images):
    torch.manual_seed(3)
    base = torch.randn(3, 11, 13, dtype=torch.float64)
    res = xw.occlusion(cnn, images, 2, window=(3, 3, 3), stride=(3, 2, 2), baseline=base)
    ref = captum_occlusion(cnn, images, 2, (3, 3, 3), (3, 2, 2), baseline=base[None])
    np.testing.assert_allclose(res.values, ref, atol=1e-6, rtol=1e-5)
    assert res.params["baseline"] == "tensor"


def test_forward_kwargs_follow_their_rows():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(5, 3)

        def forward(self, x, scale=None):
            return torch.tanh(self.fc(x)) * scale[:, None]

    torch.manual_seed(4)
    model = Scaled().double()
    x = torch.randn(3, 5, dtype=torch.float64)
    scale = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    res = xw.occlusion(model, x, 0, window=2, stride=1, batch_size=3, forward_kwargs={"scale": scale})
    ref = captum_occlusion(model, x, 0, (2,), 1, additional_forward_args=(scale,))
    np.testing.assert_allclose(res.values, ref, atol=1e-6, rtol=1e-5)


def test_efficientnet_matches_captum(effnet, chelsea_input, state_check):
    # 3 × 3 windows; the last window in each direction hangs over the edge (cut off)
    with state_check(effnet):
        res = xw.occlusion(effnet, chelsea_input, window=(3, 112, 112), stride=(3, 80, 80))
    t = int(res.target[0])
    with torch.no_grad():
        logits = effnet(chelsea_input)
    assert t == int(logits.argmax())
    ref = captum_occlusion(effnet, chelsea_input, t, (3, 112, 112), (3, 80, 80), ppe=9)
    np.testing.assert_allclose(res.values, ref, atol=1e-5, rtol=0)
    assert np.abs(ref).max() > 0.01
    assert res.params["windows"] == 9
    np.testing.assert_allclose(res.outputs, logits[0, t].numpy(), rtol=1e-5)


# ---------------------------------------------------------------- targets
def test_target_variants(cnn, images):
    with torch.no_grad():
        top = cnn(images).argmax(1).numpy()
    kw = dict(window=(3, 4, 4), stride=(3, 3, 3))
    default = xw.occlusion(cnn, images, **kw)
    np.testing.assert_array_equal(default.target, top)
    every = xw.occlusion(cnn, images, "all", **kw)
    assert every.values.shape == (2, 4, 3, 11, 13)
    assert every.outputs.shape == (2, 4)
    np.testing.assert_array_equal(every.target, np.arange(4))
    for k in range(4):
        ref = captum_occlusion(cnn, images, k, (3, 4, 4), (3, 3, 3))
        np.testing.assert_allclose(every.values[:, k], ref, atol=1e-6, rtol=1e-5)
    np.testing.assert_allclose(every.values[np.arange(2), top], default.values, atol=1e-12)


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_chunking_does_not_change_the_result(cnn, images, batch_size):
    kw = dict(window=(3, 5, 5), stride=(3, 3, 3))
    ref = xw.occlusion(cnn, images, 0, batch_size=4, **kw)
    res = xw.occlusion(cnn, images, 0, batch_size=batch_size, **kw)
    np.testing.assert_allclose(res.values, ref.values, atol=1e-12)


def test_rows_per_forward_are_capped(cnn, images):
    counter = CountCalls(cnn)
    try:
        res = xw.occlusion(cnn, images, 0, window=(3, 5, 5), stride=(3, 3, 3), batch_size=6)
    finally:
        counter.handle.remove()
    n_win = res.params["windows"]  # 3 × 4 = 12 windows per row
    assert n_win == 12
    assert counter.rows[0] == 1  # one-row probe
    assert max(counter.rows) <= 6
    assert sum(counter.rows[2:]) == 2 * n_win  # probe, f(x) once, then the occluded copies


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
        if self.fail and x.shape[0] > 1:
            raise RuntimeError("boom")
        return self.fc(self.drop(torch.relu(self.bn(self.conv(x)))).mean((2, 3)))


def test_train_mode_model_left_as_found(state_check):
    torch.manual_seed(0)
    model = BNDropNet().train()
    x = torch.randn(2, 3, 6, 6)
    with state_check(model):
        r1 = xw.occlusion(model, x, 1, window=(3, 2, 2), stride=(3, 2, 2))
        r2 = xw.occlusion(model, x, 1, window=(3, 2, 2), stride=(3, 2, 2))
    assert model.training and model.drop.training
    np.testing.assert_allclose(r1.values, r2.values)


def test_left_as_found_after_exception_in_forward(state_check):
    model = BNDropNet(fail=True).train()
    with state_check(model), pytest.raises(RuntimeError, match="boom"):
        xw.occlusion(model, torch.randn(2, 3, 6, 6), window=(3, 2, 2), stride=(3, 2, 2))
    assert model.training


def test_works_under_no_grad_and_keeps_no_graph(cnn, images):
    ref = xw.occlusion(cnn, images, 1, window=(3, 4, 4), stride=(3, 4, 4))
    with torch.no_grad():
        res = xw.occlusion(cnn, images, 1, window=(3, 4, 4), stride=(3, 4, 4))
    np.testing.assert_allclose(res.values, ref.values)
    assert all(p.grad is None for p in cnn.parameters())


def test_progress_bar_with_many_chunks(cnn, images, capsys, monkeypatch):
    from xai_widgets.explain import _progress

    monkeypatch.setattr(_progress, "DELAY", 0.0)  # show at once (normally after a second of work)
    res = xw.occlusion(cnn, images, 0, window=(3, 2, 2), stride=(3, 2, 2), batch_size=2)
    assert res.params["windows"] == 42  # 6 × 7 windows per row → 42 chunks of 2
    assert "occlusion" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kwargs, exc, match, rows",
    [
        (dict(window=(3, 4)), ValueError, "3 axes", []),
        (dict(window=(3, 12, 4)), ValueError, "does not fit", []),
        (dict(window=(3, 4, 4), stride=(1, 5, 2)), ValueError, "larger than the window", []),
        (dict(window=(3, 4, 0)), ValueError, ">= 1", []),
        (dict(window=(3.0, 4, 4)), TypeError, "tuple of ints", []),
        (dict(stride=True), TypeError, "stride", []),
        (dict(baseline=torch.zeros(2, 3, 5)), ValueError, "does not broadcast", []),
        (dict(baseline=float("nan")), ValueError, "NaN", []),
        (dict(baseline="zero"), TypeError, "baseline", []),
        (dict(batch_size=0), ValueError, "batch_size", []),
        (dict(target=4), ValueError, "out of range", [1]),
        (dict(target=[1, 2, 3]), ValueError, "3 entries", [1]),
        (dict(target="every"), ValueError, "class names are not known", [1]),
        (dict(target="tigr cat", output_names=["cat", "dog", "tiger cat", "lion"]), ValueError,
         r"not one of the 4 class names; close matches: \['tiger cat'", [1]),
        (dict(output_names=["cat", "dog"]), ValueError, "2 names but the model has 4 outputs", [1]),
        (dict(output=3), TypeError, "output", []),
    ],
)
def test_bad_arguments_fail_before_full_batch(cnn, images, state_check, kwargs, exc, match, rows):
    kwargs = {"window": (3, 4, 4), "stride": (3, 2, 2), **kwargs}
    counter = CountCalls(cnn)
    try:
        with state_check(cnn), pytest.raises(exc, match=match):
            xw.occlusion(cnn, images, **kwargs)
    finally:
        counter.handle.remove()
    assert counter.rows == rows


def test_bad_inputs_fail_before_the_model_runs(cnn):
    counter = CountCalls(cnn)
    try:
        with pytest.raises(ValueError, match="NaN"):
            xw.occlusion(cnn, torch.full((1, 3, 8, 8), float("inf"), dtype=torch.float64), window=2, stride=2)
        with pytest.raises(TypeError, match="nn.Module"):
            xw.occlusion(lambda x: x, torch.zeros(1, 3, 8, 8))
        with pytest.raises(ValueError, match="window"):
            xw.occlusion(cnn, torch.zeros(1, 8, 8, dtype=torch.float64))  # default window is 3-D
    finally:
        counter.handle.remove()
    assert counter.rows == []


# --------------------------------------------- issue 7: targets, names, errors
@pytest.mark.parametrize(
    "target",
    [torch.tensor(2), torch.tensor([2]), np.int64(2), np.array(2), np.array([2])],
    ids=["0-d tensor", "one-element tensor", "numpy scalar", "0-d array", "one-element array"],
)
def test_scalar_like_targets_broadcast_to_every_row(cnn, images, target):
    res = xw.occlusion(cnn, images, target, window=(3, 4, 4), stride=(3, 3, 3))
    ref = captum_occlusion(cnn, images, 2, (3, 4, 4), (3, 3, 3))
    np.testing.assert_allclose(res.values, ref, atol=1e-6, rtol=1e-5)
    np.testing.assert_array_equal(res.target, [2, 2])


def test_class_name_targets_and_names_stored(cnn, images):
    names = ["cat", "dog", "tiger cat", "lion"]
    kw = dict(window=(3, 4, 4), stride=(3, 3, 3))
    res = xw.occlusion(cnn, images, "tiger cat", output_names=names, **kw)
    np.testing.assert_allclose(res.values, captum_occlusion(cnn, images, 2, (3, 4, 4), (3, 3, 3)), atol=1e-6, rtol=1e-5)
    assert res.output_names == names
    np.testing.assert_array_equal(res.target, [2, 2])
    per_row = xw.occlusion(cnn, images, ["dog", "lion"], output_names=names, **kw)
    np.testing.assert_allclose(per_row.values, captum_occlusion(cnn, images, [1, 3], (3, 4, 4), (3, 3, 3)),
                               atol=1e-6, rtol=1e-5)


def test_output_names_read_from_the_model(cnn, images):
    cnn.output_names = ["a", "b", "c", "d"]
    try:
        res = xw.occlusion(cnn, images, "d", window=(3, 4, 4), stride=(3, 3, 3))
    finally:
        del cnn.output_names
    assert res.output_names == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(res.target, [3, 3])
    plain = xw.occlusion(cnn, images, 3, window=(3, 4, 4), stride=(3, 3, 3))
    assert plain.output_names is None
    np.testing.assert_allclose(res.values, plain.values, atol=0)


def test_unbatched_image_into_a_cnn_names_the_shape_and_chains_the_error(cnn, images, state_check):
    image = images[0]  # (3, 11, 13): one image, no batch axis
    with state_check(cnn), pytest.raises(ValueError, match=r"\(3, 11, 13\).*inputs\[None\]") as info:
        xw.occlusion(cnn, image, window=(4, 4), stride=(2, 2))
    assert isinstance(info.value.__cause__, RuntimeError)  # torch's conv2d error, kept as the cause
    # with the default 3-D window the mismatch is caught before the model runs
    counter = CountCalls(cnn)
    try:
        with pytest.raises(ValueError, match=r"shape \(3, 11, 13\) is a single example, it has no batch axis.*inputs\[None\]"):
            xw.occlusion(cnn, image)
    finally:
        counter.handle.remove()
    assert counter.rows == []


def test_model_returning_one_number_for_the_batch(cnn, images):
    class Summed(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x).sum()

    with pytest.raises(ValueError, match="one number"):
        xw.occlusion(Summed(cnn), images, window=(3, 4, 4), stride=(3, 3, 3))


def test_works_under_inference_mode_with_inference_tensors():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(5, 3)

        def forward(self, x, scale=None):
            return torch.tanh(self.fc(x)) * scale[:, None]

    torch.manual_seed(4)
    model = Scaled().double()
    x = torch.randn(3, 5, dtype=torch.float64)
    scale = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    base = torch.full((5,), 0.25, dtype=torch.float64)
    ref = captum_occlusion(model, x, 1, (2,), 1, baseline=base[None], additional_forward_args=(scale,))
    with torch.inference_mode():
        xi, si, bi = x.clone(), scale.clone(), base.clone()  # inference tensors
        res = xw.occlusion(model, xi, torch.tensor(1), window=2, stride=1, baseline=bi,
                           forward_kwargs={"scale": si})
    np.testing.assert_allclose(res.values, ref, atol=1e-6, rtol=1e-5)
    outside = xw.occlusion(model, x, 1, window=2, stride=1, baseline=base, forward_kwargs={"scale": scale})
    np.testing.assert_allclose(res.values, outside.values, atol=0)
