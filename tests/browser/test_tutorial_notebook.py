"""The image-attribution tutorial, run end to end in JupyterLab: every widget draws."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

import browser_harness as bh

# XW_TUTORIAL: another notebook in its place (for working on the harness itself)
TUTORIAL = Path(os.environ.get("XW_TUTORIAL") or bh.REPO_ROOT / "notebooks" / "01_image_attribution.ipynb")
ROOTS = ".xw-heatmap-overlay, .xw-text-heatmap"


def test_tutorial_runs_and_every_widget_draws(open_notebook, jupyter_server):
    if not TUTORIAL.exists():
        pytest.fail(f"{TUTORIAL} is missing: the tutorial is part of the project", pytrace=False)
    # the whole notebooks/ folder, so relative paths the tutorial uses still work
    dest = jupyter_server.root / "tutorial"
    if not dest.exists():
        shutil.copytree(TUTORIAL.parent, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    nb = open_notebook.existing(f"tutorial/{TUTORIAL.name}", ui="lab")
    t0 = time.monotonic()
    nb.run_all_and_wait(timeout=240)
    ran = time.monotonic() - t0

    # views of every widget-view output the kernel produced
    n_views = nb.page.evaluate(
        """() => window.__xw.panel().content.widgets
              .filter(c => c.model.type === 'code')
              .flatMap(c => c.model.outputs.toJSON())
              .filter(o => o.data && o.data['application/vnd.jupyter.widget-view+json']).length"""
    )
    assert n_views >= 1, "the tutorial displayed no widget"
    roots = nb.wait_ready(ROOTS, count=1, timeout=60)
    # settle: views render asynchronously after the last cell
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        n = nb.page.locator(ROOTS).count()
        time.sleep(1.0)
        if nb.page.locator(ROOTS).count() == n:
            break
    roots = nb.wait_ready(ROOTS, count=n, timeout=60)
    overlays = nb.page.locator(".xw-heatmap-overlay")
    assert overlays.count() >= 1, "no HeatmapOverlay in the tutorial"

    for i in range(overlays.count()):
        for j, canvas in enumerate(overlays.nth(i).locator(".xw-panel canvas.xw-canvas").all()):
            snap = nb.snapshot(canvas)
            assert snap.distinct_colours >= 16, f"overlay {i} panel {j}: {snap.distinct_colours} colours"
    texts = nb.page.locator(".xw-text-heatmap")
    for i in range(texts.count()):
        assert texts.nth(i).locator("span.xw-token").count() >= 1, f"text heatmap {i} has no tokens"

    errors = nb.page.locator(".jp-OutputArea-output", has_text="Error displaying widget")
    assert errors.count() == 0, errors.all_inner_texts()
    shots = os.environ.get("XW_SCREENSHOTS")  # e.g. docs/ — refreshes the README's pictures
    if shots:
        overlays.first.scroll_into_view_if_needed()
        overlays.first.screenshot(path=str(Path(shots) / "heatmap_overlay.png"))
        if texts.count():
            texts.first.screenshot(path=str(Path(shots) / "text_heatmap.png"))
    print(f"tutorial: ran in {ran:.0f}s, {n_views} widget views, {n} xw roots")
    nb.assert_no_page_errors()
