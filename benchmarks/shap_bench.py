"""Shapley kernels against the ``shap`` package, measured in one run.

Run with ``.venv/bin/python benchmarks/shap_bench.py`` (about 3-5 minutes on
two CPU cores). Every comparison uses the same model function, background and
rows for both sides; every timing is the median of interleaved repeats (ours,
shap, ours, shap, ...) so machine load hits both alike. Each figure is printed
beside its target, met or not.

1. **Accuracy at equal budget** — a 10-feature MLP (10→32→32→1, trained on
   scikit-learn's diabetes data), where ``exact_shap`` gives the true values:
   mean absolute error of ``kernel_shap`` (its default ``order="auto"``:
   the third-order fit) and of ``shap.KernelExplainer`` (``l1_reg=False``,
   ``nsamples`` = our ``samples``) against them, averaged over seeds 0-4,
   with the model rows each side evaluated counted. Target (issue 10 §3):
   ours ≤ 0.5 × shap's at 512 coalitions (64 and 256 reported), with no
   more model rows than shap.
2. **Speed at equal budget** — a 30→64→64→1 ReLU MLP (an ordinary width, not
   a tiny one: a bigger model makes the model calls, which both sides share,
   a larger part of the time) trained on breast-cancer data, 2048 coalitions,
   50 background rows, 10 rows explained. Target: our wall time ≤ 0.2 × shap's
   (ours gets the module; its time given shap's numpy wrapper is printed too),
   and our error against a high-budget reference (permutation SHAP, 2 × 500
   antithetic permutation pairs ≈ 58k coalitions per row) no larger than shap's.
3. **Deep SHAP additivity** — a CNN with functional ops (``F.relu``,
   ``F.max_pool2d``, ``torch.flatten``, a residual add) and one ``nn.ReLU``
   module used three times, and EfficientNet-Lite0 (which reuses one
   ``nn.ReLU6`` per block). Target: max |delta| ≤ 1e-4 × max |f(x) − E f(bg)|.
   ``shap.DeepExplainer`` runs on a deep copy of the model (it leaves buffers
   on modules); its figure, or its exception, is printed beside ours.
4. **ForcePlot first render** — a stacked force plot of 2,000 samples × 30
   features rendered from the built bundle ``xai_widgets/static/force_plot.js``
   in a standalone page (a fake anywidget model holding the widget's synced
   state) in headless Chromium; the widget writes its render() → first draw
   time to ``data-xw-render-ms`` on its root (as the browser test reads it).
   Target: ≤ 500 ms (median of 5 fresh pages; the max is printed too).
"""
from __future__ import annotations

import base64
import copy
import functools
import http.server
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _quiet_bars() -> None:
    """Progress bars off (they would garble the printed table); done before the kernels import tqdm."""
    import tqdm
    import tqdm.auto

    for mod in (tqdm, tqdm.auto):
        orig = mod.tqdm

        class Quiet(orig):  # type: ignore[misc, valid-type]
            def __init__(self, *a, **k):
                k["disable"] = True
                super().__init__(*a, **k)

        mod.tqdm = Quiet


_quiet_bars()
import xai_widgets as xw  # noqa: E402

REPEATS = int(os.environ.get("XW_BENCH_REPEATS", "5"))
#: the speed comparison is short (~1 s a round) and its ratio sensitive to load: more rounds
SPEED_REPEATS = int(os.environ.get("XW_BENCH_SPEED_REPEATS", "9"))
SEEDS = 5
TARGET_ACCURACY = 0.5  # issue 10 §3: gate at 512 coalitions (64 and 256 reported)
GATE_BUDGET = 512
TARGET_SPEED = 0.1
TARGET_ERROR_30 = 0.5
TARGET_ADDITIVITY = 1e-4
TARGET_RENDER_MS = 500.0
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def _median_interleaved(fns: dict, repeats: int) -> tuple[dict, dict]:
    """Median wall time of each fn over ``repeats`` interleaved runs; fns get the repeat index (a seed)."""
    times = {k: [] for k in fns}
    results = {k: [] for k in fns}
    for fn in fns.values():  # warm-up
        fn(1000)
    for r in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            out = fn(r)
            times[k].append(time.perf_counter() - t0)
            results[k].append(out)
    return {k: statistics.median(v) for k, v in times.items()}, results


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn, steps: int, lr: float = 3e-3) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-3)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model(x)[:, 0], y).backward()
        opt.step()
    return model.eval()


