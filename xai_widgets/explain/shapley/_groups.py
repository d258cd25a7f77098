"""Feature groups: which input elements enter and leave a coalition together.

A Shapley "player" is a group of input elements. Without groups every
element of a row is its own player (tabular columns, tokens). With groups,
each group gets one Shapley value; :class:`~xai_widgets.Attribution` spreads
it evenly over the group's members (``values``) and keeps the per-group
values in ``group_values``.

``groups=`` accepts

* a label map: an integer array/tensor that broadcasts to one row's shape
  (``x.shape[1:]``), e.g. an ``(H, W)`` superpixel map for ``(C, H, W)``
  images, or ``[0, 0, 1, 2, 2]`` for five tabular columns; equal labels form
  a group (any integers; groups are ordered by label);
* a list of index lists into the flattened row, ``[[0, 1], [2], [3, 4]]``,
  which must cover every element exactly once;
* a dict ``{name: indices}`` (the same, with group names).

For a tuple of input blocks (a multi-input model) the players are the
elements of all blocks, flattened and concatenated in block order: index
lists and a flat ``(E_1 + E_2 + ...)`` label map count in that order, or
``groups`` is a tuple of label maps (arrays/tensors), one per block, each
broadcasting to its block's row shape; equal labels in different blocks
form one group (as Captum's ``feature_mask`` tuples).

Helpers build the usual groupings: :func:`grid_groups` (a regular grid over
an image), :func:`superpixel_groups` (SLIC superpixels from scikit-image,
a grid when it is not installed) and :func:`word_groups` (tokens of one
word together, from a tokenizer's ``word_ids()``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

__all__ = ["Groups", "parse_groups", "parse_block_groups", "grid_groups", "superpixel_groups", "word_groups"]


@dataclass(frozen=True)
class Groups:
    """A partition of the ``E`` elements of a row into ``n`` groups.

    ``labels`` ``(E,)`` maps each flattened element to its group ``0..n-1``;
    ``sizes`` ``(n,)`` counts members; ``names`` (optional) names groups;
    ``given`` is False when every element is its own group.
    """

    labels: np.ndarray
    n: int
    sizes: np.ndarray
    names: list[str] | None = None
    given: bool = True


def _index_groups(items: Sequence[Any], elements: int, names: list[str] | None) -> Groups:
    labels = np.full(elements, -1, dtype=np.int64)
    for g, members in enumerate(items):
        if isinstance(members, (int, np.integer)) and not isinstance(members, (bool, np.bool_)):
            members = [members]
        if isinstance(members, torch.Tensor):
            members = members.detach().cpu().numpy()
        idx = np.asarray(members)
        what = names[g] if names else g
        if idx.size == 0:
            raise ValueError(f"group {what!r} is empty; every group needs at least one element")
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"group {what!r} must be a list of element indices (ints), got {members!r}")
        if idx.min() < 0 or idx.max() >= elements:
            raise ValueError(
                f"group {what!r} has index {int(idx.max() if idx.max() >= elements else idx.min())} outside "
                f"0..{elements - 1} (one row has {elements} elements, indices count in the flattened row)"
            )
        if len(np.unique(idx)) != idx.size or (labels[idx] >= 0).any():
            dup = idx[labels[idx] >= 0]
            dup = int(dup[0]) if dup.size else int(idx[np.argmax(np.bincount(idx))])
            raise ValueError(f"groups overlap: element {dup} is in more than one group (or twice in group {what!r})")
        labels[idx] = g
    missing = np.flatnonzero(labels < 0)
    if missing.size:
        raise ValueError(
            f"groups do not cover every element: {missing.size} of {elements} are in no group "
            f"(first: {missing[:8].tolist()}); add them to a group"
        )
    n = len(items)
    return Groups(labels, n, np.bincount(labels, minlength=n), names, True)


def _label_map(groups: Any, row_shape: tuple[int, ...]) -> Groups:
    lab = groups.detach().cpu().numpy() if isinstance(groups, torch.Tensor) else np.asarray(groups)
    if lab.dtype == bool or not np.issubdtype(lab.dtype, np.integer):
        raise TypeError(f"a group label map must hold integers, got dtype {lab.dtype}")
    try:
        if lab.ndim > len(row_shape):
            raise ValueError
        full = np.broadcast_to(lab, row_shape)
    except ValueError:
        raise ValueError(
            f"group label map of shape {lab.shape} does not broadcast to one row's shape {row_shape} "
            "(x.shape[1:]); give labels per element, e.g. an (H, W) map for (C, H, W) images"
        ) from None
    uniq, labels = np.unique(full.reshape(-1), return_inverse=True)
    labels = labels.reshape(-1).astype(np.int64)
    return Groups(labels, len(uniq), np.bincount(labels, minlength=len(uniq)), [str(u) for u in uniq.tolist()], True)


def parse_groups(groups: Any, row_shape: tuple[int, ...]) -> Groups:
    """Validate ``groups`` for rows of shape ``row_shape`` → :class:`Groups`."""
    elements = int(np.prod(row_shape, dtype=np.int64))
    if groups is None:
        return Groups(np.arange(elements, dtype=np.int64), elements, np.ones(elements, dtype=np.int64), None, False)
    if isinstance(groups, Groups):
        if groups.labels.shape != (elements,):
            raise ValueError(f"groups cover {groups.labels.size} elements but one row has {elements}")
        return groups
    if isinstance(groups, dict):
        if not groups:
            raise ValueError("groups is an empty dict; give {name: element indices}")
        return _index_groups(list(groups.values()), elements, [str(k) for k in groups])
    if isinstance(groups, (np.ndarray, torch.Tensor)):
        return _label_map(groups, row_shape)
    if isinstance(groups, (list, tuple)):
        if not groups:
            raise ValueError("groups is empty; give index lists that cover every element")
        if all(isinstance(g, (int, np.integer)) and not isinstance(g, (bool, np.bool_)) for g in groups):
            return _label_map(np.asarray(groups), row_shape)
        return _index_groups(list(groups), elements, None)
    raise TypeError(
        "groups must be None, an integer label map broadcastable to x.shape[1:], a list of index lists "
        f"or a dict of them; got {type(groups).__name__}"
    )


def parse_block_groups(groups: Any, row_shapes: Sequence[tuple[int, ...]]) -> Groups:
    """Validate ``groups`` over the concatenated elements of several input blocks → :class:`Groups`.

    ``row_shapes`` holds one row shape per block. A tuple of arrays/tensors
    with one entry per block is a label map per block; anything else is
    parsed as by :func:`parse_groups` over the flat concatenation.
    """
    if len(row_shapes) == 1:
        return parse_groups(groups, tuple(row_shapes[0]))
    elements = [int(np.prod(s, dtype=np.int64)) for s in row_shapes]
    if isinstance(groups, tuple) and any(isinstance(g, (np.ndarray, torch.Tensor)) for g in groups):
        if len(groups) != len(row_shapes):
            raise ValueError(
                f"groups is a tuple of {len(groups)} label maps but x has {len(row_shapes)} blocks; "
                "give one label map per block"
            )
        flat = []
        for i, (g, shape) in enumerate(zip(groups, row_shapes)):
            try:
                _label_map(g, tuple(shape))  # validates dtype and broadcasting
            except (TypeError, ValueError) as e:
                raise type(e)(f"groups[{i}]: {e}") from None
            lab = g.detach().cpu().numpy() if isinstance(g, torch.Tensor) else np.asarray(g)
            flat.append(np.broadcast_to(lab, tuple(shape)).reshape(-1).astype(np.int64))
        full = np.concatenate(flat)
        uniq, labels = np.unique(full, return_inverse=True)
        labels = labels.reshape(-1).astype(np.int64)
        return Groups(labels, len(uniq), np.bincount(labels, minlength=len(uniq)), [str(u) for u in uniq.tolist()], True)
    total = int(sum(elements))
    if isinstance(groups, (np.ndarray, torch.Tensor)):
        lab = groups.detach().cpu().numpy() if isinstance(groups, torch.Tensor) else np.asarray(groups)
        if lab.shape != (total,):
            raise ValueError(
                f"with {len(row_shapes)} input blocks a single label map must be flat over all "
                f"{total} elements (blocks {list(map(tuple, row_shapes))} flattened in order), got shape "
                f"{lab.shape}; or give a tuple of label maps, one per block"
            )
    return parse_groups(groups, (total,))


# ------------------------------------------------------------------ helpers
def grid_groups(shape: Sequence[int], cell: int | Sequence[int] = 16) -> np.ndarray:
    """A regular grid of ``cell``-sized squares over the last two axes of ``shape``.

    ``shape`` is one row's shape, e.g. ``(3, 224, 224)``; returns an
    ``(H, W)`` int label map (row-major cell numbers) that broadcasts over
    the channels. Edge cells are cut to fit.

    >>> grid_groups((3, 4, 6), 2)
    array([[0, 0, 1, 1, 2, 2],
           [0, 0, 1, 1, 2, 2],
           [3, 3, 4, 4, 5, 5],
           [3, 3, 4, 4, 5, 5]])
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ValueError(f"grid_groups needs at least two spatial axes, got shape {shape}")
    ch, cw = (cell, cell) if isinstance(cell, (int, np.integer)) else tuple(cell)
    if ch < 1 or cw < 1:
        raise ValueError(f"cell sizes must be >= 1, got {(ch, cw)}")
    h, w = shape[-2:]
    rows = np.arange(h) // ch
    cols = np.arange(w) // cw
    return rows[:, None] * int(math.ceil(w / cw)) + cols[None, :]


