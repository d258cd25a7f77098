"""attention_flow's bounded max-flow against scipy's max-flow on the whole layered graph."""
from __future__ import annotations

import numpy as np
import pytest

from xai_widgets.attention_maps import AttentionMaps
from xai_widgets.explain.attention import attention_flow
from xai_widgets.explain.attention._maxflow import max_flows_into
from xai_widgets.explain.attention.flow import FLOW_SCALE, MAX_TOKENS
from xai_widgets.explain.attention.rollout import fuse_heads, residual_attention


def _scipy_flows(cap: np.ndarray, q: int, sources=None) -> np.ndarray:
    """The reference: one scipy max-flow per source on the whole graph (the algorithm attention_flow used before)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_flow

    L, n, _ = cap.shape
    rows, cols, vals = [], [], []
    for l in range(L):
        i, j = np.nonzero(cap[l])
        rows.append(l * n + j)
        cols.append((l + 1) * n + i)
        vals.append(cap[l][i, j])
    N = (L + 1) * n
    g = csr_matrix((np.concatenate(vals).astype(np.int32), (np.concatenate(rows), np.concatenate(cols))), shape=(N, N))
    g.sort_indices()
    sources = range(n) if sources is None else sources
    return np.array([maximum_flow(g, k, L * n + q).flow_value for k in sources], dtype=np.int64)


def _softmax_maps(L, H, n, seed=0, causal=True, sink=True, batch=None):
    """Attention like a transformer's: softmax of scaled random logits, an attention sink, locality."""
    rng = np.random.default_rng(seed)
    shape = (L, H, n, n) if batch is None else (batch, L, H, n, n)
    logits = rng.standard_normal(shape) * rng.uniform(0.5, 3.0, shape[:-2] + (1, 1))
    pos = np.arange(n)
    logits = logits - 0.1 * np.abs(pos[:, None] - pos[None, :])
    if sink:
        logits[..., 0] += 2.0
    if causal:
        logits = np.where(pos[None, :] > pos[:, None], -np.inf, logits)
    w = np.exp(logits - logits.max(-1, keepdims=True))
    return AttentionMaps(w / w.sum(-1, keepdims=True), tokens=[f"t{i}" for i in range(n)])


def _caps(maps: AttentionMaps) -> np.ndarray:
    return np.rint(residual_attention(fuse_heads(maps.weights, "mean")) * FLOW_SCALE).astype(np.int64)


@pytest.mark.parametrize("causal", [True, False])
def test_softmax_attention_equals_scipy_exactly(causal):
    maps = _softmax_maps(L=6, H=3, n=40, seed=1, causal=causal)
    cap = _caps(maps)
    for q in (39, 0, 17):
        stats = {}
        got = max_flows_into(cap, q, stats=stats)
        np.testing.assert_array_equal(got, _scipy_flows(cap, q))  # the same integers, not just close
        assert stats["full"] <= 40 // 8, stats  # attention-like graphs: nearly all settled by the bounds
    f = attention_flow(maps, output_token=-1)
    np.testing.assert_allclose(f.weights[0, 0, 0], _scipy_flows(cap, 39) / FLOW_SCALE, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_capacities_with_zeros_equal_scipy(seed):
    """Uniform weights, a third of the edges absent, some tokens cut off: bounds loose, fallbacks taken."""
    rng = np.random.default_rng(seed)
    L, n = 4, 14
    cap = rng.integers(0, 10**6, (L, n, n))
    cap[rng.random((L, n, n)) < 0.35] = 0
    cap[1, :, 3] = 0  # token 3 reaches nothing past layer 1
    cap[2, 5, :] = 0  # token 5 receives nothing in layer 3
    for q in (0, 5, n - 1):
        np.testing.assert_array_equal(max_flows_into(cap, q), _scipy_flows(cap, q))


def test_every_settling_step_is_exact():
    """A subgraph too sparse to reach the bound (m=1) sends sources to the fallback: still exact."""
    cap = _caps(_softmax_maps(L=5, H=2, n=30, seed=4, causal=False))
    stats = {}
    got = max_flows_into(cap, 0, m=1, stats=stats)
    assert stats["full"] > 0
    np.testing.assert_array_equal(got, _scipy_flows(cap, 0))
    rng = np.random.default_rng(5)
    loose = rng.integers(1, 100, (3, 9, 9))
    stats = {}
    np.testing.assert_array_equal(max_flows_into(loose, 4, stats=stats), _scipy_flows(loose, 4))
    assert sum(stats.values()) == 9


def test_all_pairs_equal_output_token_rows():
    maps = _softmax_maps(L=4, H=2, n=20, seed=2, causal=True)
    allp = attention_flow(maps).weights[0, 0]
    for q in (0, 7, 19):
        one = attention_flow(maps, output_token=q).weights[0, 0, 0]
        np.testing.assert_array_equal(one, allp[q])
        np.testing.assert_allclose(one, _scipy_flows(_caps(maps), q) / FLOW_SCALE, atol=1e-7)
    assert np.all(np.triu(allp, 1) == 0)  # causal: no flow from later tokens


def test_batches_with_padding_equal_each_row_alone():
    maps = _softmax_maps(L=3, H=2, n=24, seed=3, causal=False, batch=2)
    w = maps.weights.copy()
    w[1, ..., 20:] = 0  # row 1: the last 4 tokens are padding
    w /= w.sum(-1, keepdims=True)
    mask = np.ones((2, 24), bool)
    mask[1, 20:] = False
    batch = AttentionMaps(w, mask=mask)
    f = attention_flow(batch, output_token=0)
    assert f.shape == (2, 1, 1, 1, 24)
    for b in range(2):
        alone = batch.sample(b)
        want = _scipy_flows(_caps(alone), 0) / FLOW_SCALE
        np.testing.assert_allclose(f.weights[b, 0, 0, 0, : alone.n_keys], want, atol=1e-7)
    assert np.all(f.weights[1, 0, 0, 0, 20:] == 0)


def test_more_than_128_tokens_accepted():
    maps = _softmax_maps(L=3, H=2, n=160, seed=6, causal=True)
    f = attention_flow(maps, output_token=-1)
    assert f.shape == (1, 1, 1, 160) and f.query_tokens == ["t159"]
    some = [0, 1, 80, 158, 159]
    np.testing.assert_allclose(f.weights[0, 0, 0, some], _scipy_flows(_caps(maps), 159, some) / FLOW_SCALE, atol=1e-7)
    with pytest.raises(ValueError, match="rollout"):
        attention_flow(AttentionMaps(np.full((1, 1, MAX_TOKENS + 1, MAX_TOKENS + 1), 1.0 / (MAX_TOKENS + 1))),
                       output_token=0)


def test_single_layer_and_bad_capacities():
    cap = np.array([[[6, 4], [3, 7]]])
    assert max_flows_into(cap, 0).tolist() == [6, 4] and max_flows_into(cap, 1).tolist() == [3, 7]
    with pytest.raises(TypeError, match="integers"):
        max_flows_into(cap.astype(float), 0)
    with pytest.raises(ValueError, match=r"\(L, n, n\)"):
        max_flows_into(cap[0], 0)
    with pytest.raises(ValueError, match="token index"):
        max_flows_into(cap, 2)
