"""explain_generation on SmolLM2 vs inseq 0.7 and Captum's LLMGradientAttribution (issue 11, §4).

A ~20-token prompt, 8 greedily generated tokens, on ``xw.demo.smollm2()``
(SmolLM2-135M-Instruct, float32 weights dequantised from a 4-bit GGUF):

* input×gradient and 16-step integrated gradients (on the input embeddings,
  from the embedding of token 0, ``<|endoftext|>``: SmolLM2's unk token and
  so our default ``baseline="unk"``, Captum's all-zero token ids, inseq's unk
  baseline): ``xw.explain_generation`` against
  ``inseq.load_model(model, method).attribute(prompt, generation_args=...)``
  and Captum's ``LLMGradientAttribution`` over ``LayerGradientXActivation`` /
  ``LayerIntegratedGradients`` on the embedding layer — wall time including
  the generation, median of interleaved runs, target ≤ 0.5× each peer;
* agreement: Pearson correlation per generated token over the positions both
  attribute, target ≥ 0.99. Captum attributes to the prompt only and keeps
  the earlier generated tokens as they are, also on the integrated-gradients
  path: it is compared with ``sources="prompt"`` (that convention; same cost).
  inseq attributes to prompt and earlier generated tokens, as our default
  ``sources="all"``. The completeness residual per token is printed too.

inseq is installed for the benchmark only (``make bench-deps``: ``--no-deps``
plus what it imports). If it cannot attribute SmolLM2 with the installed
transformers, its error is printed and the comparison is with Captum only.

Run: ``.venv/bin/python benchmarks/generation_bench.py [--repeats 3]``.
"""
from __future__ import annotations

import argparse
import statistics
import time
import traceback
import warnings

import numpy as np
import torch

import xai_widgets as xw

PROMPT = "The Eiffel Tower, the Louvre and the river Seine can all be visited in the city of"  # 21 tokens → " Paris.\n\nThe city of Venice"
NEW_TOKENS = 8
STEPS = 16
TARGET_TIME = 0.5
TARGET_PEARSON = 0.99


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def ours(model, tok, method: str, sources: str = "all") -> np.ndarray:
    """(G, S) attributions of the generated tokens."""
    a = xw.explain_generation(model, tok, PROMPT, max_new_tokens=NEW_TOKENS, method=method, steps=STEPS,
                              sources=sources)
    return a.values[0], a


def captum_run(model, tok, method: str, target: str | None = None) -> np.ndarray:
    """Captum's (G, P) token attributions (prompt tokens only)."""
    from captum.attr import LayerGradientXActivation, LayerIntegratedGradients, LLMGradientAttribution, TextTokenInput

    emb = model.get_input_embeddings()
    if method == "input_x_gradient":
        inner = LayerGradientXActivation(model, emb, multiply_by_inputs=True)
        kwargs = {}
    else:
        inner = LayerIntegratedGradients(model, emb)
        kwargs = {"n_steps": STEPS}
    llm = LLMGradientAttribution(inner, tok)
    inp = TextTokenInput(PROMPT, tok)
    res = llm.attribute(inp, target=target, gen_args=None if target else {"max_new_tokens": NEW_TOKENS, "do_sample": False},
                        **kwargs)
    return res.token_attr.detach().cpu().numpy()


def inseq_model(model, tok, method: str):
    import inseq

    return inseq.load_model(model, method, tokenizer=tok)


def inseq_run(im, method: str) -> np.ndarray:
    """inseq's (G, S) target-side attributions (sum over the hidden axis), NaN where undefined."""
    kwargs = {"n_steps": STEPS} if method == "integrated_gradients" else {}
    # inseq attributes the probability by default; logprob=True (its probability step function's own
    # argument) attributes the log-probability, as Captum's LLMGradientAttribution and ours do
    out = im.attribute(PROMPT, generation_args={"max_new_tokens": NEW_TOKENS, "do_sample": False},
                       show_progress=False, logprob=True, **kwargs)
    seq = out.sequence_attributions[0]
    t = seq.target_attributions  # (S_total, G, [hidden])
    t = t.float()
    if t.ndim == 3:
        t = t.sum(-1)
    return t.T.cpu().numpy()  # (G, S_total)


