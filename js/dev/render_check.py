"""Render both widgets in headless Chromium with a fake anywidget model.

Usage (from the repo root, after `make js`):
    .venv/bin/python js/dev/render_check.py [outdir] [--only force|heatmap]
Writes screenshots (light + dark) to outdir (default /tmp/xw-shots) and
prints any page errors. Not part of the test suite: a look-at-it check.
The ForcePlot pages (force-*.png) show a single force plot with logit link
(breast-cancer logistic regression, exact linear SHAP), a waterfall, and a
stacked plot of 2,000 x 30 (time to first render printed).
"""
from __future__ import annotations

import base64
import functools
import http.server
import json
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import xai_widgets as xw  # noqa: E402

HTML = """<!doctype html><html><head><meta charset="utf-8"><style>
body { margin: 16px; font-family: sans-serif; }
body.dark { background: #111; --jp-layout-color1: #111; --jp-layout-color2: #2b2b2b; --jp-ui-font-color1: rgba(255,255,255,.87);
  --jp-ui-font-color2: rgba(255,255,255,.54); --jp-border-color1: #616161; --jp-border-color2: #424242; --jp-brand-color1: #64b5f6;
  --jp-ui-font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; --jp-ui-font-size1: 13px; }
body.light { background: #fff; --jp-layout-color1: #fff; --jp-layout-color2: #eee; --jp-ui-font-color1: rgba(0,0,0,.87);
  --jp-ui-font-color2: rgba(0,0,0,.54); --jp-border-color1: #bdbdbd; --jp-border-color2: #e0e0e0; --jp-brand-color1: #1976d2;
  --jp-ui-font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; --jp-ui-font-size1: 13px; }
.cell { margin-bottom: 18px; max-width: 980px; }
</style></head><body class="THEME">
<script type="module">
class FakeModel {
  constructor(state) { this.state = state; this.handlers = {}; this.saved = []; }
  get(k) { return this.state[k]; }
  set(k, v) { this.state[k] = v; (this.handlers["change:" + k] || []).slice().forEach((f) => f()); }
  save_changes() { this.saved.push(JSON.stringify(Object.fromEntries(Object.entries(this.state).filter(([k]) => !k.startsWith("_"))))); }
  on(e, f) { (this.handlers[e] ||= []).push(f); }
  off(e, f) { if (!e) { this.handlers = {}; return; } this.handlers[e] = (this.handlers[e] || []).filter((g) => f && g !== f); }
  send() {}
}
function revive(state) {
  for (const [k, v] of Object.entries(state)) if (v && v.__b64__ !== undefined) {
    const bin = atob(v.__b64__); const u = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
    state[k] = new DataView(u.buffer);
  }
  return state;
}
const specs = await (await fetch("STATES")).json();
for (let i = 0; i < specs.length; i++) {
  const d = document.createElement("div"); d.className = "cell"; d.id = "w" + i; document.body.appendChild(d);
}
window.models = []; window.cleanups = [];
for (let i = 0; i < specs.length; i++) {
  const mod = await import("./" + specs[i].bundle);
  const model = new FakeModel(revive(specs[i].state));
  window.models.push(model);
  window.cleanups.push(mod.default.render({ model, el: document.getElementById("w" + i) }));
}
window.done = true;
</script></body></html>"""


def state_of(w) -> dict:
    out = {}
    for k, v in w.get_state().items():
        if k in ("layout", "_esm", "_css") or k.startswith("_model") or k.startswith("_view") or k == "_dom_classes":
            continue
        if isinstance(v, (bytes, bytearray, memoryview)):
            v = {"__b64__": base64.b64encode(bytes(v)).decode()}
        out[k] = v
    return out


def blob(h, w, cy, cx, s):
    y, x = np.mgrid[:h, :w]
    return np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * s * s))


def widgets():
    try:
        img = xw.demo.load_image("chelsea")
    except Exception:  # noqa: BLE001
        img = (np.random.default_rng(0).random((224, 224, 3)) * 255).astype(np.uint8)
    img = np.asarray(img)
    if img.ndim == 3:
        img = img[None]
    H, W = img.shape[1:3]
    rng = np.random.default_rng(0)
    ig = (blob(H, W, 80, 100, 18) - 0.7 * blob(H, W, 150, 60, 25)) * 0.01 + rng.normal(0, 0.0008, (H, W))
    sal = np.abs(blob(H, W, 85, 110, 30)) + np.abs(rng.normal(0, 0.05, (H, W)))
    imgs = np.concatenate([img, img[:, ::-1]])
    a_ig = xw.Attribution.from_array(np.stack([ig, ig[:, ::-1]])[:, None].repeat(3, 1) / 3, method="integrated_gradients", target=[281, 281])
    a_sal = xw.Attribution.from_array(np.stack([sal, sal[:, ::-1]]), method="saliency")
    hm = xw.HeatmapOverlay(imgs, {"integrated_gradients": a_ig, "saliency": a_sal}, selected=(80, 100))
    hm1 = xw.HeatmapOverlay(img, xw.Attribution.from_array(ig[None], method="grad_cam"), colormap="bwr", opacity=0.7)
    toks = ["[CLS]", "the", "cat", "sat", "on", "the", "mat", ",", "purr", "##ing", "happily", "<img src=x onerror=alert(1)>",
            "while", "the", "dog", "watched", "with", "un", "##amused", "eyes", ".", "[SEP]"]
    vals = np.array([0.01, 0.05, 0.9, 0.2, -0.05, 0.02, 0.4, 0.0, 0.6, 0.3, 0.25, -0.3, -0.1, 0.03, -0.7, -0.2, 0.01, -0.4, -0.35, 0.1, 0.0, 0.02])
    th = xw.TextHeatmap(toks, xw.Attribution.from_array(np.stack([vals, -vals]), method="integrated_gradients"), token=2)
    return [("heatmap_overlay.js", hm), ("text_heatmap.js", th), ("heatmap_overlay.js", hm1)]


