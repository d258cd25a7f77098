"""Exact max-flows from every input token into one output token of a layered attention graph.

The graph has ``L+1`` layers of ``n`` tokens; the edge from token ``j`` in
layer ``l`` to token ``i`` in layer ``l+1`` has the integer capacity
``cap[l, i, j]``. A flow from input ``k`` (layer 0) to output ``q`` (layer
``L``) is found without running a max-flow on the whole graph:

1. an upper bound ``U(k)`` for every source at once: the backward bound
   ``u_l(j) = Σ_i min(cap[l, i, j], u_{l+1}(i))``, capped by the node's
   in-capacity, is at least the throughput of ``(l, j)`` in any flow into
   ``q``; ``U(k) = u_0(k)``;
2. a lower bound: scipy's max-flow on a sparse subgraph (the source's edges,
   all edges into ``q``, the diagonal, and per node the ``m`` out-edges that
   carry the most attention towards ``q``, scored by capacity × the backward
   rollout from ``q``); any flow of a subgraph is a flow of the graph;
3. when they differ, a forward bound ``v_L(q)`` (the mirror of ``u``) for
   that source; when the bounds still differ, the max-flow on the whole
   graph (today's algorithm) for that source.

Both bounds and both flows are in the same integers, so the value is the
exact integer max-flow whichever step settles it. On attention graphs the
middle layers rarely limit the flow (the cut sits at the source's or the
output's edges), so step 2 nearly always meets step 1.
"""
from __future__ import annotations

import numpy as np

__all__ = ["max_flows_into", "SPARSE_OUT_EDGES"]

#: Out-edges kept per node (besides the diagonal) in the sparse subgraph.
SPARSE_OUT_EDGES = 8
_BIG = np.int64(1) << np.int64(40)  # "unbounded" for the sink: above any sum of int32 capacities on 256+ tokens


def _backward_bound(cap: np.ndarray, q: int) -> list[np.ndarray]:
    """``u[l]`` (``(n,)`` int64, ``l = 0..L``): an upper bound on what node ``(l, j)`` can pass to ``(L, q)``."""
    L, n, _ = cap.shape
    u = [np.zeros(n, np.int64) for _ in range(L + 1)]
    u[L][q] = _BIG
    for l in range(L - 1, -1, -1):
        b = np.minimum(cap[l], u[l + 1][:, None]).sum(axis=0)
        if l >= 1:
            b = np.minimum(b, cap[l - 1].sum(axis=1))  # nothing passes a node that cannot receive it
        u[l] = b
    return u


def _forward_bound(cap: np.ndarray, k: int, q: int) -> int:
    """An upper bound on the flow from ``(0, k)`` to ``(L, q)``: the mirror image of :func:`_backward_bound`."""
    L, n, _ = cap.shape
    v = np.zeros(n, np.int64)
    v[k] = _BIG
    for l in range(L):
        v = np.minimum(cap[l], v[None, :]).sum(axis=1)
        if l + 1 < L:
            v = np.minimum(v, cap[l + 1].sum(axis=0))  # nor more than it can send on
    return int(v[q])


def _reach_bound(cap: np.ndarray, q: int) -> np.ndarray:
    """``(n,)`` int64: for each source, the capacity into ``(L, q)`` from the layer-``L-1`` nodes it reaches."""
    L, n, _ = cap.shape
    reach = np.eye(n, dtype=np.float32)  # reach[k, j]: (l, j) is reachable from (0, k)
    for l in range(L - 1):
        # float32 matmul counts paths (BLAS); clipping to 0/1 each layer keeps the counts from overflowing
        reach = np.minimum(reach @ (cap[l] > 0).T.astype(np.float32), 1.0)
    return (reach > 0).astype(np.int64) @ cap[L - 1][q]


def _is_causal(cap: np.ndarray) -> bool:
    """True when no edge goes to an earlier token (a decoder's mask)."""
    i, j = np.triu_indices(cap.shape[-1], 1)
    return not np.any(cap[:, i, j])


