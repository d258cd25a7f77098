"""SummaryPlot: statistics against numpy, the quantised payload, the interaction choice against brute force,
validation, shap.Explanation input, repr, static picture, save_html, linked ForcePlot, Attribution.plot styles."""
from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import xai_widgets as xw  # noqa: E402
from xai_widgets._display import summary as S  # noqa: E402


def make(n=400, m=8, seed=0, **kw):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, m))
    V = X * np.linspace(2.0, 0.1, m)
    V[:, 0] += X[:, 0] * X[:, 2]  # feature 0's effect depends on feature 2
    return xw.Attribution.from_array(V, X, base_values=0.3, feature_names=[f"f{j}" for j in range(m)],
                                     method="kernel_shap", **kw), V, X


def multi(n=300, m=6, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, m))
    V = np.stack([X * np.arange(1, m + 1), -0.5 * X * np.arange(m, 0, -1)], 1)  # (N, 2, M)
    a = xw.Attribution(values=V, data=X, target=np.arange(2), params={"target": "all"}, base_values=np.zeros((n, 2)),
                       outputs=V.sum(-1), output_names=["benign", "malignant"], feature_names=[f"g{j}" for j in range(m)])
    return a, V, X


# ------------------------------------------------------------------ statistics
def test_order_bars_and_other_row_match_numpy():
    a, V, X = make(m=12)
    w = xw.SummaryPlot(a, max_display=5)
    ma = np.abs(V).mean(0)
    np.testing.assert_allclose(w.mean_abs, ma, rtol=0, atol=1e-12)
    order = np.argsort(-ma, kind="stable")
    np.testing.assert_array_equal(w.feature_order, order)
    shown, rest, heights = S.bar_rows(V, 5)
    assert shown == order[:4].tolist() and sorted(rest) == sorted(order[4:].tolist())
    np.testing.assert_allclose(heights[:4], ma[order[:4]], atol=1e-12)
    np.testing.assert_allclose(heights[4], ma[order[4:]].sum(), atol=1e-12)  # shap: sum of the rest's mean |value|
    shown_b, rest_b, other = S.beeswarm_rows(V, 5)
    np.testing.assert_allclose(other, V[:, order[4:]].sum(1), atol=1e-12)  # per sample, signed
    # exactly max_display features: no "other" row; one more: max_display - 1 rows + one row of 2
    assert S.collapse(list(range(5)), 5) == ([0, 1, 2, 3, 4], [])
    assert S.collapse(list(range(6)), 5) == ([0, 1, 2, 3], [4, 5])
    assert S.collapse(list(range(6)), 1) == ([], [0, 1, 2, 3, 4, 5])
    # the exact mean |value| travels for the bars
    ma_sent = np.frombuffer(w._mean_abs, "<f4").reshape(w._mean_abs_meta["shape"])
    np.testing.assert_allclose(ma_sent[0], ma, rtol=1e-6)


def test_multi_output_bars_per_class():
    a, V, X = multi()
    w = xw.SummaryPlot(a, kind="bar")
    np.testing.assert_allclose(w.mean_abs, np.abs(V).mean(0), atol=1e-12)  # (K, M)
    order = np.argsort(-np.abs(V).mean(0).sum(0), kind="stable")
    np.testing.assert_array_equal(w.feature_order, order)
    assert list(w.output_names) == ["benign", "malignant"]
    _, _, heights = S.bar_rows(V, 20)
    np.testing.assert_allclose(heights, np.abs(V).mean(0)[:, order].T, atol=1e-12)
    assert repr(w) == "SummaryPlot(samples=300, features=6, outputs=2, kind='bar')"


