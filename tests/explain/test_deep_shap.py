"""deep_shap: additivity on functional/reused/residual/attention models and EfficientNet-Lite0,
closed forms, shap agreement, clear errors, model left as found."""
from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xai_widgets.explain.shapley import (
    Background,
    UnsupportedOperation,
    deep_shap,
    exact_shap,
    summarize_background,
    supported_ops,
)

RTOL = 1e-4  # the additivity promise: |delta| <= 1e-4 * max |f(x) - E f(bg)|


def assert_additive(res, rtol=RTOL):
    scale = np.abs(res.outputs - res.base_values).max()
    assert scale > 1e-6, "degenerate test: outputs equal base values"
    sums = res.values.reshape(res.values.shape[0], -1).sum(1) if res.values.ndim else res.values
    np.testing.assert_allclose(res.delta, sums - (res.outputs - res.base_values), atol=1e-12)
    err = np.abs(res.delta).max()
    assert err <= rtol * scale, f"additivity error {err:.3g} > {rtol} x {scale:.3g}"
    return err


def torch_function_modes() -> int:
    return torch._C._len_torch_function_stack()


# ------------------------------------------------------------------ models
class FunctionalCNN(nn.Module):
    """Functional ops, one ReLU module used three times, max pooling, a residual add, BatchNorm."""

    def __init__(self, reuse=True):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU()  # reused
        self.act2 = self.act if reuse else nn.ReLU()
        self.act3 = self.act if reuse else nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(8 * 2 * 2, 16)
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x):
        h = self.act(self.bn(self.conv1(x)))
        h = h + self.act2(self.conv2(h))  # residual around the reused module
        h = F.max_pool2d(h, 2)  # functional max pooling
        h = torch.tanh(self.conv3(h)) * torch.sigmoid(h)  # product of two activations
        h = self.pool(F.relu(h))  # module max pooling after a functional relu
        h = F.avg_pool2d(F.pad(h, (1, 1, 1, 1)), 3, stride=1).flatten(1)
        h = self.act3(self.fc1(h))
        return self.fc2(F.gelu(h))


class AttentionMLP(nn.Module):
    """LayerNorm, GELU, a softmax attention block, and a gated product of two activations."""

    def __init__(self, tokens=4, dim=6, out=3):
        super().__init__()
        self.tokens, self.dim = tokens, dim
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.norm2 = nn.LayerNorm(dim)
        self.up = nn.Linear(dim, 16)
        self.gate = nn.Linear(dim, 16)
        self.down = nn.Linear(16, dim)
        self.act = nn.GELU()
        self.head = nn.Linear(dim, out)

    def forward(self, x):
        h = x.view(x.shape[0], self.tokens, self.dim)
        q, k, v = self.qkv(self.norm1(h)).chunk(3, dim=-1)
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.dim), dim=-1)
        h = h + att @ v
        g = self.norm2(h)
        h = h + self.down(self.act(self.up(g)) * F.silu(self.gate(g)))  # x * y of two activations
        return self.head(h.mean(1))


