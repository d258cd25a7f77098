"""save_html of a 2,000-row stacked ForcePlot: file size and time.

    .venv/bin/python benchmarks/save_html_force.py [--repeats N] [--rows N] [--features M]

The rows: SHAP values of a 30-feature tabular problem (clustered, as real
explanations are, so the similarity order has structure) with their feature
values, base values and class names. The widget state is what a live
notebook holds (values, base values, feature values as float32, the
similarity order computed once when the widget is built); ``save_html``
embeds it with the JS runtime.

Targets: the file is at most 25 MB and ``save_html`` takes at most 3 s
(median of the repeats, wall time: encoding, compression, writing). The
anchor measured in the same run is building the widget (its similarity
order included): the ratio says what exporting costs next to showing.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import xai_widgets as xw  # noqa: E402

MAX_MB = 25.0
MAX_S = 3.0


def rows(n: int, m: int) -> xw.Attribution:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(8, m))
    values = centers[rng.integers(0, 8, n)] + 0.15 * rng.normal(size=(n, m))
    data = rng.normal(size=(n, m)).round(3)
    return xw.Attribution.from_array(values, data, base_values=np.full(n, 0.3), target=np.ones(n, int),
                                     output_names=["benign", "malignant"],
                                     feature_names=[f"feature {j}" for j in range(m)], method="kernel_shap")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--features", type=int, default=30)
    args = ap.parse_args()
    a = rows(args.rows, args.features)

    build, save = [], []
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "force.html"
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            w = xw.ForcePlot(a)
            build.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            w.save_html(path)
            save.append(time.perf_counter() - t0)
            w.close()
        size = path.stat().st_size
        text = path.read_text(encoding="utf-8")
    raw = args.rows * args.features * 4 * 2 + args.rows * 4 * 3  # values + data + base/order/output order, float32
    t_build, t_save = statistics.median(build), statistics.median(save)
    mb = size / 2**20
    print(f"ForcePlot {args.rows} x {args.features} stacked, save_html (median of {args.repeats}):")
    print(f"  file {mb:.2f} MB (float32 payload {raw / 2**20:.2f} MB; target <= {MAX_MB:.0f} MB) "
          f"-> {mb / MAX_MB:.2f}x target")
    print(f"  save_html {t_save:.3f} s (target <= {MAX_S:.0f} s) -> {t_save / MAX_S:.2f}x target")
    print(f"  anchor: building the widget {t_build:.3f} s -> save_html / build = {t_save / t_build:.2f}x")
    assert "xaiWidgets" in text and "data-xw-spec=" in text
    ok = mb <= MAX_MB and t_save <= MAX_S
    print("  OK" if ok else "  MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
