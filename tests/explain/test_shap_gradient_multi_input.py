"""gradient_shap and deep_shap on models with several inputs (a tuple of tensors), the "global"
variant (multiply_by_inputs=False), callable and scalar backgrounds, feature and class names,
tensor targets, inference mode and model-call errors: closed forms and Captum's GradientShap /
DeepLiftShap on the same inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from xai_widgets import Attribution
from xai_widgets.explain.shapley import Background, BackgroundSummaryWarning, deep_shap, gradient_shap
from xai_widgets.explain.shapley.gradient import draw_baselines

def _deep(model, x, background, *, samples=None, seed=None, **kw):
    return deep_shap(model, x, background, **kw)  # no sampling: samples/seed do not apply


def _gradient(model, x, background, *, samples=30, seed=0, **kw):
    return gradient_shap(model, x, background, samples=samples, seed=seed, **kw)


KERNELS = {"deep_shap": _deep, "gradient_shap": _gradient}


# ------------------------------------------------------------------ models
class TwoInputMLP(nn.Module):
    """relu(A x1 + B x2) -> 3 outputs, with ReLU modules (as Captum's DeepLift needs)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 8)
        self.b = nn.Linear(3, 8)
        self.relu = nn.ReLU()
        self.out = nn.Linear(8, 3)

    def forward(self, x1, x2):
        return self.out(self.relu(self.a(x1) + self.b(x2)))


class TwoInputLinear(nn.Module):
    """w1 . x1 + w2 . x2 + c (one output per row of w): closed forms."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(11)
        self.w1 = nn.Parameter(torch.randn(2, 4, generator=g, dtype=torch.float64))
        self.w2 = nn.Parameter(torch.randn(2, 2, 3, generator=g, dtype=torch.float64))
        self.c = nn.Parameter(torch.randn(2, dtype=torch.float64))

    def forward(self, x1, x2, scale=1.0):
        return scale * (x1 @ self.w1.T + x2.flatten(1) @ self.w2.flatten(1).T) + self.c


class ImageAndTable(nn.Module):
    """A CNN branch on (1, 6, 6) images and an MLP branch on 5 columns, joined by a linear head."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3)
        self.pool = nn.MaxPool2d(2)
        self.tab = nn.Linear(5, 6)
        self.head = nn.Linear(3 * 2 * 2 + 6, 4)

    def forward(self, img, table):
        h = self.pool(torch.relu(self.conv(img))).flatten(1)
        return self.head(torch.cat([h, torch.tanh(self.tab(table))], dim=1))


@pytest.fixture
def mlp2():
    torch.manual_seed(0)
    return TwoInputMLP().double().eval()


@pytest.fixture
def data2():
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(3, 4, generator=g, dtype=torch.float64), torch.randn(3, 3, generator=g, dtype=torch.float64))
    bg = (torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(6, 3, generator=g, dtype=torch.float64))
    return x, bg


def joint_sum(results):
    n = results[0].values.shape[0]
    return sum(r.values.reshape(n, -1).sum(1) for r in results)


# ------------------------------------------------------------ closed forms
@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_tuple_inputs_linear_model_closed_form(kernel):
    model = TwoInputLinear()
    g = torch.Generator().manual_seed(2)
    x = (torch.randn(3, 4, generator=g, dtype=torch.float64), torch.randn(3, 2, 3, generator=g, dtype=torch.float64))
    b = (torch.randn(1, 4, generator=g, dtype=torch.float64), torch.randn(1, 2, 3, generator=g, dtype=torch.float64))
    res = KERNELS[kernel](model, x, b, target=1)
    assert isinstance(res, tuple) and len(res) == 2 and all(isinstance(r, Attribution) for r in res)
    w1, w2 = model.w1.detach()[1], model.w2.detach()[1]
    np.testing.assert_allclose(res[0].values, (w1 * (x[0] - b[0])).numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res[1].values, (w2 * (x[1] - b[1])).numpy(), rtol=1e-12, atol=1e-14)
    # shared target/outputs/base values, one joint delta on each, data = that input
    with torch.no_grad():
        fx, fb = model(*x)[:, 1], model(*b)[0, 1]
    for j, r in enumerate(res):
        assert r.method == kernel and r.params["input"] == j and r.params["inputs"] == 2
        np.testing.assert_allclose(r.outputs, fx.numpy(), rtol=1e-12)
        np.testing.assert_allclose(r.base_values, np.full(3, float(fb)), rtol=1e-12)
        assert r.target.tolist() == [1, 1, 1]
        np.testing.assert_allclose(r.data, x[j].numpy())
        np.testing.assert_allclose(r.delta, joint_sum(res) - (r.outputs - r.base_values), atol=1e-14)
        assert np.abs(r.delta).max() < 1e-12


