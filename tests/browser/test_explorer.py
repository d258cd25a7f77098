"""Explorer in a real JupyterLab: pick a class and a method, the map changes, Cancel, a busy kernel stays usable, themes, widths."""
from __future__ import annotations

import browser_harness as bh

ROOT = ".xw-explorer"

CELL = '''
import time
import torch
from torch import nn
import xai_widgets as xw
from xai_widgets.widgets import explore

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(16, 5)
        self.delay = 0.0
    def forward(self, x):
        if self.delay:
            time.sleep(self.delay)
        return self.head(nn.functional.adaptive_avg_pool2d(self.conv(x).relu(), 2).flatten(1))

torch.manual_seed(0)
net = Net().eval()
x = torch.randn(2, 3, 24, 24)
e = explore(net, x, output_names=["ant", "bee", "cat <b>x</b>", "dog", "eel"])
e.wait(30)
e
'''


def _map_bytes(nb):
    return nb.py("len(e._map)")


def test_explorer(open_notebook):
    nb = open_notebook("explorer", [CELL], ui="lab")
    nb.run_all_and_wait(timeout=120)
    (root,) = nb.wait_ready(ROOT, count=1)
    canvas = root.locator("canvas.xw-main-canvas")
    assert nb.wait_py("e.status", lambda v: v == "done") == "done"
    # class names are text, not markup
    assert root.locator("select.xw-class option b").count() == 0

    # pick another class in the widget: target reads back, the map is redrawn
    before = nb.snapshot(canvas)
    options = root.locator("select.xw-class option").evaluate_all("els => els.map(o => o.value)")
    other = next(v for v in options if int(v) != nb.py("e.target"))
    root.locator("select.xw-class").select_option(other)
    assert nb.wait_py("e.target", lambda v: v == int(other)) == int(other)
    assert nb.wait_py("e.status", lambda v: v == "done", timeout=30) == "done"
    after = nb.wait_pixels_change(canvas, before)
    assert bh.changed_fraction(before, after) > 0

    # pick a method: method reads back, title names it
    before = after
    root.locator("select.xw-method").select_option("grad_cam")
    assert nb.wait_py("e.method", lambda v: v == "grad_cam") == "grad_cam"
    assert nb.wait_py("e.status", lambda v: v == "done", timeout=30) == "done"
    nb.page.wait_for_function("el => el.textContent.includes('Grad-CAM')",
                              arg=root.locator(".xw-main-title").element_handle(), timeout=10_000)
    after = nb.wait_pixels_change(canvas, before)
    assert bh.changed_fraction(before, after) > 0

    # class search over every name
    root.locator("input.xw-search").fill("ee")
    matches = root.locator("button.xw-match")
    assert matches.all_text_contents() == ["eel", "bee"]  # prefix matches first
    matches.filter(has_text="eel").click()
    assert nb.wait_py("e.target", lambda v: v == 4) == 4

    # a slow computation: the kernel runs other cells meanwhile, Cancel stops it
    nb.kernel_exec("net.delay = 0.05")
    root.locator("select.xw-method").select_option("integrated_gradients")
    assert nb.wait_py("e.method", lambda v: v == "integrated_gradients") == "integrated_gradients"
    nb.kernel_exec("e.params = {'steps': 200}")
    assert nb.py("e.status") == "running"
    assert nb.py("1 + 1") == 2  # the notebook is not blocked by the computation
    root.locator("button.xw-cancel").click()
    assert nb.wait_py("e.status", lambda v: v == "cancelled", timeout=5) == "cancelled"
    nb.page.wait_for_function("el => el.textContent.includes('cancelled')",
                              arg=root.locator(".xw-state").element_handle(), timeout=5_000)
    nb.kernel_exec("net.delay = 0.0")

    # pins side by side
    nb.kernel_exec("e.method = 'saliency'; e.wait(30)")
    root.locator("button.xw-pin-btn").click()
    assert nb.wait_py("len(e.pinned)", lambda v: v == 1) == 1
    root.locator(".xw-pin").first.wait_for(timeout=5_000)

    # trust panel: the buttons ask the kernel; the numbers equal xw.faithfulness / xw.sanity_check called directly
    root.locator("button.xw-check").click()
    assert nb.wait_py("'deletion' in e.trust", lambda v: v, timeout=30)
    ref = nb.py("[float(xw.faithfulness(net, x[0:1], e.current, kind=k, steps=10, target=e.target).auc[0]) "
                "for k in ('deletion', 'insertion')]")
    rows = root.locator(".xw-trust-row")
    rows.nth(1).wait_for(timeout=10_000)
    texts = rows.all_text_contents()
    assert texts[0].startswith(f"deletion AUC {ref[0]:.3f}") and texts[1].startswith(f"insertion AUC {ref[1]:.3f}"), texts
    for k in range(2):  # each curve thumbnail is drawn: a frame, the random reference and the curve
        assert nb.snapshot(rows.nth(k).locator("canvas")).distinct_colours >= 3
    root.locator("button.xw-sanity").click()
    assert nb.wait_py("'sanity' in e.trust", lambda v: v, timeout=60)
    verdict = nb.py("e.trust['sanity'].verdict")
    nb.page.wait_for_function("([el, v]) => el.textContent.includes(v)",
                              arg=[root.locator(".xw-trust-sanity").element_handle(), verdict], timeout=10_000)
    assert root.locator("button.xw-sanity").is_disabled()  # cached: nothing left to ask

    for theme in ("light", "dark"):
        bh.set_theme(nb.page, theme)
        for px in (400, 800):
            bh.set_output_width(nb.page, ROOT, px)
            nb.page.wait_for_timeout(300)
            problems = bh.overflow_report(nb.page, ROOT)
            assert problems == [], f"{theme}, {px} px:\n" + "\n".join(problems)
            fails = bh.contrast_failures(nb.page, ROOT)
            assert fails == [], f"{theme}, {px} px:\n" + "\n".join(fails)
    nb.assert_no_page_errors()
