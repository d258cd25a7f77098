"""GenerationHeatmap in a real JupyterLab: click a generated token -> token in Python and the context recoloured,
Python -> DOM, hover preview, matrix view (click a row, zoom), HTML in tokens inert, themes, widths, contrast,
PNG download, offline HTML."""
from __future__ import annotations

import browser_harness as bh

EVIL = '<img src=x onerror="window.__xss=1">'
ROOT = ".xw-generation"
BLUE_END = "rgb(59, 76, 192)"  # coolwarm at 0 (lib/colormaps.ts): the largest negative value of a row
RED_END = "rgb(180, 4, 38)"

SETUP = f'''
import numpy as np
import xai_widgets as xw
from xai_widgets._display.generation import context_mask
from xai_widgets.widgets.generation_heatmap import GenerationHeatmap
prompt = ["<|im_start|>", "The", " capital", " of", {EVIL!r}, " France", " is"]
generated = [" Paris", ".", "\\n", " It", " is", " big", "."]
P, G = len(prompt), len(generated)
rng = np.random.default_rng(0)
V = rng.normal(size=(1, G, P + G))
V[0][~context_mask(G, P + G, P)] = 0.0
a = xw.Attribution(values=V, feature_names=prompt + generated, outputs=-rng.random((1, G)), method="input_x_gradient",
                   params={{"generated": generated, "prompt_length": P, "special": [True] + [False] * (P + G - 1),
                           "contrast": " Lyon"}})
w = GenerationHeatmap(a)
m = GenerationHeatmap(a, view="matrix", normalize="global", token=3)
'''


def _spans(root) -> list[dict]:
    return root.locator("span.xw-gtok").evaluate_all(
        """els => els.map(e => ({ s: +e.dataset.s, text: e.textContent, state: e.dataset.state,
                                  bg: getComputedStyle(e).backgroundColor }))""")


def _check_colours(spans: list[dict], values: list[float], page_bg: str, g: int, P: int) -> None:
    """Context sources coloured by sign, the row's largest |value| at the colormap's end; the rest the page colour."""
    top = max(range(P + g), key=lambda s: abs(values[s]))
    assert spans[top]["bg"] == (RED_END if values[top] > 0 else BLUE_END), (top, values[top], spans[top])
    for sp in spans:
        s = sp["s"]
        if s < P + g:
            assert sp["state"] == "context"
            r, gg, b = (int(x) for x in sp["bg"][4:-1].split(","))
            if abs(values[s]) > 0.2 * abs(values[top]):
                assert (r > b) == (values[s] > 0), (s, values[s], sp["bg"])
        else:
            assert sp["state"] == ("self" if s == P + g else "later")
            assert sp["bg"] == page_bg, (s, sp)


