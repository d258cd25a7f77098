"""Results of gradient_shap and deep_shap: one :class:`~xai_widgets.Attribution` per input.

For a tuple of inputs every Attribution shares ``target``, ``outputs``,
``base_values``, ``output_names``, ``method`` and ``params`` (plus its own
``params["input"]``), and holds the *joint* ``delta``: completeness is a
property of the sum over all inputs' values.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ....attribution import Attribution
from ..._core import joint_delta

__all__ = ["attributions"]


def attributions(
    values: Sequence[torch.Tensor],
    xs: Sequence[torch.Tensor],
    *,
    was_tuple: bool,
    target: np.ndarray,
    outputs: torch.Tensor,
    base_values: torch.Tensor,
    method: str,
    params: dict,
    feature_names: Sequence[list[str] | None],
    output_names: list[str] | None,
    per_output: bool,
    complete: bool,
    group_values: Sequence[torch.Tensor | None] | None = None,
) -> Attribution | tuple[Attribution, ...]:
    """Build the result; ``complete`` says whether ``delta`` is defined (values that are
    multipliers only, ``multiply_by_inputs=False``, promise no completeness)."""
    delta = joint_delta(list(values), outputs, base_values, per_output=per_output) if complete else None
    out = []
    for j, (v, x) in enumerate(zip(values, xs)):
        p = dict(params)
        if was_tuple:
            p.update(input=j, inputs=len(xs))
        gv = None if group_values is None else group_values[j]
        out.append(Attribution(
            values=v.detach().cpu(),
            data=x.detach().cpu(),
            target=target,
            outputs=outputs.detach().cpu(),
            base_values=base_values.detach().cpu(),
            method=method,
            params=p,
            feature_names=feature_names[j],
            delta=None if delta is None else delta.clone(),
            group_values=None if gv is None else gv.detach().cpu(),
            output_names=output_names,
        ))
    return tuple(out) if was_tuple else out[0]

