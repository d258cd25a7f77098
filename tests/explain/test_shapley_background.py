"""Background summarisation is never silent: the warning, summarize=, Background, tuples, integer rows."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from xai_widgets.explain.shapley import (
    Background,
    BackgroundSummaryWarning,
    exact_shap,
    kernel_shap,
    permutation_shap,
    summarize_background,
)

# cheap settings: the base values do not depend on the estimator's budget
KERNELS = {
    "exact_shap": lambda f, x, bg, **kw: exact_shap(f, x, bg, groups=[0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3], **kw),
    "kernel_shap": lambda f, x, bg, **kw: kernel_shap(f, x, bg, samples=16, **kw),
    "permutation_shap": lambda f, x, bg, **kw: permutation_shap(f, x, bg, permutations=1, **kw),
}


@pytest.fixture(scope="module")
def wine():
    """An MLP fitted to scikit-learn's wine data; 124 background rows (70 %), 3 rows to explain."""
    datasets = pytest.importorskip("sklearn.datasets")
    data = datasets.load_wine()
    x = (data.data - data.data.mean(0)) / data.data.std(0)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], data.target[order]
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(13, 16), nn.Tanh(), nn.Linear(16, 3)).double()
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    xt, yt = torch.from_numpy(x[:124]), torch.from_numpy(y[:124])
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    net.requires_grad_(False)
    return net, x[:124], x[124:127]


def logits(net, a):
    with torch.no_grad():
        return net(torch.from_numpy(np.asarray(a, dtype=np.float64))).numpy()


@pytest.mark.parametrize("name", list(KERNELS))
def test_wine_background_summary_warns_once_and_summarize_false_keeps_every_row(wine, name):
    net, bg, x = wine
    run = KERNELS[name]
    with pytest.warns(BackgroundSummaryWarning) as record:
        summ = run(net, x, bg, target=0)
    ours = [r for r in record if issubclass(r.category, BackgroundSummaryWarning)]
    assert len(ours) == 1, [str(r.message) for r in ours]
    msg = str(ours[0].message)
    assert "\n" not in msg
    assert "124 rows" in msg and "50 weighted k-means centres" in msg and "base_values" in msg
    assert "summarize=False" in msg and "summarize_background(background, k=124)" in msg
    assert ours[0].filename == __file__  # points at the user's call, not into the package
    assert summ.params["background_summarized"] and summ.params["background_rows"] == 124
    assert summ.params["background"] == 50

    exact_mean = logits(net, bg)[:, 0].mean()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        full = run(net, x, bg, target=0, summarize=False)
    np.testing.assert_allclose(full.base_values, np.full(3, exact_mean), rtol=0, atol=1e-12)
    assert not full.params["background_summarized"] and full.params["background"] == 124
    assert full.params["background_rows"] == 124
    np.testing.assert_allclose(full.delta, 0, atol=1e-10)
    # the summary's base value is the weighted mean over the k-means centres, and here it differs
    s = summarize_background(bg, 50, seed=0)
    centres = float(logits(net, s.data)[:, 0] @ s.weights)
    np.testing.assert_allclose(summ.base_values, np.full(3, centres), atol=1e-12)
    assert abs(centres - exact_mean) > 1e-3


def test_summarize_int_sets_k_and_a_background_is_used_as_is(wine):
    net, bg, x = wine
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the user chose the summary: no warning
        a = kernel_shap(net, x, bg, samples=16, target=1, summarize=10)
        mine = summarize_background(bg, k=10, seed=0)
        b = kernel_shap(net, x, mine, target=1, samples=16)
        keep = kernel_shap(net, x, summarize_background(bg, k=len(bg)), samples=16, target=1)
        small = kernel_shap(net, x, bg[:30], samples=16, target=1, summarize=40)  # fewer rows than k
    assert a.params["background"] == 10 and a.params["background_summarized"]
    np.testing.assert_allclose(a.values, b.values, atol=1e-12)
    np.testing.assert_allclose(a.base_values, logits(net, mine.data)[:, 1] @ mine.weights, atol=1e-12)
    assert keep.params["background"] == 124 and not keep.params["background_summarized"]
    np.testing.assert_allclose(keep.base_values, logits(net, bg)[:, 1].mean(), atol=1e-12)
    assert small.params["background"] == 30 and not small.params["background_summarized"]


