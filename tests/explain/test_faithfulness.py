"""Deletion/insertion curves: brute-force optimality on a linear model, closed-form curves,
image pixels and token ids, chunking invariance, and errors before any forward pass."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

import xai_widgets as xw
from xai_widgets.explain.faithfulness import step_counts

from counting import RowCounter


# ------------------------------------------------------------------ models
@pytest.fixture
def linear():
    torch.manual_seed(0)
    return nn.Linear(6, 3).double()


@pytest.fixture
def x6():
    torch.manual_seed(3)
    return torch.randn(1, 6, dtype=torch.float64)


def f_linear(model, z, t):
    with torch.no_grad():
        return (z @ model.weight[t] + model.bias[t]).numpy()


def closed_curve(model, x, t, order, counts, kind):
    """f after removing (deletion) or revealing (insertion) order[:c] for each count c (zero baseline)."""
    out = []
    for c in counts:
        z = x.clone() if kind == "deletion" else torch.zeros_like(x)
        idx = list(order[:c])
        z[0, idx] = 0.0 if kind == "deletion" else x[0, idx]
        out.append(float(f_linear(model, z, t)[0]))
    return np.array(out)


class TinyCNN(nn.Module):
    def __init__(self, k: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 3, padding=1)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(5 * 4, k)

    def forward(self, x):
        h = torch.tanh(self.conv(x))
        h = nn.functional.adaptive_avg_pool2d(h, 2).flatten(1)
        return self.fc(self.drop(h))


@pytest.fixture
def cnn():
    torch.manual_seed(1)
    return TinyCNN().double()


@pytest.fixture
def images():
    torch.manual_seed(2)
    return torch.randn(2, 3, 6, 7, dtype=torch.float64)


# ----------------------------------------------- linear model, brute force
@pytest.mark.parametrize("kind", ["deletion", "insertion"])
def test_exact_attribution_order_is_the_best_of_all_720_orders_and_its_reverse_the_worst(linear, x6, kind):
    t = 1
    wx = (linear.weight[t] * x6[0]).detach()
    assert len(set(wx.tolist())) == 6  # distinct contributions: the best order is unique
    perms = list(itertools.permutations(range(6)))
    # row r's attribution ranks the elements in permutation perms[r]; then the exact map and its reverse
    vals = np.empty((len(perms) + 2, 6))
    for r, p in enumerate(perms):
        vals[r, list(p)] = np.arange(6, 0, -1)
    vals[-2] = wx.numpy()
    vals[-1] = -wx.numpy()
    x = x6.expand(len(vals), 6).clone()
    res = xw.faithfulness(linear, x, vals, target=t, kind=kind, steps=6, seeds=0, batch_size=512)
    assert res.curve.shape == (len(vals), 7) and res.random_auc is None
    # every permutation's curve is f after removing/revealing its first c elements
    for r in (0, 1, 100, 719):
        np.testing.assert_allclose(
            res.curve[r], closed_curve(linear, x6, t, perms[r], range(7), kind), rtol=1e-12, atol=1e-12
        )
    brute = res.auc[:-2]
    best, worst = (brute.min(), brute.max()) if kind == "deletion" else (brute.max(), brute.min())
    assert res.auc[-2] == pytest.approx(best, abs=1e-12)
    assert res.auc[-1] == pytest.approx(worst, abs=1e-12)
    # and it is strictly the best: only the one permutation that sorts w*x reaches it
    order = tuple(np.argsort(-wx.numpy()).tolist())
    hits = np.flatnonzero(np.isclose(brute, best, rtol=0, atol=1e-12))
    assert [perms[i] for i in hits] == [order]


def test_curve_is_closed_form_and_random_auc_lies_between_best_and_worst(linear, x6):
    t = 2
    wx = (linear.weight[t] * x6[0]).detach().numpy()
    order = np.argsort(-wx)
    for kind in ("deletion", "insertion"):
        res = xw.faithfulness(linear, x6, wx[None], target=t, kind=kind, steps=6, seeds=8)
        np.testing.assert_allclose(res.curve[0], closed_curve(linear, x6, t, order, range(7), kind), rtol=1e-12)
        assert res.auc[0] == pytest.approx(res.curve[0].mean())
        rev = xw.faithfulness(linear, x6, -wx[None], target=t, kind=kind, steps=6, seeds=0)
        lo, hi = sorted([res.auc[0], rev.auc[0]])
        assert lo < res.random_auc[0] < hi
        assert res.better_than_random.tolist() == [True]
        assert res.random_curve[0, 0] == res.curve[0, 0] and res.random_curve[0, -1] == res.curve[0, -1]


def test_random_orders_are_seeded_deterministic_and_leave_the_global_rng_alone(linear, x6):
    vals = (linear.weight[0] * x6).detach()
    state = torch.get_rng_state()
    a = xw.faithfulness(linear, x6, vals, target=0, steps=3, seeds=3)
    b = xw.faithfulness(linear, x6, vals, target=0, steps=3, seeds=[0, 1, 2])
    c = xw.faithfulness(linear, x6, vals, target=0, steps=3, seeds=[5, 6, 7])
    assert torch.equal(state, torch.get_rng_state())
    np.testing.assert_array_equal(a.random_curve, b.random_curve)
    assert a.seeds == (0, 1, 2) and not np.array_equal(a.random_curve, c.random_curve)


@pytest.mark.parametrize("steps,counts", [(4, [0, 2, 3, 5, 6]), (5, [0, 1, 2, 4, 5, 6]), (1, [0, 6]),
                                          (10, [0, 1, 1, 2, 2, 3, 4, 4, 5, 5, 6])])
def test_steps_that_do_not_divide_the_units_round_half_up(linear, x6, steps, counts):
    t = 0
    wx = (linear.weight[t] * x6[0]).detach().numpy()
    assert step_counts(6, steps).tolist() == counts
    res = xw.faithfulness(linear, x6, wx[None], target=t, steps=steps, seeds=0)
    assert res.counts.tolist() == counts
    np.testing.assert_allclose(res.fractions, np.array(counts) / 6)
    np.testing.assert_allclose(
        res.curve[0], closed_curve(linear, x6, t, np.argsort(-wx), counts, "deletion"), rtol=1e-12
    )


def test_target_none_uses_the_attributions_target_and_baseline_tensor(linear):
    torch.manual_seed(4)
    x = torch.randn(3, 6, dtype=torch.float64)
    a = xw.input_x_gradient(linear, x, target=[0, 2, 1])
    base = torch.full((6,), 0.25, dtype=torch.float64)
    res = xw.faithfulness(linear, x, a, baseline=base, steps=2, seeds=0)
    assert res.target.tolist() == [0, 2, 1]
    with torch.no_grad():
        fb = (base @ linear.weight.T + linear.bias).numpy()
        fx = linear(x).numpy()
    np.testing.assert_allclose(res.curve[:, 0], fx[[0, 1, 2], [0, 2, 1]], rtol=1e-12)
    np.testing.assert_allclose(res.curve[:, -1], fb[[0, 2, 1]], rtol=1e-12)
    assert "Faithfulness(kind='deletion', rows=3, steps=2, units=6 elements" in repr(res)


def test_target_all_attribution_needs_a_target_and_picks_each_rows_map(linear):
    torch.manual_seed(5)
    x = torch.randn(2, 6, dtype=torch.float64)
    every = xw.input_x_gradient(linear, x, target="all")
    with pytest.raises(ValueError, match="target='all'"):
        xw.faithfulness(linear, x, every)
    got = xw.faithfulness(linear, x, every, target=[2, 0], steps=3, seeds=1)
    want = xw.faithfulness(linear, x, xw.input_x_gradient(linear, x, target=[2, 0]), steps=3, seeds=1)
    np.testing.assert_array_equal(got.curve, want.curve)
    np.testing.assert_array_equal(got.random_curve, want.random_curve)


# ------------------------------------------------------------------ images
def test_image_endpoints_are_fresh_forward_passes(cnn, images, state_check):
    cnn.train()  # dropout active in the user's mode: the curve must use eval mode and restore train
    a = xw.input_x_gradient(cnn, images)
    base = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64).view(3, 1, 1)
    with state_check(cnn):
        dele = xw.faithfulness(cnn, images, a, steps=5, baseline=base)
        ins = xw.faithfulness(cnn, images, a, kind="insertion", steps=5, baseline=base)
    assert cnn.training
    cnn.eval()
    with torch.no_grad():
        fx = cnn(images)[[0, 1], a.target].numpy()
        fb = cnn(base.expand_as(images))[[0, 1], a.target].numpy()
    assert dele.unit == "pixel" and dele.units == 6 * 7
    np.testing.assert_allclose(dele.curve[:, 0], fx, rtol=1e-12)
    np.testing.assert_allclose(dele.curve[:, -1], fb, rtol=1e-12)
    np.testing.assert_allclose(ins.curve[:, 0], fb, rtol=1e-12)
    np.testing.assert_allclose(ins.curve[:, -1], fx, rtol=1e-12)


def test_a_pixel_is_all_channels_ranked_by_their_summed_attribution(cnn, images):
    cnn.eval()
    torch.manual_seed(6)
    vals = torch.randn(images.shape, dtype=torch.float64)
    res = xw.faithfulness(cnn, images, vals, target=3, steps=42, seeds=0)  # one pixel per step
    pix = vals.sum(1).reshape(2, -1)
    for i in range(2):
        order = torch.argsort(-pix[i])
        z = images[i:i + 1].clone().reshape(1, 3, -1)
        want = []
        with torch.no_grad():
            for c in (0, 1, 2, 20):
                zz = z.clone()
                zz[:, :, order[:c]] = 0.0
                want.append(cnn(zz.reshape(1, 3, 6, 7))[0, 3].item())
        np.testing.assert_allclose(res.curve[i, [0, 1, 2, 20]], want, rtol=1e-12)
    # per element instead: groups="elements" ranks the 3 * 42 values one by one
    el = xw.faithfulness(cnn, images, vals, target=3, steps=4, seeds=0, groups="elements")
    assert el.units == 126 and el.unit == "element"


def test_channel_shared_maps_equal_the_same_map_repeated_over_channels(cnn, images):
    cnn.eval()
    torch.manual_seed(7)
    cam = torch.rand(2, 6, 7, dtype=torch.float64)
    a = xw.faithfulness(cnn, images, cam, target=1, steps=6)
    b = xw.faithfulness(cnn, images, cam[:, None], target=1, steps=6)
    c = xw.faithfulness(cnn, images, cam[:, None].expand_as(images).clone(), target=1, steps=6)
    np.testing.assert_array_equal(a.curve, b.curve)
    np.testing.assert_array_equal(a.curve, c.curve)
    gc = xw.grad_cam(cnn, images, layer=cnn.conv)  # (N, H, W) values
    assert xw.faithfulness(cnn, images, gc, steps=3).curve.shape == (2, 4)


def test_superpixel_groups_move_together(cnn, images):
    cnn.eval()
    labels = xw.explain.shapley.grid_groups((3, 6, 7), 3)  # 2 x 3 cells
    vals = torch.randn(images.shape, dtype=torch.float64)
    res = xw.faithfulness(cnn, images, vals, target=0, groups=labels, steps=6, seeds=0)
    assert res.unit == "group" and res.units == 6
    cells = torch.as_tensor(labels).reshape(-1)
    score = torch.zeros(2, 6, dtype=torch.float64).index_add_(1, cells, vals.sum(1).reshape(2, -1))
    top = score[0].argmax()
    z = images[:1].clone()
    z[:, :, torch.as_tensor(labels) == top] = 0.0
    with torch.no_grad():
        assert res.curve[0, 1] == pytest.approx(cnn(z)[0, 0].item(), rel=1e-12)


@pytest.mark.parametrize("kind", ["deletion", "insertion"])
def test_batch_size_does_not_change_results(cnn, images, kind):
    a = xw.saliency(cnn, images, abs=False)
    ref = xw.faithfulness(cnn, images, a, kind=kind, steps=7, seeds=2)
    for bs in (1, 5, 1000):
        got = xw.faithfulness(cnn, images, a, kind=kind, steps=7, seeds=2, batch_size=bs)
        np.testing.assert_allclose(got.curve, ref.curve, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got.random_curve, ref.random_curve, rtol=1e-12, atol=1e-14)


def test_rows_evaluated_in_chunks_and_shared_ends_once(cnn, images):
    a = xw.saliency(cnn, images)
    counter = RowCounter(cnn)
    try:
        xw.faithfulness(cnn, images, a, steps=4, seeds=2, batch_size=5)
    finally:
        counter.close()
    # 1 probe row, then per row: 2 shared ends + 3 orders x 3 inner steps, minus the probe's row
    assert counter.rows == 1 + 2 * (2 + 3 * 3) - 1
    assert counter.max_rows <= 5


# ------------------------------------------------------------------ tokens
class BagModel(nn.Module):
    def __init__(self, vocab: int = 20, d: int = 4, k: int = 3):
        super().__init__()
        self.emb = nn.Embedding(vocab, d, padding_idx=0)
        self.head = nn.Linear(d, k)

    def forward(self, ids, attention_mask=None):
        e = self.emb(ids)
        if attention_mask is not None:
            e = e * attention_mask[..., None]
        return self.head(e.sum(1))


def test_token_ids_are_replaced_by_the_baseline_id_in_embedding_attribution_order():
    torch.manual_seed(8)
    model = BagModel().double()
    ids = torch.randint(1, 20, (2, 5))
    mask = torch.ones(2, 5, dtype=torch.float64)
    a = xw.input_x_gradient(model, ids, layer=model.emb, forward_kwargs={"attention_mask": mask})
    assert a.values.shape == (2, 5, 4)
    res = xw.faithfulness(model, ids, a, steps=5, forward_kwargs={"attention_mask": mask}, seeds=1)
    assert res.unit == "token" and res.units == 5
    with torch.no_grad():
        for i in range(2):
            t = int(a.target[i])
            contrib = (model.emb(ids[i]) @ model.head.weight[t]).numpy()  # padding id 0 embeds to zero
            order = np.argsort(-contrib)
            want = model.head.bias[t].item() + contrib.sum() - np.concatenate([[0], np.cumsum(contrib[order])])
            np.testing.assert_allclose(res.curve[i], want, rtol=1e-12, atol=1e-12)
    # word groups: tokens of one word leave together
    grp = xw.explain.shapley.word_groups([None, 0, 0, 1, None])
    g = xw.faithfulness(model, ids, a, steps=4, groups=grp, seeds=0)
    assert g.units == 4 and g.unit == "group"
    with pytest.raises(TypeError, match="integer id"):
        xw.faithfulness(model, ids, a, baseline=0.5)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(values=torch.zeros(2, 3, 6, 6)), ValueError, "do not fit the inputs"),
        (dict(values=torch.zeros(3, 3, 6, 7)), ValueError, "inputs have 2 rows"),
        (dict(values=torch.zeros(2, 5, 6, 7)), ValueError, "do not fit the inputs"),
        (dict(steps=0), ValueError, "steps must be >= 1"),
        (dict(steps=2.5), TypeError, "steps must be an int"),
        (dict(kind="remove"), ValueError, "kind must be one of"),
        (dict(seeds=-1), ValueError, "seeds must be >= 0"),
        (dict(seeds="3"), TypeError, "seeds must be an int"),
        (dict(target=None), ValueError, "pass target="),
        (dict(values=torch.full((2, 3, 6, 7), float("nan"))), ValueError, "NaN"),
        (dict(baseline=torch.zeros(2, 6)), ValueError, "does not broadcast"),
        (dict(groups="pixel"), ValueError, "groups must be"),
        (dict(groups=np.zeros((5, 5), dtype=int)), ValueError, "does not broadcast"),
        (dict(batch_size=0), ValueError, "batch_size must be >= 1"),
    ],
)
def test_bad_arguments_raise_before_any_forward_pass(cnn, images, kwargs, exc, match):
    values = kwargs.pop("values", torch.zeros(images.shape, dtype=torch.float64))
    kwargs.setdefault("target", 0)
    counter = RowCounter(cnn)
    try:
        with pytest.raises(exc, match=match):
            xw.faithfulness(cnn, images, values, **kwargs)
    finally:
        counter.close()
    assert counter.calls == 0


def test_target_out_of_range_costs_at_most_one_row(cnn, images):
    counter = RowCounter(cnn)
    try:
        with pytest.raises(ValueError, match="out of range"):
            xw.faithfulness(cnn, images, torch.zeros(images.shape), target=4)
    finally:
        counter.close()
    assert counter.rows <= 1


def test_wrong_types_raise(cnn, images, linear):
    a = xw.saliency(cnn, images)
    with pytest.raises(TypeError, match="one input tensor"):
        xw.faithfulness(cnn, (images, images), a)
    with pytest.raises(TypeError, match="multi-input"):
        xw.faithfulness(cnn, images, (a, a))
    with pytest.raises(TypeError, match="Attribution"):
        xw.faithfulness(cnn, images, [[0.0]])
    with pytest.raises(TypeError, match="torch.nn.Module"):
        xw.faithfulness(lambda z: z, images, a)
    layer_attr = xw.saliency(linear, torch.randn(2, 6, dtype=torch.float64), layer=linear)
    with pytest.raises(ValueError, match="do not fit"):
        xw.faithfulness(cnn, images, layer_attr.values, target=0)
