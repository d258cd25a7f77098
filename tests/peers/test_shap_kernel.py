"""shap's KernelExplainer tests (``tests/explainers/test_kernel.py``), ported to ``xw.kernel_shap``.

shap's ``nsamples`` is our ``samples``; its ``link="logit"`` has no
counterpart (we explain the model's output as it is), so the ports of those
cases check additivity on the identity scale instead. With at most
``samples`` proper coalitions (``2**M - 2``) both shap and our kernel
enumerate them all and the regression is exact, so the ports compare with
the live ``shap.KernelExplainer`` on the same model and background. Our
background of more than 100 rows is summarised to k-means centres unless
``summarize=False``; shap uses every row, so the ports keep every row too.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import xai_widgets as xw
from peers_util import assert_close, brute_force_shapley, interventional_value

shap = pytest.importorskip("shap")
pd = pytest.importorskip("pandas")
sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402


def _iris_frame():
    iris = load_iris(as_frame=True)
    return iris.data, iris.target


def _shap_kernel(f, background, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shap's "large background" advice; we keep every row on purpose
        explainer = shap.KernelExplainer(f, background)
        return explainer, explainer(x, silent=True)


@pytest.mark.parametrize("m", [4, 10])
def test_null_model(m):
    # test_null_model_small / test_null_model: f == 0 gives zero values
    a = xw.kernel_shap(lambda x: np.zeros(x.shape[0]), np.ones((1, m)), np.ones((2, m)), samples=100)
    assert np.sum(np.abs(a.values)) < 1e-8


def test_linear():
    # Corollary 1 of Lundberg & Lee: for f(x) = x0 + 2 x1 the values are
    # (x - E[x]) * (1, 2, 0), whatever coalitions were sampled.
    rs = np.random.RandomState(0)
    x = rs.normal(size=(200, 3), scale=1)

    def f(v):
        return v[:, 0] + 2.0 * v[:, 1]

    a = xw.kernel_shap(f, x[:20], x, summarize=False, samples=6)
    expected = (x[:20] - x.mean(0)) * np.array([1.0, 2.0, 0.0])
    assert a.values.shape == (20, 3)
    np.testing.assert_allclose(a.values, expected, rtol=1e-3, atol=1e-10)
    assert float(a.base_values[0]) == pytest.approx(f(x).mean())


def test_kernel_shap_with_dataframe():
    rs = np.random.RandomState(0)
    df_x = pd.DataFrame(rs.random((10, 3)), columns=list("abc"))
    df_x.index = pd.date_range("2018-01-01", periods=10, freq="D", tz="UTC")
    df_y = df_x.eval("a - 2 * b + 3 * c") + rs.normal(0.0, 0.1, 10)
    lin = LinearRegression().fit(df_x, df_y)
    a = xw.kernel_shap(lin.predict, df_x, df_x)
    assert a.feature_names == ["a", "b", "c"]
    expected = (df_x.to_numpy() - df_x.to_numpy().mean(0)) * lin.coef_
    np.testing.assert_allclose(a.values, expected, atol=1e-9)
    _, live = _shap_kernel(lin.predict, df_x, df_x)
    np.testing.assert_allclose(a.values, live.values, atol=1e-6)


def test_kernel_shap_with_call_method_additivity():
    # test_kernel_shap_with_call_method / test_front_page_model_agnostic with
    # a logistic regression (shap uses an SVC; any predict_proba works) on the identity scale
    x, y = _iris_frame()
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.1, random_state=0)
    lr = LogisticRegression(max_iter=500).fit(x_train, y_train)
    a = xw.kernel_shap(lr.predict_proba, x_test, x_train, target="all", samples=100, summarize=False)
    assert a.values.shape == (len(x_test), 3, 4)
    outputs = lr.predict_proba(x_test)
    np.testing.assert_allclose(a.values.sum(-1) + a.base_values, outputs, atol=1e-8)
    explainer, live = _shap_kernel(lr.predict_proba, x_train, x_test)
    # shap puts the output axis last: (N, M, K)
    np.testing.assert_allclose(a.values, np.moveaxis(live.values, -1, 1), atol=1e-6)
    np.testing.assert_allclose(a.base_values[0], explainer.expected_value, atol=1e-9)


def test_kernel_multiclass_single_row():
    x, y = _iris_frame()
    lr = LogisticRegression(max_iter=500).fit(x, y)
    pred = lr.predict_proba(x.iloc[[0], :])
    a = xw.kernel_shap(lr.predict_proba, x.iloc[[0], :], x, target="all", summarize=False)
    np.testing.assert_allclose(a.values.sum(-1)[0] + a.base_values[0], pred.squeeze(), atol=1e-4)


def test_kernel_multiclass_multiple_rows():
    x, y = _iris_frame()
    lr = LogisticRegression(max_iter=500).fit(x, y)
    pred = lr.predict_proba(x.iloc[[0, 1], :])
    a = xw.kernel_shap(lr.predict_proba, x.iloc[[0, 1], :], x, target="all", summarize=False)
    np.testing.assert_allclose(a.values.sum(-1) + a.base_values, pred, atol=1e-4)


def test_explainer_bool_dtype():
    # test_explainer_non_number_dtype[bool]: bool features into a callable
    # are features (not token ids). 8 features: both enumerate all 254
    # coalitions, so shap's values are the exact Shapley values too.
    from sklearn.ensemble import RandomForestClassifier

    seed = 45479
    rng = np.random.default_rng(seed)
    x = rng.choice([True, False], size=(15, 8))
    y = rng.choice([True, False], size=(15,)).astype(float)
    rf = RandomForestClassifier(random_state=seed).fit(x, y)
    a = xw.kernel_shap(rf.predict_proba, x, x, target="all", samples=254)
    assert a.values.shape == (15, 2, 8)
    np.testing.assert_allclose(a.values.max(), 0.26548, rtol=1e-2)  # shap's expected value
    np.testing.assert_allclose(a.values.sum(-1) + a.base_values, rf.predict_proba(x), atol=1e-8)
    _, live = _shap_kernel(rf.predict_proba, x, x[:4])  # shap is slow here: four rows suffice
    np.testing.assert_allclose(a.values[:4], np.moveaxis(live.values, -1, 1), atol=1e-6)
    v = interventional_value(lambda r: rf.predict_proba(r)[:, 1], x[3].astype(float), x.astype(float))
    np.testing.assert_allclose(a.values[3, 1], brute_force_shapley(v, 8), atol=1e-9)


def test_non_numeric_dataframe_is_refused():
    # test_non_numeric: shap handles string columns through its own masker;
    # our kernels need numbers and say which columns are not.
    x = pd.DataFrame([["A", "0", "0"], ["A", "1", "0"], ["B", "0", "0"]], columns=["c0", "c1", "c2"])
    with pytest.raises((TypeError, ValueError), match="c0"):
        xw.kernel_shap(lambda v: np.zeros(len(v)), x, x)


def test_serialization_equivalent_is_reproducible():
    # test_serialization: an explanation made twice (shap: before and after
    # save/load) gives the same values; ours is seeded, so exactly.
    rs = np.random.RandomState(3)
    x = rs.randn(20, 5)
    y = np.zeros(20)
    y[10:] = 1
    model = LogisticRegression().fit(x, y)
    a = xw.kernel_shap(model.predict, x[:1], x, samples=12)
    b = xw.kernel_shap(model.predict, x[:1], x, samples=12)
    np.testing.assert_array_equal(a.values, b.values)
    assert np.abs(a.delta).max() < 1e-9
