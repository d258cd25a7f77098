"""Kernel SHAP: Shapley values as a weighted least-squares fit over sampled coalitions.

Lundberg & Lee (2017): the Shapley values are the solution of

    min_phi  sum_S k(S) (v(S) - v(∅) - sum_{j in S} phi_j)^2   s.t.  sum_j phi_j = v(full) - v(∅)

with the Shapley kernel ``k(S) = (M-1) / (C(M,|S|) |S| (M-|S|))``. The sum
runs over all ``2**M - 2`` proper coalitions; with ``samples`` fewer than
that, coalitions are chosen as follows (Covert & Lee 2021, and
``shap.KernelExplainer``'s scheme, made stratified):

1. Coalition sizes are taken in complementary pairs ``(s, M-s)``, each pair
   carrying the kernel's total mass ``∝ 1/(s(M-s))``. Starting from the
   smallest sizes, a pair of sizes is enumerated completely when the budget
   share its mass earns covers all its coalitions (as shap does).
2. The remaining budget is split over the remaining sizes in proportion to
   their mass (deterministically, largest remainder), and each size gets
   that many *distinct* coalitions drawn uniformly, each drawn together with
   its complement (paired/antithetic sampling).
3. A coalition of size ``s`` gets weight ``mass(s) / n_s`` (``n_s`` = coalitions
   of that size used), so every size keeps its exact kernel mass.

The efficiency constraint is imposed exactly (the KKT system of the
constrained least squares), so ``values`` always add up to
``outputs - base_values``. All rows share the coalitions (one system,
many right-hand sides).
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Sequence

import numpy as np
import torch

from ...attribution import Attribution
from .._core import Target, check_positive_int
from ._model import ShapleyProblem
from .exact import all_coalitions

__all__ = ["kernel_shap", "kernel_coalitions", "solve_constrained", "solve_interactions"]

#: Enumerate-and-choose instead of rejection sampling below this many subsets.
_ENUMERATE_LIMIT = 200_000


def _distinct_subsets(m: int, s: int, n: int, rng: np.random.Generator, *, first: bool = False) -> np.ndarray:
    """``n`` distinct random ``s``-subsets of ``m`` players → bool ``(n, m)``.

    ``first=True`` draws only subsets containing player 0 (one per
    complementary pair when ``s == m / 2``).
    """
    out = np.zeros((n, m), dtype=bool)
    if n == 0:
        return out
    pool_m, pool_s, off = (m - 1, s - 1, 1) if first else (m, s, 0)
    total = math.comb(pool_m, pool_s)
    if total <= _ENUMERATE_LIMIT and (n * 4 >= total or total <= 4096):
        combos = np.array(list(itertools.combinations(range(pool_m), pool_s)), dtype=np.int64).reshape(total, pool_s)
        pick = combos[np.sort(rng.choice(total, size=n, replace=False))]
        rows = np.repeat(np.arange(n), pool_s)
        out[rows, pick.reshape(-1) + off] = True
    else:
        seen: set[bytes] = set()
        got = 0
        while got < n:
            k = 2 * (n - got) + 8
            order = np.argsort(rng.random((k, pool_m)), axis=1)[:, :pool_s]
            cand = np.zeros((k, pool_m), dtype=bool)
            cand[np.repeat(np.arange(k), pool_s), order.reshape(-1)] = True
            for row in cand:
                key = np.packbits(row).tobytes()
                if key not in seen:
                    seen.add(key)
                    out[got, off:] = row
                    got += 1
                    if got == n:
                        break
    if first:
        out[:, 0] = True
    return out


def _all_of_size(m: int, s: int) -> np.ndarray:
    """Every ``s``-subset of ``m`` players → bool ``(C(m, s), m)``."""
    combos = np.array(list(itertools.combinations(range(m), s)), dtype=np.int64).reshape(-1, s)
    out = np.zeros((combos.shape[0], m), dtype=bool)
    out[np.repeat(np.arange(combos.shape[0]), s), combos.reshape(-1)] = True
    return out


def _shapley_kernel(m: int, sizes: np.ndarray) -> np.ndarray:
    """Kernel weight of one coalition of each size: ``(M-1) / (C(M,s) s (M-s))``."""
    return np.array([(m - 1) / (math.comb(m, int(s)) * s * (m - s)) for s in sizes], dtype=np.float64)


def kernel_coalitions(m: int, samples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, bool]:
    """Choose at most ``samples`` proper coalitions of ``m`` players and their weights.

    Returns ``(z, w, complete)``: bool ``(C, m)``, float ``(C,)`` summing to
    1, and whether every proper coalition is present (then the fit is exact).
    See the module docstring for the scheme.
    """
    if m < 2:
        return np.zeros((0, m), dtype=bool), np.zeros(0), True
    if samples >= 2**m - 2:
        z = all_coalitions(m)[1:-1]
        w = _shapley_kernel(m, z.sum(1))
        return z, w / w.sum(), True

    half = m // 2
    strata = list(range(1, half + 1))
    mass = {s: (m - 1) / (s * (m - s)) * (1 if 2 * s == m else 2) for s in strata}
    count = {s: math.comb(m, s) * (1 if 2 * s == m else 2) for s in strata}
    full: list[int] = []
    left = samples
    remaining = list(strata)
    # 1. enumerate small sizes while their share of the budget covers them (shap's rule)
    while remaining:
        s = remaining[0]
        share = left * mass[s] / sum(mass[r] for r in remaining)
        if share >= count[s] - 1e-8:
            full.append(s)
            left -= count[s]
            remaining.pop(0)
        else:
            break
    # 2. split the rest over the remaining sizes (pairs), enumerating any that fill up
    alloc: dict[int, int] = {}
    while remaining:
        pairs = left // 2
        tot = sum(mass[r] for r in remaining)
        raw = {r: pairs * mass[r] / tot for r in remaining}
        base = {r: int(math.floor(raw[r])) for r in remaining}
        extra = pairs - sum(base.values())
        for r in sorted(remaining, key=lambda r: raw[r] - base[r], reverse=True)[:extra]:
            base[r] += 1
        over = [r for r in remaining if 2 * base[r] >= count[r]]
        if not over:
            alloc = base
            break
        for r in over:
            full.append(r)
            left -= count[r]
            remaining.remove(r)
    blocks: list[np.ndarray] = []
    for s in full:
        z = _all_of_size(m, s)
        blocks += [z] if 2 * s == m else [z, ~z]
    single = None  # an odd budget: one unpaired coalition in the largest sampled size
    if left - 2 * sum(alloc.values()) == 1:
        cands = [r for r in alloc if 2 * alloc[r] + 2 <= count[r]]
        single = max(cands, key=lambda r: alloc[r]) if cands else None
    for s, p in alloc.items():
        k = p + (1 if s == single else 0)
        if k == 0:
            continue
        if 2 * s == m:  # complementary pairs of equal size: one drawn per pair
            z = _distinct_subsets(m, s, k, rng, first=True)
            blocks += [z, ~z[:p]]
        else:
            z = _distinct_subsets(m, s, k, rng)
            blocks += [z, ~z[:p]]
    z = np.concatenate(blocks) if blocks else np.zeros((0, m), dtype=bool)
    sizes = z.sum(1)
    per_size = np.bincount(sizes, minlength=m + 1)
    single_mass = np.array([(m - 1) / (s * (m - s)) if 0 < s < m else 0.0 for s in range(m + 1)])
    w = single_mass[sizes] / per_size[sizes]
    return z, w / w.sum(), False


def solve_constrained(z: np.ndarray, w: np.ndarray, y: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Weighted least squares ``y ≈ z @ phi`` subject to ``phi.sum(0) == total``.

    ``z`` ``(C, M)``, ``w`` ``(C,)``, ``y`` ``(C, R)`` (one column per
    right-hand side), ``total`` ``(R,)`` → ``phi`` ``(M, R)``. Solves the KKT
    system ``[[Z'WZ, 1], [1', 0]] [phi; lam] = [Z'Wy; total]``; a rank-
    deficient system (fewer coalitions than players) gets the minimum-norm
    solution, which still meets the constraint.
    """
    m = z.shape[1]
    zf = np.ascontiguousarray(z, dtype=np.float64)
    zw = zf * w[:, None]
    # The two (M, C) products go through torch's BLAS (its thread pool), not
    # numpy's: right after the model passes torch's worker threads are still
    # spinning, and a multithreaded numpy GEMM competing with them took
    # ~70 ms here instead of ~0.1 ms.
    zwt = torch.from_numpy(zw).T
    kkt = np.zeros((m + 1, m + 1))
    kkt[:m, :m] = (zwt @ torch.from_numpy(zf)).numpy()
    kkt[:m, m] = 1.0
    kkt[m, :m] = 1.0
    yt = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float64))
    rhs = np.concatenate([(zwt @ yt).numpy(), np.asarray(total, dtype=np.float64)[None, :]], axis=0)
    try:
        sol = np.linalg.solve(kkt, rhs)
        if not np.isfinite(sol).all() or np.linalg.cond(kkt) > 1e12:
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
    return sol[:m]