def test_generation_heatmap_click_hover_python_matrix_and_safe_text(open_notebook):
    nb = open_notebook("generation", [SETUP, "w", "m"], ui="lab")
    nb.run_all_and_wait(timeout=120)
    root, mroot = nb.wait_ready(ROOT, count=2)
    P, G = nb.py("P"), nb.py("G")
    V = nb.py("V[0].tolist()")

    # text is text: the tokens as given (newline shown as a mark), nothing parsed as markup
    spans = _spans(root)
    want = nb.py("[t.replace('\\n', '↵') for t in prompt + generated]")
    assert [s["text"] for s in spans] == want
    assert root.locator("span.xw-gtok *, img, script").count() == 0
    assert nb.page.locator(".jp-OutputArea img[src='x']").count() == 0
    nb.page.wait_for_timeout(300)  # an onerror would fire asynchronously
    assert nb.page.evaluate("() => typeof window.__xss") == "undefined"
    assert root.locator("span.xw-gtok.xw-gen").count() == G
    assert "Lyon" in root.locator(".xw-title").text_content()
    page_bg = root.evaluate("e => getComputedStyle(e).backgroundColor")

    # token 0 selected at start: the prompt coloured, the generation plain
    assert root.get_attribute("data-token") == "0"
    _check_colours(_spans(root), V[0], page_bg, 0, P)

    # click a generated token -> token in Python, the context recoloured for it
    root.locator(f"span.xw-gtok[data-s='{P + 4}']").click()
    assert nb.wait_py("w.token", lambda v: v == 4) == 4
    nb.page.wait_for_function("r => r.getAttribute('data-token') === '4'", arg=root.element_handle(), timeout=5_000)
    nb.page.mouse.move(0, 0)
    nb.page.wait_for_function(
        "([r, s]) => r.querySelector(`span[data-s='${s}']`).dataset.state === 'self' && "
        "r.querySelector(`span[data-s='${s}']`).classList.contains('xw-self')",
        arg=[root.element_handle(), P + 4], timeout=5_000)
    _check_colours(_spans(root), V[4], page_bg, 4, P)
    assert "Selected token 4" in root.locator(".xw-subtitle").text_content()

    # hovering another generated token previews it; leaving restores the selection
    root.locator(f"span.xw-gtok[data-s='{P + 1}']").hover()
    nb.page.wait_for_function("r => r.querySelector('.xw-subtitle').textContent.startsWith('Previewing token 1')",
                              arg=root.element_handle(), timeout=5_000)
    _check_colours(_spans(root), V[1], page_bg, 1, P)
    tip = root.locator(".xw-tooltip")
    assert tip.is_visible()
    assert nb.py("w.token") == 4  # a preview is not a selection
    nb.page.mouse.move(0, 0)
    nb.page.wait_for_function("r => r.querySelector('.xw-subtitle').textContent.startsWith('Selected token 4')",
                              arg=root.element_handle(), timeout=5_000)

    # hover the HTML token: its text in the tooltip, as text
    root.locator(f"span.xw-gtok[data-s='4']").hover()
    tip.wait_for(state="visible", timeout=5_000)
    assert EVIL in tip.text_content() and root.locator(".xw-tooltip img").count() == 0

    # Python -> DOM
    nb.kernel_exec("w.token = 2")
    nb.page.wait_for_function("r => r.getAttribute('data-token') === '2'", arg=root.element_handle(), timeout=5_000)
    nb.page.mouse.move(0, 0)
    _check_colours(_spans(root), V[2], page_bg, 2, P)
    nb.kernel_exec("w.normalize = 'global'")
    nb.page.wait_for_function("r => r.querySelector('select.xw-normalize').value === 'global'",
                              arg=root.element_handle(), timeout=5_000)
    glob = nb.py("float(np.abs(V[0][context_mask(G, P + G, P)]).max())")
    # under one scale no token of row 2 reaches the colormap's end unless it holds the global maximum
    row_top = max(abs(x) for x in V[2][:P + 2])
    assert (RED_END in [s["bg"] for s in _spans(root)] or BLUE_END in [s["bg"] for s in _spans(root)]) == (row_top == glob)

    # PNG download
    with nb.page.expect_download() as dl:
        root.locator("button.xw-download").click()
    assert dl.value.suggested_filename == "generation_text.png"

    # ---- matrix view: drawn, click a row -> token, wheel zooms
    canvas = mroot.locator("canvas.xw-gen-matrix")
    snap = nb.snapshot(canvas)
    assert snap.distinct_colours >= 16
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x, y = canvas.evaluate("c => c.__xwCell(2, 5)")
    nb.page.mouse.click(box["x"] + x, box["y"] + y)
    assert nb.wait_py("m.token", lambda v: v == 5) == 5
    nb.page.wait_for_function("r => r.getAttribute('data-token') === '5'", arg=mroot.element_handle(), timeout=5_000)
    before = nb.snapshot(canvas)
    nb.page.mouse.move(box["x"] + x, box["y"] + y)
    nb.page.mouse.wheel(0, -400)
    after = nb.wait_pixels_change(canvas, before)
    assert bh.changed_fraction(before, after) > 0.05
    mroot.locator(".xw-tooltip").wait_for(state="visible", timeout=5_000)

    # the view select syncs to Python; Python switches back
    root.locator("select.xw-view").select_option("matrix")
    assert nb.wait_py("w.view", lambda v: v == "matrix") == "matrix"
    nb.page.wait_for_function("r => r.getAttribute('data-view') === 'matrix'", arg=root.element_handle(), timeout=5_000)
    nb.kernel_exec("w.view = 'text'")
    nb.page.wait_for_function("r => r.getAttribute('data-view') === 'text' && r.querySelector('span.xw-gtok')",
                              arg=root.element_handle(), timeout=5_000)
    nb.assert_no_page_errors()


