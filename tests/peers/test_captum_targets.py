"""Captum's target tests (``tests/attr/test_targets.py``), ported across our kernels.

Captum's ``TargetsMeta`` takes every config whose target is a list or a
tensor, attributes the whole batch with one target per row, and checks each
row against the same method run on that row alone, with the row's target as
an int and as a one-element list. The ports do that for every deterministic
kernel (``gradient_shap`` draws its baselines per batch position, so a row
alone sees other draws; it is left out), and add what the issue asks of
targets: 0-d and one-element tensors and numpy scalars broadcast to every
row, and class names with ``output_names``.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import xai_widgets as xw
from peers_util import assert_close

bm = pytest.importorskip("captum.testing.helpers.basic_models")

KERNELS = {
    "saliency": lambda m, x, t, **kw: xw.saliency(m, x, t, **kw),
    "input_x_gradient": lambda m, x, t, **kw: xw.input_x_gradient(m, x, t, **kw),
    "integrated_gradients": lambda m, x, t, **kw: xw.integrated_gradients(m, x, t, steps=16, **kw),
    "smoothgrad": lambda m, x, t, **kw: xw.smoothgrad(m, x, t, samples=2, noise=0.0, **kw),
    "occlusion": lambda m, x, t, **kw: xw.occlusion(m, x, t, window=(1,), stride=1, **kw),
    "deep_shap": lambda m, x, t, **kw: xw.deep_shap(m, x, torch.zeros(1, 3), target=t, **kw),
    "exact_shap": lambda m, x, t, **kw: xw.exact_shap(m, x, torch.zeros(2, 3), target=t, **kw),
    "kernel_shap": lambda m, x, t, **kw: xw.kernel_shap(m, x, torch.zeros(2, 3), target=t, **kw),
    "permutation_shap": lambda m, x, t, **kw: xw.permutation_shap(m, x, torch.zeros(2, 3), target=t, **kw),
}


@pytest.mark.parametrize("as_tensor", [False, True], ids=["list", "tensor"])
@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_target_per_row_equals_each_row_alone(kernel, as_tensor):
    model = bm.BasicModel_MultiLayer()
    x = torch.randn(4, 3) * 4 + 2
    targets = [0, 1, 1, 0]
    run = KERNELS[kernel]
    batch = run(model, x, torch.tensor(targets) if as_tensor else targets)
    assert batch.target.tolist() == targets
    for i in range(4):
        alone = run(model, x[i:i + 1], targets[i])
        assert_close(batch.values[i:i + 1], alone.values, atol=1e-4)
        as_list = run(model, x[i:i + 1], targets[i:i + 1])
        assert_close(batch.values[i:i + 1], as_list.values, atol=1e-4)


@pytest.mark.parametrize("target", [torch.tensor(1), torch.tensor([1]), np.int64(1), np.array(1), np.array([1])],
                         ids=["0d_tensor", "one_element_tensor", "numpy_int", "numpy_0d", "numpy_one_element"])
@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_scalar_targets_broadcast_to_every_row(kernel, target):
    model = bm.BasicModel_MultiLayer()
    x = torch.randn(3, 3) * 4 + 2
    run = KERNELS[kernel]
    a = run(model, x, target)
    b = run(model, x, 1)
    assert a.target.tolist() == [1, 1, 1]
    assert_close(a.values, b.values, atol=0)


@pytest.mark.parametrize("kernel", sorted(KERNELS) + ["gradient_shap", "grad_cam"])
def test_output_names_and_class_name_target(kernel):
    names = ["negative", "positive"]
    if kernel == "grad_cam":
        model, x = bm.BasicModel_ConvNet_One_Conv(), torch.arange(16.0).view(1, 1, 4, 4)
        names = ["cat", "dog", "eel", "fox"]

        def run(t, **kw):
            return xw.grad_cam(model, x, t, layer=model.conv1, **kw)
    elif kernel == "gradient_shap":
        model, x = bm.BasicModel_MultiLayer(), torch.randn(2, 3)

        def run(t, **kw):
            return xw.gradient_shap(model, x, torch.zeros(1, 3), target=t, samples=8, **kw)
    else:
        model, x = bm.BasicModel_MultiLayer(), torch.randn(2, 3)

        def run(t, **kw):
            return KERNELS[kernel](model, x, t, **kw)

    by_name = run(names[1], output_names=names)
    by_index = run(1)
    assert by_name.output_names == names
    assert set(by_name.target.tolist()) == {1}
    assert_close(by_name.values, by_index.values, atol=0)
    with pytest.raises(ValueError, match=repr(names[1][:-1])):
        run(names[1][:-1], output_names=names)  # an unknown class name, a close match suggested
    with pytest.raises(ValueError, match="output_names|names"):
        run(0, output_names=names[:-1])  # one name short of the K outputs
