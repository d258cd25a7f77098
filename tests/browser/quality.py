"""Measured view quality in the browser: text contrast, horizontal overflow, themes, output widths.

``QUALITY_SCRIPT`` is installed in every page (beside the harness's own init
script). It wraps ``CanvasRenderingContext2D.fillText`` so each text drawn
into a canvas is recorded with the pixels behind it (read just before the
glyphs land) and its fill colour; DOM text is measured from computed styles,
compositing ancestor backgrounds until one is opaque. Contrast follows WCAG
2.x: (L1 + 0.05) / (L2 + 0.05) with relative luminance from sRGB.

Used by the browser tests through :func:`contrast_failures`,
:func:`overflow_report`, :func:`set_output_width` and :func:`set_theme`.
"""
from __future__ import annotations

import time
from typing import Any

MIN_CONTRAST = 4.5

QUALITY_SCRIPT = r"""
(() => {
  const Q = (window.__xwq = { seq: 0 });
  const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
  const lum = (rgb) => 0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2]);
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const over = (top, a, under) => [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a));
  Q.ratio = ratio;
  function parse(s) {
    if (!s) return null;
    s = String(s).trim();
    let m = s.match(/^rgba?\(\s*([\d.]+)[ ,]+([\d.]+)[ ,]+([\d.]+)(?:\s*[,/]\s*([\d.]+%?))?\s*\)$/);
    if (m) {
      let a = m[4] === undefined ? 1 : m[4].endsWith('%') ? parseFloat(m[4]) / 100 : parseFloat(m[4]);
      return [Number(m[1]), Number(m[2]), Number(m[3]), a];
    }
    m = s.match(/^#([0-9a-f]{6})([0-9a-f]{2})?$/i);
    if (m) return [0, 2, 4].map((i) => parseInt(m[1].slice(i, i + 2), 16)).concat([m[2] ? parseInt(m[2], 16) / 255 : 1]);
    m = s.match(/^#([0-9a-f]{3})$/i);
    if (m) return [0, 1, 2].map((i) => parseInt(m[1][i] + m[1][i], 16) * 17 / 17).concat([1]);
    // anything else (named colours, color(srgb ...)): let a canvas resolve it
    const c = document.createElement('canvas').getContext('2d');
    c.fillStyle = '#000'; c.fillStyle = s;
    return c.fillStyle === s ? null : parse(c.fillStyle);
  }
  Q.parse = parse;
  // the opaque colour behind an element: its and its ancestors' backgrounds, composited
  function backdrop(el) {
    const layers = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let base = [255, 255, 255];
    const root = parse(getComputedStyle(document.documentElement).backgroundColor);
    const body = document.body ? parse(getComputedStyle(document.body).backgroundColor) : null;
    if (body && body[3] > 0) base = over(body, body[3], base);
    else if (root && root[3] > 0) base = over(root, root[3], base);
    for (let i = layers.length - 1; i >= 0; i--) base = over(layers[i], layers[i][3], base);
    return base;
  }
  Q.backdrop = backdrop;
  function opacityUpTo(el) {
    let op = 1;
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) op *= Number(getComputedStyle(e).opacity || 1);
    return op;
  }
  function visible(el) {
    const cs = getComputedStyle(el);
    if (cs.visibility === 'hidden' || cs.display === 'none') return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && el.getClientRects().length > 0;
  }
  Q.visible = visible;

  // ---- canvas text recorder
  const proto = CanvasRenderingContext2D.prototype;
  const fillText = proto.fillText;
  proto.fillText = function (text, x, y, maxWidth) {
    let rec = null;
    try {
      const str = String(text);
      const canvas = this.canvas;
      if (str.trim() && canvas && canvas.width && canvas.height) {
        const m = this.measureText(str);
        let x0 = x - m.actualBoundingBoxLeft, x1 = x + m.actualBoundingBoxRight;
        if (maxWidth !== undefined && x1 - x0 > maxWidth) x1 = x0 + maxWidth;
        const y0 = y - m.actualBoundingBoxAscent, y1 = y + m.actualBoundingBoxDescent;
        const t = this.getTransform();
        const xs = [x0, x1], ys = [y0, y1], px = [], py = [];
        for (const a of xs) for (const b of ys) { px.push(t.a * a + t.c * b + t.e); py.push(t.b * a + t.d * b + t.f); }
        const bx0 = Math.floor(Math.min(...px)), bx1 = Math.ceil(Math.max(...px));
        const by0 = Math.floor(Math.min(...py)), by1 = Math.ceil(Math.max(...py));
        const cx0 = Math.max(0, bx0), cy0 = Math.max(0, by0);
        const cx1 = Math.min(canvas.width, bx1), cy1 = Math.min(canvas.height, by1);
        rec = { text: str, fill: String(this.fillStyle), alpha: this.globalAlpha, seq: ++Q.seq,
                box: [bx0, by0, bx1, by1], size: [canvas.width, canvas.height],
                clipped: bx0 < -1 || by0 < -1 || bx1 > canvas.width + 1 || by1 > canvas.height + 1 };
        if (cx1 > cx0 && cy1 > cy0) {
          rec.before = this.getImageData(cx0, cy0, cx1 - cx0, cy1 - cy0).data;
          rec.area = [cx0, cy0, cx1 - cx0, cy1 - cy0];
        }
      }
    } catch (e) { rec = null; }
    const out = fillText.apply(this, arguments);
    if (rec) {
      try {
        if (rec.area) {
          const [ax, ay, aw, ah] = rec.area;
          const after = this.getImageData(ax, ay, aw, ah).data;
          // pixels behind the glyphs: those the text changed
          const bg = [], n = after.length / 4;
          for (let i = 0; i < n; i++) {
            const k = 4 * i;
            if (Math.abs(after[k] - rec.before[k]) + Math.abs(after[k + 1] - rec.before[k + 1])
                + Math.abs(after[k + 2] - rec.before[k + 2]) + Math.abs(after[k + 3] - rec.before[k + 3]) > 24)
              bg.push([rec.before[k], rec.before[k + 1], rec.before[k + 2], rec.before[k + 3] / 255]);
          }
          rec.bg = bg;
        }
        delete rec.before;
        const c = this.canvas;
        (c.__xwTexts || (c.__xwTexts = [])).push(rec);
        if (c.__xwTexts.length > 2000) c.__xwTexts.splice(0, 1000);
      } catch (e) {}
    }
    return out;
  };
  // a full clear starts a new frame: texts drawn before it are gone
  const clearRect = proto.clearRect;
  proto.clearRect = function (x, y, w, h) {
    try {
      const c = this.canvas, t = this.getTransform();
      if (c && t.a * x + t.e <= 0 && t.d * y + t.f <= 0 && t.a * (x + w) + t.e >= c.width && t.d * (y + h) + t.f >= c.height)
        c.__xwTexts = [];
    } catch (e) {}
    return clearRect.apply(this, arguments);
  };
  const widthDesc = Object.getOwnPropertyDescriptor(HTMLCanvasElement.prototype, 'width');
  const heightDesc = Object.getOwnPropertyDescriptor(HTMLCanvasElement.prototype, 'height');
  for (const [name, d] of [['width', widthDesc], ['height', heightDesc]]) {
    Object.defineProperty(HTMLCanvasElement.prototype, name, {
      configurable: true, enumerable: d.enumerable, get: d.get,
      set(v) { this.__xwTexts = []; d.set.call(this, v); },
    });
  }

  function median(vals) { const s = vals.slice().sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : NaN; }

  Q.contrast = (rootSel, minRatio) => {
    const fails = [], seen = new Set();
    let checked = 0;
    for (const root of document.querySelectorAll(rootSel)) {
      // DOM text
      const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const el = node.parentElement;
        if (!el || !node.textContent.trim() || seen.has(el) || el.closest('option, script, style')) continue;
        seen.add(el);
        if (!visible(el)) continue;
        const fg = parse(getComputedStyle(el).color);
        if (!fg) continue;
        const bg = backdrop(el);
        const ink = over(fg, fg[3] * opacityUpTo(el), bg);
        const r = ratio(ink, bg);
        checked++;
        if (r < minRatio) fails.push(`DOM <${el.tagName.toLowerCase()} class="${el.className}"> "${node.textContent.trim().slice(0, 40)}": ${r.toFixed(2)} (text ${ink.map(Math.round)}, background ${bg.map(Math.round)})`);
      }
      for (const el of root.querySelectorAll('select')) {
        if (!visible(el) || !el.selectedOptions.length) continue;
        const fg = parse(getComputedStyle(el).color), bg = backdrop(el);
        const r = ratio(over(fg, fg[3] * opacityUpTo(el), bg), bg);
        checked++;
        if (r < minRatio) fails.push(`DOM <select class="${el.className}"> "${el.selectedOptions[0].textContent}": ${r.toFixed(2)}`);
      }
      // canvas text: each record of the current frame
      for (const c of root.querySelectorAll('canvas')) {
        if (!visible(c)) continue;
        const under = backdrop(c);
        for (const rec of c.__xwTexts || []) {
          const fill = parse(rec.fill);
          if (!fill || !rec.bg || !rec.bg.length) continue;
          const rs = rec.bg.map((b) => {
            const behind = over(b, b[3], under);
            return ratio(over(fill, fill[3] * rec.alpha, behind), behind);
          });
          const r = median(rs);
          checked++;
          if (r < minRatio) fails.push(`canvas "${rec.text.slice(0, 40)}": ${r.toFixed(2)} (fill ${rec.fill}, alpha ${rec.alpha})`);
        }
      }
    }
    return { checked, fails };
  };

  Q.overflow = (rootSel) => {
    const out = [];
    for (const root of document.querySelectorAll(rootSel)) {
      const host = root.parentElement || root;
      const rr = host.getBoundingClientRect();
      const own = root.getBoundingClientRect();
      if (own.right > rr.right + 1 || own.left < rr.left - 1)
        out.push(`root ${own.width.toFixed(0)} px wide in a ${rr.width.toFixed(0)} px output`);
      if (root.scrollWidth > root.clientWidth + 1)
        out.push(`root scrolls horizontally: scrollWidth ${root.scrollWidth} > clientWidth ${root.clientWidth}`);
      for (const el of root.querySelectorAll('*')) {
        if (!visible(el)) continue;
        // inside a deliberate scroll container the user can reach it; hidden overflow clips it
        let scroller = null;
        for (let e = el.parentElement; e && e !== root; e = e.parentElement) {
          const ox = getComputedStyle(e).overflowX;
          if (ox === 'auto' || ox === 'scroll') { scroller = e; break; }
        }
        if (scroller) continue;
        const r = el.getBoundingClientRect();
        if (r.right > own.right + 1 || r.left < own.left - 1)
          out.push(`<${el.tagName.toLowerCase()} class="${el.className && el.className.baseVal === undefined ? el.className : ''}"> spans ${r.left.toFixed(0)}..${r.right.toFixed(0)} outside the root ${own.left.toFixed(0)}..${own.right.toFixed(0)}`);
      }
      for (const c of root.querySelectorAll('canvas')) {
        if (!visible(c)) continue;
        for (const rec of c.__xwTexts || []) if (rec.clipped) out.push(`canvas text "${rec.text.slice(0, 40)}" is cut at the canvas edge (box ${rec.box}, canvas ${rec.size})`);
      }
    }
    return out;
  };

  Q.setWidth = (rootSel, px) => {
    const roots = Array.from(document.querySelectorAll(rootSel));
    for (const root of roots) {
      const host = root.closest('.jp-OutputArea-output') || root.parentElement;
      if (!host) continue;
      host.style.flex = '0 0 auto';
      host.style.width = px + 'px';
      host.style.maxWidth = px + 'px';
      host.style.minWidth = '0';
    }
    return roots.length;
  };
})();
"""


