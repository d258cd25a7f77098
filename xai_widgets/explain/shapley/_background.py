"""The background distribution the Shapley value function integrates over.

``v(S) = sum_b w_b f(x_S, b_{not S})``: every feature outside the coalition
``S`` is taken from a background row ``b`` and the model's scores are
averaged with the row weights ``w`` (uniform unless the background was
summarised). The cost of every Shapley kernel is proportional to the number
of background rows, so by default a large background is summarised first:

* more than :data:`MAX_BACKGROUND` rows (floating point) → k-means with
  :data:`SUMMARY_SIZE` clusters (scikit-learn, or a weighted random sample
  when scikit-learn is missing); each centre is the mean of its members and
  is weighted by the share of rows in its cluster, so the weighted mean of
  the summary equals the background mean exactly (a linear model's
  expectation is unchanged, a non-linear model's is not);
* integer rows (token ids) cannot be averaged, so they are subsampled to
  :data:`SUMMARY_SIZE` rows with equal weights.

A kernel that summarises says so: one :class:`BackgroundSummaryWarning`
line, and ``params["background_summarized"]``/``params["background_rows"]``
on the result. Pass ``summarize=False`` to a kernel to keep every row, or
call :func:`summarize_background` yourself to choose ``k``; the
:class:`Background` it returns is used as is by every Shapley kernel.

A background may be one array/tensor/DataFrame ``(B, ...)`` or a tuple of
them (one per input block of a multi-input model, sharing ``B``); a
summary then keeps the rows of all blocks together.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._core import check_positive_int

__all__ = [
    "Background",
    "BackgroundSummaryWarning",
    "summarize_background",
    "summary_message",
    "warn_summarized",
    "MAX_BACKGROUND",
    "SUMMARY_SIZE",
    "is_frame",
    "frame_to_numpy",
]

#: Backgrounds with more rows than this are summarised automatically.
MAX_BACKGROUND = 100
#: Number of k-means centres (or sampled rows) a large background is reduced to.
SUMMARY_SIZE = 50


class BackgroundSummaryWarning(UserWarning):
    """A kernel replaced a large background by a weighted summary (see :func:`summarize_background`)."""


# ---------------------------------------------------------------- DataFrames
def is_frame(a: Any) -> bool:
    """A pandas/polars-like DataFrame: has ``.columns`` and ``.to_numpy()``, and is no array."""
    return (
        not isinstance(a, (np.ndarray, torch.Tensor))
        and hasattr(a, "columns")
        and callable(getattr(a, "to_numpy", None))
    )


def frame_to_numpy(frame: Any, name: str) -> tuple[np.ndarray, list]:
    """A DataFrame → ``(array (N, M), columns)``; non-numeric columns are a ``TypeError`` naming them.

    Integer and bool columns are numbers like any other: the array's dtype
    is the common type of the columns (int and float columns mixed →
    float64). Missing values in nullable columns become NaN (and are then
    refused like any NaN).
    """
    columns = list(frame.columns)
    if not columns:
        raise ValueError(f"{name} is a DataFrame with no columns")
    positional = getattr(frame, "iloc", None)
    arrays, bad = [], []
    for j, col in enumerate(columns):
        ser = positional[:, j] if positional is not None else frame[col]
        arr = np.asarray(ser.to_numpy())
        if arr.dtype.kind not in "biuf":
            kind = getattr(getattr(ser, "dtype", None), "kind", None)
            if kind in ("b", "i", "u", "f"):  # a nullable numeric column holding missing values
                try:
                    arr = np.asarray(ser.to_numpy(dtype="float64", na_value=np.nan))
                except TypeError:
                    arr = arr.astype(np.float64)
            else:
                dtype = getattr(ser, "dtype", arr.dtype)
                bad.append(f"{col!r} ({dtype})")
                continue
        arrays.append(arr.reshape(-1))
    if bad:
        raise TypeError(
            f"{name} has non-numeric columns: {', '.join(bad)}. The Shapley kernels need numbers in "
            "every column: encode them first (e.g. pandas.get_dummies, or .cat.codes for categories) "
            "or drop them"
        )
    dtype = np.result_type(*[a.dtype for a in arrays])
    return np.stack(arrays, axis=1).astype(dtype, copy=False), columns


def _frame_like(frame: Any, data: np.ndarray, columns: list) -> Any:
    """``data`` as a DataFrame of the same library as ``frame`` (pandas only; else the array)."""
    if type(frame).__module__.split(".")[0] == "pandas":
        return type(frame)(data, columns=columns)
    return data


# ---------------------------------------------------------------- Background
def _rows(data: Any) -> int:
    first = data[0] if isinstance(data, tuple) else data
    return int(first.shape[0]) if getattr(first, "ndim", 1) else 0


@dataclass(frozen=True, repr=False)
class Background:
    """A weighted background: ``data`` ``(B, ...)`` and ``weights`` ``(B,)`` summing to 1.

    ``data`` is a tensor, a numpy array, a DataFrame or a tuple of them (one
    per input block, kept as given); ``summarized`` records whether it came
    from a summary of ``rows`` original rows.
    """

    data: Any
    weights: np.ndarray
    summarized: bool = False
    rows: int = 0

    def __len__(self) -> int:
        return _rows(self.data)

    def __repr__(self) -> str:
        how = f"summary of {self.rows} rows" if self.summarized else "as given"
        if isinstance(self.data, tuple):
            shape = "(" + ", ".join(str(tuple(b.shape)) for b in self.data) + ")"
        else:
            shape = str(tuple(self.data.shape))
        return f"Background(shape={shape}, {how})"


def summary_message(rows: int, kept: int, averaged: bool, *, keyword: str = "summarize=False") -> str:
    """The one line a kernel shows when it summarised a background on its own."""
    if averaged:
        what = f"{kept} weighted k-means centres"
        base = "base_values is the weighted mean of f over the centres, not the mean over every row"
    else:
        what = f"{kept} randomly sampled rows (integer data cannot be averaged)"
        base = "base_values is the mean of f over the sampled rows, not over every row"
    return (
        f"the background of {rows} rows was summarised to {what}; {base}. To keep every row pass "
        f"{keyword} (or background=xai_widgets.explain.shapley.summarize_background(background, "
        f"k={rows}); any k sets the size)"
    )


def _is_float(a: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return a.is_floating_point()
    return np.issubdtype(np.asarray(a).dtype, np.floating)


def _take(block: Any, idx: np.ndarray) -> Any:
    if isinstance(block, torch.Tensor):
        return block[torch.as_tensor(idx, device=block.device)]
    return block[idx]


def summarize_background(background: Any, k: int = SUMMARY_SIZE, *, seed: int = 0) -> Background:
    """Reduce ``background`` ``(B, ...)`` to at most ``k`` weighted rows.

    Parameters
    ----------
    background : tensor, array, DataFrame, tuple of them, or Background
        The rows ``(B, ...)``; a tuple holds one block per model input, all
        with ``B`` rows (rows stay together across blocks).
    k : int
        Rows (centres) to keep.
    seed : int
        Seeds k-means (or the row sample).

    Returns
    -------
    Background
        ``data`` like the input (a pandas DataFrame keeps its columns;
        k-means centres are float), ``weights`` summing to 1,
        ``summarized`` True when rows were reduced, ``rows`` = ``B``.

    Notes
    -----
    Floating-point rows are clustered with k-means (scikit-learn's
    ``KMeans``, or a random sample when scikit-learn is not installed; a
    tuple is clustered on the concatenation of its blocks); each centre is
    its cluster's mean and its weight the cluster's share of rows, so the
    weighted mean of the summary equals the background's mean. Integer rows
    (e.g. token ids), or a tuple with any integer block, are sampled without
    replacement, equal weights. A background of at most ``k`` rows is
    returned as is. Pass ``k=len(background)`` to keep every row.

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
    was_tuple = isinstance(background, (tuple, list))
    blocks = list(background) if was_tuple else [background]
    if not blocks:
        raise ValueError("background is an empty tuple; give at least one block (B, ...)")
    arrays, columns = [], []
    for i, b in enumerate(blocks):
        name = f"background[{i}]" if was_tuple else "background"
        if is_frame(b):
            arr, cols = frame_to_numpy(b, name)
            arrays.append(arr)
            columns.append(cols)
        elif isinstance(b, (torch.Tensor, np.ndarray)):
            arrays.append(b)
            columns.append(None)
        else:
            raise TypeError(
                f"{name} must be a tensor, numpy array or DataFrame (B, ...), got {type(b).__name__}"
            )
    sizes = [int(a.shape[0]) if a.ndim else 0 for a in arrays]
    if len(set(sizes)) > 1:
        raise ValueError(f"the blocks of background must share the number of rows; got {sizes}")
    n = sizes[0]
    if n == 0:
        raise ValueError(f"background is empty (shape {tuple(arrays[0].shape)}); give at least one row")
    original = tuple(blocks) if was_tuple else blocks[0]
    if n <= k:
        return Background(original, np.full(n, 1.0 / n), False, n)
    rng = np.random.default_rng(seed)

    def rebuild(parts: list) -> Any:
        out = [_frame_like(blocks[i], p, columns[i]) if columns[i] is not None else p for i, p in enumerate(parts)]
        return tuple(out) if was_tuple else out[0]

    if not all(_is_float(a) for a in arrays):
        idx = np.sort(rng.choice(n, size=k, replace=False))
        return Background(rebuild([_take(a, idx) for a in arrays]), np.full(k, 1.0 / k), True, n)
    flats = [
        (a.detach().cpu().double().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, dtype=np.float64)).reshape(n, -1)
        for a in arrays
    ]
    flat = np.concatenate(flats, axis=1) if len(flats) > 1 else flats[0]
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
    parts, off = [], 0
    for a, fl in zip(arrays, flats):
        width = fl.shape[1]
        c = centers[:, off:off + width].reshape((-1,) + tuple(a.shape[1:]))
        off += width
        if isinstance(a, torch.Tensor):
            parts.append(torch.from_numpy(c).to(device=a.device, dtype=a.dtype))
        else:
            parts.append(c.astype(a.dtype, copy=False))
    return Background(rebuild(parts), weights, True, n)


def warn_summarized(
    rows: int, kept: int, averaged: bool, stacklevel: int = 2, *, keyword: str = "summarize=False"
) -> None:
    """Emit :func:`summary_message` as one :class:`BackgroundSummaryWarning`.

    ``stacklevel`` counts from the caller (as in :func:`warnings.warn`);
    ``keyword`` is how the calling kernel keeps every row.
    """
    warnings.warn(
        summary_message(rows, kept, averaged, keyword=keyword), BackgroundSummaryWarning, stacklevel=stacklevel + 1
    )
