"""Render AttentionView in headless Chromium (fake model) in light and dark; screenshots to look at.

Usage (repo root, after `make js`):  .venv/bin/python js/dev/attention_check.py [outdir]
Writes attention-{light,dark}.png (matrix with hover, token view with a
hovered token, overview, ViT patch map, causal + zoomed long sequence) and
prints page errors.
"""
from __future__ import annotations

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
sys.path.insert(0, str(Path(__file__).parent))
import xai_widgets as xw  # noqa: E402
from render_check import HTML, state_of  # noqa: E402


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def widgets():
    rng = np.random.default_rng(0)
    toks = ["[CLS]", "the", "cat", "sat", "on", "the", "mat", ",", "purr", "##ing", "happily", "<img src=x onerror=alert(1)>",
            "while", "the", "dog", "watched", "[SEP]"]
    T = len(toks)
    L, H = 6, 8
    x = rng.normal(size=(L, H, T, T)) * 1.2
    for h in range(H):
        x[:, h] += 3.5 * np.eye(T, k=(h % 3) - 1)
    x[:, :, :, 0] += 1.5
    x[:, :, :, -1] += 1.0
    attn = softmax(x)
    rollout = attn.mean(1, keepdims=True)
    for i in range(1, L):
        rollout[i, 0] = rollout[i, 0] @ rollout[i - 1, 0]
    a = xw.AttentionView(attn, toks, extra={"rollout": rollout}, layer=2, head=1)
    b = xw.AttentionView(attn, toks, view="tokens", layer=1, head=0)
    c = xw.AttentionView(attn, toks, view="overview", layer=3, head=5)
    # ViT: 1 class token + 8x8 patches over a photo
    try:
        img = np.asarray(xw.demo.load_image("chelsea"))
    except Exception:  # noqa: BLE001
        img = (rng.random((224, 224, 3)) * 255).astype(np.uint8)
    g = 8
    yy, xx = np.mgrid[:g, :g]
    cy, cx = 3, 5
    vx = rng.normal(size=(2, 4, 1 + g * g, 1 + g * g))
    for q in range(1 + g * g):
        qy, qx = ((q - 1) // g, (q - 1) % g) if q else (cy, cx)
        vx[:, :, q, 1:] += 3 * np.exp(-((yy - qy) ** 2 + (xx - qx) ** 2) / 4).ravel()
    d = xw.AttentionView(softmax(vx), ["[CLS]"] + [f"p{i}" for i in range(g * g)], image=img, token=0)
    # causal, long: 300 tokens
    T2 = 300
    words = (["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit"] * 40)[:T2]
    y = rng.normal(size=(2, 2, T2, T2)) + 3 * np.eye(T2, k=-1)
    y[..., 0] += 2
    y = np.where(np.tril(np.ones((T2, T2), bool)), y, -np.inf)
    e = xw.AttentionView(softmax(y), words)
    return [a, b, c, d, e]


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/xw-shots")
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="xw-attn-"))
    shutil.copy(ROOT / "xai_widgets" / "static" / "attention_view.js", tmp / "attention_view.js")
    (tmp / "states.json").write_text(json.dumps([{"bundle": "attention_view.js", "state": state_of(w)} for w in widgets()]))
    for theme in ("light", "dark"):
        (tmp / f"{theme}.html").write_text(HTML.replace("THEME", theme).replace("STATES", "states.json"))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        for theme in ("light", "dark"):
            page = browser.new_page(viewport={"width": 1000, "height": 1200}, device_scale_factor=1)
            errors, dialogs = [], []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(f"http://127.0.0.1:{srv.server_address[1]}/{theme}.html")
            page.wait_for_function("window.done === true")
            page.wait_for_function("document.querySelectorAll(\".xw-attention-view[data-xw-ready='1']\").length === 5")
            # long causal: search + zoom
            page.locator("#w4 input.xw-search").fill("elit")
            m4 = page.locator("#w4 canvas.xw-matrix")
            b4 = m4.bounding_box()
            page.mouse.move(b4["x"] + b4["width"] * 0.5, b4["y"] + b4["height"] * 0.6)
            page.mouse.wheel(0, -300)
            page.wait_for_timeout(100)
            # ViT: click a patch
            img = page.locator("#w3 canvas.xw-image")
            bi = img.bounding_box()
            page.mouse.click(bi["x"] + bi["width"] * 0.3, bi["y"] + bi["height"] * 0.7)
            tok3 = page.evaluate("window.models[3].get('token')")
            # token view hover
            page.locator("#w1 .xw-token.xw-query").nth(2).hover()
            # matrix hover (last, so its tooltip shows)
            m0 = page.locator("#w0 canvas.xw-matrix")
            m0.scroll_into_view_if_needed()
            b0 = m0.bounding_box()
            page.mouse.move(b0["x"] + b0["width"] * 0.55, b0["y"] + b0["height"] * 0.5)
            tip = page.locator("#w0 .xw-tooltip").text_content()
            xss = page.evaluate("document.querySelectorAll('.xw-attention-view img').length")
            page.screenshot(path=str(out / f"attention-{theme}.png"), full_page=True)
            with page.expect_download() as dl:
                page.locator("#w0 button.xw-download").click()
            print(theme, "| tooltip:", tip, "| vit token after click:", tok3, "| img elements:", xss,
                  "| download:", dl.value.suggested_filename, "| dialogs:", dialogs, "| errors:", errors)
            page.evaluate("window.cleanups.forEach((f) => f())")
            print(theme, "roots left after cleanup:", page.evaluate("document.querySelectorAll('.xw-root').length"))
            page.close()
        browser.close()
    srv.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
