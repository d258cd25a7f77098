"""Shared plumbing every kernel relies on: targets, class names, model-call errors, tuples."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from xai_widgets.explain._core import (
    as_batch,
    as_batches,
    check_output_names,
    joint_delta,
    model_as_found,
    model_call_error,
    normal_tensor,
    resolve_output_names,
    resolve_target,
    to_scores,
)

SCORES = torch.tensor([[0.1, 0.9, 0.0], [0.7, 0.2, 0.1]])


@pytest.mark.parametrize("target", [torch.tensor(2), torch.tensor([2]), np.int64(2), np.array(2), np.array([2]), 2])
def test_scalar_like_targets_broadcast_to_every_row(target):
    assert resolve_target(target, SCORES).tolist() == [2, 2]


def test_per_row_and_top_targets():
    assert resolve_target(None, SCORES).tolist() == [1, 0]
    assert resolve_target(torch.tensor([0, 2]), SCORES).tolist() == [0, 2]
    assert resolve_target([2, 1], SCORES).tolist() == [2, 1]
    assert resolve_target("all", SCORES) == "all"


def test_bad_targets():
    with pytest.raises(ValueError, match="out of range"):
        resolve_target(torch.tensor(3), SCORES)
    with pytest.raises(ValueError, match="3 entries but the batch has 2"):
        resolve_target([0, 1, 2], SCORES)
    with pytest.raises(TypeError, match="integer"):
        resolve_target(torch.tensor(1.0), SCORES)
    with pytest.raises(TypeError, match="bool"):
        resolve_target(True, SCORES)


def test_class_name_targets():
    names = ["cat", "tiger cat", "dog"]
    assert resolve_target("tiger cat", SCORES, names).tolist() == [1, 1]
    assert resolve_target("DOG", SCORES, names).tolist() == [2, 2]  # case-insensitive fallback
    assert resolve_target(["dog", "cat"], SCORES, names).tolist() == [2, 0]
    with pytest.raises(ValueError, match="close matches: \\['tiger cat'\\]"):
        resolve_target("tiger", SCORES, names)
    with pytest.raises(ValueError, match="class names are not known.*output_names"):
        resolve_target("cat", SCORES)


def test_output_names_sources():
    class Cfg:
        id2label = {1: "pos", 0: "neg"}

    m = nn.Linear(2, 2)
    assert resolve_output_names(m) is None
    m.config = Cfg()
    assert resolve_output_names(m) == ["neg", "pos"]
    Cfg.id2label = {0: "LABEL_0", 1: "LABEL_1"}  # transformers' placeholder names carry no meaning
    assert resolve_output_names(m) is None
    m2 = nn.Linear(2, 2)
    m2.output_names = ["a", "b"]
    assert resolve_output_names(m2) == ["a", "b"]
    assert resolve_output_names(m2, ("x", "y")) == ["x", "y"]
    with pytest.raises(TypeError, match="list of class names"):
        resolve_output_names(m2, "xy")
    with pytest.raises(ValueError, match="unique"):
        resolve_output_names(m2, ["x", "x"])
    assert check_output_names(["a", "b"], 3, explicit=False) is None
    with pytest.raises(ValueError, match="2 names but the model has 3 outputs"):
        check_output_names(["a", "b"], 3, explicit=True)


def test_scalar_model_output_is_a_clear_error():
    with pytest.raises(ValueError, match="one number .* whole batch of 4 rows"):
        to_scores(torch.tensor(1.0), n=4)


def test_model_call_error_names_the_shape_and_hints_at_the_batch_axis():
    cnn = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())
    x = torch.rand(3, 16, 16)  # one image, no batch axis
    try:
        cnn(x[:1])
    except RuntimeError as e:
        err = model_call_error(e, x[:1], full=x)
    assert isinstance(err, ValueError)
    msg = str(err)
    assert "(3, 16, 16)" in msg and "inputs[None]" in msg and "RuntimeError" in msg


def test_as_batches_checks_batch_sizes_and_types():
    parts, was_tuple = as_batches((torch.zeros(2, 3), torch.zeros(2, 4, 4)))
    assert was_tuple and len(parts) == 2
    parts, was_tuple = as_batches(torch.zeros(2, 3))
    assert not was_tuple and len(parts) == 1
    with pytest.raises(ValueError, match=r"share the batch size.*\(2, 3\).*\(3, 4\)"):
        as_batches((torch.zeros(2, 3), torch.zeros(3, 4)))
    with pytest.raises(ValueError, match="empty tuple"):
        as_batches(())
    with pytest.raises(ValueError, match=r"inputs\[1\] contains NaN"):
        as_batches((torch.zeros(2, 3), torch.full((2, 3), float("nan"))))


def test_uint8_hwc_image_gets_the_conversion():
    img = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(TypeError, match=r"\(1, 32, 32, 3\).*uint8.*HWC.*permute\(0, 3, 1, 2\)\.float\(\) / 255"):
        as_batch(img)
    with pytest.raises(TypeError, match="token ids.*layer=") as e:
        as_batch(torch.zeros(2, 7, dtype=torch.long))
    assert "(2, 7)" in str(e.value)


def test_inference_tensors_become_normal():
    with torch.inference_mode():
        t = torch.ones(2, 2)
    assert t.is_inference()
    u = normal_tensor(t)
    assert not u.is_inference() and torch.equal(u, t)
    assert not as_batch(t).is_inference()


def test_model_as_found_leaves_inference_mode():
    lin = nn.Linear(2, 1)
    with torch.inference_mode():
        with model_as_found(lin):
            x = torch.ones(1, 2, requires_grad=True)
            (g,) = torch.autograd.grad(lin(x).sum(), x)
    assert torch.allclose(g, lin.weight.detach())


def test_joint_delta_sums_every_input():
    v1, v2 = torch.ones(2, 3), torch.full((2, 2, 2), 0.5)
    d = joint_delta([v1, v2], torch.tensor([10.0, 6.0]), torch.tensor([5.0, 1.0]))
    assert d.tolist() == [0.0, 0.0]  # 3 + 2 = 5 per row


def test_lazy_modules_that_never_ran_are_a_clear_error():
    model = nn.Sequential(nn.LazyLinear(2))
    with pytest.raises(ValueError, match="lazy modules.*call the model once"):
        with model_as_found(model):
            pass
    model(torch.ones(1, 3))  # initialised now: fine, and left as found
    with model_as_found(model):
        pass
    assert all(p.requires_grad for p in model.parameters())
