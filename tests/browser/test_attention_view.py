"""AttentionView in a real JupyterLab: draws, sliders sync both ways, tokens pin, text stays text."""
from __future__ import annotations

import browser_harness as bh

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
    ob = ov.bounding_box()
    # cell (layer 1, head 0): left 64 + (0 + 1) * (cs + 2), top 18 + 1 * (cs + 2), cs = 32
    nb.page.mouse.click(ob["x"] + 64 + 34 + 16, ob["y"] + 18 + 34 + 16)
    assert nb.wait_py("(w.layer, w.head)", lambda v: v == [1, 0]) == [1, 0]
    nb.assert_no_page_errors()
