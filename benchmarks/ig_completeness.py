"""Integrated gradients: completeness and time of our default against Captum, in one run.

EfficientNet-Lite0, 4 photos (chelsea, coffee, rocket, astronaut) x 3
baselines (zero, a Gaussian-blurred copy, a uniform grey image), each photo's
top class. Per case, interleaved: ``xw.integrated_gradients`` with the
explorer's setting (its method table: ``method="adaptive"``, 64 points) and Captum's
``IntegratedGradients`` with 64 Gauss–Legendre steps (both ``batch_size`` 16).

The residual is ``|sum(values) - (f(x) - f(b))| / |f(x) - f(b)|`` with
``f(x)`` and ``f(b)`` from fresh forward passes here (not the kernels'
own), and nothing is rescaled. Times are wall seconds measured in the same
run, ours and Captum's alternating, so machine load hits both alike; the
target is on their ratio.

Targets (exit status 1 when missed): residual <= 1% in every case; total
time ours / Captum <= 1.0; Pearson of our values with the reference >= 0.99.
The reference is 1,024-step Gauss–Legendre (``XW_BENCH_REFERENCE=k`` runs it
for the first k cases; it costs 16 Captum runs per case, so by default the
check uses Captum's 64-step map instead and says so).

Environment: ``XW_BENCH_CASES`` (how many of the 12 cases, default all),
``XW_BENCH_ONLY`` (named cases instead, e.g. ``rocket/blur,coffee/grey``),
``XW_BENCH_REFERENCE`` (default 0), ``XW_IG_STEPS`` and ``XW_IG_METHOD``
(default: the explorer's, ``registry.defaults("integrated_gradients")``).
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np
import torch

PHOTOS = ("chelsea", "coffee", "rocket", "astronaut")
BASELINES = ("zero", "blur", "grey")
CAPTUM_STEPS = 64
BATCH = 16
TARGET_RESIDUAL = 0.01
TARGET_RATIO = 1.0
TARGET_PEARSON = 0.99


def _baseline(kind: str, x: torch.Tensor) -> torch.Tensor:
    from scipy.ndimage import gaussian_filter

    from xai_widgets import demo

    if kind == "zero":
        return torch.zeros_like(x)
    if kind == "blur":  # sigma 8 px over the spatial axes only
        return torch.from_numpy(gaussian_filter(x.numpy(), sigma=(0, 0, 8, 8))).to(x.dtype)
    grey = np.full((x.shape[-2], x.shape[-1], 3), 128, dtype=np.uint8)
    return demo.preprocess(grey)


def _explorer_setting() -> tuple[int, str]:
    """The ``steps`` and ``method`` the explorer starts integrated gradients with (its method table)."""
    from xai_widgets.explain import registry

    d = registry.defaults("integrated_gradients")
    return int(d["steps"]), str(d["method"])


def main() -> int:
    import captum.attr as ca

    import xai_widgets as xw
    from xai_widgets import demo
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    steps0, method0 = _explorer_setting()
    steps = int(os.environ.get("XW_IG_STEPS", steps0))
    n_cases = int(os.environ.get("XW_BENCH_CASES", "12"))
    n_ref = int(os.environ.get("XW_BENCH_REFERENCE", "0"))
    method = os.environ.get("XW_IG_METHOD") or method0
    method_kw = {"method": method}
    model = demo.efficientnet_lite0().eval()
    ig = ca.IntegratedGradients(model)
    cases = [(p, b) for p in PHOTOS for b in BASELINES][:n_cases]
    if os.environ.get("XW_BENCH_ONLY"):  # e.g. "rocket/blur,astronaut/grey"
        cases = [tuple(c.split("/")) for c in os.environ["XW_BENCH_ONLY"].split(",")]
    print(f"ours: xw.integrated_gradients(method={method!r}, steps={steps}); "
          f"Captum: IntegratedGradients gausslegendre n_steps={CAPTUM_STEPS}; batch {BATCH}; "
          f"{torch.get_num_threads()} threads")
    print(f"{'case':18s} {'gap':>8s} {'ours res':>9s} {'captum res':>10s} {'ours s':>7s} {'captum s':>8s} "
          f"{'ratio':>6s} {'pearson':>8s}")
    rows = []
    images = {}
    for k, (photo, kind) in enumerate(cases):
        if photo not in images:
            images[photo] = demo.preprocess(demo.load_image(photo))
        x = images[photo]
        b = _baseline(kind, x)
        with torch.no_grad():
            fx_all = model(x)[0]
            t = int(fx_all.argmax())
            fx, fb = float(fx_all[t]), float(model(b)[0, t])
        gap = fx - fb
        runs = {}
        order = ("ours", "captum") if k % 2 == 0 else ("captum", "ours")  # alternate who runs first
        for who in order:
            t0 = time.perf_counter()
            if who == "ours":
                a = xw.integrated_gradients(model, x, t, baseline=b, steps=steps, batch_size=BATCH, **method_kw)
                v = np.asarray(a.values, dtype=np.float64)
            else:
                v = ig.attribute(x, baselines=b, target=t, n_steps=CAPTUM_STEPS, method="gausslegendre",
                                 internal_batch_size=BATCH).detach().double().numpy()
            runs[who] = (v, time.perf_counter() - t0)
        if k < n_ref:
            ref = ig.attribute(x, baselines=b, target=t, n_steps=1024, method="gausslegendre",
                               internal_batch_size=BATCH).detach().double().numpy()
            ref_name = "GL-1024"
        else:
            ref, ref_name = runs["captum"][0], "Captum GL-64"
        res = {w: abs(v.sum() - gap) / abs(gap) for w, (v, _) in runs.items()}
        r = float(np.corrcoef(runs["ours"][0].ravel(), ref.ravel())[0, 1])
        row = dict(case=f"{photo}/{kind}", gap=gap, res_ours=res["ours"], res_captum=res["captum"],
                   t_ours=runs["ours"][1], t_captum=runs["captum"][1], pearson=r, ref=ref_name)
        rows.append(row)
        print(f"{row['case']:18s} {gap:8.3f} {100 * res['ours']:8.2f}% {100 * res['captum']:9.2f}% "
              f"{row['t_ours']:7.1f} {row['t_captum']:8.1f} {row['t_ours'] / row['t_captum']:6.2f} "
              f"{r:8.4f} ({ref_name})", flush=True)
    t_ours = sum(r["t_ours"] for r in rows)
    t_cap = sum(r["t_captum"] for r in rows)
    hit = sum(r["res_ours"] <= TARGET_RESIDUAL for r in rows)
    hit_c = sum(r["res_captum"] <= TARGET_RESIDUAL for r in rows)
    worst = max(r["res_ours"] for r in rows)
    pmin = min(r["pearson"] for r in rows)
    ratio = t_ours / t_cap
    print(f"\nresidual <= 1%: ours {hit}/{len(rows)} (worst {100 * worst:.2f}%), Captum {hit_c}/{len(rows)}; "
          f"time ours/Captum {ratio:.2f} (target <= {TARGET_RATIO}); min Pearson {pmin:.4f} (target >= {TARGET_PEARSON})")
    ok = hit == len(rows) and ratio <= TARGET_RATIO and pmin >= TARGET_PEARSON
    print("PASS" if ok else "MISS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