def test_quantisation_error_bound():
    a, V, X = make(n=1000, m=10)
    X = X.copy()
    X[3, 4] = np.nan
    a = xw.Attribution.from_array(V, X, base_values=0.0)
    w = xw.SummaryPlot(a)
    meta = w._values_meta
    assert meta["dtype"] == "uint16" and meta["shape"] == [1000, 1, 10]
    # decoded as the browser does (js/src/summary/layout.ts decodeU16), independently of the Python helper
    q = np.frombuffer(w._values, "<u2").reshape(1000, 10).astype(np.float64)
    lo, hi = np.array(meta["lo"]), np.array(meta["hi"])
    dec = lo + q * (hi - lo) / 65534
    bound = (hi - lo) / 65534 / 2
    assert np.all(np.abs(dec - V) <= bound * (1 + 1e-9) + 1e-15)
    assert np.abs(dec - V).max() > 0  # it is quantised
    np.testing.assert_allclose(lo, V.min(0)) and np.testing.assert_allclose(hi, V.max(0))
    dq = np.frombuffer(w._data, "<u2").reshape(1000, 10)
    assert dq[3, 4] == 65535 and (dq[np.arange(1000) != 3] != 65535).all()  # missing marked, nothing else
    dm = w._data_meta
    dd = np.array(dm["lo"]) + dq * (np.array(dm["hi"]) - np.array(dm["lo"])) / 65534
    ok = dq != 65535
    assert np.all(np.abs(dd - np.nan_to_num(X))[ok] <= ((np.array(dm["hi"]) - np.array(dm["lo"])) / 131068 + 1e-15)[None].repeat(1000, 0)[ok])
    # the helper pair round-trips within the same bound
    raw, lo2, hi2 = S.quantize_u16(V)
    assert np.abs(S.dequantize_u16(raw, V.shape, lo2, hi2) - V).max() <= ((hi2 - lo2) / 131068).max() * (1 + 1e-9)


def test_state_for_10000_by_30_fits_3_mb():
    from ipywidgets.widgets.widget import _remove_buffers
    import json

    rng = np.random.default_rng(0)
    X = rng.normal(size=(10_000, 30))
    w = xw.SummaryPlot(xw.Attribution.from_array(X * rng.random(30), X, base_values=0.0))
    st = w.get_state()
    st.pop("_esm", None)
    stripped, _, bufs = _remove_buffers(st)
    size = len(json.dumps(stripped)) + sum(len(b) for b in bufs)
    assert size <= 3 * 2**20, size
    assert size >= 10_000 * 30 * 2 * 2  # values and feature values, 2 bytes each


# --------------------------------------------------------------- interactions
def _shap_reference(index, shap_values, X):
    """shap.utils.approximate_interactions' loop, copied literally (N <= 10,000: no random subset)."""
    x = X[:, index]
    srt = np.argsort(x)
    shap_ref = shap_values[srt, index]
    inc = max(min(int(len(x) / 10.0), 50), 1)
    interactions = []
    for i in range(X.shape[1]):
        scores = []
        for val_other in (X[srt, i], np.isnan(X[srt, i]).astype(float)):
            v = 0.0
            if not (i == index or np.sum(np.abs(val_other)) < 1e-8):
                for j in range(0, len(x), inc):
                    if np.std(val_other[j:j + inc]) > 0 and np.std(shap_ref[j:j + inc]) > 0:
                        v += abs(np.corrcoef(shap_ref[j:j + inc], val_other[j:j + inc])[0, 1])
            scores.append(v)
        interactions.append(max(scores))
    return np.array(interactions)


@pytest.mark.parametrize("n", [37, 400, 2000])
def test_interaction_scores_equal_brute_force(n):
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, 6))
    X[rng.random((n, 6)) < 0.03] = np.nan
    X[:, 0] = rng.normal(size=n)  # the sorted feature has no missing values, as shap assumes
    X[:, 5] = 0.0  # a constant feature scores 0
    V = np.column_stack([X[:, 0] * np.nan_to_num(X[:, 3]), rng.normal(size=(n, 5))])
    ref = _shap_reference(0, V, X)
    order, s = S.approximate_interactions(0, V, X)
    np.testing.assert_allclose(s, ref, rtol=1e-9, atol=1e-12)
    assert order[0] == 3 and s[5] == 0.0 and s[0] == 0.0


def test_interaction_partner_known_case_and_shap():
    a, V, X = make(n=1000)
    w = xw.SummaryPlot(a, kind="scatter", feature=0)
    assert w.scatter_feature == 0 and w.color_feature == 2  # V[:, 0] = x0 (2 + x2)
    assert w._partners[0][0] == 2
    shap = pytest.importorskip("shap")
    for j in range(3):
        assert S.approximate_interactions(j, V, X)[0][0] == shap.utils.approximate_interactions(j, V, X)[0]
    w.color = 5
    assert w.color_feature == 5


def test_swarm_offsets_match_shap_layout():
    rng = np.random.default_rng(3)
    v = np.round(rng.normal(size=700), 2)  # ties in bins
    quant = np.round(100 * (v - v.min()) / (v.max() - v.min() + 1e-8))
    ys, layer, last = np.zeros(700), 0, None
    for i in np.lexsort((np.arange(700), quant)):
        if quant[i] != last:
            layer = 0
        ys[i] = np.ceil(layer / 2) * ((layer % 2) * 2 - 1)
        layer, last = layer + 1, quant[i]
    np.testing.assert_array_equal(S.swarm_offsets(v), ys)
    assert S.swarm_offsets(np.ones(3)).tolist() == [0, 1, -1]  # 0, above, below


