"""SummaryPlot at 10,000 rows x 30 features: state sent to the browser and first render in headless Chromium.

    .venv/bin/python benchmarks/summary_plot.py [--rows N] [--features M] [--repeats R] [--no-browser]

1. State: the widget state as the front end receives it (JSON without the
   bundle + binary buffers, split as ipywidgets does) for a beeswarm; the
   bundle's size is printed apart. Target <= 3 MB. Anchor: the same arrays as
   float32 (values + feature values), what a plain encoding would send.
2. First render: a standalone page (Debian /usr/bin/chromium, headless)
   renders the real bundle with a fake anywidget model holding that state
   (as benchmarks/attention_view.py does); the view stamps
   ``data-xw-render-ms`` = time from ``render()`` to the first finished drawing
   (decoding, swarm layout of every row, dots, labels). Median over fresh
   pages, for each kind. Target <= 500 ms. Also the time to the next
   animation frame after ``render()`` returns (what the user waits for).

Rows: SHAP-like values of a 30-feature problem (feature effects of different
sizes, an interaction, 2% missing feature values).
"""
from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import xai_widgets as xw  # noqa: E402

BUNDLE = ROOT / "xai_widgets" / "static" / "summary_plot.js"
MAX_MB = 3.0
MAX_MS = 500.0


def attribution(n: int, m: int) -> xw.Attribution:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, m))
    V = X * (rng.random(m) ** 2 * 2)
    V[:, 0] += X[:, 0] * X[:, 1]
    X[rng.random((n, m)) < 0.02] = np.nan
    return xw.Attribution.from_array(V, X, base_values=np.full(n, 0.2), feature_names=[f"feature {j}" for j in range(m)],
                                     method="kernel_shap")


def state_bytes(w) -> dict:
    from ipywidgets.widgets.widget import _remove_buffers

    state = w.get_state()
    state.pop("_esm", None)
    state.pop("_css", None)
    stripped, _paths, buffers = _remove_buffers(state)
    js = len(json.dumps(stripped, separators=(",", ":")).encode())
    buf = sum(len(b) for b in buffers)
    return {"json": js, "buffers": buf, "total": js + buf}


def state_of(w) -> dict:
    out = {}
    for k, v in w.get_state().items():
        if k in ("layout", "_esm", "_css") or k.startswith("_model") or k.startswith("_view") or k == "_dom_classes":
            continue
        if isinstance(v, (bytes, bytearray, memoryview)):
            v = {"__b64__": base64.b64encode(bytes(v)).decode()}
        out[k] = v
    return out


PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>body{margin:16px;background:#fff}</style></head><body>
<div id="w0" style="width:1000px"></div>
<script type="module">
const cfg = await (await fetch("cfg.json")).json();
function b64(s) { const b = atob(s); const u = new Uint8Array(b.length); for (let i = 0; i < b.length; i++) u[i] = b.charCodeAt(i); return new DataView(u.buffer); }
for (const [k, v] of Object.entries(cfg.state)) if (v && v.__b64__ !== undefined) cfg.state[k] = b64(v.__b64__);
class FakeModel {
  constructor(state) { this.state = state; this.handlers = {}; }
  get(k) { return this.state[k]; }
  set(k, v) { this.state[k] = v; (this.handlers["change:" + k] || []).slice().forEach((f) => f()); }
  on(e, f) { (this.handlers[e] ||= []).push(f); }
  off(e, f) { if (!e) { this.handlers = {}; return; } this.handlers[e] = (this.handlers[e] || []).filter((g) => f && g !== f); }
  save_changes() {}
}
const mod = await import("./summary_plot.js");
window.model = new FakeModel(cfg.state);
const t0 = performance.now();
mod.default.render({ model: window.model, el: document.getElementById("w0") });
const returned = performance.now() - t0;
requestAnimationFrame(() => { window.result = { returned, painted: performance.now() - t0,
  renderMs: Number(document.querySelector(".xw-summary-plot").dataset.xwRenderMs) }; });
</script></body></html>"""


def serve(directory: Path):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def render_times(w, kinds, repeats: int) -> dict:
    from playwright.sync_api import sync_playwright

    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        for kind in kinds:
            w.kind = kind
            tmp = Path(tempfile.mkdtemp(prefix="xw-summary-bench-"))
            (tmp / "cfg.json").write_text(json.dumps({"state": state_of(w)}))
            (tmp / "index.html").write_text(PAGE)
            (tmp / "summary_plot.js").write_bytes(BUNDLE.read_bytes())
            srv = serve(tmp)
            runs = []
            for _ in range(repeats):
                page = browser.new_page(viewport={"width": 1100, "height": 900})
                errors = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"http://127.0.0.1:{srv.server_address[1]}/index.html")
                page.wait_for_function("window.result !== undefined", timeout=60_000)
                r = page.evaluate("window.result")
                if errors:
                    raise RuntimeError(f"page errors: {errors}")
                runs.append(r)
                page.close()
            srv.shutdown()
            out[kind] = {k: statistics.median(r[k] for r in runs) for k in ("renderMs", "returned", "painted")}
        browser.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--features", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()
    n, m = args.rows, args.features
    a = attribution(n, m)
    t0 = time.perf_counter()
    w = xw.SummaryPlot(a)
    build = time.perf_counter() - t0
    size = state_bytes(w)
    mb = size["total"] / 2**20
    f32 = n * m * 4 * 2 / 2**20
    ok = mb <= MAX_MB
    print(f"SummaryPlot {n} x {m} (beeswarm):")
    print(f"  state {mb:.2f} MB (JSON {size['json'] / 1024:.1f} kB + buffers {size['buffers'] / 2**20:.2f} MB; "
          f"target <= {MAX_MB:.0f} MB) -> {mb / MAX_MB:.2f}x target; float32 values + feature values would be "
          f"{f32:.2f} MB ({mb / f32:.2f}x); bundle {BUNDLE.stat().st_size / 1024:.1f} kB, sent once per page")
    print(f"  building the widget {build * 1000:.0f} ms")
    t0 = time.perf_counter()
    w.kind = "scatter"
    print(f"  first switch to scatter (interaction partners of all {m} features) {1000 * (time.perf_counter() - t0):.0f} ms")
    w.kind = "beeswarm"
    if not args.no_browser:
        times = render_times(w, ("beeswarm", "bar", "scatter"), args.repeats)
        for kind, t in times.items():
            ok = ok and t["renderMs"] <= MAX_MS
            print(f"  first render ({kind}, median of {args.repeats} fresh pages): render() -> drawn {t['renderMs']:.1f} ms "
                  f"(target <= {MAX_MS:.0f} ms) -> {t['renderMs'] / MAX_MS:.2f}x target; to the next frame {t['painted']:.1f} ms")
    print("  OK" if ok else "  MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
