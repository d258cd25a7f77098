"""layer_input=True: attribute to a layer's input (its first positional tensor argument), as
Captum's attribute_to_layer_input=True: closed forms, Captum agreement, model left as found, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import xai_widgets as xw
from counting import RowCounter


@pytest.fixture
def mlp():
    torch.manual_seed(4)
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)).double()


@pytest.fixture
def x6():
    g = torch.Generator().manual_seed(5)
    return torch.randn(4, 6, generator=g, dtype=torch.float64)


def _h(model, x):
    with torch.no_grad():
        return torch.tanh(model[0](x))


# ---------------------------------------------------------- closed forms
def test_input_of_head_is_the_hidden_state(mlp, x6):
    """The head's input is tanh(W0 x): the head is linear, so IG there is w2 * (h(x) - h(b)),
    saliency is w2 and input x gradient is h * w2 with base value the head's bias."""
    w2 = mlp[2].weight[1].detach().numpy()
    h, hb = _h(mlp, x6).numpy(), _h(mlp, torch.full((1, 6), 0.3, dtype=torch.float64)).numpy()
    for method in ("gausslegendre", "adaptive"):
        a = xw.integrated_gradients(mlp, x6, target=1, layer=mlp[2], layer_input=True, baseline=0.3, steps=12, method=method)
        assert a.shape == (4, 5) and a.params["layer"] == "2" and a.params["layer_input"] is True
        np.testing.assert_allclose(a.values, w2 * (h - hb), atol=1e-12)
        np.testing.assert_allclose(a.delta, 0, atol=1e-12)
    s = xw.saliency(mlp, x6, target=1, layer="2", layer_input=True, abs=False)
    np.testing.assert_allclose(s.values, np.broadcast_to(w2, (4, 5)), atol=1e-12)
    i = xw.input_x_gradient(mlp, x6, target=1, layer="2", layer_input=True)
    np.testing.assert_allclose(i.values, h * w2, atol=1e-12)
    np.testing.assert_allclose(i.base_values, mlp[2].bias[1].item(), atol=1e-12)  # head input set to zero
    g = xw.smoothgrad(mlp, x6, target=1, layer="2", layer_input=True, samples=3, noise=0.2)
    np.testing.assert_allclose(g.values, np.broadcast_to(np.abs(w2), (4, 5)), atol=1e-12)


def test_input_of_first_layer_is_the_model_input(mlp, x6):
    """The first module's input is the model's input: the same values as without layer=."""
    a = xw.integrated_gradients(mlp, x6, target=0, layer=mlp[0], layer_input=True, steps=8, baseline=-0.2)
    b = xw.integrated_gradients(mlp, x6, target=0, steps=8, baseline=-0.2)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a.delta, b.delta, atol=1e-12)
    # ... and differs from attributing to the module's output
    c = xw.integrated_gradients(mlp, x6, target=0, layer=mlp[0], steps=8, baseline=-0.2)
    assert c.shape == (4, 5) and a.shape == (4, 6)


def test_output_of_one_layer_equals_input_of_the_next(mlp, x6):
    a = xw.integrated_gradients(mlp, x6, target=2, layer=mlp[1], steps=6)
    b = xw.integrated_gradients(mlp, x6, target=2, layer=mlp[2], layer_input=True, steps=6)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------- Captum
