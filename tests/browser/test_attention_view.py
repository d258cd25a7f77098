"""AttentionView in a real JupyterLab and in a saved page.

JupyterLab: draws, sliders sync both ways, tokens pin, text stays text; every
text readable (>= 4.5:1) in the light and dark themes; 400/700/1000 px output
widths without horizontal overflow; overview rows named by layer index.
Saved page (save_html): no request, draws, reacts to the head slider, and a
head left out by the size budget is named in the view instead of a spinner.
"""
from __future__ import annotations

import json

import numpy as np

import browser_harness as bh

ROOT = ".xw-attention-view"


def click_overview(page, canvas, layer: int, head: int) -> None:
    """Click the overview thumbnail of (layer, head); head -1 is the mean column."""
    g = json.loads(canvas.get_attribute("data-xw-geom"))
    box = canvas.bounding_box()
    x = box["x"] + g["left"] + (head + 1) * (g["cs"] + g["gap"]) + g["cs"] / 2
    y = box["y"] + g["top"] + layer * (g["cs"] + g["gap"]) + g["cs"] / 2
    page.mouse.click(x, y)

TOKENS = ["[CLS]", "the", '<img src=x onerror="window.__xss=1">', "cat", "<b>sat</b>", "on", "&amp;", "mat", "[SEP]"]

SETUP = f'''
import numpy as np
import xai_widgets as xw
rng = np.random.default_rng(0)
L, H, T = 3, 4, {len(TOKENS)}
x = rng.normal(size=(L, H, T, T)) * 2.5
x[:, 1] += 4 * np.eye(T)          # head 1: diagonal
x[:, 2, :, 0] += 5                # head 2: attends to [CLS]
e = np.exp(x - x.max(-1, keepdims=True))
attn = (e / e.sum(-1, keepdims=True)).astype(np.float32)
tokens = {TOKENS!r}
w = xw.AttentionView(attn, tokens, extra={{"rollout": attn.mean(1, keepdims=True)}})
w
'''


