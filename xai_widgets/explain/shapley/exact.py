"""Exact Shapley values: every coalition of the features, evaluated in batches."""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from ...attribution import Attribution
from .._core import Target, check_positive_int
from ..distributed import check_client
from ._model import ShapleyProblem

__all__ = ["exact_shap", "all_coalitions"]


def all_coalitions(m: int) -> np.ndarray:
    """Every subset of ``m`` players as a boolean ``(2**m, m)`` matrix; row ``c`` is the bits of ``c``."""
    codes = np.arange(2**m, dtype=np.int64)
    return ((codes[:, None] >> np.arange(m)) & 1).astype(bool)


def exact_from_values(v: torch.Tensor, m: int) -> torch.Tensor:
    """Shapley values from ``v`` ``(N, 2**m, T)`` indexed by coalition bitmask → ``(N, T, m)``.

    ``phi_i = sum_{S not containing i} |S|! (m-|S|-1)! / m! * (v(S + i) - v(S))``.
    """
    codes = np.arange(2**m, dtype=np.int64)
    sizes = np.zeros(2**m, dtype=np.int64)
    for i in range(m):
        sizes += (codes >> i) & 1
    weight = np.array([math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m) for s in range(m)])
    phi = torch.zeros(v.shape[0], v.shape[2], m, dtype=torch.float64, device=v.device)
    for i in range(m):
        without = codes[((codes >> i) & 1) == 0]
        w = torch.as_tensor(weight[sizes[without]], device=v.device)
        diff = v[:, torch.as_tensor(without | (1 << i))] - v[:, torch.as_tensor(without)]
        phi[:, :, i] = (diff * w[None, :, None]).sum(1)
    return phi