def _numpy_fn(model: nn.Module):
    def f(a):
        with torch.no_grad():
            return model(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))).double().numpy()[:, 0]
    return f


def _shap_kernel(f, bg: np.ndarray, rows: np.ndarray, nsamples: int, seed: int) -> np.ndarray:
    import shap

    np.random.seed(seed)  # KernelExplainer samples coalitions from numpy's global state
    return np.asarray(shap.KernelExplainer(f, bg).shap_values(rows, nsamples=nsamples, l1_reg=False, silent=True))


# ----------------------------------------------------------------- 1. accuracy
def accuracy() -> list[dict]:
    from sklearn.datasets import load_diabetes

    torch.manual_seed(0)
    d = load_diabetes()
    x = torch.tensor((d.data - d.data.mean(0)) / d.data.std(0), dtype=torch.float32)
    y = torch.tensor((d.target - d.target.mean()) / d.target.std(), dtype=torch.float32)
    model = _train(nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1)),
                   x, y, F.mse_loss, 300)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))
    bg, rows = x[idx[:50]].numpy(), x[idx[50:70]].numpy()
    exact = xw.exact_shap(model, rows, bg).values
    counted = {"n": 0}
    f_plain = _numpy_fn(model)

    def f(a):
        counted["n"] += len(a)
        return f_plain(a)

    out = []
    for budget in (64, 256, 512):
        counted["n"] = 0
        ours = np.mean([np.abs(xw.kernel_shap(f, rows, bg, samples=budget, seed=s).values - exact).mean()
                        for s in range(SEEDS)])
        rows_ours = counted["n"] // SEEDS
        counted["n"] = 0
        theirs = np.mean([np.abs(_shap_kernel(f, bg, rows, budget, s) - exact).mean() for s in range(SEEDS)])
        rows_shap = counted["n"] // SEEDS
        out.append(dict(budget=budget, ours=ours, shap=theirs, scale=np.abs(exact).mean(),
                        rows_ours=rows_ours, rows_shap=rows_shap))
    return out


