"""Placeholder: being written."""
def saliency(*a, **k): raise NotImplementedError
input_x_gradient = integrated_gradients = smoothgrad = saliency
