"""Cascading parameter randomisation: gradient maps decorrelate, model-free maps are flagged,
the user's model is never touched, layers are ordered from the output down."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

import xai_widgets as xw
from xai_widgets.explain.sanity import KERNELS, rank_correlation


class CNN(nn.Module):
    """The head is registered first: layer order must come from the forward pass, not registration."""

    def __init__(self, k: int = 4):
        super().__init__()
        self.fc = nn.Linear(8 * 4, k)
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.drop = nn.Dropout(0.3)
        self.unused = nn.Linear(3, 3)

    def forward(self, x):
        h = torch.relu(self.bn(self.c1(x)))
        h = torch.relu(self.c2(h))
        h = nn.functional.adaptive_avg_pool2d(h, 2).flatten(1)
        return self.fc(self.drop(h))


@pytest.fixture
def cnn():
    torch.manual_seed(0)
    m = CNN().double()
    m.train()
    with torch.no_grad():  # non-trivial BatchNorm statistics and affine parameters
        m(torch.randn(16, 1, 10, 10, dtype=torch.float64))
        m.bn.weight.uniform_(0.5, 1.5)
        m.bn.bias.uniform_(-0.5, 0.5)
    m.c1.bias.requires_grad_(False)  # a mixed requires_grad pattern to be restored
    return m


@pytest.fixture
def images():
    torch.manual_seed(1)
    return torch.randn(4, 1, 10, 10, dtype=torch.float64)


def snapshot(model):
    return (
        {k: v.clone() for k, v in model.state_dict().items()},
        [m.training for m in model.modules()],
        [p.requires_grad for p in model.parameters()],
        [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks)) for m in model.modules()],
    )


def assert_same(before, after):
    sd0, tr0, rg0, hk0 = before
    sd1, tr1, rg1, hk1 = after
    assert sd0.keys() == sd1.keys()
    for k in sd0:
        assert torch.equal(sd0[k], sd1[k]), f"{k} changed"
    assert tr0 == tr1 and rg0 == rg1 and hk0 == hk1


# ------------------------------------------------------------ the verdict
def test_saliency_decorrelates_from_the_top_layer_and_passes(cnn, images):
    before = snapshot(cnn)
    rng = torch.get_rng_state()
    res = xw.sanity_check(cnn, images, "saliency")
    assert_same(before, snapshot(cnn))
    assert torch.equal(rng, torch.get_rng_state())
    # top (output) first, by when each layer's forward ends; the never-called layer is reported, not randomised
    assert res.layers == ("fc", "c2", "bn", "c1")
    assert res.skipped == ("unused",)
    assert res.rank_correlation.shape == (4, 4) and res.signed_rank_correlation.shape == (4, 4)
    # the original map against itself is 1.0; randomising the head alone already destroys the ranking
    assert rank_correlation(np.abs(res.original.reshape(4, -1)), np.abs(res.original.reshape(4, -1))).tolist() == [1.0] * 4
    assert res.rank_correlation[0].max() < 0.5
    assert res.rank_correlation[-1].max() < 0.5
    assert res.passed and res.passed_per_sample.all() and res.verdict.startswith("passed")
    assert (res.first_below == 0).all()
    # saliency is |gradient| by default: the two correlations coincide
    np.testing.assert_allclose(res.rank_correlation, res.signed_rank_correlation)
    with torch.no_grad():
        cnn.eval()
        assert res.target.tolist() == cnn(images).argmax(1).tolist()


def test_a_map_that_ignores_the_model_stays_at_one_and_fails(cnn, images):
    def edges(model, x, target=None):  # an "explanation" from the input alone (a horizontal gradient)
        return torch.diff(x, dim=-1, prepend=x[..., :1])

    before = snapshot(cnn)
    res = xw.sanity_check(cnn, images, edges)
    assert_same(before, snapshot(cnn))
    np.testing.assert_allclose(res.rank_correlation, 1.0)
    np.testing.assert_allclose(res.signed_rank_correlation, 1.0)
    assert not res.passed and (res.first_below == -1).all()
    assert res.verdict.startswith("FAILED for 4 of 4")
    text = res.summary()
    assert "edges" in text and "FAILED" in text and "fc" in text and "|map|" in text
    assert "passed=False" in repr(res)


def test_every_stage_uses_the_original_models_target(cnn, images):
    seen = []

    def grad_of_target(model, x, target=None):
        seen.append(torch.as_tensor(target).clone())
        return xw.saliency(model, x, target=target)

    res = xw.sanity_check(cnn, images, grad_of_target)
    assert len(seen) == 1 + len(res.layers)
    for t in seen:
        assert t.tolist() == res.target.tolist()
    fixed = xw.sanity_check(cnn, images, grad_of_target, target=2, layers=["fc"])
    assert fixed.target.tolist() == [2] * 4 and seen[-1].tolist() == [2] * 4


def test_randomisation_is_cumulative_seeded_and_on_a_copy(cnn, images):
    seen = []

    def weights(model, x, target=None):  # a "map" that is a function of the parameters only
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
        return xw.saliency(model, x, target=target)

    before = snapshot(cnn)
    a = xw.sanity_check(cnn, images, weights, seed=3, keep_maps=True)
    assert_same(before, snapshot(cnn))
    orig = before[0]
    # stage j differs from the original exactly in layers[0..j]
    for j in range(len(a.layers)):
        changed = {k.split(".")[0] for k in orig if not torch.equal(orig[k], seen[1 + j][k])}
        assert changed == set(a.layers[: j + 1])
    assert {k for k in orig if not torch.equal(orig[k], seen[0][k])} == set()
    b = xw.sanity_check(cnn, images, "saliency", seed=3, keep_maps=True)
    np.testing.assert_array_equal(a.maps, b.maps)
    assert a.maps.shape == (4,) + tuple(images.shape)
    c = xw.sanity_check(cnn, images, "saliency", seed=4)
    assert not np.array_equal(a.rank_correlation, c.rank_correlation)


def test_a_kernels_own_method_argument_passes_through(cnn, images):
    """model, inputs and method are positional only: integrated gradients' ``method=`` reaches the kernel."""
    rule = xw.sanity_check(cnn, images, "integrated_gradients", method="riemann_left", steps=3, seed=1, keep_maps=True)

    def left(model, x, target=None, **kw):
        return xw.integrated_gradients(model, x, target, method="riemann_left", **kw)

    ref = xw.sanity_check(cnn, images, left, steps=3, seed=1, keep_maps=True)
    np.testing.assert_array_equal(rule.maps, ref.maps)
    gl = xw.sanity_check(cnn, images, "integrated_gradients", steps=3, seed=1, keep_maps=True)
    assert not np.array_equal(rule.maps, gl.maps)