class _Subgraph:
    """The sparse subgraph of layers ``1..L`` as CSR arrays, nodes numbered by token (last first), then layer.

    Numbering the later tokens first makes, for a causal graph, the nodes a
    source ``k`` can reach (tokens ``≥ k``) a prefix of the numbering: the
    source's graph is then a slice of these arrays, not a copy filtered per source.
    """

    def __init__(self, cap: np.ndarray, q: int, u: list[np.ndarray], m: int, causal: bool) -> None:
        L, n, _ = cap.shape
        alive = np.zeros((L + 1, n), bool)  # nodes of layers 1..L that can reach the sink
        for l in range(1, L):
            alive[l] = u[l] > 0
        alive[L, q] = True
        lay, tok = np.nonzero(alive)
        order = np.lexsort((lay, -tok))  # token descending, then layer
        ident = np.full((L + 1, n), -1, np.int64)
        ident[lay[order], tok[order]] = np.arange(order.size)
        self.n_nodes = order.size
        self.sink = int(ident[L, q])
        # prefix[k]: number of nodes with token >= k (every node when the graph is not causal)
        counts = np.bincount(tok, minlength=n)
        self.prefix = np.cumsum(counts[::-1])[::-1] if causal else np.full(n, order.size)
        self.prefix = np.append(self.prefix, 0)
        self.layer1 = ident[1]
        # which middle edges carry the most towards q: capacity x backward rollout from q
        r = np.zeros(n)
        r[q] = 1.0
        src, dst, val = [], [], []
        for l in range(L - 1, 0, -1):
            c = cap[l]
            if l == L - 1:
                keep = np.zeros((n, n), bool)
                keep[q] = True
            else:
                score = c * r[:, None]
                keep = np.zeros((n, n), bool)
                mm = min(m, n)
                top = np.argpartition(-score, mm - 1, axis=0)[:mm]
                np.put_along_axis(keep, top, True, axis=0)
                np.fill_diagonal(keep, True)
            keep &= (c > 0) & alive[l + 1][:, None] & alive[l][None, :]
            i, j = np.nonzero(keep)
            src.append(ident[l, j])
            dst.append(ident[l + 1, i])
            val.append(c[i, j])
            r = r @ (c / np.maximum(c.sum(axis=1, keepdims=True), 1))
        src = np.concatenate(src) if src else np.zeros(0, np.int64)
        dst = np.concatenate(dst) if dst else np.zeros(0, np.int64)
        val = np.concatenate(val) if val else np.zeros(0, np.int64)
        o = np.lexsort((dst, src))
        self.indices = dst[o].astype(np.int32)
        self.data = val[o].astype(np.int32)
        self.rows = src[o]
        self.indptr = np.zeros(self.n_nodes + 1, np.int64)
        np.cumsum(np.bincount(src, minlength=self.n_nodes), out=self.indptr[1:])

    def flows(self, stars: np.ndarray, sources: np.ndarray) -> np.ndarray:
        """Max-flows from each source ``k`` (joined to layer 1 by capacities ``stars[:, k]``) to the sink.

        The sources' graphs are solved in one scipy call, as disjoint copies
        fed by a super-source and draining into a super-sink (a call costs
        ~0.7 ms before any work): a maximum flow of disjoint graphs is a
        maximum flow on each of them, so each copy's value is the flow on its
        edge from the super-source.
        """
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import maximum_flow

        big = 2**31 - 1
        rows, cols, vals, heads = [], [], [], []
        base = 0
        for k in sources:
            P = int(self.prefix[k])
            nnz = int(self.indptr[P])
            star = stars[:, k]
            use = (star > 0) & (self.layer1 >= 0) & (self.layer1 < P)
            head = base + P  # copy k: its nodes are base .. base+P-1, its source base+P
            rows += [self.rows[:nnz] + base, np.full(int(use.sum()), head), [base + self.sink]]
            cols += [self.indices[:nnz] + base, self.layer1[use] + base, [-1]]  # -1: the super-sink, set below
            vals += [self.data[:nnz], star[use], [big]]
            heads.append(head)
            base = head + 1
        S, T = base, base + 1
        heads = np.asarray(heads, np.int64)
        rows.append(np.full(heads.size, S))
        cols.append(heads)
        vals.append(np.minimum(stars[:, sources].sum(axis=0), big))
        col = np.concatenate(cols).astype(np.int64)
        col[col < 0] = T
        g = csr_matrix((np.concatenate(vals).astype(np.int32), (np.concatenate(rows), col)), shape=(T + 1, T + 1))
        flow = maximum_flow(g, S, T).flow.tocsr()
        start, stop = flow.indptr[S], flow.indptr[S + 1]
        out = np.zeros(T + 1, np.int64)
        out[flow.indices[start:stop]] = flow.data[start:stop]
        return out[heads]


