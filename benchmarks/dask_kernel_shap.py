"""Kernel SHAP over a Dask LocalCluster vs in-process (issue 10, §4 first bullet).

20,000 rows × 30 features from ``sklearn.datasets.make_classification``, a
torch MLP 30→64→2 **trained briefly** (200 full-batch Adam steps, a few
seconds), background of 50 rows, ``kernel_shap`` at 512 coalitions:

* in-process with ``torch.set_num_threads(1)``;
* ``xw.local_cluster(2)``: 2 workers × 1 thread (processes) — target speed-up ≥ 1.6× on a 2-core CPU;
* ``xw.local_cluster(1)`` — Dask overhead at equal thread count, target ≤ 15%;
* values identical (max |difference|; target ≤ 1e-10);
* peak memory (RSS) per worker.
* for comparison, a plain ``LocalCluster(2)`` with Dask's default worker malloc settings.

Run: ``.venv/bin/python benchmarks/dask_kernel_shap.py [--rows 20000]``.
Cluster start-up (spawning workers, importing torch) is not timed: it is
paid once per session, not per call.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from torch import nn

import xai_widgets as xw


def peak_rss_mib() -> float:
    """Peak resident memory of this process (Linux ``VmHWM``), MiB."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def problem(rows: int) -> tuple[nn.Module, np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=rows + 1000, n_features=30, n_informative=12, random_state=0)
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(30, 64), nn.ReLU(), nn.Linear(64, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(200):  # brief full-batch training: a realistic, non-random decision function
        opt.zero_grad()
        nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    model.eval()
    acc = float((model(xt).argmax(1) == yt).float().mean())
    print(f"MLP 30-64-2 trained briefly: training accuracy {acc:.3f}")
    rng = np.random.default_rng(0)
    background = x[rng.choice(len(x), 50, replace=False)]
    return model, x[:rows], background


def timed(fn) -> tuple[object, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--samples", type=int, default=512)
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    torch.set_num_threads(1)
    model, x, bg = problem(args.rows)
    run = lambda **k: xw.kernel_shap(model, x, bg, samples=args.samples, **k)  # noqa: E731

    local, t_local = timed(run)
    print(f"in-process, 1 thread: {t_local:.1f} s ({local.params['chunks']} chunks of rows)")

    results = {}
    # xw.local_cluster (the gate) and, for comparison, a plain LocalCluster with Dask's default
    # worker malloc settings (MALLOC_TRIM_THRESHOLD_=64 KiB: every model pass page-faults)
    clusters = [(2, "xw.local_cluster"), (1, "xw.local_cluster"), (2, "plain LocalCluster")]
    for workers, kind in clusters:
        if kind == "plain LocalCluster":
            client = Client(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                         dashboard_address=":0"))
        else:
            client = xw.local_cluster(workers, threads_per_worker=1)
        with client, client.cluster:
            client.run(lambda: torch.set_num_threads(1))
            out, t = timed(lambda: run(client=client))
            peaks = client.run(peak_rss_mib)
            results[workers, kind] = (out, t, peaks)
            print(f"{kind}, {workers} worker(s) x 1 thread: {t:.1f} s, peak RSS per worker "
                  + ", ".join(f"{v:.0f} MiB" for v in peaks.values()))

    # in-process again: the machine's speed drifts (shared host), so the reference is the mean of a run
    # before and a run after the cluster runs
    _, t_local2 = timed(run)
    print(f"in-process again: {t_local2:.1f} s")
    t_local = (t_local + t_local2) / 2
    diff = max(float(np.abs(results[w][0].values - local.values).max()) for w in results)
    speedup = t_local / results[2, "xw.local_cluster"][1]
    overhead = results[1, "xw.local_cluster"][1] / t_local - 1
    plain = t_local / results[2, "plain LocalCluster"][1]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"\nrows {args.rows}, coalitions {args.samples}, background {len(bg)}, CPU cores {cores}")
    print(f"speed-up 2 workers vs in-process: {speedup:.2f}x  (target >= 1.6x)  {'OK' if speedup >= 1.6 else 'MISSED'}")
    print(f"  (plain LocalCluster, Dask's default worker malloc settings: {plain:.2f}x)")
    print(f"Dask overhead, 1 worker vs in-process: {overhead * 100:+.1f}%  (target <= 15%)  "
          f"{'OK' if overhead <= 0.15 else 'MISSED'}")
    print(f"max |values difference|: {diff:.2e}  (target <= 1e-10)  {'OK' if diff <= 1e-10 else 'MISSED'}")
    print(f"peak RSS per worker (2 workers): {max(results[2, 'xw.local_cluster'][2].values()):.0f} MiB; "
          f"in-process peak RSS: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
