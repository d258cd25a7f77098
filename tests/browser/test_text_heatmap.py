"""TextHeatmap in a real JupyterLab: text is text, hover tooltip, click pins a token."""
from __future__ import annotations

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
