"""ForcePlot in a real JupyterLab: single and stacked views draw, hover, click -> Python, Python -> marker, text is text."""
from __future__ import annotations

import numpy as np

import browser_harness as bh

EVIL = '<img src=x onerror="window.__xss=1">'
N = 400

SETUP = f'''
import numpy as np
import xai_widgets as xw
rng = np.random.default_rng(0)
names = ["age", {EVIL!r}, "bmi", "<b>bp</b>", "s1", "s2"]
row = np.array([[0.8, 2.5, -1.2, 0.4, -0.3, 0.05]])
single = xw.ForcePlot(xw.Attribution.from_array(row, rng.normal(size=(1, 6)), base_values=0.5, feature_names=names))
centers = rng.normal(size=(4, 8))
v = centers[rng.integers(0, 4, {N})] + rng.normal(size=({N}, 8)) * 0.1
stacked = xw.ForcePlot(xw.Attribution.from_array(v, base_values=1.0), index=0)
'''


def test_force_plot_single_and_stacked(open_notebook):
    nb = open_notebook("force", [SETUP, "single", "stacked"], ui="lab")
    nb.run_all_and_wait(timeout=120)
    r_single, r_stacked = nb.wait_ready(".xw-force-plot", count=2)
    assert r_single.get_attribute("data-mode") == "single"
    assert r_stacked.get_attribute("data-mode") == "stacked"
    for root in (r_single, r_stacked):
        for sel in ("canvas.xw-force-canvas", "select.xw-mode", "select.xw-order", "select.xw-y", "button.xw-download"):
            assert root.locator(sel).count() == 1, f"missing {sel}"

    # ---- single: drawn, labels are DOM text, HTML in names is inert
    snap = nb.snapshot(r_single.locator("canvas.xw-force-canvas"))
    assert snap.distinct_colours >= 16, f"only {snap.distinct_colours} colours"
    feats = r_single.locator(".xw-feature")
    texts = feats.all_text_contents()
    assert any(t.startswith(EVIL + " = ") for t in texts), texts
    assert any(t.startswith("<b>bp</b>") for t in texts), texts
    assert r_single.locator(".xw-feature *").count() == 0, "markup inside a label"
    assert nb.page.locator(".jp-OutputArea img[src='x'], .xw-force-plot b").count() == 0
    nb.page.wait_for_timeout(300)
    assert nb.page.evaluate("() => typeof window.__xss") == "undefined"
    # hover a label -> tooltip with the name; click -> feature in Python; click again -> None
    evil_label = r_single.locator(".xw-feature[data-feature='1']")
    evil_label.hover()
    tooltip = r_single.locator(".xw-tooltip")
    tooltip.wait_for(state="visible", timeout=5_000)
    assert EVIL in tooltip.text_content()
    assert r_single.locator(".xw-tooltip img").count() == 0
    assert nb.py("single.feature") is None
    evil_label.click()
    assert nb.wait_py("single.feature", lambda v: v == 1) == 1
    nb.page.wait_for_function("el => el.classList.contains('xw-selected')",
                              arg=r_single.locator(".xw-feature[data-feature='1']").element_handle(), timeout=5_000)
    # waterfall toggle from the mode select syncs and redraws
    before = nb.snapshot(r_single.locator("canvas.xw-force-canvas"))
    r_single.locator("select.xw-mode").select_option("waterfall")
    assert nb.wait_py("single.mode", lambda v: v == "waterfall") == "waterfall"
    after = nb.wait_pixels_change(r_single.locator("canvas.xw-force-canvas"), before)
    assert bh.changed_fraction(before, after) > 0.05
    assert r_single.locator(".xw-feature").count() >= 6

    # ---- stacked: drawn on one canvas, hover -> tooltip, click -> index
    canvas = r_stacked.locator("canvas.xw-force-canvas")
    s0 = nb.snapshot(canvas)
    assert s0.distinct_colours >= 16, f"only {s0.distinct_colours} colours"
    assert r_stacked.locator(".xw-feature").count() == 0  # no per-sample DOM
    geo = canvas.evaluate("e => ({left: +e.dataset.plotLeft, top: +e.dataset.plotTop, width: +e.dataset.plotWidth, "
                          "height: +e.dataset.plotHeight, n: +e.dataset.samples})")
    assert geo["n"] == N
    order = nb.py("stacked.sample_order")
    assert sorted(order) == list(range(N))

    def column_point(k):
        box = canvas.bounding_box()
        return (box["x"] + geo["left"] + (k + 0.5) * geo["width"] / N, box["y"] + geo["top"] + geo["height"] * 0.5)

    canvas.evaluate("""el => el.addEventListener('click', e => {
        const r = el.getBoundingClientRect(); el.__xwClick = { x: e.clientX - r.left };
    }, { capture: true })""")
    for k in (37, 301):
        x, y = column_point(k)
        nb.page.mouse.move(x, y)
        tooltip = r_stacked.locator(".xw-tooltip")
        tooltip.wait_for(state="visible", timeout=5_000)
        nb.page.mouse.click(x, y)
        cx = canvas.evaluate("el => el.__xwClick.x")
        pos = min(N - 1, max(0, int((cx - geo["left"]) / geo["width"] * N)))
        assert abs(pos - k) <= 1
        expected = order[pos]
        assert f"sample {expected}" in tooltip.text_content()
        assert nb.wait_py("stacked.index", lambda v: v == expected) == expected

    # Python -> marker: pixels change around the new sample's column, not far from both
    before = nb.snapshot(canvas)
    target_pos = 150
    nb.kernel_exec(f"stacked.index = int(stacked.sample_order[{target_pos}])")
    after = nb.wait_pixels_change(canvas, before)
    box = canvas.bounding_box()
    x_new, y_mid = before.css_to_px(box["x"] + geo["left"] + (target_pos + 0.5) * geo["width"] / N,
                                    box["y"] + geo["top"] + geo["height"] * 0.5)
    near = bh.changed_fraction(bh.region(before.pixels, x_new, y_mid, 3), bh.region(after.pixels, x_new, y_mid, 3))
    assert near > 0.1, "no marker drawn at the new index"
    x_far, _ = before.css_to_px(box["x"] + geo["left"] + (230.5) * geo["width"] / N, 0)
    assert bh.changed_fraction(bh.region(before.pixels, x_far, y_mid, 2), bh.region(after.pixels, x_far, y_mid, 2)) == 0

    # order and y selects sync to Python and redraw
    r_stacked.locator("select.xw-order").select_option("output")
    assert nb.wait_py("stacked.order", lambda v: v == "output") == "output"
    r_stacked.locator("select.xw-y").select_option("2")
    assert nb.wait_py("stacked.y_feature", lambda v: v == 2) == 2
    final = nb.wait_pixels_change(canvas, after)
    assert bh.changed_fraction(after, final) > 0.05
    nb.assert_no_page_errors()