#: Prior variances of the third-order fit per interaction order, as totals over
#: all terms of that order (split evenly over its C(M, k) terms): main effects
#: are left free, pairs and triples shrunk towards 0 (chosen on a 10- and a
#: 30-feature MLP; with paired sampling the pair terms barely matter).
_ORDER_PRIOR = {1: None, 2: 4500.0, 3: 360.0}
#: ``order="auto"`` fits interactions when its linear system is at most this size.
AUTO_ORDER_LIMIT = 2048


def _comb(o: np.ndarray, k: int) -> np.ndarray:
    """``C(o, k)`` elementwise for float ``o`` and ``k`` in 0..3 (0 when ``o < k``)."""
    if k == 0:
        return np.ones_like(o)
    if k == 1:
        return o
    if k == 2:
        return o * (o - 1) / 2
    return o * (o - 1) * (o - 2) / 6


def _overlap_kernel(zf: np.ndarray, prior: list[float], order: int, out: np.ndarray) -> None:
    """``out[i, j] = sum_{k=2..order} prior_k · C(|S_i ∩ S_j|, k)`` for coalitions ``zf`` ``(C, M)``.

    The C×C overlaps are small integers, so a float32 product is exact; the
    polynomial is evaluated in place (Horner form, no C×C temporaries per
    order) — this was a fifth of a 2,048-coalition kernel SHAP run.
    """
    z32 = zf.astype(np.float32)
    out[...] = z32 @ z32.T  # overlaps |S_i ∩ S_j|
    if order < 2:
        out[...] = 0.0
        return
    # C(o,2)·p2 + C(o,3)·p3 = o(o-1)/2 · (p2 + p3 (o-2)/3)
    factor = np.subtract(out, 2.0) if order >= 3 else None
    np.multiply(out, np.subtract(out, 1.0), out=out)
    out *= 0.5
    if factor is None:
        out *= prior[1]
        return
    factor *= prior[2] / 3.0
    factor += prior[1]
    out *= factor


