"""Kernels run at the same time on the same model from several threads (issue 9).

An explorer's background thread explains a model while the user's cells run
other kernels (or plain forwards) on it. Every run must give the values of
the same run done alone, and the model must end exactly as found: modes,
``requires_grad``, buffers, no hooks left, global switches restored.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

from xai_widgets.explain import (
    deep_shap,
    grad_cam,
    integrated_gradients,
    kernel_shap,
    occlusion,
    permutation_shap,
    saliency,
)
from xai_widgets.explain import _core
from xai_widgets.explain._core import model_as_found, this_thread_only

THREADS = 4
REPEATS = 2


class Net(nn.Module):
    """Small CNN (BatchNorm, so train mode would change buffers) + MLP head (Dropout, so train mode is random)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
            nn.Conv2d(4, 2, 3, padding=1), nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.head = nn.Sequential(nn.Linear(8, 12), nn.ReLU(), nn.Dropout(0.5), nn.Linear(12, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(0.0005)  # hand the GIL to the other threads mid-pass, so that the runs interleave
        return self.head(self.pool(self.features(x)).flatten(1))


def make_net() -> Net:
    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():  # BatchNorm statistics that are not the identity
        net.features[1].running_mean.uniform_(-0.2, 0.2)
        net.features[1].running_var.uniform_(0.5, 1.5)
    net.train()
    net.pool.eval()  # mixed modes: each module's flag must come back as it was
    net.features[0].requires_grad_(False)  # mixed requires_grad: frozen conv, the rest trainable
    net.head[3].bias.requires_grad_(False)
    return net


X = torch.randn(2, 1, 6, 6, generator=torch.Generator().manual_seed(1))
TAB = torch.randn(2, 8, generator=torch.Generator().manual_seed(2))
BG = torch.randn(6, 8, generator=torch.Generator().manual_seed(3))


def _v(a) -> np.ndarray:
    return np.asarray(a.values, dtype=np.float64)


KERNELS = {
    "saliency": lambda m: _v(saliency(m, X, target=0)),
    "saliency_layer": lambda m: _v(saliency(m, X, target=1, layer="features.2", abs=False)),
    "integrated_gradients": lambda m: _v(integrated_gradients(m, X, target=0, steps=8)),
    "ig_layer": lambda m: _v(integrated_gradients(m, X, target=2, steps=6, layer="features.1")),
    "grad_cam": lambda m: _v(grad_cam(m, X, target=0, layer="features.3")),
    "occlusion": lambda m: _v(occlusion(m, X, target=0, window=(1, 3, 3), stride=(1, 2, 2))),
    "kernel_shap": lambda m: _v(kernel_shap(m.head, TAB, BG, samples=64, target=0, seed=0)),
    "permutation_shap": lambda m: _v(permutation_shap(m.head, TAB, BG, permutations=2, target=1, seed=0)),
    "deep_shap": lambda m: _v(deep_shap(m.head, TAB, BG, target=0)),
}


def _run_threads(jobs: list) -> list:
    """Start one thread per list of zero-argument callables (all at once); [(results, errors)] per thread."""
    barrier = threading.Barrier(len(jobs))
    out: list = [None] * len(jobs)

    def work(i: int) -> None:
        results, errors = [], []
        barrier.wait()
        for fn in jobs[i]:
            try:
                results.append(fn())
            except Exception as e:  # noqa: BLE001 - collected and checked by the test
                errors.append(e)
        out[i] = (results, errors)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "a kernel thread hung"
    return out


def _no_hooks(model: nn.Module) -> None:
    for name, m in model.named_modules():
        for kind in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            assert not getattr(m, kind, {}), f"{kind} left on {name or 'model'}"


def _not_held() -> None:
    assert not _core._HELD_MODES and not _core._HELD_GRADS, "model_as_found registry not empty"


@pytest.fixture(scope="module")
def serial():
    """Every kernel run alone, on a fresh model: the reference values."""
    net = make_net()
    return {name: fn(net) for name, fn in KERNELS.items()}


def test_mixed_kernels_in_four_threads_match_serial_and_leave_model_as_found(serial, state_check):
    net = make_net()
    names = list(KERNELS)
    # thread i starts at kernel 2i, so different kernels overlap at every moment
    plans = [[names[(2 * i + j) % len(names)] for j in range(len(names))] * REPEATS for i in range(THREADS)]
    jobs = [[(lambda k=k: (k, KERNELS[k](net))) for k in plan] for plan in plans]
    with state_check(net):
        out = _run_threads(jobs)
    for results, errors in out:
        assert not errors, errors
        for name, values in results:
            np.testing.assert_allclose(values, serial[name], rtol=0, atol=1e-6, err_msg=name)
    assert sum(len(r) for r, _ in out) == THREADS * REPEATS * len(names)
    _no_hooks(net)
    _not_held()


def test_kernel_raising_in_one_thread_leaves_model_as_found(serial, state_check):
    net = make_net()

    def boom(out):
        time.sleep(0.002)  # fail while the other threads are inside their runs
        raise RuntimeError("boom from output=")

    failing = [
        lambda: saliency(net, X, target=0, output=boom),
        lambda: grad_cam(net, X, target=0, layer="features.3", output=boom),
        lambda: integrated_gradients(net, X, target=0, steps=8, layer="features.1", output=boom),
        lambda: occlusion(net, X, target=0, window=(1, 3, 3), stride=(1, 2, 2), output=boom),
    ]
    good = ["saliency", "grad_cam", "ig_layer", "occlusion", "integrated_gradients", "kernel_shap"]
    jobs = [failing * 2] + [[(lambda k=k: (k, KERNELS[k](net))) for k in good[i:] + good[:i]] for i in range(3)]
    with state_check(net):
        out = _run_threads(jobs)
    results, errors = out[0]
    assert not results and len(errors) == len(failing) * 2
    for e in errors:  # the user's error, possibly chained under a ValueError naming the inputs
        chain, cur = [], e
        while cur is not None:
            chain.append(str(cur))
            cur = cur.__cause__
        assert any("boom from output=" in s for s in chain), errors
    for results, errors in out[1:]:
        assert not errors, errors
        for name, values in results:
            np.testing.assert_allclose(values, serial[name], rtol=0, atol=1e-6, err_msg=name)
    _no_hooks(net)
    _not_held()


def test_model_as_found_is_reference_counted_across_threads(state_check):
    """A enters, B enters, A leaves (model must stay prepared for B), B leaves (restored)."""
    net = make_net()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def a():
        with model_as_found(net):
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def b():
        a_in.wait(10)
        with model_as_found(net.head):  # an overlapping model: a submodule of the one A holds
            b_in.set()
            a_out.wait(10)
            seen["training"] = [m.training for m in net.head.modules()]
            seen["requires_grad"] = [p.requires_grad for p in net.head.parameters()]
            raise KeyError("B fails after A left")

    errors = []

    def guarded(fn):
        try:
            fn()
        except KeyError as e:
            errors.append(e)

    with state_check(net):
        ts = [threading.Thread(target=guarded, args=(f,)) for f in (a, b)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(10)
    assert len(errors) == 1
    assert seen["training"] == [False] * 5, "the model went back to train mode while a run was inside"
    assert seen["requires_grad"] == [False] * 4, "parameters were unfrozen while a run was inside"
    _not_held()


def test_this_thread_only_hook_ignores_other_threads():
    lin = nn.Linear(2, 2)
    calls = []
    h = lin.register_forward_hook(this_thread_only(lambda m, i, o: calls.append(threading.get_ident()) or o * 0))
    try:
        other = []
        t = threading.Thread(target=lambda: other.append(lin(torch.ones(1, 2))))
        t.start()
        t.join()
        mine = lin(torch.ones(1, 2))
    finally:
        h.remove()
    assert calls == [threading.get_ident()]
    assert torch.equal(mine, torch.zeros(1, 2))  # the hook acted here...
    assert not torch.equal(other[0], torch.zeros(1, 2))  # ...and left the other thread's call alone


def test_capture_attention_mha_threads_with_plain_forwards(state_check):
    from xai_widgets.explain.attention import capture_attention

    torch.manual_seed(0)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, 32, batch_first=True), 2,
                                enable_nested_tensor=False).eval()
    x = torch.randn(2, 5, 16)
    ref = capture_attention(enc, x).weights
    with torch.no_grad():
        plain_ref = enc(x)
    fast = torch.backends.mha.get_fastpath_enabled()

    def plain():
        with torch.no_grad():
            return enc(x)

    jobs = [[lambda: capture_attention(enc, x).weights] * 4] * 2 + [[plain] * 8] * 2
    with state_check(enc):
        out = _run_threads(jobs)
    for results, errors in out:
        assert not errors, errors
    for results, _ in out[:2]:
        for w in results:
            np.testing.assert_allclose(w, ref, rtol=0, atol=1e-6)
    for results, _ in out[2:]:
        for y in results:  # fast or slow path: equal to float rounding
            torch.testing.assert_close(y, plain_ref, rtol=0, atol=1e-5)
    assert torch.backends.mha.get_fastpath_enabled() == fast
    _no_hooks(enc)


def test_hugging_face_capture_and_grad_attention_threads(state_check):
    transformers = pytest.importorskip("transformers")
    from transformers.modeling_utils import AttentionInterface

    from xai_widgets.explain.attention import capture_attention, grad_attention

    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=24, max_position_embeddings=16, num_labels=3)
    cfg._attn_implementation = "sdpa"
    model = transformers.BertForSequenceClassification(cfg)
    model.train()  # found in train mode: dropout would make every value random
    ids = torch.randint(0, 50, (1, 7), generator=torch.Generator().manual_seed(4))
    patch = {k: AttentionInterface.__dict__.get(k) for k in ("get_interface", "__getitem__")}
    ref_cap = capture_attention(model, ids).weights
    ref_grad = grad_attention(model, ids, target=1).weights
    model.eval()
    with torch.no_grad():
        ref_plain = model(ids).logits
    model.train()

    def plain():
        # a forward in another thread while captures run: never recorded, outputs unchanged.
        # model_as_found keeps it in eval mode meanwhile, and it runs eval by itself after
        with model_as_found(model), torch.no_grad():
            return model(ids).logits

    jobs = [
        [lambda: capture_attention(model, ids).weights] * 3,
        [lambda: grad_attention(model, ids, target=1).weights] * 3,
        [lambda: capture_attention(model, ids).weights] * 3,
        [plain] * 6,
    ]
    with state_check(model):
        out = _run_threads(jobs)
    for results, errors in out:
        assert not errors, errors
    for i, ref in ((0, ref_cap), (1, ref_grad), (2, ref_cap)):
        for w in out[i][0]:
            np.testing.assert_allclose(w, ref, rtol=0, atol=1e-6)
    for y in out[3][0]:
        torch.testing.assert_close(y, ref_plain, rtol=0, atol=1e-6)
    assert {k: AttentionInterface.__dict__.get(k) for k in patch} == patch
    _no_hooks(model)
    _not_held()