def test_layer_argument_given_as_a_user_submodule_refers_to_the_copy(cnn, images):
    before = snapshot(cnn)
    res = xw.sanity_check(cnn, images, "grad_cam", layer=cnn.c2, layers=[cnn.fc, "c2"])
    assert_same(before, snapshot(cnn))
    assert res.layers == ("fc", "c2") and res.original.shape == (4, 10, 10)
    assert res.rank_correlation.shape == (2, 4)


def test_shapley_kernel_with_background(cnn, images):
    mlp = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    x = torch.randn(3, 5, dtype=torch.float64)
    res = xw.sanity_check(mlp, x, "exact_shap", background=torch.zeros(1, 5, dtype=torch.float64))
    assert res.layers == ("2", "0") and res.rank_correlation.shape == (2, 3)
    with pytest.raises(ValueError, match="needs background="):
        xw.sanity_check(mlp, x, "kernel_shap")


def test_custom_parameters_without_reset_are_redrawn():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 2)
            self.scale = nn.Parameter(torch.tensor([1.0, 2.0, 3.0, 4.0]))

        def forward(self, x):
            return self.lin(x * self.scale)

    torch.manual_seed(0)
    m = Scaled().double()
    seen = []

    def grab(model, x, target=None):
        seen.append(model.scale.detach().clone())
        return xw.saliency(model, x, target=target)

    res = xw.sanity_check(m, torch.randn(2, 4, dtype=torch.float64), grab)
    assert res.layers == ("(root)", "lin")  # the root's forward ends last
    assert not torch.equal(seen[1], seen[0]) and torch.equal(m.scale, seen[0])


# ---------------------------------------------------------- helpers, errors
def test_rank_correlation_matches_scipy_with_ties_and_handles_constants():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, size=(5, 30)).astype(float)
    b = a + rng.integers(0, 3, size=(5, 30))
    want = [spearmanr(a[i], b[i]).statistic for i in range(5)]
    np.testing.assert_allclose(rank_correlation(a, b), want, rtol=1e-12)
    c = np.zeros((3, 4))
    d = np.array([[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 2, 3]], dtype=float)
    assert rank_correlation(c, d).tolist() == [1.0, 0.0, 0.0]


def test_unknown_method_names_the_kernels_with_a_close_match(cnn, images):
    before = snapshot(cnn)
    with pytest.raises(ValueError, match="unknown method 'saliancy'.*did you mean 'saliency'"):
        xw.sanity_check(cnn, images, "saliancy")
    with pytest.raises(ValueError, match="integrated_gradients"):
        xw.sanity_check(cnn, images, "ig")
    with pytest.raises(TypeError, match="kernel name"):
        xw.sanity_check(cnn, images, 3)
    assert_same(before, snapshot(cnn))
    assert set(KERNELS) >= {"saliency", "grad_cam", "occlusion", "deep_shap", "kernel_shap"}


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(layers=["nope"]), ValueError, "not a module with parameters"),
        (dict(layers=[]), ValueError, "layers is empty"),
        (dict(layers=["fc", "fc"]), ValueError, "listed twice"),
        (dict(target="all"), ValueError, "target='all'"),
        (dict(threshold=2.0), ValueError, "threshold"),
        (dict(compare="both"), ValueError, "compare"),
        (dict(seed=1.5), TypeError, "seed"),
    ],
)
def test_bad_arguments_raise_before_the_model_runs(cnn, images, kwargs, exc, match):
    calls = []
    h = cnn.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        with pytest.raises(exc, match=match):
            xw.sanity_check(cnn, images, "saliency", **kwargs)
    finally:
        h.remove()
    assert calls == []
