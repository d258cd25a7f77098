"""Captum's DeepLift / DeepLiftShap tests, ported to ``xw.deep_shap``.

Sources: captum ``tests/attr/test_deeplift_basic.py`` and
``test_deeplift_classification.py``. Our ``deep_shap(model, x, background)``
is DeepLiftShap: each row against every background row, averaged. Captum's
``DeepLift(model).attribute(x, baselines=b)`` with one baseline row per input
row is therefore ported row by row, ``deep_shap(model, x[i:i+1], b[i:i+1])``.
Captum's ``return_convergence_delta`` is our ``delta``. Expected values are
Captum's; where Captum compares with integrated gradients (tolerance 0.05),
so do we, with our own ``integrated_gradients`` on the same inputs.

The softmax classification and max-pool convnet cases have logit gaps
between input and baseline from about 740 to 76,000: a log-sum-exp that
shares one shift between both sides underflows there (NaN, or a wrong
answer with delta ~ 0), so they test the softmax rule's stability.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import xai_widgets as xw
from peers_util import assert_close, np64, parts

captum_attr = pytest.importorskip("captum.attr")
bm = pytest.importorskip("captum.testing.helpers.basic_models")
cm = pytest.importorskip("captum.testing.helpers.classification_models")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:captum")  # the live reference's own advice


def _deeplift_assert(model, inputs, background, *, delta=1e-5, ig_compare=True, **kw):
    """Captum's ``_deeplift_assert``: shapes, summation to delta, agreement with IG."""
    res = xw.deep_shap(model, inputs, background, **kw)
    got = parts(res)
    ins = inputs if isinstance(inputs, tuple) else (inputs,)
    assert len(got) == len(ins)
    for a, x in zip(got, ins):
        assert a.values.shape == tuple(x.shape)
    assert np.abs(got[0].delta).max() < delta
    joint = sum(a.values.reshape(len(a.values), -1).sum(1) for a in got)
    assert_close(joint, np64(got[0].outputs) - np64(got[0].base_values), atol=delta)
    bgs = background if isinstance(background, tuple) else (background,)
    if ig_compare and all(isinstance(b, torch.Tensor) and b.shape == x.shape for b, x in zip(bgs, ins)):
        ig = parts(xw.integrated_gradients(model, inputs, kw.get("target"), baseline=background,
                                           forward_kwargs=kw.get("forward_kwargs"), output=kw.get("output")))
        for a, b in zip(got, ig):
            assert_close(a.values, b.values, atol=0.05)
    return res


# ====================================================================== basic
def test_relu_deeplift(state_check):
    inputs = (torch.tensor([[1.0]]), torch.tensor([[2.0]]))
    background = (torch.tensor([[0.0]]), torch.tensor([[0.0]]))
    model = bm.ReLUDeepLiftModel()
    with state_check(model):
        _deeplift_assert(model, inputs, background)


def test_relu_deeplift_exact_match():
    inputs = (torch.tensor([[1.0]]), torch.tensor([[2.0]]))
    background = (torch.tensor([[0.0]]), torch.tensor([[0.0]]))
    res = xw.deep_shap(bm.ReLUDeepLiftModel(), inputs, background)
    assert float(res[0].values[0, 0]) == 2.0
    assert float(res[1].values[0, 0]) == 1.0
    assert float(res[0].delta[0]) == 0.0


def test_relu_deeplift_exact_match_wo_multiplying_by_inputs():
    # the multipliers alone: d(2 relu(x1)) / dx1 = 2 and (2 relu(2 - 1.5) - 0) / (2 - 0) = 0.5
    inputs = (torch.tensor([[1.0]]), torch.tensor([[2.0]]))
    background = (torch.zeros(1, 1), torch.zeros(1, 1))
    res = xw.deep_shap(bm.ReLUDeepLiftModel(), inputs, background, multiply_by_inputs=False)
    assert float(res[0].values[0, 0]) == pytest.approx(2.0)
    assert float(res[1].values[0, 0]) == pytest.approx(0.5)


