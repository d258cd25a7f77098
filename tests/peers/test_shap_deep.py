"""shap's PyTorch DeepExplainer and GradientExplainer tests, ported to ``xw.deep_shap`` / ``xw.gradient_shap``.

Sources: shap ``tests/explainers/test_deep.py`` and ``test_gradient.py``
(the torch cases). Same networks, the same short training on the same kind
of data, the same background/test split and additivity tolerances. shap's
California-housing cases download their data at run time; the ports train
on scikit-learn's bundled diabetes data instead (shap's tests check
additivity, which does not depend on the data). shap's "interim layer"
variants (``DeepExplainer((model, layer), ...)``) have no counterpart in our
API and are left out. Every port also compares with the live shap explainer
on the same model and data.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import xai_widgets as xw

shap = pytest.importorskip("shap")
sklearn = pytest.importorskip("sklearn")


def _shap_deep(model, background, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e = shap.DeepExplainer(model, background)
        return e, e.shap_values(x)


# ---------------------------------------------------------------- mnist cnn
class _MnistNet(nn.Module):
    """test_pytorch_mnist_cnn_call's ``Net``: several activations, conv-transpose, adaptive pooling, BatchNorm."""

    def __init__(self):
        super().__init__()
        self.conv_layers = nn.Sequential(
            nn.Conv2d(1, 10, kernel_size=5), nn.MaxPool2d(2), nn.Tanh(), nn.Conv2d(10, 20, kernel_size=5),
            nn.ConvTranspose2d(20, 20, 1), nn.AdaptiveAvgPool2d(output_size=(4, 4)), nn.Softplus(), nn.Flatten(),
        )
        self.fc_layers = nn.Sequential(
            nn.Linear(320, 50), nn.BatchNorm1d(50), nn.ReLU(), nn.Linear(50, 10), nn.ELU(), nn.Softmax(dim=1)
        )

    def forward(self, x):
        x = self.conv_layers(x)
        x = x.view(-1, 320)  # redundant after Flatten, left as in shap's test
        return self.fc_layers(x)


def test_pytorch_mnist_cnn_call(state_check):
    torch.manual_seed(42)
    rs = np.random.RandomState(42)
    model = _MnistNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    model.train()
    # shap trains on random batches of 32 until more than 20 examples were seen: one step
    data, target = torch.randn(32, 1, 28, 28), torch.randint(0, 9, (32,))
    opt.zero_grad()
    F.mse_loss(model(data), torch.eye(10)[target]).backward()
    opt.step()
    next_x = torch.randn(32, 1, 28, 28)
    background = next_x[rs.choice(32, 3, replace=False)]
    test_x = torch.randn(32, 1, 28, 28)[:1]
    model.eval()
    with state_check(model):
        a = xw.deep_shap(model, test_x, background, target="all")
    with torch.no_grad():
        outputs = model(test_x).numpy()
        expected_value = model(background).numpy().mean(0)
    assert a.values.shape == (1, 10, 1, 28, 28)
    sums = a.values.sum((2, 3, 4))
    np.testing.assert_allclose(sums + expected_value, outputs, atol=1e-3)  # shap's tolerance
    np.testing.assert_allclose(sums + a.base_values, outputs, atol=1e-6)
    e, live = _shap_deep(model, background, test_x)
    np.testing.assert_allclose(live.sum((1, 2, 3)) + e.expected_value, outputs, atol=1e-3)


# ------------------------------------------------------ tabular (diabetes)
def _diabetes_loader():
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    return torch.tensor(x * 10).float(), torch.tensor((y - y.mean()) / y.std()).float()


def _train(model, x, y, inputs_of=lambda xb: (xb,)):
    opt = torch.optim.Adam(model.parameters())
    model.train()
    for i in range(0, len(x), 128):
        opt.zero_grad()
        F.mse_loss(model(*inputs_of(x[i:i + 128])).squeeze(1), y[i:i + 128]).backward()
        opt.step()
    model.eval()