def breast_cancer_shap():
    """Logistic regression on sklearn's breast cancer data and its exact (linear) SHAP values, in log-odds."""
    try:
        from sklearn.datasets import load_breast_cancer
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler
    except ImportError:  # pragma: no cover
        rng = np.random.default_rng(0)
        X = rng.normal(size=(569, 30))
        return X, X * rng.normal(size=30) * 0.3, np.zeros(569), [f"x{i}" for i in range(30)]
    ds = load_breast_cancer()
    X = ds.data
    Z = StandardScaler().fit_transform(X)
    clf = LogisticRegression(max_iter=2000, C=0.3).fit(Z, ds.target)
    w = clf.coef_[0]
    phi = w * (Z - Z.mean(0))
    base = np.full(len(X), float(clf.intercept_[0] + w @ Z.mean(0)))
    return X, phi, base, list(ds.feature_names)


def force_widgets():
    X, phi, base, names = breast_cancer_shap()
    names = list(names)
    names[3] = "<img src=x onerror=alert(1)> area"
    a = xw.Attribution.from_array(phi, X, base_values=base, feature_names=names, method="linear SHAP (log-odds)")
    single = xw.ForcePlot(a[7], link="logit")
    water = xw.ForcePlot(a, mode="waterfall", index=7, link="logit")
    rng = np.random.default_rng(0)
    # 2,000 x 30: four clusters of explanation patterns plus noise
    centers = rng.normal(size=(4, 30)) * rng.random(30) * 0.6
    lab = rng.integers(0, 4, 2000)
    v = centers[lab] + rng.normal(size=(2000, 30)) * 0.08
    stacked = xw.ForcePlot(xw.Attribution.from_array(v, rng.normal(size=(2000, 30)), base_values=0.2,
                                                     feature_names=[f"feature {i}" for i in range(30)]), index=100)
    return [single, water, stacked]