def test_tanh_deeplift():
    inputs = (torch.tensor([[-1.0]]), torch.tensor([[-2.0]]))
    background = (torch.tensor([[0.0]]), torch.tensor([[0.0]]))
    model = bm.TanhDeepLiftModel()
    res = _deeplift_assert(model, inputs, background)
    live = captum_attr.DeepLift(model).attribute(inputs, background)
    for a, c in zip(res, live):
        assert_close(a.values, c, atol=1e-5)


def test_relu_deeplift_batch():
    inputs = (torch.ones(4, 1), torch.full((4, 1), 2.0))
    model = bm.ReLUDeepLiftModel()
    res = _deeplift_assert(model, inputs, (torch.zeros(1, 1), torch.zeros(1, 1)))
    assert_close(res[0].values, np.full((4, 1), 2.0), atol=1e-9)
    assert_close(res[1].values, np.full((4, 1), 1.0), atol=1e-9)


def test_relu_linear_deeplift_scalar_baselines():
    # Captum's baselines=(0, 0.0001): one number per input, broadcast to its shape
    model = bm.ReLULinearModel(inplace=False)
    inputs = (torch.tensor([[-10.0, 1.0, -5.0]]), torch.tensor([[3.0, 3.0, 1.0]]))
    res = _deeplift_assert(model, inputs, (0.0, 0.0001), ig_compare=False)
    live = captum_attr.DeepLift(model).attribute(inputs, (0, 0.0001))
    for a, c in zip(res, live):
        assert_close(a.values, c, atol=1e-5)
    ig = xw.integrated_gradients(model, inputs, baseline=(0.0, 0.0001))
    for a, b in zip(res, ig):
        assert_close(a.values, b.values, atol=0.05)


@pytest.mark.parametrize("inplace", [True, False])
def test_relu_linear_deeplift_batch(inplace):
    model = bm.ReLULinearModel(inplace=inplace)
    x1 = torch.tensor([[-10.0, 1.0, -5.0], [2.0, 3.0, 4.0]])
    x2 = torch.tensor([[3.0, 3.0, 1.0], [2.3, 5.0, 4.0]])
    background = (torch.zeros(1, 3), torch.rand(1, 3) * 0.001)
    res = _deeplift_assert(model, (x1, x2), background, ig_compare=False)
    live = captum_attr.DeepLift(bm.ReLULinearModel()).attribute((x1, x2), background)
    for a, c in zip(res, live):
        assert_close(a.values, c, atol=1e-5)


def test_relu_linear_deepliftshap_compare_inplace():
    x1 = torch.tensor([[-10.0, 1.0, -5.0], [2.0, 3.0, 4.0]])
    x2 = torch.tensor([[3.0, 3.0, 1.0], [2.3, 5.0, 4.0]])
    b = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    r1 = xw.deep_shap(bm.ReLULinearModel(inplace=True), (x1, x2), (b, b.clone()))
    r2 = xw.deep_shap(bm.ReLULinearModel(), (x1, x2), (b, b.clone()))
    live = captum_attr.DeepLiftShap(bm.ReLULinearModel()).attribute((x1, x2), (b, b.clone()))
    for a1, a2, c in zip(r1, r2, live):
        assert_close(a1.values, a2.values, atol=1e-9)
        assert_close(a1.values, c, atol=1e-5)


def test_relu_deepliftshap_batch_4d_input():
    inputs = (torch.ones(4, 1, 1, 1), torch.tensor([[[[2.0]]]] * 4))
    background = (torch.zeros(4, 1, 1, 1), torch.zeros(4, 1, 1, 1))
    # ReLUDeepLiftModel returns the input's shape (N, 1, 1, 1): map it to (N, 1) scores
    _deeplift_assert(bm.ReLUDeepLiftModel(), inputs, background, output=lambda o: o.reshape(len(o), -1))