def randomize_bn(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
    return model


@pytest.fixture
def cnn():
    torch.manual_seed(0)
    model = randomize_bn(FunctionalCNN()).eval()
    with torch.no_grad():
        model.fc2.weight.mul_(30)  # outputs that move by O(0.1) between x and the background
    return model


@pytest.fixture
def cnn_data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(3, 3, 8, 8, generator=g), torch.randn(5, 3, 8, 8, generator=g)


# --------------------------------------------------------------- additivity
def test_functional_cnn_is_additive_and_beats_shap(cnn, cnn_data, state_check):
    x, bg = cnn_data
    with state_check(cnn):
        res = deep_shap(cnn, x, bg)
    err = assert_additive(res)
    assert res.method == "deep_shap" and res.shape == tuple(x.shape)
    assert {"relu", "max_pool", "product", "tanh", "sigmoid", "gelu"} <= set(res.params["rules"])
    with torch.no_grad():
        out = cnn(x)
    np.testing.assert_allclose(res.outputs, out.gather(1, torch.as_tensor(res.target)[:, None])[:, 0], rtol=1e-5)
    np.testing.assert_allclose(res.base_values, cnn(bg).mean(0)[res.target].detach(), rtol=1e-5, atol=1e-6)
    # measured, not asserted: shap's module hooks miss the functional ops and the reused ReLU
    shap = pytest.importorskip("shap")
    scale = np.abs(res.outputs - res.base_values).max()
    report = [f"ours max|delta| = {err:.2e}"]
    for reuse in (True, False):  # on copies: shap leaves x/y buffers registered on the modules it hooks
        model = copy.deepcopy(cnn)
        if not reuse:  # the same weights with one ReLU module per use (shap cannot run the reused one)
            model = FunctionalCNN(reuse=False).eval()
            model.load_state_dict(cnn.state_dict())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                explainer = shap.DeepExplainer(model, bg)
                sv = np.asarray(explainer.shap_values(x, check_additivity=False))  # (N, C, H, W, K)
        except Exception as e:  # noqa: BLE001 - reported, not asserted
            report.append(f"shap.DeepExplainer ({'reused' if reuse else 'separate'} ReLU): "
                          f"{type(e).__name__}: {str(e)[:80]}")
            continue
        picked = np.stack([sv[i, ..., t] for i, t in enumerate(res.target)])
        base = np.asarray(explainer.expected_value).reshape(-1)[res.target]
        shap_err = np.abs(picked.reshape(len(x), -1).sum(1) - (res.outputs - base)).max()
        report.append(f"shap.DeepExplainer ({'reused' if reuse else 'separate'} ReLU) max|delta| = {shap_err:.2e}")
    print(f"\n[deep_shap additivity] functional CNN, |f(x) - E f(bg)| up to {scale:.2e}: " + "; ".join(report))


def test_attention_mlp_is_additive(state_check):
    torch.manual_seed(3)
    model = AttentionMLP().eval()
    g = torch.Generator().manual_seed(4)
    x, bg = torch.randn(4, 24, generator=g), torch.randn(6, 24, generator=g) * 0.5
    with state_check(model):
        res = deep_shap(model, x, bg, target="all")
    assert res.shape == (4, 3, 24)
    scale = np.abs(res.outputs - res.base_values).max()
    assert np.abs(res.delta).max() <= RTOL * scale
    np.testing.assert_allclose(res.values.sum(-1) - (res.outputs - res.base_values), res.delta, atol=1e-12)
    assert {"layer_norm", "gelu", "softmax", "product", "bilinear", "silu"} <= set(res.params["rules"])


def test_efficientnet_lite0_is_additive(effnet, chelsea_input, state_check):
    x = chelsea_input
    g = torch.Generator().manual_seed(0)
    blurred = F.avg_pool2d(x, 9, stride=1, padding=4, count_include_pad=False)
    bg = torch.cat([torch.zeros_like(x), blurred, x + 0.5 * torch.randn(x.shape, generator=g)])
    with state_check(effnet):
        res = deep_shap(effnet, x, bg)
    err = assert_additive(res)
    assert res.target.tolist() == [int(effnet(x).argmax())] and "hardtanh" in res.params["rules"]
    print(f"\n[deep_shap additivity] EfficientNet-Lite0 (3 background rows): max|delta| = {err:.2e}, "
          f"f(x) - E f(bg) = {float(res.outputs[0] - res.base_values[0]):.3f}")
    assert torch_function_modes() == 0


# ----------------------------------------------------------- closed forms
def test_single_relu_matches_hand_computed_deeplift():
    w = torch.tensor([[0.7, -1.2, 0.4, 2.0]], dtype=torch.float64)
    model = nn.Sequential(nn.Linear(4, 1, bias=False).double(), nn.ReLU())
    with torch.no_grad():
        model[0].weight.copy_(w)
    x = torch.tensor([[1.0, -0.5, 2.0, 0.3], [0.2, 0.1, -1.0, -0.4]], dtype=torch.float64)
    b = torch.tensor([[-0.5, 0.5, 0.0, -0.2]], dtype=torch.float64)
    res = deep_shap(model, x, b, target=0)
    ux, ub = x @ w[0], (b @ w[0])
    expected = w[0] * (x - b) * ((ux.relu() - ub.relu()) / (ux - ub))[:, None]
    np.testing.assert_allclose(res.values, expected.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.delta, 0, atol=1e-13)


def test_single_relu_equals_exact_shapley_where_rescale_is_exact():
    # relu(x0 + x1) from b = (-1, -1) to x = (2, 0): Shapley (1.5, 0.5) = rescale rule
    model = nn.Sequential(nn.Linear(2, 1, bias=False).double(), nn.ReLU())
    with torch.no_grad():
        model[0].weight.fill_(1.0)
    x, b = torch.tensor([[2.0, 0.0]], dtype=torch.float64), torch.tensor([[-1.0, -1.0]], dtype=torch.float64)
    res = deep_shap(model, x, b, target=0)
    exact = exact_shap(model, x, b, target=0)
    np.testing.assert_allclose(res.values, [[1.5, 0.5]], atol=1e-12)
    np.testing.assert_allclose(res.values, exact.values, atol=1e-12)


def test_linear_model_is_w_times_x_minus_background_mean(linear_model):
    g = torch.Generator().manual_seed(5)
    x, bg = torch.randn(3, 6, generator=g, dtype=torch.float64), torch.randn(7, 6, generator=g, dtype=torch.float64)
    res = deep_shap(linear_model, x, bg, target=1)
    w = linear_model.weight.detach()[1]
    np.testing.assert_allclose(res.values, (w * (x - bg.mean(0))).numpy(), atol=1e-12)


def _plain_mlp():
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)), (5,)