@pytest.mark.parametrize("summarize, exc", [("yes", TypeError), (0, ValueError), (-2, ValueError), (2.5, TypeError)])
def test_bad_summarize_raises_before_any_model_call(summarize, exc):
    calls = []
    with pytest.raises(exc, match="summarize"):
        exact_shap(lambda a: calls.append(1) or a.sum(1), np.ones((1, 3)), np.zeros((200, 3)), summarize=summarize)
    assert calls == []


def test_summary_keeps_the_mean_for_a_linear_model_and_rows_together_in_a_tuple():
    rng = np.random.default_rng(1)
    wa, wb = rng.normal(size=3), rng.normal(size=(2, 2))
    f = lambda a, b: a @ wa + (b * wb).sum((1, 2))
    xa, xb = rng.normal(size=(2, 3)), rng.normal(size=(2, 2, 2))
    ba, bb = rng.normal(size=(150, 3)), rng.normal(size=(150, 2, 2))
    with pytest.warns(BackgroundSummaryWarning, match="150 rows"):
        ra, rb = kernel_shap(f, (xa, xb), (ba, bb), samples=30)
    assert ra.params["background"] == 50 and rb.params["background_summarized"]
    np.testing.assert_allclose(ra.values, wa * (xa - ba.mean(0)), atol=1e-10)
    np.testing.assert_allclose(rb.values, wb * (xb - bb.mean(0)), atol=1e-10)
    s = summarize_background((ba, bb), k=20)
    assert isinstance(s.data, tuple) and s.data[0].shape == (20, 3) and s.data[1].shape == (20, 2, 2)
    assert len(s) == 20 and "summary of 150 rows" in repr(s)
    # each centre is the mean of the same rows in both blocks: the weighted means are the full means
    np.testing.assert_allclose(s.weights @ s.data[0], ba.mean(0), atol=1e-12)
    np.testing.assert_allclose(np.tensordot(s.weights, s.data[1], 1), bb.mean(0), atol=1e-12)


def test_integer_feature_background_is_sampled_and_says_so():
    rng = np.random.default_rng(2)
    x, bg = rng.integers(0, 5, size=(2, 3)), rng.integers(0, 5, size=(130, 3))
    seen = []

    def f(a):
        seen.append(a.dtype)
        return a @ np.array([1.0, -2.0, 0.5])

    with pytest.warns(BackgroundSummaryWarning, match="130 rows.*50 randomly sampled rows"):
        res = permutation_shap(f, x, bg, permutations=2)
    assert all(d.kind == "i" for d in seen)  # a callable keeps the integers it was given
    # the rows used are a sample of the background: a linear model's values follow their mean
    assert res.params["background"] == 50
    s = summarize_background(bg, 50, seed=0)
    np.testing.assert_allclose(res.values, np.array([1.0, -2.0, 0.5]) * (x - s.data.mean(0)), atol=1e-12)


def test_dataframe_background_summary_keeps_columns():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    cols = ["alcohol", "ash", "hue"]
    bg = pd.DataFrame(rng.normal(size=(120, 3)), columns=cols)
    s = summarize_background(bg, k=12)
    assert isinstance(s.data, pd.DataFrame) and list(s.data.columns) == cols and len(s) == 12
    np.testing.assert_allclose(s.weights @ s.data.to_numpy(), bg.to_numpy().mean(0), atol=1e-12)
    x = pd.DataFrame(rng.normal(size=(2, 3)), columns=cols)
    w = np.array([0.5, 1.0, -1.0])
    res = exact_shap(lambda a: a.to_numpy() @ w, x, s)
    np.testing.assert_allclose(res.values, w * (x.to_numpy() - bg.to_numpy().mean(0)), atol=1e-12)
    assert isinstance(Background(bg, np.full(120, 1 / 120)), Background)
