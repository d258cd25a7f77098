"""Occlusion on tuple inputs (image + tabular): equal to captum.attr.Occlusion on the same tuple, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import xai_widgets as xw


class ImageTabular(nn.Module):
    """A CNN stream for (N, 3, H, W) and an MLP stream for (N, 5), joined before the head."""

    def __init__(self, k: int = 3):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.tab = nn.Sequential(nn.Linear(5, 4), nn.Tanh())
        self.head = nn.Linear(20, k)

    def forward(self, image, table, scale=None):
        out = self.head(torch.cat([self.conv(image), self.tab(table) * table[:, :4]], 1))
        return out if scale is None else out * scale[:, None]


class Rows:
    """Rows of every forward call (first positional input)."""

    def __init__(self, model):
        self.rows = []
        self.handle = model.register_forward_pre_hook(lambda m, args: self.rows.append(args[0].shape[0]))


@pytest.fixture
def model():
    torch.manual_seed(0)
    return ImageTabular().double().eval()


@pytest.fixture
def parts():
    torch.manual_seed(1)
    return torch.randn(3, 3, 6, 7, dtype=torch.float64), torch.randn(3, 5, dtype=torch.float64)


def captum_tuple(model, inputs, target, windows, strides, baselines=0.0, **kw):
    from captum.attr import Occlusion

    if not isinstance(baselines, tuple):  # captum 0.9 indexes baselines per input: spell the tuple out
        baselines = (baselines,) * len(inputs)
    with torch.no_grad():
        out = Occlusion(model).attribute(
            inputs, sliding_window_shapes=windows, strides=strides, baselines=baselines, target=target,
            perturbations_per_eval=7, **kw
        )
    return [o.numpy() for o in out]


def test_tuple_inputs_match_captum(model, parts, state_check):
    windows, strides = ((3, 2, 3), (2,)), ((3, 1, 2), (1,))
    with state_check(model):
        res = xw.occlusion(model, parts, [0, 2, 1], window=windows, stride=strides, batch_size=5)
    ref = captum_tuple(model, parts, [0, 2, 1], windows, strides)
    assert isinstance(res, tuple) and len(res) == 2
    for a, r, x in zip(res, ref, parts):
        assert isinstance(a, xw.Attribution)
        assert a.values.shape == x.shape
        np.testing.assert_allclose(a.values, r, atol=1e-7, rtol=1e-6)
        np.testing.assert_array_equal(a.data, x.numpy())
        assert a.delta is None and a.method == "occlusion"
        assert np.abs(r).max() > 1e-3  # both streams matter
    np.testing.assert_array_equal(res[0].target, res[1].target)
    with torch.no_grad():
        scores = model(*parts)
    np.testing.assert_allclose(res[0].outputs, scores[np.arange(3), [0, 2, 1]].numpy(), rtol=1e-12)
    np.testing.assert_array_equal(res[0].outputs, res[1].outputs)
    assert res[0].params["window"] == windows and res[0].params["windows"] == (5 * 3, 4)  # ceil((6-2)/1)+1 by ceil((7-3)/2)+1; 4 on the table


def test_per_input_baselines_and_forward_kwargs_match_captum(model, parts):
    torch.manual_seed(2)
    base_img = torch.randn(3, 6, 7, dtype=torch.float64)
    scale = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    windows, strides = ((1, 3, 3), (3,)), ((1, 2, 2), (2,))
    res = xw.occlusion(model, parts, 1, window=windows, stride=strides, baseline=(base_img, 0.5),
                       forward_kwargs={"scale": scale})
    ref = captum_tuple(model, parts, 1, windows, strides, baselines=(base_img[None], 0.5),
                       additional_forward_args=(scale,))
    for a, r in zip(res, ref):
        np.testing.assert_allclose(a.values, r, atol=1e-7, rtol=1e-6)
    assert res[0].params["baseline"] == ("tensor", 0.5)


def test_one_int_window_applies_to_every_input_and_all_targets(model, parts):
    res = xw.occlusion(model, parts, "all", window=2, stride=1, output_names=["a", "b", "c"])
    assert res[0].values.shape == (3, 3, 3, 6, 7) and res[1].values.shape == (3, 3, 5)
    assert res[0].output_names == res[1].output_names == ["a", "b", "c"]
    for k in range(3):
        ref = captum_tuple(model, parts, k, ((2, 2, 2), (2,)), ((1, 1, 1), (1,)))
        for a, r in zip(res, ref):
            np.testing.assert_allclose(a.values[:, k], r, atol=1e-7, rtol=1e-6)


def test_class_name_target_with_tuple_inputs(model, parts):
    names = ["low", "mid", "high"]
    res = xw.occlusion(model, parts, "high", window=((3, 3, 3), 2), stride=((3, 3, 3), 2), output_names=names)
    ref = captum_tuple(model, parts, 2, ((3, 3, 3), (2,)), ((3, 3, 3), (2,)))
    for a, r in zip(res, ref):
        np.testing.assert_allclose(a.values, r, atol=1e-7, rtol=1e-6)
        np.testing.assert_array_equal(a.target, [2, 2, 2])


def test_one_element_tuple_is_the_single_input_in_a_tuple(parts):
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(5, 3), nn.Tanh(), nn.Linear(3, 2)).double()
    single = xw.occlusion(net, parts[1], 0, window=2, stride=1)
    (one,) = xw.occlusion(net, (parts[1],), 0, window=(2,), stride=(1,))
    assert isinstance(single, xw.Attribution)
    np.testing.assert_allclose(one.values, single.values, atol=0)


def test_rows_per_forward_are_capped_and_counted(model, parts):
    counter = Rows(model)
    try:
        res = xw.occlusion(model, parts, 0, window=((3, 3, 3), (2,)), stride=((3, 3, 3), (2,)), batch_size=4)
    finally:
        counter.handle.remove()
    n_img, n_tab = res[0].params["windows"]
    assert (n_img, n_tab) == (2 * 3, 3)
    assert counter.rows[0] == 1 and max(counter.rows) <= 4
    assert sum(counter.rows[1:]) == 3 + 3 * (n_img + n_tab)  # f(x) once, then every occluded copy


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(window=((3, 2, 2), (2,), (1,))), r"window must be one value .* tuple of 2 .* got 3 entries"),
        (dict(window=(3, 2, 2)), r"tuple of 2 .* got 3 entries"),  # a single input's window
        (dict(stride=((3, 1, 1),)), r"stride must be one value .* tuple of 2 .* got 1 entries"),
        (dict(baseline=(0.0, 0.0, 0.0)), r"baseline must be one value .* tuple of 2 .* got 3 entries"),
        (dict(baseline=torch.zeros(3, 6, 7)), "tensor baseline is ambiguous"),
        (dict(window=((3, 2, 2), (6,))), r"window\[1\] \(6,\) does not fit the input\[1\]"),
        (dict(window=((3, 2), (2,))), r"window\[0\] has 2 entries but the input has 3 axes"),
        (dict(baseline=(0.0, torch.zeros(4))), r"baseline\[1\] of shape \(1, 4\) does not broadcast"),
    ],
)
def test_bad_tuple_arguments_fail_before_the_model_runs(model, parts, state_check, kwargs, match):
    kwargs = {"window": ((3, 2, 2), (2,)), "stride": ((3, 1, 1), (1,)), **kwargs}
    counter = Rows(model)
    try:
        with state_check(model), pytest.raises(ValueError, match=match):
            xw.occlusion(model, parts, 0, **kwargs)
    finally:
        counter.handle.remove()
    assert counter.rows == []


def test_parts_with_different_batch_sizes_fail_before_the_model_runs(model, parts):
    counter = Rows(model)
    try:
        with pytest.raises(ValueError, match=r"share the batch size.*\(3, 3, 6, 7\), \(2, 5\)"):
            xw.occlusion(model, (parts[0], parts[1][:2]), window=((3, 2, 2), (2,)), stride=((3, 1, 1), (1,)))
    finally:
        counter.handle.remove()
    assert counter.rows == []


def test_unknown_class_name_fails_after_the_one_row_probe(model, parts):
    counter = Rows(model)
    try:
        with pytest.raises(ValueError, match=r"'hgih' is not one of the 3 class names; close matches: \['high'\]"):
            xw.occlusion(model, parts, "hgih", window=((3, 2, 2), (2,)), stride=((3, 1, 1), (1,)),
                         output_names=["low", "mid", "high"])
    finally:
        counter.handle.remove()
    assert counter.rows == [1]


def test_model_failure_on_the_tuple_names_every_part(parts):
    class WantsThree(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, image, table):
            return self.fc(image.mean((2, 3)).repeat(1, 2)[:, :4]) + self.fc(table)  # table has 5 columns, not 4

    with pytest.raises(ValueError, match=r"shape \(1, 3, 6, 7\).*shape \(1, 5\)") as info:
        xw.occlusion(WantsThree().double(), parts, window=((3, 2, 2), (2,)), stride=((3, 1, 1), (1,)))
    assert isinstance(info.value.__cause__, RuntimeError)
