"""TextHeatmap in a real JupyterLab: text is text, hover, pinning, aligned method rows, padding, themes, widths, offline HTML."""
from __future__ import annotations

import pytest

import browser_harness as bh

TOKENS = ["Hello", '<img src=x onerror="window.__xss=1">', "<b>bold</b>", "world", "&amp;", "<script>window.__xss=2</script>"]

CELL = f'''
import numpy as np
import xai_widgets as xw
tokens = {TOKENS!r}
t = xw.TextHeatmap(tokens, np.array([[0.5, -1.0, 0.8, 0.1, -0.3, 0.2]]))
t
'''


def test_text_heatmap(open_notebook):
    nb = open_notebook("text", [CELL], ui="lab")
    nb.run_all_and_wait(timeout=90)
    (root,) = nb.wait_ready(".xw-text-heatmap", count=1)

    spans = root.locator("span.xw-token")
    assert spans.all_text_contents() == TOKENS
    # nothing was parsed as HTML
    assert root.locator("span.xw-token *").count() == 0, "markup inside a token"
    assert root.locator("img, script").count() == 0
    assert nb.page.locator(".jp-OutputArea img[src='x'], .jp-OutputArea script:not([type])").count() == 0
    nb.page.wait_for_timeout(300)  # an onerror would fire asynchronously
    assert nb.page.evaluate("() => typeof window.__xss") == "undefined"
    # coloured: the tokens do not all share one background
    bgs = spans.evaluate_all("els => els.map(e => getComputedStyle(e).backgroundColor)")
    assert len(set(bgs)) >= 4, bgs

    # hover -> tooltip naming the token
    tooltip = root.locator(".xw-tooltip")
    spans.nth(1).hover()
    tooltip.wait_for(state="visible", timeout=5_000)
    assert TOKENS[1] in tooltip.text_content()
    assert root.locator(".xw-tooltip img").count() == 0

    # click -> token in Python, pinned class in the DOM; click again unpins
    assert nb.py("t.token") is None
    spans.nth(2).click()
    assert nb.wait_py("t.token", lambda v: v == 2) == 2
    nb.page.wait_for_function(
        "el => el.classList.contains('xw-pinned')", arg=spans.nth(2).element_handle(), timeout=5_000
    )
    assert root.locator("span.xw-token.xw-pinned").count() == 1
    # Python -> pin
    nb.kernel_exec("t.token = 3")
    nb.page.wait_for_function(
        "el => el.classList.contains('xw-pinned')", arg=spans.nth(3).element_handle(), timeout=5_000
    )
    assert root.locator("span.xw-token.xw-pinned").count() == 1
    spans.nth(3).click()
    assert nb.wait_py("t.token", lambda v: v is None) is None
    nb.assert_no_page_errors()


# ------------------------------------------------------------ several methods
ROOT = ".xw-text-heatmap"
LONG = "pneumonoultramicroscopicsilicovolcanoconiosis" * 2
METHODS_CELL = f'''
import numpy as np
import xai_widgets as xw
rng = np.random.default_rng(0)
toks = [["[CLS]", "the", "film", "was", "wonder", "##ful", "{LONG}", "[SEP]", "[PAD]", "[PAD]"],
        ["[CLS]", "dull", "[SEP]", "[PAD]", "[PAD]", "[PAD]", "[PAD]", "[PAD]", "[PAD]", "[PAD]"]]
mask = np.array([[1] * 8 + [0] * 2, [1] * 3 + [0] * 7])
names = ["negative", "positive"]
vals = {{k: rng.normal(size=(2, 10)) * s for k, s in [("IG", 1.0), ("SmoothGrad", 5.0), ("Input×Gradient", 0.01)]}}
vals["IG"][0, 2] = 0.0  # a zero token: the page shows through it
attrs = {{k: xw.Attribution.from_array(v, target=[1, 0], outputs=[0.93, 0.71], output_names=names, method=k)
         for k, v in vals.items()}}
m = xw.TextHeatmap(toks, attrs, mask=mask)
m
'''
SINGLE_CELL = '''
one = xw.TextHeatmap(toks[0], attrs["IG"][0], mask=mask[:1])
one
'''


def _cells(root) -> list[dict]:
    """Every token cell's original index, method row and box."""
    return root.locator("span.xw-token").evaluate_all(
        """els => els.map(e => { const b = e.getBoundingClientRect();
            return { i: +e.dataset.i, m: +e.dataset.m, text: e.textContent,
                     left: b.left, right: b.right, top: b.top, bottom: b.bottom }; })""")