def test_relu_deepliftshap_batch_4d_input_wo_multiplying_by_inputs():
    inputs = (torch.ones(4, 1, 1, 1), torch.tensor([[[[2.0]]]] * 4))
    background = (torch.zeros(4, 1, 1, 1), torch.zeros(4, 1, 1, 1))
    res = xw.deep_shap(bm.ReLUDeepLiftModel(), inputs, background, multiply_by_inputs=False,
                       output=lambda o: o.reshape(len(o), -1))
    assert_close(res[0].values, 2 * np.ones((4, 1, 1, 1)), atol=1e-9)
    assert_close(res[1].values, 0.5 * np.ones((4, 1, 1, 1)), atol=1e-9)


def test_relu_deepliftshap_multi_ref():
    inputs = (torch.tensor([[1.0]]), torch.tensor([[2.0]]))
    background = (torch.zeros(4, 1), torch.zeros(4, 1))
    _deeplift_assert(bm.ReLUDeepLiftModel(), inputs, background, ig_compare=False)


def test_relu_deepliftshap_baselines_as_func():
    model = bm.ReLULinearModel(inplace=True)
    inputs = (torch.tensor([[-10.0, 1.0, -5.0]]), torch.tensor([[3.0, 3.0, 1.0]]))

    def gen_baselines_with_inputs(inp):
        return (torch.cat([inp[0], inp[0] - 10]), torch.cat([inp[1], inp[1] - 10]))

    with_func = xw.deep_shap(model, inputs, gen_baselines_with_inputs)
    explicit = xw.deep_shap(model, inputs, gen_baselines_with_inputs(inputs))
    live = captum_attr.DeepLiftShap(model).attribute(inputs, gen_baselines_with_inputs)
    for a, b, c in zip(with_func, explicit, live):
        assert_close(a.values, b.values, atol=1e-12)
        assert_close(a.values, c, atol=1e-5)
    assert np.abs(with_func[0].delta).max() < 1e-5


def test_lin_maxpool_lin_classification():
    inputs = torch.ones(2, 4)
    baselines = torch.tensor([[1, 2, 3, 9], [4, 8, 6, 7]]).float()
    model = bm.LinearMaxPoolLinearModel()
    expected = [[0.0, 0.0, 0.0, -8.0], [0.0, -7.0, 0.0, 0.0]]
    for i in range(2):  # Captum's DeepLift pairs row i with baseline i
        a = xw.deep_shap(model, inputs[i:i + 1], baselines[i:i + 1], target=0)
        assert_close(a.values, [expected[i]], atol=0.0001)
        assert_close(a.delta, [0.0], atol=0.0001)


def test_reusable_modules_are_handled():
    # Captum's DeepLift refuses a model that calls one ReLU module twice
    # (RuntimeError). Our rules act per call, so the result is defined and
    # must sum to the output difference.
    model = bm.BasicModelWithReusedModules()
    x = torch.rand(1, 3)
    a = xw.deep_shap(model, x, torch.zeros(1, 3), target=0)
    assert np.abs(a.delta).max() < 1e-6


# ============================================================ classification
def test_sigmoid_classification():
    x = torch.arange(0.0, 20.0).unsqueeze(0)
    model = cm.SigmoidDeepLiftModel(20, 5, 1)
    a = _deeplift_assert(model, x, 0 * x, target=torch.tensor(0), delta=0.003)
    live = captum_attr.DeepLift(model).attribute(x, 0 * x, target=0)
    assert_close(a.values, live, atol=1e-5)


def _softmax_classification(model, x, background, target):
    """Captum's ``softmax_classification``: targets ``target`` and then ``torch.tensor(1)``."""
    for t in (target, torch.tensor(1)):
        res = _deeplift_assert(model, x, background, target=t, delta=0.003)
        t_list = np.broadcast_to(np.asarray(t), (len(x),)).tolist()
        assert res.target.tolist() == t_list
        assert np.isfinite(res.values).all()