class _CustomNet1(nn.Module):
    def __init__(self, num_features):
        super().__init__()
        self.net = nn.Sequential(
            nn.Sequential(nn.Identity(), nn.Conv1d(1, 1, 1), nn.ConvTranspose1d(1, 1, 1)),
            nn.AdaptiveAvgPool1d(output_size=num_features // 2),
        )

    def forward(self, x):
        return self.net(x.unsqueeze(1)).squeeze(1)


class _CustomNet2(nn.Module):
    def __init__(self, num_features):
        super().__init__()
        self.net = nn.Sequential(nn.LeakyReLU(), nn.Linear(num_features // 2, 2))

    def forward(self, x):
        return self.net(x).unsqueeze(1)


class _CustomNet(nn.Module):
    """test_pytorch_custom_nested_models: modules nested two deep, max pooling over the two outputs."""

    def __init__(self, num_features):
        super().__init__()
        self.net1 = _CustomNet1(num_features)
        self.net2 = _CustomNet2(num_features)
        self.maxpool2 = nn.MaxPool1d(kernel_size=2)

    def forward(self, x):
        return self.maxpool2(self.net2(self.net1(x))).squeeze(1)


class _SingleOutputNet(nn.Module):
    """test_pytorch_single_output's ``Net``."""

    def __init__(self, num_features):
        super().__init__()
        self.linear = nn.Linear(num_features // 2, 2)
        self.conv1d = nn.Conv1d(1, 1, 1)
        self.convt1d = nn.ConvTranspose1d(1, 1, 1)
        self.leaky_relu = nn.LeakyReLU()
        self.aapool1d = nn.AdaptiveAvgPool1d(output_size=num_features // 2)
        self.maxpool2 = nn.MaxPool1d(kernel_size=2)

    def forward(self, x):
        x = self.aapool1d(self.convt1d(self.conv1d(x.unsqueeze(1)))).squeeze(1)
        return self.maxpool2(self.linear(self.leaky_relu(x)).unsqueeze(1)).squeeze(1)


@pytest.mark.parametrize("net,seed", [(_CustomNet, 777), (_SingleOutputNet, 0)], ids=["custom_nested", "single_output"])
def test_pytorch_single_output_models(net, seed):
    torch.manual_seed(seed)
    rs = np.random.RandomState(seed)
    x, y = _diabetes_loader()
    model = net(x.shape[1])
    _train(model, x, y)
    background = x[:128][rs.choice(128, 20, replace=False)]
    test_x = x[:1]
    a = xw.deep_shap(model, test_x, background)
    with torch.no_grad():
        outputs = model(test_x).numpy()
        expected = model(background).numpy().mean(0)
    np.testing.assert_allclose(a.values.sum(1) + expected, outputs[:, 0], atol=1e-3)
    e, live = _shap_deep(model, background, test_x)
    np.testing.assert_allclose(np.asarray(live).reshape(1, -1).sum(1) + e.expected_value, outputs[:, 0], atol=1e-3)
    # same rules on these ops (rescale, linear, max pooling as shap): the same values
    np.testing.assert_allclose(a.values, np.asarray(live).reshape(a.values.shape), atol=1e-4)


ACTIVATIONS = {"relu": nn.ReLU, "selu": nn.SELU, "gelu": nn.GELU}


class _MultiInputNet(nn.Module):
    def __init__(self, num_features, disconnected, activation):
        super().__init__()
        self.disconnected = disconnected
        if disconnected:
            num_features = num_features // 2
        self.linear = nn.Linear(num_features, 2)
        self.output = nn.Sequential(nn.MaxPool1d(2), ACTIVATIONS[activation]())

    def forward(self, x1, x2):
        if self.disconnected:
            x = self.linear(x1).unsqueeze(1)
        else:
            x = self.linear(torch.cat((x1, x2), dim=-1)).unsqueeze(1)
        return self.output(x).squeeze(1)


@pytest.mark.parametrize("activation", ["relu", "selu", "gelu"])
@pytest.mark.parametrize("disconnected", [True, False])
def test_pytorch_multiple_inputs(disconnected, activation, state_check):
    torch.manual_seed(42)
    rs = np.random.RandomState(42)
    x, y = _diabetes_loader()
    half = x.shape[1] // 2
    x1, x2 = x[:, half:], x[:, :half]
    model = _MultiInputNet(x.shape[1], disconnected, activation)
    _train(model, x, y, inputs_of=lambda xb: (xb[:, half:], xb[:, :half]))
    inds = rs.choice(128, 20, replace=False)
    background = (x1[inds], x2[inds])
    test = (x1[:1], x2[:1])
    with state_check(model):
        res = xw.deep_shap(model, test, background)
    assert isinstance(res, tuple) and len(res) == 2
    with torch.no_grad():
        outputs = model(*test).numpy()
        expected = model(*background).numpy().mean(0)
    sums = res[0].values.sum(1) + res[1].values.sum(1)
    np.testing.assert_allclose(sums + expected, outputs[:, 0], atol=1e-3)
    if disconnected:  # the second input does not reach the output
        np.testing.assert_array_equal(res[1].values, 0.0)
    e, live = _shap_deep(model, list(background), list(test))
    live_sum = np.asarray(live[0]).reshape(1, -1).sum(1) + np.asarray(live[1]).reshape(1, -1).sum(1)
    np.testing.assert_allclose(live_sum + e.expected_value, outputs[:, 0], atol=1e-3)


# ========================================================== GradientExplainer
class _Cat7(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.linear = nn.Linear(7, k)

    def forward(self, x1, x2):
        return self.linear(torch.cat((x1, x2), dim=-1))


def test_gradient_pytorch_multiple_inputs():
    torch.manual_seed(0)
    x1, x2 = torch.ones(10, 3), torch.ones(10, 4)
    background = (torch.zeros(10, 3), torch.zeros(10, 4))
    model = _Cat7(1)
    res = xw.gradient_shap(model, (x1, x2), background)
    with torch.no_grad():
        outputs = model(x1, x2).numpy()
        expected = model(*background).numpy().mean(0)
    sums = res[0].values.sum(1) + res[1].values.sum(1)
    np.testing.assert_allclose(sums + expected, outputs[:, 0], atol=1e-2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        live = shap.GradientExplainer(model, list(background)).shap_values([x1, x2])
    np.testing.assert_allclose(res[0].values, np.asarray(live[0]).reshape(10, 3), atol=1e-5)


def test_gradient_pytorch_multiple_inputs_multiple_outputs():
    torch.manual_seed(0)
    background = (torch.zeros(10, 3), torch.zeros(10, 4))
    model = _Cat7(6)
    input1, input2 = torch.randn(10, 3), torch.randn(10, 4)
    res = xw.gradient_shap(model, (input1, input2), background, target="all", samples=20)
    with torch.no_grad():
        outputs = model(input1, input2).numpy()
        expected = model(*background).numpy().mean(0)
    sums = res[0].values.sum(-1) + res[1].values.sum(-1)  # (N, K)
    np.testing.assert_allclose(sums + expected, outputs, atol=1e-5)


class _GradMnistNet(nn.Module):
    """test_gradient.py's pytorch ``Net`` (dropout and log-softmax)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 5, kernel_size=5)
        self.conv2 = nn.Conv2d(5, 10, kernel_size=5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(160, 20)
        self.fc2 = nn.Linear(20, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = x.view(-1, 160)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, training=self.training)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def test_gradient_pytorch_mnist_cnn():
    torch.manual_seed(0)
    rs = np.random.RandomState(0)
    model = _GradMnistNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    model.train()  # one step on a random batch of 128 (shap's cutoff of 20 examples)
    data, target = torch.randn(128, 1, 28, 28), torch.randint(0, 9, (128,))
    opt.zero_grad()
    F.nll_loss(model(data), target).backward()
    opt.step()
    next_x = torch.randn(128, 1, 28, 28)
    background = next_x[rs.choice(128, 3, replace=False)]
    test_x = torch.randn(128, 1, 28, 28)[:1]
    # the model is left in train mode, as in shap's test: our kernel runs it in eval mode and restores it
    a = xw.gradient_shap(model, test_x, background, target="all", samples=1000, batch_size=250)
    assert model.training
    model.eval()
    with torch.no_grad():
        outputs = model(test_x).numpy()
        expected = model(background).numpy().mean(0)
    sums = a.values.sum((2, 3, 4))
    np.testing.assert_allclose(sums + expected, outputs, atol=1e-2)  # shap's tolerance