def test_deep_shap_tuple_background_mean_and_forward_kwargs():
    model = TwoInputLinear()
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(2, 4, generator=g, dtype=torch.float64), torch.randn(2, 2, 3, generator=g, dtype=torch.float64))
    bg = (torch.randn(5, 4, generator=g, dtype=torch.float64), torch.randn(5, 2, 3, generator=g, dtype=torch.float64))
    res = deep_shap(model, x, bg, target="all", forward_kwargs={"scale": 2.0})
    w1, w2 = 2 * model.w1.detach(), 2 * model.w2.detach()
    np.testing.assert_allclose(res[0].values, (w1[None] * (x[0] - bg[0].mean(0))[:, None]).numpy(), atol=1e-12)
    np.testing.assert_allclose(res[1].values, (w2[None] * (x[1] - bg[1].mean(0))[:, None]).numpy(), atol=1e-12)
    assert res[0].shape == (2, 2, 4) and res[1].shape == (2, 2, 2, 3) and res[0].delta.shape == (2, 2)


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_image_and_table_are_additive_jointly(kernel, state_check):
    torch.manual_seed(4)
    model = ImageAndTable().double().eval()
    g = torch.Generator().manual_seed(5)
    x = (torch.randn(2, 1, 6, 6, generator=g, dtype=torch.float64), torch.randn(2, 5, generator=g, dtype=torch.float64))
    bg = (torch.randn(4, 1, 6, 6, generator=g, dtype=torch.float64), torch.randn(4, 5, generator=g, dtype=torch.float64))
    with state_check(model):
        res = KERNELS[kernel](model, x, bg, samples=3000)
    scale = np.abs(res[0].outputs - res[0].base_values).max()
    assert scale > 1e-3
    assert res[0].values.shape == (2, 1, 6, 6) and res[1].values.shape == (2, 5)
    np.testing.assert_allclose(res[1].delta, joint_sum(res) - (res[0].outputs - res[0].base_values), atol=1e-12)
    # deep_shap: exact (float64 rounding); gradient_shap: a sampling estimate (~1/sqrt(samples))
    tol = 1e-9 * scale if kernel == "deep_shap" else 0.1 * scale
    assert np.abs(res[0].delta).max() <= tol, (np.abs(res[0].delta).max(), scale)
    assert all(np.abs(r.values).max() > 0 for r in res)  # both inputs get a share


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_an_input_the_output_ignores_gets_zeros(kernel):
    class OneUsed(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2).double()

        def forward(self, a, b):
            return self.fc(torch.tanh(a))

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(6)
    x = (torch.randn(2, 3, generator=g, dtype=torch.float64), torch.randn(2, 4, generator=g, dtype=torch.float64))
    bg = (torch.randn(3, 3, generator=g, dtype=torch.float64), torch.randn(3, 4, generator=g, dtype=torch.float64))
    res = KERNELS[kernel](OneUsed(), x, bg, target=0)
    assert np.all(res[1].values == 0) and np.abs(res[0].values).max() > 0


# ----------------------------------------------------------------- captum
def test_deep_shap_tuple_matches_captum_deeplift_shap(mlp2, data2):
    captum = pytest.importorskip("captum.attr")
    x, bg = data2
    for multiply in (True, False):
        res = deep_shap(mlp2, x, bg, target=2, multiply_by_inputs=multiply)
        ref = captum.DeepLiftShap(mlp2, multiply_by_inputs=multiply).attribute(x, bg, target=2)
        for r, c in zip(res, ref):
            np.testing.assert_allclose(r.values, c.detach().numpy(), rtol=1e-9, atol=1e-12)
        assert (res[0].delta is None) == (not multiply)