def _priors(m: int, order: int) -> list[float]:
    return [np.inf if k == 1 else _ORDER_PRIOR[k] / math.comb(m, k) for k in range(1, order + 1)]


def _terms(m: int, order: int) -> list[tuple[int, ...]]:
    return [t for k in range(1, order + 1) for t in itertools.combinations(range(m), k)]


def interaction_terms(m: int, order: int) -> int:
    """Number of coefficients of an ``order``-additive fit over ``m`` players."""
    return sum(math.comb(m, k) for k in range(1, order + 1))


def solve_interactions(z: np.ndarray, w: np.ndarray, y: np.ndarray, total: np.ndarray, order: int = 3,
                       form: str = "auto") -> np.ndarray:
    """Shapley values of an ``order``-additive game fitted to sampled coalition values.

    Fits ``g(S) = sum_{T subset S, 1 <= |T| <= order} beta_T`` to ``y`` ``(C, R)``
    (``v(S) - v(∅)``, one column per right-hand side) at coalitions ``z``
    ``(C, M)`` by ridge regression weighted with the Shapley kernel ``w``
    ``(C,)`` (main effects unpenalised, interactions shrunk towards 0),
    with ``g(full) == total`` ``(R,)`` imposed exactly, and returns the
    Shapley values of ``g``: ``phi_i = sum_{T ∋ i} beta_T / |T|`` → ``(M, R)``.

    With ``order=1`` this is Kernel SHAP; higher orders follow the
    k-additive approach of Pelegrina, Duarte & Grabisch (2023). Sampling
    error of Kernel SHAP comes from interactions of order >= 3 (paired
    sampling cancels the even ones); fitting the triples removes most of it.
    Each column is scaled by its own size before the fit (and back after),
    so every row's values are independent of the other rows and the fit is
    scale-equivariant. The cheaper of the primal (one coefficient per term)
    and the dual (one unknown per coalition) systems is solved (``form``:
    "auto", "primal" or "dual"; both give the same values).

    Example
    -------
    >>> import numpy as np
    >>> from xai_widgets.explain.shapley.kernel import kernel_coalitions, solve_interactions
    >>> z, w, _ = kernel_coalitions(4, 10, np.random.default_rng(0))
    >>> y = (z * [1.0, 2.0, 3.0, 4.0]).sum(1, keepdims=True)  # an additive game
    >>> np.round(solve_interactions(z, w, y, np.array([10.0]))[:, 0], 6)
    array([1., 2., 3., 4.])
    """
    # One BLAS thread: multithreaded GEMM/Cholesky round differently with the
    # thread count, and a Dask worker (1 thread) must reproduce the
    # in-process values to the last bits the fit's conditioning amplifies.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _solve_interactions(z, w, y, total, order, form)