def test_attention_view_in_jupyterlab(open_notebook):
    nb = open_notebook("attention", [SETUP], ui="lab")
    nb.run_all_and_wait(timeout=90)
    (root,) = nb.wait_ready(".xw-attention-view", count=1)

    for sel in ("input.xw-layer[type=range]", "input.xw-head[type=range]", "select.xw-source", "select.xw-view",
                "canvas.xw-matrix", "canvas.xw-overview", "input.xw-search", "button.xw-download", ".xw-tooltip"):
        assert root.locator(sel).count() >= 1, f"missing {sel}"
    head = root.locator("input.xw-head")
    assert head.get_attribute("min") == "-1" and head.get_attribute("max") == "3"
    assert root.locator("select.xw-source option").all_text_contents() == ["attention", "rollout"]

    # draws: non-blank matrix
    matrix = root.locator("canvas.xw-matrix")
    s0 = nb.snapshot(matrix)
    assert s0.distinct_colours >= 16, f"only {s0.distinct_colours} colours: blank matrix?"

    # head slider -> canvas changes and Python sees it
    bh.set_range_value(head, 2)
    assert nb.wait_py("w.head", lambda v: v == 2) == 2
    s1 = nb.wait_pixels_change(matrix, s0, min_fraction=0.02)
    assert bh.changed_fraction(s0, s1) > 0.02
    bh.set_range_value(head, -1)
    assert nb.wait_py("w.head", lambda v: v == -1) == -1

    # Python -> layer redraws and moves the slider
    s2 = nb.snapshot(matrix)
    nb.kernel_exec("w.layer = 2")
    layer = root.locator("input.xw-layer")
    nb.page.wait_for_function("el => el.value === '2'", arg=layer.element_handle(), timeout=10_000)
    s3 = nb.wait_pixels_change(matrix, s2, min_fraction=0.02)
    assert bh.changed_fraction(s2, s3) > 0.02
    nb.page.wait_for_function("el => el.getAttribute('data-xw-drawn') === 'attention|0|2|-1'",
                              arg=root.element_handle(), timeout=10_000)

    # hover readout
    box = matrix.bounding_box()
    nb.page.mouse.move(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.75)
    tip = root.locator(".xw-tooltip")
    tip.wait_for(state="visible", timeout=5_000)
    assert "weight" in tip.text_content()

    # source select -> Python
    root.locator("select.xw-source").select_option("rollout")
    assert nb.wait_py("w.source", lambda v: v == "rollout") == "rollout"
    assert nb.wait_py("(w.head, w._head_meta['source'])", lambda v: v == [-1, "rollout"]) == [-1, "rollout"]
    root.locator("select.xw-source").select_option("attention")
    assert nb.wait_py("w.source", lambda v: v == "attention") == "attention"

    # token view: text is text, clicking a query token pins it
    root.locator("select.xw-view").select_option("tokens")
    assert nb.wait_py("w.view", lambda v: v == "tokens") == "tokens"
    q = root.locator(".xw-token.xw-query")
    q.first.wait_for(state="visible", timeout=5_000)
    assert q.all_text_contents() == TOKENS
    assert root.locator(".xw-token.xw-key").all_text_contents() == TOKENS
    assert root.locator(".xw-token *").count() == 0, "markup inside a token"
    assert root.locator("img, script").count() == 0
    nb.page.wait_for_timeout(300)
    assert nb.page.evaluate("() => typeof window.__xss") == "undefined"
    assert int(root.locator("canvas.xw-lines").get_attribute("data-lines")) > 0
    q.nth(3).click()
    assert nb.wait_py("w.token", lambda v: v == 3) == 3
    assert root.locator(".xw-token.xw-query.xw-pinned").count() == 1
    q.nth(3).click()
    assert nb.wait_py("w.token", lambda v: v is None) is None

    # overview: click a thumbnail -> layer/head
    root.locator("select.xw-view").select_option("overview")
    ov = root.locator("canvas.xw-overview")
    ov.wait_for(state="visible", timeout=5_000)
    assert nb.snapshot(ov).distinct_colours >= 16
    click_overview(nb.page, ov, layer=1, head=0)
    assert nb.wait_py("(w.layer, w.head)", lambda v: v == [1, 0]) == [1, 0]
    nb.assert_no_page_errors()


MINILM_LIKE = """
import numpy as np
import xai_widgets as xw
rng = np.random.default_rng(1)
L, H, T = 6, 12, 20
x = rng.normal(size=(L, H, T, T)) * 2.5
x[:, :, :, 0] += 2.0                      # a [CLS] sink, as in real models
e = np.exp(x - x.max(-1, keepdims=True))
attn = (e / e.sum(-1, keepdims=True)).astype(np.float32)
tokens = ["[CLS]"] + [f"tok{i}" for i in range(T - 2)] + ["[SEP]"]
maps = xw.AttentionMaps(attn, tokens=tokens, layer_names=[f"encoder.layer.{i}.attention.self" for i in range(L)])
w = xw.AttentionView(maps, extra={"rollout": attn.mean(1, keepdims=True), "gradient-weighted": attn[:, :1] ** 2})
w
"""

VIEWS = ("matrix", "tokens", "overview")


def _show(root, view: str) -> None:
    root.locator("select.xw-view").select_option(view)
    root.page.wait_for_function(
        "([el, v]) => el.querySelector('select.xw-view').value === v && el.getAttribute('data-xw-ready') === '1'",
        arg=[root.element_handle(), view], timeout=10_000)
    root.page.wait_for_timeout(250)


def _png_shares_a_row(root) -> bool:
    return root.evaluate("""el => {
        const t = el.querySelector('.xw-toolbar');
        const png = t.querySelector('.xw-download').getBoundingClientRect();
        const others = Array.from(t.querySelectorAll('.xw-control, .xw-search'))
            .filter((c) => c.getClientRects().length && getComputedStyle(c).display !== 'none');
        return others.some((c) => Math.abs(c.getBoundingClientRect().top - png.top) < 8);
    }""")


