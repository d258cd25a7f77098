"""attention_flow into one output token over 12 layers x 256 tokens: new bounded max-flow vs scipy on the whole graph.

Attention is synthetic but transformer-like (seed fixed): per layer 12 heads of
softmax(scaled random q·k), an attention sink on token 0, a locality bias;
causal (decoder, output = last token) and bidirectional (encoder, output = token
0). Heads are averaged and the residual added as attention_flow does. scipy's
max-flow runs once per source on the whole graph (the previous algorithm) on
every ``--every``-th source and is extrapolated to all 256. Wall and CPU
seconds are printed: on a shared machine the CPU time is the steadier figure.

Run: ``OMP_NUM_THREADS=1 python benchmarks/attention_flow.py [--every 8]``
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from xai_widgets.attention_maps import AttentionMaps
from xai_widgets.explain.attention import attention_flow
from xai_widgets.explain.attention.flow import FLOW_SCALE
from xai_widgets.explain.attention.rollout import fuse_heads, residual_attention

TARGET_S = 1.0


def synthetic_attention(L=12, H=12, n=256, d=64, seed=0, causal=True) -> np.ndarray:
    """``(L, H, n, n)`` softmax attention with a sink on token 0 and a locality bias."""
    rng = np.random.default_rng(seed)
    pos = np.arange(n)
    w = np.empty((L, H, n, n))
    for l in range(L):
        for h in range(H):
            q, k = rng.standard_normal((2, n, d))
            logits = rng.uniform(0.5, 3.0) * (q @ k.T) / np.sqrt(d)
            logits[:, 0] += rng.uniform(0, 4)
            logits -= rng.uniform(0, 0.2) * np.abs(pos[:, None] - pos[None, :])
            if causal:
                logits[pos[None, :] > pos[:, None]] = -np.inf
            e = np.exp(logits - logits.max(-1, keepdims=True))
            w[l, h] = e / e.sum(-1, keepdims=True)
    return w


def scipy_flows(maps: AttentionMaps, q: int, sources) -> np.ndarray:
    """The previous algorithm: scipy's maximum_flow on the whole graph, once per source."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_flow

    cap = np.rint(residual_attention(fuse_heads(maps.weights, "mean")) * FLOW_SCALE).astype(np.int64)
    L, n, _ = cap.shape
    rows, cols, vals = [], [], []
    for l in range(L):
        i, j = np.nonzero(cap[l])
        rows.append(l * n + j)
        cols.append((l + 1) * n + i)
        vals.append(cap[l][i, j])
    g = csr_matrix((np.concatenate(vals).astype(np.int32), (np.concatenate(rows), np.concatenate(cols))),
                   shape=((L + 1) * n,) * 2)
    g.sort_indices()
    return np.array([maximum_flow(g, k, L * n + q).flow_value for k in sources]) / FLOW_SCALE


def timed(fn):
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=8, help="scipy on every k-th source, extrapolated (1: all)")
    ap.add_argument("--repeats", type=int, default=3, help="new algorithm: best of this many runs")
    args = ap.parse_args()
    n = 256
    for causal in (True, False):
        maps = AttentionMaps(synthetic_attention(causal=causal))
        q = n - 1 if causal else 0
        runs = [timed(lambda: attention_flow(maps, output_token=q)) for _ in range(args.repeats)]
        f, wall, cpu = min(runs, key=lambda r: r[1])
        sources = list(range(0, n, args.every))
        ref, swall, scpu = timed(lambda: scipy_flows(maps, q, sources))
        scale = n / len(sources)
        diff = np.abs(f.weights[0, 0, 0, sources] - ref).max()
        name = "causal, output = last token" if causal else "bidirectional, output = token 0"
        print(f"12 layers x {n} tokens, {name}")
        print(f"  new:   wall {wall:.3f} s  cpu {cpu:.3f} s  (best of {args.repeats})  "
              f"-> {wall / TARGET_S:.2f}x the {TARGET_S:.0f} s target (cpu {cpu / TARGET_S:.2f}x)")
        note = "" if args.every == 1 else f" (measured on {len(sources)} sources, x{scale:.0f} extrapolated)"
        print(f"  scipy: wall {swall * scale:.2f} s  cpu {scpu * scale:.2f} s{note}  -> speed-up {swall * scale / wall:.1f}x")
        print(f"  max |difference| vs scipy: {diff:.3g}  (float32 result; the integer flows are identical)")


if __name__ == "__main__":
    main()
