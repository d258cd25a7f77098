"""Explainer kernels. Each returns an :class:`~xai_widgets.Attribution`."""
from .attention import attention_flow, attention_rollout, capture_attention, grad_attention
from .gradients import input_x_gradient, integrated_gradients, saliency, smoothgrad
from .grad_cam import grad_cam
from .occlusion import occlusion
from .faithfulness import Faithfulness, faithfulness
from .sanity import SanityCheck, sanity_check
from .shapley import deep_shap, exact_shap, gradient_shap, kernel_shap, permutation_shap
from .generation import explain_generation

__all__ = [
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
    "capture_attention",
    "attention_rollout",
    "attention_flow",
    "grad_attention",
    "faithfulness",
    "Faithfulness",
    "sanity_check",
    "SanityCheck",
    "explain_generation",
]