def test_gradient_shap_tuple_matches_captum_given_the_same_draws(mlp2, data2, monkeypatch):
    captum_gs = pytest.importorskip("captum.attr._core.gradient_shap")
    x, bg = data2
    samples, seed = 20, 3
    rows, alphas = draw_baselines(3, samples, torch.full((6,), 1 / 6, dtype=torch.float64), seed)
    inputs = tuple(t.repeat_interleave(samples, 0) for t in x)
    for multiply in (True, False):
        res = gradient_shap(mlp2, x, bg, samples=samples, target=1, seed=seed, batch_size=7,
                            multiply_by_inputs=multiply)
        monkeypatch.setattr(captum_gs.np.random, "uniform", lambda lo, hi, n: alphas.numpy()[:n])
        ref = captum_gs.InputBaselineXGradient(mlp2, multiply_by_inputs=multiply).attribute(
            inputs, tuple(b[rows] for b in bg), target=1)
        for r, c in zip(res, ref):
            expected = c.detach().view(3, samples, -1).mean(1).numpy()
            np.testing.assert_allclose(r.values.reshape(3, -1), expected, rtol=1e-10, atol=1e-12)
        assert (res[0].delta is None) == (not multiply)


def test_gradient_shap_tuple_agrees_with_captum_in_distribution(mlp2, data2):
    GradientShap = pytest.importorskip("captum.attr").GradientShap
    x, bg = data2
    for multiply in (True, False):
        res = gradient_shap(mlp2, x, bg, samples=2000, target=0, multiply_by_inputs=multiply)
        np.random.seed(0)
        torch.manual_seed(0)
        ref = GradientShap(mlp2, multiply_by_inputs=multiply).attribute(x, bg, n_samples=2000, stdevs=0.0, target=0)
        ours = np.concatenate([r.values.ravel() for r in res])
        theirs = np.concatenate([c.detach().numpy().ravel() for c in ref])
        assert np.corrcoef(ours, theirs)[0, 1] > 0.99
        assert np.abs(ours - theirs).max() < 0.15 * np.abs(theirs).max()


# -------------------------------------------------- multiply_by_inputs=False
def test_global_variant_on_a_linear_model_is_the_weights(linear_model):
    # multipliers of a linear model are its weights, whatever the background
    g = torch.Generator().manual_seed(7)
    x, bg = torch.randn(3, 6, generator=g, dtype=torch.float64), torch.randn(4, 6, generator=g, dtype=torch.float64)
    w = linear_model.weight.detach()[2].numpy()
    for res in (deep_shap(linear_model, x, bg, target=2, multiply_by_inputs=False),
                gradient_shap(linear_model, x, bg, samples=7, target=2, multiply_by_inputs=False)):
        np.testing.assert_allclose(res.values, np.broadcast_to(w, (3, 6)), rtol=1e-12)
        assert res.delta is None and res.params["multiply_by_inputs"] is False
        np.testing.assert_allclose(res.base_values, linear_model(bg)[:, 2].mean().detach().numpy(), rtol=1e-12)


def test_global_variant_relu_equals_rescale_multiplier():
    # relu(w . x): the DeepLIFT multiplier is w * (relu(ux) - relu(ub)) / (ux - ub)
    model = nn.Sequential(nn.Linear(3, 1, bias=False).double(), nn.ReLU())
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64))
    x = torch.tensor([[1.0, -1.0, 2.0]], dtype=torch.float64)
    b = torch.tensor([[0.5, 1.0, -1.0], [-1.0, 0.0, 0.0]], dtype=torch.float64)
    res = deep_shap(model, x, b, target=0, multiply_by_inputs=False)
    w = model[0].weight.detach()[0]
    ux, ub = float(x[0] @ w), b @ w
    m = ((max(ux, 0.0) - ub.clamp_min(0)) / (ux - ub)).mean()
    np.testing.assert_allclose(res.values[0], (w * m).numpy(), rtol=1e-12)