def _solve_interactions(z: np.ndarray, w: np.ndarray, y: np.ndarray, total: np.ndarray, order: int,
                        form: str) -> np.ndarray:
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    m, c = z.shape[1], z.shape[0]
    order = max(1, min(order, m))
    prior = _priors(m, order)
    zf = np.ascontiguousarray(z, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    total = np.asarray(total, dtype=np.float64)
    scale = np.sqrt((w[:, None] * y**2).sum(0) + total**2)
    scale[scale == 0] = 1.0
    yn, tn = y / scale, total / scale
    noise = 1.0 / (w * c)  # weights as precisions, mean 1
    sizes = zf.sum(1)
    p = interaction_terms(m, order)
    if form == "primal" or (form == "auto" and p < c + 1):
        terms = _terms(m, order)
        x = np.empty((c, p))
        for j, t in enumerate(terms):
            x[:, j] = zf[:, list(t)].all(1) if len(t) > 1 else zf[:, t[0]]
        pi = np.concatenate([np.full(math.comb(m, k), prior[k - 1]) for k in range(1, order + 1)])
        xd = x.T / noise
        kkt = np.zeros((p + 1, p + 1))
        kkt[:p, :p] = xd @ x
        kkt[np.arange(p), np.arange(p)] += 1.0 / pi  # 0 for main effects: they are free
        kkt[:p, p] = kkt[p, :p] = 1.0
        rhs = np.concatenate([xd @ yn, tn[None]], 0)
        try:
            beta = np.linalg.solve(kkt, rhs)[:p]
        except np.linalg.LinAlgError:
            beta = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:p]
        share = np.zeros((m, p))
        for j, t in enumerate(terms):
            share[list(t), j] = 1.0 / len(t)
        return (share @ beta) * scale
    # Dual (universal kriging) form: main effects as free coefficients beta,
    # interactions as a kernel over coalitions (the overlap |S ∩ S'| gives
    # the number of shared terms of each order); the full coalition is a
    # noise-free observation, so g(full) == total exactly.
    a = np.empty((c + 1, c + 1))
    _overlap_kernel(zf, prior, order, out=a[:c, :c])
    a[np.arange(c), np.arange(c)] += noise
    a[:c, c] = a[c, :c] = sum(prior[k - 1] * _comb(sizes, k) for k in range(2, order + 1))
    a[c, c] = sum(prior[k - 1] * math.comb(m, k) for k in range(2, order + 1))
    design = np.concatenate([zf, np.ones((1, m))], 0)  # (C+1, M)
    rhs = np.concatenate([yn, tn[None]], 0)
    try:  # covariance of noisy coalition values and the exact full value: positive definite
        fac = cho_factor(a, check_finite=False)
        a_inv = lambda b: cho_solve(fac, b, check_finite=False)  # noqa: E731
        ainv_f, ainv_r = a_inv(design), a_inv(rhs)
    except LinAlgError:
        sol = np.linalg.lstsq(a, np.concatenate([design, rhs], 1), rcond=None)[0]
        ainv_f, ainv_r = sol[:, :m], sol[:, m:]
    gram = design.T @ ainv_f
    beta = np.linalg.lstsq(gram, design.T @ ainv_r, rcond=None)[0]  # (M, R); min-norm if C < M
    alpha = ainv_r - ainv_f @ beta

    def coef(s: np.ndarray) -> np.ndarray:  # sum over interaction terms T ∋ i, T ⊆ S of prior / |T|
        return sum(prior[k - 1] * _comb(s - 1, k - 1) / k for k in range(2, order + 1))

    phi = beta + (zf * coef(sizes)[:, None]).T @ alpha[:c] + coef(np.float64(m)) * alpha[c][None, :]
    return phi * scale


