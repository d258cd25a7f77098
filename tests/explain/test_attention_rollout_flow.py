"""attention_rollout and attention_flow against hand computations."""
from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from xai_widgets.attention_maps import AttentionMaps
from xai_widgets.explain.attention import attention_flow, attention_rollout


def _maps(L=3, H=2, n=4, seed=0, batch=None):
    rng = np.random.default_rng(seed)
    shape = (L, H, n, n) if batch is None else (batch, L, H, n, n)
    w = rng.random(shape)
    w /= w.sum(-1, keepdims=True)
    return AttentionMaps(w, tokens=[f"t{i}" for i in range(n)])


def test_rollout_is_product_of_residual_layers():
    maps = _maps()
    a = maps.weights.mean(1)
    eye = np.eye(4)
    want = (0.5 * a[2] + 0.5 * eye) @ (0.5 * a[1] + 0.5 * eye) @ (0.5 * a[0] + 0.5 * eye)
    r = attention_rollout(maps)
    assert r.kind == "rollout" and r.shape == (3, 1, 4, 4)
    np.testing.assert_allclose(r.weights[-1, 0], want, atol=1e-6)
    np.testing.assert_allclose(r.weights[0, 0], 0.5 * a[0] + 0.5 * eye, atol=1e-6)
    np.testing.assert_allclose(r.weights[-1, 0].sum(-1), 1.0, atol=1e-6)
    attr = r.to_attribution(0)
    assert attr.values.shape == (1, 4) and attr.feature_names == maps.tokens
    np.testing.assert_allclose(attr.values[0], want[0], atol=1e-6)


def test_rollout_options():
    maps = _maps(L=2, n=6)
    mx = attention_rollout(maps, head_fusion="max", residual=False)
    a = maps.weights.max(1)
    a = a / a.sum(-1, keepdims=True)
    np.testing.assert_allclose(mx.weights[-1, 0], a[1] @ a[0], atol=1e-6)
    d = attention_rollout(maps, discard_ratio=0.5, residual=False)
    first = d.weights[0, 0]
    assert (first == 0).sum(-1).tolist() == [2] * 6  # half of the 4 candidates per row
    assert np.all(np.diag(first) > 0) and np.all(first[:, 0] > 0)
    with pytest.raises(ValueError):
        attention_rollout(maps, head_fusion="median")
    with pytest.raises(ValueError):
        attention_rollout(maps, discard_ratio=1.5)
    with pytest.raises(ValueError, match="kind"):
        attention_rollout(attention_rollout(maps))


def test_rollout_batch_keeps_padding_out():
    w = _maps(batch=2).weights.copy()
    w[1, ..., 3] = 0  # row 1: token 3 is padding
    w /= w.sum(-1, keepdims=True)
    maps = AttentionMaps(w, mask=np.array([[1, 1, 1, 1], [1, 1, 1, 0]], bool))
    r = attention_rollout(maps)
    single = attention_rollout(AttentionMaps(w[1][:, :, :3, :3] / w[1][:, :, :3, :3].sum(-1, keepdims=True)))
    np.testing.assert_allclose(r.sample(1).weights, single.weights, atol=1e-6)


def _edmonds_karp(cap: np.ndarray, s: int, t: int) -> float:
    cap = cap.astype(float).copy()
    n = len(cap)
    total = 0.0
    while True:
        prev = [-1] * n
        prev[s] = s
        q = deque([s])
        while q and prev[t] < 0:
            u = q.popleft()
            for v in range(n):
                if prev[v] < 0 and cap[u, v] > 1e-15:
                    prev[v] = u
                    q.append(v)
        if prev[t] < 0:
            return total
        f, v = np.inf, t
        while v != s:
            f = min(f, cap[prev[v], v])
            v = prev[v]
        v = t
        while v != s:
            cap[prev[v], v] -= f
            cap[v, prev[v]] += f
            v = prev[v]
        total += f


def test_flow_equals_brute_force_max_flow():
    maps = _maps(L=3, n=4, seed=1)
    a = maps.weights.mean(1)
    a = 0.5 * a + 0.5 * np.eye(4)
    a /= a.sum(-1, keepdims=True)
    L, n = 3, 4
    cap = np.zeros(((L + 1) * n, (L + 1) * n))
    for l in range(L):
        for i in range(n):
            for j in range(n):
                cap[l * n + j, (l + 1) * n + i] = a[l, i, j]
    want = np.array([[_edmonds_karp(cap, k, L * n + q) for k in range(n)] for q in range(n)])
    f = attention_flow(maps)
    assert f.kind == "flow" and f.shape == (1, 1, 4, 4)
    np.testing.assert_allclose(f.weights[0, 0], want, atol=1e-5)
    f0 = attention_flow(maps, output_token=0)
    assert f0.shape == (1, 1, 1, 4) and f0.query_tokens == ["t0"]
    np.testing.assert_allclose(f0.weights[0, 0, 0], want[0], atol=1e-5)
    np.testing.assert_allclose(f0.to_attribution(0).values[0], want[0], atol=1e-5)


def test_flow_batch_removes_padding():
    w = _maps(batch=2, seed=3).weights.copy()
    w[1, ..., 3] = 0
    w /= w.sum(-1, keepdims=True)
    maps = AttentionMaps(w, mask=np.array([[1, 1, 1, 1], [1, 1, 1, 0]], bool))
    f = attention_flow(maps)
    alone = attention_flow(maps.sample(1))
    assert f.shape == (2, 1, 1, 4, 4)
    np.testing.assert_allclose(f.sample(1).weights, alone.weights, atol=1e-6)
    np.testing.assert_allclose(f.sample(0).weights, attention_flow(maps.sample(0)).weights, atol=1e-6)


def test_flow_limits():
    with pytest.raises(ValueError, match="rollout"):
        attention_flow(_maps(L=1, H=1, n=70))  # all pairs: up to MAX_ALL_PAIRS = 64 tokens
    assert attention_flow(_maps(L=1, H=1, n=130), output_token=0).shape == (1, 1, 1, 130)  # was refused over 128
    with pytest.raises(ValueError, match="out of range"):
        attention_flow(_maps(), output_token=9)
