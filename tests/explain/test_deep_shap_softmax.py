"""deep_shap through softmax / log_softmax / logsumexp when the top logits of an input and of a
reference are far apart (more than exp's range, ~745): values finite and exact (closed forms), and
Captum's own ``test_softmax_classification_*`` and ``test_convnet_with_maxpool*`` cases (their
models, inputs and targets, through our API) with logit gaps from ~740 to ~76,000 stay additive."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xai_widgets.explain.shapley import deep_shap


def two_logits(weights=(1.0, 0.0), log=False):
    """Linear(1 -> 2) + (log_)softmax: logits ``(w0 x, w1 x)``."""
    lin = nn.Linear(1, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(weights)[:, None])
        lin.bias.zero_()
    return nn.Sequential(lin, nn.LogSoftmax(dim=1) if log else nn.Softmax(dim=1)).eval()


def softmax_np(u):
    u = np.asarray(u, dtype=np.float64)
    return np.exp(u - np.logaddexp.reduce(u, axis=-1, keepdims=True))


def log_softmax_np(u):
    u = np.asarray(u, dtype=np.float64)
    return u - np.logaddexp.reduce(u, axis=-1, keepdims=True)


# ------------------------------------------------------------- closed forms
def test_linear_softmax_at_1000_against_a_zero_reference():
    # logits (1000, 0) vs (0, 0): softmax (1, e^-1000) vs (0.5, 0.5); one feature takes the whole change
    res = deep_shap(two_logits(), torch.tensor([[1000.0]]), torch.zeros(1, 1), target=0)
    np.testing.assert_allclose(res.base_values, [0.5], rtol=1e-15)
    np.testing.assert_allclose(res.outputs, [1.0], rtol=1e-15)
    np.testing.assert_allclose(res.values, [[0.5]], rtol=1e-12)
    assert np.abs(res.delta).max() < 1e-12
    # log_softmax: log-probabilities (-log1p(e^-1000), -1000 - log1p(e^-1000)) vs (-log 2, -log 2)
    res = deep_shap(two_logits(log=True), torch.tensor([[1000.0]]), torch.zeros(1, 1), target="all")
    np.testing.assert_allclose(res.base_values[0], [-math.log(2)] * 2, rtol=1e-15)
    np.testing.assert_allclose(res.values[0, :, 0], [math.log(2), -1000 + math.log(2)], rtol=1e-12)
    np.testing.assert_allclose(res.delta, 0, atol=1e-10)


GAPS = [700.0, 730.0, 740.0, 746.0, 1000.0, 76000.0]


@pytest.mark.parametrize("gap", GAPS)
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("side", ["input-higher", "reference-higher"])
def test_two_logit_softmax_is_exact_at_every_gap(gap, log, side):
    # 730 and 740 used to be silently wrong (subnormal exp), 746 and beyond NaN
    model = two_logits((1.0, -0.5), log=log).double()
    x, r = (gap, 0.0) if side == "input-higher" else (0.0, gap)
    res = deep_shap(model, torch.tensor([[x]], dtype=torch.float64), torch.tensor([[r]], dtype=torch.float64),
                    target="all")
    f = log_softmax_np if log else softmax_np
    fx, fr = f([x, -0.5 * x]), f([r, -0.5 * r])
    assert np.isfinite(res.values).all()
    np.testing.assert_allclose(res.outputs[0], fx, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(res.base_values[0], fr, rtol=1e-13, atol=1e-300)
    # one feature: its value is the whole change f(x) - f(r)
    np.testing.assert_allclose(res.values[0, :, 0], fx - fr, rtol=1e-11, atol=1e-13)
    assert np.abs(res.delta).max() <= 1e-12 * max(1.0, gap)


def test_background_rows_on_both_sides_of_the_exp_range():
    # one row explained against three references whose top logits differ by 0, 1000 and 1800
    model = two_logits((1.0, 0.0)).double()
    x = torch.tensor([[2.0]], dtype=torch.float64)
    bg = torch.tensor([[0.0], [1000.0], [-800.0]], dtype=torch.float64)
    res = deep_shap(model, x, bg, target=torch.tensor(0))
    base = np.mean([softmax_np([b, 0.0])[0] for b in (0.0, 1000.0, -800.0)])  # (0.5 + 1 + 0) / 3
    np.testing.assert_allclose(res.base_values, [base], rtol=1e-14)
    np.testing.assert_allclose(res.values, [[softmax_np([2.0, 0.0])[0] - base]], rtol=1e-12)


def test_logsumexp_and_softmin_with_large_gaps():
    class LSE(nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.lin = nn.Linear(1, 3, bias=False)
            with torch.no_grad():
                self.lin.weight.copy_(torch.tensor([[1.0], [0.0], [-1.0]]))
            self.fn = fn

        def forward(self, x):
            return self.fn(self.lin(x))

    x = torch.tensor([[900.0], [-2000.0]], dtype=torch.float64)
    r = torch.tensor([[0.0]], dtype=torch.float64)
    res = deep_shap(LSE(lambda u: torch.logsumexp(u, dim=1)).double(), x, r, target=0)
    lse = lambda v: np.logaddexp.reduce([v, 0.0, -v])  # noqa: E731
    np.testing.assert_allclose(res.values[:, 0], [lse(900.0) - lse(0.0), lse(-2000.0) - lse(0.0)], rtol=1e-13)
    res = deep_shap(LSE(lambda u: F.softmin(u, dim=1)).double(), x, r, target="all")
    expected = np.stack([softmax_np([-v, 0.0, v]) - 1 / 3 for v in (900.0, -2000.0)])
    np.testing.assert_allclose(res.values[..., 0], expected, rtol=1e-12, atol=1e-14)


def test_masked_softmax_with_a_large_gap_stays_finite():
    # an attention-style -inf mask on one position, logits 1000 apart between input and reference
    class Masked(nn.Module):
        def forward(self, x):
            u = torch.cat([x, 2 * x, -x], dim=1)
            mask = torch.tensor([False, False, True])
            return torch.softmax(u.masked_fill(mask, float("-inf")), dim=1)

    x, r = torch.tensor([[1000.0]], dtype=torch.float64), torch.tensor([[-10.0]], dtype=torch.float64)
    res = deep_shap(Masked(), x, r, target="all")
    expected = np.concatenate([softmax_np([1000.0, 2000.0]) - softmax_np([-10.0, -20.0]), [0.0]])
    np.testing.assert_allclose(res.values[0, :, 0], expected, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------- Captum's cases
# Models as in captum.testing.helpers (classification_models.SoftmaxModel,
# basic_models.BasicModel_ConvNet / _MaxPool1d / _MaxPool3d), written out so the
# tests run without Captum installed.
class SoftmaxModel(nn.Module):
    def __init__(self, num_in, num_hidden, num_out):
        super().__init__()
        self.lin1 = nn.Linear(num_in, num_hidden)
        self.lin2 = nn.Linear(num_hidden, num_hidden)
        self.lin3 = nn.Linear(num_hidden, num_out)
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        return self.softmax(self.lin3(self.relu2(self.lin2(self.relu1(self.lin1(x))))))


class ConvNetMaxPool(nn.Module):
    """BasicModel_ConvNet (nd=2), BasicModel_ConvNet_MaxPool1d / _MaxPool3d: fc weights all ones."""

    def __init__(self, nd):
        super().__init__()
        conv, pool = {1: (nn.Conv1d, nn.MaxPool1d), 2: (nn.Conv2d, nn.MaxPool2d), 3: (nn.Conv3d, nn.MaxPool3d)}[nd]
        self.conv1, self.relu1, self.pool1 = conv(1, 2, 3), nn.ReLU(), pool(2)
        self.conv2, self.relu2, self.pool2 = conv(2, 4, 3), nn.ReLU(), pool(2)
        self.fc1, self.relu3, self.fc2 = nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 10)
        self.softmax = nn.Softmax(dim=1)
        self.fc1.weight = nn.Parameter(torch.ones(8, 4))
        self.fc2.weight = nn.Parameter(torch.ones(10, 8))

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.relu3(self.fc1(x.view(-1, 4)))
        return self.softmax(self.fc2(x))


def logits_of(model, x):
    seen = {}
    handle = model.softmax.register_forward_pre_hook(lambda m, a: seen.__setitem__("u", a[0].detach()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return seen["u"].double()


def top_logit_gap(model, x, refs):
    return float((logits_of(model, x).amax(1)[:, None] - logits_of(model, refs).amax(1)[None, :]).abs().max())


def check_additive(res, model, x, refs, paired, atol=1e-12):
    """Values finite, outputs/base values those of the model (float64), delta tiny: relative to
    ``f(x) - E f(refs)``, or ``atol`` (rounding on the scale of the logits) where that change is 0."""
    m64 = copy.deepcopy(model).double()
    with torch.no_grad():
        fx = m64(x.double())
        fr = m64(refs.double())
    t = torch.as_tensor(res.target)
    assert np.isfinite(res.values).all() and res.values.shape == tuple(x.shape)
    # the pass computes softmax as exp(u - logsumexp(u)): rounding differs from torch's kernel
    np.testing.assert_allclose(res.outputs, fx.gather(1, t[:, None])[:, 0], rtol=1e-9, atol=1e-300)
    base = fr.gather(1, t[:, None])[:, 0] if paired else fr.mean(0)[t]
    np.testing.assert_allclose(res.base_values, base, rtol=1e-9, atol=1e-300)
    scale = float(np.abs(res.outputs - res.base_values).max())
    np.testing.assert_allclose(res.delta, res.values.reshape(len(x), -1).sum(1) - (res.outputs - res.base_values),
                               atol=1e-14)
    assert np.abs(res.delta).max() <= 1e-6 * scale + atol, (np.abs(res.delta).max(), scale)
    return scale


def deep_lift(model, x, baselines, target):
    """Captum's DeepLift pairs row i with baseline row i: one deep_shap call per row."""
    t = torch.as_tensor(target)
    return [deep_shap(model, x[i:i + 1], baselines[i:i + 1] if baselines.shape[0] > 1 else baselines,
                      target=t[i:i + 1] if t.dim() and t.numel() == len(x) else t) for i in range(len(x))]


