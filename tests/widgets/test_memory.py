"""A closed widget releases its data: building and closing 300 of each keeps RSS growth <= 10 MB.

Before the base class, 300 HeatmapOverlays of a 224×224 image, each built and
closed, kept 160 MB: anywidget connected its bundle file's change signal to
every instance, so nothing was ever freed. Each widget here carries ~0.4-1 MB
of arrays, so a leak of any one reference per widget shows as 100+ MB.
"""
from __future__ import annotations

import gc
import os

import numpy as np
import pytest
import xai_widgets as xw

N = 300
LIMIT_MB = 10.0


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _image_widget():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)
    vals = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    return lambda: xw.HeatmapOverlay(img, xw.Attribution.from_array(vals))


def _text_widget():
    rng = np.random.default_rng(1)
    toks = [f"tok{i}" for i in range(512)]
    vals = rng.standard_normal((4, 512)).astype(np.float32)
    return lambda: xw.TextHeatmap([toks] * 4, xw.Attribution.from_array(vals))


def _force_widget():
    rng = np.random.default_rng(2)
    v = rng.standard_normal((500, 30))
    a = xw.Attribution.from_array(v, base_values=np.zeros(500), outputs=v.sum(1))
    return lambda: xw.ForcePlot(a)


def _attention_widget():
    rng = np.random.default_rng(3)
    w = rng.random((2, 4, 128, 128)).astype(np.float32)  # (layers, heads, Q, K)
    w /= w.sum(-1, keepdims=True)
    maps = xw.AttentionMaps(w, tokens=[f"t{i}" for i in range(128)])
    return lambda: xw.AttentionView(maps)


@pytest.mark.parametrize("factory", [_image_widget, _text_widget, _force_widget, _attention_widget],
                         ids=["HeatmapOverlay", "TextHeatmap", "ForcePlot", "AttentionView"])
def test_closed_widgets_release_their_data(factory, monkeypatch):
    monkeypatch.setenv("XAI_WIDGETS_STATIC", "0")
    make = factory()
    for _ in range(5):  # warm-up: imports, caches, first allocations
        make().close()
    gc.collect()
    before = _rss_mb()
    for _ in range(N):
        make().close()
    gc.collect()
    grown = _rss_mb() - before
    assert grown <= LIMIT_MB, f"{N} built-and-closed widgets kept {grown:.1f} MB (limit {LIMIT_MB} MB)"
