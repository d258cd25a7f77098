"""Shared fixtures: small closed-form models and the real offline models."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def model_state(model: torch.nn.Module) -> dict:
    """Everything a kernel must leave as found: modes, requires_grad, buffers, hooks."""
    return {
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "buffers": [b.clone() for b in model.buffers()],
        "hooks": [
            (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks),
             len(getattr(m, "_backward_pre_hooks", {})))
            for m in model.modules()
        ],
    }


def assert_state_equal(before: dict, after: dict) -> None:
    assert before["training"] == after["training"], "train/eval modes changed"
    assert before["requires_grad"] == after["requires_grad"], "requires_grad changed"
    assert before["hooks"] == after["hooks"], "hooks left behind"
    for a, b in zip(before["grads"], after["grads"]):
        assert (a is None) == (b is None), "parameter .grad changed"
        if a is not None:
            assert torch.equal(a, b)
    for a, b in zip(before["buffers"], after["buffers"]):
        assert torch.equal(a, b), "buffers (e.g. BatchNorm running stats) changed"


@pytest.fixture
def state_check():
    """Usage: ``with state_check(model): ...`` asserts the model is left as found."""
    import contextlib

    @contextlib.contextmanager
    def check(model):
        before = model_state(model)
        try:
            yield
        finally:
            assert_state_equal(before, model_state(model))

    return check


@pytest.fixture(scope="session")
def effnet():
    from xai_widgets import demo

    return demo.efficientnet_lite0()


@pytest.fixture(scope="session")
def chelsea_input():
    from xai_widgets import demo

    return demo.preprocess(demo.load_image("chelsea"))


@pytest.fixture(scope="session")
def minilm():
    from xai_widgets import demo

    return demo.minilm("eager")


@pytest.fixture
def linear_model():
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 3).double()
    return model


@pytest.fixture(scope="session")
def smollm2():
    """``(tokenizer, model)`` of the offline SmolLM2-135M-Instruct (sdpa, float32), loaded once (~25 s)."""
    from xai_widgets import demo

    return demo.smollm2()
