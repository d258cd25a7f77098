"""The background distribution the Shapley value function integrates over.

``v(S) = sum_b w_b f(x_S, b_{not S})``: every feature outside the coalition
``S`` is taken from a background row ``b`` and the model's scores are
averaged with the row weights ``w`` (uniform unless the background was
summarised). The cost of every Shapley kernel is proportional to the number
of background rows, so a large background is summarised first:

* more than :data:`MAX_BACKGROUND` rows (floating point) → k-means with
  :data:`SUMMARY_SIZE` clusters (scikit-learn, or a weighted random sample
  when scikit-learn is missing); each centre is the mean of its members and
  is weighted by the share of rows in its cluster, so the weighted mean of
  the summary equals the background mean exactly (a linear model's
  expectation is unchanged);
* integer rows (token ids) cannot be averaged, so they are subsampled to
  :data:`SUMMARY_SIZE` rows with equal weights.

Call :func:`summarize_background` yourself to choose ``k``; the
:class:`Background` it returns is used as is by every Shapley kernel.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._core import check_positive_int

__all__ = ["Background", "summarize_background", "MAX_BACKGROUND", "SUMMARY_SIZE"]

#: Backgrounds with more rows than this are summarised automatically.
MAX_BACKGROUND = 100
#: Number of k-means centres (or sampled rows) a large background is reduced to.
SUMMARY_SIZE = 50


@dataclass(frozen=True, repr=False)
class Background:
    """A weighted background: ``data`` ``(B, ...)`` and ``weights`` ``(B,)`` summing to 1.

    ``data`` is a tensor or a numpy array (kept as given); ``summarized``
    records whether it came from a summary of ``rows`` original rows.
    """

    data: Any
    weights: np.ndarray
    summarized: bool = False
    rows: int = 0

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def __repr__(self) -> str:
        how = f"summary of {self.rows} rows" if self.summarized else "as given"
        return f"Background(shape={tuple(self.data.shape)}, {how})"


def _is_float(a: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return a.is_floating_point()
    return np.issubdtype(np.asarray(a).dtype, np.floating)


def summarize_background(background: Any, k: int = SUMMARY_SIZE, *, seed: int = 0) -> Background:
    """Reduce ``background`` ``(B, ...)`` to at most ``k`` weighted rows.

    Floating-point rows are clustered with k-means (scikit-learn's
    ``KMeans``, or a random sample when scikit-learn is not installed);
    each centre is its cluster's mean and its weight the cluster's share of
    rows. Integer rows (e.g. token ids) are sampled without replacement,
    equal weights. A background of at most ``k`` rows is returned as is.

    Example
    -------
    >>> import numpy as np
    >>> bg = summarize_background(np.random.default_rng(0).normal(size=(500, 4)), k=20)
    >>> len(bg), round(float(bg.weights.sum()), 6)
    (20, 1.0)
    """
    k = check_positive_int(k, "k")
    if isinstance(background, Background):
        background = background.data
    if not isinstance(background, (torch.Tensor, np.ndarray)):
        raise TypeError(f"background must be a tensor or numpy array (B, ...), got {type(background).__name__}")
    n = int(background.shape[0]) if background.ndim else 0
    if n == 0:
        raise ValueError(f"background is empty (shape {tuple(background.shape)}); give at least one row")
    if n <= k:
        return Background(background, np.full(n, 1.0 / n), False, n)
    rng = np.random.default_rng(seed)
    if not _is_float(background):
        idx = np.sort(rng.choice(n, size=k, replace=False))
        return Background(background[idx], np.full(k, 1.0 / k), True, n)
    is_t = isinstance(background, torch.Tensor)
    flat = (background.detach().cpu().double().numpy() if is_t else np.asarray(background, dtype=np.float64)).reshape(n, -1)
    try:
        from sklearn.cluster import KMeans
    except ImportError:  # pragma: no cover - scikit-learn is optional
        # each row joins its nearest of k sampled rows: a crude but weighted summary
        seeds = flat[rng.choice(n, size=k, replace=False)]
        labels = np.concatenate([
            ((flat[a:a + 256, None, :] - seeds[None]) ** 2).sum(-1).argmin(1) for a in range(0, n, 256)
        ])
    else:
        labels = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(flat).labels_
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    keep = counts > 0
    centers = np.zeros((k, flat.shape[1]))
    np.add.at(centers, labels, flat)
    centers = centers[keep] / counts[keep, None]
    weights = counts[keep] / n
    centers = centers.reshape((-1,) + tuple(background.shape[1:]))
    if is_t:
        data = torch.from_numpy(centers).to(device=background.device, dtype=background.dtype)
    else:
        data = centers.astype(background.dtype, copy=False)
    return Background(data, weights, True, n)
