"""Captum's occlusion tests (``tests/attr/test_occlusion.py``), ported.

Captum's ``sliding_window_shapes`` / ``strides`` / ``baselines`` /
``perturbations_per_eval`` / ``additional_forward_args`` are our ``window`` /
``stride`` / ``baseline`` / ``batch_size`` / ``forward_kwargs``. Captum's
default stride is 1 on every axis; ours defaults to an image-sized stride, so
the ports pass ``stride=1`` where Captum relies on its default. Our
``batch_size`` counts occluded rows per forward pass, not windows per input
row; the values do not depend on it either way, which is what the loops over
Captum's ``perturbations_per_eval`` check. Captum signals a bad window or
stride with ``AssertionError``; ours is a ``ValueError`` naming what was
expected. Expected tables are Captum's, verbatim.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import xai_widgets as xw
from peers_util import assert_close, parts

captum_attr = pytest.importorskip("captum.attr")
bm = pytest.importorskip("captum.testing.helpers.basic_models")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:captum")  # the live reference's own advice


def _occ(model, inputs, expected, *, batch_sizes=(None,), target=0, **kw):
    """Captum's ``_occlusion_test_assert``: the same table for every batch size."""
    for bs in batch_sizes:
        res = xw.occlusion(model, inputs, target, batch_size=bs, **kw)
        got = parts(res)
        exp = expected if isinstance(expected, tuple) else (expected,)
        assert isinstance(res, tuple) == isinstance(inputs, tuple)
        assert len(got) == len(exp)
        for a, e, x in zip(got, exp, inputs if isinstance(inputs, tuple) else (inputs,)):
            assert a.values.shape == tuple(x.shape)
            assert_close(a.values, e, atol=1e-4, msg=f"batch_size={bs}")
    return res


def test_simple_input(state_check):
    net = bm.BasicModel_MultiLayer()
    inp = torch.tensor([[20.0, 50.0, 30.0]])
    with state_check(net):
        _occ(net, inp, [[80.0, 200.0, 120.0]], batch_sizes=(1, 2, 3), window=(1,), stride=1)


def test_simple_multi_input():
    net = bm.BasicModel3()
    inp1 = torch.tensor([[-10.0], [3.0]])
    inp2 = torch.tensor([[-5.0], [1.0]])
    _occ(net, (inp1, inp2), ([[0.0], [1.0]], [[0.0], [-1.0]]), window=((1,), (1,)), stride=1)


class _ToFloat(nn.Module):
    """Captum's ``wrapper_func`` as a module: BasicModel3 on integer inputs, float scores."""

    def __init__(self) -> None:
        super().__init__()
        self.net = bm.BasicModel3()

    def forward(self, *inp):
        return self.net(*inp).float()


@pytest.mark.xfail(reason="occlusion refuses integer inputs (Captum's Occlusion perturbs them as they are); its "
                   "TypeError also says 'gradients need floating-point input', which occlusion does not need",
                   strict=True, raises=TypeError)
def test_simple_multi_input_int_to_float():
    inp1 = torch.tensor([[-10], [3]])
    inp2 = torch.tensor([[-5], [1]])
    _occ(_ToFloat(), (inp1, inp2), ([[0.0], [1.0]], [[0.0], [-1.0]]), window=((1,), (1,)), stride=1)


def test_simple_input_larger_shape():
    net = bm.BasicModel_MultiLayer()
    inp = torch.tensor([[20.0, 50.0, 30.0]])
    _occ(net, inp, [[200.0, 220.0, 240.0]], batch_sizes=(1, 2, 3), window=(2,), stride=1,
         baseline=torch.tensor([10.0, 10.0, 10.0]))


def test_simple_input_shape_with_stride():
    net = bm.BasicModel_MultiLayer()
    inp = torch.tensor([[20.0, 50.0, 30.0]])
    _occ(net, inp, [[280.0, 280.0, 120.0]], batch_sizes=(1, 2, 3), window=(2,), stride=2)


