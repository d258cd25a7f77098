"""HeatmapOverlay in a real JupyterLab / Notebook 7: draws, reacts, syncs back to Python."""
from __future__ import annotations

import numpy as np
import pytest

import browser_harness as bh

H, W = 48, 80

SETUP = f'''
import numpy as np
import xai_widgets as xw

H, W = {H}, {W}
yy, xx = np.mgrid[0:H, 0:W]
image = np.stack([xx * 255 // (W - 1), yy * 255 // (H - 1), (xx + yy) * 255 // (W + H - 2)], -1).astype(np.uint8)
bump = np.exp(-((yy - 16) ** 2 + (xx - 50) ** 2) / 120.0) - 0.8 * np.exp(-((yy - 34) ** 2 + (xx - 20) ** 2) / 80.0)
attr = xw.Attribution.from_array(bump[None, None].astype(np.float32), image.transpose(2, 0, 1)[None])
'''


def expected_image() -> np.ndarray:
    """The same picture as SETUP's ``image``, computed here."""
    yy, xx = np.mgrid[0:H, 0:W]
    return np.stack(
        [xx * 255 // (W - 1), yy * 255 // (H - 1), (xx + yy) * 255 // (W + H - 2)], -1
    ).astype(np.uint8)


def single(open_notebook, ui="lab", name="overlay", extra=()):
    nb = open_notebook(name, [SETUP, "w = xw.HeatmapOverlay(image, attr)\nw", *extra], ui=ui)
    nb.run_all_and_wait(timeout=90)
    roots = nb.wait_ready(".xw-heatmap-overlay", count=1)
    return nb, roots[0]


def assert_draws(nb, root):
    panels = root.locator(".xw-panel")
    assert panels.count() >= 1
    canvas = panels.first.locator("canvas.xw-canvas")
    snap = nb.snapshot(canvas)
    assert snap.pixels.shape[:2] == (H, W), f"canvas backing store {snap.pixels.shape[:2]}, image {H}x{W}"
    assert snap.rect["width"] > 0 and snap.rect["height"] > 0
    assert snap.distinct_colours >= 16, f"only {snap.distinct_colours} colours: blank canvas?"
    return canvas, snap


# ---------------------------------------------------------------------------- (a)
def test_draws_in_jupyterlab(open_notebook):
    nb, root = single(open_notebook)
    canvas, overlay = assert_draws(nb, root)

    # DOM contract
    for sel in ("input.xw-opacity[type=range]", "select.xw-colormap", "select.xw-sign",
                "input.xw-clip", "input.xw-shared", "button.xw-download", "canvas.xw-colorbar",
                ".xw-panel .xw-title"):
        assert root.locator(sel).count() >= 1, f"missing {sel}"
    assert root.locator("select.xw-sample").count() == 0, "sample selector shown for N=1"
    slider = root.locator("input.xw-opacity")
    assert (slider.get_attribute("min"), slider.get_attribute("max")) == ("0", "1")
    assert float(slider.get_attribute("step")) == pytest.approx(0.01)
    colorbar = nb.snapshot(root.locator("canvas.xw-colorbar:visible").first)
    assert colorbar.distinct_colours >= 16, "colour bar not drawn"

    # the overlay changes the picture; with opacity 0 the canvas IS the image
    nb.kernel_exec("w.opacity = 0.0")
    plain = nb.wait_pixels_change(canvas, overlay)
    changed = bh.changed_fraction(overlay, plain)
    assert changed > 0.05, f"overlay and bare image differ on only {changed:.1%} of pixels"
    rgb = plain.pixels[..., :3].astype(int)
    diff = np.abs(rgb - expected_image().astype(int))
    assert diff.max() <= 2, f"opacity 0 does not show the image as given (max |diff| {diff.max()})"
    assert (plain.pixels[..., 3] == 255).all()
    nb.assert_no_page_errors()


def test_several_methods_and_samples(open_notebook):
    cells = [
        SETUP,
        "w = xw.HeatmapOverlay(image, {'bump': attr, 'flipped': xw.Attribution.from_array(-bump[None, None])})\nw",
        "batch = np.stack([image, image[::-1]])\n"
        "w2 = xw.HeatmapOverlay(batch, xw.Attribution.from_array(np.stack([bump, bump[::-1]])[:, None]))\nw2",
    ]
    nb = open_notebook("overlay-multi", cells)
    nb.run_all_and_wait(timeout=90)
    r1, r2 = nb.wait_ready(".xw-heatmap-overlay", count=2)
    titles = r1.locator(".xw-panel .xw-title").all_text_contents()
    assert titles == ["bump", "flipped"], titles
    snaps = [nb.snapshot(r1.locator(".xw-panel").nth(i).locator("canvas.xw-canvas")) for i in range(2)]
    assert all(s.distinct_colours >= 16 for s in snaps)
    assert bh.changed_fraction(*snaps) > 0.05, "opposite maps drawn the same"

    # N > 1: a sample selector; picking sample 1 redraws and syncs to Python
    sample = r2.locator("select.xw-sample")
    assert sample.count() == 1
    canvas = r2.locator("canvas.xw-canvas").first
    before = nb.snapshot(canvas)
    sample.select_option(index=1)
    assert nb.wait_py("w2.sample", lambda v: v == 1) == 1
    after = nb.wait_pixels_change(canvas, before)
    assert bh.changed_fraction(before, after) > 0.2
    nb.assert_no_page_errors()


# ---------------------------------------------------------------------------- (b)
def test_opacity_slider(open_notebook):
    nb, root = single(open_notebook, name="overlay-slider")
    canvas, s0 = assert_draws(nb, root)
    slider = root.locator("input.xw-opacity")
    assert float(slider.input_value()) == pytest.approx(nb.py("w.opacity"))

    bh.set_range_value(slider, 0.15)
    assert nb.wait_py("w.opacity", lambda v: abs(v - 0.15) < 1e-9) == pytest.approx(0.15)
    s1 = nb.wait_pixels_change(canvas, s0)
    assert bh.changed_fraction(s0, s1) > 0.02

    bh.set_range_value(slider, 1.0)
    assert nb.wait_py("w.opacity", lambda v: v == 1.0) == 1.0
    s2 = nb.wait_pixels_change(canvas, s1)
    assert bh.changed_fraction(s1, s2) > 0.02

    # and Python -> slider
    nb.kernel_exec("w.opacity = 0.4")
    nb.page.wait_for_function("el => Math.abs(Number(el.value) - 0.4) < 1e-9", arg=slider.element_handle(), timeout=10_000)
    nb.assert_no_page_errors()


# ---------------------------------------------------------------------------- (c)
@pytest.mark.parametrize("clicks", [[(13, 57), (40, 3)]])
def test_click_selects_original_pixel(open_notebook, clicks):
    big = (
        "# 4x the size, shown downsampled to 40 px: `selected` must still be in ORIGINAL pixels\n"
        "big = np.kron(image, np.ones((4, 4, 1), np.uint8))\n"
        "wb = xw.HeatmapOverlay(big, np.kron(bump, np.ones((4, 4)))[None], max_size=40)\nwb"
    )
    nb = open_notebook("overlay-click", [SETUP, "w = xw.HeatmapOverlay(image, attr)\nw", big])
    nb.run_all_and_wait(timeout=90)
    root, root_big = nb.wait_ready(".xw-heatmap-overlay", count=2)
    canvas = root.locator("canvas.xw-canvas").first
    assert nb.py("w.selected") is None

    for row, col in clicks:
        # >= 1 CSS px per image pixel here: the centre of (row, col) is hit exactly
        assert bh.click_image_pixel(nb.page, canvas, row, col, H, W) == (row, col)
        assert nb.wait_py("w.selected", lambda v: v == [row, col]) == [row, col]

    # downsampled widget: click the centre of an original pixel
    cb = root_big.locator("canvas.xw-canvas").first
    assert nb.py("wb.display_shape") != nb.py("wb.image_shape"), "big image was not downsampled"
    hit = list(bh.click_image_pixel(nb.page, cb, 101, 250, 4 * H, 4 * W))
    assert nb.wait_py("wb.selected", lambda v: v == hit) == hit

    # Python -> marker: pixels change around the new point, not far away from both
    before = nb.snapshot(canvas)
    new = (30, 20)
    nb.kernel_exec(f"w.selected = {new}")
    after = nb.wait_pixels_change(canvas, before)
    cx, cy = int(new[1]), int(new[0])  # backing store is the image size here
    near = bh.changed_fraction(bh.region(before.pixels, cx, cy, 4), bh.region(after.pixels, cx, cy, 4))
    assert near > 0.1, f"no marker drawn around {new}"
    far = (2, 77)  # a corner away from the old and new marker
    assert bh.changed_fraction(bh.region(before.pixels, far[1], far[0], 1),
                               bh.region(after.pixels, far[1], far[0], 1)) == 0
    # and back to no selection: the marker goes away
    nb.kernel_exec("w.selected = None")
    cleared = nb.wait_pixels_change(canvas, after)
    assert bh.changed_fraction(bh.region(after.pixels, cx, cy, 4), bh.region(cleared.pixels, cx, cy, 4)) > 0.1
    nb.assert_no_page_errors()


# ---------------------------------------------------------------------------- (e)
def test_draws_in_notebook7(open_notebook):
    nb, root = single(open_notebook, ui="notebook", name="overlay-nb7")
    canvas, snap = assert_draws(nb, root)
    assert bh.click_image_pixel(nb.page, canvas, 5, 6, H, W) == (5, 6)
    assert nb.wait_py("w.selected", lambda v: v == [5, 6]) == [5, 6]
    nb.assert_no_page_errors()
