"""Why integrated gradients on EfficientNet-Lite0 do not reach 1% completeness at Captum's cost (issue 9, §3).

EfficientNet-Lite0 is piecewise linear (ReLU6, batch norm in eval mode), so
along the straight path the score ``f(alpha)`` is piecewise linear and the
integrand ``g(alpha) = df/dalpha`` a step function, with steps at every scale.
This script measures that on one case and shows what it does to quadrature:

1. ``f`` on a grid of ``GRID`` equal cells (forward passes only), and the
   spread of the cells' secant slopes in a few ranges of ``alpha``;
2. in one range, the real gradients at the midpoints of 64 sub-cells against
   the secant slopes of those sub-cells: they agree closely, so the steps are
   structure (resolvable by forward passes), not noise;
3. quadrature rules run on the grid's step function (``g`` = the secant slope of
   the grid cell holding ``alpha``, whose exact integral is ``f(1) - f(0)``):
   Gauss–Legendre at 64 / 128 / 1,024 points and the adaptive rule at 48–128
   points. Their residuals behave like draws, not like a converging series.

Run: ``.venv/bin/python benchmarks/ig_roughness.py [photo/baseline ...]``
(default ``coffee/grey rocket/blur``; ``XW_GRID``, default 2048 cells).
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ig_completeness import _baseline  # noqa: E402

GRID = int(os.environ.get("XW_GRID", "2048"))


def _scores(model, b, d, t, alphas, grad=False):
    """``f`` (and ``g = <grad f, d>`` with ``grad``) at ``alphas``, in chunks of 16, channels-last."""
    fs, gs = [], []
    for i in range(0, len(alphas), 16):
        a = torch.as_tensor(alphas[i : i + 16], dtype=torch.float32).view(-1, 1, 1, 1)
        z = (b + a * d).contiguous(memory_format=torch.channels_last)
        if grad:
            z.requires_grad_(True)
            y = model(z)[:, t]
            (gr,) = torch.autograd.grad(y.sum(), z)
            gs.append((gr * d).double().sum((1, 2, 3)).numpy())
            fs.append(y.detach().double().numpy())
        else:
            with torch.inference_mode():
                fs.append(model(z)[:, t].double().numpy())
    return np.concatenate(fs), (np.concatenate(gs) if grad else None)


def main() -> int:
    from xai_widgets import demo
    from xai_widgets.explain.quadrature import AdaptiveSimpson, quadrature

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    model = demo.efficientnet_lite0().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    cases = sys.argv[1:] or ["coffee/grey", "rocket/blur"]
    for case in cases:
        photo, kind = case.split("/")
        x = demo.preprocess(demo.load_image(photo))
        b = _baseline(kind, x)
        d = x - b
        with torch.inference_mode():
            t = int(model(x)[0].argmax())
        t0 = time.perf_counter()
        grid = np.linspace(0.0, 1.0, GRID + 1)
        f, _ = _scores(model, b, d, t, grid)
        gap = f[-1] - f[0]
        slope = np.diff(f) * GRID
        print(f"\n{case}: f(1) - f(0) = {gap:.3f}; f on {GRID} cells in {time.perf_counter() - t0:.0f} s")
        print("  secant slopes of the cells, by range of alpha (mean, sd, share of the gap):")
        for lo, hi in [(0, 0.02), (0.02, 0.1), (0.1, 0.3), (0.3, 0.6), (0.6, 1.0)]:
            s = slope[int(lo * GRID) : int(hi * GRID)]
            share = (f[int(hi * GRID)] - f[int(lo * GRID)]) / gap
            print(f"    [{lo:.2f}, {hi:.2f}]  mean {s.mean():9.2f}  sd {s.std():9.2f}  share {100 * share:5.1f}%")

        lo, hi = 0.3, 0.5  # real gradients at sub-cell midpoints vs the sub-cells' secants
        edges = np.linspace(lo, hi, 65)
        fe, _ = _scores(model, b, d, t, edges)
        _, gm = _scores(model, b, d, t, (edges[:-1] + edges[1:]) / 2, grad=True)
        sec = np.diff(fe) / np.diff(edges)
        print(f"  in [{lo}, {hi}]: gradients at 64 midpoints have sd {gm.std():.3f} around mean {gm.mean():.3f}; "
              f"they differ from their sub-cell secants by {np.abs(gm - sec).mean():.3f} on average "
              f"(structure, resolvable by forward passes, not noise)")

        def g_of(a):
            return slope[np.clip((np.asarray(a) * GRID).astype(int), 0, GRID - 1)]

        def f_of(a):
            return np.interp(a, grid, f)

        print("  rules on the grid's step function, residual |sum - gap| / |gap|:")
        for n in (64, 128, 1024):
            a, w = quadrature("gausslegendre", n)
            print(f"    Gauss-Legendre {n:5d} points: {100 * abs(w @ g_of(a) - gap) / abs(gap):6.2f}%")
        for n in (48, 64, 96, 128):
            rule = AdaptiveSimpson(n, f[0], f[-1])
            probe, at = rule.ask()
            while len(probe) or len(at):
                rule.tell(f_of(probe), f_of(at), g_of(at))
                probe, at = rule.ask()
            a, w = rule.weights()
            print(f"    adaptive {n:5d} points (+{rule.forward_points} forward probes): "
                  f"{100 * abs(w @ g_of(a) - gap) / abs(gap):6.2f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
