"""Saliency and input × gradient: closed forms, Captum agreement, model left as found, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import xai_widgets as xw
from xai_widgets.explain import gradients as G
from counting import RowCounter


@pytest.fixture
def x6():
    g = torch.Generator().manual_seed(1)
    return torch.randn(5, 6, generator=g, dtype=torch.float64)


class Flaky(torch.nn.Module):
    """Tanh MLP that raises once it sees more than one row (after a successful probe)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.BatchNorm1d(8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
        self.net.double()

    def forward(self, x):
        if x.shape[0] > 1:
            raise RuntimeError("boom")
        return self.net(x)


# ------------------------------------------------------------- closed forms
def test_saliency_linear_is_abs_weight(linear_model, x6):
    a = xw.saliency(linear_model, x6, target=1)
    w = linear_model.weight.detach().numpy()
    np.testing.assert_allclose(a.values, np.broadcast_to(np.abs(w[1]), x6.shape), rtol=0, atol=1e-12)
    assert a.method == "saliency" and a.delta is None
    np.testing.assert_array_equal(a.target, [1] * 5)
    np.testing.assert_allclose(a.outputs, (x6 @ linear_model.weight.T + linear_model.bias)[:, 1].detach().numpy())
    np.testing.assert_array_equal(a.data, x6.numpy())


def test_saliency_signed(linear_model, x6):
    a = xw.saliency(linear_model, x6, target=2, abs=False)
    np.testing.assert_allclose(a.values[0], linear_model.weight[2].detach().numpy(), atol=1e-12)


def test_input_x_gradient_linear(linear_model, x6):
    a = xw.input_x_gradient(linear_model, x6, target=[0, 1, 2, 0, 1])
    w = linear_model.weight.detach().numpy()
    t = np.array([0, 1, 2, 0, 1])
    np.testing.assert_allclose(a.values, w[t] * x6.numpy(), atol=1e-12)
    np.testing.assert_allclose(a.base_values, linear_model.bias.detach().numpy()[t], atol=1e-12)
    assert a.delta is None  # no completeness promise
    # on a linear model input×gradient does add up to f(x) - f(0)
    np.testing.assert_allclose(a.values.sum(1), a.outputs - a.base_values, atol=1e-12)


def test_target_variants(linear_model, x6):
    scores = (x6 @ linear_model.weight.T + linear_model.bias).detach().numpy()
    a = xw.saliency(linear_model, x6)
    np.testing.assert_array_equal(a.target, scores.argmax(1))
    np.testing.assert_allclose(a.outputs, scores.max(1))
    a = xw.saliency(linear_model, x6, target=np.int64(2))
    assert a.shape == (5, 6)
    a = xw.input_x_gradient(linear_model, x6, target="all")
    assert a.shape == (5, 3, 6) and a.params["target"] == "all"
    np.testing.assert_array_equal(a.target, [0, 1, 2])
    assert a.outputs.shape == (5, 3) and a.base_values.shape == (5, 3)
    w = linear_model.weight.detach().numpy()
    np.testing.assert_allclose(a.values, w[None] * x6.numpy()[:, None], atol=1e-12)
    assert a[1].shape == (1, 3, 6)


def test_chunking_invariance(x6):
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(6, 10), torch.nn.Softplus(), torch.nn.Linear(10, 4)).double()
    ref = xw.saliency(model, x6, abs=False).values
    for bs in (1, 2, 7):
        np.testing.assert_allclose(xw.saliency(model, x6, abs=False, batch_size=bs).values, ref, rtol=1e-12, atol=1e-14)


def test_layer_saliency_and_input_x_gradient_closed_form(x6):
    torch.manual_seed(4)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)).double()
    a = xw.saliency(model, x6, target=1, layer=model[1], abs=False)
    assert a.shape == (5, 5) and a.params["layer"] == "1"
    np.testing.assert_allclose(a.values, np.broadcast_to(model[2].weight[1].detach().numpy(), (5, 5)), atol=1e-12)
    b = xw.input_x_gradient(model, x6, target=1, layer="1")
    h = torch.tanh(model[0](x6)).detach().numpy()
    np.testing.assert_allclose(b.values, h * model[2].weight[1].detach().numpy(), atol=1e-12)
    # the last layer is linear in the hidden state: zeroing it leaves the bias
    np.testing.assert_allclose(b.base_values, model[2].bias[1].item(), atol=1e-12)
    np.testing.assert_allclose(b.values.sum(1), b.outputs - b.base_values, atol=1e-12)


# ------------------------------------------------------------------ Captum
def test_effnet_saliency_matches_captum(effnet, chelsea_input, state_check):
    from captum.attr import Saliency

    with state_check(effnet):
        a = xw.saliency(effnet, chelsea_input)
    t = int(a.target[0])
    with torch.no_grad():
        assert t == int(effnet(chelsea_input).argmax(1))
    c = Saliency(effnet).attribute(chelsea_input.clone(), target=t).detach().numpy()
    assert a.shape == tuple(chelsea_input.shape)
    r = np.corrcoef(a.values.ravel(), c.ravel())[0, 1]
    assert r >= 0.99
    for p in effnet.parameters():  # captum leaves grads on the params; do not leak them into other tests
        p.grad = None


def test_effnet_reused_module_layer_raises(effnet, chelsea_input, state_check):
    relu = effnet._blocks[1]._swish  # one nn.ReLU6 called twice per block
    counter = RowCounter(effnet)
    try:
        with state_check(effnet):
            with pytest.raises(ValueError, match=r"_blocks\.1\._swish.*called 2 times"):
                xw.saliency(effnet, chelsea_input, layer=relu)
    finally:
        counter.close()
    assert counter.rows <= 1


