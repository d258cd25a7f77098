"""Attribution.plot() (matplotlib fallback) and Python/JS contract checks."""
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import xai_widgets as xw  # noqa: E402
from xai_widgets.widgets import _traits  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_plot_image_attribution_returns_axes():
    rng = np.random.default_rng(0)
    a = xw.Attribution.from_array(rng.normal(size=(2, 3, 16, 16)), rng.random((2, 3, 16, 16)), method="ig")
    ax = a.plot(1)
    assert isinstance(ax, matplotlib.axes.Axes) and ax.get_title() == "ig"
    assert len(ax.images) == 2  # image + heatmap
    fig, ax2 = plt.subplots()
    assert a.plot(0, ax=ax2, sign="absolute", cmap="inferno") is ax2
    # no data: heatmap alone; coarse map over an explicit image
    b = xw.Attribution.from_array(rng.normal(size=(1, 4, 4)))
    assert isinstance(b.plot(image=rng.random((16, 16, 3))), matplotlib.axes.Axes)
    assert isinstance(b.plot(), matplotlib.axes.Axes)


def test_plot_text_attribution_returns_axes():
    toks = ["[CLS]", "the", "cat", "purr", "##ing", "<img src=x onerror=alert(1)>", "[SEP]"]
    a = xw.Attribution.from_array(np.linspace(-1, 1, 7)[None], feature_names=toks, method="ig")
    ax = a.plot()
    assert isinstance(ax, matplotlib.axes.Axes)
    assert any(t.get_text() == toks[5] for t in ax.texts)
    tab = xw.Attribution.from_array(np.arange(6.0)[None] - 3, feature_names=list("abcdef"))
    ax = tab.plot()
    assert len(ax.patches) == 6  # bars
    with pytest.raises(ValueError, match="style"):
        tab.plot(style="pie")


def test_colormap_names_match_js():
    src = (ROOT / "js" / "src" / "lib" / "colormaps.ts").read_text()
    def grab(name):
        return re.findall(r'"([^"]+)"', re.search(rf"export const {name}[^=]*= (\[[^\]]*\])", src).group(1))
    assert tuple(grab("DIVERGING")) == _traits.DIVERGING
    assert tuple(grab("SEQUENTIAL")) == _traits.SEQUENTIAL
    for name in _traits.COLORMAPS:
        assert name in matplotlib.colormaps  # the static fallback knows them too


def test_missing_bundle_error_message(tmp_path):
    from xai_widgets.widgets import _serialize as ser

    with pytest.raises(RuntimeError, match="make js"):
        ser.require_bundle(tmp_path / "nope.js")