def timed_median(fns: dict, repeats: int) -> tuple[dict, dict]:
    times = {k: [] for k in fns}
    last = {}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            try:
                last[k] = fn()
            except Exception as e:  # a peer that fails is reported, not fatal
                last[k] = e
                times[k].append(float("nan"))
                continue
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}, last


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    tok, model = xw.demo.smollm2()
    print(f"SmolLM2 loaded in {time.perf_counter() - t0:.1f} s; prompt of "
          f"{len(tok(PROMPT)['input_ids'])} tokens, {NEW_TOKENS} new tokens, IG {STEPS} steps, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeats}\n")
    ok = True
    for method in ("input_x_gradient", "integrated_gradients"):
        # "ours" (every earlier token) is timed against inseq, "ours/prompt" (Captum's convention) against Captum
        fns = {"ours": lambda m=method: ours(model, tok, m), "ours/prompt": lambda m=method: ours(model, tok, m, "prompt"),
               "captum": lambda m=method: captum_run(model, tok, m)}
        try:
            im = inseq_model(model, tok, method)
            fns["inseq"] = lambda im=im, m=method: inseq_run(im, m)
        except Exception as e:  # noqa: BLE001
            print(f"   inseq could not load the model for {method}: {type(e).__name__}: {e}")
        t, res = timed_median(fns, args.repeats)
        values, a = res["ours"]
        P = a.params["prompt_length"]
        print(f"{method}: generated {''.join(a.params['generated'])!r}")
        print(f"   ours {t['ours']:.2f} s (sources='all'), {t['ours/prompt']:.2f} s (sources='prompt')")
        for peer in ("captum", "inseq"):
            if peer not in res:
                continue
            r = res[peer]
            if isinstance(r, Exception):
                print(f"   {peer}: failed — {type(r).__name__}: {str(r).splitlines()[0][:200]}")
                if peer == "captum":
                    ok = False
                continue
            mine_t = t["ours/prompt"] if peer == "captum" else t["ours"]
            ratio = mine_t / t[peer]
            if peer == "captum":
                theirs, mine = r, res["ours/prompt"][0][:, :P]
            else:
                G = min(r.shape[0], values.shape[0])
                theirs, mine = r[:G], values[:G, : r.shape[1]]
            cors = []
            for g in range(min(len(theirs), len(mine))):
                keep = np.isfinite(theirs[g]) & (np.arange(theirs.shape[1]) < P + g)
                if peer == "captum":
                    keep = np.isfinite(theirs[g])
                cors.append(pearson(mine[g][keep[: mine.shape[1]]], theirs[g][keep]))
            good_t, good_c = ratio <= TARGET_TIME, min(cors) >= TARGET_PEARSON
            ok &= good_t and good_c
            print(f"   {peer} {t[peer]:.2f} s → ratio {ratio:.2f} (target ≤ {TARGET_TIME}) {'ok' if good_t else 'MISSED'}; "
                  f"Pearson per generated token min {min(cors):.4f} mean {np.mean(cors):.4f} "
                  f"(target ≥ {TARGET_PEARSON}) {'ok' if good_c else 'MISSED'}")
            print(f"      per token: {' '.join(f'{c:.3f}' for c in cors)}")
        if method == "integrated_gradients":
            print(f"   completeness residual |delta| / |score - baseline score| per token: "
                  f"{' '.join(f'{d:.2f}' for d in np.abs(a.delta[0]) / np.abs(a.outputs[0] - a.base_values[0]))}")
        print()
    print(f"{'all targets met' if ok else 'some targets missed'} — {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        raise SystemExit(1)