def test_force_plot_stacked_2000_render_time(open_notebook):
    cells = [
        "import numpy as np, xai_widgets as xw\n"
        "rng = np.random.default_rng(0)\n"
        "c = rng.normal(size=(5, 30)) * rng.random(30)\n"
        "v = c[rng.integers(0, 5, 2000)] + rng.normal(size=(2000, 30)) * 0.05\n"
        "big = xw.ForcePlot(xw.Attribution.from_array(v, rng.normal(size=(2000, 30)), base_values=0.1))",
        "big",
    ]
    nb = open_notebook("force-big", cells, ui="lab")
    nb.run_all_and_wait(timeout=180)
    (root,) = nb.wait_ready(".xw-force-plot", count=1, timeout=90)
    ms = float(root.get_attribute("data-xw-render-ms"))
    snap = nb.snapshot(root.locator("canvas.xw-force-canvas"))
    assert snap.distinct_colours >= 16
    print(f"\nForcePlot 2000x30 stacked: time to first render (render() -> first draw) = {ms:.1f} ms")
    # measured 40-60 ms on this machine (2 shared cores); 10x headroom
    assert ms <= 500, f"first render took {ms:.0f} ms"
    # a redraw when switching order is also quick
    t = nb.page.evaluate("""(root) => { const s = root.querySelector('select.xw-order');
        const t0 = performance.now(); s.value = 'original'; s.dispatchEvent(new Event('change'));
        return performance.now() - t0; }""", root.element_handle())
    print(f"ForcePlot 2000x30 stacked: redraw after an order change = {t:.1f} ms")
    nb.assert_no_page_errors()


# ----------------------------------------------------------------- view quality
QUALITY_SETUP = '''
import numpy as np
import xai_widgets as xw
rng = np.random.default_rng(3)
classes = ["tabby", "Egyptian cat", "tiger cat"]
names = ["mean radius", "mean texture", "worst concave points, a long feature name", "area error", "s1", "s2", "s3", "s4"]
row = np.array([[0.9, 2.4, -1.3, 0.45, -0.35, 0.08, -0.05, 0.02]])
one = xw.Attribution.from_array(row, rng.normal(size=(1, 8)), base_values=0.25, target=[1],
                                output_names=classes, feature_names=names, method="kernel_shap")
single = xw.ForcePlot(one)
wf = xw.ForcePlot(one, mode="waterfall")
centers = rng.normal(size=(4, 8))
v = centers[rng.integers(0, 4, 300)] + rng.normal(size=(300, 8)) * 0.1
many = xw.Attribution.from_array(v, base_values=np.full(300, 1.0), target=np.ones(300, int), output_names=classes,
                                 feature_names=names, method="kernel_shap")
stacked = xw.ForcePlot(many)
'''
ROOT = ".xw-force-plot"