def test_softmax_classification_zero_baseline():
    x = torch.arange(0.0, 20.0).unsqueeze(0)
    model = cm.SoftmaxDeepLiftModel(20, 20, 10)
    _softmax_classification(model, x, torch.zeros_like(x), torch.tensor(2))


def test_softmax_classification_scalar_background():
    # Captum's baselines=0.0: a number broadcast to the input's shape
    x = torch.arange(0.0, 20.0).unsqueeze(0)
    model = cm.SoftmaxDeepLiftModel(20, 20, 10)
    a = xw.deep_shap(model, x, 0.0, target=torch.tensor(2))
    b = xw.deep_shap(model, x, torch.zeros_like(x), target=2)
    assert_close(a.values, b.values, atol=1e-12)


def test_softmax_classification_batch_zero_baseline():
    x = torch.arange(0.0, 40.0 * 3).reshape(3, 40)
    model = cm.SoftmaxDeepLiftModel(40, 20, 10)
    _softmax_classification(model, x, torch.zeros(1, 40), torch.tensor([2, 2, 2]))


def test_softmax_classification_batch_multi_target():
    x = torch.arange(0.0, 40.0 * 3).reshape(3, 40).double()
    background = torch.arange(1.0, 41.0).reshape(1, 40).double()
    model = cm.SoftmaxDeepLiftModel(40, 20, 10).double()
    _softmax_classification(model, x, background, torch.tensor([2, 2, 2]))


def test_softmax_classification_multi_baseline():
    x = torch.arange(0.0, 40.0).unsqueeze(0)
    background = torch.randn(5, 40)
    model = cm.SoftmaxDeepLiftModel(40, 20, 10)
    _softmax_classification(model, x, background, torch.tensor(2))


def test_softmax_classification_batch_multi_baseline():
    x = torch.arange(0.0, 80.0).reshape(2, 40)
    background = torch.randn(5, 40)
    model = cm.SoftmaxDeepLiftModel(40, 20, 10)
    _softmax_classification(model, x, background, torch.tensor(2))


CONVNETS = {
    "maxpool1d": (lambda: bm.BasicModel_ConvNet_MaxPool1d(), (2, 1, 10)),
    "maxpool2d": (lambda: bm.BasicModel_ConvNet(), (2, 1, 10, 10)),
    "maxpool3d": (lambda: bm.BasicModel_ConvNet_MaxPool3d(), (2, 1, 10, 10, 10)),
}


@pytest.mark.parametrize("scale", [20, 500], ids=["baselines", "large_baselines"])
@pytest.mark.parametrize("net", sorted(CONVNETS))
def test_convnet_with_maxpool(net, scale):
    # test_convnet_with_maxpool{1,2,3}d[_large_baselines]: input 100 randn,
    # baselines 20 randn (500 randn; 600 for 3d), drawn in Captum's order.
    make, shape = CONVNETS[net]
    scale = 600 if (net == "maxpool3d" and scale == 500) else scale
    x = 100 * torch.randn(*shape)
    baseline = scale * torch.randn(*shape)
    model = make()
    for i in range(2):  # Captum's DeepLift pairs row i with baseline i (target 2)
        a = xw.deep_shap(model, x[i:i + 1], baseline[i:i + 1], target=torch.tensor(2))
        assert np.isfinite(a.values).all()
        assert np.abs(a.delta).max() < 0.003
        with torch.no_grad():
            f = model(torch.cat([x[i:i + 1], baseline[i:i + 1]]))[:, 2]
        assert_close(a.values.reshape(1, -1).sum(1), (f[0] - f[1]).double(), atol=0.003)
    # Captum's second target, over both baselines at once (DeepLiftShap): additive too
    a = xw.deep_shap(model, x, baseline, target=torch.tensor(1))
    assert np.isfinite(a.values).all()
    assert np.abs(a.delta).max() < 0.003
