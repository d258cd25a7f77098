"""ForcePlot: validation, traits, binary payload, ordering, shap input, matplotlib fallback."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import traitlets  # noqa: E402

import xai_widgets as xw  # noqa: E402
from xai_widgets.explain.ordering import output_order, sample_order, similarity_order  # noqa: E402
from xai_widgets.plotting import collapse_features  # noqa: E402
from xai_widgets.widgets import ForcePlot  # noqa: E402
from xai_widgets.widgets import _serialize as ser  # noqa: E402

RNG = np.random.default_rng(0)
V = RNG.normal(size=(40, 6))
X = RNG.normal(size=(40, 6))
NAMES = ["age", "bmi", "bp", "s1", "s2", "s3"]


def attr(n=40, **kw):
    kw.setdefault("base_values", 0.5)
    return xw.Attribution.from_array(V[:n], X[:n], feature_names=NAMES, **kw)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_repr_defaults_and_modes():
    w = ForcePlot(attr())
    assert repr(w) == "ForcePlot(samples=40, features=6, mode='stacked')"
    assert (w.mode, w.order, w.link, w.index, w.feature, w.y_feature) == ("auto", "similarity", "identity", 0, None, None)
    assert (w.max_features, w.coverage, w.n_samples, w.n_features) == (12, 0.95, 40, 6)
    assert w.feature_names == NAMES and w.output_name == "f(x)"
    one = ForcePlot(attr()[3])
    assert repr(one) == "ForcePlot(samples=1, features=6, mode='single')"
    assert repr(ForcePlot(attr(), mode="waterfall")) == "ForcePlot(samples=40, features=6, mode='waterfall')"
    assert xw.ForcePlot is ForcePlot


def test_binary_payload_round_trip():
    w = ForcePlot(attr(), link="logit")
    assert isinstance(w._values, bytes) and w._values_meta["dtype"] == "float32"
    got = np.frombuffer(w._values, "<f4").reshape(w._values_meta["shape"])
    np.testing.assert_allclose(got, V, rtol=1e-6)
    base = np.frombuffer(w._base, "<f4").reshape(w._base_meta["shape"])
    np.testing.assert_allclose(base, np.full(40, 0.5))
    data = ser.decode(w._data, w._data_meta)
    np.testing.assert_allclose(data, X, rtol=1e-6)
    sim = np.frombuffer(w._similarity, "<f4").astype(int)
    np.testing.assert_array_equal(sim, similarity_order(V))
    by_out = np.frombuffer(w._by_output, "<f4").astype(int)
    np.testing.assert_array_equal(by_out, output_order(V, 0.5))
    np.testing.assert_allclose(w.outputs, 0.5 + V.sum(1))
    # nothing large travels as JSON
    state = w.get_state()
    for k, v in state.items():
        if isinstance(v, list):
            assert len(v) <= 6, k


def test_one_row_and_names_default():
    w = ForcePlot(xw.Attribution.from_array(np.array([0.1, -0.2, 0.3]), base_values=1.0))
    assert w.n_samples == 1 and w.feature_names == ["x0", "x1", "x2"]
    assert w._similarity == b""  # nothing to order
    assert w.outputs.tolist() == pytest.approx([1.2])
    assert w._data == b"" and w._data_meta == {}


def test_base_values_derivation_and_errors():
    outs = V.sum(1) + 2.0
    w = ForcePlot(xw.Attribution.from_array(V, outputs=outs))
    np.testing.assert_allclose(w.base_values, 2.0)
    w = ForcePlot(V, base_values=np.arange(40.0))
    np.testing.assert_allclose(w.base_values, np.arange(40.0))
    with pytest.raises(ValueError, match="base value"):
        ForcePlot(xw.Attribution.from_array(V))
    with pytest.raises(ValueError, match="base_values has shape"):
        ForcePlot(V, base_values=np.zeros(3))


def test_validation_errors():
    with pytest.raises(ValueError, match=r"\(N, M\)"):
        ForcePlot(xw.Attribution.from_array(np.zeros((2, 3, 4)), base_values=0))
    with pytest.raises(ValueError, match="NaN"):
        bad = V.copy()
        bad[1, 2] = np.nan
        ForcePlot(bad, base_values=0)
    with pytest.raises(ValueError, match="link"):
        ForcePlot(attr(), link="probit")
    with pytest.raises(ValueError, match="mode"):
        ForcePlot(attr(), mode="pie")
    with pytest.raises(ValueError, match="order"):
        ForcePlot(attr(), order="random")
    with pytest.raises(ValueError, match="index"):
        ForcePlot(attr(), index=40)
    with pytest.raises(TypeError, match="index"):
        ForcePlot(attr(), index=1.5)
    with pytest.raises(ValueError, match="feature"):
        ForcePlot(attr(), feature=6)
    with pytest.raises(ValueError, match="y_feature"):
        ForcePlot(attr(), y_feature=-1)
    with pytest.raises(ValueError, match="feature_names has 2"):
        ForcePlot(attr(), feature_names=["a", "b"])
    with pytest.raises(ValueError, match="data has shape"):
        ForcePlot(xw.Attribution.from_array(V, X[:, :3], base_values=0))
    with pytest.raises(TypeError, match="unexpected keyword"):
        ForcePlot(attr(), colour="red")
    with pytest.raises(TypeError, match="attribution must be"):
        ForcePlot("nope")
    with pytest.raises(ValueError, match="max_features"):
        ForcePlot(attr(), max_features=0)
    with pytest.raises(ValueError, match="coverage"):
        ForcePlot(attr(), coverage=0)


def test_synced_traits_settable_from_python():
    w = ForcePlot(attr())
    w.index = 39
    w.feature = 2
    w.feature = None
    w.y_feature = 5
    w.mode = "single"
    assert repr(w) == "ForcePlot(samples=40, features=6, mode='single')"
    for name, bad in (("index", 40), ("index", -1), ("feature", 6), ("y_feature", 99)):
        with pytest.raises(traitlets.TraitError):
            setattr(w, name, bad)
    with pytest.raises(ValueError):
        w.link = "log"
    for name in ("index", "feature", "y_feature", "mode", "order", "link"):
        assert w.traits()[name].metadata.get("sync") is True


def test_order_trait_and_lazy_similarity():
    w = ForcePlot(attr(), order="output")
    assert w._similarity == b""
    np.testing.assert_array_equal(w.sample_order, output_order(V, 0.5))
    w.order = "similarity"
    assert w._similarity != b""
    np.testing.assert_array_equal(w.sample_order, similarity_order(V))
    w.order = "original"
    np.testing.assert_array_equal(w.sample_order, np.arange(40))


def test_similarity_puts_near_identical_rows_together():
    rng = np.random.default_rng(1)
    proto = rng.normal(size=(5, 8)) * 3
    labels = np.repeat(np.arange(5), 12)
    perm = rng.permutation(len(labels))
    labels = labels[perm]
    rows = proto[labels] + rng.normal(size=(len(labels), 8)) * 0.01
    order = similarity_order(rows)
    assert sorted(order.tolist()) == list(range(len(labels)))
    # the block structure is recovered: each cluster is one contiguous run
    seq = labels[order]
    runs = 1 + int((seq[1:] != seq[:-1]).sum())
    assert runs == 5, seq
    # twins end up adjacent
    twins = np.vstack([rows, rows[7] + 1e-9])
    o = similarity_order(twins).tolist()
    assert abs(o.index(7) - o.index(len(twins) - 1)) == 1
    # deterministic and bounded
    np.testing.assert_array_equal(similarity_order(rows), order)
    assert similarity_order(rows[:2]).tolist() == [0, 1]
    np.testing.assert_array_equal(similarity_order(rows, optimal=False).shape, (60,))
    with pytest.raises(ValueError, match="order"):
        sample_order(rows, "random")
    with pytest.raises(ValueError, match="NaN"):
        similarity_order(np.array([[np.nan, 1.0], [0.0, 1.0]]))


def test_xss_name_stays_plain_string_and_strings_data():
    evil = "<img src=x onerror=alert(1)>"
    names = [evil, "b", "c"]
    w = ForcePlot(xw.Attribution.from_array(np.ones((2, 3)), base_values=0, feature_names=names))
    assert w.feature_names[0] == evil
    # categorical (non-numeric) data travels as display strings
    cat = np.array([["red", "x", "1"], ["blue", "y", "2"]], dtype=object)
    w = ForcePlot(xw.Attribution.from_array(np.ones((2, 3)), cat, base_values=0, feature_names=names))
    assert w._data_text == [["red", "x", "1"], ["blue", "y", "2"]] and w._data == b""


def test_accepts_shap_explanation():
    shap = pytest.importorskip("shap")
    e = shap.Explanation(V, base_values=np.full(40, 0.25), data=X, feature_names=NAMES)
    w = ForcePlot(e)
    assert w.n_samples == 40 and w.feature_names == NAMES
    np.testing.assert_allclose(w.base_values, 0.25)
    np.testing.assert_allclose(w.outputs, 0.25 + V.sum(1))
    assert repr(ForcePlot(e[5])) == "ForcePlot(samples=1, features=6, mode='single')"
    multi = shap.Explanation(np.zeros((4, 6, 2)), base_values=np.zeros((4, 2)))
    with pytest.raises(ValueError, match="pick one output"):
        ForcePlot(multi)


def test_collapse_mirror_and_plots():
    row = np.array([10, -5, 3, 1, 0.5, 0.5])
    assert collapse_features(row, 12, 0.95) == ([0, 1, 2, 3], 1.0, 0.0, 2)
    assert collapse_features(np.array([4, 3, 2, 1.0]), 12, 0.9)[0] == [0, 1, 2, 3]
    a = attr()
    ax = a.plot(3)  # base_values present -> force
    assert len(ax.patches) >= 3 and any("f(x)" in t.get_text() for t in ax.texts)
    fig, ax2 = plt.subplots()
    ax2 = a.plot(3, style="waterfall", ax=ax2, link="logit")
    labels = [t.get_text() for t in ax2.get_yticklabels()]
    assert labels[-1].startswith(NAMES[int(np.abs(V[3]).argmax())])  # largest at the top
    assert len(ax2.patches) == len(labels)
    # no base values -> the old bar chart stays the default; force can still be asked for (base 0)
    plain = xw.Attribution.from_array(V[:2], feature_names=NAMES)
    assert len(plain.plot().patches) == 6
    assert plain.plot(style="force") is not None
    with pytest.raises(ValueError, match="sign"):
        a.plot(style="force", sign="absolute")


def test_esm_bundle_exists():
    from xai_widgets.widgets.force_plot import _ESM

    assert _ESM.is_file() and _ESM.name == "force_plot.js"


def test_base_class_ranges_options_and_close():
    from xai_widgets.widgets._base import XWidget

    w = ForcePlot(attr())
    assert isinstance(w, XWidget) and "_esm" not in ForcePlot.__dict__
    assert isinstance(w._esm, str) and "render" in w._esm
    with pytest.raises(traitlets.TraitError, match=r"index must be in \[0, 39\] \(40 samples\), got 40"):
        w.index = 40
    with pytest.raises(traitlets.TraitError, match=r"feature must be None or in \[0, 5\] \(6 features\), got 6"):
        w.feature = 6
    with pytest.raises(ValueError, match=r"y_feature must be None or in \[0, 5\] \(6 features\), got 9"):
        ForcePlot(attr(), y_feature=9)
    with pytest.raises(TypeError, match="valid options"):
        ForcePlot(attr(), samples=3)
    w.close()
    assert w._values == b"" and w._base == b"" and w._similarity == b""
    assert w._vals is None and w._attribution is None
    w.order = "output"  # no data left: nothing recomputed, no error


# ------------------------------------------------------------ static picture
POS_RGB = np.array([0xFF, 0x00, 0x51]) / 255
NEG_RGB = np.array([0x00, 0x8B, 0xFB]) / 255


def _bundle_png(w):
    import base64
    import io

    import matplotlib.image as mpimg

    data, meta = w._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    img = mpimg.imread(io.BytesIO(base64.b64decode(data["image/png"])), format="png")[..., :3]
    assert meta["image/png"]["width"] == img.shape[1] // 2
    return img


def _count(img, rgb, tol=0.04):
    return int((np.abs(img - rgb).max(-1) < tol).sum())


@pytest.mark.parametrize("mode", ["single", "waterfall"])
def test_static_png_one_row_draws_its_signs(mode):
    up = xw.Attribution.from_array(np.array([[0.8, 0.5, 0.3, 0.1]]), base_values=0.0, feature_names=list("abcd"))
    down = xw.Attribution.from_array(-up.values, base_values=0.0, feature_names=list("abcd"))
    img_up, img_down = _bundle_png(ForcePlot(up, mode=mode)), _bundle_png(ForcePlot(down, mode=mode))
    # every feature pushes up: the bars are the red of the view, no blue bar; and the mirror image
    assert _count(img_up, POS_RGB) > 500 and _count(img_up, NEG_RGB) < 20
    assert _count(img_down, NEG_RGB) > 500 and _count(img_down, POS_RGB) < 20


def test_static_title_names_the_class_and_output():
    a = xw.Attribution.from_array(np.array([[0.8, -0.5, 0.3]]), base_values=0.25, target=[1],
                                  output_names=["tabby", "Egyptian cat"], method="kernel_shap")
    w = ForcePlot(a)
    fig = w._static_figure()
    assert fig._suptitle.get_text() == "Egyptian cat = 0.85 · kernel_shap"
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "Egyptian cat = 0.85" in texts and "base value 0.25" in texts


def test_static_stacked_columns_are_the_stacks_in_the_view_order():
    from xai_widgets._display.force import stacked_image

    v = np.array([[1.0, 0.5, -0.25], [-1.0, -0.5, 0.0], [0.25, 0.25, 0.25]])
    out = 2.0 + v.sum(1)
    lo, hi, H = 0.0, 4.0, 400  # 100 px per unit
    order = np.array([2, 0, 1])
    img = stacked_image(v, out, order, None, lo, hi, 3, H)

    def red(c):
        return int(((img[:, c, 0] > 200) & (img[:, c, 2] < 220) & (img[:, c, 1] < 160)).sum())

    def blue(c):
        return int(((img[:, c, 2] > 200) & (img[:, c, 0] < 160)).sum())

    # column k shows sample order[k]: red height = sum of positives, blue = sum of |negatives| (100 px / unit)
    for col, s in enumerate(order):
        assert abs(red(col) - 100 * v[s][v[s] > 0].sum()) <= 2, (col, s)
        assert abs(blue(col) - 100 * -v[s][v[s] < 0].sum()) <= 2, (col, s)
    # sample 0: the positives stack down from its output (1.25 + 2 = 3.25), the negative up from it
    col0 = img[:, 1]
    top_red = np.flatnonzero((col0[:, 0] > 200) & (col0[:, 2] < 220) & (col0[:, 1] < 160)).min()
    assert abs(top_red - (hi - out[0]) * 100) <= 1
    bottom_blue = np.flatnonzero((col0[:, 2] > 200) & (col0[:, 0] < 160)).max()
    assert abs(bottom_blue + 1 - (hi - out[0]) * 100) <= 1
    # y_feature: one bar from 0 to that feature's value
    img = stacked_image(v, out, np.arange(3), 1, -1.0, 1.0, 3, 200)
    assert int(((img[:, 0, 0] > 200) & (img[:, 0, 1] < 160)).sum()) == 50
    assert int(((img[:, 1, 2] > 200) & (img[:, 1, 0] < 160)).sum()) == 50


def test_static_png_stacked_and_closed_widget():
    w = ForcePlot(attr(), order="output")
    img = _bundle_png(w)
    assert _count(img, POS_RGB, 0.05) > 300 and _count(img, NEG_RGB, 0.05) > 300
    w.close()
    with pytest.raises(ValueError, match="closed"):
        w._static_figure()