def test_contrast_themes_widths_and_overview_labels(open_notebook):
    nb = open_notebook("attention-quality", [MINILM_LIKE], ui="lab")
    nb.run_all_and_wait(timeout=90)
    (root,) = nb.wait_ready(ROOT, count=1)
    page = nb.page

    # overview rows: the layer index (module names differ only there), the full name on hover
    _show(root, "overview")
    ov = root.locator("canvas.xw-overview")
    texts = ov.evaluate("c => (c.__xwTexts || []).map((r) => r.text)")
    rows = [t for t in texts if t.startswith("L")]
    assert rows == [f"L{i}" for i in range(6)], texts
    assert not [t for t in texts if "encoder" in t or "…" in t], texts
    g = json.loads(ov.get_attribute("data-xw-geom"))
    box = ov.bounding_box()
    page.mouse.move(box["x"] + g["left"] + g["cs"] / 2, box["y"] + g["top"] + 3 * (g["cs"] + g["gap"]) + g["cs"] / 2)
    tip = root.locator(".xw-tooltip")
    tip.wait_for(state="visible", timeout=5_000)
    assert "L3 · encoder.layer.3.attention.self" in tip.text_content()
    page.mouse.move(0, 0)

    # a select with one option offers no choice: only the sample select is absent (one sample)
    assert root.locator("select.xw-sample").count() == 0
    assert root.locator("select.xw-source").is_visible()

    for theme in ("light", "dark"):
        if theme == "dark":
            bh.set_theme(page, "dark")
            # nothing else changed: the canvases must redraw for the theme by themselves
            fails = bh.contrast_failures(page, ROOT)
            assert fails == [], "right after the switch to the dark theme:\n" + "\n".join(fails)
        for px in (400, 700, 1000):
            bh.set_output_width(page, ROOT, px)
            for view in VIEWS:
                _show(root, view)
                where = f"{theme} theme, {px} px, {view} view"
                problems = bh.overflow_report(page, ROOT)
                assert problems == [], f"{where}:\n" + "\n".join(problems)
                fails = bh.contrast_failures(page, ROOT)
                assert fails == [], f"{where}:\n" + "\n".join(fails)
            assert root.evaluate("el => el.getBoundingClientRect().width") <= px + 1
        # states that bring their own colours: a hovered token tints the other column by its weights,
        # a search match is drawn in the match colour, large cells carry their weight in black or white
        bh.set_output_width(page, ROOT, 1000)
        _show(root, "tokens")
        root.locator(".xw-token.xw-key").first.hover()
        page.wait_for_timeout(200)
        assert root.locator(".xw-token.xw-query[style*='background']").count() > 0
        fails = bh.contrast_failures(page, ROOT)
        assert fails == [], f"{theme} theme, hovered token:\n" + "\n".join(fails)
        page.mouse.move(0, 0)
        _show(root, "matrix")
        root.locator("input.xw-search").fill("tok1")
        page.wait_for_timeout(300)
        texts = root.locator("canvas.xw-matrix").evaluate("c => (c.__xwTexts || []).map((r) => [r.text, r.fill])")
        cells = [t for t, fill in texts if t.startswith(".") or t in ("0", "1")]
        assert len(cells) > 50, "cell weights are not drawn in large cells"
        assert {fill for t, fill in texts if t.startswith(".")} <= {"#000000", "#ffffff"}
        fails = bh.contrast_failures(page, ROOT)
        assert fails == [], f"{theme} theme, search matches and cell weights:\n" + "\n".join(fails)
        root.locator("input.xw-search").fill("")

        # 968 px: the toolbar does not push the PNG button onto a line of its own
        bh.set_output_width(page, ROOT, 968)
        assert _png_shares_a_row(root), f"{theme}: PNG button alone on a toolbar line at 968 px"
    nb.assert_no_page_errors()