def exact_shap(
    f: Any,
    x: Any,
    background: Any,
    *,
    max_features: int = 16,
    target: Target = None,
    groups: Any = None,
    batch_size: int | None = None,
    seed: int | None = 0,
    feature_names: Any = None,
    forward_kwargs: dict | None = None,
    output_names: Sequence[str] | None = None,
    summarize: bool | int = True,
    client: Any = None,
) -> Attribution | tuple[Attribution, ...]:
    """Exact (interventional) Shapley values by enumerating every coalition of the features.

    Parameters
    ----------
    f : torch.nn.Module or callable
        A model returning ``(n,)`` or ``(n, K)`` scores (run on its device,
        left as found, no gradients), or a function on numpy batches
        returning ``(n,)``/``(n, K)`` numbers (a pandas DataFrame with ``x``'s
        columns when ``x`` is a pandas DataFrame). Called as
        ``f(*blocks, **forward_kwargs)``.
    x : tensor, array or DataFrame ``(N, ...)``, or a tuple of them
        Rows to explain. A tuple holds the feature blocks of a multi-input
        model (each ``(N, ...)``); the players are then all elements of all
        blocks. DataFrame columns must be numeric (int, bool and float;
        mixed int/float become float64).
    background : tensor, array, DataFrame, tuple of them, or a ``Background``
        Reference rows ``(B, ...)``, the same tuple structure as ``x``. More
        than 100 rows are summarised to 50 weighted k-means centres unless
        ``summarize=False`` (a warning says so); a :class:`Background` is
        used as is.
    max_features : int
        Largest number of players enumerated (``2**M`` coalitions).
    target : None, int, class name, one per row, or ``"all"``
        Output explained; ``None`` → each row's top output of ``f(x)``; a
        class name needs ``output_names``; ``"all"`` → values ``(N, K, ...)``.
    groups : label map, list of index lists, dict, or None
        Players that move together (see :mod:`._groups`; for a tuple ``x``,
        indices count over the blocks' flattened elements in order, or give
        one label map per block); each group's value is spread evenly over
        its members, per-group values in ``group_values``.
    batch_size : int, optional
        Model rows per forward pass (default: about 2**19 input elements,
        16 to 16384 rows; 16 for token ids).
    seed : int
        Seeds the background summary (k-means).
    feature_names : list of str, optional
        One name per element of a row (default: a DataFrame's columns); for
        a tuple ``x``, one list (or None) per block.
    forward_kwargs : dict, optional
        Extra model inputs. A tensor or array whose first axis has ``N``
        rows is batched: every composite row built from explained row
        ``x_i`` gets row ``i`` of it (also the background rows that make up
        ``base_values``, which are then per row: ``E_b f(b, kwargs_i)``);
        anything else is passed as is.
    output_names : list of str, optional
        Class names (default: a Hugging Face ``config.id2label`` or a
        ``model.output_names``); stored on the result, and ``target`` may
        name a class.
    summarize : bool or int
        ``True``: summarise a background of more than 100 rows to 50
        weighted k-means centres (with a :class:`BackgroundSummaryWarning`);
        ``False``: keep every row; an int ``k``: summarise to ``k`` rows
        whenever there are more.
    client : dask.distributed.Client, optional
        Explain the row chunks on its workers (model and background sent once; e.g.
        ``xw.local_cluster()``); the result equals the in-process one. Rows
        are chunked the same way with or without it (see
        :mod:`xai_widgets.explain.distributed`); a closed client or another
        object raises before any model call.

    Returns
    -------
    Attribution, or a tuple of them for a tuple ``x``
        ``values`` like ``x`` (``(N, K, ...)`` for ``"all"``), ``outputs``
        ``f(x)[target]``, ``base_values`` ``E_b f(b)[target]``, ``delta``
        (≈ 0: Shapley values are efficient; for a tuple, over the sum of all
        blocks' values), ``output_names``. ``params`` records
        ``background`` (rows used), ``background_rows`` (rows given) and
        ``background_summarized``.

    Notes
    -----
    The value of a coalition ``S`` of features (or groups) for row ``x_i``
    is the expectation over the background,
    ``v(S) = sum_b w_b f(x_i on S, b elsewhere)``, and
    ``phi_j = sum_{S ∌ j} |S|!(M-|S|-1)!/M! (v(S ∪ j) - v(S))``.

    **Cost**: ``(2**M - 2) × B × N`` model rows (``M`` features or groups,
    ``B`` background rows after summarising, ``N`` rows explained; the empty
    and full coalitions are ``base_values`` and ``outputs``). Above
    ``max_features`` players a ``ValueError`` suggests :func:`kernel_shap`
    or grouping.

    **Background summary**: k-means centres keep the background's mean, so
    a linear model's values are unchanged, but a non-linear model's
    ``base_values`` (and values) are those of the weighted centres, not of
    every row; ``summarize=False`` (or a :class:`Background` from
    ``summarize_background(bg, k=len(bg))``) keeps every row.

    **Dtypes**: integer and bool inputs are token ids only for a module
    whose first layer is an ``nn.Embedding``; otherwise they are feature
    values (a module gets its float dtype; a callable keeps integers when
    ``x`` and the background both hold them, else float64).

    Example
    -------
    >>> import torch
    >>> from xai_widgets.explain.shapley import exact_shap
    >>> lin = torch.nn.Linear(4, 1).double()
    >>> x, bg = torch.randn(2, 4, dtype=torch.float64), torch.randn(30, 4, dtype=torch.float64)
    >>> a = exact_shap(lin, x, bg)
    >>> expected = lin.weight.detach()[0] * (x - bg.mean(0))   # linear: w * (x - E[bg])
    >>> bool(torch.allclose(torch.as_tensor(a.values), expected))
    True
    """
    max_features = check_positive_int(max_features, "max_features")
    client = check_client(client)
    prob = ShapleyProblem(
        f, x, background, groups=groups, batch_size=batch_size, seed=seed, feature_names=feature_names,
        max_players=max_features, forward_kwargs=forward_kwargs, output_names=output_names, summarize=summarize,
    )
    m = prob.m
    split = prob.split(exact_shap, dict(
        f=f, x=x, background=background, max_features=max_features, target=target, groups=groups,
        batch_size=batch_size, seed=seed, feature_names=feature_names, forward_kwargs=forward_kwargs,
        output_names=output_names, summarize=summarize,
    ), per_row=2**m - 2, client=client, desc="exact_shap")
    if split is not None:
        return split
    prob.start(target)
    z = all_coalitions(m)
    inner = prob.values(z[1:-1], desc="exact_shap")
    v = torch.cat([prob.f0[:, None, :], inner, prob.fx[:, None, :]], dim=1)
    phi = exact_from_values(v, m)
    return prob.finish(phi, method="exact_shap", params={"coalitions": int(z.shape[0] - 2), "max_features": max_features})
