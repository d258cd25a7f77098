"""shap's PermutationExplainer and ExactExplainer tests, ported to ``xw.permutation_shap`` / ``xw.exact_shap``.

Sources: shap ``tests/explainers/test_permutation.py``, ``test_exact.py`` and
``common.py``. shap's additivity cases run an XGBoost model on the adult
data set, which shap downloads at run time; the ports use a scikit-learn
model on the bundled wine data (any model will do: additivity is the
claim). Serialisation and interaction values have no counterpart here.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import xai_widgets as xw
from peers_util import brute_force_shapley, interventional_value

shap = pytest.importorskip("shap")
sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_wine, make_classification  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402


def _second_order():
    rs = np.random.RandomState(42)
    data = rs.randint(0, 2, size=(100, 5))

    def model(d):
        return d[:, 0] * d[:, 2] + d[:, 1] + d[:, 2] + d[:, 2] * d[:, 3]

    right = np.zeros(data.shape)
    right[:, 0] += (data[:, 0] * data[:, 2]) / 2
    right[:, 2] += (data[:, 0] * data[:, 2]) / 2
    right[:, 1] += data[:, 1]
    right[:, 2] += data[:, 2]
    right[:, 2] += (data[:, 2] * data[:, 3]) / 2
    right[:, 3] += (data[:, 2] * data[:, 3]) / 2
    return model, data, right


@pytest.mark.parametrize("kernel", ["permutation_shap", "exact_shap", "kernel_shap"])
def test_exact_second_order(kernel):
    # integer features into a callable: features, not token ids. Antithetic
    # permutations are exact for second-order functions (each pair meets in
    # both orders), as shap's test says of its PermutationExplainer.
    model, data, right = _second_order()
    kw = {"permutations": 1} if kernel == "permutation_shap" else {}
    a = getattr(xw, kernel)(model, data, np.zeros((1, 5)), **kw)
    assert np.allclose(right, a.values)
    # shap's KernelExplainer enumerates all 30 coalitions of 5 features: exact too
    # (its Permutation/Exact explainers cost ~12 s of numba compilation per process)
    live = shap.KernelExplainer(model, np.zeros((1, 5))).shap_values(data[:10], silent=True)
    assert np.allclose(a.values[:10], live)


def _wine():
    x, y = load_wine(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    return x, y


@pytest.mark.parametrize("output", ["single", "multi"])
@pytest.mark.parametrize("kernel", ["permutation_shap", "exact_shap"])
def test_tabular_auto_masker_additivity(kernel, output):
    # common.test_additivity: base_values + values.sum == model(data)
    x, y = _wine()
    if output == "single":
        model = Ridge().fit(x, y).predict
        target = None
    else:
        model = LogisticRegression(max_iter=1000).fit(x, y).predict_proba
        target = "all"
    rows, bg = x[:3], x[::18]  # 10 background rows
    a = getattr(xw, kernel)(model, rows, bg, target=target)
    pred = model(rows)
    total = a.values.sum(-1) + a.base_values
    np.testing.assert_allclose(total, pred, atol=1e-8)
    if kernel == "exact_shap" and output == "single":
        # what shap's ExactExplainer computes, by the definition (13 features, 8192 coalitions)
        exact = brute_force_shapley(interventional_value(model, rows[0], bg), 13)
        np.testing.assert_allclose(a.values[0], exact, atol=1e-8)


def test_exact_tabular_simple_case():
    # xgboost replaced by logistic regression; the claim is additivity on predict_proba
    x, y = make_classification(n_samples=100, n_features=2, n_informative=2, n_redundant=0, random_state=0)
    model = LogisticRegression().fit(x[:80], y[:80])
    a = xw.exact_shap(model.predict_proba, x[80:], x[:80], target="all")
    pred = model.predict_proba(x[80:])
    np.testing.assert_allclose(a.base_values + a.values.sum(-1), pred, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shap advises summarising 80 background rows
        live = shap.KernelExplainer(model.predict_proba, x[:80])(x[80:], silent=True)  # 2 features: exact
    np.testing.assert_allclose(a.values, np.moveaxis(live.values, -1, 1), atol=1e-8)


def test_multi_output_with_non_varying_features():
    background = np.array([[0.0, 1.0, 2.0, 3.0]])

    def model(v):
        s = v.sum(axis=1)
        return np.column_stack([s, 2 * s])

    test_x = np.array([[0.0, 5.0, 2.0, 7.0]])
    a = xw.exact_shap(model, test_x, background, target="all")
    np.testing.assert_allclose(a.base_values + a.values.sum(-1), model(test_x), atol=1e-10)
    # features 0 and 2 equal the background: zero; 1 and 3 moved by 4 each
    np.testing.assert_allclose(a.values[0], [[0.0, 4.0, 0.0, 4.0], [0.0, 8.0, 0.0, 8.0]], atol=1e-10)


def test_exact_matches_brute_force_on_a_nonlinear_model():
    x, y = _wine()
    model = LogisticRegression(max_iter=1000).fit(x[:, :6], y)
    f = lambda v: model.predict_proba(v)[:, 1]  # noqa: E731
    rows, bg = x[:2, :6], x[::30, :6]
    a = xw.exact_shap(f, rows, bg)
    for i in range(2):
        np.testing.assert_allclose(a.values[i], brute_force_shapley(interventional_value(f, rows[i], bg), 6), atol=1e-10)
    p = xw.permutation_shap(f, rows, bg, permutations=40)
    np.testing.assert_allclose(p.values.sum(1) + p.base_values, f(rows), atol=1e-10)  # efficient by construction
    np.testing.assert_allclose(p.values, a.values, atol=0.02)
