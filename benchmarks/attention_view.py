"""AttentionView transport and interaction benchmark.

    .venv/bin/python benchmarks/attention_view.py [--latency MS] [--no-browser] [--llm]

1. Bytes at display for 12 layers x 12 heads x 512 tokens (synthetic softmax
   maps): the widget state as the front end receives it (JSON without the
   bundle + binary buffers, from ``get_state`` split like ipywidgets does)
   plus the JS bundle. Budget: <= 1 MB.
2. Head switching in headless Chromium (Debian /usr/bin/chromium): a
   standalone page renders the real bundle with a fake anywidget model that
   answers ``{"type": "get"}`` custom messages and, like the kernel, pushes
   ``_head`` after every selection change (after ``--latency`` ms, default 0:
   the numbers are the front end's own cost). Time from the slider's input
   event to the new canvas being drawn (MutationObserver on data-xw-drawn)
   and to the next animation frame; median of 10, cache hits and misses
   apart (misses: the fake model ignores prefetch requests).
3. One 4096-token head renders and answers hover.
4. LLM scale (issue 11 §3; ``--llm`` runs this part alone): 30 layers x 9
   heads x 1,024 tokens of random causal softmax maps (1.1 GB float32). The
   initial state (target <= 1 MB) and the head switch (target <= 100 ms,
   median of 10) from the slider and from Python (the model's traits set as
   a kernel message would), with the neighbouring heads prefetched ("hit")
   and with every prefetch ignored ("miss": each switch waits for the head
   the kernel pushes; here a local HTTP server encodes it with the widget's
   own ``_head_payload``, so a miss includes the kernel's encoding time).
   The overview of all 30 x 10 thumbnails is saved as a picture.
"""
from __future__ import annotations

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
from xai_widgets.widgets import _serialize as ser  # noqa: E402

BUNDLE = ROOT / "xai_widgets" / "static" / "attention_view.js"