# input scale 1: Captum's own inputs; 3000: the same cases with top-logit gaps of ~3,000 to ~40,000
SOFTMAX_CASES = {
    "zero_baseline": (20, lambda: torch.arange(0.0, 20.0).unsqueeze(0), lambda: torch.zeros(1, 20), "deeplift"),
    "batch_zero_baseline": (40, lambda: torch.arange(0.0, 120.0).reshape(3, 40), lambda: torch.zeros(3, 40),
                            "deeplift"),
    "batch_multi_target": (40, lambda: torch.arange(0.0, 120.0).reshape(3, 40),
                           lambda: torch.arange(1.0, 41.0).reshape(1, 40), "deeplift"),
    "multi_baseline": (40, lambda: torch.arange(0.0, 40.0).unsqueeze(0), lambda: torch.randn(5, 40), "deepliftshap"),
    "batch_multi_baseline": (40, lambda: torch.arange(0.0, 80.0).reshape(2, 40), lambda: torch.randn(5, 40),
                             "deepliftshap"),
}


@pytest.mark.parametrize("scale", [1.0, 3000.0], ids=["captum-inputs", "gap-beyond-745"])
@pytest.mark.parametrize("case", sorted(SOFTMAX_CASES))
def test_captum_softmax_classification(case, scale):
    num_in, make_x, make_b, kind = SOFTMAX_CASES[case]
    torch.manual_seed(1234)
    model = SoftmaxModel(num_in, 20, 10).eval()
    x, b = make_x() * scale, make_b() * scale
    gap = top_logit_gap(model, x, b)
    if scale > 1:
        assert gap > 745, gap
    print(f"\n[deep_shap softmax] {case} x{scale:g}: top-logit gap {gap:.0f}")
    targets = [torch.tensor(2), torch.tensor(1)]  # 0-d tensors, as Captum's tests pass them
    if case == "batch_multi_target":
        targets = [torch.tensor([2, 2, 2])]
    for target in targets:
        if kind == "deeplift":
            for i, res in enumerate(deep_lift(model, x, b, target)):
                check_additive(res, model, x[i:i + 1], b[i:i + 1] if b.shape[0] > 1 else b, paired=True)
        else:
            res = deep_shap(model, x, b, target=target)
            check_additive(res, model, x, b, paired=False)
            assert res.target.tolist() == [int(torch.as_tensor(target).reshape(-1)[0])] * len(x)


