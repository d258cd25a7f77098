"""Gradient kernels on models with several inputs (a tuple): closed forms on a linear
two-input model, agreement with Captum on the same tuple inputs, baselines in every form
(None, number, tuple, function of the inputs), multiply_by_inputs=False, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import xai_widgets as xw
from xai_widgets.explain.distributed import row_generator
from xai_widgets.explain import gradients as G
from counting import RowCounter


class Lin2(torch.nn.Module):
    """f(x1, x2) = W1 x1 + W2 vec(x2) + c: IG is w * (x - b) for each input."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.l1 = torch.nn.Linear(6, 3).double()
        self.l2 = torch.nn.Linear(6, 3, bias=False).double()

    def forward(self, x1, x2):
        return self.l1(x1) + self.l2(x2.flatten(1))

    def w(self, t):  # per-input weights of output t, shaped like one row of each input
        return self.l1.weight[t].detach().numpy(), self.l2.weight[t].detach().numpy().reshape(2, 3)


class Net2(torch.nn.Module):
    """A smooth two-input net; ``act`` feeds a linear head, so layer IG there has a closed form."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.a = torch.nn.Linear(6, 8)
        self.b = torch.nn.Linear(6, 8)
        self.act = torch.nn.Tanh()
        self.head = torch.nn.Linear(8, 3)
        self.double()

    def forward(self, x1, x2, scale=None):
        out = self.head(self.act(self.a(x1) + self.b(x2.flatten(1))))
        return out if scale is None else out * scale[:, None]


@pytest.fixture
def xs():
    g = torch.Generator().manual_seed(7)
    return torch.randn(4, 6, generator=g, dtype=torch.float64), torch.randn(4, 2, 3, generator=g, dtype=torch.float64)


def _f(model, *args, **kw):
    with torch.no_grad():
        return model(*args, **kw)


# ---------------------------------------------------------- closed forms
@pytest.mark.parametrize("method", G.IG_METHODS)
def test_ig_linear_two_inputs_closed_form(xs, method):
    model = Lin2()
    x1, x2 = xs
    b2 = torch.linspace(-1, 1, 6, dtype=torch.float64).reshape(2, 3)
    r = xw.integrated_gradients(model, (x1, x2), target=1, baseline=(0.5, b2), steps=12, method=method, batch_size=5)
    assert isinstance(r, tuple) and len(r) == 2
    a1, a2 = r
    w1, w2 = model.w(1)
    np.testing.assert_allclose(a1.values, w1 * (x1.numpy() - 0.5), atol=1e-12)
    np.testing.assert_allclose(a2.values, w2 * (x2.numpy() - b2.numpy()), atol=1e-12)
    assert a1.shape == (4, 6) and a2.shape == (4, 2, 3)
    np.testing.assert_array_equal(a1.data, x1.numpy())
    np.testing.assert_array_equal(a2.data, x2.numpy())
    fx = _f(model, x1, x2)[:, 1].numpy()
    fb = _f(model, torch.full((1, 6), 0.5, dtype=torch.float64), b2[None])[0, 1].item()
    for a in r:  # shared target / outputs / base values, each with the joint delta
        np.testing.assert_array_equal(a.target, [1] * 4)
        np.testing.assert_allclose(a.outputs, fx, atol=1e-12)
        np.testing.assert_allclose(a.base_values, fb, atol=1e-12)
        np.testing.assert_allclose(a.delta, 0, atol=1e-12)
        assert a.method == "integrated_gradients" and a.params["method"] == method
    # the joint delta is the residual of the SUM over both inputs, not of each alone
    alone = a1.values.sum(1) - (fx - fb)
    assert np.abs(alone).max() > 1e-3
    np.testing.assert_allclose(a1.values.sum(1) + a2.values.reshape(4, -1).sum(1), fx - fb, atol=1e-12)


def test_saliency_input_x_gradient_linear_two_inputs(xs):
    model = Lin2()
    x1, x2 = xs
    w1, w2 = model.w(2)
    s1, s2 = xw.saliency(model, (x1, x2), target=2, abs=False)
    np.testing.assert_allclose(s1.values, np.broadcast_to(w1, x1.shape), atol=1e-12)
    np.testing.assert_allclose(s2.values, np.broadcast_to(w2, x2.shape), atol=1e-12)
    assert s1.delta is None and s2.delta is None
    i1, i2 = xw.input_x_gradient(model, [x1, x2], target=2)  # a list works as a tuple
    np.testing.assert_allclose(i1.values, w1 * x1.numpy(), atol=1e-12)
    np.testing.assert_allclose(i2.values, w2 * x2.numpy(), atol=1e-12)
    np.testing.assert_allclose(i1.base_values, model.l1.bias[2].item(), atol=1e-12)  # f(0, 0)
    np.testing.assert_allclose(i1.values.sum(1) + i2.values.reshape(4, -1).sum(1), i1.outputs - i1.base_values, atol=1e-12)


def test_smoothgrad_linear_two_inputs(xs):
    model = Lin2()
    x1, x2 = xs
    w1, w2 = model.w(0)
    a1, a2 = xw.smoothgrad(model, (x1, x2), target=0, samples=5, noise=0.4)
    np.testing.assert_allclose(a1.values, np.broadcast_to(np.abs(w1), x1.shape), atol=1e-12)
    np.testing.assert_allclose(a2.values, np.broadcast_to(np.abs(w2), x2.shape), atol=1e-12)
    v1, v2 = xw.smoothgrad(model, (x1, x2), target=0, samples=5, kind="vargrad")
    assert np.abs(v1.values).max() <= 1e-12 and np.abs(v2.values).max() <= 1e-12
    # IG base: IG of a linear model at a noisy copy is w * copy; the noise averages in
    g1, g2 = xw.smoothgrad(model, (x1, x2), target=0, samples=3, noise=0.0, base="integrated_gradients", steps=2)
    np.testing.assert_allclose(g1.values, w1 * x1.numpy(), atol=1e-12)
    np.testing.assert_allclose(g2.values, w2 * x2.numpy(), atol=1e-12)


def test_smoothgrad_noise_per_input_reproduced():
    """grad of (|x1|^2 + |x2|^2) / 2 is (x1, x2): SmoothGrad is the mean of |copy|. The copies are
    drawn pair by pair, each input in order, from the row's generator (``row_generator``); each input's
    sigma is ``noise`` times its own row's range."""

    class Sq2(torch.nn.Module):
        def forward(self, x1, x2):
            return ((x1 * x1).sum(1) + (x2 * x2).flatten(1).sum(1)) / 2

    g = torch.Generator().manual_seed(3)
    x1 = torch.randn(2, 4, generator=g, dtype=torch.float64)
    x2 = 5 * torch.randn(2, 3, generator=g, dtype=torch.float64)
    samples, noise, seed = 6, 0.2, 11
    a1, a2 = xw.smoothgrad(Sq2(), (x1, x2), target=0, samples=samples, noise=noise, seed=seed, batch_size=4)
    exp1, exp2 = torch.zeros_like(x1), torch.zeros_like(x2)
    for row in range(2):
        gen = row_generator(seed, row)  # one generator per row (row 0: seeded with seed itself)
        s1 = noise * (x1[row].max() - x1[row].min())
        s2 = noise * (x2[row].max() - x2[row].min())
        for _ in range(samples):
            exp1[row] += (x1[row] + s1 * torch.randn(4, generator=gen, dtype=torch.float64)).abs() / samples
            exp2[row] += (x2[row] + s2 * torch.randn(3, generator=gen, dtype=torch.float64)).abs() / samples
    np.testing.assert_allclose(a1.values, exp1.numpy(), atol=1e-12)
    np.testing.assert_allclose(a2.values, exp2.numpy(), atol=1e-12)
    b1, b2 = xw.smoothgrad(Sq2(), (x1, x2), target=0, samples=samples, noise=noise, seed=seed, batch_size=1)
    np.testing.assert_allclose(b1.values, a1.values, rtol=1e-12)
    np.testing.assert_allclose(b2.values, a2.values, rtol=1e-12)


