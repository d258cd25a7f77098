"""Attention kernels: capture the weights, and maps derived from them.

Each returns an :class:`~xai_widgets.attention_maps.AttentionMaps`.
"""
from .capture import capture_attention
from .flow import attention_flow
from .grad import grad_attention
from .rollout import attention_rollout

__all__ = ["capture_attention", "attention_rollout", "attention_flow", "grad_attention"]