# -------------------------------------------------------------------- 2. speed
def speed() -> dict:
    from sklearn.datasets import load_breast_cancer

    torch.manual_seed(0)
    d = load_breast_cancer()
    x = torch.tensor((d.data - d.data.mean(0)) / d.data.std(0), dtype=torch.float32)
    y = torch.tensor(d.target, dtype=torch.float32)
    model = _train(nn.Sequential(nn.Linear(30, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1)),
                   x, y, F.binary_cross_entropy_with_logits, 300)
    rng = np.random.default_rng(1)
    idx = rng.permutation(len(x))
    bg, rows = x[idx[:50]].numpy(), x[idx[50:60]].numpy()
    f = _numpy_fn(model)
    samples = 2048
    t, res = _median_interleaved({
        "ours": lambda s: xw.kernel_shap(model, rows, bg, samples=samples, seed=s).values,
        "shap": lambda s: _shap_kernel(f, bg, rows, samples, s),
        "ours_fn": lambda s: xw.kernel_shap(f, rows, bg, samples=samples, seed=s).values,
    }, SPEED_REPEATS)
    # the floor at this budget: the model passes alone (the same rows in passes of the size kernel_shap
    # uses, no masking, no solve); no kernel SHAP at equal model evaluations can be faster
    from xai_widgets.explain.shapley._model import DEFAULT_CHUNK, DEFAULT_ELEMENTS, MAX_DEFAULT_ROWS

    n_rows = len(rows) * samples * len(bg)
    per_pass = max(DEFAULT_CHUNK, min(MAX_DEFAULT_ROWS, DEFAULT_ELEMENTS // rows.shape[1]))
    batch = torch.from_numpy(np.tile(bg, (per_pass // len(bg) + 1, 1))[:per_pass])

    def passes(_s):
        with torch.no_grad():
            for a in range(0, n_rows, per_pass):
                model(batch[: min(per_pass, n_rows - a)])

    t_floor, _ = _median_interleaved({"floor": passes}, SPEED_REPEATS)
    t["floor"] = t_floor["floor"]
    t0 = time.perf_counter()
    ref_a = xw.permutation_shap(model, rows, bg, permutations=500, seed=101).values
    ref_b = xw.permutation_shap(model, rows, bg, permutations=500, seed=202).values
    t_ref = time.perf_counter() - t0
    ref = (ref_a + ref_b) / 2
    err = {k: float(np.mean([np.abs(v - ref).mean() for v in res[k]])) for k in ("ours", "shap")}
    return dict(t=t, err=err, ref_noise=float(np.abs(ref_a - ref_b).mean() / 2), t_ref=t_ref,
                scale=float(np.abs(ref).mean()))


# -------------------------------------------------------------- 3. deep_shap
class ReusedReluCNN(nn.Module):
    """Conv net with functional ops and one nn.ReLU module called three times."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 16, 3, padding=1)
        self.act = nn.ReLU()
        self.fc1 = nn.Linear(16 * 8 * 8, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        h = self.act(self.conv1(x))
        h = self.act(self.conv2(h)) + h                # reused module, residual add
        h = F.max_pool2d(h, 2)
        h = F.relu(self.conv3(h))                      # functional relu
        h = F.avg_pool2d(h, 2)
        h = self.act(self.fc1(torch.flatten(h, 1)))    # reused a third time
        return self.fc2(h)


def _relative_gap(sums: np.ndarray, gaps: np.ndarray) -> float:
    return float(np.abs(sums - gaps).max() / np.abs(gaps).max())


def _shap_deep(model: nn.Module, x: torch.Tensor, bg: torch.Tensor, target: np.ndarray) -> tuple[str, float | None]:
    """shap.DeepExplainer on a deep copy: its additivity error for ``target``, or its exception."""
    import shap

    m = copy.deepcopy(model).eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            e = shap.DeepExplainer(m, bg.clone())
            sv, idx = e.shap_values(x.clone(), ranked_outputs=1, check_additivity=False)
        vals = np.asarray(sv[0]) if isinstance(sv, list) else np.asarray(sv)  # one ranked output
        sums = vals.reshape(x.shape[0], -1).sum(1)
        with torch.no_grad():
            fx = model(x).double().numpy()[np.arange(len(x)), target]
            fb = model(bg).double().numpy()[:, target].mean(0)
        if not np.array_equal(np.asarray(idx).reshape(len(x), -1)[:, 0], target):
            return "ranked a different top class", None
        return "ran", _relative_gap(sums, fx - fb)
    except Exception as exc:  # noqa: BLE001 - report whatever it raises
        msg = f"{type(exc).__name__}: {exc}".replace("\n", " ")
        return msg[:160] + ("…" if len(msg) > 160 else ""), None


def deep() -> list[dict]:
    from xai_widgets import demo

    out = []
    torch.manual_seed(0)
    cnn = ReusedReluCNN().eval()
    x = torch.randn(4, 3, 32, 32)
    bg = torch.randn(10, 3, 32, 32) * 0.5
    t0 = time.perf_counter()
    a = xw.deep_shap(cnn, x, bg)
    t_ours = time.perf_counter() - t0
    gaps = np.asarray(a.outputs - a.base_values)
    out.append(dict(model="CNN, nn.ReLU reused 3×, functional ops (4 rows, 10 refs)", ours=float(np.abs(a.delta).max() / np.abs(gaps).max()),
                    t=t_ours, shap=_shap_deep(cnn, x, bg, np.asarray(a.target))))

    model = demo.efficientnet_lite0()
    image = demo.load_image("chelsea")
    x = demo.preprocess(image)
    from scipy.ndimage import gaussian_filter

    blurred = gaussian_filter(image.astype(np.float32), sigma=(12, 12, 0)).round().astype(np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, size=image.shape, dtype=np.uint8)
    bg = torch.cat([demo.preprocess(blurred), torch.zeros_like(x), demo.preprocess(noise)])
    t0 = time.perf_counter()
    a = xw.deep_shap(model, x, bg)
    t_ours = time.perf_counter() - t0
    gaps = np.asarray(a.outputs - a.base_values)
    out.append(dict(model="EfficientNet-Lite0, chelsea (3 refs: blur, grey, noise)",
                    ours=float(np.abs(a.delta).max() / np.abs(gaps).max()), t=t_ours,
                    shap=_shap_deep(model, x, bg, np.asarray(a.target))))
    return out


# ------------------------------------------------------------ 4. force plot
PAGE = """<!doctype html><html><head><meta charset="utf-8"></head>
<body style="margin:16px;font-family:sans-serif;--jp-layout-color1:#fff;--jp-ui-font-color1:rgba(0,0,0,.87)">
<div id="w" style="max-width:980px"></div>
<script type="module">
class FakeModel {
  constructor(state) { this.state = state; this.handlers = {}; }
  get(k) { return this.state[k]; }
  set(k, v) { this.state[k] = v; (this.handlers["change:" + k] || []).slice().forEach((f) => f()); }
  save_changes() {}
  on(e, f) { (this.handlers[e] ||= []).push(f); }
  off(e, f) { if (!e) { this.handlers = {}; return; } this.handlers[e] = (this.handlers[e] || []).filter((g) => f && g !== f); }
  send() {}
}
const state = await (await fetch("state.json")).json();
for (const [k, v] of Object.entries(state)) if (v && v.__b64__ !== undefined) {
  const bin = atob(v.__b64__); const u = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
  state[k] = new DataView(u.buffer);
}
const mod = await import("./force_plot.js");
window.cleanup = mod.default.render({ model: new FakeModel(state), el: document.getElementById("w") });
window.done = true;
</script></body></html>"""


def _widget_state(w) -> dict:
    out = {}
    for k, v in w.get_state().items():
        if k in ("layout", "_esm", "_css", "_dom_classes") or k.startswith("_model") or k.startswith("_view"):
            continue
        if isinstance(v, (bytes, bytearray, memoryview)):
            v = {"__b64__": base64.b64encode(bytes(v)).decode()}
        out[k] = v
    return out


def force_render(pages: int = 5) -> dict:
    bundle = ROOT / "xai_widgets" / "static" / "force_plot.js"
    if not bundle.exists():
        return dict(error=f"{bundle} missing: build the JS bundles first (make lab / make test)")
    if not Path("/usr/bin/chromium").exists():
        return dict(error="/usr/bin/chromium not found")
    rng = np.random.default_rng(0)
    c = rng.normal(size=(5, 30)) * rng.random(30)
    v = c[rng.integers(0, 5, 2000)] + rng.normal(size=(2000, 30)) * 0.05
    t0 = time.perf_counter()
    w = xw.ForcePlot(xw.Attribution.from_array(v, rng.normal(size=(2000, 30)), base_values=0.1))
    t_py = time.perf_counter() - t0
    tmp = Path(tempfile.mkdtemp(prefix="xw-shap-bench-"))
    try:
        shutil.copy(bundle, tmp / "force_plot.js")
        (tmp / "state.json").write_text(json.dumps(_widget_state(w)))
        (tmp / "index.html").write_text(PAGE)

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp)))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        from playwright.sync_api import sync_playwright

        ms, errors = [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            for _ in range(pages):
                page = browser.new_page(viewport={"width": 1000, "height": 800})
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"http://127.0.0.1:{srv.server_address[1]}/index.html")
                page.wait_for_function("window.done === true", timeout=30_000)
                page.wait_for_selector(".xw-force-plot[data-xw-ready='1']", timeout=30_000)
                root = page.locator(".xw-force-plot")
                ms.append(float(root.get_attribute("data-xw-render-ms")))
                mode = root.get_attribute("data-mode")
                page.close()
            browser.close()
        srv.shutdown()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dict(ms=ms, mode=mode, errors=errors, t_py=t_py)


# --------------------------------------------------------------------- main
def main() -> int:
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    import shap

    t_start = time.perf_counter()
    print(f"xai_widgets Shapley benchmark vs shap {shap.__version__} — torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, timings: median of {REPEATS} interleaved runs\n")
    ok = True

    print("1. kernel_shap accuracy at equal budget: 10→32→32→1 MLP (diabetes), 50 background rows, 20 rows,")
    print(f"   mean |value - exact_shap| averaged over {SEEDS} seeds; shap.KernelExplainer(l1_reg=False, nsamples=samples)")
    print(f"   {'samples':>8s} {'ours':>10s} {'shap':>10s} {'ratio':>6s}  target ≤ {TARGET_ACCURACY}")
    for r in accuracy():
        ratio = r["ours"] / r["shap"]
        gate = r["budget"] == GATE_BUDGET
        good = ratio <= TARGET_ACCURACY and r["rows_ours"] <= r["rows_shap"]
        if gate:
            ok &= good
        verdict = ("ok" if good else "MISSED") if gate else "(reported)"
        print(f"   {r['budget']:8d} {r['ours']:10.3g} {r['shap']:10.3g} {ratio:6.2f}  {verdict}"
              f"   model rows ours {r['rows_ours']:,} / shap {r['rows_shap']:,}; mean |exact value| {r['scale']:.3g}")

    print("\n2. kernel_shap speed: 30→64→64→1 ReLU MLP (breast cancer), 2048 samples, 50 background rows, 10 rows")
    s = speed()
    ratio = s["t"]["ours"] / s["t"]["shap"]
    good_t = ratio <= TARGET_SPEED
    good_e = s["err"]["ours"] <= TARGET_ERROR_30 * s["err"]["shap"]
    ok &= good_t and good_e
    print(f"   wall time: ours {s['t']['ours']:.3f} s, shap {s['t']['shap']:.3f} s, ratio {ratio:.3f}  "
          f"target ≤ {TARGET_SPEED}  {'ok' if good_t else 'MISSED'}  (median of {SPEED_REPEATS})")
    print(f"   model passes alone at this budget: {s['t']['floor']:.3f} s = "
          f"{s['t']['floor'] / s['t']['shap']:.3f}x shap's time — the floor of any kernel SHAP at equal model evaluations")
    print(f"   (ours given shap's numpy function instead of the module: {s['t']['ours_fn']:.3f} s, "
          f"ratio {s['t']['ours_fn'] / s['t']['shap']:.3f})")
    print(f"   mean |error| vs reference (permutation_shap 2×500 pairs, {s['t_ref']:.1f} s; its own noise ≈ "
          f"{s['ref_noise']:.2g}; mean |value| {s['scale']:.3g}):")
    print(f"   ours {s['err']['ours']:.3g}, shap {s['err']['shap']:.3g}, ratio {s['err']['ours'] / s['err']['shap']:.2f}"
          f"  target ≤ {TARGET_ERROR_30}  {'ok' if good_e else 'MISSED'}")

    print(f"\n3. deep_shap additivity: max |sum(values) - (f(x) - E f(bg))| / max |f(x) - E f(bg)|, target ≤ {TARGET_ADDITIVITY:g}")
    for r in deep():
        good = r["ours"] <= TARGET_ADDITIVITY
        ok &= good
        status, err = r["shap"]
        theirs = f"{err:.3g}" if err is not None else f"failed: {status}"
        print(f"   {r['model']}")
        print(f"      ours {r['ours']:.3g} ({r['t']:.2f} s)  {'ok' if good else 'MISSED'}")
        print(f"      shap.DeepExplainer (deep copy of the model) {theirs}")

    print(f"\n4. ForcePlot stacked 2,000 × 30, first render in headless Chromium (data-xw-render-ms), target ≤ {TARGET_RENDER_MS:g} ms")
    fr = force_render()
    if "error" in fr:
        ok = False
        print(f"   not measured: {fr['error']}")
    else:
        med = statistics.median(fr["ms"])
        good = med <= TARGET_RENDER_MS and fr["mode"] == "stacked" and not fr["errors"]
        ok &= good
        print(f"   median {med:.1f} ms, max {max(fr['ms']):.1f} ms over {len(fr['ms'])} fresh pages "
              f"(mode {fr['mode']}; Python-side ForcePlot() incl. similarity order {fr['t_py'] * 1000:.0f} ms)  "
              f"{'ok' if good else 'MISSED'}" + (f" page errors: {fr['errors']}" if fr["errors"] else ""))

    print(f"\n{'all targets met' if ok else 'some targets missed'} — {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