def _check_aligned(cells: list[dict], n_methods: int) -> int:
    """Each token has one cell per method, all at the same x and width, rows in method order; returns the line count."""
    by_token: dict[int, list[dict]] = {}
    for c in cells:
        by_token.setdefault(c["i"], []).append(c)
    for i, cs in by_token.items():
        cs.sort(key=lambda c: c["m"])
        assert [c["m"] for c in cs] == list(range(n_methods)), (i, cs)
        assert len({c["text"] for c in cs}) == 1
        for c in cs[1:]:
            assert abs(c["left"] - cs[0]["left"]) < 0.5 and abs(c["right"] - cs[0]["right"]) < 0.5, (i, cs)
        assert all(a["bottom"] <= b["top"] + 0.5 for a, b in zip(cs, cs[1:])), f"rows out of order for token {i}"
    # tokens of one line share their rows: the same top for every method row
    lines = {}
    for cs in by_token.values():
        lines.setdefault(round(cs[0]["top"]), []).append(cs)
    for group in lines.values():
        for m in range(n_methods):
            assert len({round(cs[m]["top"], 1) for cs in group}) == 1, f"method {m}'s row is not straight"
    return len(lines)


def test_text_heatmap_methods_aligned_and_padding_trimmed(open_notebook):
    nb = open_notebook("text-methods", [METHODS_CELL], ui="lab")
    nb.run_all_and_wait(timeout=120)
    (root,) = nb.wait_ready(ROOT, count=1)

    cells = _cells(root)
    assert sorted({c["i"] for c in cells}) == list(range(8)), "padding is drawn or real tokens are missing"
    assert not any("[PAD]" in c["text"] for c in cells)
    assert len(cells) == 8 * 3
    n_lines = _check_aligned(cells, 3)
    # the method name starts each row of each line
    labels = root.locator(".xw-rowlabel")
    assert labels.count() == 3 * n_lines
    assert labels.all_text_contents()[:3] == ["IG", "SmoothGrad", "Input×Gradient"]
    label_boxes = labels.evaluate_all("els => els.map(e => { const b = e.getBoundingClientRect(); return [b.right, (b.top + b.bottom) / 2]; })")
    first_line = sorted((c for c in cells if c["i"] == 0), key=lambda c: c["m"])
    for m, c in enumerate(first_line):
        assert label_boxes[m][0] <= c["left"] + 0.5
        assert c["top"] - 1 <= label_boxes[m][1] <= c["bottom"] + 1, (m, label_boxes[m], c)

    # class names in the sample selector
    opts = root.locator("select.xw-sample option").all_text_contents()
    assert opts == ["0 · positive 0.93", "1 · negative 0.71"]
    assert "positive 0.93" in root.locator(".xw-caption").text_content()

    # hover shows every method's value
    tooltip = root.locator(".xw-tooltip")
    root.locator("span.xw-token[data-i='3'][data-m='1']").hover()
    tooltip.wait_for(state="visible", timeout=5_000)
    text = tooltip.text_content()
    expect = nb.py("{k: float(v[0, 3]) for k, v in vals.items()}")
    for name, v in expect.items():
        assert name in text
    from_tip = dict(zip(tooltip.locator(".xw-tooltip-key").all_text_contents(),
                        tooltip.locator(".xw-tooltip-val").all_text_contents()))
    for name, v in expect.items():
        assert float(from_tip[name]) == pytest.approx(v, rel=5e-3, abs=1e-6), (name, from_tip)

    # click in the second method's row pins the token by its original position
    root.locator("span.xw-token[data-i='5'][data-m='2']").click()
    assert nb.wait_py("m.token", lambda v: v == 5) == 5
    assert root.locator("span.xw-token.xw-pinned").count() == 3  # the whole column
    assert nb.py("m.values_at()") == pytest.approx(nb.py("{k: float(v[0, 5]) for k, v in vals.items()}"))

    # the second sample: its own padding trimmed; the pinned token (padding there) is released
    nb.kernel_exec("m.sample = 1")
    nb.page.wait_for_function("r => r.querySelectorAll('span.xw-token').length === 9", arg=root.element_handle(), timeout=10_000)
    cells = _cells(root)
    assert sorted({c["i"] for c in cells}) == [0, 1, 2]
    assert nb.py("m.token") is None
    _check_aligned(cells, 3)

    # shared scale from the browser
    root.locator("input.xw-shared").check()
    assert nb.wait_py("m.shared_scale", lambda v: v is True) is True
    assert root.locator("canvas.xw-colorbar").count() == 1
    root.locator("input.xw-shared").uncheck()
    nb.page.wait_for_function("r => r.querySelectorAll('canvas.xw-colorbar').length === 3", arg=root.element_handle())
    nb.assert_no_page_errors()