def test_matches_captum_layer_methods(mlp, x6):
    from captum.attr import LayerGradientXActivation, LayerIntegratedGradients

    mlp2 = torch.nn.Sequential(mlp[0], torch.nn.Softplus(), torch.nn.Linear(5, 7).double(), torch.nn.Tanh(),
                               torch.nn.Linear(7, 3).double())
    layer = mlp2[2]  # input: softplus output; its own output goes through tanh, so nothing is linear
    t = [0, 2, 1, 1]
    a = xw.integrated_gradients(mlp2, x6, target=t, layer=layer, layer_input=True, steps=16, baseline=0.1)
    c, d = LayerIntegratedGradients(mlp2, layer).attribute(
        x6, baselines=torch.full_like(x6, 0.1), target=torch.tensor(t), n_steps=16, attribute_to_layer_input=True,
        return_convergence_delta=True,
    )
    np.testing.assert_allclose(a.values, c.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(a.delta, d.numpy(), atol=1e-10)
    g = xw.integrated_gradients(mlp2, x6, target=t, layer=layer, layer_input=True, steps=16, baseline=0.1,
                                multiply_by_inputs=False)
    c = LayerIntegratedGradients(mlp2, layer, multiply_by_inputs=False).attribute(
        x6, baselines=torch.full_like(x6, 0.1), target=torch.tensor(t), n_steps=16, attribute_to_layer_input=True
    )
    np.testing.assert_allclose(g.values, c.detach().numpy(), atol=1e-10)
    assert g.delta is None

    i = xw.input_x_gradient(mlp2, x6, target=t, layer=layer, layer_input=True)
    c = LayerGradientXActivation(mlp2, layer).attribute(x6, target=torch.tensor(t), attribute_to_layer_input=True)
    np.testing.assert_allclose(i.values, c.detach().numpy(), atol=1e-12)
    s = xw.saliency(mlp2, x6, target=t, layer=layer, layer_input=True, abs=False)
    c = LayerGradientXActivation(mlp2, layer, multiply_by_inputs=False).attribute(
        x6, target=torch.tensor(t), attribute_to_layer_input=True
    )
    np.testing.assert_allclose(s.values, c.detach().numpy(), atol=1e-12)


def test_tuple_inputs_layer_input_matches_captum():
    from captum.attr import LayerIntegratedGradients

    class Two(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(3)
            self.a, self.b = torch.nn.Linear(4, 6), torch.nn.Linear(3, 6)
            self.mid = torch.nn.Sequential(torch.nn.Softplus(), torch.nn.Linear(6, 2))
            self.double()

        def forward(self, x1, x2):
            return self.mid(self.a(x1) * self.b(x2))

    model = Two()
    g = torch.Generator().manual_seed(0)
    x1, x2 = torch.randn(3, 4, generator=g, dtype=torch.float64), torch.randn(3, 3, generator=g, dtype=torch.float64)
    a = xw.integrated_gradients(model, (x1, x2), target=1, layer=model.mid, layer_input=True, steps=10)
    assert isinstance(a, xw.Attribution) and a.shape == (3, 6) and a.data is None
    c = LayerIntegratedGradients(model, model.mid).attribute(
        (x1, x2), baselines=(torch.zeros_like(x1), torch.zeros_like(x2)), target=1, n_steps=10,
        attribute_to_layer_input=True,
    )
    np.testing.assert_allclose(a.values, c.detach().numpy(), atol=1e-10)


# ------------------------------------------------------ model as found / reuse
def test_inplace_layer_and_state(state_check, x6):
    """A ReLU(inplace=True) as the layer: it overwrites its input, which must not be the captured tensor."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(inplace=True), torch.nn.Linear(5, 2)).double().train()
    with state_check(model):
        a = xw.integrated_gradients(model, x6, target=0, layer=model[1], layer_input=True, steps=32)
        b = xw.input_x_gradient(model, x6, target=0, layer=model[1], layer_input=True)
    with torch.no_grad():
        pre = model[0](x6)
        pre_b = model[0](torch.zeros(1, 6, dtype=torch.float64))
    # input x gradient: pre-activation times the gradient through ReLU (w2 where pre > 0)
    w = model[2].weight[0].detach().numpy()
    np.testing.assert_allclose(b.values, pre.numpy() * w * (pre.numpy() > 0), atol=1e-12)
    # IG to the ReLU input: complete (the path in pre-activation space is exact up to the kink)
    gap = model[2].weight[0].detach() @ (torch.relu(pre) - torch.relu(pre_b)).T
    assert np.abs(a.values.sum(1) - gap.numpy()).max() < 0.05 * np.abs(gap.numpy()).max()
    assert model.training


def test_reused_module_refused(state_check, x6):
    class Twice(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(6, 6).double()
            self.act = torch.nn.Tanh()

        def forward(self, x):
            return self.act(self.lin(self.act(x)))[:, :3]

    model = Twice()
    with state_check(model):
        with pytest.raises(ValueError, match=r"'act' \(Tanh\) is called 2 times.*no single input"):
            xw.saliency(model, x6, layer=model.act, layer_input=True)


def test_keyword_only_and_integer_layer_inputs_refused(x6):
    class Kw(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = torch.nn.Linear(6, 2).double()

        def forward(self, x):
            return self.inner(input=x)

    m = Kw()
    with pytest.raises(ValueError, match="without a positional tensor argument"):
        xw.saliency(m, x6, layer=m.inner, layer_input=True)
    assert not m.inner._forward_pre_hooks

    emb = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Flatten(), torch.nn.Linear(12, 2))
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(ValueError, match=r"input of layer '0' \(Embedding\) has dtype torch.int64"):
        xw.integrated_gradients(emb, ids, layer=emb[0], layer_input=True)
    a = xw.integrated_gradients(emb, ids, layer=emb[0], steps=4)  # its output is fine
    assert a.shape == (2, 3, 4)


@pytest.mark.parametrize(
    "kernel", [xw.saliency, xw.input_x_gradient, xw.integrated_gradients, xw.smoothgrad]
)
def test_layer_input_needs_a_layer(mlp, x6, kernel):
    counter = RowCounter(mlp)
    try:
        with pytest.raises(ValueError, match=r"layer_input=True.*no layer= was given"):
            kernel(mlp, x6, layer_input=True)
        with pytest.raises(TypeError, match="layer_input must be True or False"):
            kernel(mlp, x6, layer=mlp[2], layer_input="yes")
    finally:
        counter.close()
    assert counter.calls == 0
