"""Orderings of explained samples for stacked views (e.g. :class:`~xai_widgets.ForcePlot`).

``similarity_order`` puts samples whose attribution rows look alike next to
each other: agglomerative clustering of the rows (``scipy.cluster.hierarchy``)
with the optimal leaf ordering of Bar-Joseph et al. (2001), which flips
subtrees so that neighbouring leaves are as close as possible. This is what
``shap``'s stacked force plot does with its default ``"similarity"`` ordering.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["similarity_order", "output_order", "sample_order", "ORDERS"]

#: Orderings understood by :func:`sample_order` (and ``ForcePlot.order``).
ORDERS: tuple[str, ...] = ("similarity", "output", "original")

# scipy's optimal_leaf_ordering costs O(n^3) in the worst case (about 1 s for
# 2,000 rows on one core); above this the plain dendrogram leaf order is used.
_MAX_OPTIMAL = 3000


def _rows(values: Any, what: str = "values") -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2:
        raise ValueError(f"{what} must be (N, M) attribution rows, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError(f"{what} contains NaN/inf; expected finite numbers")
    return v


def similarity_order(
    values: Any,
    *,
    method: str = "average",
    metric: str = "euclidean",
    optimal: bool | None = None,
) -> np.ndarray:
    """Permutation of the rows of ``values`` ``(N, M)`` that puts similar rows side by side.

    Parameters
    ----------
    values : array ``(N, M)``
        Attribution rows (one per sample).
    method, metric : str
        Passed to :func:`scipy.cluster.hierarchy.linkage` / ``pdist``
        (default: average linkage on Euclidean distances).
    optimal : bool or None
        Apply :func:`scipy.cluster.hierarchy.optimal_leaf_ordering`. ``None``
        (default) does so for up to 3,000 rows and uses the plain dendrogram
        order beyond (the optimal ordering's cost grows cubically).

    Returns
    -------
    ndarray of int64 ``(N,)``: ``values[order]`` is the reordered matrix.
    Deterministic: the same input always gives the same order.
    """
    from scipy.cluster import hierarchy
    from scipy.spatial.distance import pdist

    v = _rows(values)
    n = v.shape[0]
    if n <= 2:
        return np.arange(n, dtype=np.int64)
    d = pdist(v, metric=metric)
    if not np.isfinite(d).all():  # e.g. cosine distance of an all-zero row
        d = np.nan_to_num(d, nan=0.0, posinf=0.0, neginf=0.0)
    z = hierarchy.linkage(d, method=method)
    if optimal is None:
        optimal = n <= _MAX_OPTIMAL
    if optimal:
        z = hierarchy.optimal_leaf_ordering(z, d)
    return np.asarray(hierarchy.leaves_list(z), dtype=np.int64)


def output_order(values: Any, base_values: Any = 0.0, *, descending: bool = True) -> np.ndarray:
    """Rows sorted by the explained output ``base + sum(values)`` (largest first by default; stable)."""
    v = _rows(values)
    out = np.broadcast_to(np.asarray(base_values, dtype=np.float64).reshape(-1), (v.shape[0],)) + v.sum(1)
    key = -out if descending else out
    return np.argsort(key, kind="stable").astype(np.int64)


def sample_order(values: Any, order: str = "similarity", base_values: Any = 0.0) -> np.ndarray:
    """One of :data:`ORDERS` as a permutation of the rows."""
    if order == "similarity":
        return similarity_order(values)
    if order == "output":
        return output_order(values, base_values)
    if order == "original":
        return np.arange(_rows(values).shape[0], dtype=np.int64)
    raise ValueError(f"unknown order {order!r}; expected one of {list(ORDERS)}")