def test_generation_heatmap_themes_widths_contrast(open_notebook):
    nb = open_notebook("generation-quality", [SETUP, "w", "m"], ui="lab")
    nb.run_all_and_wait(timeout=120)
    roots = nb.wait_ready(ROOT, count=2)
    for theme in ("light", "dark"):
        bh.set_theme(nb.page, theme)
        # the zero-valued sources (after the token) are the page's colour in either theme
        nb.page.wait_for_function(
            "r => getComputedStyle(r.querySelector(\"span.xw-gtok[data-state='later']\")).backgroundColor"
            " === getComputedStyle(r).backgroundColor", arg=roots[0].element_handle(), timeout=5_000)
        for px in (400, 800):
            bh.set_output_width(nb.page, ROOT, px)
            problems = bh.overflow_report(nb.page, ROOT)
            assert problems == [], f"{theme}, {px} px: {problems}"
            fails = bh.contrast_failures(nb.page, ROOT)
            assert fails == [], f"{theme}, {px} px: {fails}"
            for r in roots:
                assert r.bounding_box()["width"] <= px + 1
        # narrow: the text wraps onto several lines
        bh.set_output_width(nb.page, ROOT, 400)
        tops = roots[0].locator("span.xw-gtok").evaluate_all("els => new Set(els.map(e => Math.round(e.getBoundingClientRect().top))).size")
        assert tops >= 2
    nb.assert_no_page_errors()


def test_generation_heatmap_save_html_offline(browser, tmp_path):
    """The saved page draws with no network and no kernel; clicking a generated token recolours; tokens stay text."""
    import numpy as np

    import xai_widgets as xw
    from xai_widgets._display.generation import context_mask
    from xai_widgets.widgets.generation_heatmap import GenerationHeatmap

    prompt, generated = ["<s>", EVIL, " is"], [" a", " tag"]
    P, G = 3, 2
    V = np.random.default_rng(0).normal(size=(1, G, P + G))
    V[0][~context_mask(G, P + G, P)] = 0
    a = xw.Attribution(values=V, feature_names=prompt + generated, params={"generated": generated, "prompt_length": P})
    path = GenerationHeatmap(a).save_html(tmp_path / "gen.html")
    page, requests, errors = bh.open_offline(browser, path)
    try:
        page.wait_for_function("() => document.querySelector('.xw-generation[data-xw-ready=\"1\"]')", timeout=30_000)
        assert page.locator("span.xw-gtok").all_text_contents() == prompt + generated
        assert page.locator("span.xw-gtok[data-s='3']").get_attribute("data-state") == "self"
        page.locator("span.xw-gtok[data-s='4']").click()
        page.wait_for_function("() => document.querySelector('.xw-generation').getAttribute('data-token') === '1'")
        page.mouse.move(0, 0)
        page.wait_for_timeout(100)
        assert page.locator("span.xw-gtok[data-s='3']").get_attribute("data-state") == "context"
        page.wait_for_timeout(200)
        assert page.evaluate("() => typeof window.__xss") == "undefined"
        assert requests == [] and errors == []
    finally:
        page.context.close()
