"""save_html of an AttentionView on real MiniLM attention over 512 tokens: file size and time.

    .venv/bin/python benchmarks/save_html_attention.py [--repeats N] [--threads T]

The maps: all-MiniLM-L6-v2 (6 layers x 12 heads, loaded offline) captured
with ``capture_attention`` over a 512-token text, as in tutorial
notebooks/02_attention.ipynb; the view holds them alone and with their
rollout as ``extra=`` (the tutorial's setup). Every head is embedded: every
layer x (mean of heads + 12 heads), the budget lifted (``max_bytes=2**40``).

Targets: the file is at most 25 MB and ``save_html`` takes at most 3 s
(median of the repeats, wall time: encoding, compression, writing).
Reported for both encodings the live widget offers: ``dtype="uint8"`` (the
default: one scale/offset per head) and ``"float16"``. Also: how many heads
the default 20 MiB budget keeps, and how much uint8 changes the picture
(each cell's colour-map index, 0..255, against the float32 weights on the
view's own scale, the 99.5th-percentile clip).
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import xai_widgets as xw  # noqa: E402
from xai_widgets import demo  # noqa: E402
from xai_widgets.widgets import _serialize as ser  # noqa: E402
from xai_widgets.widgets.attention_view import LOG_RANGE, decode_head, encode_head  # noqa: E402

MAX_MB = 25.0
MAX_S = 3.0
TOKENS = 512
PARAGRAPH = (
    "Attention maps show which tokens a transformer reads when it builds the representation of another token. "
    "They are cheap to compute, easy to draw and easy to over-interpret: a head that attends to the separator "
    "token may simply be idle, and information mixes across layers through the residual stream. "
)


def capture() -> xw.AttentionMaps:
    tok, model = demo.minilm("sdpa")
    enc = tok(PARAGRAPH * (TOKENS // 20 + 2), truncation=True, max_length=TOKENS, return_tensors="pt")
    assert enc["input_ids"].shape[1] == TOKENS, enc["input_ids"].shape
    return xw.capture_attention(model, **enc, tokenizer=tok)


def embedded_counts(path: Path) -> dict:
    """The view's own count of embedded and missing heads, read back from the saved page."""
    text = path.read_text(encoding="utf-8")
    m = re.search(r'"_embed":\{"heads":(\d+),"embedded":(\d+),"missing":(\d+)', text)
    assert m, "no _embed entry in the page"
    return {"heads": int(m[1]), "embedded": int(m[2]), "missing": int(m[3])}


def timed_save(w, path: Path, repeats: int, max_bytes: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        w.save_html(path, max_bytes=max_bytes)
        out.append(time.perf_counter() - t0)
    return out


def colour_change(w) -> dict[str, tuple[float, int, float]]:
    """How much each encoding moves the picture, over every head and mean of the main source: each cell's
    colour-map index (0..255 on the view's scale) against float32 -> mean and max |change|, and the share
    of cells that move by more than 2 of 255 steps."""
    src = w._srcs[w.source]
    encodings = {
        "uint8 log1p (the widget's)": lambda a: decode_head(*encode_head(a, "uint8")),
        "uint8 linear (max/255 steps)": lambda a: ser.decode(*ser.encode(a, "uint8")),
        "float16": lambda a: decode_head(*encode_head(a, "float16")),
    }
    diffs: dict[str, list] = {k: [] for k in encodings}
    for layer in range(src.L):
        for h in range(-1, src.H):
            a = src.head(0, layer, h)
            vmax = w.colour_max(layer=layer, head=h)
            idx = lambda x: np.round(np.clip(x / vmax, 0, 1) * 255)  # noqa: E731 - as the view picks colours
            for k, f in encodings.items():
                diffs[k].append(np.abs(idx(f(a)) - idx(a)).ravel())
    out = {}
    for k, ds in diffs.items():
        d = np.concatenate(ds)
        out[k] = (float(d.mean()), int(d.max()), float((d > 2).mean()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the capture (default 1)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    maps = capture()
    rollout = xw.attention_rollout(maps)
    print(f"all-MiniLM-L6-v2, {TOKENS} tokens, weights {tuple(maps.weights.shape)} captured in "
          f"{time.perf_counter() - t0:.1f} s; save_html median of {args.repeats}")
    print(f"targets: file <= {MAX_MB:g} MB, save_html <= {MAX_S:g} s, every head embedded (budget lifted)\n")
    header = (f"{'view':<22} {'dtype':<8} {'heads':>6} {'file MB':>8} {'/target':>8} {'median s':>9} {'best s':>7}"
              f" {'/target':>8}  verdict")
    print(header)
    print("-" * len(header))
    missed: list[str] = []  # the default encoding (uint8) over a target
    over_opt_in: list[str] = []  # float16, chosen by the user for precision: reported, not the target
    configs = [("attention", {}), ("attention + rollout", {"extra": {"rollout": rollout}})]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "attention.html"
        for name, kw in configs:
            for dtype in ("uint8", "float16"):
                w = xw.AttentionView(maps, dtype=dtype, **kw)
                times = timed_save(w, path, args.repeats, 2**40)
                size = path.stat().st_size / 1e6
                counts = embedded_counts(path)
                assert counts["missing"] == 0, counts
                med = statistics.median(times)
                ok = size <= MAX_MB and med <= MAX_S
                if not ok:
                    (missed if dtype == "uint8" else over_opt_in).append(f"{name} {dtype}")
                verdict = "ok" if ok else "MISSED" if dtype == "uint8" else "over (opt-in dtype)"
                print(f"{name:<22} {dtype:<8} {counts['heads']:>6} {size:>8.2f} {size / MAX_MB:>7.2f}x {med:>9.2f}"
                      f" {min(times):>7.2f} {med / MAX_S:>7.2f}x  {verdict}")
                w.close()
        print()
        for name, kw in configs:
            for dtype in ("uint8", "float16"):
                w = xw.AttentionView(maps, dtype=dtype, **kw)
                w.save_html(path)  # the default budget, 20 MiB of head data
                c = embedded_counts(path)
                print(f"default 20 MiB budget, {name}, {dtype}: {c['embedded']} of {c['heads']} heads kept "
                      f"({c['missing']} missing), file {path.stat().st_size / 1e6:.2f} MB")
                w.close()
    w = xw.AttentionView(maps)
    print(f"\npicture change against float32 weights (colour-map index 0..255 on the view's scale, clip "
          f"{w.clip_percentile:g}th percentile; uint8 log1p range {LOG_RANGE}):")
    for k, (mean, worst, share) in colour_change(w).items():
        print(f"  {k:<30} mean |change| {mean:.3f}, max {worst:>3}, cells moved > 2 steps {share * 100:.3f}%")
    print("\nthe default encoding (uint8) is within both targets" if not missed else "\nmissed: " + ", ".join(missed))
    if over_opt_in:
        print("over the size/time target with dtype='float16' (opt-in; the default max_bytes=20 MiB caps such a "
              "page near 25 MB by leaving the farthest heads out, and the view says so): " + ", ".join(over_opt_in))
    # machine-readable last line for scripts
    print(json.dumps({"missed": missed, "over_opt_in": over_opt_in}))


if __name__ == "__main__":
    main()