def contrast_failures(page: Any, root_selector: str, min_ratio: float = MIN_CONTRAST) -> list[str]:
    """Texts (DOM and canvas) inside ``root_selector`` with contrast below ``min_ratio``.

    Asserts that some text was measured at all, so a probe that finds nothing cannot pass.
    """
    r = page.evaluate("([s, m]) => window.__xwq.contrast(s, m)", [root_selector, min_ratio])
    assert r["checked"] > 0, f"no text found to measure under {root_selector!r}"
    return r["fails"]


def overflow_report(page: Any, root_selector: str) -> list[str]:
    """What overflows the output horizontally or is cut at a canvas edge, under ``root_selector``."""
    return page.evaluate("s => window.__xwq.overflow(s)", root_selector)


def set_output_width(page: Any, root_selector: str, px: int, settle_ms: int = 400) -> None:
    """Make the output area holding each widget root ``px`` CSS pixels wide (a side panel, a split view)."""
    n = page.evaluate("([s, w]) => window.__xwq.setWidth(s, w)", [root_selector, px])
    assert n, f"no widget root {root_selector!r} to resize"
    # let ResizeObservers fire and the views redraw
    page.wait_for_timeout(settle_ms)


THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}


def set_theme(page: Any, theme: str, timeout: float = 20) -> None:
    """Switch JupyterLab / Notebook 7 to its light or dark theme and wait until it applies.

    The choice is saved in the (per-session, isolated) user settings; the
    ``new_page`` fixture puts the light theme back after each test.
    """
    if theme not in THEMES:
        raise ValueError(f"theme must be one of {list(THEMES)}, got {theme!r}")
    page._xw_theme_changed = True  # noqa: SLF001 - read by the fixture teardown
    page.evaluate("t => window.jupyterapp.commands.execute('apputils:change-theme', { theme: t })", THEMES[theme])
    want = "true" if theme == "light" else "false"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.evaluate("() => document.body.dataset.jpThemeLight") == want:
            page.wait_for_timeout(300)
            return
        time.sleep(0.1)
    raise AssertionError(f"JupyterLab did not switch to the {theme} theme within {timeout}s")


def open_offline(browser: Any, path: Any, *, width: int = 1200, timeout_ms: int = 30_000) -> tuple[Any, list[str], list[str]]:
    """Open a saved HTML file in a fresh context with every request but the file itself refused.

    Returns ``(page, requests, page_errors)``; ``requests`` lists every URL the
    page asked for besides the file (data: and blob: URLs are in-page, not requests).
    """
    from pathlib import Path as _Path

    url = _Path(path).resolve().as_uri()
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    ctx.set_default_timeout(timeout_ms)
    ctx.add_init_script(QUALITY_SCRIPT)
    requests: list[str] = []
    errors: list[str] = []

    def route(r):
        if r.request.url == url:
            return r.continue_()
        requests.append(r.request.url)
        return r.abort()

    ctx.route("**/*", route)
    page = ctx.new_page()
    page.on("request", lambda req: None if req.url == url or req.url.startswith(("data:", "blob:")) or req.url in requests
            else requests.append(req.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return page, requests, errors
