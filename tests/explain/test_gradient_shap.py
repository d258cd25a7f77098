"""gradient_shap: closed forms, Captum agreement (same draws and in distribution), the sampling
residual, reproducibility, groups, targets, state and bad inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from xai_widgets.explain.shapley import Background, gradient_shap
from xai_widgets.explain.shapley.gradient import draw_baselines


@pytest.fixture
def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)).double().eval()


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(4, 6, generator=g, dtype=torch.float64), torch.randn(30, 6, generator=g, dtype=torch.float64)


# ------------------------------------------------------------ closed forms
def test_linear_model_one_background_row_is_exact(linear_model):
    # the gradient is constant, so every draw gives w * (x - b) exactly
    g = torch.Generator().manual_seed(2)
    x, b = torch.randn(3, 6, generator=g, dtype=torch.float64), torch.randn(1, 6, generator=g, dtype=torch.float64)
    res = gradient_shap(linear_model, x, b, samples=5, target=2)
    w = linear_model.weight.detach()[2]
    np.testing.assert_allclose(res.values, (w * (x - b)).numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.delta, 0, atol=1e-12)
    out = linear_model(x)[:, 2].detach().numpy()
    np.testing.assert_allclose(res.outputs, out)
    np.testing.assert_allclose(res.base_values, np.full(3, float(linear_model(b)[0, 2].detach())))
    assert res.method == "gradient_shap" and res.shape == (3, 6) and res.params["samples"] == 5


def test_linear_model_many_rows_converges_to_background_mean(linear_model, data):
    x, bg = data
    w = linear_model.weight.detach()[0]
    exact = (w * (x - bg.mean(0))).numpy()
    errs = [np.abs(gradient_shap(linear_model, x, bg, samples=s, target=0).values - exact).max() for s in (20, 2000)]
    assert errs[1] < errs[0] / 3 and errs[1] < 0.1 * np.abs(exact).max()


def test_additivity_residual_shrinks_with_samples(mlp, data):
    x, bg = data
    d = [np.sqrt(np.mean(gradient_shap(mlp, x, bg, samples=s, target=1).delta ** 2)) for s in (10, 1000)]
    assert d[1] < d[0] / 3, d  # ~1/sqrt(samples): a factor 10 expected


# ----------------------------------------------------------------- captum
def test_matches_captum_given_the_same_draws(mlp, data, monkeypatch):
    captum_gs = pytest.importorskip("captum.attr._core.gradient_shap")
    x, bg = data
    samples, seed = 25, 7
    res = gradient_shap(mlp, x, bg, samples=samples, target=2, seed=seed, batch_size=9)
    rows, alphas = draw_baselines(len(x), samples, torch.full((len(bg),), 1.0 / len(bg), dtype=torch.float64), seed)
    inputs = x.repeat_interleave(samples, 0)
    monkeypatch.setattr(captum_gs.np.random, "uniform", lambda lo, hi, n: alphas.numpy()[:n])
    attr = captum_gs.InputBaselineXGradient(mlp).attribute(inputs, bg[rows], target=2)
    expected = attr.detach().view(len(x), samples, -1).mean(1)
    np.testing.assert_allclose(res.values, expected.numpy(), rtol=1e-10, atol=1e-12)


def test_agrees_with_captum_gradient_shap_in_distribution(mlp, data):
    GradientShap = pytest.importorskip("captum.attr").GradientShap
    x, bg = data
    res = gradient_shap(mlp, x, bg, samples=2000, target=1)
    np.random.seed(0)
    ref = GradientShap(mlp).attribute(x, bg, n_samples=2000, stdevs=0.0, target=1).detach().numpy()
    corr = np.corrcoef(res.values.ravel(), ref.ravel())[0, 1]
    assert corr > 0.99, corr
    assert np.abs(res.values - ref).max() < 0.15 * np.abs(ref).max()


# --------------------------------------------------------------- behaviour
def test_seeded_and_independent_of_batch_size(mlp, data):
    x, bg = data
    state = torch.random.get_rng_state()
    a = gradient_shap(mlp, x, bg, samples=30, seed=3)
    assert torch.equal(state, torch.random.get_rng_state()), "global RNG touched"
    b = gradient_shap(mlp, x, bg, samples=30, seed=3, batch_size=7)
    c = gradient_shap(mlp, x, bg, samples=30, seed=4)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-12, atol=1e-14)
    assert not np.allclose(a.values, c.values)
    assert a.target.tolist() == mlp(x).argmax(1).tolist()


def test_target_all_groups_and_weighted_background(mlp, data):
    x, bg = data
    res = gradient_shap(mlp, x, bg, samples=40, target="all")
    assert res.shape == (4, 3, 6) and res.delta.shape == (4, 3) and res.params["target"] == "all"
    one = gradient_shap(mlp, x, bg, samples=40, target=1)
    np.testing.assert_allclose(res.values[:, 1], one.values, rtol=1e-12)
    grouped = gradient_shap(mlp, x, bg, samples=40, target=1, groups=[0, 0, 1, 1, 2, 2])
    np.testing.assert_allclose(grouped.group_values, one.values.reshape(4, 3, 2).sum(-1), rtol=1e-12)
    np.testing.assert_allclose(grouped.values, np.repeat(grouped.group_values / 2, 2, axis=1), rtol=1e-12)
    np.testing.assert_allclose(grouped.delta, one.delta, rtol=1e-10, atol=1e-12)
    # all weight on one row: draws only that row
    w = np.zeros(len(bg))
    w[3] = 1.0
    only = gradient_shap(mlp, x, Background(bg, w), samples=10, target=0)
    single = gradient_shap(mlp, x, bg[3:4], samples=10, target=0)
    np.testing.assert_allclose(only.base_values, single.base_values)


def test_model_left_as_found_train_mode_and_no_grad(state_check):
    torch.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.3), nn.Flatten(),
                          nn.Linear(4 * 4 * 4, 2)).train()
    x, bg = torch.randn(2, 1, 6, 6), torch.randn(5, 1, 6, 6)
    with state_check(model), torch.no_grad():
        res = gradient_shap(model, x, bg, samples=8)
    assert model.training and res.values.dtype == np.float64 and np.isfinite(res.values).all()


def test_bad_inputs_raise_before_any_forward():
    calls = []

    class Counting(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            calls.append(x.shape[0])
            return self.fc(x)

    model, x = Counting(), torch.randn(2, 4)
    with pytest.raises(ValueError, match="background is empty"):
        gradient_shap(model, x, torch.zeros(0, 4))
    with pytest.raises(ValueError, match="background rows have shape"):
        gradient_shap(model, x, torch.zeros(3, 2, 2))
    with pytest.raises(ValueError, match="samples"):
        gradient_shap(model, x, torch.zeros(3, 4), samples=0)
    with pytest.raises(TypeError, match="seed"):
        gradient_shap(model, x, torch.zeros(3, 4), seed=1.5)
    with pytest.raises(ValueError, match="groups do not cover"):
        gradient_shap(model, x, torch.zeros(3, 4), groups=[[0, 1], [2]])
    with pytest.raises(ValueError, match="NaN"):
        gradient_shap(model, x * float("nan"), torch.zeros(3, 4))
    assert calls == []
    with pytest.raises(ValueError, match="out of range"):
        gradient_shap(model, x, torch.zeros(3, 4), target=2)
    assert calls == [1]
