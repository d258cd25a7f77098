"""The Shapley kernels on users' inputs: tuples of blocks, forward_kwargs, DataFrames, int/bool, names.

Truth is brute-force Shapley (every ordering, written here without the
library's code) or the same game posed as a plain float array.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from xai_widgets.explain.shapley import exact_shap, kernel_shap, permutation_shap


def brute_force(v, m):
    """Shapley values of the set function ``v`` (frozenset → float) over all m! orderings."""
    cache = {}

    def val(s):
        s = frozenset(s)
        if s not in cache:
            cache[s] = v(s)
        return cache[s]

    phi = np.zeros(m)
    for order in itertools.permutations(range(m)):
        for k, p in enumerate(order):
            phi[p] += val(order[: k + 1]) - val(order[:k])
    return phi / math.factorial(m)


def flat_game(f, x_row, bg, members=None):
    """v(S) = mean_b f(x on S's elements, b elsewhere) for one flat row; ``members[p]`` = elements of player p."""
    d = x_row.shape[0]
    members = members if members is not None else [[j] for j in range(d)]

    def v(s):
        keep = np.zeros(d, dtype=bool)
        for p in s:
            keep[members[p]] = True
        return float(np.mean(f(np.where(keep, x_row, bg))))

    return v


class Counter:
    def __init__(self, f):
        self.f, self.rows = f, []

    def __call__(self, *a, **kw):
        self.rows.append(a[0].shape[0])
        return self.f(*a, **kw)


# ----------------------------------------------------------------- tuples
class TwoInputs(nn.Module):
    """An image-like block (2, 2) and a tabular block (3,) into one non-linear head."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.head = nn.Sequential(nn.Linear(7, 8), nn.Tanh(), nn.Linear(8, 2)).double()

    def forward(self, img, tab):
        return self.head(torch.cat([img.flatten(1), tab], dim=1))


@pytest.fixture
def two():
    rng = np.random.default_rng(0)
    x = (torch.from_numpy(rng.normal(size=(2, 2, 2))), torch.from_numpy(rng.normal(size=(2, 3))))
    bg = (torch.from_numpy(rng.normal(size=(5, 2, 2))), torch.from_numpy(rng.normal(size=(5, 3))))
    return TwoInputs(), x, bg


def test_tuple_blocks_match_brute_force_and_the_concatenated_game(two, state_check):
    model, x, bg = two
    with state_check(model):
        a_img, a_tab = exact_shap(model, x, bg, target=1)
    flat = lambda z: model(torch.from_numpy(z[:, :4]).view(-1, 2, 2), torch.from_numpy(z[:, 4:])).detach().numpy()[:, 1]
    xc = np.concatenate([x[0].numpy().reshape(2, 4), x[1].numpy()], 1)
    bc = np.concatenate([bg[0].numpy().reshape(5, 4), bg[1].numpy()], 1)
    single = exact_shap(flat, xc, bc)
    assert a_img.values.shape == (2, 2, 2) and a_tab.values.shape == (2, 3)
    joined = np.concatenate([a_img.values.reshape(2, 4), a_tab.values], 1)
    for i in range(2):
        np.testing.assert_allclose(joined[i], brute_force(flat_game(flat, xc[i], bc), 7), atol=1e-12)
    np.testing.assert_allclose(joined, single.values, atol=1e-12)
    # shared target/outputs/base_values, one joint delta
    for a in (a_img, a_tab):
        np.testing.assert_allclose(a.outputs, single.outputs, atol=1e-14)
        np.testing.assert_allclose(a.base_values, single.base_values, atol=1e-14)
        assert a.target.tolist() == [1, 1] and a.params["inputs"] == 2
    np.testing.assert_array_equal(a_img.delta, a_tab.delta)
    np.testing.assert_allclose(joined.sum(1) - (a_img.outputs - a_img.base_values), a_img.delta, atol=1e-14)
    np.testing.assert_allclose(a_img.delta, 0, atol=1e-12)
    np.testing.assert_array_equal(a_img.data, x[0].numpy())
    np.testing.assert_array_equal(a_tab.data, x[1].numpy())
    # the sampling kernels see the same players: identical to their single-block run
    k2 = kernel_shap(model, x, bg, samples=40, target=1, seed=3)
    k1 = kernel_shap(flat, xc, bc, samples=40, seed=3)
    np.testing.assert_allclose(np.concatenate([k2[0].values.reshape(2, 4), k2[1].values], 1), k1.values, atol=1e-12)
    p2 = permutation_shap(model, x, bg, permutations=3, target="all", seed=1)
    p1 = permutation_shap(lambda z: np.stack([flat(z), flat(z)], 1) * 0 + model(
        torch.from_numpy(z[:, :4]).view(-1, 2, 2), torch.from_numpy(z[:, 4:])).detach().numpy(), xc, bc,
        permutations=3, target="all", seed=1)
    assert p2[0].values.shape == (2, 2, 2, 2) and p2[1].values.shape == (2, 2, 3)
    np.testing.assert_allclose(
        np.concatenate([p2[0].values.reshape(2, 2, 4), p2[1].values], 2), p1.values, atol=1e-12)


def test_tuple_groups_across_blocks_and_feature_names(two):
    model, x, bg = two
    flat = lambda z: model(torch.from_numpy(z[:, :4]).view(-1, 2, 2), torch.from_numpy(z[:, 4:])).detach().numpy()[:, 0]
    xc = np.concatenate([x[0].numpy().reshape(2, 4), x[1].numpy()], 1)
    bc = np.concatenate([bg[0].numpy().reshape(5, 4), bg[1].numpy()], 1)
    # one label map per block; label 2 spans both blocks (one player)
    maps = (np.array([[0, 0], [1, 2]]), np.array([2, 3, 3]))
    members = [[0, 1], [2], [3, 4], [5, 6]]
    names = (["p00", "p01", "p10", "p11"], ["age", "bmi", "bp"])
    a, b = exact_shap(model, x, bg, groups=maps, target=0, feature_names=names)
    assert a.group_values.shape == (2, 4) and a.feature_names == names[0] and b.feature_names == names[1]
    for i in range(2):
        np.testing.assert_allclose(a.group_values[i], brute_force(flat_game(flat, xc[i], bc, members), 4), atol=1e-12)
    np.testing.assert_allclose(a.values[:, 1, 1] + b.values[:, 0], a.group_values[:, 2], atol=1e-14)
    # index lists count over the blocks' flattened elements, in order
    c, d = exact_shap(model, x, bg, groups=members, target=0, feature_names=[None, names[1]])
    np.testing.assert_allclose(c.group_values, a.group_values, atol=1e-12)
    assert c.feature_names is None and d.feature_names == names[1]


# --------------------------------------------------------- forward_kwargs
class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.net = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 1)).double()

    def forward(self, x, scale=1.0, mask=None):
        if mask is not None:
            x = x * mask
        return self.net(x)[:, 0] * scale


@pytest.mark.parametrize("kernel", ["exact", "kernel", "permutation"])
def test_forward_kwargs_scale_passes_through_and_a_mask_follows_its_row(kernel):
    model = Scaled()
    rng = np.random.default_rng(4)
    x, bg = torch.from_numpy(rng.normal(size=(3, 4))), torch.from_numpy(rng.normal(size=(6, 4)))
    run = {
        "exact": lambda **kw: exact_shap(model, x, bg, **kw),
        "kernel": lambda **kw: kernel_shap(model, x, bg, samples=14, **kw),  # every coalition of 4
        "permutation": lambda **kw: permutation_shap(model, x, bg, permutations=12, **kw),
    }[kernel]
    plain, scaled = run(), run(forward_kwargs={"scale": 2.5})
    np.testing.assert_allclose(scaled.values, 2.5 * plain.values, atol=1e-12)
    np.testing.assert_allclose(scaled.base_values, 2.5 * plain.base_values, atol=1e-12)
    assert scaled.params["forward_kwargs"] == ["scale"]

    mask = torch.from_numpy((rng.random((3, 4)) > 0.4).astype(np.float64))
    res = run(forward_kwargs={"mask": mask, "scale": 0.5}, batch_size=5)  # passes cut across rows
    for i in range(3):
        fi = lambda z, i=i: model(torch.from_numpy(z), mask=mask[i:i + 1].expand(len(z), 4), scale=0.5).detach().numpy()
        if kernel == "permutation":  # sampled orderings (shared by rows, seeded): the same game posed per row
            truth = permutation_shap(fi, x[i:i + 1].numpy(), bg.numpy(), permutations=12).values[0]
        else:
            truth = brute_force(flat_game(fi, x[i].numpy(), bg.numpy()), 4)
        np.testing.assert_allclose(res.values[i], truth, atol=1e-12)
        # base_values: E_b f(b, mask_i), per row
        np.testing.assert_allclose(res.base_values[i], fi(bg.numpy()).mean(), atol=1e-12)
    np.testing.assert_allclose(res.delta, 0, atol=1e-10)


def test_forward_kwargs_for_a_callable_and_a_tuple():
    rng = np.random.default_rng(5)
    w = rng.normal(size=3)
    f = lambda a, b, weights=None, offset=0.0: (a * weights) @ w + b.sum(1) + offset
    xa, xb = rng.normal(size=(2, 3)), rng.normal(size=(2, 2))
    ba, bb = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    weights = rng.normal(size=(2, 3))  # numpy, batched: row i goes with x_i
    ra, rb = exact_shap(f, (xa, xb), (ba, bb), forward_kwargs={"weights": weights, "offset": 7.0})
    np.testing.assert_allclose(ra.values, weights * w * (xa - ba.mean(0)), atol=1e-12)
    np.testing.assert_allclose(rb.values, xb - bb.mean(0), atol=1e-12)
    np.testing.assert_allclose(ra.base_values, (ba.mean(0) * weights) @ w + bb.sum(1).mean() + 7.0, atol=1e-12)


# -------------------------------------------------------------- DataFrames
@pytest.fixture
def pd():
    return pytest.importorskip("pandas")


def test_dataframe_matches_numpy_and_names_come_from_columns(pd):
    rng = np.random.default_rng(6)
    cols = ["alcohol", "malic_acid", "ash", "hue"]
    xn, bn = rng.normal(size=(3, 4)), rng.normal(size=(8, 4))
    x, bg = pd.DataFrame(xn, columns=cols), pd.DataFrame(bn, columns=cols)
    model = Scaled()
    got = kernel_shap(model, x, bg, samples=14)
    ref = kernel_shap(model, xn, bn, samples=14)
    np.testing.assert_allclose(got.values, ref.values, atol=1e-12)
    assert got.feature_names == cols and isinstance(got.data, np.ndarray)
    np.testing.assert_array_equal(got.data, xn)
    # a callable gets DataFrames with the same columns (as shap's maskers do) and may use the names
    seen = []

    def f(a):
        seen.append((type(a), list(a.columns)))
        return 2 * a["alcohol"] - a["hue"] * a["ash"]

    res = exact_shap(f, x, bg)
    assert {s[0] for s in seen} == {pd.DataFrame} and all(s[1] == cols for s in seen)
    fn = lambda z: 2 * z[:, 0] - z[:, 3] * z[:, 2]
    for i in range(3):
        np.testing.assert_allclose(res.values[i], brute_force(flat_game(fn, xn[i], bn), 4), atol=1e-12)
    # background columns in another order are aligned to x's; explicit names win over columns
    shuffled = exact_shap(f, x, bg[cols[::-1]], feature_names=["a", "b", "c", "d"])
    np.testing.assert_allclose(shuffled.values, res.values, atol=1e-12)
    assert shuffled.feature_names == ["a", "b", "c", "d"]
    # a numpy background with a DataFrame x is fine too
    np.testing.assert_allclose(exact_shap(f, x, bn).values, res.values, atol=1e-12)


def test_int_and_bool_columns_are_features_not_token_ids(pd, state_check):
    rng = np.random.default_rng(7)
    x = pd.DataFrame({"rooms": [3, 1, 4], "garden": [True, False, True], "area": [70.5, 41.0, 99.9]})
    bg = pd.DataFrame({
        "rooms": rng.integers(1, 6, 10), "garden": rng.random(10) > 0.5, "area": rng.normal(70, 20, 10),
    })
    xn, bn = x.to_numpy(dtype=np.float64), bg.to_numpy(dtype=np.float64)
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)).double()  # no embedding
    with state_check(model):
        got = exact_shap(model, x, bg)
    ref = exact_shap(model, xn, bn)
    np.testing.assert_allclose(got.values, ref.values, atol=1e-12)
    fn = lambda z: model(torch.tensor(z)).detach().numpy()[:, 0]
    for i in range(3):
        np.testing.assert_allclose(got.values[i], brute_force(flat_game(fn, xn[i], bn), 3), atol=1e-12)
    # a mixed int/float/bool frame reaches a callable as float64
    dtypes = []
    g = lambda a: dtypes.append(a.to_numpy().dtype) or fn(a.to_numpy())
    np.testing.assert_allclose(
        permutation_shap(g, x, bg, permutations=3).values, permutation_shap(fn, xn, bn, permutations=3).values,
        atol=1e-12)
    assert set(dtypes) == {np.dtype(np.float64)}
    # integer numpy input into a module whose first layer is Linear: values, converted to its float dtype
    ints, bg_ints = rng.integers(0, 4, size=(2, 3)), rng.integers(0, 4, size=(6, 3))
    a = exact_shap(model, ints, bg_ints)
    b = exact_shap(model, ints.astype(np.float64), bg_ints.astype(np.float64))
    np.testing.assert_allclose(a.values, b.values, atol=1e-12)


def test_bool_features_with_a_callable_stay_bool():
    rng = np.random.default_rng(8)
    x, bg = rng.random((3, 4)) > 0.5, rng.random((6, 4)) > 0.5
    seen = []

    def f(a):
        seen.append(a.dtype)
        return (a[:, 0] & a[:, 1]).astype(float) + 2.0 * a[:, 2] - a[:, 3]

    res = exact_shap(f, x, bg)
    assert set(seen) == {np.dtype(bool)}
    for i in range(3):
        np.testing.assert_allclose(res.values[i], brute_force(flat_game(f, x[i], bg), 4), atol=1e-12)
    ref = exact_shap(lambda z: (z[:, 0] * z[:, 1]) + 2.0 * z[:, 2] - z[:, 3], x.astype(float), bg.astype(float))
    np.testing.assert_allclose(res.values, ref.values, atol=1e-12)


# ------------------------------------------------------------ output names
def test_output_names_and_class_name_targets():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(3, 3)).double()
    rng = np.random.default_rng(9)
    x, bg = rng.normal(size=(2, 3)), rng.normal(size=(4, 3))
    names = ["class_0", "tiger cat", "lynx"]
    a = exact_shap(net, x, bg, target="tiger cat", output_names=names)
    b = exact_shap(net, x, bg, target=1)
    np.testing.assert_allclose(a.values, b.values, atol=1e-14)
    assert a.output_names == names and a.target.tolist() == [1, 1] and b.output_names is None
    per_row = kernel_shap(net, x, bg, target=["lynx", "class_0"], output_names=names)
    assert per_row.target.tolist() == [2, 0]
    net.output_names = names  # set by the demo models: picked up automatically
    c = permutation_shap(net, x, bg, target="lynx")
    assert c.output_names == names and c.target.tolist() == [2, 2]
    del net.output_names


# ----------------------------------------------------------------- errors
def bad_cases(pd):
    rng = np.random.default_rng(10)
    cols = ["a", "b", "c"]
    xf = pd.DataFrame(rng.normal(size=(2, 3)), columns=cols)
    return [
        # tuple parts disagreeing in batch size
        (dict(x=(np.ones((2, 3)), np.ones((3, 2))), background=(np.zeros((4, 3)), np.zeros((4, 2)))),
         ValueError, r"batch size.*\(2, 3\).*\(3, 2\)"),
        # background tuple of the wrong length, or not a tuple
        (dict(x=(np.ones((2, 3)), np.ones((2, 2))), background=(np.zeros((4, 3)),)), ValueError, "tuple of 2"),
        (dict(x=(np.ones((2, 3)), np.ones((2, 2))), background=np.zeros((4, 3))), ValueError, "tuple of 2"),
        (dict(x=np.ones((2, 3)), background=(np.zeros((4, 3)), np.zeros((4, 3)))), ValueError, "single array"),
        (dict(x=(np.ones((2, 3)), [1, 2])), TypeError, r"x\[1\]"),
        (dict(x=()), ValueError, "empty"),
        # background blocks disagreeing in rows
        (dict(x=(np.ones((2, 3)), np.ones((2, 2))), background=(np.zeros((4, 3)), np.zeros((5, 2)))),
         ValueError, "number of rows"),
        # a DataFrame with non-numeric columns: named
        (dict(x=xf.assign(city=["Oslo", "Lima"], when=pd.to_datetime(["2020-01-01", "2021-01-01"])),
              background=np.zeros((4, 5))), TypeError, r"non-numeric columns: 'city'.*'when'"),
        # background columns not matching x's
        (dict(x=xf, background=pd.DataFrame(np.zeros((4, 3)), columns=["a", "b", "z"])),
         ValueError, r"missing \['c'\], unexpected \['z'\]"),
        # feature names: one list per block for tuples, right lengths
        (dict(x=(np.ones((2, 3)), np.ones((2, 2))), background=(np.zeros((4, 3)), np.zeros((4, 2))),
              feature_names=["a", "b", "c", "d", "e"]), ValueError, "one list of names"),
        (dict(x=(np.ones((2, 3)), np.ones((2, 2))), background=(np.zeros((4, 3)), np.zeros((4, 2))),
              feature_names=[None, ["a"]]), ValueError, r"feature_names\[1\] has 1 names"),
        # groups: a tuple of label maps per block
        (dict(x=(np.ones((2, 3)), np.ones((2, 2))), background=(np.zeros((4, 3)), np.zeros((4, 2))),
              groups=(np.zeros(3, dtype=int),)), ValueError, "one label map per block"),
        (dict(forward_kwargs=[1]), TypeError, "forward_kwargs"),
        (dict(output_names="abc"), TypeError, "output_names"),
    ]


def test_bad_inputs_raise_before_any_model_call(pd):
    for change, exc, match in bad_cases(pd):
        counter = Counter(lambda *a, **kw: np.asarray(a[0]).sum(1))
        args = dict(x=np.ones((2, 3)), background=np.zeros((4, 3)))
        args.update(change)
        with pytest.raises(exc, match=match):
            exact_shap(counter, args.pop("x"), args.pop("background"), **args)
        assert counter.rows == [], change


@pytest.mark.parametrize("kernel", [exact_shap, kernel_shap, permutation_shap])
def test_unknown_class_name_and_wrong_output_names_after_one_row(kernel):
    counter = Counter(lambda a: np.stack([a.sum(1), -a.sum(1), a[:, 0]], 1))
    names = ["cat", "dog", "tiger cat"]
    with pytest.raises(ValueError, match=r"'tigre cat' is not one of the 3 class names.*tiger cat"):
        kernel(counter, np.ones((2, 3)), np.zeros((4, 3)), target="tigre cat", output_names=names)
    assert counter.rows == [1]
    with pytest.raises(ValueError, match="output_names has 2 names but the model has 3 outputs"):
        kernel(counter, np.ones((2, 3)), np.zeros((4, 3)), output_names=["a", "b"])
    with pytest.raises(ValueError, match="class names are not known"):
        kernel(counter, np.ones((2, 3)), np.zeros((4, 3)), target="cat")


def test_a_model_failing_on_its_first_call_gets_a_clear_error():
    cnn = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    img = torch.randn(3, 8, 8)  # one image without its batch axis
    with pytest.raises(ValueError, match=r"shape \(1, 8, 8\).*batch axis") as info:
        kernel_shap(cnn, img, torch.zeros(1, 8, 8), samples=8)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_works_inside_inference_mode():
    model = Scaled()
    with torch.inference_mode():
        x, bg = torch.randn(2, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
        mask = torch.ones(2, 4, dtype=torch.float64)
        res = exact_shap(model, x, bg, forward_kwargs={"mask": mask})
    ref = exact_shap(model, x.clone(), bg.clone())
    np.testing.assert_allclose(res.values, ref.values, atol=1e-12)