def test_captum_deeplift_shap_global_on_one_input():
    captum = pytest.importorskip("captum.attr")
    torch.manual_seed(8)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3)).double().eval()
    g = torch.Generator().manual_seed(9)
    x, bg = torch.randn(3, 5, generator=g, dtype=torch.float64), torch.randn(4, 5, generator=g, dtype=torch.float64)
    res = deep_shap(model, x, bg, target=torch.tensor(1), multiply_by_inputs=False)
    ref = captum.DeepLiftShap(model, multiply_by_inputs=False).attribute(x, bg, target=1)
    np.testing.assert_allclose(res.values, ref.detach().numpy(), rtol=1e-9, atol=1e-12)


# ------------------------------------------------------- callable / scalar
@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_callable_background_is_evaluated_once_on_the_inputs(kernel, mlp2, data2):
    x, bg = data2
    seen = []

    def make(inputs):
        seen.append(inputs)
        return tuple(t[:2] * 0.5 for t in inputs)

    res = KERNELS[kernel](mlp2, x, make, target=0, seed=1)
    assert len(seen) == 1 and isinstance(seen[0], tuple) and torch.equal(seen[0][0], x[0])
    direct = KERNELS[kernel](mlp2, x, tuple(t[:2] * 0.5 for t in x), target=0, seed=1)
    for r, d in zip(res, direct):
        np.testing.assert_allclose(r.values, d.values, rtol=1e-12, atol=1e-14)
    # no-argument callable, one input (Captum calls baselines() when it takes no parameter)
    one = nn.Sequential(nn.Linear(4, 2)).double()
    a = KERNELS[kernel](one, x[0], lambda: torch.zeros(1, 4, dtype=torch.float64), target=1)
    b = KERNELS[kernel](one, x[0], torch.zeros(1, 4, dtype=torch.float64), target=1)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-12)


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_scalar_background_broadcasts(kernel):
    model = TwoInputLinear()
    g = torch.Generator().manual_seed(10)
    x = (torch.randn(2, 4, generator=g, dtype=torch.float64), torch.randn(2, 2, 3, generator=g, dtype=torch.float64))
    res = KERNELS[kernel](model, x, 0.5, target=0)
    w1, w2 = model.w1.detach()[0], model.w2.detach()[0]
    np.testing.assert_allclose(res[0].values, (w1 * (x[0] - 0.5)).numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res[1].values, (w2 * (x[1] - 0.5)).numpy(), rtol=1e-12, atol=1e-14)
    # a scalar inside a tuple: that input's reference is the number, repeated to B rows
    bg1 = torch.randn(3, 4, generator=g, dtype=torch.float64)
    res = KERNELS[kernel](model, x, (bg1, 0.0), target=0, samples=4000)
    expected = (w2 * x[1]).numpy()
    if kernel == "deep_shap":
        np.testing.assert_allclose(res[1].values, expected, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(res[0].values, (w1 * (x[0] - bg1.mean(0))).numpy(), rtol=1e-12, atol=1e-14)
    else:  # linear: every draw gives w2 * (x2 - 0) exactly on the second input
        np.testing.assert_allclose(res[1].values, expected, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- names
class Named(nn.Module):
    output_names = ["cat", "dog", "tiger cat"]

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3).double()

    def forward(self, x):
        return self.fc(x)


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_feature_names_output_names_and_class_name_targets(kernel):
    torch.manual_seed(0)
    model = Named()
    g = torch.Generator().manual_seed(12)
    x, bg = torch.randn(2, 4, generator=g, dtype=torch.float64), torch.randn(3, 4, generator=g, dtype=torch.float64)
    res = KERNELS[kernel](model, x, bg, target="tiger cat", feature_names=["a", "b", "c", "d"])
    by_index = KERNELS[kernel](model, x, bg, target=2)
    np.testing.assert_allclose(res.values, by_index.values, rtol=1e-12)
    assert res.target.tolist() == [2, 2]
    assert res.output_names == Named.output_names and res.feature_names == ["a", "b", "c", "d"]
    explicit = KERNELS[kernel](model, x, bg, target="Z", output_names=["X", "Y", "Z"])
    assert explicit.output_names == ["X", "Y", "Z"] and explicit.target.tolist() == [2, 2]
    with pytest.raises(ValueError, match="tiger cat"):  # close matches named
        KERNELS[kernel](model, x, bg, target="tiger")
    with pytest.raises(ValueError, match="output_names has 2 names but the model has 3 outputs"):
        KERNELS[kernel](model, x, bg, output_names=["X", "Y"])
    with pytest.raises(ValueError, match="feature_names has 3 names but one row of x has 4 elements"):
        KERNELS[kernel](model, x, bg, feature_names=["a", "b", "c"])
    plain = nn.Linear(4, 3).double()
    with pytest.raises(ValueError, match="class names are not known"):
        KERNELS[kernel](plain, x, bg, target="cat")


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_feature_names_per_input(kernel, mlp2, data2):
    x, bg = data2
    res = KERNELS[kernel](mlp2, x, bg, feature_names=[list("abcd"), None])
    assert res[0].feature_names == list("abcd") and res[1].feature_names is None
    with pytest.raises(ValueError, match="one list per input"):
        KERNELS[kernel](mlp2, x, bg, feature_names=list("abcdefg"))
    with pytest.raises(ValueError, match=r"feature_names\[1\] has 2 names but one row of x\[1\] has 3"):
        KERNELS[kernel](mlp2, x, bg, feature_names=[list("abcd"), ["u", "v"]])


# -------------------------------------------------------- targets, modes
@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_tensor_and_numpy_scalar_targets_broadcast(kernel):
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    g = torch.Generator().manual_seed(13)
    x, bg = torch.randn(3, 4, generator=g, dtype=torch.float64), torch.randn(5, 4, generator=g, dtype=torch.float64)
    ref = KERNELS[kernel](model, x, bg, target=2)
    for t in (torch.tensor(2), torch.tensor([2]), np.int64(2), np.array([2])):
        res = KERNELS[kernel](model, x, bg, target=t)
        assert res.target.tolist() == [2, 2, 2]
        np.testing.assert_allclose(res.values, ref.values, rtol=1e-12)


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_works_under_inference_mode(kernel, state_check):
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2)).eval()
    g = torch.Generator().manual_seed(14)
    x, bg = torch.randn(2, 1, 6, 6, generator=g), torch.randn(3, 1, 6, 6, generator=g)
    outside = KERNELS[kernel](model, x, bg, target=1)
    with state_check(model), torch.inference_mode():
        xi, bgi = x.clone(), bg.clone()  # inference tensors, as a user holding them there would pass
        assert xi.is_inference()
        inside = KERNELS[kernel](model, xi, bgi, target=1)
    np.testing.assert_allclose(inside.values, outside.values, rtol=1e-12)
    np.testing.assert_allclose(inside.delta, outside.delta, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_unbatched_image_into_a_cnn_names_the_shape(kernel):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    img = torch.randn(3, 8, 8)  # one image without its batch axis
    with pytest.raises(ValueError, match=r"\(3, 8, 8\).*batch axis") as err:
        KERNELS[kernel](model, img, 0.0)
    assert isinstance(err.value.__cause__, RuntimeError)  # torch's conv2d error, chained
    # with a batched background the background check already says what is wrong
    with pytest.raises(ValueError, match=r"x\[None\]"):
        KERNELS[kernel](model, img, torch.zeros(4, 3, 8, 8))


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_one_number_for_the_batch_and_a_2d_input_into_a_cnn(kernel):
    class Summed(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(x).sum()  # a 0-d scalar for the whole batch

    with pytest.raises(ValueError, match=r"one number \(a 0-d tensor\) for the whole batch"):
        KERNELS[kernel](Summed(), torch.randn(3, 4), torch.zeros(2, 4))
    cnn = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 2))
    with pytest.raises(ValueError, match=r"\(8, 8\).*inputs\[:, None\]") as err:
        KERNELS[kernel](cnn, torch.randn(8, 8), 0.0)  # one grayscale image, no batch or channel axis
    assert isinstance(err.value.__cause__, RuntimeError)


