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
    assert len(ax.images) == 1  # the map composited over the image, as the widget draws it
    fig, ax2 = plt.subplots()
    assert a.plot(0, ax=ax2, sign="absolute", cmap="inferno") is ax2
    # no data: heatmap alone; coarse map over an explicit image
    b = xw.Attribution.from_array(rng.normal(size=(1, 4, 4)))
    assert isinstance(b.plot(image=rng.random((16, 16, 3))), matplotlib.axes.Axes)
    assert isinstance(b.plot(), matplotlib.axes.Axes)


def _drawn(ax):
    """The RGB array an Axes shows (its one image)."""
    return np.asarray(ax.images[0].get_array())[..., :3]


def test_plot_keeps_the_image_where_the_value_is_zero():
    rng = np.random.default_rng(1)
    image = (rng.random((12, 10, 3)) * 255).astype(np.uint8)
    v = np.zeros((1, 12, 10))
    v[0, 2:5, 3:6] = 2.0
    v[0, 8:10, 1:4] = -1.0
    a = xw.Attribution.from_array(v, method="ig")
    ax = a.plot(image=image, alpha=0.6, clip_percentile=100)
    got = _drawn(ax)
    zero = v[0] == 0
    np.testing.assert_array_equal(got[zero], image[zero])  # exactly the picture, no grey veil
    # full opacity only at the clip value (|v| = 2): the colormap's end blended at alpha
    lut = np.round(matplotlib.colormaps["coolwarm"](np.linspace(0, 1, 256))[:, :3] * 255)
    np.testing.assert_array_equal(got[3, 4], np.round(image[3, 4] + (lut[255] - image[3, 4]) * 0.6))
    # half the clip value: half the opacity, a quarter of the way from the middle of the map
    np.testing.assert_array_equal(got[8, 2], np.round(image[8, 2] + (lut[64] - image[8, 2]) * 0.3))


def test_plot_blends_like_the_widget_static_picture():
    from xai_widgets.plotting import overlay_rgb as plot_rgb
    from xai_widgets.widgets.heatmap_overlay import overlay_rgb as widget_rgb

    rng = np.random.default_rng(2)
    image = (rng.random((9, 7, 3)) * 255).astype(np.uint8)
    v = rng.normal(size=(9, 7))
    v[0, 0] = np.nan
    for cmap in ("coolwarm", "RdBu_r", "inferno", "viridis"):
        for sign in ("all", "positive", "negative", "absolute"):
            np.testing.assert_array_equal(plot_rgb(image, v, cmap, sign, 1.3, 0.7), widget_rgb(image, v, cmap, sign, 1.3, 0.7))


def test_plot_colorbar_and_sign():
    v = np.linspace(0, 1, 16 * 16).reshape(1, 16, 16)
    a = xw.Attribution.from_array(v, np.zeros((1, 16, 16, 3), np.uint8))
    ax = a.plot(clip_percentile=100)
    cb = ax.figure.axes[-1]._colorbar
    # no negative value: the positive half, 0..max, as the widget's colour bar
    assert (cb.mappable.norm.vmin, cb.mappable.norm.vmax) == (0.0, pytest.approx(1.0))
    ax = xw.Attribution.from_array(v - 0.5, np.zeros((1, 16, 16, 3), np.uint8)).plot(clip_percentile=100)
    cb = ax.figure.axes[-1]._colorbar
    assert (cb.mappable.norm.vmin, cb.mappable.norm.vmax) == (pytest.approx(-0.5), pytest.approx(0.5))
    with pytest.raises(ValueError, match="unknown sign"):
        a.plot(sign="both")
    with pytest.raises(ValueError, match="alpha must be"):
        a.plot(alpha=2)
    with pytest.raises(ValueError, match="unknown colormap 'nope'"):
        a.plot(cmap="nope")