CONV_CASES = {  # Captum: input 100 * randn, baseline 20 * randn (and the "large baselines" 500/600)
    "maxpool1d": (1, (2, 1, 10), 20.0),
    "maxpool1d_large_baselines": (1, (2, 1, 10), 600.0),
    "maxpool2d": (2, (2, 1, 10, 10), 20.0),
    "maxpool2d_large_baselines": (2, (2, 1, 10, 10), 500.0),
    "maxpool3d": (3, (2, 1, 10, 10, 10), 20.0),
    "maxpool3d_large_baselines": (3, (2, 1, 10, 10, 10), 600.0),
    "maxpool2d_huge_baselines": (2, (2, 1, 10, 10), 8000.0),
}


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_captum_convnet_with_maxpool(case):
    nd, shape, bscale = CONV_CASES[case]
    torch.manual_seed(1234)
    x = 100 * torch.randn(*shape)
    b = bscale * torch.randn(*shape)
    model = ConvNetMaxPool(nd).eval()
    gaps = [top_logit_gap(model, x[i:i + 1], b[i:i + 1]) for i in range(len(x))]
    for target in (torch.tensor(2), torch.tensor(1)):
        for i, res in enumerate(deep_lift(model, x, b, target)):
            # fc2's weights are all ones: every logit is sum(h) + bias, so the softmax does not
            # depend on the input at all and f(x) = f(baseline): every value is 0
            check_additive(res, model, x[i:i + 1], b[i:i + 1], paired=True, atol=1e-14 * gaps[i])
            np.testing.assert_allclose(res.outputs, res.base_values, rtol=1e-12)
            assert np.abs(res.values).max() <= 1e-12 * max(1.0, gaps[i]), (np.abs(res.values).max(), gaps[i])
        # DeepLiftShap: both baselines as a background
        res = deep_shap(model, x, b, target=target)
        check_additive(res, model, x, b, paired=False, atol=1e-14 * max(gaps))
    print(f"\n[deep_shap softmax] {case}: top-logit gaps {[round(g) for g in gaps]}")


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_convnet_with_a_random_head_is_additive_at_large_gaps(nd):
    # the same convnets with random fc weights: small inputs against large baselines, whose
    # softmax is saturated, so f(x) - E f(b) is O(0.1) while the top logits differ by thousands
    torch.manual_seed(5)
    shape = {1: (3, 1, 10), 2: (3, 1, 10, 10), 3: (3, 1, 10, 10, 10)}[nd]
    model = ConvNetMaxPool(nd).eval()
    with torch.no_grad():
        model.fc1.weight.copy_(torch.randn(8, 4))
        model.fc2.weight.copy_(torch.randn(10, 8))
    x, b = torch.randn(*shape), 2000 * torch.randn(4, *shape[1:])
    gap = top_logit_gap(model, x, b)
    assert gap > 745, gap
    res = deep_shap(model, x, b, target="all")
    assert np.isfinite(res.values).all()
    scale = float(np.abs(res.outputs - res.base_values).max())
    assert scale > 0.1 and np.abs(res.delta).max() <= 1e-9 * scale, (np.abs(res.delta).max(), scale)
