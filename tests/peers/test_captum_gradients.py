"""Captum's saliency, input x gradient, integrated gradients and noise-tunnel tests, ported.

Sources: captum ``tests/attr/test_saliency.py``, ``test_input_x_gradient.py``,
``test_integrated_gradients_basic.py`` and the configs of
``captum/testing/attr/helpers/get_config_util.py``. Same models (imported
from ``captum.testing.helpers``), inputs, baselines, targets and expected
values; ``additional_forward_args`` become ``forward_kwargs`` (our models are
called as ``model(*inputs, **forward_kwargs)``), ``n_steps`` becomes
``steps``. Where Captum only checks shapes, the port also checks against the
closed form or the live Captum result on the same inputs.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import xai_widgets as xw
from peers_util import assert_close, np64, parts, values

captum_attr = pytest.importorskip("captum.attr")
bm = pytest.importorskip("captum.testing.helpers.basic_models")
cm = pytest.importorskip("captum.testing.helpers.classification_models")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:captum")  # the live reference's own advice

RIEMANN = ["riemann_right", "riemann_left", "riemann_middle", "riemann_trapezoid", "gausslegendre"]


# ------------------------------------------------------------------ configs
def basic_config():
    """``get_basic_config``: BasicModel on six scalars.

    Captum passes the 1-D tensor ``(6,)`` as six one-feature examples; our
    kernels read the first axis as the batch and need a feature axis, so the
    same six examples are ``(6, 1)``.
    """
    x = torch.tensor([1.0, 2.0, 3.0, 0.0, -1.0, 7.0]).reshape(6, 1)
    grads = torch.tensor([-0.0, -0.0, -0.0, 1.0, 1.0, -0.0]).reshape(6, 1)  # Captum's precomputed gradients
    return bm.BasicModel(), x, grads


def multiargs_config(large: bool = False):
    """``get_multiargs_basic_config`` (``_large``): BasicModel5_MultiArgs, two inputs, extra args ``([2, 3], 1)``."""
    model = bm.BasicModel5_MultiArgs()
    if large:
        x1 = torch.tensor([[10.5, 12.0, 34.3], [43.4, 51.2, 32.0]]).repeat_interleave(3, dim=0)
        x2 = torch.tensor([[1.0, 3.5, 23.2], [2.3, 1.2, 0.3]]).repeat_interleave(3, dim=0)
    else:
        x1 = torch.tensor([[1.5, 2.0, 34.3], [3.4, 1.2, 2.0]])
        x2 = torch.tensor([[3.0, 3.5, 23.2], [2.3, 1.2, 0.3]])
    kwargs = {"additional_input1": [2, 3], "additional_input2": 1}
    return model, (x1, x2), kwargs


def autograd_grads(model, inputs, kwargs=None, target=None):
    """Captum's ``compute_gradients``: d(sum of the target output)/d(inputs), by plain autograd."""
    leaves = tuple(t.clone().requires_grad_() for t in inputs)
    out = model(*leaves, **(kwargs or {}))
    if target is not None:
        out = out[:, target]
    return torch.autograd.grad(out.sum(), leaves)


# ================================================================= saliency
def test_saliency_basic_vanilla(state_check):
    model, x, grads = basic_config()
    with state_check(model):
        a = xw.saliency(model, x)
    assert_close(a.values, grads.abs(), atol=0.5)  # Captum's tolerance
    assert_close(a.values, grads.abs(), atol=1e-6)  # ... and the exact gradients


def test_saliency_basic_multi_variable_vanilla_tuple_inputs(state_check):
    model, inputs, kwargs = multiargs_config()
    expected = autograd_grads(model, inputs, kwargs)
    with state_check(model):
        res = xw.saliency(model, inputs, forward_kwargs=kwargs)
    assert isinstance(res, tuple) and len(res) == 2
    for a, x, g in zip(res, inputs, expected):
        assert a.values.shape == tuple(x.shape)
        assert_close(a.values, g.abs(), atol=1e-6)
        assert_close(a.data, x, atol=0)
    live = captum_attr.Saliency(model).attribute(inputs, additional_forward_args=([2, 3], 1))
    for a, c in zip(res, live):
        assert_close(a.values, c, atol=1e-6)
    # the parts share target, outputs and base values
    assert np.array_equal(res[0].target, res[1].target)
    assert np.array_equal(res[0].outputs, res[1].outputs)


