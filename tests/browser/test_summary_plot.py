"""SummaryPlot in a real JupyterLab: beeswarm, bar and scatter draw; hover; click -> index/feature in Python;
Python -> marker; HTML in feature names inert; light/dark contrast and narrow widths; 10,000 x 30 render time."""
from __future__ import annotations

import browser_harness as bh

EVIL = '<img src=x onerror="window.__xss=1">'
N = 300

SETUP = f'''
import numpy as np
import xai_widgets as xw
rng = np.random.default_rng(0)
names = ["age", {EVIL!r}, "bmi", "<b>bp</b>", "s1", "s2", "s3", "s4"]
X = rng.normal(size=({N}, 8))
V = X * np.array([2.0, 1.5, 1.0, 0.8, 0.5, 0.3, 0.2, 0.1])
V[:, 0] += X[:, 0] * X[:, 2]
a = xw.Attribution.from_array(V, X, base_values=0.2, feature_names=names, method="kernel_shap")
a3 = xw.Attribution(values=np.stack([V, -0.5 * V], 1), data=X, target=np.arange(2), params={{"target": "all"}},
                    output_names=["benign", "malignant"], feature_names=names, method="kernel_shap")
bee = xw.SummaryPlot(a, max_display=6)
bar = xw.SummaryPlot(a3, kind="bar")
sc = xw.SummaryPlot(a, kind="scatter", feature=0)
'''
ROOT = ".xw-summary-plot"


def _point(canvas, i: int, j: int) -> tuple[float, float]:
    """Page coordinates of sample i's dot in feature j's row (scatter: j ignored)."""
    canvas.scroll_into_view_if_needed()
    xy = canvas.evaluate("(c, [i, j]) => c.__xwPoint(i, j)", [i, j])
    assert xy is not None, (i, j)
    box = canvas.bounding_box()
    return box["x"] + xy[0], box["y"] + xy[1]


def test_summary_plot_three_kinds_hover_click_and_safe_text(open_notebook):
    nb = open_notebook("summary", [SETUP, "bee", "bar", "sc"], ui="lab")
    nb.run_all_and_wait(timeout=120)
    r_bee, r_bar, r_sc = nb.wait_ready(ROOT, count=3)
    assert [r.get_attribute("data-kind") for r in (r_bee, r_bar, r_sc)] == ["beeswarm", "bar", "scatter"]
    for r in (r_bee, r_bar, r_sc):
        snap = nb.snapshot(r.locator("canvas.xw-summary-canvas"))
        assert snap.distinct_colours >= 16, f"only {snap.distinct_colours} colours"
        assert r.locator("button.xw-download").count() == 1
    # collapsed rows are announced; the multi-output bars have a legend with the class names
    assert "3 other features" in r_bee.locator(".xw-status").text_content()
    assert r_bar.locator(".xw-legend").text_content() == "benignmalignant"

    # HTML in feature names stays text: in selects, tooltips; nothing was parsed as markup
    assert any(EVIL in t for t in r_sc.locator("select.xw-feature option").all_text_contents())
    assert nb.page.locator(".jp-OutputArea img[src='x'], .xw-summary-plot b").count() == 0

    # ---- beeswarm: hover a dot -> tooltip with the sample and the feature; click -> index and feature in Python
    canvas = r_bee.locator("canvas.xw-summary-canvas")
    order = nb.py("bee.feature_order.tolist()")
    assert order[:2] == [0, 1]
    for i, j in ((17, 1), (203, 3)):
        x, y = _point(canvas, i, j)
        nb.page.mouse.move(x, y)
        tip = r_bee.locator(".xw-tooltip")
        tip.wait_for(state="visible", timeout=5_000)
        text = tip.text_content()
        assert text.startswith("sample ")
        picked = int(tip.locator(".xw-tooltip-head").text_content().split()[1])
        # a dot under the pointer may be a neighbour drawn on top: it must lie where we pointed
        px, py = _point(canvas, picked, j)
        assert abs(px - x) <= 7 and abs(py - y) <= 7
        names = nb.py("list(bee.feature_names)")
        assert names[j] in text
        assert r_bee.locator(".xw-tooltip img, .xw-tooltip b").count() == 0
        nb.page.mouse.click(x, y)
        assert nb.wait_py("bee.index", lambda v: v == picked) == picked
        assert nb.wait_py("bee.feature", lambda v: v == j) == j
    nb.page.wait_for_timeout(200)
    assert nb.page.evaluate("() => typeof window.__xss") == "undefined"

    # Python -> marker: the ring moves (pixels change near the new sample's dot)
    before = nb.snapshot(canvas)
    nb.kernel_exec("bee.index = 5")
    after = nb.wait_pixels_change(canvas, before)
    x, y = _point(canvas, 5, 0)
    box = canvas.bounding_box()
    cx, cy = before.css_to_px(x, y)
    assert bh.changed_fraction(bh.region(before.pixels, cx, cy, 8), bh.region(after.pixels, cx, cy, 8)) > 0.05
    assert "sample 5 picked" in r_bee.locator(".xw-status").text_content()
    del box

    # PNG download of what is drawn
    with nb.page.expect_download() as dl:
        r_bee.locator("button.xw-download").click()
    assert dl.value.suggested_filename == "summary_beeswarm.png"

    # kind is live: the select syncs to Python and redraws
    r_bee.locator("select.xw-kind").select_option("bar")
    assert nb.wait_py("bee.kind", lambda v: v == "bar") == "bar"
    nb.page.wait_for_function("r => r.getAttribute('data-kind') === 'bar'", arg=r_bee.element_handle(), timeout=5_000)
    nb.kernel_exec("bee.kind = 'scatter'")
    nb.page.wait_for_function("r => r.getAttribute('data-kind') === 'scatter'", arg=r_bee.element_handle(), timeout=5_000)

    # ---- bar: hover -> mean |value| per class; click a bar -> feature
    bcan = r_bar.locator("canvas.xw-summary-canvas")
    geo = bcan.evaluate("e => ({left: +e.dataset.plotLeft, top: +e.dataset.plotTop})")
    bcan.scroll_into_view_if_needed()
    box = bcan.bounding_box()
    nb.page.mouse.move(box["x"] + geo["left"] + 3, box["y"] + geo["top"] + 5)
    tip = r_bar.locator(".xw-tooltip")
    tip.wait_for(state="visible", timeout=5_000)
    assert "benign" in tip.text_content() and "malignant" in tip.text_content()
    nb.page.mouse.click(box["x"] + geo["left"] + 3, box["y"] + geo["top"] + 5)
    assert nb.wait_py("bar.feature", lambda v: v == 0) == 0

    # ---- scatter: coloured by the interacting feature; click a dot -> index
    assert nb.py("sc.color_feature") == 2
    assert "coloured by bmi" in r_sc.locator(".xw-status").text_content()
    scan = r_sc.locator("canvas.xw-summary-canvas")
    x, y = _point(scan, 42, 0)
    nb.page.mouse.move(x, y)
    tip = r_sc.locator(".xw-tooltip")
    tip.wait_for(state="visible", timeout=5_000)
    picked = int(tip.locator(".xw-tooltip-head").text_content().split()[1])
    px, py = _point(scan, picked, 0)
    assert abs(px - x) <= 7 and abs(py - y) <= 7
    nb.page.mouse.click(x, y)
    assert nb.wait_py("sc.index", lambda v: v == picked) == picked
    assert nb.py("sc.force_plot().n_samples") == 1
    nb.assert_no_page_errors()


