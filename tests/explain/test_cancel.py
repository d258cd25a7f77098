"""The cancel scope: progress steps are cancellation points, per thread, and kernels unwind cleanly."""
from __future__ import annotations

import threading
import time

import pytest
import torch
from torch import nn

import xai_widgets as xw
from xai_widgets.explain._cancel import Cancelled, cancel_scope, check_cancelled, current_scope
from xai_widgets.explain._progress import progress
from xai_widgets.explain.shapley import grid_groups


def test_no_scope_no_checks_and_plain_bar():
    check_cancelled()  # nothing open: no-op
    assert current_scope() is None
    bar = progress(range(3), total=3, disable=True)
    assert type(bar).__name__ != "_ScopedBar"
    assert list(bar) == [0, 1, 2]


def test_iteration_stops_at_the_next_step_and_reports_progress():
    seen, reports = [], []
    with cancel_scope(on_progress=lambda d, n, t: reports.append((d, n, t)), quiet=True) as scope:
        with pytest.raises(Cancelled, match="cancelled"):
            for i in progress(range(10), total=10, desc="work"):
                seen.append(i)
                if i == 2:
                    scope.cancel()
    assert seen == [0, 1, 2]  # item 3 is never handed out
    assert reports == [("work", 1, 10), ("work", 2, 10), ("work", 3, 10)]
    assert current_scope() is None  # the scope is closed on exit


def test_update_checks_and_creation_checks():
    ev = threading.Event()
    with cancel_scope(ev):
        bar = progress(total=5)
        bar.update()
        ev.set()
        with pytest.raises(Cancelled):
            bar.update()
        bar.close()
        with pytest.raises(Cancelled):  # a new bar in a cancelled scope stops at once
            progress(total=5)


def test_scopes_nest_and_are_per_thread():
    outer = threading.Event()
    with cancel_scope(outer):
        with cancel_scope() as inner:
            assert current_scope() is inner
            outer.set()
            with pytest.raises(Cancelled):  # any open scope of the thread cancels
                check_cancelled()
        # another thread sees no scope of ours
        box = []
        t = threading.Thread(target=lambda: box.append((current_scope(), list(progress(range(2))))))
        t.start()
        t.join()
        assert box == [(None, [0, 1])]


def test_cancelled_is_an_exception_subclass():
    assert issubclass(Cancelled, Exception)
    assert str(Cancelled()) == "the computation was cancelled"


class _Slow(nn.Module):
    """A small CNN that sleeps on every forward pass (stands in for an expensive model)."""

    def __init__(self, delay: float = 0.05):
        super().__init__()
        self.delay = delay
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 5)

    def forward(self, x):
        time.sleep(self.delay)
        return self.head(self.bn(self.conv(x)).relu().mean((2, 3)))


def _state(model):
    return ([m.training for m in model.modules()], [p.requires_grad for p in model.parameters()],
            [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks)) for m in model.modules()],
            [b.clone() for b in model.buffers()])


@pytest.mark.parametrize("kernel", ["integrated_gradients", "occlusion", "kernel_shap"])
def test_kernel_cancelled_from_another_thread_stops_fast_and_leaves_model(kernel):
    torch.manual_seed(0)
    model = _Slow().train()  # train mode: must come back in train mode with BatchNorm buffers untouched
    model.conv.weight.requires_grad_(False)
    before = _state(model)
    x = torch.randn(1, 3, 16, 16)
    calls = {
        "integrated_gradients": lambda: xw.integrated_gradients(model, x, target=0, steps=200, batch_size=2),
        "occlusion": lambda: xw.occlusion(model, x, target=0, window=(3, 2, 2), stride=(3, 1, 1), batch_size=2),
        "kernel_shap": lambda: xw.kernel_shap(model, x, torch.zeros(1, 3, 16, 16), target=0, samples=400,
                                              groups=grid_groups((3, 16, 16), 2), batch_size=2),
    }
    ev = threading.Event()
    out: dict = {}

    def work():
        with cancel_scope(ev, quiet=True):
            try:
                calls[kernel]()
                out["result"] = "finished"
            except Cancelled as e:
                out["result"] = e
        out["t_end"] = time.perf_counter()

    t = threading.Thread(target=work)
    t.start()
    time.sleep(0.4)
    assert t.is_alive()
    t0 = time.perf_counter()
    ev.set()
    t.join(5)
    assert isinstance(out["result"], Cancelled)
    assert out["t_end"] - t0 < 1.0
    after = _state(model)
    assert before[:3] == after[:3]
    for a, b in zip(before[3], after[3]):
        assert torch.equal(a, b)