# ------------------------------------------------------------ model as found
def test_state_left_as_found_after_success_and_error(state_check, x6):
    model = Flaky()
    model.train()
    with state_check(model):
        a = xw.saliency(model, x6[:1], target=0)
    assert model.training and model.net[1].training
    with state_check(model):
        with pytest.raises(RuntimeError, match="boom"):
            xw.input_x_gradient(model, x6, target=0)
    with state_check(model):
        with pytest.raises(RuntimeError, match="boom"):
            xw.saliency(model, x6, target=0, layer=model.net[2])
    assert a.shape == (1, 6)


def test_requires_grad_restored_and_no_param_grads(state_check, x6):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)).double()
    model[0].weight.requires_grad_(False)
    with state_check(model):
        xw.saliency(model, x6)
    assert all(p.grad is None for p in model.parameters())
    assert not model[0].weight.requires_grad and model[2].weight.requires_grad


def test_works_under_no_grad(linear_model, x6):
    with torch.no_grad():
        a = xw.saliency(linear_model, x6, target=0)
        b = xw.input_x_gradient(linear_model, x6, target=0)
        assert not torch.is_grad_enabled()  # the caller's grad mode is back
    np.testing.assert_allclose(a.values[0], linear_model.weight[0].abs().detach().numpy())
    assert b.shape == (5, 6)


def test_train_mode_batchnorm_dropout(state_check, x6):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 8), torch.nn.BatchNorm1d(8), torch.nn.Dropout(0.5), torch.nn.Tanh(), torch.nn.Linear(8, 3)
    ).double()
    model.train()
    with state_check(model):
        a = xw.saliency(model, x6, target=2, abs=False)
        b = xw.saliency(model, x6, target=2, abs=False)
    np.testing.assert_array_equal(a.values, b.values)
    assert model.training
    # equals the eval-mode gradient
    model.eval()
    x = x6.clone().requires_grad_()
    (g,) = torch.autograd.grad(model(x)[:, 2].sum(), x)
    model.train()
    np.testing.assert_allclose(a.values, g.numpy(), atol=1e-12)


# -------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"inputs": "nope"}, TypeError, "torch.Tensor"),
        ({"inputs": torch.zeros(6, dtype=torch.float64)}, ValueError, "batched"),
        ({"inputs": torch.full((2, 6), float("nan"), dtype=torch.float64)}, ValueError, "NaN"),
        ({"inputs": torch.zeros(2, 6, dtype=torch.long)}, TypeError, "floating-point"),
        ({"target": 3}, ValueError, "out of range"),
        ({"target": -1}, ValueError, "out of range"),
        ({"target": [0, 1]}, ValueError, "2 entries"),
        ({"target": "top"}, ValueError, "class names are not known"),  # a string is a class name now
        ({"target": 1.5}, TypeError, "int"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": 2.0}, TypeError, "batch_size"),
        ({"abs": "yes"}, TypeError, "abs"),
        ({"forward_kwargs": [1]}, TypeError, "forward_kwargs"),
        ({"output": 3}, TypeError, "output"),
        ({"layer": "nolayer"}, ValueError, "no submodule"),
        ({"layer": torch.nn.Linear(2, 2)}, ValueError, "not a submodule"),
    ],
)
def test_bad_arguments_fail_before_work(linear_model, x6, kwargs, err, match):
    args = {"inputs": x6, "target": None}
    args.update(kwargs)
    counter = RowCounter(linear_model)
    try:
        with pytest.raises(err, match=match):
            xw.saliency(linear_model, args.pop("inputs"), args.pop("target"), **args)
    finally:
        counter.close()
    assert counter.rows <= 1 and counter.calls <= 1


def test_model_argument_checked():
    with pytest.raises(TypeError, match="nn.Module"):
        xw.saliency(lambda x: x, torch.zeros(1, 3))


def test_no_gradient_path_is_clear_error(x6):
    class Constant(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))

        def forward(self, x):
            return self.w.expand(x.shape[0], 3) * 1.0

    model = Constant()
    counter = RowCounter(model)
    with pytest.raises(ValueError, match="differentiable path"):
        xw.saliency(model, x6)
    with pytest.raises(ValueError, match="differentiable path"):
        xw.input_x_gradient(model, x6, output=lambda o: o.detach())
    counter.close()
    assert counter.rows == 2  # one row per call
    assert model.w.requires_grad


def test_output_function_and_bad_scores(linear_model, x6):
    a = xw.saliency(linear_model, x6, output=lambda o: o[:, 1])
    np.testing.assert_array_equal(a.target, [0] * 5)
    np.testing.assert_allclose(a.values[0], np.abs(linear_model.weight[1].detach().numpy()))
    with pytest.raises(ValueError, match=r"\(N,\) or \(N, K\)"):
        xw.saliency(linear_model, x6, output=lambda o: o[:, :, None])
    with pytest.raises(ValueError, match="batch axis"):
        xw.saliency(linear_model, x6, output=lambda o: o.sum(0, keepdim=True).T)


def test_quadrature_rules_sum_to_one():
    for m in G.QUADRATURE_RULES:
        a, w = G.quadrature(m, 5)
        assert abs(w.sum() - 1) < 1e-12 and a.min() >= 0 and a.max() <= 1
    assert set(G.IG_METHODS) == set(G.QUADRATURE_RULES) | {"adaptive"}
    with pytest.raises(ValueError, match="gausslegendre"):
        G.quadrature("adaptive", 5)  # per-row points: no fixed rule