def test_target_all_and_unused_input(xs):
    model = Lin2()
    x1, x2 = xs
    a1, a2 = xw.integrated_gradients(model, (x1, x2), target="all", steps=3)
    assert a1.shape == (4, 3, 6) and a2.shape == (4, 3, 2, 3) and a1.delta.shape == (4, 3)
    W1, W2 = model.l1.weight.detach().numpy(), model.l2.weight.detach().numpy().reshape(3, 2, 3)
    np.testing.assert_allclose(a1.values, W1[None] * x1.numpy()[:, None], atol=1e-12)
    np.testing.assert_allclose(a2.values, W2[None] * x2.numpy()[:, None], atol=1e-12)
    np.testing.assert_allclose(a1.delta, 0, atol=1e-12)

    class Ignores(torch.nn.Module):  # the second input is not used: its gradient is zero
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(6, 2).double()

        def forward(self, x1, x2):
            return self.lin(x1)

    m = Ignores()
    s1, s2 = xw.saliency(m, (x1, x2), target=1, abs=False)
    np.testing.assert_allclose(s1.values, np.broadcast_to(m.lin.weight[1].detach().numpy(), x1.shape))
    assert np.array_equal(s2.values, np.zeros(x2.shape))


# ----------------------------------------------------------- baselines
def test_baseline_forms_two_inputs(xs):
    model = Lin2()
    x1, x2 = xs
    w1, w2 = model.w(0)
    # a number broadcasts to every input
    a1, a2 = xw.integrated_gradients(model, (x1, x2), target=0, baseline=0.25, steps=2)
    np.testing.assert_allclose(a1.values, w1 * (x1.numpy() - 0.25), atol=1e-12)
    np.testing.assert_allclose(a2.values, w2 * (x2.numpy() - 0.25), atol=1e-12)
    # a function of the inputs, called once on the validated tuple
    calls = []

    def means(inputs):
        calls.append(len(inputs))
        return tuple(x.mean(0, keepdim=True) for x in inputs)

    c1, c2 = xw.integrated_gradients(model, (x1, x2), target=0, baseline=means, steps=2)
    assert calls == [2]
    np.testing.assert_allclose(c1.values, w1 * (x1 - x1.mean(0)).numpy(), atol=1e-12)
    np.testing.assert_allclose(c2.values, w2 * (x2 - x2.mean(0)).numpy(), atol=1e-12)
    fb = _f(model, x1.mean(0, keepdim=True), x2.mean(0, keepdim=True))[0, 0].item()
    np.testing.assert_allclose(c1.base_values, fb, atol=1e-12)
    # a zero-argument function (as Captum allows), and per-row tensors in the tuple
    z1, _ = xw.integrated_gradients(model, (x1, x2), target=0, baseline=lambda: (1.0, torch.zeros(2, 3)), steps=2)
    np.testing.assert_allclose(z1.values, w1 * (x1.numpy() - 1.0), atol=1e-12)
    rows = torch.arange(4, dtype=torch.float64)[:, None].expand(4, 6)
    p1, _ = xw.integrated_gradients(model, (x1, x2), target=0, baseline=(rows, None), steps=2)
    np.testing.assert_allclose(p1.values, w1 * (x1 - rows).numpy(), atol=1e-12)


