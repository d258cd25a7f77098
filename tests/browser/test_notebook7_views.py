"""Every widget in Notebook 7 (not only JupyterLab): readable text in the light and dark themes, no
horizontal overflow at 400 and 1,000 px, and the views follow their output's width."""
import browser_harness as bh

SETUP = '''
import numpy as np
import xai_widgets as xw
rng = np.random.default_rng(0)
classes = ["tabby", "Egyptian cat"]
img = rng.random((2, 3, 28, 28)).astype("float32")
a_img = xw.Attribution.from_array(rng.standard_normal((2, 28, 28)), target=[1, 1], output_names=classes,
                                  method="saliency")
overlay = xw.HeatmapOverlay(img, {"saliency": a_img, "other": xw.Attribution.from_array(a_img.values * 0.5, target=[1, 1], output_names=classes)})
toks = ["[CLS]", "the", "film", "was", "sur", "##pris", "##ingly", "moving", ".", "[SEP]"]
vals = np.linspace(-1, 1, 10)[None] * np.array([[1.0], [0.05]])
a_txt = xw.Attribution.from_array(vals, target=[1, 1], output_names=["negative", "positive"], method="ig")
text = xw.TextHeatmap(toks, {"IG": a_txt, "tiny": xw.Attribution.from_array(vals * 0.01, target=[1, 1], output_names=["negative", "positive"])})
v = rng.standard_normal((200, 8))
a_tab = xw.Attribution.from_array(v, rng.standard_normal((200, 8)), base_values=np.full(200, 0.3),
                                  target=np.ones(200, int), output_names=classes,
                                  feature_names=[f"feature {j}" for j in range(8)], method="kernel_shap")
force = xw.ForcePlot(a_tab)
single = xw.ForcePlot(a_tab[0])
w = rng.random((2, 3, 12, 12)) ** 4  # (layers, heads, queries, keys)
w /= w.sum(-1, keepdims=True)
maps = xw.AttentionMaps(weights=w.astype("float32"), tokens=toks + ["a", "b"])
att = xw.AttentionView(maps)
'''
ROOTS = {
    ".xw-heatmap-overlay": 1,
    ".xw-text-heatmap": 1,
    ".xw-force-plot": 2,
    ".xw-attention-view": 1,
}


def test_every_widget_in_notebook7_themes_and_widths(open_notebook):
    nb = open_notebook("nb7-views", [SETUP, "overlay", "text", "force", "single", "att"], ui="notebook")
    nb.run_all_and_wait(timeout=180)
    roots = {sel: nb.wait_ready(sel, count=k) for sel, k in ROOTS.items()}
    widths = {}
    for theme in ("light", "dark"):
        bh.set_theme(nb.page, theme)
        for px in (400, 1000):
            for sel in ROOTS:
                bh.set_output_width(nb.page, sel, px, settle_ms=150)
            nb.page.wait_for_timeout(600)
            for sel in ROOTS:
                problems = bh.overflow_report(nb.page, sel)
                assert problems == [], f"{sel}, {theme}, {px} px: {problems}"
                fails = bh.contrast_failures(nb.page, sel)
                assert fails == [], f"{sel}, {theme}, {px} px: {fails}"
                widths[(sel, theme, px)] = roots[sel][0].bounding_box()["width"]
    for sel in ROOTS:  # the views follow the output's width (and never exceed it)
        for theme in ("light", "dark"):
            assert widths[(sel, theme, 400)] <= 400 + 1, (sel, widths)
            assert widths[(sel, theme, 400)] < widths[(sel, theme, 1000)], (sel, widths)
    nb.assert_no_page_errors()
