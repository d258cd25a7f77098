"""Attribution.to_shap() / Attribution.from_shap(): round trips with shap.Explanation."""
import numpy as np
import pytest

import xai_widgets as xw

shap = pytest.importorskip("shap")

RNG = np.random.default_rng(0)


def test_round_trip_attribution_to_shap_and_back():
    v = RNG.normal(size=(5, 4))
    x = RNG.normal(size=(5, 4))
    a = xw.Attribution.from_array(v, x, base_values=np.linspace(0, 1, 5), feature_names=["a", "b", "c", "d"], method="kernel_shap")
    e = a.to_shap()
    assert isinstance(e, shap.Explanation)
    np.testing.assert_array_equal(e.values, v)
    np.testing.assert_array_equal(e.base_values, np.linspace(0, 1, 5))
    np.testing.assert_array_equal(e.data, x)
    assert list(e.feature_names) == ["a", "b", "c", "d"]
    b = xw.Attribution.from_shap(e)
    np.testing.assert_array_equal(b.values, a.values)
    np.testing.assert_array_equal(b.base_values, a.base_values)
    np.testing.assert_array_equal(b.data, a.data)
    assert b.feature_names == a.feature_names and b.method == "shap"
    assert xw.Attribution.from_shap(e, method="kernel_shap").method == "kernel_shap"


def test_round_trip_shap_to_attribution_and_back():
    v = RNG.normal(size=(3, 6))
    e = shap.Explanation(v, base_values=np.full(3, 0.7), data=v * 2, feature_names=list("uvwxyz"), output_names=["p(yes)"])
    a = xw.Attribution.from_shap(e)
    assert a.output_names == ["p(yes)"] and "output_names" not in a.params
    e2 = a.to_shap()
    for k in ("values", "base_values", "data"):
        np.testing.assert_array_equal(getattr(e2, k), getattr(e, k))
    assert list(e2.feature_names) == list(e.feature_names)
    assert list(e2.output_names) == ["p(yes)"]
    # a scalar base value broadcasts per row
    a1 = xw.Attribution.from_array(v, base_values=0.3)
    np.testing.assert_array_equal(a1.to_shap().base_values, np.full(3, 0.3))


def test_single_row_and_multi_output():
    v = RNG.normal(size=(3, 6))
    e = shap.Explanation(v, base_values=np.full(3, 0.7), data=v * 2)
    one = xw.Attribution.from_shap(e[1])
    assert one.shape == (1, 6) and one.base_values.tolist() == [0.7]
    np.testing.assert_array_equal(one.data[0], v[1] * 2)
    assert one.feature_names is None
    m = shap.Explanation(RNG.normal(size=(4, 6, 2)), base_values=RNG.normal(size=(4, 2)), output_names=["no", "yes"])
    am = xw.Attribution.from_shap(m)
    assert am.shape == (4, 2, 6) and am.params["target"] == "all" and am.target.tolist() == [0, 1]
    back = am.to_shap()
    np.testing.assert_array_equal(back.values, m.values)
    np.testing.assert_array_equal(back.base_values, m.base_values)
    assert list(back.output_names) == ["no", "yes"]


def test_from_shap_rejects_other_things():
    with pytest.raises(TypeError, match="shap.Explanation"):
        xw.Attribution.from_shap(np.zeros((2, 3)))


def test_to_shap_missing_package_message(monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *args, **kw):
        if name == "shap":
            raise ImportError("no shap")
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ImportError, match="pip install shap"):
        xw.Attribution.from_array(np.zeros((1, 2))).to_shap()
