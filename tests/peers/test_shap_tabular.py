"""Tabular data as shap users hold it, and Captum-style extra model inputs, on the Shapley kernels.

shap's explainer tests feed pandas DataFrames (``test_kernel.py``), bool and
integer arrays (``test_kernel.py::test_explainer_non_number_dtype``,
``test_permutation.py::test_exact_second_order``) and several inputs at once
(``test_deep.py``/``test_gradient.py``: ``[x1, x2]``); Captum's tests pass
``additional_forward_args``. The ports check every model-agnostic kernel
(exact, kernel, permutation) against brute-force Shapley values computed by
the definition in the test, on the same inputs.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import xai_widgets as xw
from peers_util import brute_force_shapley, interventional_value, parts

pd = pytest.importorskip("pandas")
bm = pytest.importorskip("captum.testing.helpers.basic_models")
sklearn = pytest.importorskip("sklearn")

KERNELS = ["exact_shap", "kernel_shap", "permutation_shap"]
EXACT = {"exact_shap": {}, "kernel_shap": {"samples": 2048}, "permutation_shap": {"permutations": 10}}


def _run(kernel, f, x, bg, **kw):
    return getattr(xw, kernel)(f, x, bg, **{**EXACT[kernel], **kw})


# ------------------------------------------------------------- DataFrames
@pytest.mark.parametrize("kernel", KERNELS)
def test_dataframe_with_int_bool_and_float_columns(kernel):
    rs = np.random.RandomState(0)
    df = pd.DataFrame({
        "age": rs.randint(18, 90, size=30),          # int64
        "smoker": rs.rand(30) > 0.5,                 # bool
        "dose": rs.rand(30),                         # float64
    })
    w = np.array([0.1, 2.0, -3.0])

    def f(v):  # works on a DataFrame or an array, as a user's function would
        return np.asarray(v, dtype=np.float64) @ w

    a = _run(kernel, f, df.iloc[:5], df)
    assert a.feature_names == ["age", "smoker", "dose"]
    x = df.to_numpy(dtype=np.float64)
    np.testing.assert_allclose(a.values, (x[:5] - x.mean(0)) * w, atol=1e-9)
    np.testing.assert_allclose(a.base_values, np.full(5, f(df).mean()), atol=1e-9)


@pytest.mark.parametrize("kernel", KERNELS)
def test_dataframe_background_with_array_rows(kernel):
    rs = np.random.RandomState(1)
    df = pd.DataFrame(rs.randn(12, 3), columns=["a", "b", "c"])
    f = lambda v: np.tanh(np.asarray(v, dtype=np.float64)).prod(1)  # noqa: E731 - a third-order interaction
    a = _run(kernel, f, df.to_numpy()[:2], df)
    bg = df.to_numpy()
    np.testing.assert_allclose(a.values.sum(1) + a.base_values, f(bg[:2]), atol=1e-12)
    if kernel == "permutation_shap":
        return  # sampled orderings: exact only up to second-order interactions, efficient always
    for i in range(2):
        exact = brute_force_shapley(interventional_value(f, bg[i], bg), 3)
        np.testing.assert_allclose(a.values[i], exact, atol=1e-9)


def test_non_numeric_dataframe_columns_are_refused_before_any_call():
    calls = []
    df = pd.DataFrame({"a": [1.0, 2.0], "colour": ["red", "blue"]})
    for kernel in KERNELS:
        with pytest.raises((TypeError, ValueError), match="colour"):
            getattr(xw, kernel)(lambda v: calls.append(1) or np.zeros(len(v)), df, df)
    assert calls == []


# ---------------------------------------------------------- integer inputs
class _FloatMLP(nn.Module):
    """A tabular torch model whose first layer is Linear: integer columns are counts, not token ids."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 2)
        self.act = nn.Tanh()
        self.out = nn.Linear(2, 1)

    def forward(self, x):
        return self.out(self.act(self.lin(x.float())))


@pytest.mark.parametrize("kernel", KERNELS)
def test_integer_features_into_a_torch_model(kernel):
    model = _FloatMLP()
    x = torch.randint(0, 5, (3, 4))
    bg = torch.randint(0, 5, (6, 4))
    a = _run(kernel, model, x, bg)

    def f(v):
        with torch.no_grad():
            return model(torch.as_tensor(v)).numpy()[:, 0]

    for i in range(3):
        exact = brute_force_shapley(interventional_value(f, x[i].numpy(), bg.numpy()), 4)
        np.testing.assert_allclose(a.values[i], exact, atol=1e-5 if kernel != "permutation_shap" else 0.05)
    np.testing.assert_allclose(a.values.sum(1) + np.asarray(a.base_values), f(x.numpy()), atol=1e-5)