# ------------------------------------------------------------------ saved page
def _saved(tmp_path, name: str, max_bytes: int | None = None):
    import xai_widgets as xw

    rng = np.random.default_rng(5)
    L, H, T = 3, 4, 12
    x = rng.normal(size=(L, H, T, T)) * 2.0
    for h in range(H):  # heads that look different: each attends h+1 tokens back
        x[:, h] += 6 * np.eye(T, k=-(h + 1))
    e = np.exp(x - x.max(-1, keepdims=True))
    attn = (e / e.sum(-1, keepdims=True)).astype(np.float32)
    w = xw.AttentionView(attn, [f"w{i}" for i in range(T)], layer=0, head=0)
    kw = {} if max_bytes is None else {"max_bytes": max_bytes}
    return w.save_html(tmp_path / name, **kw), T


def _canvas_digest(page) -> dict:
    return page.evaluate("""() => {
        const c = document.querySelector('.xw-attention-view canvas.xw-matrix');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const seen = new Set();
        let h = 0;
        for (let i = 0; i < d.length; i += 4) {
            const v = (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
            if (seen.size < 5000) seen.add(v);
            h = (h * 31 + v + d[i + 3]) >>> 0;
        }
        return { colours: seen.size, hash: h };
    }""")


def _set_range(page, selector: str, value: int) -> None:
    page.locator(selector).evaluate(
        "(el, v) => { el.value = String(v); el.dispatchEvent(new Event('input', { bubbles: true })); }", value)


def test_save_html_offline_draws_switches_heads_and_names_missing_ones(browser, tmp_path):
    import quality

    path, T = _saved(tmp_path, "attention.html")
    page, requests, errors = quality.open_offline(browser, path)
    try:
        page.wait_for_selector(f"{ROOT}[data-xw-ready='1']", timeout=20_000)
        root = page.locator(ROOT)
        d0 = _canvas_digest(page)
        assert d0["colours"] >= 16, f"blank matrix: {d0}"
        assert root.get_attribute("data-xw-drawn") == "attention|0|0|0"
        assert root.locator(".xw-embed-note").count() == 0  # every head is in the file
        _set_range(page, "input.xw-head", 2)
        page.wait_for_function(f"() => document.querySelector('{ROOT}').getAttribute('data-xw-drawn') === 'attention|0|0|2'",
                               timeout=10_000)
        d1 = _canvas_digest(page)
        assert d1["hash"] != d0["hash"] and d1["colours"] >= 16
        _set_range(page, "input.xw-layer", 2)
        _set_range(page, "input.xw-head", -1)
        page.wait_for_function(f"() => document.querySelector('{ROOT}').getAttribute('data-xw-drawn') === 'attention|0|2|-1'",
                               timeout=10_000)
        assert _canvas_digest(page)["hash"] not in (d0["hash"], d1["hash"])
        page.wait_for_timeout(200)
        assert requests == [], f"the saved page asked for {requests}"
        assert errors == []
    finally:
        page.context.close()

    # a budget of 3 heads (12 x 12 uint8 = 144 bytes each): the shown head and its two nearest
    path, _ = _saved(tmp_path, "attention-small.html", max_bytes=3 * T * T)
    page, requests, errors = quality.open_offline(browser, path)
    try:
        page.wait_for_selector(f"{ROOT}[data-xw-ready='1']", timeout=20_000)
        root = page.locator(ROOT)
        note = root.locator(".xw-embed-note")
        assert note.text_content().startswith("12 of 15 heads are not in this file (size budget")
        _set_range(page, "input.xw-head", 1)  # the nearest: in the file
        page.wait_for_function(f"() => document.querySelector('{ROOT}').getAttribute('data-xw-drawn') === 'attention|0|0|1'",
                               timeout=10_000)
        _set_range(page, "input.xw-layer", 2)
        _set_range(page, "input.xw-head", 3)
        page.wait_for_function(f"() => document.querySelector('{ROOT}').getAttribute('data-xw-missing') === 'attention|0|2|3'",
                               timeout=10_000)
        msg = root.locator(".xw-missing-note")
        assert msg.is_visible()
        assert msg.text_content() == ("Head 3 of layer 2 is not in this file (size budget); "
                                      "re-export with save_html(..., max_bytes=...) to include it.")
        assert "xw-loading" not in (root.get_attribute("class") or "")
        assert not root.locator("canvas.xw-matrix").is_visible()
        # back to a head in the file: drawn again
        _set_range(page, "input.xw-layer", 0)
        _set_range(page, "input.xw-head", 0)
        page.wait_for_function(f"() => document.querySelector('{ROOT}').getAttribute('data-xw-drawn') === 'attention|0|0|0'",
                               timeout=10_000)
        assert root.locator("canvas.xw-matrix").is_visible() and not msg.is_visible()
        assert requests == [] and errors == []
    finally:
        page.context.close()


