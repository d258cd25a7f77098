"""Results that travel: save_html pages and the built docs work offline, with no kernel.

Each page is opened from a file with every other request refused; it must
make none, draw every widget (non-blank canvases) and raise no page error.
Per-widget interaction in saved pages is tested beside each widget
(test_<widget>.py); here: several widgets in one file, and the docs pipeline.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import browser_harness as bh

REPO = Path(__file__).resolve().parents[2]
ROOTS = ".xw-root"


def _widgets():
    import xai_widgets as xw

    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (28, 28, 3), dtype=np.uint8)
    a_img = xw.Attribution.from_array(rng.standard_normal((1, 28, 28)))
    toks = ["[CLS]", "the", "movie", "was", "great", "[SEP]"]
    a_txt = xw.Attribution.from_array(rng.standard_normal((1, 6)))
    v = rng.standard_normal((20, 5))
    a_tab = xw.Attribution.from_array(v, base_values=np.zeros(20), outputs=v.sum(1),
                                      feature_names=[f"f{i}" for i in range(5)])
    w = rng.random((2, 3, 6, 6))
    maps = xw.AttentionMaps(w / w.sum(-1, keepdims=True), tokens=toks)
    return [xw.HeatmapOverlay(img, a_img), xw.TextHeatmap(toks, a_txt), xw.ForcePlot(a_tab), xw.AttentionView(maps)]


def _wait_drawn(page, n: int, timeout_ms: int = 20_000) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('.xw-root[data-xw-ready=\"1\"]').length >= n", arg=n, timeout=timeout_ms)


def _blank_canvases(page) -> list[str]:
    return page.evaluate("""() => Array.from(document.querySelectorAll('.xw-root canvas'))
        .filter((c) => window.__xwq.visible(c) && c.width && c.height)
        .filter((c) => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const seen = new Set();
            for (let i = 0; i < d.length && seen.size < 3; i += 4 * 7) seen.add(d[i] << 16 | d[i + 1] << 8 | d[i + 2] | (d[i + 3] << 24));
            return seen.size < 2;
        }).map((c) => c.className || c.parentElement.className)""")


def test_save_html_several_widgets_offline(browser, tmp_path):
    import xai_widgets as xw

    ws = _widgets()
    path = xw.save_html(tmp_path / "report.html", *ws)
    text = path.read_text(encoding="utf-8")
    assert not __import__("re").search(r"(src|href)=[\"']?(https?:)?//", text)
    page, requests, errors = bh.open_offline(browser, path)
    try:
        _wait_drawn(page, len(ws))
        page.wait_for_timeout(300)
        assert requests == []
        assert errors == []
        n_canvas = page.evaluate("() => document.querySelectorAll('.xw-root canvas').length")
        assert n_canvas >= len(ws) - 1  # TextHeatmap draws tokens as DOM, the others canvases
        assert _blank_canvases(page) == []
    finally:
        page.context.close()


def test_save_html_refuses_bad_paths(tmp_path):
    import xai_widgets as xw

    w = _widgets()[0]
    with pytest.raises(ValueError, match=r"\.html"):
        w.save_html(tmp_path / "report.txt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        xw.save_html(tmp_path / "missing" / "report.html", w)
    with pytest.raises(TypeError, match="widgets"):
        xw.save_html(tmp_path / "r.html", "not a widget")


def test_docs_page_has_live_widgets_offline(browser, tmp_path):
    """``make docs`` on a small notebook: the page shows the live standalone widget, loads nothing."""
    import nbformat

    sys.path.insert(0, str(REPO / "docs"))
    import build_tutorials

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A tiny tutorial"),
        nbformat.v4.new_code_cell(
            "import numpy as np, xai_widgets as xw\n"
            "rng = np.random.default_rng(0)\n"
            "img = rng.integers(0, 255, (28, 28, 3), dtype=np.uint8)\n"
            "xw.HeatmapOverlay(img, xw.Attribution.from_array(rng.standard_normal((1, 28, 28))))"),
        nbformat.v4.new_code_cell(
            "v = rng.standard_normal((8, 4))\n"
            "xw.ForcePlot(xw.Attribution.from_array(v, base_values=np.zeros(8), outputs=v.sum(1)))"),
    ]
    src = tmp_path / "tiny.ipynb"
    nbformat.write(nb, str(src))
    (out,) = build_tutorials.build([src], tmp_path / "html")
    html = out.read_text(encoding="utf-8")
    assert html.count("data-xw-spec=") >= 2
    assert "application/vnd.jupyter.widget-view+json" not in html
    page, requests, errors = bh.open_offline(browser, out)
    try:
        _wait_drawn(page, 2)
        page.wait_for_timeout(300)
        assert requests == [], requests
        assert errors == []
        assert _blank_canvases(page) == []
    finally:
        page.context.close()