def _text_and_background(root, selector: str) -> tuple[str, str]:
    return tuple(root.locator(selector).evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]"))


def test_text_heatmap_themes_widths_contrast(open_notebook):
    nb = open_notebook("text-quality", [METHODS_CELL, SINGLE_CELL], ui="lab")
    nb.run_all_and_wait(timeout=120)
    multi, single = nb.wait_ready(ROOT, count=2)
    # one sample: its selector offers no choice and is not drawn; one method: no shared-scale switch
    assert not single.locator("select.xw-sample").is_visible()
    assert multi.locator("select.xw-sample").is_visible()
    assert not single.locator("input.xw-shared").is_visible()

    zero = "span.xw-token[data-i='2'][data-m='0']"  # IG's 0.0: nothing painted over the page
    lines = {}
    for theme in ("light", "dark"):
        bh.set_theme(nb.page, theme)
        page_bg = multi.evaluate("e => getComputedStyle(e).backgroundColor")
        color, bg = _text_and_background(multi, zero)
        # the theme switch recoloured the tokens: the zero token is the page's colour, its text readable on it
        nb.page.wait_for_function(
            "([r, s]) => getComputedStyle(r.querySelector(s)).backgroundColor === getComputedStyle(r).backgroundColor",
            arg=[multi.element_handle(), zero], timeout=5_000)
        color, bg = _text_and_background(multi, zero)
        assert bg == page_bg
        assert color == ("rgb(0, 0, 0)" if theme == "light" else "rgb(255, 255, 255)"), (theme, color, bg)
        for px in (400, 700, 1000):
            bh.set_output_width(nb.page, ROOT, px)
            nb.page.wait_for_timeout(200)
            problems = bh.overflow_report(nb.page, ROOT)
            assert problems == [], f"{theme}, {px} px:\n" + "\n".join(problems)
            fails = bh.contrast_failures(nb.page, ROOT)
            assert fails == [], f"{theme}, {px} px:\n" + "\n".join(fails)
            width = multi.evaluate("e => e.getBoundingClientRect().width")
            assert width <= px + 1
            lines[(theme, px)] = _check_aligned(_cells(multi), 3)
            # the long token breaks inside its cell instead of widening the line
            long_cell = multi.locator("span.xw-token[data-i='6'][data-m='0']").bounding_box()
            tokens_box = multi.locator(".xw-tokens").bounding_box()
            assert long_cell["x"] + long_cell["width"] <= tokens_box["x"] + tokens_box["width"] + 0.5
    # tokens wrap to more lines in a narrower output
    assert lines[("light", 400)] > lines[("light", 1000)], lines
    nb.assert_no_page_errors()


# ------------------------------------------------------------- standalone page
def test_text_heatmap_save_html_offline(browser, tmp_path):
    import numpy as np

    import xai_widgets as xw

    toks = ["[CLS]", "a", "quiet", "film", "[SEP]", "[PAD]"]
    rng = np.random.default_rng(5)
    attrs = {"IG": rng.normal(size=(1, 6)), "SG": rng.normal(size=(1, 6))}
    w = xw.TextHeatmap(toks, attrs, mask=[[1, 1, 1, 1, 1, 0]])
    path = w.save_html(tmp_path / "text.html")
    url = path.resolve().as_uri()

    ctx = browser.new_context(viewport={"width": 900, "height": 700})
    requests: list[str] = []
    errors: list[str] = []

    def route(r):
        if r.request.url == url:
            return r.continue_()
        requests.append(r.request.url)
        return r.abort()

    ctx.route("**/*", route)
    try:
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        page.wait_for_selector(f"{ROOT}[data-xw-ready='1']", timeout=20_000)
        page.wait_for_timeout(300)
        root = page.locator(ROOT)
        cells = root.locator("span.xw-token")
        assert cells.count() == 10  # five real tokens, two methods; no padding
        texts = root.locator("span.xw-token[data-m='0']").all_text_contents()
        assert texts == toks[:5]
        assert len(set(cells.evaluate_all("els => els.map(e => getComputedStyle(e).backgroundColor)"))) >= 4
        # a click still pins the token (the page's own model: no kernel)
        root.locator("span.xw-token[data-i='2'][data-m='1']").click()
        page.wait_for_function("() => document.querySelectorAll('span.xw-token.xw-pinned').length === 2", timeout=5_000)
        assert 'Pinned #2 "quiet"' in root.locator(".xw-status").text_content()
        root.locator("span.xw-token[data-i='2'][data-m='0']").click()
        page.wait_for_function("() => document.querySelectorAll('span.xw-token.xw-pinned').length === 0", timeout=5_000)
        assert requests == [], requests
        assert errors == [], errors
    finally:
        ctx.close()
