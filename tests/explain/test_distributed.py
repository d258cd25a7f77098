"""Explanations over a Dask cluster (``client=``): same chunks, same values, nothing lost or doubled.

Chunk boundaries come from the problem alone, so the in-process run and the
run on the workers evaluate the same model batches: their values agree to
1e-10. Sampling does not depend on the chunking, so other chunkings (other
``batch_size``/chunk sizes) agree to float32 rounding.
"""
from __future__ import annotations

import os
import pickle
import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import xai_widgets as xw
from xai_widgets.explain import distributed as dist

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

# workers in other processes must unpickle the test-defined models without importing this file
cloudpickle.register_pickle_by_value(sys.modules[__name__])

torch.manual_seed(0)
MLP = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
CNN = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 3))
X = torch.randn(23, 6)
BG = torch.randn(12, 6)
BASE = torch.randn(23, 6)
XI = torch.randn(9, 2, 5, 5)

KERNELS = {
    "kernel_shap": lambda **k: xw.kernel_shap(MLP, X, BG, samples=40, **k),
    "exact_shap": lambda **k: xw.exact_shap(MLP, X, BG, target="all", **k),
    "permutation_shap": lambda **k: xw.permutation_shap(MLP, X, BG, permutations=3, **k),
    "gradient_shap": lambda **k: xw.gradient_shap(MLP, X, BG, samples=7, **k),
    "deep_shap": lambda **k: xw.deep_shap(MLP, X, BG, **k),
    "saliency": lambda **k: xw.saliency(MLP, X, **k),
    "input_x_gradient": lambda **k: xw.input_x_gradient(MLP, X, target=1, **k),
    "integrated_gradients": lambda **k: xw.integrated_gradients(MLP, X, steps=8, baseline=BASE, **k),
    "smoothgrad": lambda **k: xw.smoothgrad(MLP, X, samples=5, **k),
    "grad_cam": lambda **k: xw.grad_cam(CNN, XI, **k),
    "occlusion": lambda **k: xw.occlusion(CNN, XI, window=(2, 2, 2), stride=(2, 1, 1), **k),
}


