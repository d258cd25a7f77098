"""exact_shap: closed forms, brute force over all M! orderings, shap agreement, groups, targets, state, errors."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from xai_widgets.explain.shapley import exact_shap, grid_groups, summarize_background


def brute_force_shapley(f, x, bg, groups=None):
    """Shapley values of one row by the permutation definition (all M! orderings), no shared code."""
    d = x.shape[0]
    groups = groups if groups is not None else [[j] for j in range(d)]
    m = len(groups)

    def v(players):
        keep = np.zeros(d, dtype=bool)
        for p in players:
            keep[groups[p]] = True
        rows = np.where(keep[None, :], x[None, :], bg)
        return float(np.mean(f(rows)))

    phi = np.zeros(m)
    for order in itertools.permutations(range(m)):
        before = v([])
        for k, p in enumerate(order):
            after = v(order[: k + 1])
            phi[p] += after - before
            before = after
    return phi / math.factorial(m)


class CountCalls:
    def __init__(self, f):
        self.f, self.rows = f, []

    def __call__(self, a):
        self.rows.append(a.shape[0])
        return self.f(a)


@pytest.fixture
def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(3, 5)), rng.normal(size=(9, 5))


# ------------------------------------------------------------ closed forms
def test_linear_model_is_w_times_x_minus_background_mean(linear_model):
    rng = np.random.default_rng(1)
    x, bg = torch.from_numpy(rng.normal(size=(4, 6))), torch.from_numpy(rng.normal(size=(20, 6)))
    res = exact_shap(linear_model, x, bg, target=2)
    w = linear_model.weight.detach().numpy()[2]
    np.testing.assert_allclose(res.values, w * (x.numpy() - bg.numpy().mean(0)), rtol=1e-10, atol=1e-12)
    out = (x @ linear_model.weight.T + linear_model.bias).detach().numpy()
    base = (bg @ linear_model.weight.T + linear_model.bias).detach().numpy().mean(0)
    np.testing.assert_allclose(res.outputs, out[:, 2])
    np.testing.assert_allclose(res.base_values, np.full(4, base[2]))
    np.testing.assert_allclose(res.delta, 0, atol=1e-12)
    assert res.method == "exact_shap" and res.shape == (4, 6) and res.params["coalitions"] == 62
    assert res.group_values is None and res.target.tolist() == [2] * 4


def test_interaction_has_closed_form():
    # f = x0*x1 + 2*x2 (x3 is a dummy): phi0 = (x0*mu1 - E[b0 b1] + x0*x1 - x1*mu0) / 2
    f = lambda a: a[:, 0] * a[:, 1] + 2 * a[:, 2]
    rng = np.random.default_rng(2)
    x, bg = rng.normal(size=(3, 4)), rng.normal(loc=0.5, size=(15, 4))
    mu, e01 = bg.mean(0), (bg[:, 0] * bg[:, 1]).mean()
    res = exact_shap(f, x, bg)
    phi0 = 0.5 * (x[:, 0] * mu[1] - e01) + 0.5 * (x[:, 0] * x[:, 1] - x[:, 1] * mu[0])
    phi1 = 0.5 * (x[:, 1] * mu[0] - e01) + 0.5 * (x[:, 0] * x[:, 1] - x[:, 0] * mu[1])
    expected = np.stack([phi0, phi1, 2 * (x[:, 2] - mu[2]), np.zeros(3)], axis=1)
    np.testing.assert_allclose(res.values, expected, atol=1e-12)
    np.testing.assert_allclose(res.base_values, e01 + 2 * mu[2])


@pytest.mark.parametrize("m", [3, 6])
def test_agrees_with_brute_force_over_all_orderings(m):
    torch.manual_seed(m)
    net = nn.Sequential(nn.Linear(m, 6), nn.Tanh(), nn.Linear(6, 1)).double()
    f = lambda a: net(torch.from_numpy(a)).detach().numpy()[:, 0]
    rng = np.random.default_rng(m)
    x, bg = rng.normal(size=(2, m)), rng.normal(size=(4, m))
    res = exact_shap(f, x, bg)
    for i in range(2):
        np.testing.assert_allclose(res.values[i], brute_force_shapley(f, x[i], bg), atol=1e-12)


def test_agrees_with_shap_kernel_explainer_at_full_budget(mlp, data):
    shap = pytest.importorskip("shap")
    x, bg = data
    fnp = lambda a: mlp(torch.from_numpy(a)).detach().numpy()
    sv = np.asarray(shap.KernelExplainer(fnp, bg).shap_values(x, nsamples=2**5 + 10, l1_reg=False, silent=True))
    res = exact_shap(mlp, torch.from_numpy(x), torch.from_numpy(bg), target="all")
    # shap >= 0.45: (N, M, K); ours: (N, K, M)
    np.testing.assert_allclose(res.values, np.moveaxis(sv, -1, 1), atol=1e-10)


# ----------------------------------------------------------------- targets
def test_target_all_and_per_row(mlp, data):
    x, bg = map(torch.from_numpy, data)
    res = exact_shap(mlp, x, bg, target="all")
    assert res.values.shape == (3, 3, 5)
    assert res.outputs.shape == res.base_values.shape == res.delta.shape == (3, 3)
    assert res.target.tolist() == [0, 1, 2] and res.params["target"] == "all"
    np.testing.assert_allclose(res.values.sum(-1), res.outputs - res.base_values, atol=1e-12)
    per_row = exact_shap(mlp, x, bg, target=[2, 0, 1])
    np.testing.assert_allclose(per_row.values, res.values[np.arange(3), [2, 0, 1]], atol=1e-14)
    top = exact_shap(mlp, x, bg)
    assert top.target.tolist() == mlp(x).argmax(1).tolist()
    row = res[1]
    assert row.values.shape == (1, 3, 5) and row.target.tolist() == [0, 1, 2]


def test_numpy_callable_and_torch_module_agree(mlp, data, state_check):
    x, bg = data
    fnp = lambda a: mlp(torch.from_numpy(a)).detach().numpy()
    a = exact_shap(fnp, x, bg, target=1)
    with state_check(mlp):
        b = exact_shap(mlp, x, bg, target=1)  # numpy x with a module: follows the module
    np.testing.assert_allclose(a.values, b.values, atol=1e-12)
    assert isinstance(a.data, np.ndarray) and a.data.shape == (3, 5)


def test_model_left_as_found_in_train_mode_and_under_no_grad(state_check):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Dropout(0.5), nn.ReLU(), nn.Linear(6, 2)).train()
    net[0].weight.requires_grad_(False)
    x, bg = torch.randn(3, 4), torch.randn(5, 4)
    with state_check(net), torch.no_grad():
        a = exact_shap(net, x, bg, target=0)
        b = exact_shap(net, x, bg, target=0)
    np.testing.assert_array_equal(a.values, b.values)  # eval mode inside: dropout off
    np.testing.assert_allclose(a.delta, 0, atol=1e-5)
    assert net.training and not net[0].weight.requires_grad and net[4].weight.requires_grad


# ------------------------------------------------------------------ groups
def test_groups_spread_evenly_and_match_the_grouped_game():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    f = lambda a: net(torch.from_numpy(a)).detach().numpy()[:, 0]
    rng = np.random.default_rng(3)
    x, bg = rng.normal(size=(2, 6)), rng.normal(size=(5, 6))
    groups = [[0, 3], [1], [2, 4, 5]]
    res = exact_shap(f, x, bg, groups={"a": groups[0], "b": groups[1], "c": groups[2]})
    assert res.group_values.shape == (2, 3) and res.params["group_names"] == ["a", "b", "c"]
    for i in range(2):
        np.testing.assert_allclose(res.group_values[i], brute_force_shapley(f, x[i], bg, groups), atol=1e-12)
        for g, members in enumerate(groups):
            np.testing.assert_allclose(res.values[i, members], res.group_values[i, g] / len(members))
    np.testing.assert_allclose(res.group_values.sum(1) - (res.outputs - res.base_values), res.delta, atol=1e-14)
    np.testing.assert_allclose(res.delta, 0, atol=1e-12)


def test_image_grid_groups():
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5))
    x, bg = torch.randn(2, 3, 8, 8), torch.zeros(1, 3, 8, 8)
    labels = grid_groups((3, 8, 8), 4)
    res = exact_shap(cnn, x, bg, groups=labels, batch_size=5)
    assert res.values.shape == (2, 3, 8, 8) and res.group_values.shape == (2, 4)
    np.testing.assert_allclose(res.values[:, :, :4, :4].sum((1, 2, 3)), res.group_values[:, 0], rtol=1e-5)
    np.testing.assert_allclose(res.delta, 0, atol=1e-5)


def test_large_background_is_summarised_with_weights(linear_model):
    rng = np.random.default_rng(4)
    x, bg = torch.from_numpy(rng.normal(size=(2, 6))), torch.from_numpy(rng.normal(size=(250, 6)))
    with pytest.warns(UserWarning, match="250 rows was summarised to 50 weighted k-means centres"):
        res = exact_shap(linear_model, x, bg, target=0)
    assert res.params["background"] == 50 and res.params["background_summarized"]
    assert res.params["background_rows"] == 250
    w = linear_model.weight.detach().numpy()[0]
    # k-means centres weighted by cluster shares keep the background mean exactly
    np.testing.assert_allclose(res.values, w * (x.numpy() - bg.numpy().mean(0)), atol=1e-10)
    s = summarize_background(bg, 10)
    assert len(s) == 10 and abs(s.weights.sum() - 1) < 1e-12
    again = exact_shap(linear_model, x, s, target=0)
    np.testing.assert_allclose(again.values, res.values, atol=1e-10)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "change, exc, match",
    [
        (dict(background=np.zeros((0, 5))), ValueError, "empty"),
        (dict(background=np.zeros((4, 6))), ValueError, "shape"),
        (dict(x=np.full((2, 5), np.nan)), ValueError, "NaN"),
        (dict(background=np.full((4, 5), np.inf)), ValueError, "NaN or inf"),
        (dict(x=np.zeros(5)), ValueError, "batched"),
        (dict(x=[[1.0] * 5]), TypeError, "x must be"),
        (dict(f="model"), TypeError, "callable"),
        (dict(groups=[[0, 1], [1, 2, 3, 4]]), ValueError, "overlap"),
        (dict(groups=[[0, 1], [2, 3]]), ValueError, "cover"),
        (dict(groups=[[0, 1], [2, 3, 9]]), ValueError, "outside"),
        (dict(groups=np.zeros((2, 5), dtype=int)), ValueError, "broadcast"),
        (dict(max_features=4), ValueError, "kernel_shap"),
        (dict(max_features=0), ValueError, ">= 1"),
        (dict(batch_size=0), ValueError, ">= 1"),
    ],
)
def test_bad_input_raises_before_any_model_call(change, exc, match):
    counter = CountCalls(lambda a: a.sum(1))
    args = dict(f=counter, x=np.ones((2, 5)), background=np.zeros((4, 5)))
    args.update(change)
    with pytest.raises(exc, match=match):
        exact_shap(args.pop("f"), args.pop("x"), args.pop("background"), **args)
    assert counter.rows == []


@pytest.mark.parametrize("target, exc", [(5, ValueError), ("top", ValueError), ([0, 1, 0], ValueError), (1.5, TypeError)])
def test_bad_target_raises_after_one_row(target, exc):
    counter = CountCalls(lambda a: np.stack([a.sum(1), -a.sum(1)], 1))
    with pytest.raises(exc):
        exact_shap(counter, np.ones((2, 5)), np.zeros((4, 5)), target=target)
    assert counter.rows in ([], [1])


def test_too_many_features_message_suggests_alternatives():
    with pytest.raises(ValueError, match=r"M=20.*kernel_shap.*groups"):
        exact_shap(lambda a: a.sum(1), np.ones((1, 20)), np.zeros((2, 20)))


# ----------------------------------------------------------------- helpers
def test_group_helpers_and_integer_background_summary():
    from xai_widgets.explain.shapley import superpixel_groups, word_groups

    assert word_groups([None, 0, 0, 1, None, 1]).tolist() == [0, 1, 1, 2, 3, 2]
    assert grid_groups((3, 5, 5), 2).max() == 8
    img = torch.zeros(3, 24, 24)
    img[:, :, 12:] = 1.0  # two flat halves
    sp = superpixel_groups(img, 4)
    assert sp.shape == (24, 24) and len(np.unique(sp)) >= 2
    ids = torch.arange(300 * 4).reshape(300, 4) % 17
    s = summarize_background(ids, 10)
    assert s.data.dtype == torch.int64 and len(s) == 10 and s.summarized
    with pytest.raises(TypeError, match="integers"):
        exact_shap(lambda a: a.sum(1), np.ones((1, 4)), np.zeros((2, 4)), groups=np.zeros(4))