@pytest.mark.parametrize("kind", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_saliency_noise_tunnel_multivar_large(kind):
    # Captum runs NoiseTunnel with stdevs=2e-7, i.e. the plain saliency. Our
    # noise is a fraction of each row's value range (not an absolute
    # standard deviation), so noise=0.0 is that limit exactly; the
    # mathematics then says smoothgrad = |g|, smoothgrad_sq = g**2, vargrad = 0.
    model, inputs, kwargs = multiargs_config(large=True)
    g = autograd_grads(model, inputs, kwargs)
    expected = {"smoothgrad": [t.abs() for t in g], "smoothgrad_sq": [t * t for t in g],
                "vargrad": [torch.zeros_like(t) for t in g]}[kind]
    one = xw.smoothgrad(model, inputs, kind=kind, samples=10, noise=0.0, forward_kwargs=kwargs)
    chunked = xw.smoothgrad(model, inputs, kind=kind, samples=10, noise=0.0, forward_kwargs=kwargs, batch_size=3)
    for a, b, e in zip(parts(one), parts(chunked), expected):
        assert_close(a.values, e, atol=1e-6)
        assert_close(b.values, a.values, atol=1e-9)


def test_saliency_classification_vanilla_0d_tensor_target(state_check):
    x = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0]])
    target = torch.tensor(5)  # a 0-d tensor, as in Captum's test
    model = cm.SoftmaxModel(5, 20, 10)
    expected = autograd_grads(model, (x,), target=5)[0].abs()
    with state_check(model):
        a = xw.saliency(model, x, target)
    assert_close(a.values, expected, atol=1e-7)
    assert a.target.tolist() == [5]
    live = captum_attr.Saliency(model).attribute(x.clone().requires_grad_(), target=target)
    assert_close(a.values, live, atol=1e-7)


def test_saliency_grad_unchanged():
    model, x, grads = basic_config()
    x = x.clone().requires_grad_()
    x.grad = torch.randn_like(x)
    before = x.grad.detach().clone()
    xw.saliency(model, x)
    assert torch.equal(x.grad, before)


# ========================================================= input x gradient
def test_input_x_gradient_basic_vanilla():
    model, x, grads = basic_config()
    a = xw.input_x_gradient(model, x)
    assert_close(a.values, grads * x, atol=0.05)


def test_input_x_gradient_multi_variable_tuple_inputs():
    model, inputs, kwargs = multiargs_config()
    g = autograd_grads(model, inputs, kwargs)
    res = xw.input_x_gradient(model, inputs, forward_kwargs=kwargs)
    assert isinstance(res, tuple) and len(res) == 2
    for a, x, gi in zip(res, inputs, g):
        assert_close(a.values, gi * x, atol=1e-6)
    live = captum_attr.InputXGradient(model).attribute(inputs, additional_forward_args=([2, 3], 1))
    for a, c in zip(res, live):
        assert_close(a.values, c, atol=1e-6)


@pytest.mark.parametrize("target", [torch.tensor(5), torch.tensor([5]), np.int64(5), np.array(5), 5])
def test_input_x_gradient_classification_scalar_targets(target):
    # Captum passes target=torch.tensor(5); a 0-d tensor, a one-element tensor
    # and a numpy scalar all broadcast to every row.
    x = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0], [1.0, 0.5, -2.0, 3.0, 0.0]])
    model = cm.SoftmaxModel(5, 20, 10)
    expected = autograd_grads(model, (x,), target=5)[0] * x
    a = xw.input_x_gradient(model, x, target)
    assert a.target.tolist() == [5, 5]
    assert_close(a.values, expected, atol=1e-7)


# ===================================================== integrated gradients
def _ig_multi_variable(model, method, multiply_by_inputs):
    x1, x2 = torch.tensor([[3.0]]), torch.tensor([[1.0]])
    b = (torch.tensor([[0.0]]), torch.tensor([[0.0]]))
    return xw.integrated_gradients(model, (x1, x2), baseline=b, steps=500, method=method,
                                   multiply_by_inputs=multiply_by_inputs)