def _plain_cnn():
    return nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 8), nn.Sigmoid(),
                         nn.Linear(8, 3)), (2, 8, 8)


@pytest.mark.parametrize("build", [_plain_mlp, _plain_cnn], ids=["linear-relu-linear", "conv-relu-maxpool-sigmoid"])
def test_agrees_with_shap_deep_explainer_where_shap_is_right(build):
    shap = pytest.importorskip("shap")
    torch.manual_seed(0)
    model, row = build()
    model = model.double().eval()
    g = torch.Generator().manual_seed(2)
    x = torch.randn((4,) + row, generator=g, dtype=torch.float64)
    bg = torch.randn((6,) + row, generator=g, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shap registers x/y buffers on the modules: give it a copy
        explainer = shap.DeepExplainer(copy.deepcopy(model), bg)
        sv = np.asarray(explainer.shap_values(x))  # (N, ..., K)
    res = deep_shap(model, x, bg, target="all")
    np.testing.assert_allclose(res.values, np.moveaxis(sv, -1, 1), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.base_values[0], np.asarray(explainer.expected_value).reshape(-1), rtol=1e-10)


# ------------------------------------------------------------ behaviour
def test_background_weights_batch_size_and_numpy_input(cnn, cnn_data):
    x, bg = cnn_data
    a = deep_shap(cnn, x, bg)
    b = deep_shap(cnn, x.numpy(), bg.numpy(), batch_size=3)  # odd: one pair per pass
    np.testing.assert_allclose(a.values, b.values, rtol=1e-10, atol=1e-12)
    assert b.params["batch_size"] == 3
    # a weighted background = the weighted mean over its rows
    summary = Background(bg[:2], np.array([0.25, 0.75]))
    w = deep_shap(cnn, x[:1], summary, target=1)
    r0, r1 = deep_shap(cnn, x[:1], bg[:1], target=1), deep_shap(cnn, x[:1], bg[1:2], target=1)
    np.testing.assert_allclose(w.values, 0.25 * r0.values + 0.75 * r1.values, rtol=1e-10, atol=1e-12)
    assert_additive(w)
    big = summarize_background(torch.randn(120, 3, 8, 8), k=4)
    assert deep_shap(cnn, x[:1], big).params["background_summarized"]


def test_inplace_relu_and_functional_output_softmax():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 10), nn.ReLU(inplace=True), nn.Linear(10, 4), nn.ReLU6()).eval()
    x, bg = torch.randn(3, 6), torch.randn(4, 6)
    res = deep_shap(model, x, bg, output=lambda o: torch.softmax(o, dim=-1))
    assert_additive(res)
    assert "softmax" in res.params["rules"]