def force_checks(browser, port, theme, out):
    page = browser.new_page(viewport={"width": 1000, "height": 1300}, device_scale_factor=1)
    errors, dialogs = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"http://127.0.0.1:{port}/force-{theme}.html")
    page.wait_for_function("window.done === true")
    page.wait_for_function("document.querySelectorAll(\".xw-force-plot[data-xw-ready='1']\").length === 3")
    ms = page.evaluate("[...document.querySelectorAll('.xw-force-plot')].map(e => e.getAttribute('data-xw-render-ms'))")
    n_img = page.evaluate("document.querySelectorAll('.xw-force-plot img').length")
    feats = page.locator("#w0 .xw-feature").all_text_contents()
    # hover the stacked plot, click a sample, select a feature in the single plot
    c = page.locator("#w2 canvas.xw-force-canvas")
    box = c.bounding_box()
    geo = c.evaluate("e => [+e.dataset.plotLeft, +e.dataset.plotWidth, +e.dataset.plotTop, +e.dataset.plotHeight]")
    page.mouse.click(box["x"] + geo[0] + geo[1] * 0.3, box["y"] + geo[2] + geo[3] * 0.5)
    idx = page.evaluate("window.models[2].get('index')")
    page.mouse.move(box["x"] + geo[0] + geo[1] * 0.62, box["y"] + geo[2] + geo[3] * 0.4)
    tip = page.locator("#w2 .xw-tooltip").text_content()
    page.locator("#w0 .xw-feature").first.click()
    feat = page.evaluate("window.models[0].get('feature')")
    page.locator("#w0 .xw-feature").first.hover()
    page.mouse.move(box["x"] + geo[0] + geo[1] * 0.62, box["y"] + geo[2] + geo[3] * 0.4)
    page.screenshot(path=str(out / f"force-{theme}.png"), full_page=True)
    print(theme, "force render ms (single, waterfall, stacked):", ms, "| img elements:", n_img, "| labels:", feats[:4],
          "| index after click:", idx, "| tooltip:", (tip or "")[:80], "| feature after click:", feat,
          "| dialogs:", dialogs, "| errors:", errors)
    # stacked: y = one feature, order by output; single -> waterfall via the mode select
    page.locator("#w2 select.xw-y").select_option("3")
    page.locator("#w2 select.xw-order").select_option("output")
    page.locator("#w0 select.xw-mode").select_option("waterfall")
    with page.expect_download() as dl:
        page.locator("#w2 button.xw-download").click()
    page.screenshot(path=str(out / f"force-{theme}-after.png"), full_page=True)
    print(theme, "after: y_feature", page.evaluate("window.models[2].get('y_feature')"), "order",
          page.evaluate("window.models[2].get('order')"), "| download:", dl.value.suggested_filename, "| errors:", errors)
    page.evaluate("window.cleanups.forEach((f) => f())")
    print(theme, "force roots left after cleanup:", page.evaluate("document.querySelectorAll('.xw-root').length"))
    page.close()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/xw-shots")
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="xw-harness-"))
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    for b in ("heatmap_overlay.js", "text_heatmap.js", "force_plot.js"):
        shutil.copy(ROOT / "xai_widgets" / "static" / b, tmp / b)
    specs = [{"bundle": b, "state": state_of(w)} for b, w in widgets()]
    (tmp / "states.json").write_text(json.dumps(specs))
    (tmp / "force_states.json").write_text(json.dumps([{"bundle": "force_plot.js", "state": state_of(w)} for w in force_widgets()]))
    for theme in ("light", "dark"):
        (tmp / f"{theme}.html").write_text(HTML.replace("THEME", theme).replace("STATES", "states.json"))
        (tmp / f"force-{theme}.html").write_text(HTML.replace("THEME", theme).replace("STATES", "force_states.json"))
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # noqa: D401
            pass

    handler = functools.partial(Quiet, directory=str(tmp))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        for theme in ("light", "dark") if only in (None, "force") else ():
            force_checks(browser, port, theme, out)
        for theme in ("light", "dark") if only in (None, "heatmap") else ():
            page = browser.new_page(viewport={"width": 1000, "height": 1250}, device_scale_factor=1)
            errors, dialogs = [], []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(f"http://127.0.0.1:{port}/{theme}.html")
            page.wait_for_function("window.done === true")
            page.wait_for_selector(".xw-heatmap-overlay[data-xw-ready='1']")
            page.wait_for_selector(".xw-text-heatmap[data-xw-ready='1']")
            # click a pixel in the first panel and hover to show the tooltip
            c = page.locator("#w0 canvas.xw-canvas").first
            box = c.bounding_box()
            page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.75)
            sel = page.evaluate("window.models[0].get('selected')")
            page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.36)
            page.locator("#w1 span.xw-token").nth(14).hover()
            n_img = page.evaluate("document.querySelectorAll('.xw-text-heatmap img').length")
            xss = page.evaluate("document.querySelectorAll('span.xw-token')[11].textContent")
            page.locator("#w0 canvas.xw-canvas").first.hover(position={"x": box["width"] * 0.45, "y": box["height"] * 0.36})
            page.screenshot(path=str(out / f"{theme}.png"), full_page=True)
            print(theme, "selected after click:", sel, "| img elements:", n_img, "| xss token text:", xss,
                  "| dialogs:", dialogs, "| errors:", errors)
            # controls: shared scale, sample switch, opacity, sign, PNG download
            page.locator("#w0 input.xw-shared").check()
            bars = page.evaluate("[...document.querySelectorAll('#w0 canvas.xw-colorbar')].filter(c => c.style.display !== 'none').length")
            page.locator("#w0 select.xw-sample").select_option("1")
            page.locator("#w0 select.xw-sign").select_option("absolute")
            page.locator("#w0 input.xw-opacity").fill("0.25")
            with page.expect_download() as dl:
                page.locator("#w0 button.xw-download").click()
            with page.expect_download() as dl2:
                page.locator("#w1 button.xw-download").click()
            page.locator("#w1 span.xw-token").nth(2).click()  # unpin
            st = page.evaluate("(({shared_scale, sample, sign, opacity}) => ({shared_scale, sample, sign, opacity}))(window.models[0].state)")
            print(theme, "visible colorbars when shared:", bars, "| state:", st, "| downloads:",
                  dl.value.suggested_filename, dl2.value.suggested_filename, "| token after unpin:",
                  page.evaluate("window.models[1].get('token')"), "| pinned:", page.locator(".xw-pinned").count(), "| errors:", errors)
            page.screenshot(path=str(out / f"{theme}-after.png"), full_page=True)
            # cleanup removes everything
            page.evaluate("window.cleanups.forEach((f) => f())")
            left = page.evaluate("document.querySelectorAll('.xw-root').length")
            print(theme, "roots left after cleanup:", left)
            page.close()
        browser.close()
    srv.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