def test_deep_shap_weighted_tuple_background():
    model = TwoInputLinear()
    g = torch.Generator().manual_seed(16)
    x = (torch.randn(1, 4, generator=g, dtype=torch.float64), torch.randn(1, 2, 3, generator=g, dtype=torch.float64))
    bg = (torch.randn(2, 4, generator=g, dtype=torch.float64), torch.randn(2, 2, 3, generator=g, dtype=torch.float64))
    res = deep_shap(model, x, Background(bg, np.array([0.25, 0.75])), target=0)
    w1, w2 = model.w1.detach()[0], model.w2.detach()[0]
    mean1, mean2 = 0.25 * bg[0][0] + 0.75 * bg[0][1], 0.25 * bg[1][0] + 0.75 * bg[1][1]
    np.testing.assert_allclose(res[0].values, (w1 * (x[0] - mean1)).numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res[1].values, (w2 * (x[1] - mean2)).numpy(), rtol=1e-12, atol=1e-14)


def test_deep_shap_summarising_a_large_background_is_not_silent():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    g = torch.Generator().manual_seed(15)
    x, bg = torch.randn(1, 3, generator=g, dtype=torch.float64), torch.randn(120, 3, generator=g, dtype=torch.float64)
    with pytest.warns(BackgroundSummaryWarning, match="summarize=False"):
        res = deep_shap(model, x, bg, target=0)
    assert res.params["background_summarized"] and res.params["background"] == 50
    every = deep_shap(model, x, bg, target=0, summarize=False)
    assert not every.params["background_summarized"] and every.params["background"] == 120
    with torch.no_grad():
        np.testing.assert_allclose(every.base_values, model(bg)[:, 0].mean().numpy(), rtol=1e-12)


