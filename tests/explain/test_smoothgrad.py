"""SmoothGrad / SmoothGrad² / VarGrad: closed forms, noise scale, reproducibility, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import xai_widgets as xw
from counting import RowCounter


@pytest.fixture
def x6():
    g = torch.Generator().manual_seed(3)
    return torch.randn(3, 6, generator=g, dtype=torch.float64)


class Half(torch.nn.Module):
    """f(x) = sum(x**2) / 2, so grad f = x."""

    def forward(self, x):
        return (x * x).sum(1, keepdim=True) / 2


# ------------------------------------------------------------- closed forms
def test_linear_smoothgrad_is_abs_weight(linear_model, x6):
    w = linear_model.weight.detach().numpy()
    a = xw.smoothgrad(linear_model, x6, target=1, samples=7, noise=0.3)
    np.testing.assert_allclose(a.values, np.broadcast_to(np.abs(w[1]), x6.shape), atol=1e-12)
    assert a.method == "smoothgrad" and a.params["kind"] == "smoothgrad" and a.params["base"] == "saliency"
    sq = xw.smoothgrad(linear_model, x6, target=1, samples=7, kind="smoothgrad_sq")
    np.testing.assert_allclose(sq.values, np.broadcast_to(w[1] ** 2, x6.shape), atol=1e-12)


def test_linear_vargrad_saliency_is_zero(linear_model, x6):
    a = xw.smoothgrad(linear_model, x6, target="all", kind="vargrad", samples=6)
    assert a.shape == (3, 3, 6)
    assert np.abs(a.values).max() <= 1e-10


def test_noise_zero_reduces_to_base(linear_model, x6):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    sal = xw.saliency(model, x6, target=0).values
    np.testing.assert_allclose(xw.smoothgrad(model, x6, target=0, noise=0, samples=3).values, sal, atol=1e-12)
    np.testing.assert_allclose(
        xw.smoothgrad(model, x6, target=0, noise=0, samples=3, kind="smoothgrad_sq").values, sal**2, atol=1e-12
    )
    ig = xw.integrated_gradients(model, x6, target=0, steps=5).values
    a = xw.smoothgrad(model, x6, target=0, noise=0, samples=2, base="integrated_gradients", steps=5)
    np.testing.assert_allclose(a.values, ig, atol=1e-12)
    assert a.params["steps"] == 5


def test_linear_smoothgrad_of_ig_is_w_times_mean_noisy_input(linear_model):
    # IG of a linear model at a noisy copy is w * (x + noise); the mean over
    # samples is w * (x + mean noise): check it against the noise drawn with the same seed.
    x = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]], dtype=torch.float64)
    a = xw.smoothgrad(linear_model, x, target=0, base="integrated_gradients", samples=4, steps=2, noise=0.1, seed=7)
    g = torch.Generator().manual_seed(7)
    eps = torch.stack([torch.randn(6, generator=g, dtype=torch.float64) for _ in range(4)])
    expected = linear_model.weight[0].detach() * (x[0] + 0.1 * 5.0 * eps).mean(0)
    np.testing.assert_allclose(a.values[0], expected.numpy(), atol=1e-12)


def test_noise_is_fraction_of_row_range():
    # grad of sum(x^2)/2 is x; with x far from 0 |.| is harmless and VarGrad ≈ sigma^2
    g = torch.Generator().manual_seed(0)
    x = 10 + torch.rand(2, 2000, generator=g, dtype=torch.float64)
    x[1] = 10 + 3 * (x[1] - 10)  # row 1 has three times the range
    rng = (x.max(1).values - x.min(1).values).numpy()
    a = xw.smoothgrad(Half(), x, target=0, kind="vargrad", samples=25, noise=0.1, batch_size=64)
    est = a.values.mean(1)
    np.testing.assert_allclose(est, (0.1 * rng) ** 2, rtol=0.05)


# ---------------------------------------------------------- reproducibility
def test_seeded_reproducible_chunk_invariant_global_rng_untouched(x6):
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Softplus(), torch.nn.Linear(8, 3)).double()
    state = torch.get_rng_state()
    ref = xw.smoothgrad(model, x6, kind="smoothgrad_sq", samples=5, seed=3).values
    assert torch.equal(state, torch.get_rng_state())
    for bs in (1, 4, 7, None):
        v = xw.smoothgrad(model, x6, kind="smoothgrad_sq", samples=5, seed=3, batch_size=bs).values
        np.testing.assert_allclose(v, ref, rtol=1e-12, atol=1e-15)
    other = xw.smoothgrad(model, x6, kind="smoothgrad_sq", samples=5, seed=4).values
    assert not np.allclose(other, ref)
    v1 = xw.smoothgrad(model, x6, base="integrated_gradients", steps=3, samples=4, seed=2, batch_size=5).values
    v2 = xw.smoothgrad(model, x6, base="integrated_gradients", steps=3, samples=4, seed=2, batch_size=None).values
    np.testing.assert_allclose(v1, v2, rtol=1e-12, atol=1e-15)


def test_outputs_targets_and_chunks(linear_model, x6):
    scores = (x6 @ linear_model.weight.T + linear_model.bias).detach().numpy()
    counter = RowCounter(linear_model)
    try:
        a = xw.smoothgrad(linear_model, x6, samples=10, batch_size=4)
    finally:
        counter.close()
    np.testing.assert_array_equal(a.target, scores.argmax(1))
    np.testing.assert_allclose(a.outputs, scores.max(1), atol=1e-12)
    assert counter.max_rows <= 4
    assert counter.rows == 1 + 2 + 3 * 10  # probe, other clean rows, noisy copies
    assert a.params["samples"] == 10 and a.params["noise"] == 0.15 and a.delta is None
    counter = RowCounter(linear_model)
    try:
        xw.smoothgrad(linear_model, x6, samples=10)  # default chunk: one input's 10 noisy rows per pass
    finally:
        counter.close()
    assert counter.max_rows == 10 and counter.calls == 1 + 1 + 3


def test_state_left_as_found(state_check, x6):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 8), torch.nn.BatchNorm1d(8), torch.nn.Dropout(0.3), torch.nn.Tanh(), torch.nn.Linear(8, 3)
    ).double().train()
    with state_check(model):
        with torch.no_grad():
            a = xw.smoothgrad(model, x6, target=0, samples=4)
            b = xw.smoothgrad(model, x6, target=0, samples=4)
    np.testing.assert_array_equal(a.values, b.values)
    assert model.training


# -------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"kind": "var"}, ValueError, "vargrad"),
        ({"base": "occlusion"}, ValueError, "integrated_gradients"),
        ({"samples": 0}, ValueError, "samples"),
        ({"samples": 2.0}, TypeError, "samples"),
        ({"noise": -0.1}, ValueError, "noise"),
        ({"noise": float("nan")}, ValueError, "noise"),
        ({"noise": "lots"}, TypeError, "noise"),
        ({"seed": 1.5}, TypeError, "seed"),
        ({"base": "integrated_gradients", "steps": 0}, ValueError, "steps"),
        ({"target": 5}, ValueError, "out of range"),
        ({"batch_size": 0}, ValueError, "batch_size"),
    ],
)
def test_bad_arguments_fail_before_work(linear_model, x6, kwargs, err, match):
    counter = RowCounter(linear_model)
    try:
        with pytest.raises(err, match=match):
            xw.smoothgrad(linear_model, x6, **kwargs)
    finally:
        counter.close()
    assert counter.calls <= 1 and counter.rows <= 1