# ---------------------------------------------------------- forward_kwargs
@pytest.mark.parametrize("kernel", KERNELS)
def test_forward_kwargs_batched_tensor_follows_its_row(kernel):
    # Captum's additional_forward_args: BasicModel_MultiLayer(x, add_input)
    # sees x + add_input; each explained row keeps its own add_input through
    # every coalition and background row.
    model = bm.BasicModel_MultiLayer()
    x = torch.tensor([[3.0, 4.0, 1.0], [6.0, 1.0, 5.0]])
    add = torch.tensor([[1.0, 1.0, 1.0], [-2.0, 3.0, 0.5]])
    bg = torch.tensor([[0.0, 0.0, 0.0], [2.0, -1.0, 1.0]])
    a = _run(kernel, model, x, bg, target=0, forward_kwargs={"add_input": add})
    for i in range(2):
        def f(v, i=i):
            with torch.no_grad():
                return model(torch.as_tensor(v, dtype=torch.float32), add[i:i + 1].expand(len(v), 3))[:, 0].numpy()

        exact = brute_force_shapley(interventional_value(f, x[i].numpy(), bg.numpy()), 3)
        if kernel == "permutation_shap":
            # F(s) has kinks (higher-order interactions): sampled orderings are
            # close, not exact; the orderings are shared by all rows, so one
            # row explained alone must give exactly its row of the batch
            alone = _run(kernel, model, x[i:i + 1], bg, target=0, forward_kwargs={"add_input": add[i:i + 1]})
            np.testing.assert_allclose(a.values[i], alone.values[0], atol=1e-6)
            np.testing.assert_allclose(a.values[i], exact, rtol=0.02, atol=0.1)
        else:
            np.testing.assert_allclose(a.values[i], exact, atol=1e-4)
    with torch.no_grad():
        np.testing.assert_allclose(a.outputs, model(x, add)[:, 0].numpy(), atol=1e-5)


@pytest.mark.parametrize("kernel", KERNELS)
def test_forward_kwargs_scalar_argument(kernel):
    model = bm.BasicModel_MultiLayer_MultiInput()  # forward(x1, x2, x3, scale): model(scale * (x1 + x2 + x3))
    x = torch.tensor([[3.0, 4.0, 1.0]])
    z = torch.zeros(1, 3)
    bg = torch.tensor([[0.0, 0.0, 0.0], [2.0, -1.0, 1.0]])
    a = _run(kernel, model, x, bg, target=0, forward_kwargs={"x2": z, "x3": z, "scale": 2})
    f = lambda v: model(torch.as_tensor(v, dtype=torch.float32), z, z, 2)[:, 0].detach().numpy()  # noqa: E731
    exact = brute_force_shapley(interventional_value(f, x[0].numpy(), bg.numpy()), 3)
    # permutation: sampled orderings over a function with kinks, close not exact
    np.testing.assert_allclose(a.values[0], exact, **({"rtol": 0.02, "atol": 0.1} if kernel == "permutation_shap" else {"atol": 1e-4}))
    assert float(a.values.sum() + a.base_values[0]) == pytest.approx(float(f(x.numpy())[0]), abs=1e-4)


def test_forward_kwargs_wrong_type_is_refused():
    with pytest.raises(TypeError, match="forward_kwargs"):
        xw.exact_shap(bm.BasicModel_MultiLayer(), torch.ones(1, 3), torch.zeros(1, 3), forward_kwargs=[1])


# ------------------------------------------------------- tuple feature blocks
@pytest.mark.parametrize("kernel", ["exact_shap", "kernel_shap"])
def test_tuple_blocks_torch_model(kernel):
    # several inputs (shap's [x1, x2] lists; Captum's tuples): the players are
    # the elements of every block, one Attribution per block
    model = bm.BasicModel_MultiLayer_MultiInput()
    x = (torch.tensor([[3.0, 4.0, 1.0]]), torch.tensor([[1.0, 0.0, 2.0]]), torch.tensor([[0.5, 1.5, 1.0]]))
    bg = (torch.zeros(2, 3), torch.tensor([[1.0, 1.0, 1.0], [-1.0, 0.0, 1.0]]), torch.zeros(2, 3))
    res = _run(kernel, model, x, bg, target=0, forward_kwargs={"scale": 1})
    assert isinstance(res, tuple) and len(res) == 3
    for r, xi in zip(res, x):
        assert r.values.shape == tuple(xi.shape)
        assert np.array_equal(r.target, res[0].target)

    def f(v):
        v = torch.as_tensor(v, dtype=torch.float32)
        with torch.no_grad():
            return model(v[:, :3], v[:, 3:6], v[:, 6:], 1)[:, 0].numpy()

    flat_x = torch.cat(x, 1)[0].numpy()
    flat_bg = torch.cat(bg, 1).numpy()
    exact = brute_force_shapley(interventional_value(f, flat_x, flat_bg), 9)
    got = np.concatenate([r.values[0] for r in res])
    np.testing.assert_allclose(got, exact, atol=1e-4)
    joint = sum(r.values.sum() for r in res)
    assert joint == pytest.approx(float(res[0].outputs[0] - res[0].base_values[0]), abs=1e-4)
    assert np.abs(res[0].delta).max() < 1e-4