def test_multi_sample_ablation():
    net = bm.BasicModel_MultiLayer()
    inp = torch.tensor([[2.0, 10.0, 3.0], [20.0, 50.0, 30.0]])
    _occ(net, inp, [[8.0, 35.0, 12.0], [80.0, 200.0, 120.0]], batch_sizes=(1, 2, 3), window=(1,), stride=1)


INP1 = [[23.0, 100.0, 0.0], [20.0, 50.0, 30.0]]
INP2 = [[20.0, 50.0, 30.0], [0.0, 100.0, 0.0]]
INP3 = [[0.0, 100.0, 10.0], [2.0, 10.0, 3.0]]


def test_multi_input_ablation_with_mask(state_check):
    net = bm.BasicModel_MultiLayer_MultiInput()  # forward(x1, x2, x3, scale)
    inp1, inp2, inp3 = (torch.tensor(v) for v in (INP1, INP2, INP3))
    expected = (
        [[492.0, 492.0, 492.0], [400.0, 400.0, 400.0]],
        [[80.0, 200.0, 120.0], [0.0, 400.0, 0.0]],
        [[400.0, 420.0, 440.0], [48.0, 50.0, 52.0]],
    )
    with state_check(net):
        _occ(net, (inp1, inp2, inp3), expected, window=((3,), (1,), (2,)), stride=1,
             forward_kwargs={"scale": 1})
        # x3 as an extra (batched) model input: it follows its rows through the occluded copies
        _occ(net, (inp1, inp2), expected[0:2], batch_sizes=(1, 2, 3), window=((3,), (1,)), stride=1,
             forward_kwargs={"x3": inp3, "scale": 1})


def test_multi_input_ablation_with_baselines():
    net = bm.BasicModel_MultiLayer_MultiInput()
    inp1, inp2, inp3 = (torch.tensor(v) for v in (INP1, INP2, INP3))
    expected = (
        [[444.0, 444.0, 444.0], [328.0, 328.0, 328.0]],
        [[68.0, 188.0, 108.0], [-12.0, 388.0, -12.0]],
        [[368.0, 368.0, 24.0], [0.0, 0.0, -12.0]],
    )
    # a per-row tensor, a scalar and a per-row column: one baseline per input
    baselines = (torch.tensor([[1.0, 4, 7], [3.0, 6, 9]]), 3.0, torch.tensor([[4.0], [6]]))
    _occ(net, (inp1, inp2, inp3), expected, window=((3,), (1,), (2,)), stride=((2,), (1,), (2,)),
         baseline=baselines, forward_kwargs={"scale": 1})
    live = captum_attr.Occlusion(net).attribute(
        (inp1, inp2, inp3), sliding_window_shapes=((3,), (1,), (2,)), strides=(2, 1, 2),
        baselines=baselines, additional_forward_args=(1,), target=0)
    ours = xw.occlusion(net, (inp1, inp2, inp3), 0, window=((3,), (1,), (2,)), stride=((2,), (1,), (2,)),
                        baseline=baselines, forward_kwargs={"scale": 1})
    for a, c in zip(ours, live):
        assert_close(a.values, c, atol=1e-4)


def test_simple_multi_input_conv():
    net = bm.BasicModel_ConvNet_One_Conv()  # forward(x, x2=None): x + x2
    inp = torch.arange(16, dtype=torch.float).view(1, 1, 4, 4)
    inp2 = torch.ones((1, 1, 4, 4))
    _occ(net, (inp, inp2), (67 * torch.ones_like(inp), 13 * torch.ones_like(inp2)),
         batch_sizes=(1, 2, 4, 8, 12, 16), window=((1, 4, 4), (1, 4, 4)), stride=1)
    _occ(net, (inp, inp2),
         ([[[[17.0, 17.0, 17.0, 17.0], [17.0, 17.0, 17.0, 17.0], [64.0, 65.5, 65.5, 67.0], [64.0, 65.5, 65.5, 67.0]]]],
          [[[[3.0, 3.0, 3.0, 3.0], [3.0, 3.0, 3.0, 3.0], [3.0, 3.0, 3.0, 3.0], [0.0, 0.0, 0.0, 0.0]]]]),
         batch_sizes=(1, 3, 7, 14), window=((1, 2, 3), (1, 1, 2)), stride=((1, 2, 1), (1, 1, 2)))


