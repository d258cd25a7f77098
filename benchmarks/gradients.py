"""Speed and memory of the gradient-family kernels against Captum, in one run.

Run with ``make bench``. Every timing is the median of interleaved repeats
(ours, Captum, ours, Captum, ...) on the same model, input, target, steps and
samples, so machine load hits both sides alike. Prints each ratio
``ours / captum`` beside its target (≤ 1.1) and the completeness deltas.

Memory: peak RSS of ``integrated_gradients`` at 256 steps vs 16 steps with
the same ``batch_size``, each in a fresh subprocess (target ≤ 1.3).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

import torch

REPEATS = int(os.environ.get("XW_BENCH_REPEATS", "5"))
TARGET_RATIO = 1.1
TARGET_MEM = 1.3


def _setup():
    from xai_widgets import demo

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    model = demo.efficientnet_lite0()
    x = demo.preprocess(demo.load_image("chelsea"))
    with torch.no_grad():
        target = int(model(x).argmax(1))
    return model, x, target


def _median_interleaved(fns: dict, repeats: int) -> dict:
    times = {k: [] for k in fns}
    for fn in fns.values():  # warm-up (allocator, lazy init)
        fn()
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def speed() -> list[dict]:
    import captum.attr as ca
    from captum.attr import LayerAttribution

    import xai_widgets as xw

    model, x, target = _setup()
    rows = []

    steps, bs = 64, 16
    ig = ca.IntegratedGradients(model)
    holder = {}

    def ours_ig():
        holder["ours"] = xw.integrated_gradients(model, x, target, steps=steps, batch_size=bs)

    def captum_ig():
        holder["captum"] = ig.attribute(x, target=target, n_steps=steps, internal_batch_size=bs,
                                        method="gausslegendre", return_convergence_delta=True)

    t = _median_interleaved({"ours": ours_ig, "captum": captum_ig}, REPEATS)
    rows.append(dict(kernel=f"integrated_gradients steps={steps} batch_size={bs}", ours=t["ours"], captum=t["captum"],
                     delta_ours=float(abs(holder["ours"].delta).max()),
                     delta_captum=float(holder["captum"][1].abs().max())))

    gc = ca.LayerGradCam(model, model._conv_head)

    def captum_gc():
        m = gc.attribute(x, target=target, relu_attributions=True)
        return LayerAttribution.interpolate(m, x.shape[-2:], interpolate_mode="bilinear")

    t = _median_interleaved({"ours": lambda: xw.grad_cam(model, x, target), "captum": captum_gc}, REPEATS)
    rows.append(dict(kernel="grad_cam (_conv_head)", ours=t["ours"], captum=t["captum"]))

    samples = 16
    sigma = float(0.15 * (x.max() - x.min()))
    nt = ca.NoiseTunnel(ca.Saliency(model))
    t = _median_interleaved({
        "ours": lambda: xw.smoothgrad(model, x, target, samples=samples, noise=0.15, batch_size=bs),
        "captum": lambda: nt.attribute(x, target=target, nt_type="smoothgrad", nt_samples=samples,
                                       nt_samples_batch_size=bs, stdevs=sigma),
    }, REPEATS)
    rows.append(dict(kernel=f"smoothgrad samples={samples} batch_size={bs}", ours=t["ours"], captum=t["captum"]))

    occ = ca.Occlusion(model)
    win, stride, obs = (3, 32, 32), (3, 16, 16), 32
    t = _median_interleaved({
        "ours": lambda: xw.occlusion(model, x, target, window=win, stride=stride, batch_size=obs),
        "captum": lambda: occ.attribute(x, target=target, sliding_window_shapes=win, strides=stride,
                                        baselines=0.0, perturbations_per_eval=obs),
    }, REPEATS)
    rows.append(dict(kernel=f"occlusion window={win[1]} stride={stride[1]} batch={obs}", ours=t["ours"], captum=t["captum"]))
    return rows


def _peak_rss_child(steps: int, bs: int) -> None:
    import resource

    import xai_widgets as xw

    model, x, target = _setup()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    xw.integrated_gradients(model, x, target, steps=steps, batch_size=bs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"steps": steps, "peak_kb": peak, "before_kb": base}))


def memory(bs: int = 16) -> dict:
    out = {}
    for steps in (16, 256):
        res = subprocess.run([sys.executable, __file__, "--rss-child", str(steps), str(bs)],
                             capture_output=True, text=True, check=True)
        out[steps] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--rss-child":
        _peak_rss_child(int(sys.argv[2]), int(sys.argv[3]))
        return 0
    print(f"xai_widgets benchmark vs Captum — median of {REPEATS} interleaved runs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    ok = True
    print(f"{'kernel':48s} {'ours s':>8s} {'captum s':>9s} {'ratio':>6s}  target ≤ {TARGET_RATIO}")
    for r in speed():
        ratio = r["ours"] / r["captum"]
        ok &= ratio <= TARGET_RATIO
        print(f"{r['kernel']:48s} {r['ours']:8.3f} {r['captum']:9.3f} {ratio:6.2f}  {'ok' if ratio <= TARGET_RATIO else 'MISSED'}")
        if "delta_ours" in r:
            good = r["delta_ours"] <= r["delta_captum"] * 1.0001 + 1e-7
            ok &= good
            print(f"{'':4s}completeness |delta|: ours {r['delta_ours']:.3g}, captum {r['delta_captum']:.3g}  "
                  f"{'ok' if good else 'MISSED'}")
    mem = memory()
    a, b = mem[16]["peak_kb"], mem[256]["peak_kb"]
    ratio = b / a
    ok &= ratio <= TARGET_MEM
    print(f"\npeak RSS integrated_gradients batch_size=16: 16 steps {a / 1024:.0f} MiB, 256 steps {b / 1024:.0f} MiB, "
          f"ratio {ratio:.2f}  target ≤ {TARGET_MEM}  {'ok' if ratio <= TARGET_MEM else 'MISSED'}")
    print("\nall targets met" if ok else "\nsome targets missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
