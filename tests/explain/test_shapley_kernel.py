"""kernel_shap: exact at full budget, closed forms, partial-budget accuracy vs shap, coalition scheme, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from xai_widgets.explain.shapley import exact_shap, kernel_shap
from xai_widgets.explain.shapley.kernel import kernel_coalitions


def make_mlp(m, k=1, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(m, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, k)).double()


@pytest.fixture
def mlp6():
    return make_mlp(6, k=3)


@pytest.fixture
def data6():
    rng = np.random.default_rng(0)
    return torch.from_numpy(rng.normal(size=(4, 6))), torch.from_numpy(rng.normal(size=(12, 6)))


def test_linear_model_exact_at_a_partial_budget(linear_model):
    rng = np.random.default_rng(1)
    x, bg = torch.from_numpy(rng.normal(size=(3, 6))), torch.from_numpy(rng.normal(size=(10, 6)))
    res = kernel_shap(linear_model, x, bg, samples=20, target=1)
    w = linear_model.weight.detach().numpy()[1]
    np.testing.assert_allclose(res.values, w * (x.numpy() - bg.numpy().mean(0)), atol=1e-10)
    assert res.params["coalitions"] == 20 and not res.params["complete"]
    assert res.method == "kernel_shap"


def test_full_budget_equals_exact_shap(mlp6, data6, state_check):
    x, bg = data6
    with state_check(mlp6):
        ker = kernel_shap(mlp6, x, bg, samples=62, target="all")
    ex = exact_shap(mlp6, x, bg, target="all")
    assert ker.params["complete"] and ker.params["coalitions"] == 62
    np.testing.assert_allclose(ker.values, ex.values, atol=1e-10)
    np.testing.assert_allclose(ker.base_values, ex.base_values)
    big = kernel_shap(mlp6, x, bg, samples=5000, target="all")  # capped at 2**M - 2
    assert big.params["coalitions"] == 62
    np.testing.assert_allclose(big.values, ex.values, atol=1e-10)


def test_interaction_closed_form_at_full_budget():
    f = lambda a: a[:, 0] * a[:, 1] - a[:, 2]
    rng = np.random.default_rng(2)
    x, bg = rng.normal(size=(3, 3)), rng.normal(loc=1.0, size=(8, 3))
    mu, e01 = bg.mean(0), (bg[:, 0] * bg[:, 1]).mean()
    res = kernel_shap(f, x, bg)
    phi0 = 0.5 * (x[:, 0] * mu[1] - e01) + 0.5 * (x[:, 0] * x[:, 1] - x[:, 1] * mu[0])
    np.testing.assert_allclose(res.values[:, 0], phi0, atol=1e-12)
    np.testing.assert_allclose(res.values[:, 2], -(x[:, 2] - mu[2]), atol=1e-12)


@pytest.mark.parametrize("samples", [1, 3, 7, 40])
def test_efficiency_holds_at_any_budget(samples, mlp6, data6):
    x, bg = data6
    res = kernel_shap(mlp6, x, bg, samples=samples, target="all")
    assert res.params["coalitions"] == samples
    np.testing.assert_allclose(res.delta, 0, atol=1e-10)
    np.testing.assert_allclose(res.values.sum(-1), res.outputs - res.base_values, rtol=1e-5, atol=1e-10)


@pytest.mark.parametrize("m, samples", [(10, 200), (10, 201), (7, 50), (30, 2048), (30, 77), (4, 9), (2, 1)])
def test_coalition_scheme(m, samples):
    z, w, complete = kernel_coalitions(m, samples, np.random.default_rng(0))
    assert z.shape == (min(samples, 2**m - 2), m) and not complete
    assert len({r.tobytes() for r in z}) == len(z), "coalitions must be distinct"
    sizes = z.sum(1)
    assert sizes.min() >= 1 and sizes.max() <= m - 1
    assert abs(w.sum() - 1) < 1e-12 and (w > 0).all()
    # every size present keeps its share of the Shapley kernel's mass
    kernel = np.array([(m - 1) / (s * (m - s)) for s in range(1, m)])
    present = np.unique(sizes)
    got = np.array([w[sizes == s].sum() for s in present])
    np.testing.assert_allclose(got / got.sum(), kernel[present - 1] / kernel[present - 1].sum(), rtol=1e-12)
    if samples >= 8 * m:  # the smallest sizes are enumerated completely, as shap does
        assert (sizes == 1).sum() == m and (sizes == m - 1).sum() == m


def test_partial_budget_close_to_exact_and_no_worse_than_shap():
    shap = pytest.importorskip("shap")
    m = 10
    net = make_mlp(m, seed=5)
    fnp = lambda a: net(torch.from_numpy(a)).detach().numpy()[:, 0]
    rng = np.random.default_rng(5)
    x, bg = rng.normal(size=(3, m)), rng.normal(size=(20, m))
    ex = exact_shap(fnp, x, bg)
    ours, theirs = [], []
    for seed in range(3):
        ours.append(np.abs(kernel_shap(fnp, x, bg, samples=160, seed=seed).values - ex.values).mean())
        np.random.seed(seed)
        sv = shap.KernelExplainer(fnp, bg).shap_values(x, nsamples=160, l1_reg=False, silent=True)
        theirs.append(np.abs(np.asarray(sv) - ex.values).mean())
    assert np.mean(ours) < 0.05 * np.abs(ex.values).mean()
    assert np.mean(ours) <= 1.5 * np.mean(theirs), (ours, theirs)


def test_seed_determinism_and_chunking_invariance(mlp6, data6):
    x, bg = data6
    a = kernel_shap(mlp6, x, bg, samples=30, seed=3)
    b = kernel_shap(mlp6, x, bg, samples=30, seed=3, batch_size=7)
    c = kernel_shap(mlp6, x, bg, samples=30, seed=4)
    np.testing.assert_allclose(a.values, b.values, atol=1e-12)
    assert not np.allclose(a.values, c.values)
    # one row explained alone gets the same coalitions: results do not depend on the batch
    d = kernel_shap(mlp6, x[1:2], bg, samples=30, seed=3, target=int(a.target[1]))
    np.testing.assert_allclose(d.values[0], a.values[1], atol=1e-12)


def test_groups_and_numpy_callable(mlp6, data6):
    x, bg = (t.numpy() for t in data6)
    fnp = lambda a: mlp6(torch.from_numpy(a)).detach().numpy()
    groups = [0, 0, 1, 1, 1, 2]  # a label per column
    ker = kernel_shap(fnp, x, bg, groups=groups, target=0)
    ex = exact_shap(mlp6, x, bg, groups=groups, target=0)
    assert ker.params["coalitions"] == 6 and ker.group_values.shape == (4, 3)
    np.testing.assert_allclose(ker.group_values, ex.group_values, atol=1e-10)
    np.testing.assert_allclose(ker.values[:, 2:5], np.repeat(ker.group_values[:, 1:2] / 3, 3, 1))


def test_token_ids_with_an_embedding_model(state_check):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Embedding(30, 4), nn.Flatten(), nn.Linear(20, 2))
    ids = torch.randint(1, 30, (2, 5))
    pad = torch.zeros(1, 5, dtype=torch.long)
    with state_check(net):
        res = kernel_shap(net, ids, pad, samples=30, target="all")
    assert res.values.shape == (2, 2, 5)
    np.testing.assert_allclose(res.delta, 0, atol=1e-5)
    with pytest.raises(TypeError, match="both"):
        kernel_shap(net, ids, pad.float())


@pytest.mark.parametrize("samples, exc", [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)])
def test_bad_samples(samples, exc):
    calls = []
    with pytest.raises(exc, match="samples"):
        kernel_shap(lambda a: calls.append(1) or a.sum(1), np.ones((1, 3)), np.zeros((2, 3)), samples=samples)
    assert calls == []


def test_bad_inputs():
    f = lambda a: a.sum(1)
    with pytest.raises(ValueError, match="empty"):
        kernel_shap(f, np.ones((1, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="shape"):
        kernel_shap(f, np.ones((1, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="one number"):
        kernel_shap(lambda a: a.sum(), np.ones((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="rows of scores"):
        kernel_shap(lambda a: a.sum(1)[:1], np.ones((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="3 entries"):
        kernel_shap(f, np.ones((2, 3)), np.zeros((2, 3)), target=[0, 0, 0])


# ------------------------------------------------ third-order fit (order=3)
from xai_widgets.explain.shapley.kernel import solve_interactions  # noqa: E402


@pytest.fixture(scope="module")
def mlp10_problem():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1)).double().eval()
    rng = np.random.default_rng(4)
    x, bg = torch.from_numpy(rng.normal(size=(8, 10))), torch.from_numpy(rng.normal(size=(20, 10)))
    return model, x, bg, xw_exact(model, x, bg)


def xw_exact(model, x, bg):
    from xai_widgets.explain.shapley import exact_shap

    return exact_shap(model, x, bg).values


@pytest.mark.parametrize("samples", [256, 512])
def test_order3_error_well_below_order1_against_exact(mlp10_problem, samples):
    """Against brute-force Shapley values: the triple-interaction fit halves kernel SHAP's error (mean over seeds)."""
    model, x, bg, exact = mlp10_problem
    err = {o: np.mean([np.abs(kernel_shap(model, x, bg, samples=samples, seed=s, order=o).values - exact).mean()
                       for s in range(4)]) for o in (1, 3)}
    assert err[3] < 0.6 * err[1], err