def _canvas_texts(root) -> list[dict]:
    """The texts of the canvas' current frame (recorded by the quality probe's fillText wrapper)."""
    return root.locator("canvas.xw-force-canvas").evaluate(
        "c => (c.__xwTexts || []).map(r => ({text: r.text, box: r.box, fill: r.fill, bg: r.bg}))")


def _wait_width(nb, root, px: int) -> None:
    """Wait until the view has redrawn at the output's new width (its ResizeObserver)."""
    nb.page.wait_for_function(
        """([root, px]) => { const c = root.querySelector('canvas.xw-force-canvas');
             return c && Math.abs(parseFloat(c.style.width) - root.querySelector('.xw-force-body').clientWidth) <= 1
                    && root.getBoundingClientRect().width <= px + 1; }""",
        arg=[root.element_handle(), px], timeout=10_000)


def test_force_plot_widths_themes_contrast_and_class_names(open_notebook):
    nb = open_notebook("force-quality", [QUALITY_SETUP, "single", "wf", "stacked"], ui="lab")
    nb.run_all_and_wait(timeout=120)
    roots = nb.wait_ready(ROOT, count=3)
    r_single, r_wf, r_stacked = roots
    assert [r.get_attribute("data-mode") for r in roots] == ["single", "waterfall", "stacked"]

    # class names, not indices: in the titles, the y select, the plot's output label
    for r in roots:
        assert "Egyptian cat" in r.locator(".xw-title").text_content()
    assert r_stacked.locator("select.xw-y option").first.text_content() == "Egyptian cat"
    out = nb.py("float(single.outputs[0])")
    assert f"Egyptian cat = {out:.3g}"[:16] in r_single.locator(".xw-title").text_content()
    assert any(t["text"].startswith("Egyptian cat = ") for t in _canvas_texts(r_single))

    widths = {}
    for theme in ("light", "dark"):
        bh.set_theme(nb.page, theme)
        for px in (400, 700, 1000):
            bh.set_output_width(nb.page, ROOT, px)
            for r in roots:
                _wait_width(nb, r, px)
            problems = bh.overflow_report(nb.page, ROOT)
            assert problems == [], f"{theme}, {px} px: {problems}"
            fails = bh.contrast_failures(nb.page, ROOT)
            assert fails == [], f"{theme}, {px} px: {fails}"
            widths[(theme, px)] = [r.locator("canvas.xw-force-canvas").bounding_box()["width"] for r in roots]
            # every feature label is inside the drawing, none over another
            boxes = r_single.locator(".xw-feature").evaluate_all(
                "els => els.map(e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; })")
            assert len(boxes) >= 4
            for i, a in enumerate(boxes):
                for b in boxes[i + 1:]:
                    assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (theme, px, a, b)
    # the drawing follows the output's width
    for k in range(3):
        assert widths[("light", 400)][k] < widths[("light", 700)][k] < widths[("light", 1000)][k], widths
        assert widths[("light", 400)][k] <= 400 - 20

    # stacked: the base value's label lies outside the plot area and over nothing but background
    bh.set_theme(nb.page, "light")
    canvas = r_stacked.locator("canvas.xw-force-canvas")
    geo = canvas.evaluate("e => ({left: +e.dataset.plotLeft, top: +e.dataset.plotTop, width: +e.dataset.plotWidth, "
                          "height: +e.dataset.plotHeight, dpr: e.width / parseFloat(e.style.width)})")
    base_texts = [t for t in _canvas_texts(r_stacked) if t["text"].startswith("base value")]
    assert len(base_texts) == 1, _canvas_texts(r_stacked)
    x0, y0, x1, y1 = (v / geo["dpr"] for v in base_texts[0]["box"])
    plot = (geo["left"], geo["top"], geo["left"] + geo["width"], geo["top"] + geo["height"])
    assert x1 <= plot[0] or x0 >= plot[2] or y1 <= plot[1] or y0 >= plot[3], (base_texts[0]["box"], plot)
    # the pixels the label covered were all the page background (no red/blue bar, no line under it)
    under = np.array([b[:3] for b in base_texts[0]["bg"]], dtype=float)
    assert len(under) > 10
    bg = np.median(under, axis=0)
    assert np.abs(under - bg).max() <= 2, "the base value label covers something other than the background"
    # ... while the dashed base line itself is drawn inside the plot, at y = base value
    nb.assert_no_page_errors()