@pytest.mark.parametrize("method", RIEMANN)
@pytest.mark.parametrize("multiply_by_inputs", [True, False])
def test_ig_multivariable_vanilla(method, multiply_by_inputs):
    # BasicModel2/3 are the two models of the IG paper: f = ReLU(ReLU(x1) - 1 - ReLU(x2)).
    # From (3, 1) against 0 the path is active for alpha > 1/2: IG = (1.5, -0.5);
    # without multiplying by (x - b) the "global" attributions are (0.5, -0.5).
    exp = ([1.5], [-0.5]) if multiply_by_inputs else ([0.5], [-0.5])
    res2 = _ig_multi_variable(bm.BasicModel2(), method, multiply_by_inputs)
    res3 = _ig_multi_variable(bm.BasicModel3(), method, multiply_by_inputs)
    for res in (res2, res3):
        assert isinstance(res, tuple) and len(res) == 2
        assert_close(res[0].values, [exp[0]], atol=0.05)
        assert_close(res[1].values, [exp[1]], atol=0.05)
        if multiply_by_inputs:
            assert res[0].delta is not None and np.abs(res[0].delta).max() < 0.07
            assert np.array_equal(res[0].delta, res[1].delta)  # the joint residual, shared
    if multiply_by_inputs:  # implementation invariance: both models compute the same function
        total2 = sum(float(a.values.sum()) for a in res2)
        total3 = sum(float(a.values.sum()) for a in res3)
        assert total2 == pytest.approx(total3, abs=1e-6)


@pytest.mark.parametrize("method", RIEMANN)
def test_ig_univariable_vanilla_scalar_baseline(method):
    # BasicModel: f(x) = min(x, 1). Completeness fixes the one attribution: f(x) - f(b).
    model = bm.BasicModel()
    for x, b in [(1.0, 0.0), (0.0, 0.0), (-1.0, 0.00001)]:
        a = xw.integrated_gradients(model, torch.tensor([[x]]), baseline=b, steps=500, method=method)
        assert np.abs(a.delta).max() < 0.07
        assert_close(a.values, [[min(x, 1.0) - min(b, 1.0)]], atol=0.01)
        assert float(a.base_values[0]) == pytest.approx(min(b, 1.0), abs=1e-7)


MULTI_ARG_CASES = [
    # (model, x1, x2, baselines, forward_kwargs, captum additional_forward_args)
    ("BasicModel4_MultiArgs", [[1.5, 2.0, 34.3]], [[3.0, 3.5, 23.2]], (0.0, torch.zeros((1, 3))),
     {"additional_input1": torch.arange(1.0, 4.0).reshape(1, 3)}, (torch.arange(1.0, 4.0).reshape(1, 3),)),
    ("BasicModel4_MultiArgs", [[1.5, 2.0, 34.3], [3.4, 1.2, 2.0]], [[3.0, 3.5, 23.2], [2.3, 1.2, 0.3]],
     (torch.zeros((2, 3)), 0.0),
     {"additional_input1": torch.arange(1.0, 7.0).reshape(2, 3), "additional_input2": 1},
     (torch.arange(1.0, 7.0).reshape(2, 3), 1)),
    ("BasicModel5_MultiArgs", [[1.5, 2.0, 34.3], [3.4, 1.2, 2.0]], [[3.0, 3.5, 23.2], [2.3, 1.2, 0.3]],
     (0.0, 0.00001), {"additional_input1": [2, 3], "additional_input2": 1}, ([2, 3], 1)),
    ("BasicModel5_MultiArgs", [[1.5, 2.0, 34.3], [3.4, 1.2, 2.0]], [[3.0, 3.5, 23.2], [2.3, 1.2, 0.3]],
     (torch.zeros((1, 3)), 0.00001), {"additional_input1": [2, 3], "additional_input2": 1}, ([2, 3], 1)),
]


@pytest.mark.parametrize("case", range(len(MULTI_ARG_CASES)))
@pytest.mark.parametrize("method", ["gausslegendre", "riemann_right"])
def test_ig_multi_argument_vanilla(case, method, state_check):
    name, x1, x2, baselines, kwargs, captum_args = MULTI_ARG_CASES[case]
    model = getattr(bm, name)()
    inputs = (torch.tensor(x1), torch.tensor(x2))
    with state_check(model):
        res = xw.integrated_gradients(model, inputs, baseline=baselines, steps=500, method=method,
                                      forward_kwargs=kwargs)
    assert isinstance(res, tuple) and len(res) == 2
    for a, x in zip(res, inputs):
        assert a.values.shape == tuple(x.shape)
    assert np.abs(res[0].delta).max() < 0.07  # Captum's completeness threshold
    live = captum_attr.IntegratedGradients(model).attribute(
        inputs, baselines, additional_forward_args=captum_args, method=method, n_steps=500)
    for a, c in zip(res, live):
        assert_close(a.values, c, atol=1e-3)