def test_order3_keeps_efficiency_and_records_order(mlp10_problem):
    model, x, bg, _ = mlp10_problem
    res = kernel_shap(model, x, bg, samples=300)
    assert res.params["order"] == 3
    np.testing.assert_allclose(res.values.sum(-1), (res.outputs - res.base_values), atol=1e-10)
    assert kernel_shap(model, x[:2], bg, samples=2000).params["order"] == 1  # complete: exact either way


def test_order3_primal_equals_dual():
    rng = np.random.default_rng(5)
    from xai_widgets.explain.shapley.kernel import kernel_coalitions

    z, w, _ = kernel_coalitions(7, 90, rng)  # 7 + 21 + 35 = 63 terms < 91 unknowns of the dual
    y = rng.normal(size=(z.shape[0], 3)) + (z * rng.normal(size=7)).sum(1, keepdims=True)
    total = rng.normal(size=3)
    a = solve_interactions(z, w, y, total, form="primal")
    b = solve_interactions(z, w, y, total, form="dual")
    np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(a.sum(0), total, atol=1e-9)


def test_order3_scale_equivariant_and_row_independent(mlp10_problem):
    model, x, bg, _ = mlp10_problem
    scaled = nn.Sequential(model, nn.Linear(1, 1, bias=False)).double()
    scaled[1].weight.data.fill_(-7.0)
    a = kernel_shap(model, x, bg, samples=300, seed=2)
    b = kernel_shap(scaled, x, bg, samples=300, seed=2)
    np.testing.assert_allclose(b.values, -7.0 * a.values, rtol=1e-8, atol=1e-12)
    alone = kernel_shap(model, x[3:4], bg, samples=300, seed=2)
    np.testing.assert_allclose(alone.values[0], a.values[3], rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("bad", ["fast", 0, 4, 2.0, True])
def test_order_validated(mlp6, data6, bad):
    x, bg = data6
    with pytest.raises(ValueError, match="order must be"):
        kernel_shap(mlp6, x, bg, samples=20, order=bad)