def kernel_shap(
    f: Any,
    x: Any,
    background: Any,
    *,
    samples: int = 2048,
    target: Target = None,
    groups: Any = None,
    batch_size: int | None = None,
    seed: int | None = 0,
    feature_names: Any = None,
    forward_kwargs: dict | None = None,
    output_names: Sequence[str] | None = None,
    summarize: bool | int = True,
    client: Any = None,
    order: int | str = "auto",
) -> Attribution | tuple[Attribution, ...]:
    """Kernel SHAP: Shapley values from a constrained weighted regression on sampled coalitions.

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
    samples : int
        Coalitions evaluated (shap's ``nsamples``; >= 1; ``2 * M + 2048`` is
        a common choice).
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
        Seeds the coalition sample (shared by all rows) and the background
        summary.
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
        Explain the row chunks on its workers (model and background sent
        once; e.g. ``xw.local_cluster()``); the values equal the in-process
        ones (the coalitions are shared by all rows). A closed client or
        another object raises before any model call.
    order : "auto", 1, 2 or 3
        The game fitted to the sampled coalition values: 1 is classic Kernel
        SHAP (an additive fit); 3 also fits every pair and triple of players
        (shrunk towards 0) and returns the Shapley values of that fit, which
        on the MLPs of ``benchmarks/shap_bench.py`` cuts the error at equal
        evaluations by 2-4x (the error left comes from interactions of order
        5 and up). ``"auto"``: 3 when its linear system has at most
        2,048 unknowns (``min(coalitions, M + C(M,2) + C(M,3))``), else 1.
        Every coalition enumerated → the exact values either way.
        ``params["order"]`` records the order used.

    Returns
    -------
    Attribution, or a tuple of them for a tuple ``x``
        ``values`` like ``x`` (``(N, K, ...)`` for ``"all"``), ``outputs``,
        ``base_values`` (``E_b f(b)``), ``delta`` (≈ 0 by construction; for a
        tuple, over the sum of all blocks), ``output_names``;
        ``params["coalitions"]`` is the number evaluated,
        ``params["complete"]`` whether they were all of them, and
        ``params["background_summarized"]`` whether the background was
        summarised.

    Notes
    -----
    ``samples`` is the number of coalitions evaluated, each costing ``B``
    model rows per explained row. With ``samples >= 2**M - 2`` every
    coalition is enumerated and the result equals :func:`exact_shap`; below
    that, complete small coalition sizes come first and the rest are
    sampled, stratified by size and paired with their complements (see the
    module docstring). The efficiency constraint makes ``values`` add up to
    ``outputs - base_values`` exactly.

    **Cost**: ``min(samples, 2**M - 2) × B × N`` model rows plus one
    ``(M+1)``-square solve shared by all rows.

    **Background summary**: k-means centres keep the background's mean
    (a linear model is unaffected) but a non-linear model's ``base_values``
    and values are those of the weighted centres; ``summarize=False`` keeps
    every row. Integer/bool inputs are feature values unless ``f`` is a
    module whose first layer is an embedding (then token ids); see
    :func:`exact_shap`.

    Example
    -------
    >>> import numpy as np
    >>> from xai_widgets.explain.shapley import kernel_shap
    >>> f = lambda a: a[:, 0] * a[:, 1] + a[:, 2]
    >>> rng = np.random.default_rng(0)
    >>> a = kernel_shap(f, rng.normal(size=(3, 3)), rng.normal(size=(20, 3)), samples=6)
    >>> bool(np.allclose(a.delta, 0))
    True
    """
    from ..distributed import check_client  # imported here: this edit stays inside kernel_shap

    samples = check_positive_int(samples, "samples")
    _check_order(order)
    client = check_client(client)
    prob = ShapleyProblem(
        f, x, background, groups=groups, batch_size=batch_size, seed=seed, feature_names=feature_names,
        forward_kwargs=forward_kwargs, output_names=output_names, summarize=summarize,
    )
    split = prob.split(kernel_shap, dict(
        f=f, x=x, background=background, samples=samples, target=target, groups=groups, batch_size=batch_size,
        seed=seed, feature_names=feature_names, forward_kwargs=forward_kwargs, output_names=output_names,
        summarize=summarize, order=order,
    ), per_row=min(samples, 2**prob.m), client=client, desc="kernel_shap")
    if split is not None:
        return split
    prob.start(target)
    m = prob.m
    z, w, complete = kernel_coalitions(m, samples, prob.rng())
    order_used = _order_for(order, m, int(z.shape[0]), complete)
    n, t = prob.n, prob.t
    total = (prob.fx - prob.f0).cpu().numpy().reshape(n * t)
    if m == 1:
        phi = torch.as_tensor(total.reshape(n, t, 1))
    else:
        v = prob.values(z, desc="kernel_shap")  # (N, C, T)
        y = (v - prob.f0[:, None, :]).permute(1, 0, 2).reshape(z.shape[0], n * t).cpu().numpy()
        if order_used == 1:
            sol = solve_constrained(z, w, y, total)  # (M, N*T)
        else:
            sol = solve_interactions(z, w, y, total, order_used)
        phi = torch.as_tensor(sol.T.reshape(n, t, m))
    return prob.finish(
        phi, method="kernel_shap",
        params={"samples": samples, "coalitions": int(z.shape[0]), "complete": bool(complete), "order": order_used},
    )


def _check_order(order: Any) -> None:
    if isinstance(order, str):
        if order != "auto":
            raise ValueError(f"order must be 'auto', 1, 2 or 3; got {order!r}")
        return
    if isinstance(order, (bool, np.bool_)) or not isinstance(order, (int, np.integer)) or order not in (1, 2, 3):
        raise ValueError(f"order must be 'auto', 1, 2 or 3; got {order!r}")


def _order_for(order: int | str, m: int, coalitions: int, complete: bool) -> int:
    """The fit's order: 1 when every coalition is there (exact) or too few players; 'auto' → 3 if cheap."""
    if complete or m < 3:
        return 1
    if order == "auto":
        return 3 if min(coalitions, interaction_terms(m, 3)) <= AUTO_ORDER_LIMIT else 1
    return int(order)