# ------------------------------------------------------------------ validation
def test_rows_with_different_targets_refused_like_the_stacked_force_plot():
    a, V, X = make(n=20)
    a = xw.Attribution.from_array(V, X, base_values=0.0, target=np.arange(20) % 3, output_names=["a", "b", "c"])
    with pytest.raises(ValueError) as force:
        xw.ForcePlot(a)
    with pytest.raises(ValueError) as summary:
        xw.SummaryPlot(a)
    assert str(summary.value) == str(force.value)
    assert "different outputs" in str(summary.value)
    with pytest.raises(ValueError) as plotted:
        a.plot(style="beeswarm")
    assert str(plotted.value) == str(force.value)


@pytest.mark.parametrize("shape", [(4, 3, 8, 8), (4, 10, 16)])
def test_image_or_token_shaped_values_point_to_heatmap_views(shape):
    a = xw.Attribution.from_array(np.ones(shape))
    with pytest.raises(ValueError, match="HeatmapOverlay.*TextHeatmap"):
        xw.SummaryPlot(a)
    with pytest.raises(ValueError, match="HeatmapOverlay or TextHeatmap"):
        a.plot(style="bar")


def test_validation_errors():
    a, V, X = make(n=50)
    with pytest.raises(ValueError, match="unknown kind 'violin'"):
        xw.SummaryPlot(a, kind="violin")
    with pytest.raises(TypeError, match="kind must be a string"):
        xw.SummaryPlot(a, kind=1)
    with pytest.raises(ValueError, match=r"feature must be None or in \[0, 7\] \(8 features\), got 8"):
        xw.SummaryPlot(a, feature=8)
    with pytest.raises(ValueError, match=r"color must be None or in \[0, 7\]"):
        xw.SummaryPlot(a, color=-1)
    with pytest.raises(ValueError, match=r"index must be None or in \[0, 49\] \(50 samples\), got 50"):
        xw.SummaryPlot(a, index=50)
    with pytest.raises(ValueError, match="max_display must be >= 1"):
        xw.SummaryPlot(a, max_display=0)
    with pytest.raises(TypeError, match="index must be an integer"):
        xw.SummaryPlot(a, index=1.5)
    with pytest.raises(TypeError, match="unexpected keyword"):
        xw.SummaryPlot(a, colour=1)
    with pytest.raises(TypeError, match="shows one Attribution, got a list of 2"):
        xw.SummaryPlot([a, a])
    with pytest.raises(ValueError, match="feature_names has 3 names"):
        xw.SummaryPlot(a, feature_names=["a", "b", "c"])
    bad = V.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        xw.SummaryPlot(xw.Attribution.from_array(bad))
    with pytest.raises(ValueError, match="data has shape"):
        xw.SummaryPlot(xw.Attribution.from_array(V, X[:, :3]))
    w = xw.SummaryPlot(a)
    for name, val, err in (("index", 50, ValueError), ("feature", 99, ValueError), ("kind", "pie", ValueError),
                           ("max_display", 0, ValueError), ("output", 1, ValueError), ("bar_mode", "side", ValueError)):
        with pytest.raises(err):
            setattr(w, name, val)
    w.index, w.feature = 3, 1  # Python sets what a click sets
    assert (w.index, w.feature) == (3, 1)
    no_data = xw.SummaryPlot(xw.Attribution.from_array(V))
    with pytest.raises(ValueError, match="scatter.*no numeric data"):
        no_data.kind = "scatter"
    with pytest.raises(ValueError, match="no numeric data"):
        xw.SummaryPlot(xw.Attribution.from_array(V), kind="scatter")
    assert no_data.kind == "beeswarm" and no_data.to_png()[:4] == b"\x89PNG"


