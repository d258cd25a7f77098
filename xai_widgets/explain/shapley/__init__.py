"""Shapley-value explainers on the interventional value function.

``v(S) = E_b f(x_S, b_{not S})`` over a (weighted) background:

* :func:`exact_shap` — every coalition (``2**M``), exact;
* :func:`kernel_shap` — constrained weighted regression on sampled coalitions;
* :func:`permutation_shap` — antithetic permutation sampling.

Model-specific estimators (``model`` must be a ``torch.nn.Module``):

* :func:`gradient_shap` — expected gradients (sampled baselines and path
  points; additive only in expectation, ``delta`` reports the residual);
* :func:`deep_shap` — DeepLIFT's rescale rule averaged over the background,
  additive up to float64 rounding.

All take ``f`` (a ``torch.nn.Module`` or numpy callable), ``x`` ``(N, ...)``
and a background ``(B, ...)``, plus ``target=None, groups=None,
batch_size=None, seed=0`` and return an :class:`~xai_widgets.Attribution`
whose ``values`` add up to ``outputs - base_values``.

The three model-agnostic kernels also take ``forward_kwargs=``,
``output_names=`` and ``summarize=``; ``x`` may be a pandas DataFrame
(``feature_names`` from its columns) or a tuple of feature blocks of a
multi-input model (the result is then a tuple of attributions, one per
block). A background of more than 100 rows is summarised to 50 weighted
k-means centres, never silently: a :class:`BackgroundSummaryWarning` says
so, and ``summarize=False`` keeps every row.
"""
from ._background import Background, BackgroundSummaryWarning, summarize_background
from ._groups import grid_groups, superpixel_groups, word_groups
from .exact import exact_shap
from .kernel import kernel_shap
from .permutation import permutation_shap
from .gradient import gradient_shap
from .deep import UnsupportedOperation, deep_shap, supported_ops

__all__ = [
    "exact_shap",
    "kernel_shap",
    "permutation_shap",
    "gradient_shap",
    "deep_shap",
    "UnsupportedOperation",
    "supported_ops",
    "summarize_background",
    "Background",
    "BackgroundSummaryWarning",
    "grid_groups",
    "superpixel_groups",
    "word_groups",
]