def test_plot_feature_names():
    a = xw.Attribution.from_array(np.array([[0.5, -0.2, 0.1]]), method="shap")
    ax = a.plot(style="bars", feature_names=["age", "bmi", "bp"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["age", "bmi", "bp"]
    ax = a.plot(style="force", feature_names=["age", "bmi", "bp"])
    assert {"age", "bmi"} <= {t.get_text() for t in ax.texts}
    ax = a.plot(style="tokens", feature_names=["the", "cat", "##s"])
    assert [t.get_text() for t in ax.texts] == ["the", "cat", "s"]
    # they win over the attribution's own names
    b = xw.Attribution.from_array(np.array([[0.5, -0.2, 0.1]]), feature_names=["x", "y", "z"])
    assert [t.get_text() for t in b.plot(style="bars", feature_names=["p", "q", "r"]).get_yticklabels()] == ["p", "q", "r"]
    with pytest.raises(ValueError, match="feature_names has 2 names but the row has 3 features"):
        a.plot(style="bars", feature_names=["age", "bmi"])
    with pytest.raises(TypeError, match="feature_names must be a list"):
        a.plot(style="bars", feature_names="age")


def test_plot_target_all_needs_a_class():
    rng = np.random.default_rng(3)
    v = rng.normal(size=(1, 3, 8, 8))
    a = xw.Attribution(values=v, target=np.arange(3), outputs=np.array([[0.1, 0.7, 0.2]]), method="ig",
                       params={"target": "all"}, output_names=["cat", "dog", "bird"])
    with pytest.raises(ValueError, match="explains every output.*target="):
        a.plot()  # the classes must not be summed silently
    grey = np.full((8, 8, 3), 128, np.uint8)
    ax = a.plot(target="dog", image=grey, clip_percentile=100)
    assert ax.get_title() == "ig · dog"
    from xai_widgets.plotting import overlay_rgb

    np.testing.assert_array_equal(_drawn(ax), overlay_rgb(grey, v[0, 1], "coolwarm", "all", np.abs(v[0, 1]).max(), 0.6))
    np.testing.assert_array_equal(_drawn(a.plot(target=1, image=grey, clip_percentile=100)), _drawn(ax))
    with pytest.raises(ValueError, match=r"unknown class name 'dgo'.*close matches: \['dog'\]"):
        a.plot(target="dgo")
    with pytest.raises(ValueError, match="one target per row already"):
        xw.Attribution.from_array(v[:, 0]).plot(target=0)


def test_plot_title_names_the_class():
    a = xw.Attribution.from_array(np.ones((1, 4, 4)), target=[1], outputs=[0.4012], output_names=["cat", "Egyptian cat"],
                                  method="ig")
    assert a.plot().get_title() == "ig · Egyptian cat 0.40"


def test_plotting_does_not_import_widgets():
    src = (ROOT / "xai_widgets" / "plotting.py").read_text()
    assert not re.search(r"^\s*(from|import)\s+[.\w]*widgets", src, re.M)


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


def test_heavy_static_picture_drops_to_72_dpi(monkeypatch):
    import base64
    import io

    from xai_widgets.widgets import _base

    rng = np.random.default_rng(0)
    w = xw.HeatmapOverlay(rng.random((1, 3, 64, 64)), xw.Attribution.from_array(rng.standard_normal((1, 64, 64))))
    data, meta = w._repr_mimebundle_()
    big = plt.imread(io.BytesIO(base64.b64decode(data["image/png"])), format="png")
    assert meta["image/png"]["width"] == big.shape[1] // 2  # 144 dpi shown at half its pixels
    monkeypatch.setattr(_base, "_STATIC_PNG_BUDGET", 1)
    data, meta = w._repr_mimebundle_()
    small = plt.imread(io.BytesIO(base64.b64decode(data["image/png"])), format="png")
    assert abs(small.shape[1] - big.shape[1] / 2) <= 1  # the same figure at 72 dpi ...
    assert meta["image/png"]["width"] == small.shape[1]  # ... shown at its own pixels: same size on the page


def test_no_widget_module_imports_a_sibling():
    """Shared helpers live below the widgets (_display, _base, _traits, _serialize, _html), not in a sibling widget."""
    import ast

    folder = Path(xw.__file__).parent / "widgets"
    widgets = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")}
    for p in folder.glob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and p.stem != "__init__":
                mod = (node.module or "").split(".")[0]
                names = {a.name for a in node.names} if not node.module else {mod}
                assert not names & widgets, f"{p.name} imports the widget module(s) {names & widgets}"