def _full_flow(cap: np.ndarray, k: int, q: int) -> int:
    """Max-flow from ``(0, k)`` to ``(L, q)`` on the whole graph (every edge with a positive capacity)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_flow

    L, n, _ = cap.shape
    rows, cols, vals = [], [], []
    for l in range(L):
        c = cap[l] if l else np.where(np.arange(n)[None, :] == k, cap[0], 0)
        i, j = np.nonzero(c)
        rows.append(l * n + j)
        cols.append((l + 1) * n + i)
        vals.append(c[i, j])
    N = (L + 1) * n
    g = csr_matrix((np.concatenate(vals).astype(np.int32), (np.concatenate(rows), np.concatenate(cols))), shape=(N, N))
    g.sum_duplicates()
    g.sort_indices()
    return int(maximum_flow(g, k, L * n + q).flow_value)


def max_flows_into(cap: np.ndarray, q: int, *, m: int = SPARSE_OUT_EDGES, bar=None,
                   chunk: int = 4, stats: dict | None = None) -> np.ndarray:
    """Exact max-flow values from every input token into output token ``q``.

    Parameters
    ----------
    cap : np.ndarray
        ``(L, n, n)`` non-negative integer capacities below 2**31: ``cap[l, i, j]``
        is the edge from token ``j`` in layer ``l`` to token ``i`` in layer ``l+1``.
    q : int
        The output token (a node of layer ``L``), ``0 <= q < n``.
    m : int, default :data:`SPARSE_OUT_EDGES`
        Out-edges per node in the sparse subgraph (a speed knob: the result
        does not depend on it).
    bar : tqdm-like, optional
        ``bar.update(k)`` is called as sources are settled.
    chunk : int, default 4
        Sources solved per scipy call (fewer calls; but one call runs as many
        phases as its slowest source needs, so small chunks were fastest here).
    stats : dict, optional
        Filled with how many sources each step settled (``"bound"``,
        ``"forward_bound"``, ``"full"``, ``"zero"``).

    Returns
    -------
    np.ndarray
        ``(n,)`` int64: entry ``k`` is the maximum flow from ``(0, k)`` to
        ``(L, q)``, equal to ``scipy.sparse.csgraph.maximum_flow`` on the whole graph.

    Example
    -------
    >>> cap = np.array([[[6, 4], [3, 7]]])        # one layer, two tokens
    >>> max_flows_into(cap, 0).tolist()           # (0,k) -> (1,0) is a single edge
    [6, 4]
    """
    cap = np.asarray(cap)
    if cap.ndim != 3 or cap.shape[1] != cap.shape[2]:
        raise ValueError(f"cap must be (L, n, n), got shape {cap.shape}")
    if not np.issubdtype(cap.dtype, np.integer):
        raise TypeError(f"cap must hold integers, got dtype {cap.dtype}")
    cap = cap.astype(np.int64)
    L, n, _ = cap.shape
    if not 0 <= q < n:
        raise ValueError(f"q must be a token index in [0, {n}), got {q}")
    st = {"zero": 0, "bound": 0, "forward_bound": 0, "full": 0}
    out = np.zeros(n, np.int64)
    u = _backward_bound(cap, q)
    if L == 1:  # the graph is one edge per source
        out[:] = cap[0][q]
        st["bound"] = n
        if bar is not None:
            bar.update(n)
        if stats is not None:
            stats.update(st)
        return out
    causal = _is_causal(cap)
    sub = _Subgraph(cap, q, u, m, causal)
    ubs = np.minimum(u[0], _reach_bound(cap, q))
    todo = np.nonzero(ubs > 0)[0]
    st["zero"] = n - todo.size
    if bar is not None:
        bar.update(n - todo.size)
    for c in range(0, todo.size, chunk):
        part = todo[c:c + chunk]
        for k, lb in zip(part, sub.flows(cap[0], part)):
            ub = int(ubs[k])
            if lb == ub:
                st["bound"] += 1
            else:
                ub = min(ub, _forward_bound(cap, int(k), q))
                if lb == ub:
                    st["forward_bound"] += 1
                else:  # the sparse subgraph fell short, or the bounds are loose: settle it on the whole graph
                    lb = _full_flow(cap, int(k), q)
                    st["full"] += 1
            out[k] = lb
        if bar is not None:
            bar.update(part.size)
    if stats is not None:
        stats.update(st)
    return out
