"""Permutation SHAP: average marginal contributions along random orderings, antithetically.

For an ordering ``π`` of the ``M`` players, player ``π_k`` receives
``v({π_1..π_k}) - v({π_1..π_{k-1}})``; the Shapley value is the mean over
all orderings. Each random permutation is used forwards and reversed
(antithetic sampling, as ``shap.PermutationExplainer``), which cancels much
of the variance for nearly additive models. Every ordering's contributions
add up to ``v(full) - v(∅)``, so ``values`` are efficient exactly.
Coalitions shared by several orderings (common for small ``M``) are
evaluated once; all rows share the orderings.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ...attribution import Attribution
from .._core import Target, check_positive_int
from ..distributed import check_client
from ._model import ShapleyProblem

__all__ = ["permutation_shap", "antithetic_orderings"]


def antithetic_orderings(m: int, permutations: int, rng: np.random.Generator) -> np.ndarray:
    """``permutations`` random orderings of ``m`` players, each followed by its reverse → ``(2P, m)``."""
    perms = np.stack([rng.permutation(m) for _ in range(permutations)])
    return np.stack([perms, perms[:, ::-1]], axis=1).reshape(2 * permutations, m)


def permutation_shap(
    f: Any,
    x: Any,
    background: Any,
    *,
    permutations: int = 10,
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
    """Permutation SHAP with antithetic orderings (each random permutation and its reverse).

    Parameters
    ----------
    f : torch.nn.Module or callable
        Model (run on its device, left as found, no gradients) or a function
        on numpy batches returning ``(n,)``/``(n, K)`` numbers (a pandas
        DataFrame with ``x``'s columns when ``x`` is one). Called as
        ``f(*blocks, **forward_kwargs)``.
    x : tensor, array or DataFrame ``(N, ...)``, or a tuple of them
        Rows to explain; a tuple holds the feature blocks of a multi-input
        model (players: all elements of all blocks). DataFrame columns must
        be numeric (int, bool, float; mixed int/float become float64).
    background : tensor, array, DataFrame, tuple of them, or a ``Background``
        Reference rows ``(B, ...)``, the same tuple structure as ``x``; more
        than 100 are summarised to 50 weighted k-means centres unless
        ``summarize=False`` (a warning says so).
    permutations : int
        Random permutations (>= 1); each is also walked in reverse, so
        ``2 × permutations`` orderings are averaged.
    target : None, int, class name, one per row, or ``"all"``
        Output explained (``None``: each row's top output; ``"all"`` →
        values ``(N, K, ...)``).
    groups : label map, list of index lists, dict, or None
        Players that move together (for a tuple ``x``: indices over the
        blocks' flattened elements in order, or one label map per block);
        values spread evenly over members, per-group values in
        ``group_values``.
    batch_size : int, optional
        Model rows per forward pass (default: about 2**19 input elements,
        16 to 16384 rows; 16 for token ids).
    seed : int or None
        Seeds the permutations (shared by all rows) and the background summary.
    feature_names : list of str, optional
        One name per element of a row (default: a DataFrame's columns); for
        a tuple ``x``, one list (or None) per block.
    forward_kwargs : dict, optional
        Extra model inputs; a tensor/array with ``N`` rows (first axis) is
        batched and follows the explained row ``x_i`` into every composite
        row (also into the background rows, so ``base_values`` is then
        ``E_b f(b, kwargs_i)`` per row); anything else is passed as is.
    output_names : list of str, optional
        Class names (default: a Hugging Face ``config.id2label`` or
        ``model.output_names``); stored on the result; ``target`` may name
        a class.
    summarize : bool or int
        ``True``: more than 100 background rows → 50 weighted k-means
        centres, with a :class:`BackgroundSummaryWarning`; ``False``: keep
        every row; an int ``k``: summarise to ``k`` rows when there are more.
    client : dask.distributed.Client, optional
        Explain the row chunks on its workers (model and background sent once; e.g.
        ``xw.local_cluster()``); the result equals the in-process one. Rows
        are chunked the same way with or without it (see
        :mod:`xai_widgets.explain.distributed`); a closed client or another
        object raises before any model call.

    Returns
    -------
    Attribution, or a tuple of them for a tuple ``x``
        ``values`` like ``x`` (``(N, K, ...)`` for ``"all"``), ``outputs``,
        ``base_values``, ``delta`` (joint for a tuple), ``output_names``;
        ``params["coalitions"]`` counts the distinct coalitions evaluated.

    Notes
    -----
    **Cost**: at most ``2 × permutations × (M - 1) × B × N`` model rows
    (``M`` players, ``B`` background rows, ``N`` rows); coalitions repeated
    across orderings are evaluated once. Exact for additive models at any
    ``permutations``; efficient (``delta`` ≈ 0) by construction.

    **Background summary**: k-means centres keep the background's mean
    (a linear model is unaffected) but a non-linear model's ``base_values``
    and values are those of the weighted centres; ``summarize=False`` keeps
    every row. Integer/bool inputs are feature values unless ``f`` is a
    module whose first layer is an embedding (then token ids); see
    :func:`exact_shap`.

    Example
    -------
    >>> import numpy as np
    >>> from xai_widgets.explain.shapley import permutation_shap
    >>> f = lambda a: 2 * a[:, 0] - a[:, 1]
    >>> a = permutation_shap(f, np.ones((1, 2)), np.zeros((5, 2)), permutations=1)
    >>> a.values.tolist()
    [[2.0, -1.0]]
    """
    permutations = check_positive_int(permutations, "permutations")
    client = check_client(client)
    prob = ShapleyProblem(
        f, x, background, groups=groups, batch_size=batch_size, seed=seed, feature_names=feature_names,
        forward_kwargs=forward_kwargs, output_names=output_names, summarize=summarize,
    )
    # the orderings are shared by all rows (drawn from seed alone), so chunks draw the same ones
    split = prob.split(permutation_shap, dict(
        f=f, x=x, background=background, permutations=permutations, target=target, groups=groups,
        batch_size=batch_size, seed=seed, feature_names=feature_names, forward_kwargs=forward_kwargs,
        output_names=output_names, summarize=summarize,
    ), per_row=min(2 * permutations * max(prob.m - 1, 1), 2**prob.m), client=client, desc="permutation_shap")
    if split is not None:
        return split
    prob.start(target)
    m, n, t = prob.m, prob.n, prob.t
    orders = antithetic_orderings(m, permutations, prob.rng())  # (O, m)
    o = orders.shape[0]
    rank = np.argsort(orders, axis=1)  # rank[p, i] = position of player i in ordering p
    # prefixes of length 1..m-1 (the empty and full coalitions are base_values and outputs)
    prefix = rank[:, None, :] < np.arange(1, m)[None, :, None]  # (O, m-1, m)
    uniq, inverse = np.unique(prefix.reshape(-1, m), axis=0, return_inverse=True)
    v_u = prob.values(uniq, desc="permutation_shap")  # (N, U, T)
    chain = v_u[:, torch.as_tensor(inverse.reshape(-1), device=v_u.device)].view(n, o, m - 1, t)
    chain = torch.cat(
        [prob.f0[:, None, None, :].expand(n, o, 1, t), chain, prob.fx[:, None, None, :].expand(n, o, 1, t)], dim=2
    )  # (N, O, m+1, T)
    steps = chain[:, :, 1:] - chain[:, :, :-1]  # (N, O, m, T): contribution of orders[p, k]
    idx = torch.as_tensor(rank, device=steps.device)[None, :, :, None].expand(n, o, m, t)
    by_player = steps.gather(2, idx)  # (N, O, m, T) in player order
    phi = by_player.mean(1).permute(0, 2, 1)  # (N, T, m)
    return prob.finish(
        phi, method="permutation_shap",
        params={"permutations": permutations, "orderings": o, "coalitions": int(uniq.shape[0])},
    )
