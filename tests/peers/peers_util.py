"""Small helpers shared by the peer ports: result unpacking and brute-force Shapley values."""
from __future__ import annotations

import itertools
import math
from typing import Any, Callable, Sequence

import numpy as np
import torch


def parts(result: Any) -> tuple:
    """A kernel's result as a tuple of Attribution (one per input)."""
    return result if isinstance(result, tuple) else (result,)


def values(result: Any) -> tuple[np.ndarray, ...]:
    """``values`` of each Attribution of a (tuple) result, as float64 numpy arrays."""
    return tuple(np.asarray(a.values, dtype=np.float64) for a in parts(result))


def np64(t: Any) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().numpy()
    return np.asarray(t, dtype=np.float64)


def assert_close(actual: Any, expected: Any, atol: float = 1e-4, rtol: float = 0.0, msg: str = "") -> None:
    """Captum's ``assertTensorAlmostEqual(..., delta=atol, mode="max")``: every element within ``atol``."""
    a, e = np64(actual), np64(expected)
    e = np.broadcast_to(e.reshape(a.shape) if e.size == a.size else e, a.shape)
    np.testing.assert_allclose(a, e, atol=atol, rtol=rtol, err_msg=msg)


def brute_force_shapley(value: Callable[[Sequence[bool]], float], m: int) -> np.ndarray:
    """Shapley values of the set function ``value`` (a mask of ``m`` players → a number), by the definition."""
    phi = np.zeros(m)
    for i in range(m):
        others = [j for j in range(m) if j != i]
        for size in range(m):
            w = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
            for s in itertools.combinations(others, size):
                mask = np.zeros(m, dtype=bool)
                mask[list(s)] = True
                without = value(mask.copy())
                mask[i] = True
                phi[i] += w * (value(mask) - without)
    return phi


def interventional_value(f: Callable[[np.ndarray], np.ndarray], x_row: np.ndarray, background: np.ndarray):
    """``v(S) = mean_b f(x on S, b elsewhere)`` for one flat row and an unweighted background.

    All ``2**m`` coalitions go through ``f`` in one call (models with a
    large per-call cost, e.g. a random forest, stay fast); ``v`` looks them up.
    """
    m = x_row.shape[0]
    masks = ((np.arange(2**m)[:, None] >> np.arange(m)) & 1).astype(bool)  # row c = the bits of c
    rows = np.where(masks[:, None, :], x_row[None, None, :], background[None, :, :])
    table = np.asarray(f(rows.reshape(-1, m)), dtype=np.float64).reshape(2**m, len(background)).mean(1)
    bits = 1 << np.arange(m)

    def v(mask: np.ndarray) -> float:
        return float(table[int(bits[np.asarray(mask, dtype=bool)].sum())])

    return v
