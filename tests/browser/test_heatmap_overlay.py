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
                "input.xw-clip", "button.xw-download", "canvas.xw-colorbar",
                ".xw-panel .xw-title"):
        assert root.locator(sel).count() >= 1, f"missing {sel}"
    assert root.locator("select.xw-sample").count() == 0, "sample selector shown for N=1"
    assert root.locator("input.xw-shared").count() == 0, "'shared scale' offered for a single map"
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

    # Python -> marker: the marker layer changes around the new point, not far from it
    marker = root.locator("canvas.xw-marker").first
    before = nb.snapshot(marker)
    new = (30, 20)
    nb.kernel_exec(f"w.selected = {new}")
    after = nb.wait_pixels_change(marker, before)
    mh, mw = after.pixels.shape[:2]  # the layer's backing store: CSS size x devicePixelRatio
    cx, cy = int((new[1] + 0.5) * mw / W), int((new[0] + 0.5) * mh / H)
    r = max(2, mw // 60)
    near = bh.changed_fraction(bh.region(before.pixels, cx, cy, r), bh.region(after.pixels, cx, cy, r))
    assert near > 0.1, f"no marker drawn around {new}"
    fx, fy = int(77.5 * mw / W), int(2.5 * mh / H)  # image pixel (2, 77): a corner away from both markers
    assert bh.changed_fraction(bh.region(before.pixels, fx, fy, 1), bh.region(after.pixels, fx, fy, 1)) == 0
    # and back to no selection: the marker layer is emptied and hidden
    nb.kernel_exec("w.selected = None")
    nb.page.wait_for_function("el => getComputedStyle(el).visibility === 'hidden'", arg=marker.element_handle(),
                              timeout=10_000)
    nb.assert_no_page_errors()


# ---------------------------------------------------------------------------- (e)
def test_draws_in_notebook7(open_notebook):
    nb, root = single(open_notebook, ui="notebook", name="overlay-nb7")
    canvas, snap = assert_draws(nb, root)
    assert bh.click_image_pixel(nb.page, canvas, 5, 6, H, W) == (5, 6)
    assert nb.wait_py("w.selected", lambda v: v == [5, 6]) == [5, 6]
    nb.assert_no_page_errors()


# ------------------------------------------------------------ marker and pixels
SMALL = '''
import numpy as np
import xai_widgets as xw
rng = np.random.default_rng(7)
small = rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)
sv = np.zeros((1, 28, 28)); sv[0, 4:10, 4:10] = 1.0; sv[0, 18:24, 16:22] = -1.0
ws = xw.HeatmapOverlay(small, sv)
ws
'''


def expected_small() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (28, 28, 3), dtype=np.uint8)


def _shot(locator) -> np.ndarray:
    """What the screen shows for an element (RGB, CSS px at devicePixelRatio 1)."""
    import io

    from PIL import Image

    locator.scroll_into_view_if_needed()
    return np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("RGB")).astype(int)


