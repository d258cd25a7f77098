"""DeepLIFT (rescale rule) through a TorchFunctionMode: the machinery behind
:func:`~xai_widgets.explain.shapley.deep_shap`, and input checks shared with
:func:`~xai_widgets.explain.shapley.gradient_shap`."""
from .inputs import check_background, check_seed
from .mode import DeepLiftMode, op_name, qualified_name
from .rules import UnsupportedOperation, supported_ops

__all__ = [
    "DeepLiftMode",
    "UnsupportedOperation",
    "supported_ops",
    "op_name",
    "qualified_name",
    "check_background",
    "check_seed",
]