def test_runs_in_train_mode_and_under_no_grad(state_check):
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5), nn.Flatten(),
                          nn.Linear(4 * 4 * 4, 2))
    model.train()
    x, bg = torch.randn(2, 1, 6, 6), torch.randn(3, 1, 6, 6)
    with state_check(model), torch.no_grad():
        res = deep_shap(model, x, bg)
    assert model.training and assert_additive(res) >= 0


# ------------------------------------------------------------- errors
class Head(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.fn = fn

    def forward(self, x):
        return self.fc(self.fn(x))


class Act(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class WithHead(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.head = nn.Module()
        self.head.act = Act(fn)
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        return self.out(self.head.act(torch.tanh(self.body(x)) * 0.5))


def test_unsupported_op_raises_naming_op_and_module(state_check):
    torch.manual_seed(0)
    model = WithHead(torch.erfinv)
    x, bg = torch.randn(2, 4), torch.randn(3, 4)
    with state_check(model), pytest.raises(UnsupportedOperation, match=r"torch\.erfinv.*'head\.act'.*supported"):
        deep_shap(model, x, bg)
    assert torch_function_modes() == 0
    with pytest.raises(UnsupportedOperation, match="non-differentiable"):  # a hand-made mask
        deep_shap(WithHead(lambda h: h * (h > 0)), x, bg)
    with pytest.raises(UnsupportedOperation, match="batch axis"):
        deep_shap(WithHead(lambda h: h - h.mean(0)), x, bg)
    assert "relu" in supported_ops()["nonlinear (rescale rule)"]
    assert torch_function_modes() == 0


def test_bad_inputs_raise_before_any_forward():
    calls = []

    class Counting(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            calls.append(x.shape[0])
            return self.fc(x)

    model = Counting()
    x = torch.randn(2, 4)
    with pytest.raises(ValueError, match="background is empty"):
        deep_shap(model, x, torch.zeros(0, 4))
    with pytest.raises(ValueError, match=r"background rows have shape \(5,\)"):
        deep_shap(model, x, torch.zeros(3, 5))
    with pytest.raises(TypeError, match="floating point"):
        deep_shap(model, x, torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="NaN"):
        deep_shap(model, x, torch.full((3, 4), float("nan")))
    with pytest.raises(TypeError, match="torch.nn.Module"):
        deep_shap(lambda a: a, x, torch.zeros(3, 4))
    with pytest.raises(ValueError, match="batch_size"):
        deep_shap(model, x, torch.zeros(3, 4), batch_size=0)
    assert calls == []
    with pytest.raises(ValueError, match="out of range"):
        deep_shap(model, x, torch.zeros(3, 4), target=5)
    assert calls == [1]  # only the one-row probe
    res = deep_shap(model, x, torch.zeros(4))  # one row without the batch axis
    assert res.params["background"] == 1


# ------------------------------------------------------------- rule zoo
class Fn(nn.Module):
    def __init__(self, fn, features=24):
        super().__init__()
        self.fc = nn.Linear(features, 24)
        self.fn = fn
        self.out = nn.LazyLinear(3)

    def forward(self, x):
        h = self.fn(self.fc(x).view(x.shape[0], 2, 3, 4))
        return self.out(h.reshape(x.shape[0], -1))


ZOO = {
    "elementwise": lambda h: F.elu(h) + F.softplus(h) + torch.exp(h / 4) + F.hardswish(h) + F.mish(h)
    + F.leaky_relu(h, 0.1) + torch.clamp(h, -0.2, 0.3) + h.abs().sqrt() + (h * h + 1).log() + h.pow(3) + F.selu(h),
    "inplace": lambda h: F.relu(h.clone(), inplace=True) + h.clone().tanh_() + F.hardtanh(h.clone(), -0.5, 0.5, True),
    "division": lambda h: h / (h.pow(2) + 1) + 2 / (h.exp() + 1) + 1.5 ** h.tanh(),
    "max_along_axes": lambda h: h.max(-1, keepdim=True).values * 1 + torch.amax(h, (2, 3), keepdim=True)
    + h.min(1, keepdim=True)[0] + torch.maximum(h, h.flip(-1)) + torch.minimum(h, torch.zeros(())),
    "pooling": lambda h: torch.cat([F.max_pool2d(h, 2, stride=1, padding=1).flatten(2),
                                    F.adaptive_max_pool2d(h, (2, 2)).flatten(2),
                                    F.max_pool1d(h.flatten(2), 3, stride=2, padding=1),
                                    F.max_pool2d(h, 2, return_indices=True)[0].flatten(2)], -1),
    "norms": lambda h: F.group_norm(h, 2) + F.instance_norm(h) + F.rms_norm(h, (4,)) + F.normalize(h, dim=-1)
    + F.layer_norm(h, (3, 4)),
    "softmaxes": lambda h: F.log_softmax(h, -1) + F.softmin(h, 2) + torch.logsumexp(h, -1, keepdim=True),
    "products": lambda h: torch.einsum("bcij,bckj->bcik", h, h.tanh()).sum(-1, keepdim=True) + torch.bmm(
        h.flatten(1, 2), h.flatten(1, 2).sigmoid().transpose(1, 2)).mean(-1).view(h.shape[0], 2, 3, 1)
    + F.glu(h, -1).mean(-1, keepdim=True),
    "attention": lambda h: F.scaled_dot_product_attention(h, h.tanh(), h.sigmoid(), is_causal=True)
    + F.scaled_dot_product_attention(h, h, h, attn_mask=torch.ones(3, 3, dtype=torch.bool).triu()),
}


@pytest.mark.parametrize("case", sorted(ZOO))
def test_rule_zoo_is_additive(case):
    torch.manual_seed(7)
    model = Fn(ZOO[case]).double()
    g = torch.Generator().manual_seed(8)
    x, bg = torch.randn(2, 24, generator=g, dtype=torch.float64), torch.randn(3, 24, generator=g, dtype=torch.float64)
    model(x)  # materialise the lazy layer
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the additivity warning must not fire
        res = deep_shap(model, x, bg, target="all")
    scale = np.abs(res.outputs - res.base_values).max()
    assert np.abs(res.delta).max() <= RTOL * scale, (np.abs(res.delta).max(), scale)


def test_minilm_with_padding_and_zero_reference(minilm):
    tok, model = minilm
    enc = tok(["the cat sat on the mat", "a dog"], return_tensors="pt", padding=True)
    with torch.no_grad():
        emb = model.embeddings.word_embeddings(enc["input_ids"])

    class OnEmbeddings(nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, e, attention_mask):
            return self.bert(inputs_embeds=e, attention_mask=attention_mask).last_hidden_state[:, 0, :4]

    wrapper = OnEmbeddings(model)
    res = deep_shap(wrapper, emb, torch.zeros(emb.shape[1:]), forward_kwargs={"attention_mask": enc["attention_mask"]},
                    target="all")
    scale = np.abs(res.outputs - res.base_values).max()
    assert np.abs(res.delta).max() <= RTOL * scale
    assert {"layer_norm", "gelu", "softmax", "tanh"} <= set(res.params["rules"]) or "scaled_dot_product_attention" in res.params["rules"]