@pytest.mark.parametrize("method", ["riemann_middle", "gausslegendre"])
def test_ig_multi_tensor_input_vanilla(method):
    model = bm.BasicModel6_MultiTensor()
    inputs = (torch.tensor([[1.5, 2.0, 3.3]]), torch.tensor([[3.0, 3.5, 2.2]]))
    res = xw.integrated_gradients(model, inputs, steps=500, method=method)
    assert np.abs(res[0].delta).max() < 0.07
    live = captum_attr.IntegratedGradients(model).attribute(inputs, method=method, n_steps=500)
    for a, c in zip(res, live):
        assert_close(a.values, c, atol=1e-3)


def _multilayer_closed_form(rows: torch.Tensor) -> torch.Tensor:
    """BasicModel_MultiLayer output 0 is F(s) = relu(s - 10) + 3 relu(s + 1) - 1 with s the row sum.

    Every input element has the same gradient F'(s), so from a zero baseline
    IG gives each element ``x_i (F(s) - F(0)) / s``.
    """
    s = rows.sum(1, keepdim=True)
    F = lambda v: torch.relu(v - 10) + 3 * torch.relu(v + 1) - 1  # noqa: E731
    return rows * (F(s) - F(torch.zeros_like(s))) / s


@pytest.mark.parametrize("batch_size", [None, 10, 20])
def test_ig_batched_input_vanilla(batch_size):
    model = bm.BasicModel_MultiLayer()
    x = torch.tensor([[1.5, 2.0, 1.3], [0.5, 0.1, 2.3], [1.5, 2.0, 1.3]])
    a = xw.integrated_gradients(model, x, target=0, steps=100, method="riemann_left", batch_size=batch_size)
    assert_close(a.values, _multilayer_closed_form(x), atol=1e-4)
    rows = [xw.integrated_gradients(model, x[i:i + 1], target=0, steps=100, method="riemann_left",
                                    batch_size=batch_size) for i in range(3)]
    for i, r in enumerate(rows):
        assert_close(a.values[i], r.values[0], atol=1e-6)
    assert np.abs(a.delta).sum() == pytest.approx(sum(float(np.abs(r.delta).sum()) for r in rows), abs=0.005)


def test_ig_batched_multi_input_vanilla():
    # forward(x, add_input): the model sees x + add_input, so the two inputs
    # share one gradient per element and the closed form covers both.
    model = bm.BasicModel_MultiLayer()
    x = torch.tensor([[1.5, 2.1, 1.9], [0.5, 0.0, 0.7], [1.5, 2.1, 1.1]])
    add = torch.tensor([[0.3, 1.9, 2.4], [0.5, 0.6, 2.1], [1.2, 2.1, 0.2]])
    res = xw.integrated_gradients(model, (x, add), target=0, steps=500, method="riemann_right")
    both = torch.cat([x, add], 1)
    expected = _multilayer_closed_form(both)  # row 0 crosses the ReLU kink at s = 10 (s = 10.1)
    assert_close(res[0].values, expected[:, :3], atol=0.05)
    assert_close(res[1].values, expected[:, 3:], atol=0.05)
    assert np.abs(res[0].delta).max() < 0.07
    live = captum_attr.IntegratedGradients(model).attribute((x, add), target=0, method="riemann_right", n_steps=500)
    for a, c in zip(res, live):
        assert_close(a.values, c, atol=1e-3)


def test_ig_without_multiplying_by_inputs_times_inputs_is_ig():
    # test_batched_input_smoothgrad_wo_mutliplying_by_inputs (noise 0): the
    # "global" attributions times (x - 0) are the usual ones.
    model = bm.BasicModel_MultiLayer()
    x = torch.tensor([[1.5, 2.0, 1.3], [0.5, 0.1, 2.3], [1.5, 2.0, 1.3]])
    plain = xw.integrated_gradients(model, x, target=0, steps=500)
    glob = xw.integrated_gradients(model, x, target=0, steps=500, multiply_by_inputs=False)
    assert_close(glob.values * np64(x), plain.values, atol=1e-4)
    live = captum_attr.IntegratedGradients(model, multiply_by_inputs=False).attribute(x, target=0, n_steps=500)
    assert_close(glob.values, live, atol=1e-4)


