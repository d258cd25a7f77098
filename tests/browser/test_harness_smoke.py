"""The plumbing on its own: server, kernelspec, widget manager, Run All, pixels, sync.

Uses a tiny inline anywidget (no bundle needed), so a failure here is the
harness/environment, not the widgets.
"""
from __future__ import annotations

import time

import pytest

import browser_harness as bh

PROBE = r'''
import anywidget, traitlets

class Probe(anywidget.AnyWidget):
    _esm = """
    function render({ model, el }) {
      const root = document.createElement('div');
      root.className = 'xw-probe';
      const c = document.createElement('canvas');
      c.width = 60; c.height = 40;
      c.style.width = '300px'; c.style.height = '200px';
      c.className = 'xw-canvas';
      root.appendChild(c);
      el.appendChild(root);
      const draw = () => {
        const ctx = c.getContext('2d');
        const v = model.get('value');
        for (let y = 0; y < 40; y++) for (let x = 0; x < 60; x++) {
          ctx.fillStyle = `hsl(${(x * 6 + v * 360) % 360}, 70%, ${20 + y}%)`;
          ctx.fillRect(x, y, 1, 1);
        }
        root.dataset.xwReady = '1';
      };
      c.addEventListener('click', (e) => {
        const r = c.getBoundingClientRect();
        model.set('clicked', [Math.floor((e.clientY - r.top) / r.height * 40),
                              Math.floor((e.clientX - r.left) / r.width * 60)]);
        model.save_changes();
      });
      model.on('change:value', draw);
      draw();
    }
    export default { render };
    """
    value = traitlets.Float(0.0).tag(sync=True)
    clicked = traitlets.List([]).tag(sync=True)

w = Probe()
w
'''


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_plumbing(open_notebook, ui):
    nb = open_notebook("smoke", ["import sys; print(sys.executable)", PROBE], ui=ui)
    how = nb.run_all()
    assert how in ("runmenu:run-all", "notebook:run-all-cells"), how
    nb.wait_executed(timeout=60)

    import sys

    assert nb.py("__import__('sys').executable") == sys.executable, "kernel is not the venv's python"

    (root,) = nb.wait_ready(".xw-probe", count=1)
    canvas = root.locator("canvas.xw-canvas")
    s0 = nb.snapshot(canvas)
    assert s0.distinct_colours >= 16

    # Python -> browser
    nb.kernel_exec("w.value = 0.5")
    s1 = nb.wait_pixels_change(canvas, s0)
    assert bh.changed_fraction(s0, s1) > 0.5

    # browser -> Python
    bh.click_image_pixel(nb.page, canvas, 7, 45, 40, 60)
    assert nb.wait_py("w.clicked", lambda v: v == [7, 45]) == [7, 45]

    if ui == "lab":
        # the news/update toast is switched off (isolated user settings)
        st = nb.server.api("/lab/api/settings/@jupyterlab/apputils-extension:notification")
        assert st["settings"].get("fetchNews") == "false", st["settings"]
        assert nb.page.get_by_text("Jupyter news").count() == 0
        assert nb.page.locator(".jp-toast-message, .Toastify__toast").count() == 0, \
            nb.page.locator(".Toastify__toast").all_inner_texts()

    nb.assert_no_page_errors()


def test_run_all_via_menu(open_notebook):
    """The UI fallback (menu bar Run > Run All Cells) works too, and errors surface."""
    nb = open_notebook("menu", ["x = 1", "print(x + 1)", "raise ValueError('boom')"], ui="lab")
    assert nb.run_all(method="menu") == "menu"
    with pytest.raises(bh.KernelError, match="boom"):
        nb.wait_executed(timeout=30)
    assert nb.py("x") == 1
    nb.assert_no_page_errors()


def test_broken_widget_is_reported(open_notebook):
    """The error checks see what a broken bundle does: a throwing render, a syntax error."""
    cells = [
        "import anywidget\n"
        "class Throws(anywidget.AnyWidget):\n"
        "    _esm = \"export default { render() { throw new Error('xw-broken-render'); } };\"\n"
        "Throws()",
        "class Unparsable(anywidget.AnyWidget):\n"
        "    _esm = 'export default { render( { oops'\n"
        "Unparsable()",
    ]
    nb = open_notebook("broken", cells)
    nb.run_all_and_wait(timeout=60)
    deadline = time.monotonic() + 10
    while len(nb.fatal_page_errors()) < 2 and time.monotonic() < deadline:
        nb.page.wait_for_timeout(200)
    with pytest.raises(AssertionError) as e:
        nb.assert_no_page_errors()
    assert "xw-broken-render" in str(e.value)
    assert "SyntaxError" in str(e.value) or "Unexpected end of input" in str(e.value)


# ------------------------------------------------------------- quality probes
_PROBE_PAGE = """
<!DOCTYPE html><html><body style="background:#fff;margin:0">
<div class="probe" id="good" style="width:300px;background:#202020;color:#f0f0f0">light on dark<canvas width="200" height="40"></canvas></div>
<div class="probe" id="bad" style="width:300px;background:#fff;color:#bbb">faint text<canvas width="200" height="40"></canvas>
  <div style="width:520px">too wide</div></div>
<script>
  for (const [id, bg, fg] of [["good", "#fff", "#000"], ["bad", "#fafafa", "#e0e0e0"]]) {
    const c = document.querySelector(`#${id} canvas`), g = c.getContext("2d");
    g.fillStyle = bg; g.fillRect(0, 0, 200, 40);
    g.fillStyle = fg; g.font = "16px sans-serif"; g.fillText("canvas text", 10, 25);
    g.fillText("cut at the edge", 150, 25);
  }
</script></body></html>
"""


def test_quality_probes_measure_contrast_and_overflow(new_page):
    """The probes find low contrast (DOM and canvas), overflow and clipped canvas text — and pass good text."""
    page = new_page()
    page.set_content(_PROBE_PAGE)
    assert bh.contrast_failures(page, "#good") == []
    bad = bh.contrast_failures(page, "#bad")
    assert any(f.startswith("DOM") and "faint text" in f for f in bad), bad
    assert any(f.startswith('canvas "canvas text"') for f in bad), bad
    # #bbb on white is 1.92:1, #e0e0e0 on #fafafa about 1.3:1
    ratio = page.evaluate("() => window.__xwq.ratio([187,187,187],[255,255,255])")
    assert abs(ratio - 1.92) < 0.01
    over = bh.overflow_report(page, "#bad")
    assert any("outside the root" in o for o in over), over
    assert any("cut at the canvas edge" in o and "cut at the edge" in o for o in over), over
    assert not [o for o in bh.overflow_report(page, "#good") if "outside the root" in o]
