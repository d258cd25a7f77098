"""permutation_shap: exact for additive models, efficiency, convergence to exact, antithetic pairs, groups, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from xai_widgets.explain.shapley import exact_shap, permutation_shap
from xai_widgets.explain.shapley.permutation import antithetic_orderings


@pytest.fixture
def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 2)).double()


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return torch.from_numpy(rng.normal(size=(3, 6))), torch.from_numpy(rng.normal(size=(10, 6)))


def test_linear_model_exact_with_one_permutation(linear_model):
    rng = np.random.default_rng(1)
    x, bg = torch.from_numpy(rng.normal(size=(4, 6))), torch.from_numpy(rng.normal(size=(10, 6)))
    res = permutation_shap(linear_model, x, bg, permutations=1, target=0)
    w = linear_model.weight.detach().numpy()[0]
    np.testing.assert_allclose(res.values, w * (x.numpy() - bg.numpy().mean(0)), atol=1e-12)
    assert res.method == "permutation_shap" and res.params["orderings"] == 2


def test_two_player_interaction_is_exact_with_antithetic_pairs():
    # with 2 players a permutation and its reverse are all orderings
    f = lambda a: a[:, 0] * a[:, 1]
    rng = np.random.default_rng(2)
    x, bg = rng.normal(size=(3, 2)), rng.normal(loc=1.0, size=(7, 2))
    mu, e01 = bg.mean(0), (bg[:, 0] * bg[:, 1]).mean()
    res = permutation_shap(f, x, bg, permutations=1)
    phi0 = 0.5 * (x[:, 0] * mu[1] - e01) + 0.5 * (x[:, 0] * x[:, 1] - x[:, 1] * mu[0])
    np.testing.assert_allclose(res.values[:, 0], phi0, atol=1e-12)


def test_antithetic_orderings():
    o = antithetic_orderings(7, 4, np.random.default_rng(0))
    assert o.shape == (8, 7)
    np.testing.assert_array_equal(o[1::2], o[0::2, ::-1])
    assert all(sorted(r) == list(range(7)) for r in o.tolist())


def test_efficiency_exact_and_convergence(mlp, data, state_check):
    x, bg = data
    ex = exact_shap(mlp, x, bg, target="all")
    errs = {}
    with state_check(mlp):
        for p in (2, 64):
            e = []
            for seed in range(3):
                res = permutation_shap(mlp, x, bg, permutations=p, seed=seed, target="all")
                np.testing.assert_allclose(res.delta, 0, atol=1e-10)
                e.append(np.abs(res.values - ex.values).mean())
            errs[p] = np.mean(e)
    assert errs[64] < 0.5 * errs[2]
    assert errs[64] < 0.05 * np.abs(ex.values).mean()
    np.testing.assert_allclose(res.base_values, ex.base_values)
    np.testing.assert_allclose(res.outputs, ex.outputs)


def test_shared_coalitions_evaluated_once(mlp, data):
    x, bg = data
    calls = []
    fnp = lambda a: calls.append(a.shape[0]) or mlp(torch.from_numpy(a)).detach().numpy()
    res = permutation_shap(fnp, x, bg, permutations=200, batch_size=10**6, target=0)
    assert res.params["coalitions"] <= 2**6 - 2
    # 1 row + batch + background, then one pass over distinct coalitions × rows × background
    assert calls[-1] == res.params["coalitions"] * 3 * 10


def test_groups_numpy_callable_and_target_all(mlp, data):
    x, bg = (t.numpy() for t in data)
    fnp = lambda a: mlp(torch.from_numpy(a)).detach().numpy()
    res = permutation_shap(fnp, x, bg, groups=[[0, 1, 2], [3], [4, 5]], permutations=3, target="all")
    ex = exact_shap(fnp, x, bg, groups=[[0, 1, 2], [3], [4, 5]], target="all")
    assert res.values.shape == (3, 2, 6) and res.group_values.shape == (3, 2, 3)
    # with 3 players, 3 antithetic pairs cover few orderings; with sorted coverage check sums only
    np.testing.assert_allclose(res.group_values.sum(-1), ex.group_values.sum(-1), atol=1e-12)
    np.testing.assert_allclose(res.values[:, :, 0], res.group_values[:, :, 0] / 3)
    torch_res = permutation_shap(mlp, torch.from_numpy(x), torch.from_numpy(bg), groups=[[0, 1, 2], [3], [4, 5]],
                                 permutations=3, target="all")
    np.testing.assert_allclose(torch_res.values, res.values, atol=1e-12)


def test_seed_determinism(mlp, data):
    x, bg = data
    a = permutation_shap(mlp, x, bg, permutations=2, seed=1)
    b = permutation_shap(mlp, x, bg, permutations=2, seed=1, batch_size=3)
    np.testing.assert_allclose(a.values, b.values, atol=1e-12)


@pytest.mark.parametrize("permutations, exc", [(0, ValueError), (2.0, TypeError), (None, TypeError)])
def test_bad_permutations(permutations, exc):
    with pytest.raises(exc, match="permutations"):
        permutation_shap(lambda a: a.sum(1), np.ones((1, 3)), np.zeros((2, 3)), permutations=permutations)


def test_bad_inputs(mlp):
    with pytest.raises(ValueError, match="empty"):
        permutation_shap(mlp, torch.ones(1, 6, dtype=torch.float64), torch.zeros(0, 6, dtype=torch.float64))
    with pytest.raises(ValueError, match="out of range"):
        permutation_shap(mlp, torch.ones(1, 6, dtype=torch.float64), torch.zeros(2, 6, dtype=torch.float64), target=2)
    with pytest.raises(ValueError, match="feature_names"):
        permutation_shap(mlp, torch.ones(1, 6, dtype=torch.float64), torch.zeros(2, 6, dtype=torch.float64),
                         feature_names=["a", "b"])