def _settled_shot(page, locator, timeout_ms: int = 5000) -> np.ndarray:
    """``_shot`` once two consecutive shots 150 ms apart agree: on a loaded machine the first
    picture may still be drawing (a shot taken mid-render once made the whole image look changed)."""
    shot = _shot(locator)
    for _ in range(max(1, timeout_ms // 150)):
        page.wait_for_timeout(150)
        again = _shot(locator)
        if again.shape == shot.shape and np.array_equal(again, shot):
            return again
        shot = again
    return shot


def test_marker_is_a_few_screen_pixels_and_pixels_stay_crisp(open_notebook):
    nb = open_notebook("overlay-small", [SMALL])
    nb.run_all_and_wait(timeout=90)
    (root,) = nb.wait_ready(".xw-heatmap-overlay", count=1)
    stage = root.locator(".xw-stage").first
    canvas = root.locator("canvas.xw-canvas").first
    box = stage.bounding_box()
    k = box["width"] / 28
    # a 28 px image is scaled up by a whole factor to a readable size, square pixels
    assert box["width"] >= 5 * 28 and abs(k - round(k)) < 1e-6, f"28 px image shown {box['width']} px wide"
    assert canvas.evaluate("el => getComputedStyle(el).imageRendering") == "pixelated"

    # one click: the marker changes a few screen pixels around the click, not the image
    nb.page.mouse.move(1, 1)
    before = _settled_shot(nb.page, stage)
    assert bh.click_image_pixel(nb.page, canvas, 14, 14, 28, 28) == (14, 14)
    assert nb.wait_py("ws.selected", lambda v: v == [14, 14]) == [14, 14]
    nb.page.mouse.move(1, 1)  # the hover readout is not the marker
    after = _settled_shot(nb.page, stage)
    changed = np.any(before != after, axis=-1)
    ys, xs = np.nonzero(changed)
    assert ys.size, "no marker drawn"
    span_x, span_y = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    assert max(span_x, span_y) <= 24, f"marker spans {span_x}x{span_y} screen px"
    assert changed.mean() < 0.02, f"one click changed {changed.mean():.1%} of the image"
    cx, cy = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
    assert abs(cx - 14.5 * k) <= 2 and abs(cy - 14.5 * k) <= 2, "marker not on the clicked pixel"

    # no smoothing: with the overlay off, every image pixel is a block of one colour, its own
    nb.kernel_exec("ws.selected = None\nws.opacity = 0.0")
    nb.page.wait_for_timeout(300)
    shot = _shot(stage)
    kk = int(round(k))
    img = expected_small().astype(int)
    blocks = shot[: 28 * kk, : 28 * kk].reshape(28, kk, 28, kk, 3)
    inner = blocks[:, 1:-1, :, 1:-1]  # leave the block edges to the border outline
    spread = inner.max(axis=(1, 3)) - inner.min(axis=(1, 3))
    assert spread[1:-1, 1:-1].max() <= 1, f"pixels smeared across blocks (spread {spread.max()})"
    assert np.abs(inner.mean(axis=(1, 3))[1:-1, 1:-1] - img[1:-1, 1:-1]).max() <= 2
    nb.assert_no_page_errors()


# -------------------------------------------- class grid, themes, output widths
GRID = SETUP + '''
names = ["tabby", "tiger cat", "Egyptian cat"]
batch = np.stack([image, image[::-1]])
vals = np.stack([np.stack([bump, -bump, 3 * bump[::-1]]), np.stack([bump[::-1], bump, -bump])])
outs = np.array([[0.61, 0.25, 0.14], [0.05, 0.9, 0.05]])
every = xw.Attribution(values=vals, target=np.arange(3), outputs=outs, method="ig", params={"target": "all"},
                       output_names=names)
g = xw.HeatmapOverlay(batch, every)
g
'''
METHODS = '''
one = dict(target=[1], outputs=[0.4012], output_names=names)
m = xw.HeatmapOverlay(image, {"IG": xw.Attribution.from_array(bump[None, None], **one),
                              "Grad-CAM": xw.Attribution.from_array(np.abs(bump)[None], **one),
                              "SmoothGrad": xw.Attribution.from_array(-bump[None], **one)})
m
'''


def _lefts(root) -> list[float]:
    return root.locator(".xw-panel").evaluate_all("els => els.map(e => Math.round(e.getBoundingClientRect().left))")


def test_class_grid_themes_and_widths(open_notebook):
    nb = open_notebook("overlay-grid", [GRID, METHODS])
    nb.run_all_and_wait(timeout=120)
    grid, methods = nb.wait_ready(".xw-heatmap-overlay", count=2)
    assert "xw-class-grid" in grid.get_attribute("class")

    # the grid: columns titled by class, one row per sample, scores per cell, one colour bar
    assert grid.locator(".xw-grid > .xw-title").all_text_contents() == ["tabby", "tiger cat", "Egyptian cat"]
    assert grid.locator(".xw-row-label").count() == 2
    caps = grid.locator(".xw-caption").all_text_contents()
    assert caps == ["score 0.61", "score 0.25", "score 0.14", "score 0.05", "score 0.90", "score 0.05"], caps
    assert grid.locator("canvas.xw-colorbar:visible").count() == 1
    assert grid.locator("select.xw-sample").count() == 0  # every row is on screen
    cells = grid.locator("canvas.xw-canvas")
    assert cells.count() == 6
    snaps = [nb.snapshot(cells.nth(i)) for i in range(6)]
    assert all(s.distinct_colours >= 16 for s in snaps)
    # one scale: the 3x class is saturated where the 1x ones are not (a per-cell scale would saturate all)
    assert bh.changed_fraction(snaps[0], snaps[2]) > 0.05
    # clicking a cell of the second row picks that sample and pixel
    hit = list(bh.click_image_pixel(nb.page, cells.nth(4), 20, 30, H, W))
    assert nb.wait_py("g.selected", lambda v: v == hit) == hit
    assert nb.py("g.sample") == 1
    assert nb.py("g.values_at()") == pytest.approx(
        {n: v for n, v in zip(["tabby", "tiger cat", "Egyptian cat"], nb.py("[float(x) for x in vals[1, :, %d, %d]]" % tuple(hit)))})

    # class names where a class is shown: the methods' common class, once above the panels
    assert methods.locator(".xw-heading").text_content() == "tiger cat · score 0.40"

    for theme in ("light", "dark"):
        if theme == "dark":
            bh.set_theme(nb.page, "dark")
        fails = bh.contrast_failures(nb.page, ".xw-heatmap-overlay")
        assert fails == [], f"{theme} theme:\n" + "\n".join(fails)

    widths = {}
    for px in (400, 700, 1000):
        bh.set_output_width(nb.page, ".xw-heatmap-overlay", px)
        problems = bh.overflow_report(nb.page, ".xw-heatmap-overlay")
        assert problems == [], f"{px} px:\n" + "\n".join(problems)
        lefts = _lefts(methods)
        widths[px] = methods.locator(".xw-stage").first.bounding_box()["width"]
        if px == 400:
            # three panels flow into a grid: two columns, two rows, not one tall column
            assert len(set(lefts)) == 2, f"panel columns at 400 px: {lefts}"
        else:
            assert len(set(lefts)) == 3, f"panel columns at {px} px: {lefts}"
        # canvas text fits too, and stays legible at every width
        assert bh.contrast_failures(nb.page, ".xw-heatmap-overlay") == []
    assert widths[400] < widths[1000], f"panels do not follow the output width: {widths}"
    nb.assert_no_page_errors()


# ---------------------------------------------------------- standalone HTML page
def _open_offline(browser, path):
    opener = getattr(bh, "open_offline", None)
    if opener is None:
        import quality

        opener = quality.open_offline
    return opener(browser, path)


def _canvas_sum(page, selector: str, i: int = 0) -> tuple[int, int]:
    """(sum of RGBA bytes, distinct colours) of the i-th canvas matching selector."""
    return tuple(page.evaluate(
        """([s, i]) => { const c = document.querySelectorAll(s)[i];
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let sum = 0; const seen = new Set();
            for (let k = 0; k < d.length; k += 4) { sum += d[k] + d[k + 1] + d[k + 2] + d[k + 3];
              if (seen.size < 64) seen.add((d[k] << 16) | (d[k + 1] << 8) | d[k + 2]); }
            return [sum, seen.size]; }""", [selector, i]))


def test_save_html_offline_draws_and_reacts(browser, tmp_path):
    import xai_widgets as xw

    rng = np.random.default_rng(3)
    imgs = rng.integers(0, 256, (4, 28, 28, 3), dtype=np.uint8)
    v = rng.standard_normal((4, 28, 28))
    # max_bytes: the live widget sends one sample at a time; the page keeps what its budget allows
    w = xw.HeatmapOverlay(imgs, xw.Attribution.from_array(v), max_bytes=6000)
    every = xw.Attribution(values=rng.standard_normal((2, 3, 28, 28)), target=np.arange(3), method="ig",
                           params={"target": "all"}, output_names=["a", "b", "c"])
    g = xw.HeatmapOverlay(imgs[:2], every)
    path = xw.save_html(tmp_path / "overlay.html", w, g, max_bytes=12_000)
    page, requests, errors = _open_offline(browser, path)
    try:
        page.wait_for_function("() => document.querySelectorAll('.xw-heatmap-overlay[data-xw-ready=\"1\"]').length == 2")
        page.wait_for_timeout(300)
        assert requests == [], requests
        for i in range(page.locator(".xw-canvas").count()):
            assert _canvas_sum(page, ".xw-canvas", i)[1] >= 16, f"canvas {i} is blank"
        first = page.locator(".xw-heatmap-overlay").first
        # a click still selects a pixel and draws the marker
        canvas = first.locator("canvas.xw-canvas").first
        canvas.click(position={"x": 20, "y": 20})
        marker = first.locator("canvas.xw-marker").first
        page.wait_for_function("el => getComputedStyle(el).visibility === 'visible'", arg=marker.element_handle())
        assert _canvas_sum(page, ".xw-marker")[1] >= 2, "no marker after a click"
        assert "Selected" in first.locator(".xw-status").text_content()
        # the opacity slider still redraws
        s0 = _canvas_sum(page, ".xw-canvas")
        bh.set_range_value(first.locator("input.xw-opacity"), 0.05)
        page.wait_for_timeout(200)
        assert _canvas_sum(page, ".xw-canvas") != s0, "opacity slider did not redraw"
        # samples kept in the page draw; one left out says so instead of loading forever
        sample = first.locator("select.xw-sample")
        sample.select_option("1")
        page.wait_for_timeout(200)
        assert "xw-loading" not in first.get_attribute("class")
        sample.select_option("3")
        page.wait_for_function("el => el.textContent.includes('not saved in this page')",
                               arg=first.locator(".xw-status").element_handle())
        assert requests == [] and errors == [], (requests, errors)
    finally:
        page.context.close()