LLM_LIKE = """
import numpy as np
import xai_widgets as xw
rng = np.random.default_rng(2)
L, H, T = 3, 4, 768
x = rng.normal(size=(L, H, T, T)).astype(np.float32)
x[:, :, :, 0] += 4.0                      # a sink on the first token
x[:, 1][:, np.arange(1, T), np.arange(T - 1)] += 6.0   # head 1: previous token
x[:, :, np.triu(np.ones((T, T), bool), 1)] = -np.inf
e = np.exp(x - x.max(-1, keepdims=True))
attn = (e / e.sum(-1, keepdims=True)).astype(np.float16)   # kept as float16 by the widget
w = xw.AttentionView(attn, [f"t{i}" for i in range(T)])
w
"""


def test_long_causal_maps_draw_masked_triangle_and_switch_heads(open_notebook):
    """768 causal tokens: the head travels as its lower triangle, the browser masks the rest; slider and Python switch heads."""
    nb = open_notebook("attention-llm", [LLM_LIKE], ui="lab")
    nb.run_all_and_wait(timeout=120)
    (root,) = nb.wait_ready(ROOT, count=1)
    assert nb.wait_py("(w.causal, w._head_meta.get('packed'), len(w._head), len(w._mask))",
                      lambda v: v is not None) == [True, "tril", 768 * 769 // 2, 0]
    matrix = root.locator("canvas.xw-matrix")

    def colour(snap, g, fk, fq):
        """Backing-store pixel at fraction (fk across keys, fq down queries) of the plot."""
        box = snap.rect
        x, y = snap.css_to_px(box["x"] + g["left"] + fk * g["w"], box["y"] + g["top"] + fq * g["h"])
        return snap.pixels[y, x, :3].astype(int)

    s0 = nb.snapshot(matrix)
    g = json.loads(matrix.get_attribute("data-xw-geom"))
    hatch = [np.array([214, 216, 220]), np.array([238, 239, 242])]  # light theme's masked-cell greys
    upper = colour(s0, g, 0.9, 0.2)
    assert min(np.abs(upper - c).max() for c in hatch) <= 2, f"upper triangle not hatched: {upper}"
    lower = colour(s0, g, 0.3, 0.8)
    assert min(np.abs(lower - c).max() for c in hatch) > 20, f"lower triangle looks masked: {lower}"

    # slider: head 1 (previous token) is drawn; the time from input to drawn is recorded
    bh.set_range_value(root.locator("input.xw-head"), 1)
    nb.page.wait_for_function("el => el.getAttribute('data-xw-drawn') === 'attention|0|0|1'",
                              arg=root.element_handle(), timeout=15_000)
    assert nb.wait_py("w.head", lambda v: v == 1) == 1
    assert float(root.get_attribute("data-xw-switch-ms")) < 5_000
    # Python: another layer's mean
    nb.kernel_exec("w.layer, w.head = 2, -1")
    nb.page.wait_for_function("el => el.getAttribute('data-xw-drawn') === 'attention|0|2|-1'",
                              arg=root.element_handle(), timeout=15_000)
    s1 = nb.snapshot(matrix)
    assert min(np.abs(colour(s1, g, 0.9, 0.2) - c).max() for c in hatch) <= 2

    # overview: 3 x 5 thumbnails, masked blocks hatched, others coloured
    root.locator("select.xw-view").select_option("overview")
    ov = root.locator("canvas.xw-overview")
    ov.wait_for(state="visible", timeout=5_000)
    assert nb.snapshot(ov).distinct_colours >= 16
    nb.assert_no_page_errors()
