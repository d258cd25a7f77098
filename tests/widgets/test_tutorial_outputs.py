"""The committed tutorials are executed, and every widget output carries a static picture.

Readers on GitHub, nbviewer, VS Code previews or an nbconvert HTML export see
no live widget; the ``image/png`` beside each widget view is what they see.
``make tutorials`` re-executes the notebooks in place.
"""
from __future__ import annotations

import base64
import io
from pathlib import Path

import nbformat
import numpy as np
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _widget_outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if WIDGET_VIEW in o.get("data", {})]


def _ours(out) -> bool:
    # our widgets' deterministic reprs name the class; a progress bar is an HBox
    return out["data"].get("text/plain", "").split("(")[0] in (
        "HeatmapOverlay", "TextHeatmap", "ForcePlot", "AttentionView", "SummaryPlot", "GenerationHeatmap",
        "Explorer")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_widget_output_has_a_picture(path):
    from matplotlib.image import imread

    nb = nbformat.read(str(path), as_version=4)
    assert "widgets" not in nb.metadata, "widget state must not be committed (run `make tutorials`)"
    outs = _widget_outputs(nb)
    assert outs, f"{path.name} holds no widget output: execute it with `make tutorials`"
    for o in outs:
        assert _ours(o), f"a widget output that is not one of ours was saved (a finished progress bar?): {o['data'].get('text/plain')!r}"
        png = o["data"].get("image/png")
        assert png, f"{o['data']['text/plain']!r} has no image/png"
        img = imread(io.BytesIO(base64.b64decode(png)), format="png")
        assert img.shape[0] >= 100 and img.shape[1] >= 200
        assert np.unique(img.reshape(-1, img.shape[-1])[::97], axis=0).shape[0] > 8  # a picture, not a blank


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_nbconvert_html_shows_the_pictures(path):
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(path), as_version=4)
    n = len(_widget_outputs(nb))
    html, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    # no widget state: nbconvert falls back to the picture for each widget
    assert html.count('src="data:image/png;base64,') >= n