# ------------------------------------------------------------ bad inputs
class Counting(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 2), nn.Linear(3, 2)
        self.calls = []

    def forward(self, x1, x2):
        self.calls.append(x1.shape[0])
        return self.a(x1) + self.b(x2)


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_bad_tuple_inputs_raise_before_any_forward(kernel):
    model = Counting()
    x = (torch.randn(2, 4), torch.randn(2, 3))
    bg = (torch.zeros(3, 4), torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"share the batch size.*\(2, 4\), \(3, 3\)"):
        KERNELS[kernel](model, (x[0], torch.randn(3, 3)), bg)
    with pytest.raises(ValueError, match="tuple of 1 parts but x has 2 inputs"):
        KERNELS[kernel](model, x, bg[:1])
    with pytest.raises(ValueError, match="tuple of 3 parts but x has 2 inputs"):
        KERNELS[kernel](model, x, bg + (torch.zeros(3, 1),))
    with pytest.raises(ValueError, match="must be a tuple of 2 tensors"):
        KERNELS[kernel](model, x, torch.zeros(3, 4))
    with pytest.raises(ValueError, match="share the number of rows"):
        KERNELS[kernel](model, x, (torch.zeros(3, 4), torch.zeros(5, 3)))
    with pytest.raises(ValueError, match=r"background\[1\] rows have shape \(4,\) but x\[1\]'s rows have shape \(3,\)"):
        KERNELS[kernel](model, x, (torch.zeros(3, 4), torch.zeros(3, 4)))
    with pytest.raises(TypeError, match="multiply_by_inputs"):
        KERNELS[kernel](model, x, bg, multiply_by_inputs="no")
    with pytest.raises(ValueError, match="background function raised ZeroDivisionError"):
        KERNELS[kernel](model, x, lambda inputs: 1 / 0)
    with pytest.raises(ValueError, match="background is a tuple of 1 parts"):
        KERNELS[kernel](model, x, lambda inputs: (inputs[0],))
    assert model.calls == []
    with pytest.raises(ValueError, match="not one of the 2 class names"):
        KERNELS[kernel](model, x, bg, target="horse", output_names=["cat", "dog"])
    assert model.calls == [1]  # only the one-row probe