def test_ig_callable_baseline():
    # Captum accepts baselines as a function of the inputs (DeepLiftShap,
    # GradientShap); for IG the path then starts at that tensor.
    model = bm.BasicModel_MultiLayer()
    x = torch.tensor([[1.5, 2.0, 1.3], [0.5, 0.1, 2.3]])
    fn = lambda inp: inp - 1.0  # noqa: E731
    a = xw.integrated_gradients(model, x, target=0, baseline=fn, steps=64)
    b = xw.integrated_gradients(model, x, target=0, baseline=x - 1.0, steps=64)
    assert_close(a.values, b.values, atol=1e-9)
    assert_close(a.base_values, b.base_values, atol=1e-9)
    # s drops by 3 along the path, F is linear there with slope 3: each element gets 3 * 1.0
    assert_close(a.values, np.full((2, 3), 3.0), atol=1e-4)


def test_ig_tuple_baseline_of_wrong_length_is_refused():
    model = bm.BasicModel2()
    inputs = (torch.tensor([[3.0]]), torch.tensor([[1.0]]))
    with pytest.raises(ValueError, match="baseline"):
        xw.integrated_gradients(model, inputs, baseline=(0.0, 0.0, 0.0))


def test_tuple_inputs_disagreeing_in_batch_size_are_refused():
    model = bm.BasicModel2()
    with pytest.raises(ValueError, match="batch"):
        xw.saliency(model, (torch.ones(2, 1), torch.ones(3, 1)))


# ================================================================ smoothgrad
@pytest.mark.parametrize("kind", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_smoothgrad_classification_matches_saliency_at_zero_noise(kind):
    # test_saliency_classification_{smoothgrad,vargrad}: Captum checks shapes
    # only; at zero noise the mathematics gives the saliency map exactly.
    x = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0]])
    model = cm.SoftmaxModel(5, 20, 10)
    g = autograd_grads(model, (x,), target=5)[0]
    a = xw.smoothgrad(model, x, torch.tensor(5), kind=kind, samples=10, noise=0.0)
    expected = {"smoothgrad": g.abs(), "smoothgrad_sq": g * g, "vargrad": torch.zeros_like(g)}[kind]
    assert_close(a.values, expected, atol=1e-7)
    assert a.values.shape == tuple(x.shape)


def test_smoothgrad_over_ig_at_zero_noise_is_ig():
    # NoiseTunnel(IntegratedGradients) with stdevs ~ 0 (test_*_smoothgrad of the IG suite)
    model = bm.BasicModel_MultiLayer()
    x = torch.tensor([[1.5, 2.0, 1.3], [0.5, 0.1, 2.3], [1.5, 2.0, 1.3]])
    a = xw.smoothgrad(model, x, 0, base="integrated_gradients", samples=5, noise=0.0, steps=50)
    assert_close(a.values, _multilayer_closed_form(x), atol=1e-4)


def test_ig_trapezoid_weights_sum_to_one():
    # A deliberate difference: Captum's riemann_trapezoid puts n points on
    # [0, 1] (spacing 1/(n-1)) but weighs them 1/n (ends halved), so its
    # weights sum to (n-1)/n and even a linear model misses completeness by
    # 1/n. Ours are the trapezoid rule's (spacing 1/(n-1)), summing to 1: on
    # a linear model IG is w * (x - b) exactly, and Captum's is that times (n-1)/n.
    model = bm.BasicLinearModel2(3, 1)
    x = torch.tensor([[1.0, -2.0, 0.5], [3.0, 1.0, 2.0]])
    n = 10
    a = xw.integrated_gradients(model, x, 0, steps=n, method="riemann_trapezoid")
    exact = np64(x) * np64(model.linear.weight)[0]
    assert_close(a.values, exact, atol=1e-6)
    assert np.abs(a.delta).max() < 1e-6
    live = captum_attr.IntegratedGradients(model).attribute(x, target=0, n_steps=n, method="riemann_trapezoid")
    assert_close(live, exact * (n - 1) / n, atol=1e-6)