@pytest.fixture(scope="module")
def client():
    with distributed.Client(distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0",
    )) as c:
        yield c


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of a few rows, so that these small problems split (the rule is the same at any size)."""
    monkeypatch.setattr(dist, "CHUNK_ELEMENTS", 50)


def _state(model: nn.Module) -> tuple:
    return (model.training, [p.requires_grad for p in model.parameters()],
            {k: v.clone() for k, v in model.state_dict().items()},
            sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules()))


def _same_state(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] and a[1] == b[1] and a[3] == b[3] and all(torch.equal(a[2][k], b[2][k]) for k in a[2])


def _close(a, b, *, atol):
    for f in ("values", "outputs", "base_values", "delta", "target"):
        u, v = getattr(a, f), getattr(b, f)
        assert (u is None) == (v is None), f
        if u is not None:
            assert u.shape == v.shape, f
            np.testing.assert_allclose(u, v, rtol=0, atol=atol, err_msg=f)


# ------------------------------------------------------------------ planning
def test_plan_depends_on_problem_only():
    assert dist.plan_chunks(10, per_row=2**25) == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]
    assert dist.plan_chunks(7, per_row=1) == [(0, 7)]
    # batch_size: a chunk holds at least one full pass
    assert dist.plan_chunks(10, per_row=2**25, batch_size=5 * 2**25) == [(0, 5), (5, 10)]
    # near-equal chunks, no tiny tail; every row once, in order
    ch = dist.plan_chunks(1001, per_row=2**16, row_elements=16)
    assert ch[0][0] == 0 and ch[-1][1] == 1001 and all(a[1] == b[0] for a, b in zip(ch, ch[1:]))
    sizes = [b - a for a, b in ch]
    assert max(sizes) - min(sizes) <= 1


def test_row_generators_are_per_row():
    g = [torch.rand(4, generator=dist.row_generator(3, r)) for r in range(3)]
    assert torch.equal(g[1], torch.rand(4, generator=dist.row_generator(3, 1)))
    assert not torch.equal(g[0], g[1]) and not torch.equal(g[1], torch.rand(4, generator=dist.row_generator(4, 1)))


# -------------------------------------------------------- same values, any path
@pytest.mark.parametrize("name", list(KERNELS))
def test_client_equals_in_process(name, client, small_chunks):
    before = _state(MLP), _state(CNN)
    local = KERNELS[name]()
    remote = KERNELS[name](client=client)
    assert local.params["chunks"] > 1 and remote.params["chunks"] == local.params["chunks"]
    _close(remote, local, atol=1e-10)
    assert _same_state(_state(MLP), before[0]) and _same_state(_state(CNN), before[1])


@pytest.mark.parametrize("name", list(KERNELS))
def test_chunking_and_batch_size_do_not_change_values(name, monkeypatch):
    whole = KERNELS[name]()  # one chunk
    assert "chunks" not in whole.params
    scale = max(1e-30, float(np.abs(whole.values).max()))
    for elements, batch in ((200, None), (1000, 3)):
        monkeypatch.setattr(dist, "CHUNK_ELEMENTS", elements)
        kw = {} if batch is None or name == "grad_cam" else {"batch_size": batch}
        other = KERNELS[name](**kw)
        # the same draws and coalitions: only float32 rounding of other model batches differs
        np.testing.assert_allclose(other.values, whole.values, rtol=1e-5, atol=1e-5 * scale)
        np.testing.assert_array_equal(other.target, whole.target)


def test_client_with_several_chunkings_and_batch_sizes(client, monkeypatch):
    for elements in (100, 700, 5000):
        monkeypatch.setattr(dist, "CHUNK_ELEMENTS", elements)
        for batch in (None, 5):
            local = xw.kernel_shap(MLP, X, BG, samples=40, batch_size=batch, target="all")
            remote = xw.kernel_shap(MLP, X, BG, samples=40, batch_size=batch, target="all", client=client)
            _close(remote, local, atol=1e-10)


def test_dataframe_tuple_inputs_and_row_arguments(client, small_chunks):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X.double().numpy(), columns=[f"f{i}" for i in range(6)])
    f = lambda d: MLP(torch.tensor(np.asarray(d), dtype=torch.float32)).detach().numpy()  # noqa: E731
    targets = np.arange(23) % 3
    a = xw.kernel_shap(f, frame, BG.double().numpy(), samples=30, target=targets, client=client)
    b = xw.kernel_shap(f, frame, BG.double().numpy(), samples=30, target=targets)
    _close(a, b, atol=1e-10)
    assert a.feature_names == list(frame.columns) and list(a.target) == list(targets)
    two = nn.Bilinear(3, 3, 2)
    xs, bgs = (X[:, :3], X[:, 3:]), (BG[:, :3], BG[:, 3:])
    ta = xw.permutation_shap(two, xs, bgs, permutations=2, client=client)
    tb = xw.permutation_shap(two, xs, bgs, permutations=2)
    assert isinstance(ta, tuple) and len(ta) == 2
    for u, v in zip(ta, tb):
        _close(u, v, atol=1e-10)


def test_large_background_summarised_once(client, small_chunks):
    big = torch.randn(150, 6)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        a = xw.kernel_shap(MLP, X, big, samples=20, client=client)
    summary = [x for x in w if "summar" in str(x.message).lower()]
    assert len(summary) == 1 and a.params["background_summarized"] and a.params["background_rows"] == 150


# ------------------------------------------------------------------ errors
class CountingMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(6, 3)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.net(x)


@pytest.mark.parametrize("bad", [object(), "tcp://127.0.0.1:8786", 3])
def test_not_a_client_is_a_type_error_before_any_call(bad):
    m = CountingMLP()
    for call in (lambda: xw.kernel_shap(m, X, BG, samples=8, client=bad),
                 lambda: xw.saliency(m, X, client=bad),
                 lambda: xw.deep_shap(m, X, BG, client=bad),
                 lambda: xw.occlusion(m, X, window=2, stride=2, client=bad)):
        with pytest.raises(TypeError, match="dask.distributed.Client"):
            call()
    assert m.calls == 0


def test_closed_client_is_a_value_error_before_any_call():
    c = distributed.Client(distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=":0"))
    c.cluster.close()
    c.close()
    m = CountingMLP()
    for call in (lambda: xw.exact_shap(m, X, BG, client=c), lambda: xw.integrated_gradients(m, X, client=c),
                 lambda: xw.gradient_shap(m, X, BG, client=c), lambda: xw.grad_cam(CNN, XI, client=c)):
        with pytest.raises(ValueError, match="not connected"):
            call()
    assert m.calls == 0


# ------------------------------------------------------------------ progress
def test_progress_counts_each_chunk_once(client, small_chunks, monkeypatch):
    steps: list[int] = []

    class Bar:
        def __init__(self, total):
            self.total = total

        def update(self, n=1):
            steps.append(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    seen = {}

    def fake_progress(*, total, desc, unit, disable):
        seen.update(total=total, desc=desc, unit=unit)
        return Bar(total)

    monkeypatch.setattr(dist, "progress", fake_progress)
    a = xw.kernel_shap(MLP, X, BG, samples=20, client=client)
    assert seen == {"total": a.params["chunks"], "desc": "kernel_shap", "unit": "chunk"}
    assert sum(steps) == a.params["chunks"] == 23
    steps.clear()
    a = xw.smoothgrad(MLP, X, samples=5)
    assert sum(steps) == a.params["chunks"]


# --------------------------------------------------- real processes, a worker dies
class DiesOnce(nn.Module):
    """Calls ``os._exit`` the first time a worker process (not the test process) runs a forward."""

    def __init__(self, flag: str, parent: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
        self.flag, self.parent = flag, parent

    def forward(self, x):
        if os.getpid() != self.parent and not os.path.exists(self.flag):
            with open(self.flag, "w") as fh:
                fh.write(str(os.getpid()))
            os._exit(1)
        return self.net(x)


def test_worker_killed_mid_run_gives_full_identical_result(tmp_path, monkeypatch):
    monkeypatch.setattr(dist, "CHUNK_ELEMENTS", 400)
    torch.manual_seed(1)
    model = DiesOnce(str(tmp_path / "died"), os.getpid())
    pickle.dumps(type(model))  # the class pickles by value (register_pickle_by_value above)
    local = xw.kernel_shap(model, X, BG, samples=30)
    assert not os.path.exists(model.flag)
    steps: list[int] = []
    real = dist.progress

    def counting(*a, **k):
        bar = real(*a, **k)
        update = bar.update

        def counted(n=1):
            steps.append(n)
            return update(n)

        bar.update = counted
        return bar

    monkeypatch.setattr(dist, "progress", counting)
    with distributed.Client(distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
    )) as c:
        remote = xw.kernel_shap(model, X, BG, samples=30, client=c)
    assert os.path.exists(model.flag)  # a worker did die
    assert sum(steps) == remote.params["chunks"] == local.params["chunks"]
    _close(remote, local, atol=1e-10)


def test_local_cluster_sizes_and_closes():
    with pytest.raises(ValueError, match="n_workers"):
        xw.local_cluster(0)
    c = xw.local_cluster(1, processes=False)
    try:
        info = c.scheduler_info()
        assert len(info["workers"]) == 1
        assert all(w["nthreads"] == 1 for w in info["workers"].values())
        a = xw.saliency(MLP, X, client=c)
        np.testing.assert_allclose(a.values, xw.saliency(MLP, X).values, rtol=0, atol=1e-10)
    finally:
        c.close()
        c.cluster.close()