# ------------------------------------------------------------- shap and repr
def test_accepts_shap_explanation():
    shap = pytest.importorskip("shap")
    a, V, X = make(n=60)
    e = shap.Explanation(values=V, base_values=np.full(60, 0.3), data=X, feature_names=[f"f{j}" for j in range(8)])
    w = xw.SummaryPlot(e, kind="bar")
    np.testing.assert_allclose(w.values, V)
    assert list(w.feature_names) == [f"f{j}" for j in range(8)] and w.method == "shap"
    # multi-output explanation (N, M, K) -> every output in the bars
    V3 = np.stack([V, -V], -1)
    e3 = shap.Explanation(values=V3, base_values=np.zeros((60, 2)), data=X, output_names=["no", "yes"])
    w3 = xw.SummaryPlot(e3, kind="bar")
    assert w3.values.shape == (60, 2, 8) and list(w3.output_names) == ["no", "yes"]
    w3.output = 1
    assert w3.force_plot(index=4).output_name == "yes"


def test_repr_is_deterministic_and_static_picture_present():
    a, V, X = make(n=120)
    reprs = set()
    for kind in ("beeswarm", "bar", "scatter"):
        w = xw.SummaryPlot(a, kind=kind, index=3)
        assert repr(w) == f"SummaryPlot(samples=120, features=8, kind={kind!r})"
        reprs.add(repr(xw.SummaryPlot(a, kind=kind)))
        data, meta = w._repr_mimebundle_()
        png = base64.b64decode(data["image/png"])
        img = matplotlib.pyplot.imread(io.BytesIO(png), format="png")
        assert img.shape[0] > 200 and img.shape[1] > 400
        assert len(np.unique(img.reshape(-1, img.shape[-1])[:, :3], axis=0)) > 30  # dots/bars, not an empty frame
    assert len(reprs) == 3


def test_save_html_embeds_the_view(tmp_path):
    a, V, X = make(n=50)
    w = xw.SummaryPlot(a, feature_names=['<img src=x onerror="alert(1)">'] + [f"f{j}" for j in range(1, 8)])
    path = w.save_html(tmp_path / "summary.html")
    text = path.read_text(encoding="utf-8")
    assert '"bundle":"summary_plot"' in text  # the standalone runtime knows the view
    assert '<img src=x onerror="alert(1)">' not in text  # names travel inside the escaped JSON spec
    assert '\\u003cimg src=x onerror' in text


def test_force_plot_of_the_picked_sample():
    a, V, X = make(n=30)
    w = xw.SummaryPlot(a)
    with pytest.raises(ValueError, match="no sample picked"):
        w.force_plot()
    w.index = 7
    f = w.force_plot()
    assert f.n_samples == 1
    np.testing.assert_allclose(f.values[0], V[7])
    np.testing.assert_allclose(f.base_values, [0.3])
    assert list(f.feature_names) == list(w.feature_names)
    np.testing.assert_allclose(w.force_plot(index=2).values[0], V[2])
    m, V3, _ = multi(n=20)
    w3 = xw.SummaryPlot(m, output=1, index=4)
    f3 = w3.force_plot()
    np.testing.assert_allclose(f3.values[0], V3[4, 1])
    assert f3.output_name == "malignant"


def test_close_releases_data():
    a, V, X = make(n=20)
    w = xw.SummaryPlot(a)
    w.close()
    assert w._values == b"" and w._vals is None


# ------------------------------------------------------------ Attribution.plot
def test_attribution_plot_summary_styles():
    import matplotlib.pyplot as plt

    a, V, X = make(n=200, m=10)
    order = np.argsort(-np.abs(V).mean(0), kind="stable")
    ax = a.plot(style="bar", max_display=4)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [f"f{j}" for j in order[:3]] + ["7 other features"]
    widths = sorted((p.get_y(), p.get_width()) for p in ax.patches)  # bottom (other) to top
    np.testing.assert_allclose([w for _, w in widths][::-1][:3], np.abs(V).mean(0)[order[:3]])
    np.testing.assert_allclose(widths[0][1], np.abs(V).mean(0)[order[3:]].sum())
    plt.close("all")
    ax = a.plot(style="beeswarm")
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"f{j}" for j in order]
    plt.close("all")
    ax = a.plot(style="scatter", feature=0)
    assert ax.get_xlabel() == "f0"
    plt.close("all")
    m, V3, _ = multi()
    ax = m.plot(style="bar")  # every output
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"benign", "malignant"}
    plt.close("all")
    with pytest.raises(ValueError, match="pick the class"):
        m.plot(style="beeswarm")
    ax = m.plot(style="beeswarm", target="malignant")
    assert "malignant" in ax.get_title()
    plt.close("all")
    with pytest.raises(ValueError, match="feature must be a feature index"):
        a.plot(style="scatter", feature=10)