def test_summary_plot_widths_themes_contrast(open_notebook):
    nb = open_notebook("summary-quality", [SETUP, "bee", "bar", "sc"], ui="lab")
    nb.run_all_and_wait(timeout=120)
    roots = nb.wait_ready(ROOT, count=3)
    widths = {}
    for theme in ("light", "dark"):
        bh.set_theme(nb.page, theme)
        for px in (400, 700, 1000):
            bh.set_output_width(nb.page, ROOT, px)
            for r in roots:
                nb.page.wait_for_function(
                    """([root, px]) => { const c = root.querySelector('canvas.xw-summary-canvas');
                         return c && Math.abs(parseFloat(c.style.width) - root.querySelector('.xw-summary-body').clientWidth) <= 1
                                && root.getBoundingClientRect().width <= px + 1; }""",
                    arg=[r.element_handle(), px], timeout=10_000)
            problems = bh.overflow_report(nb.page, ROOT)
            assert problems == [], f"{theme}, {px} px: {problems}"
            fails = bh.contrast_failures(nb.page, ROOT)
            assert fails == [], f"{theme}, {px} px: {fails}"
            widths[(theme, px)] = [r.locator("canvas.xw-summary-canvas").bounding_box()["width"] for r in roots]
    for k in range(3):
        assert widths[("light", 400)][k] < widths[("light", 700)][k] < widths[("light", 1000)][k], widths
        assert widths[("light", 400)][k] <= 400 - 20
    nb.assert_no_page_errors()


def test_summary_plot_10000_by_30_render_time(open_notebook):
    cells = [
        "import numpy as np, xai_widgets as xw\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.normal(size=(10000, 30))\n"
        "big = xw.SummaryPlot(xw.Attribution.from_array(X * rng.random(30), X, base_values=0.1))",
        "big",
    ]
    nb = open_notebook("summary-big", cells, ui="lab")
    nb.run_all_and_wait(timeout=180)
    (root,) = nb.wait_ready(ROOT, count=1, timeout=90)
    ms = float(root.get_attribute("data-xw-render-ms"))
    snap = nb.snapshot(root.locator("canvas.xw-summary-canvas"))
    assert snap.distinct_colours >= 16
    print(f"\nSummaryPlot 10000x30 beeswarm: first render {ms:.1f} ms")
    assert ms <= 500, f"first render took {ms:.0f} ms"
    nb.assert_no_page_errors()


def test_summary_plot_save_html_offline(browser, tmp_path):
    """The saved page draws with no network and no kernel; hovering and clicking still work, names stay text."""
    import numpy as np

    import xai_widgets as xw

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    w = xw.SummaryPlot(xw.Attribution.from_array(X * [3, 2, 1, 0.5, 0.1], X, base_values=0.0,
                                                 feature_names=[EVIL, "b", "c", "d", "e"]))
    path = w.save_html(tmp_path / "summary.html")
    page, requests, errors = bh.open_offline(browser, path)
    try:
        page.wait_for_function("() => document.querySelector('.xw-summary-plot[data-xw-ready=\"1\"]')", timeout=30_000)
        canvas = page.locator("canvas.xw-summary-canvas")
        x, y = _point(canvas, 11, 0)
        page.mouse.move(x, y)
        tip = page.locator(".xw-tooltip")
        tip.wait_for(state="visible", timeout=5_000)
        assert EVIL in tip.text_content()
        page.wait_for_timeout(200)
        assert page.evaluate("() => typeof window.__xss") == "undefined"
        assert requests == [] and errors == []
    finally:
        page.context.close()