def synthetic(L=12, H=12, T=512, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((L, H, T, T), np.float32)
    pos = np.arange(T)
    for layer in range(L):
        for h in range(H):
            x = rng.normal(size=(T, T)).astype(np.float32)
            x += (3.0 * np.exp(-((pos[:, None] - pos[None, :] - (h % 4) + 1) ** 2) / (1 + layer))).astype(np.float32)
            x[:, 0] += 2.0 + 0.2 * h
            x -= x.max(-1, keepdims=True)
            e = np.exp(x)
            out[layer, h] = e / e.sum(-1, keepdims=True)
    return out


def display_bytes(w) -> dict:
    from ipywidgets.widgets.widget import _remove_buffers

    state = w.get_state()
    esm = state.pop("_esm", "")
    state.pop("_css", None)
    stripped, _paths, buffers = _remove_buffers(state)
    js = len(json.dumps(stripped, separators=(",", ":")).encode())
    buf = sum(len(b) for b in buffers)
    bundle = BUNDLE.stat().st_size
    return {"state_json": js, "buffers": buf, "bundle": bundle, "esm_in_state": len(esm.encode()) if isinstance(esm, str) else 0,
            "total": js + buf + bundle}


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
<div id="w0" style="width:1100px"></div>
<script type="module">
const cfg = await (await fetch("cfg.json")).json();
const all = cfg.lazy ? null : new Uint8Array(await (await fetch("heads.bin")).arrayBuffer());
function b64(s) { const b = atob(s); const u = new Uint8Array(b.length); for (let i = 0; i < b.length; i++) u[i] = b.charCodeAt(i); return new DataView(u.buffer); }
for (const [k, v] of Object.entries(cfg.state)) if (v && v.__b64__ !== undefined) cfg.state[k] = b64(v.__b64__);
const heads = cfg.heads; // key -> [offset, length, meta]
// a lazy site asks the Python server, which encodes the head as the kernel would (w._head_payload)
async function getHead(key) {
  if (!cfg.lazy) { const [o, n, meta] = heads[key]; return [meta, new DataView(all.buffer.slice(o, o + n))]; }
  const r = await fetch("head?key=" + encodeURIComponent(key));
  return [JSON.parse(r.headers.get("x-meta")), new DataView(await r.arrayBuffer())];
}
const later = (f) => (cfg.latency > 0 ? setTimeout(f, cfg.latency) : f());
class FakeModel {
  constructor(state) { this.state = state; this.handlers = {}; this.sent = 0; this.answer = true; this.last = this.sel(); }
  sel() { return ["source", "sample", "layer", "head"].map((k) => this.state[k]).join("|"); }
  get(k) { return this.state[k]; }
  set(k, v) { this.state[k] = v; (this.handlers["change:" + k] || []).slice().forEach((f) => f()); }
  on(e, f) { (this.handlers[e] ||= []).push(f); }
  off(e, f) { if (!e) { this.handlers = {}; return; } this.handlers[e] = (this.handlers[e] || []).filter((g) => f && g !== f); }
  save_changes() {
    const s = this.sel();
    if (s === this.last) return;
    this.last = s;
    const key = `${this.state.source}|${this.state.sample}|${this.state.layer}|${this.state.head}`;
    getHead(key).then(([meta, buf]) => later(() => { this.state._head_meta = meta; this.set("_head", buf); }));
  }
  send(msg) {
    this.sent++;
    if (!this.answer || msg.type !== "get") return;
    for (const r of msg.requests) {
      const key = `${r.source}|${r.sample}|${r.layer}|${r.head}`;
      getHead(key).then(([meta, buf]) => later(() => (this.handlers["msg:custom"] || []).forEach((f) => f({ type: "head", id: r.id, meta }, [buf]))));
    }
  }
}
const mod = await import("./attention_view.js");
window.model = new FakeModel(cfg.state);
window.model.answer = cfg.answer;
mod.default.render({ model: window.model, el: document.getElementById("w0") });
window.root = document.querySelector(".xw-attention-view");
window.switchTo = (layer, head) => new Promise((resolve) => {
  const key = `attention|0|${layer}|${head}`;
  const t0 = performance.now();
  let drawn = 0;
  const done = () => { drawn = performance.now() - t0; requestAnimationFrame(() => resolve({ drawn, painted: performance.now() - t0 })); };
  const mo = new MutationObserver(() => { if (window.root.getAttribute("data-xw-drawn") === key) { mo.disconnect(); done(); } });
  mo.observe(window.root, { attributes: true, attributeFilter: ["data-xw-drawn"] });
  const set = (cls, v) => { const el = window.root.querySelector(cls); el.value = String(v); el.dispatchEvent(new Event("input", { bubbles: true })); };
  if (String(window.model.get("layer")) !== String(layer)) set("input.xw-layer", layer);
  if (String(window.model.get("head")) !== String(head)) set("input.xw-head", head);
  if (window.root.getAttribute("data-xw-drawn") === key) { mo.disconnect(); done(); }
});
// as a change from Python arrives: the model's traits change, no input event
window.setFromPython = (layer, head) => new Promise((resolve) => {
  const key = `attention|0|${layer}|${head}`;
  const t0 = performance.now();
  const done = () => { const drawn = performance.now() - t0; requestAnimationFrame(() => resolve({ drawn, painted: performance.now() - t0 })); };
  const mo = new MutationObserver(() => { if (window.root.getAttribute("data-xw-drawn") === key) { mo.disconnect(); done(); } });
  mo.observe(window.root, { attributes: true, attributeFilter: ["data-xw-drawn"] });
  window.model.state.layer = layer;
  window.model.set("head", head); // one change message sets both; the view hears it once here
  window.model.save_changes();
  if (window.root.getAttribute("data-xw-drawn") === key) { mo.disconnect(); done(); }
});
window.done = true;
</script></body></html>"""


def write_site(tmp: Path, w, weights: np.ndarray | None, latency: float, answer: bool, lazy: bool = False) -> None:
    chunks, heads, off = [], {}, 0
    if weights is not None and not lazy:
        L, H = weights.shape[:2]
        for layer in range(L):
            for h in range(-1, H):
                raw, meta = w._head_payload("attention", 0, layer, h)
                heads[f"attention|0|{layer}|{h}"] = [off, len(raw), meta]
                chunks.append(raw)
                off += len(raw)
    (tmp / "heads.bin").write_bytes(b"".join(chunks))
    (tmp / "cfg.json").write_text(json.dumps({"state": state_of(w), "heads": heads, "latency": latency, "answer": answer,
                                              "lazy": lazy}))
    (tmp / "index.html").write_text(PAGE)
    (tmp / "attention_view.js").write_bytes(BUNDLE.read_bytes())


def serve(directory: Path, widget=None):
    """A static server for the page; with ``widget``, ``/head?key=source|sample|layer|head`` answers as the kernel does."""
    from urllib.parse import parse_qs, urlparse

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            u = urlparse(self.path)
            if widget is None or u.path != "/head":
                return super().do_GET()
            src, b, layer, h = parse_qs(u.query)["key"][0].split("|")
            raw, meta = widget._head_payload(src, int(b), int(layer), int(h))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(raw)))
            self.send_header("x-meta", json.dumps(meta))
            self.end_headers()
            self.wfile.write(raw)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def browser_runs(weights: np.ndarray, latency: float) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        for mode in ("hit", "miss"):
            tmp = Path(tempfile.mkdtemp(prefix="xw-attn-bench-"))
            w = xw.AttentionView(weights, layer=0, head=0)
            write_site(tmp, w, weights, latency, answer=(mode == "hit"))
            srv = serve(tmp)
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{srv.server_address[1]}/index.html")
            page.wait_for_function("window.done === true && window.root && window.root.dataset.xwReady === '1'", timeout=60_000)
            times = []
            if mode == "hit":
                # wait for the prefetch of layer 0 (13 maps) plus layer 1's head 0
                page.wait_for_function("Number(window.root.dataset.xwCache.split('/')[2]) >= 14", timeout=60_000)
                seq = [(0, h) for h in (3, 7, 1, 11, -1, 5, 9, 2, 8, 4)]
            else:
                seq = [(0, h) for h in (3, 7, 1, 11, -1, 5, 9, 2, 8, 4)]
            for layer, h in seq:
                times.append(page.evaluate("([l, h]) => window.switchTo(l, h)", [layer, h]))
            cache = page.evaluate("window.root.dataset.xwCache")
            drawn = [t["drawn"] for t in times]
            painted = [t["painted"] for t in times]
            print(f"switch head (cache {'hits' if mode == 'hit' else 'misses'}, latency {latency:g} ms): median drawn {statistics.median(drawn):.1f} ms "
                  f"(min {min(drawn):.1f}, max {max(drawn):.1f}); median painted {statistics.median(painted):.1f} ms; "
                  f"cache hits/misses/entries/bytes {cache}; page errors {errors}")
            page.close()
            srv.shutdown()

        # one 4096-token head: renders and answers hover
        T = 4096
        rng = np.random.default_rng(1)
        big = rng.random((1, 1, T, T), dtype=np.float32) ** 8
        big[0, 0] += np.eye(T, dtype=np.float32) * 4
        big /= big.sum(-1, keepdims=True)
        t0 = time.perf_counter()
        w = xw.AttentionView(big, causal=False)
        t_py = time.perf_counter() - t0
        tmp = Path(tempfile.mkdtemp(prefix="xw-attn-bench-"))
        write_site(tmp, w, None, latency, answer=False)
        srv = serve(tmp)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        t0 = time.perf_counter()
        page.goto(f"http://127.0.0.1:{srv.server_address[1]}/index.html")
        page.wait_for_function("window.done === true && window.root && window.root.dataset.xwReady === '1'", timeout=120_000)
        t_first = time.perf_counter() - t0
        draw_ms = page.evaluate("window.root.dataset.xwDrawMs")
        c = page.locator("canvas.xw-matrix")
        box = c.bounding_box()
        t0 = time.perf_counter()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.6)
        page.locator(".xw-tooltip").wait_for(state="visible", timeout=10_000)
        t_hover = time.perf_counter() - t0
        tip = page.locator(".xw-tooltip").text_content()
        page.mouse.wheel(0, -600)
        page.wait_for_timeout(100)
        status = page.locator(".xw-status").text_content()
        print(f"4096-token head: widget built in {t_py * 1000:.0f} ms, _head {len(w._head) / 2**20:.1f} MiB; page load to first draw "
              f"{t_first:.2f} s (last redraw {draw_ms} ms); hover tooltip after {t_hover * 1000:.0f} ms: {tip!r}; "
              f"after wheel: {status.split(' — ')[0].split(' · ')[-1]!r}; page errors {errors}")
        page.close()
        srv.shutdown()
        browser.close()


# ------------------------------------------------------------------ LLM scale (issue 11 §3)
STATE_TARGET = 1_000_000  # bytes: initial state (JSON + buffers; the bundle reported apart and in the total)
SWITCH_TARGET = 100.0  # ms: median head switch, selection set -> new matrix drawn


def llm_maps(L=30, H=9, T=1024, seed=0, dtype=np.float32) -> np.ndarray:
    """Random causal softmax maps ``(L, H, T, T)`` shaped like a decoder's; zero above the diagonal.

    Noise logits plus, by head: a sink on token 0 (most heads of real LLMs
    put much of their weight there, more with depth), a previous-token head,
    a local band; a few heads attend to a handful of "content" columns.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((L, H, T, T), dtype)
    pos = np.arange(T, dtype=np.float32)
    upper = np.triu(np.ones((T, T), bool), 1)
    diff = pos[:, None] - pos[None, :]
    for layer in range(L):
        x = rng.standard_normal((H, T, T), dtype=np.float32)
        for h in range(H):
            kind = (h + layer) % 4
            if kind == 0:
                x[h, :, 0] += 5.0 + 0.1 * layer  # sink
            elif kind == 1:
                x[h][diff == 1] += 7.0  # previous token
                x[h, :, 0] += 3.0
            elif kind == 2:
                x[h] -= np.abs(diff) / (4.0 + layer)  # local band, wider with depth
            else:
                cols = rng.choice(T, 6, replace=False)
                x[h][:, cols] += 5.0  # a few content tokens
        x[:, upper] = -np.inf
        x -= x.max(-1, keepdims=True)
        np.exp(x, out=x)
        x /= x.sum(-1, keepdims=True)
        out[layer] = x
    return out


def llm_scale(latency: float, browser: bool) -> None:
    """30 layers x 9 heads x 1,024 tokens: initial state size, head switches (Python and slider), the overview."""
    L, H, T = 30, 9, 1024
    t0 = time.perf_counter()
    weights = llm_maps(L, H, T)
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    w = xw.AttentionView(weights, layer=L // 2, head=0)
    t_build = time.perf_counter() - t0
    b = display_bytes(w)
    state = b["state_json"] + b["buffers"]
    print(f"{L} layers x {H} heads x {T} tokens, causal ({weights.nbytes / 2**30:.2f} GiB float32, generated in {t_gen:.1f} s); "
          f"widget built in {t_build:.2f} s")
    print(f"  initial state: JSON {b['state_json']:,} B + buffers {b['buffers']:,} B (_head {len(w._head):,} B, "
          f"_thumbs {len(w._thumbs):,} B = {w._thumbs_meta['shape']}, _mask {len(w._mask):,} B) = {state:,} B "
          f"-> {state / STATE_TARGET:.2f}x the {STATE_TARGET:,} B target; with the JS bundle ({b['bundle']:,} B) "
          f"{b['total']:,} B = {b['total'] / STATE_TARGET:.2f}x")
    if not browser:
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        br = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        for mode in ("hit", "miss"):
            w = xw.AttentionView(weights, layer=L // 2, head=0)
            tmp = Path(tempfile.mkdtemp(prefix="xw-attn-llm-"))
            write_site(tmp, w, weights, latency, answer=(mode == "hit"), lazy=True)
            srv = serve(tmp, w)
            page = br.new_page(viewport={"width": 1200, "height": 1400})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            t0 = time.perf_counter()
            page.goto(f"http://127.0.0.1:{srv.server_address[1]}/index.html")
            page.wait_for_function("window.done === true && window.root && window.root.dataset.xwReady === '1'", timeout=120_000)
            t_first = time.perf_counter() - t0
            l0 = L // 2
            # from the slider: heads of one layer in a jumpy order, then a step to each neighbouring layer
            # (prefetched too); from Python: another layer, whose heads the slider runs did not bring
            plans = {"slider": ("switchTo", (l0, 0), [(l0, h) for h in (3, 7, 1, 8, -1, 5, 2, 6)] + [(l0 + 1, 6), (l0, 6)]),
                     "python": ("setFromPython", (l0 - 3, 0), [(l0 - 3, h) for h in (4, 8, -1, 2, 7, 1, 5, 3, 6)] + [(l0 - 4, 6)])}
            for how, (fn, start, seq) in plans.items():
                before = 0 if how == "slider" else int(page.evaluate("window.root.dataset.xwCache").split("/")[2])
                page.evaluate(f"([l, h]) => window.{fn}(l, h)", list(start))
                if mode == "hit":  # the layer's heads and mean, and this head in the layers either side (none cached before)
                    page.wait_for_function(f"Number(window.root.dataset.xwCache.split('/')[2]) >= {before + H + 1 + 2}",
                                           timeout=120_000)
                times, draws = [], []
                for layer, h in seq:
                    times.append(page.evaluate(f"([l, h]) => window.{fn}(l, h)", [layer, h]))
                    draws.append(float(page.evaluate("window.root.dataset.xwDrawMs")))  # the view's own drawing
                drawn = [t["drawn"] for t in times]
                painted = [t["painted"] for t in times]
                med = statistics.median(drawn)
                print(f"  head switch from {how} (prefetch {'answered' if mode == 'hit' else 'ignored: every switch waits for the kernel push'}, "
                      f"latency {latency:g} ms): median drawn {med:.1f} ms (min {min(drawn):.1f}, max {max(drawn):.1f}) "
                      f"-> {med / SWITCH_TARGET:.2f}x the {SWITCH_TARGET:g} ms target; median painted {statistics.median(painted):.1f} ms; "
                      f"of which drawing the new head {statistics.median(draws):.1f} ms")
            cache = page.evaluate("window.root.dataset.xwCache")
            draw_ms = page.evaluate("window.root.dataset.xwDrawMs")
            print(f"    first draw {t_first:.2f} s after page load; last redraw {draw_ms} ms; cache hits/misses/entries/bytes {cache}; "
                  f"page errors {errors}")
            if mode == "hit":
                # the overview: every layer x head as thumbnails, one picture for the record
                page.evaluate("() => { window.model.set('view', 'overview'); }")
                page.wait_for_timeout(300)
                ov = page.locator("canvas.xw-overview")
                g = json.loads(ov.get_attribute("data-xw-geom"))
                box = ov.bounding_box()
                shot = ROOT / "test-artifacts" / "attention_view_llm_overview.png"
                shot.parent.mkdir(exist_ok=True)
                ov.screenshot(path=str(shot))
                print(f"    overview: {g['rows']} layers x {g['cols']} columns (mean + {g['cols'] - 1} heads), thumbnails "
                      f"{g['cs']} px, canvas {box['width']:.0f}x{box['height']:.0f} px; picture {shot.relative_to(ROOT)}")
            page.close()
            srv.shutdown()
        br.close()


def main() -> None:
    if "--llm" in sys.argv:  # only the LLM-scale case
        latency = float(sys.argv[sys.argv.index("--latency") + 1]) if "--latency" in sys.argv else 0.0
        return llm_scale(latency, "--no-browser" not in sys.argv)
    latency = float(sys.argv[sys.argv.index("--latency") + 1]) if "--latency" in sys.argv else 0.0
    t0 = time.perf_counter()
    weights = synthetic()
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    w = xw.AttentionView(weights)
    t_build = time.perf_counter() - t0
    b = display_bytes(w)
    print(f"12 layers x 12 heads x 512 tokens (synthetic, generated in {t_gen:.1f} s); widget built in {t_build * 1000:.0f} ms")
    print(f"  state JSON {b['state_json']:,} B + binary buffers {b['buffers']:,} B "
          f"(_head {len(w._head):,} B uint8, _thumbs {len(w._thumbs):,} B = {w._thumbs_meta['shape']}) "
          f"+ JS bundle {b['bundle']:,} B = {b['total']:,} B  ({'OK' if b['total'] <= 1_000_000 else 'OVER'} vs 1,000,000 B)")
    if "--no-browser" not in sys.argv:
        browser_runs(weights, latency)
    llm_scale(latency, "--no-browser" not in sys.argv)


if __name__ == "__main__":
    main()
