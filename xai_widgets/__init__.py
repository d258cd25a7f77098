"""xai_widgets: interpretability for PyTorch models, inside the notebook.

>>> import xai_widgets as xw
>>> attr = xw.integrated_gradients(model, images, target=None)   # doctest: +SKIP
>>> xw.HeatmapOverlay(images, attr)                              # doctest: +SKIP
"""
from .attention_maps import AttentionMaps
from .attribution import Attribution
from .explain import (
    attention_flow,
    attention_rollout,
    capture_attention,
    grad_attention,
    deep_shap,
    gradient_shap,
    exact_shap,
    kernel_shap,
    permutation_shap,
    grad_cam,
    input_x_gradient,
    integrated_gradients,
    occlusion,
    saliency,
    smoothgrad,
    faithfulness,
    sanity_check,
    explain_generation,
)
from .widgets import AttentionView, Explorer, ForcePlot, HeatmapOverlay, TextHeatmap, explore
from .widgets import GenerationHeatmap, SummaryPlot
from .widgets._html import save_html
from . import demo
from .explain.distributed import local_cluster

__version__ = "0.1.0"

__all__ = [
    "Attribution",
    "AttentionMaps",
    "capture_attention",
    "attention_rollout",
    "attention_flow",
    "grad_attention",
    "saliency",
    "input_x_gradient",
    "integrated_gradients",
    "smoothgrad",
    "grad_cam",
    "occlusion",
    "exact_shap",
    "kernel_shap",
    "permutation_shap",
    "gradient_shap",
    "deep_shap",
    "faithfulness",
    "sanity_check",
    "explain_generation",
    "explore",
    "Explorer",
    "HeatmapOverlay",
    "TextHeatmap",
    "ForcePlot",
    "AttentionView",
    "SummaryPlot",
    "GenerationHeatmap",
    "save_html",
    "local_cluster",
]
