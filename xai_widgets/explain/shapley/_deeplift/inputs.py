"""Argument checks shared by gradient_shap and deep_shap (no model calls)."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._background import MAX_BACKGROUND, SUMMARY_SIZE, Background, summarize_background

__all__ = ["check_background", "check_seed", "follow_model_dtype", "BackgroundRows"]


class BackgroundRows:
    """A validated background: ``data`` ``(B, ...)`` on x's device/dtype, ``weights`` float64 ``(B,)`` summing to 1."""

    def __init__(self, data: torch.Tensor, weights: torch.Tensor, summarized: bool, rows: int) -> None:
        self.data, self.weights, self.summarized, self.rows = data, weights, summarized, rows

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def params(self) -> dict:
        return {"background": len(self), "background_rows": self.rows, "background_summarized": self.summarized}


def follow_model_dtype(given: Any, xt: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    """A numpy ``x`` takes the model's floating dtype (float64 arrays for a float32 model, as the other
    Shapley kernels do); a tensor is used as given."""
    if isinstance(given, np.ndarray) and xt.is_floating_point():
        for p in model.parameters():
            if p.is_floating_point():
                return xt.to(p.dtype)
    return xt


def check_seed(seed: Any) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {seed!r}")
    return int(seed)


def check_background(background: Any, x: torch.Tensor, *, summarize: bool = True, seed: int = 0) -> BackgroundRows:
    """Validate ``background`` ``(B, ...)`` against ``x`` ``(N, ...)`` (a :class:`Background` keeps its weights).

    A single row without the batch axis is accepted. With ``summarize``,
    more than :data:`MAX_BACKGROUND` rows are reduced to
    :data:`SUMMARY_SIZE` weighted k-means centres (as the other Shapley
    kernels do).
    """
    weights = None
    summarized, rows = False, None
    if isinstance(background, Background):
        weights, summarized, rows = background.weights, background.summarized, background.rows
        background = background.data
    if isinstance(background, np.ndarray):
        if background.dtype == object:
            raise TypeError("background must be a numeric array (B, ...), got dtype object")
        background = torch.from_numpy(np.ascontiguousarray(background))
    if not isinstance(background, torch.Tensor):
        raise TypeError(
            f"background must be a tensor, numpy array or Background of shape (B, ...), got {type(background).__name__}"
        )
    row_shape = tuple(x.shape[1:])
    if background.dim() == x.dim() - 1 and tuple(background.shape) == row_shape and background.numel() > 0:
        background = background[None]
    if background.dim() == 0 or background.shape[0] == 0 or background.numel() == 0:
        raise ValueError(f"background is empty (shape {tuple(background.shape)}); give at least one row (B, ...)")
    if tuple(background.shape[1:]) != row_shape:
        raise ValueError(
            f"background rows have shape {tuple(background.shape[1:])} but x's rows have shape {row_shape}; "
            f"background must be (B, {', '.join(map(str, row_shape))})"
        )
    if not background.is_floating_point():
        raise TypeError(f"background must be floating point like x ({x.dtype}), got dtype {background.dtype}")
    if not torch.isfinite(background).all():
        raise ValueError("background contains NaN or inf values")
    background = background.detach()
    if weights is None:
        if summarize and background.shape[0] > MAX_BACKGROUND:
            s = summarize_background(background, SUMMARY_SIZE, seed=seed)
            background, weights, summarized, rows = s.data, s.weights, True, s.rows
        else:
            weights = np.full(background.shape[0], 1.0 / background.shape[0])
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape[0] != background.shape[0] or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError("background weights must be finite, >= 0, one per row, with a positive sum")
    data = background.to(device=x.device, dtype=x.dtype)
    wt = torch.as_tensor(w / w.sum(), dtype=torch.float64, device=x.device)
    return BackgroundRows(data, wt, bool(summarized), int(rows or background.shape[0]))
