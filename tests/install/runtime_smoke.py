"""Run inside a fresh virtual environment that holds the built wheel and its
runtime dependencies only (no dev extras: no shap, captum, pandas, transformers).

Imports the package and calls every kernel and builds every widget on tiny
models, so a runtime import that only a dev dependency satisfied fails here.
Exits non-zero on the first failure. Used by ``make test-wheel``.
"""
from __future__ import annotations

import importlib.util
import sys

import numpy as np
import torch
from torch import nn

FORBIDDEN = () if "--any-env" in sys.argv else ("shap", "captum", "pandas", "transformers", "pytest", "skimage")


def main() -> int:
    for mod in FORBIDDEN:  # the environment must really be runtime-only
        if importlib.util.find_spec(mod) is not None:
            print(f"runtime_smoke: {mod} is installed, so this is not a runtime-only environment")
            return 2
    import xai_widgets as xw

    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    x = torch.rand(2, 3, 8, 8)
    mlp = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2))
    t = torch.randn(3, 6)
    bg = torch.randn(20, 6)
    done = []

    def check(name, a):
        a = a if isinstance(a, tuple) else (a,)
        for part in a:
            assert np.isfinite(np.asarray(part.values)).all(), name
        done.append(name)
        return a[0]

    check("saliency", xw.saliency(cnn, x))
    check("input_x_gradient", xw.input_x_gradient(cnn, x))
    ig = check("integrated_gradients", xw.integrated_gradients(cnn, x, steps=8))
    check("smoothgrad", xw.smoothgrad(cnn, x, samples=3))
    check("grad_cam", xw.grad_cam(cnn, x))
    check("occlusion", xw.occlusion(cnn, x, window=(3, 4, 4), stride=(3, 4, 4)))
    check("exact_shap", xw.exact_shap(mlp, t, bg))
    ks = check("kernel_shap", xw.kernel_shap(mlp, t, bg, samples=64))
    check("permutation_shap", xw.permutation_shap(mlp, t, bg, permutations=2))
    check("gradient_shap", xw.gradient_shap(mlp, t, bg, samples=8))
    check("deep_shap", xw.deep_shap(mlp, t, bg))
    # summarising a large background uses scikit-learn's k-means (a runtime dependency)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check("kernel_shap (summarised background)", xw.kernel_shap(mlp, t, torch.randn(150, 6), samples=32))

    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    enc = nn.Sequential()
    enc.add_module("attn", mha)

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.a1 = nn.MultiheadAttention(8, 2, batch_first=True)
            self.a2 = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, h):
            h = h + self.a1(h, h, h)[0]
            return h + self.a2(h, h, h)[0]

    maps = xw.capture_attention(Tiny(), torch.randn(1, 5, 8))
    done.append("capture_attention")
    xw.attention_rollout(maps)
    done.append("attention_rollout")
    xw.attention_flow(maps, output_token=0)  # scipy
    done.append("attention_flow")

    image = (np.random.default_rng(0).random((2, 8, 8, 3)) * 255).astype(np.uint8)
    widgets = [
        xw.HeatmapOverlay(image, {"IG": ig}),
        xw.TextHeatmap(["a", "b", "c", "d", "e", "f"], xw.Attribution.from_array(np.arange(6.0)[None])),
        xw.ForcePlot(ks[0]),
        xw.ForcePlot(xw.kernel_shap(mlp, t, bg, samples=64, target=0)),  # stacked: scipy ordering
        xw.AttentionView(maps, tokens=list("abcde")),
    ]
    for w in widgets:
        repr(w)
    done.append("widgets")
    for w in widgets:  # the static picture readers of a saved notebook see
        data, _ = w._repr_mimebundle_()
        assert data.get("image/png"), f"{w!r}: no image/png in the output bundle"
    done.append("static pictures")
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        page = xw.save_html(Path(d) / "all.html", *widgets).read_text(encoding="utf-8")
        assert "xaiWidgets" in page and page.count("data-xw-spec=") == len(widgets)  # runtime shipped in the wheel
    done.append("save_html")
    import matplotlib

    matplotlib.use("Agg")
    ig.plot()
    done.append("plot")
    print(f"runtime_smoke: ok ({len(done)} checks: {', '.join(done)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