def test_tuple_blocks_numpy_callable_permutation():
    # shap's second-order function split over two inputs: permutation SHAP is exact
    rs = np.random.RandomState(42)
    a_blk = rs.randint(0, 2, size=(20, 2)).astype(float)
    b_blk = rs.randint(0, 2, size=(20, 3)).astype(float)

    def f(a, b):
        return a[:, 0] * b[:, 1] + a[:, 1] + b[:, 0] * b[:, 2]

    res = xw.permutation_shap(f, (a_blk, b_blk), (np.zeros((1, 2)), np.zeros((1, 3))), permutations=2)
    ra, rb = res
    np.testing.assert_allclose(ra.values[:, 0], a_blk[:, 0] * b_blk[:, 1] / 2)
    np.testing.assert_allclose(ra.values[:, 1], a_blk[:, 1])
    np.testing.assert_allclose(rb.values[:, 1], a_blk[:, 0] * b_blk[:, 1] / 2)
    np.testing.assert_allclose(rb.values[:, 0], b_blk[:, 0] * b_blk[:, 2] / 2)
    np.testing.assert_allclose(rb.values[:, 2], b_blk[:, 0] * b_blk[:, 2] / 2)


def test_tuple_blocks_background_of_wrong_length_is_refused():
    model = bm.BasicModel_MultiLayer_MultiInput()
    x = (torch.ones(1, 3), torch.ones(1, 3), torch.ones(1, 3))
    with pytest.raises(ValueError, match="background"):
        xw.exact_shap(model, x, (torch.zeros(1, 3), torch.zeros(1, 3)), forward_kwargs={"scale": 1})


def test_tuple_blocks_disagreeing_in_batch_size_are_refused():
    f = lambda a, b: a.sum(1) + b.sum(1)  # noqa: E731
    with pytest.raises(ValueError, match="batch|rows"):
        xw.kernel_shap(f, (np.ones((2, 2)), np.ones((3, 2))), (np.zeros((1, 2)), np.zeros((1, 2))))


# ----------------------------------------------------- output names / targets
IRIS_NAMES = ["setosa", "versicolor", "virginica"]


@pytest.mark.parametrize("kernel", KERNELS)
def test_target_as_class_name(kernel):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    lr = LogisticRegression(max_iter=500).fit(x, y)
    by_name = _run(kernel, lr.predict_proba, x[:3], x[::10], target="virginica", output_names=IRIS_NAMES)
    by_index = _run(kernel, lr.predict_proba, x[:3], x[::10], target=2)
    np.testing.assert_allclose(by_name.values, by_index.values, atol=1e-12)
    assert by_name.output_names == IRIS_NAMES
    assert by_name.target.tolist() == [2, 2, 2]
    with pytest.raises(ValueError, match="virginca|close"):
        _run(kernel, lr.predict_proba, x[:3], x[::10], target="virginca", output_names=IRIS_NAMES)
    with pytest.raises(ValueError, match="output_names|names"):
        _run(kernel, lr.predict_proba, x[:3], x[::10], target=0, output_names=IRIS_NAMES[:2])


@pytest.mark.parametrize("target", [torch.tensor(1), torch.tensor([1]), np.int64(1), np.array([1])])
@pytest.mark.parametrize("kernel", KERNELS)
def test_scalar_tensor_targets(kernel, target):
    f = lambda v: np.stack([v.sum(1), (v ** 2).sum(1)], 1)  # noqa: E731
    x, bg = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 2.0]]), np.zeros((1, 3))
    a = _run(kernel, f, x, bg, target=target)
    assert a.target.tolist() == [1, 1]
    np.testing.assert_allclose(a.values, x ** 2, atol=1e-9)


def test_output_names_on_gradient_kernels():
    model = bm.BasicModel_MultiLayer()  # two outputs
    x = torch.tensor([[1.0, 2.0, 0.5]])
    names = ["low", "high"]
    a = xw.integrated_gradients(model, x, "high", output_names=names)
    b = xw.integrated_gradients(model, x, 1)
    np.testing.assert_allclose(a.values, b.values)
    assert a.output_names == names and a.target.tolist() == [1]
    model.output_names = names  # the demo models carry their class names like this
    c = xw.saliency(model, x, "low")
    assert c.output_names == names and c.target.tolist() == [0]
    with pytest.raises(ValueError, match="hgh|close|high"):
        xw.saliency(model, x, "hgh")
