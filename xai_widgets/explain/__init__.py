"""Explainer kernels. Each returns an :class:`~xai_widgets.Attribution`."""
from .gradients import input_x_gradient, integrated_gradients, saliency, smoothgrad
from .grad_cam import grad_cam
from .occlusion import occlusion

__all__ = [
    "saliency",
    "input_x_gradient",
    "integrated_gradients",
    "smoothgrad",
    "grad_cam",
    "occlusion",
]