def test_callable_baseline_single_input(linear_model):
    x = torch.randn(3, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    w = linear_model.weight.detach().numpy()
    seen = []

    def base(inp):
        seen.append(tuple(inp.shape))
        return inp.mean(0)

    a = xw.integrated_gradients(linear_model, x, target=2, baseline=base, steps=3)
    assert seen == [(3, 6)]
    np.testing.assert_allclose(a.values, w[2] * (x - x.mean(0)).numpy(), atol=1e-12)
    np.testing.assert_allclose(a.delta, 0, atol=1e-12)
    b = xw.integrated_gradients(linear_model, x, target=2, baseline=(0.5,), steps=3)  # a 1-tuple for one input
    np.testing.assert_allclose(b.values, w[2] * (x.numpy() - 0.5), atol=1e-12)


def test_multiply_by_inputs_false(xs, linear_model):
    """The "global" IG: the path-averaged gradient alone (no delta); on a linear model, the weights."""
    model = Lin2()
    x1, x2 = xs
    w1, w2 = model.w(1)
    a1, a2 = xw.integrated_gradients(model, (x1, x2), target=1, baseline=0.3, steps=4, multiply_by_inputs=False)
    np.testing.assert_allclose(a1.values, np.broadcast_to(w1, x1.shape), atol=1e-12)
    np.testing.assert_allclose(a2.values, np.broadcast_to(w2, x2.shape), atol=1e-12)
    assert a1.delta is None and a2.delta is None and a1.params["multiply_by_inputs"] is False
    assert a1.base_values is not None
    s = xw.integrated_gradients(linear_model, x1, target=0, steps=4, multiply_by_inputs=False, method="adaptive")
    np.testing.assert_allclose(s.values, np.broadcast_to(linear_model.weight[0].detach().numpy(), x1.shape), atol=1e-12)


# --------------------------------------------------------------- Captum
def test_ig_matches_captum_tuple(xs):
    from captum.attr import IntegratedGradients

    model = Net2()
    x1, x2 = xs
    b1, b2 = torch.full((1, 6), -0.2, dtype=torch.float64), torch.linspace(0, 1, 6, dtype=torch.float64).reshape(1, 2, 3)
    t = [0, 2, 1, 2]
    for method in ("gausslegendre", "riemann_middle"):
        a1, a2 = xw.integrated_gradients(model, (x1, x2), target=t, baseline=(b1, b2), steps=16, method=method)
        (c1, c2), d = IntegratedGradients(model).attribute(
            (x1, x2), baselines=(b1, b2), target=torch.tensor(t), n_steps=16, method=method,
            return_convergence_delta=True,
        )
        np.testing.assert_allclose(a1.values, c1.detach().numpy(), atol=1e-10)
        np.testing.assert_allclose(a2.values, c2.detach().numpy(), atol=1e-10)
        np.testing.assert_allclose(a1.delta, d.numpy(), atol=1e-10)
        np.testing.assert_allclose(a2.delta, a1.delta)
    # the "global" variant
    g1, g2 = xw.integrated_gradients(model, (x1, x2), target=t, baseline=(b1, b2), steps=16, multiply_by_inputs=False)
    c1, c2 = IntegratedGradients(model, multiply_by_inputs=False).attribute(
        (x1, x2), baselines=(b1, b2), target=torch.tensor(t), n_steps=16
    )
    np.testing.assert_allclose(g1.values, c1.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(g2.values, c2.detach().numpy(), atol=1e-10)


def test_ig_single_input_multiply_by_inputs_false_matches_captum():
    from captum.attr import IntegratedGradients

    torch.manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Softplus(), torch.nn.Linear(7, 2)).double()
    x = torch.randn(3, 5, dtype=torch.float64)
    a = xw.integrated_gradients(model, x, target=1, baseline=0.1, steps=20, multiply_by_inputs=False)
    c = IntegratedGradients(model, multiply_by_inputs=False).attribute(x, baselines=0.1, target=1, n_steps=20)
    np.testing.assert_allclose(a.values, c.detach().numpy(), atol=1e-10)
    assert a.delta is None


def test_saliency_input_x_gradient_match_captum_tuple(xs):
    from captum.attr import InputXGradient, Saliency

    model = Net2()
    x1, x2 = xs
    a1, a2 = xw.saliency(model, (x1, x2), target=1)
    c1, c2 = Saliency(model).attribute((x1.clone(), x2.clone()), target=1)
    np.testing.assert_allclose(a1.values, c1.numpy(), atol=1e-12)
    np.testing.assert_allclose(a2.values, c2.numpy(), atol=1e-12)
    i1, i2 = xw.input_x_gradient(model, (x1, x2), target=1, batch_size=3)
    c1, c2 = InputXGradient(model).attribute((x1.clone(), x2.clone()), target=1)
    np.testing.assert_allclose(i1.values, c1.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(i2.values, c2.detach().numpy(), atol=1e-12)


def test_noise_tunnel_agrees_on_linear_model(xs):
    """Captum's NoiseTunnel adds noise of an absolute standard deviation, ours a fraction of each row's
    range; on a linear model the gradient does not depend on the point, so both give |w| and w**2."""
    from captum.attr import NoiseTunnel, Saliency

    model = Lin2()
    x1, x2 = xs
    for kind, nt in (("smoothgrad", "smoothgrad"), ("smoothgrad_sq", "smoothgrad_sq")):
        a1, a2 = xw.smoothgrad(model, (x1, x2), target=2, kind=kind, samples=4, noise=0.3)
        c1, c2 = NoiseTunnel(Saliency(model)).attribute(
            (x1.clone(), x2.clone()), nt_type=nt, nt_samples=4, stdevs=(0.5, 0.5), target=2
        )
        np.testing.assert_allclose(a1.values, c1.numpy(), atol=1e-12)
        np.testing.assert_allclose(a2.values, c2.numpy(), atol=1e-12)


def test_layer_ig_tuple_inputs_closed_form_and_captum(xs):
    """With layer= the layer's output is attributed (one Attribution); tanh -> linear head gives
    w_head * (h(x) - h(b)); Captum's LayerIntegratedGradients on the same tuple agrees."""
    from captum.attr import LayerIntegratedGradients

    model = Net2()
    x1, x2 = xs
    b = (0.1, torch.zeros(2, 3, dtype=torch.float64))
    a = xw.integrated_gradients(model, (x1, x2), target=2, baseline=b, layer=model.act, steps=5)
    assert isinstance(a, xw.Attribution) and a.shape == (4, 8) and a.params["layer"] == "act"
    with torch.no_grad():
        h = model.act(model.a(x1) + model.b(x2.flatten(1)))
        hb = model.act(model.a(torch.full((1, 6), 0.1, dtype=torch.float64)) + model.b(torch.zeros(1, 6, dtype=torch.float64)))
    np.testing.assert_allclose(a.values, model.head.weight[2].detach().numpy() * (h - hb).numpy(), atol=1e-12)
    np.testing.assert_allclose(a.delta, 0, atol=1e-12)
    c = LayerIntegratedGradients(model, model.act).attribute(
        (x1, x2), baselines=(torch.full_like(x1, 0.1), torch.zeros_like(x2)), target=2, n_steps=5
    )
    np.testing.assert_allclose(a.values, c.detach().numpy(), atol=1e-12)
    s = xw.saliency(model, (x1, x2), target=2, layer="act", abs=False)
    assert isinstance(s, xw.Attribution)
    np.testing.assert_allclose(s.values, np.broadcast_to(model.head.weight[2].detach().numpy(), (4, 8)), atol=1e-12)


def test_forward_kwargs_and_chunking_with_tuples(xs):
    model = Net2()
    x1, x2 = xs
    scale = torch.tensor([1.0, 2.0, -1.0, 0.5], dtype=torch.float64)
    ref = xw.integrated_gradients(model, (x1, x2), target=0, steps=7, forward_kwargs={"scale": scale}, batch_size=100)
    plain = xw.integrated_gradients(model, (x1, x2), target=0, steps=7)
    for bs in (1, 3, None):
        r = xw.integrated_gradients(model, (x1, x2), target=0, steps=7, forward_kwargs={"scale": scale}, batch_size=bs)
        for a, b in zip(r, ref):
            np.testing.assert_allclose(a.values, b.values, rtol=1e-12, atol=1e-14)
    # the per-row scale multiplies the score, so each row's attribution scales with it
    for a, p in zip(ref, plain):
        np.testing.assert_allclose(a.values, p.values * scale.numpy().reshape((4,) + (1,) * (a.values.ndim - 1)), atol=1e-12)
    sal = xw.saliency(model, (x1, x2), target=0, abs=False, batch_size=1)
    sal_all = xw.saliency(model, (x1, x2), target=0, abs=False)
    for a, b in zip(sal, sal_all):
        np.testing.assert_allclose(a.values, b.values, rtol=1e-12)


def test_tuple_results_left_model_as_found(state_check, xs):
    model = Net2().train()
    with state_check(model):
        with torch.no_grad():
            r = xw.integrated_gradients(model, xs, target=0, steps=3)
            xw.smoothgrad(model, xs, target=0, samples=2)
            xw.input_x_gradient(model, xs, target=0)
    assert model.training and len(r) == 2
    # each member owns its arrays: changing one leaves the other as it was
    r[0].outputs[0] = 1e9
    assert r[1].outputs[0] != 1e9


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "call, err, match",
    [
        (lambda m, x1, x2: xw.saliency(m, (x1, x2[:3])), ValueError, r"share the batch size.*\(4, 6\).*\(3, 2, 3\)"),
        (lambda m, x1, x2: xw.integrated_gradients(m, (x1, x2[:2])), ValueError, "batch size"),
        (lambda m, x1, x2: xw.smoothgrad(m, (x1[:1], x2)), ValueError, "batch size"),
        (lambda m, x1, x2: xw.integrated_gradients(m, (x1, x2), baseline=(0.0,)), ValueError,
         r"1 items but inputs is a tuple of 2"),
        (lambda m, x1, x2: xw.integrated_gradients(m, (x1, x2), baseline=(0.0, 0.0, 0.0)), ValueError, "3 items"),
        (lambda m, x1, x2: xw.integrated_gradients(m, (x1, x2), baseline=torch.zeros(6)), ValueError,
         "tuple of 2 baselines"),
        (lambda m, x1, x2: xw.integrated_gradients(m, (x1, x2), baseline=(0.0, torch.zeros(3, 2))), ValueError,
         r"baseline\[1\] of shape \(3, 2\) does not broadcast"),
        (lambda m, x1, x2: xw.integrated_gradients(m, (x1, x2), baseline=lambda xs: (0.0,)), ValueError,
         r"baseline\(inputs\) is a tuple of 1 items"),
        (lambda m, x1, x2: xw.integrated_gradients(m, (x1, x2), baseline=lambda xs: "zeros"), ValueError,
         r"baseline\(inputs\) must be a number"),
        (lambda m, x1, x2: xw.integrated_gradients(m, x1, baseline=lambda x: "zeros"), TypeError, r"baseline\(inputs\)"),
        (lambda m, x1, x2: xw.integrated_gradients(m, x1, baseline=(0.0, 1.0)), ValueError, "a single tensor"),
        (lambda m, x1, x2: xw.integrated_gradients(m, (x1, x2), multiply_by_inputs="no"), TypeError,
         "multiply_by_inputs"),
        (lambda m, x1, x2: xw.saliency(m, ()), ValueError, "empty tuple"),
        (lambda m, x1, x2: xw.saliency(m, (x1, "x2")), TypeError, r"inputs\[1\]"),
    ],
)
def test_bad_tuple_arguments_fail_before_work(xs, call, err, match):
    model = Net2()
    x1, x2 = xs
    counter = RowCounter(model)
    try:
        with pytest.raises(err, match=match):
            call(model, x1, x2)
    finally:
        counter.close()
    assert counter.calls == 0
