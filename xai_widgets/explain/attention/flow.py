"""Attention flow (Abnar & Zuidema, 2020): max-flow through the layered attention graph."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...attention_maps import AttentionMaps
from .rollout import _check_maps, fuse_heads, residual_attention

__all__ = ["attention_flow", "FLOW_SCALE", "MAX_ALL_PAIRS", "MAX_TOKENS"]

#: Capacities (in [0, 1]) are scaled to integers with this factor: each edge
#: is rounded by at most 0.5/FLOW_SCALE, so a flow is exact to
#: (edges in the minimum cut) · 0.5e-7. Flows never exceed 1·FLOW_SCALE
#: (the capacity into an output token), far below the int32 limit.
FLOW_SCALE = 10_000_000
#: All input–output pairs are computed up to this many tokens.
MAX_ALL_PAIRS = 32
#: With ``output_token``, up to this many tokens.
MAX_TOKENS = 128


def _graph(a: np.ndarray):
    """CSR graph: node ``l*n + i`` is token ``i`` entering layer ``l`` (``l = 0..L``);
    edge ``(l, j) → (l+1, i)`` has capacity ``Â_l[i, j]``."""
    from scipy.sparse import csr_matrix

    L, n, _ = a.shape
    cap = np.rint(a * FLOW_SCALE).astype(np.int64)
    rows, cols, vals = [], [], []
    jj, ii = np.meshgrid(np.arange(n), np.arange(n))  # ii = query (row), jj = key (column)
    for l in range(L):
        c = cap[l]
        keep = c > 0
        rows.append(l * n + jj[keep])
        cols.append((l + 1) * n + ii[keep])
        vals.append(c[keep])
    N = (L + 1) * n
    g = csr_matrix((np.concatenate(vals).astype(np.int32), (np.concatenate(rows), np.concatenate(cols))), shape=(N, N))
    g.sum_duplicates()
    g.sort_indices()
    return g


def _flows(a: np.ndarray, outputs: list[int]) -> np.ndarray:
    from scipy.sparse.csgraph import maximum_flow

    L, n, _ = a.shape
    g = _graph(a)
    res = np.zeros((len(outputs), n))
    for r, q in enumerate(outputs):
        sink = L * n + q
        for k in range(n):
            res[r, k] = maximum_flow(g, k, sink).flow_value / FLOW_SCALE
    return res


def attention_flow(maps: AttentionMaps, *, output_token: int | None = None) -> AttentionMaps:
    """Attention flow: the maximum flow from each input token to each output token.

    Parameters
    ----------
    maps : AttentionMaps
        Raw self-attention weights from :func:`capture_attention`
        (``kind="attention"``, square: ``Q == K``).
    output_token : int or None, default None
        None: flows between all token pairs (up to :data:`MAX_ALL_PAIRS` = 32
        tokens); a position (e.g. 0, the class token): the flows into that
        token only (up to :data:`MAX_TOKENS` = 128 tokens). Longer inputs
        raise ``ValueError``: use :func:`attention_rollout`.

    Returns
    -------
    AttentionMaps
        ``kind="flow"``, weights ``(1, 1, n, n)`` (all pairs) or ``(1, 1, 1, n)``
        (flows into ``output_token``; ``query_tokens`` names it and
        ``params["output_token"]`` holds its index). Batches: ``(B, 1, 1, ·, K)``,
        each row computed on its tokens without padding (padding left at 0).

    Notes
    -----
    The layered graph has one node per token per layer boundary; the edge
    from token ``j`` below layer ``l`` to token ``i`` above it has capacity
    ``Â_l[i, j]``, the head-averaged attention with the residual added and
    rows renormalised (``0.5·A + 0.5·I``). The flow from input ``k`` to output
    ``q`` is a max-flow (``scipy.sparse.csgraph.maximum_flow``, Dinic) on
    integer capacities (scaled by :data:`FLOW_SCALE` = 1e7: exact to ~1e-6).

    Cost: one max-flow per (input, output) pair on a graph of ``(L+1)·n``
    nodes and up to ``L·n²`` edges: about a second for all pairs of 32
    tokens over 6 layers; seconds to tens of seconds for the ``n`` flows
    into one token of a 128-token input.

    Examples
    --------
    >>> import xai_widgets as xw
    >>> from xai_widgets import demo
    >>> tok, model = demo.minilm("eager")                          # doctest: +SKIP
    >>> maps = xw.capture_attention(model, **tok("The cat sat.", return_tensors="pt"), tokenizer=tok)  # doctest: +SKIP
    >>> f = xw.attention_flow(maps, output_token=0)                 # flows into [CLS]  # doctest: +SKIP
    >>> xw.AttentionView(maps, extra={"flow": f})                   # doctest: +SKIP
    """
    maps = _check_maps(maps, "attention_flow")
    n = maps.n_keys
    if output_token is not None:
        if isinstance(output_token, bool) or not isinstance(output_token, (int, np.integer)):
            raise TypeError(f"output_token must be an int (a token position) or None, got {output_token!r}")
        if not -n <= output_token < n:
            raise ValueError(f"output_token {output_token} is out of range: there are {n} tokens")
    rows = [maps.sample(i) for i in range(maps.batch_size)] if maps.batched else [maps]
    longest = max(r.n_keys for r in rows)
    if output_token is None and longest > MAX_ALL_PAIRS:
        raise ValueError(
            f"attention_flow over all token pairs is limited to {MAX_ALL_PAIRS} tokens (got {longest}): "
            f"pass output_token=<index> (up to {MAX_TOKENS} tokens) or use attention_rollout, which is far cheaper"
        )
    if longest > MAX_TOKENS:
        raise ValueError(
            f"attention_flow is limited to {MAX_TOKENS} tokens (got {longest}): each flow is a max-flow on a graph "
            f"with {maps.n_layers}·n² edges; use attention_rollout instead"
        )
    results = []
    for r in rows:
        a = residual_attention(fuse_heads(r.weights, "mean"))  # (L, n, n)
        m = a.shape[-1]
        outs = list(range(m)) if output_token is None else [int(output_token) % m]
        results.append(_flows(a, outs))
    params = {**maps.params, "output_token": None if output_token is None else int(output_token)}
    if not maps.batched:
        w = results[0][None, None].astype(np.float32)
        qt = None
        if output_token is not None and maps.tokens is not None:
            qt = [maps.tokens[int(output_token) % n]]
        return replace(maps, weights=w, kind="flow", params=params, layer_names=[maps.layer_names[-1]],
                       query_tokens=qt, causal=None)
    B = maps.batch_size
    Qn = n if output_token is None else 1
    w = np.zeros((B, 1, 1, Qn, n), dtype=np.float32)
    for i, res in enumerate(results):
        km = maps.mask[i] if maps.mask is not None else np.ones(n, bool)
        qsel = km if output_token is None else np.ones(1, bool)
        w[i, 0, 0][np.ix_(qsel, km)] = res
    return replace(maps, weights=w, kind="flow", params=params, layer_names=[maps.layer_names[-1]],
                   query_mask=None if output_token is None else np.ones((B, 1), bool), causal=None)