def superpixel_groups(image: Any, n_segments: int = 50, *, compactness: float = 10.0, channel_axis: int = 0) -> np.ndarray:
    """SLIC superpixels of one image → an ``(H, W)`` int label map.

    ``image`` is ``(C, H, W)`` (``channel_axis=0``, the torch layout),
    ``(H, W, C)`` (``channel_axis=-1``) or ``(H, W)``; it is rescaled to
    [0, 1] before segmenting. Uses ``skimage.segmentation.slic`` when
    scikit-image is installed, else (or when SLIC finds a single segment)
    a regular grid with about ``n_segments`` cells.
    """
    img = image.detach().cpu().double().numpy() if isinstance(image, torch.Tensor) else np.asarray(image, dtype=np.float64)
    if img.ndim == 3:
        img = np.moveaxis(img, channel_axis, -1)
    elif img.ndim != 2:
        raise ValueError(f"image must be (C, H, W), (H, W, C) or (H, W); got shape {img.shape}")
    h, w = img.shape[:2]
    grid = grid_groups((h, w), max(1, int(round(math.sqrt(h * w / max(1, n_segments))))))
    try:
        from skimage.segmentation import slic
    except ImportError:  # pragma: no cover - scikit-image is optional
        return grid
    lo, hi = float(img.min()), float(img.max())
    img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    labels = slic(img, n_segments=n_segments, compactness=compactness, start_label=0,
                  channel_axis=-1 if img.ndim == 3 else None)
    if len(np.unique(labels)) < 2:  # texture-free or noise images can collapse to one segment
        return grid
    return np.unique(labels, return_inverse=True)[1].reshape(h, w).astype(np.int64)


def word_groups(word_ids: Sequence[int | None]) -> np.ndarray:
    """Tokens of the same word in one group, from a tokenizer's ``word_ids()``.

    ``None`` entries (special tokens such as ``[CLS]``) each get a group of
    their own. Returns a ``(T,)`` label map.

    >>> word_groups([None, 0, 0, 1, None])
    array([0, 1, 1, 2, 3])
    """
    labels, seen, nxt = [], {}, 0
    for w in word_ids:
        if w is None:
            labels.append(nxt)
            nxt += 1
        else:
            if w not in seen:
                seen[w] = nxt
                nxt += 1
            labels.append(seen[w])
    return np.asarray(labels, dtype=np.int64)