def test_simple_multi_input_conv_diff_shapes():
    net = bm.BasicModel_ConvNet_One_Conv()
    inp = torch.arange(16, dtype=torch.float).view(1, 1, 4, 4)
    inp2 = torch.ones((1, 1, 4, 1))  # broadcast over the width inside the model
    _occ(net, (inp, inp2),
         ([[[[17.0, 17.0, 17.0, 17.0], [17.0, 17.0, 17.0, 17.0], [67.0, 67.0, 67.0, 67.0], [67.0, 67.0, 67.0, 67.0]]]],
          [[[[10.0], [10.0], [8.0], [6.0]]]]),
         batch_sizes=(1, 2, 4, 8, 12, 16), window=((1, 2, 4), (1, 2, 1)), stride=((1, 2, 1), (1, 1, 1)))


@pytest.mark.parametrize("target", [torch.tensor(0), torch.tensor([0]), np.int64(0)])
def test_scalar_tensor_targets(target):
    net = bm.BasicModel_MultiLayer()
    inp = torch.tensor([[2.0, 10.0, 3.0], [20.0, 50.0, 30.0]])
    _occ(net, inp, [[8.0, 35.0, 12.0], [80.0, 200.0, 120.0]], target=target, window=(1,), stride=1)


# ------------------------------------------------------------------ errors
def test_improper_window_shape():
    net = bm.BasicModel_ConvNet_One_Conv()
    inp = torch.arange(16, dtype=torch.float).view(1, 1, 4, 4)
    with pytest.raises(ValueError, match="window"):  # too few window dimensions
        xw.occlusion(net, inp, 0, window=(1, 2), stride=1)
    with pytest.raises(ValueError, match="window"):  # too many window dimensions for the second input
        xw.occlusion(net, (inp, inp), 0, window=((1, 1, 2), (1, 1, 1, 2)), stride=1)
    with pytest.raises(ValueError, match="window"):  # too many window tuples
        xw.occlusion(net, (inp, inp), 0, window=((1, 1, 2), (1, 1, 2), (1, 1, 2)), stride=1)


def test_improper_stride():
    net = bm.BasicModel_ConvNet_One_Conv()
    inp = torch.arange(16, dtype=torch.float).view(1, 1, 4, 4)
    with pytest.raises(ValueError, match="stride"):
        xw.occlusion(net, inp, 0, window=(1, 2, 2), stride=(1, 2))
    with pytest.raises(ValueError, match="stride"):
        xw.occlusion(net, (inp, inp), 0, window=((1, 1, 2), (1, 2, 2)), stride=((1, 1, 2), (2, 1, 2, 2)))
    with pytest.raises(ValueError, match="stride"):
        xw.occlusion(net, (inp, inp), 0, window=((1, 1, 2), (1, 2, 2)),
                     stride=((1, 1, 2), (1, 2, 2), (1, 2, 2)))


def test_too_large_stride():
    net = bm.BasicModel_ConvNet_One_Conv()
    inp = torch.arange(16, dtype=torch.float).view(1, 1, 4, 4)
    with pytest.raises(ValueError):  # stride 2 over a window of 1 leaves elements uncovered
        xw.occlusion(net, inp, 0, window=(1, 1, 2), stride=2)
    with pytest.raises(ValueError):  # a window larger than the axis (2 channels of 1)
        xw.occlusion(net, inp, 0, window=(2, 1, 2), stride=2)
