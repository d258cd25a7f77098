"""Force plot and waterfall drawings with matplotlib, shared by ``Attribution.plot`` and ``ForcePlot``'s static picture.

The colours and the collapsing of small features mirror the widget
(``js/src/lib/force_layout.ts``), so a saved notebook's picture shows what the
live view shows.
"""
from __future__ import annotations

from typing import Any

import numpy as np

_POS = "#ff0051"  # shap's red: pushes the output up
_NEG = "#008bfb"  # and blue: pushes it down


def collapse_features(row: np.ndarray, max_features: int = 12, coverage: float = 0.95) -> tuple[list[int], float, float, int]:
    """Mirror of ``collapseFeatures`` in js/src/lib/force_layout.ts: (kept, other_pos, other_neg, other_count)."""
    row = np.asarray(row, dtype=np.float64)
    order = sorted(range(row.size), key=lambda i: (-abs(row[i]), i))
    total = float(np.abs(row).sum())
    cap = max(1, int(max_features))
    kept: list[int] = []
    covered = 0.0
    for i in order:
        if row[i] == 0 or len(kept) >= cap or (total > 0 and covered >= coverage * total - 1e-12 * total):
            break
        kept.append(i)
        covered += abs(row[i])
    rest = [i for i in order if i not in kept]
    if len(rest) == 1 and row[rest[0]] != 0 and len(kept) < cap:
        kept.append(rest[0])
        rest = []
    pos = float(sum(row[i] for i in rest if row[i] > 0))
    neg = float(sum(row[i] for i in rest if row[i] < 0))
    return kept, pos, neg, sum(1 for i in rest if row[i] != 0)


def _label(names: list, data: Any, j: int) -> str:
    if data is None:
        return str(names[j])
    x = data[j]
    try:
        return f"{names[j]} = {float(x):.3g}"
    except (TypeError, ValueError):
        return f"{names[j]} = {x}"


def _prob_ticks(ax: Any, axis: str, lo: float, hi: float) -> None:
    probs = np.array([0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999])
    pos = np.log(probs / (1 - probs))
    keep = (pos >= lo) & (pos <= hi)
    if keep.sum() >= 2:
        (ax.set_xticks if axis == "x" else ax.set_yticks)(pos[keep], [f"{p:g}" for p in probs[keep]])


def plot_force(row: Any, base: float, names: list, *, data: Any = None, ax: Any = None, max_features: int = 12,
               coverage: float = 0.95, link: str = "identity", output_name: str = "f(x)"):
    """One row as a force plot: base value -> output, red segments push up, blue down, small ones as "other"."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    if link not in ("identity", "logit"):
        raise ValueError(f"unknown link {link!r}; expected 'identity' or 'logit'")
    v = np.asarray(row, dtype=np.float64).reshape(-1)
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 2.6))
    kept, opos, oneg, ocount = collapse_features(v, max_features, coverage)
    output = base + float(v.sum())
    segs = []  # (feature or None, value, lo, hi)
    p = q = output
    for j, x in [(j, v[j]) for j in kept] + [(None, opos), (None, oneg)]:
        if x > 0:
            segs.append((j, x, p - x, p))
            p -= x
        elif x < 0:
            segs.append((j, x, q, q - x))
            q -= x
    lo = min([base, output] + [s[2] for s in segs])
    hi = max([base, output] + [s[3] for s in segs])
    span = hi - lo if hi > lo else 1.0
    tip = 0.012 * span
    for j, x, a, b in segs:
        t = min(tip, (b - a) / 2)
        if x > 0:
            pts = [(a, 0), (b - t, 0), (b, 0.25), (b - t, 0.5), (a, 0.5), (a + t, 0.25)]
        else:
            pts = [(b, 0), (a + t, 0), (a, 0.25), (a + t, 0.5), (b, 0.5), (b - t, 0.25)]
        col = _POS if x > 0 else _NEG
        ax.add_patch(Polygon(pts, closed=True, fc=col, ec="white", lw=0.8, alpha=0.55 if j is None else 1.0))
    # labels under the bar: greedy placement on 3 levels (largest first), the rest left to the bar
    x0, x1 = lo - 0.05 * span, hi + 0.05 * span
    width_px = max(1.0, ax.get_window_extent().width)
    per_char = 8 * 0.6 * ax.figure.dpi / 72 * (x1 - x0) / width_px  # approx. data units per character
    levels: list[list[tuple[float, float]]] = [[], [], []]
    ordered = sorted(segs, key=lambda s: (s[0] is None, -abs(s[1])))
    for j, x, a, b in ordered:
        if j is None:
            cnt = sum(1 for i in range(v.size) if i not in kept and (v[i] > 0 if x > 0 else v[i] < 0))
            text = f"{cnt} other" + ("s" if cnt != 1 else "")
        else:
            text = _label(names, data, j)
        c = (a + b) / 2
        w = len(text) * per_char
        left = min(max(c - w / 2, x0), x1 - w)
        for k, taken in enumerate(levels):
            if all(left + w + per_char <= u or left >= v_ + per_char for u, v_ in taken):
                taken.append((left, left + w))
                y = -0.18 - 0.22 * k
                col = _POS if x > 0 else _NEG
                ax.plot([c, c], [0, y + 0.04], color=col, lw=0.6, alpha=0.6)
                ax.text(left + w / 2, y, text, ha="center", va="top", fontsize=8, color=col)
                break
    ax.axvline(base, color="0.5", lw=0.8, ls="--")
    ax.annotate(f"base value {base:.3g}", (base, 0.5), xytext=(0, 14), textcoords="offset points", ha="center",
                fontsize=8, color="0.4")
    ax.annotate(f"{output_name} = {output:.3g}", (output, 0.5), xytext=(0, 3), textcoords="offset points", ha="center",
                fontsize=10, fontweight="bold")
    ax.set_xlim(lo - 0.05 * span, hi + 0.05 * span)
    ax.set_ylim(-0.85, 0.85)
    ax.set_yticks([])
    for side in ("left", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.xaxis.tick_top()
    if link == "logit":
        _prob_ticks(ax, "x", lo - 0.05 * span, hi + 0.05 * span)
        ax.set_xlabel("probability (logit link)")
        ax.xaxis.set_label_position("top")
    return ax


def plot_waterfall(row: Any, base: float, names: list, *, data: Any = None, ax: Any = None, max_features: int = 12,
                   coverage: float = 0.95, link: str = "identity", output_name: str = "f(x)"):
    """One row as a waterfall: base value at the bottom, features by |value| (largest at the top), output on top."""
    import matplotlib.pyplot as plt

    if link not in ("identity", "logit"):
        raise ValueError(f"unknown link {link!r}; expected 'identity' or 'logit'")
    v = np.asarray(row, dtype=np.float64).reshape(-1)
    kept, opos, oneg, ocount = collapse_features(v, max_features, coverage)
    rows = []  # bottom to top: (label, value, start)
    x = base
    if ocount:
        rows.append((f"{ocount} other feature" + ("s" if ocount != 1 else ""), opos + oneg, x))
        x += opos + oneg
    for j in reversed(kept):
        rows.append((_label(names, data, j), v[j], x))
        x += v[j]
    output = x
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.4 * len(rows) + 1.4))
    y = np.arange(len(rows))
    vals = np.array([r[1] for r in rows])
    starts = np.array([r[2] for r in rows])
    ax.barh(y, vals, left=starts, color=[_POS if val > 0 else _NEG for val in vals], height=0.7)
    for k, (_, val, st) in enumerate(rows):
        end = st + val
        ax.text(max(st, end), k, f" {val:+.3g}", va="center", ha="left", fontsize=8,
                color=_POS if val > 0 else _NEG)
        if k + 1 < len(rows):
            ax.plot([end, end], [k + 0.35, k + 0.65], color="0.5", lw=0.7)
    ax.set_yticks(y, [r[0] for r in rows])
    ax.axvline(base, color="0.5", lw=0.8, ls="--")
    ax.axvline(output, color="0.2", lw=0.8, ls="--")
    ax.set_ylim(-0.8, len(rows) - 0.2)
    ax.set_xlabel(f"base value E[f(x)] = {base:.3g}  →  {output_name} = {output:.3g}")
    if link == "logit":
        lo, hi = ax.get_xlim()
        _prob_ticks(ax, "x", lo, hi)
        ax.set_xlabel(ax.get_xlabel() + "  (ticks: probability)")
    for side in ("right", "top"):
        ax.spines[side].set_visible(False)
    return ax


def _lighten(hex_colour: str, t: float) -> np.ndarray:
    c = np.array([int(hex_colour[k:k + 2], 16) for k in (1, 3, 5)], dtype=np.float64)
    return np.round(c + (255 - c) * min(1.0, max(0.0, t)))


def stacked_image(values: np.ndarray, outputs: np.ndarray, order: np.ndarray, y_feature: int | None,
                  lo: float, hi: float, width: int, height: int) -> np.ndarray:
    """The stacked force plot as an RGB image ``(height, width, 3)`` uint8, white where nothing is drawn.

    Mirrors ``stackedImage`` in js/src/force/stacked.ts: column ``c`` shows
    sample ``order[floor((c + 0.5) / width * N)]``; its positive contributions
    stack down from the output and its negative ones up from it, largest
    |value| nearest the output and darkest. With ``y_feature`` a column is one
    bar from 0 to that feature's value.
    """
    n, m = values.shape
    img = np.full((height, width, 3), 255, dtype=np.uint8)
    shades = 24
    pos_lut = [_lighten(_POS, 0.55 * s / (shades - 1)) for s in range(shades)]
    neg_lut = [_lighten(_NEG, 0.55 * s / (shades - 1)) for s in range(shades)]
    pos_full, neg_full = _lighten(_POS, 0), _lighten(_NEG, 0)

    def y(v: float) -> float:
        return (hi - v) / (hi - lo) * height

    def fill(col: int, y0: float, y1: float, c: np.ndarray) -> None:
        a = max(0, int(round(min(y0, y1))))
        b = min(height, int(round(max(y0, y1))))
        if b > a:
            img[a:b, col] = c

    last, segs = -1, []
    for col in range(width):
        s = int(order[min(n - 1, int((col + 0.5) / width * n))])
        if s != last:
            last, segs = s, []
            if y_feature is None:
                row = values[s]
                p = q = float(outputs[s])
                rp = rn = 0
                for j in sorted(range(m), key=lambda i: (-abs(row[i]), i)):
                    v = float(row[j])
                    if v > 0:
                        segs.append((y(p), y(p - v), pos_lut[min(shades - 1, rp)]))
                        p, rp = p - v, rp + 1
                    elif v < 0:
                        segs.append((y(q), y(q - v), neg_lut[min(shades - 1, rn)]))
                        q, rn = q - v, rn + 1
            else:
                v = float(values[s, y_feature])
                segs.append((y(0.0), y(v), pos_full if v >= 0 else neg_full))
        for y0, y1, c in segs:
            fill(col, y0, y1, c)
    return img


def plot_stacked(values: Any, base: Any, order: Any, *, ax: Any, y_feature: int | None = None,
                 feature_names: list | None = None, output_name: str = "f(x)", link: str = "identity",
                 marker: int | None = None, order_text: str = "") -> Any:
    """Many rows side by side: samples along x in ``order``, the output (or one feature's attribution) on y.

    ``values`` ``(N, M)``, ``base`` ``(N,)``, ``order`` ``(N,)`` a permutation
    of the rows; ``marker`` a row to mark with a vertical line.
    """
    v = np.asarray(values, dtype=np.float64)
    b = np.asarray(base, dtype=np.float64).reshape(-1)
    order = np.asarray(order).reshape(-1)
    n = v.shape[0]
    out = b + v.sum(1)
    if y_feature is None:
        lo = float(min((out - np.clip(v, 0, None).sum(1)).min(), b.min()))
        hi = float(max((out - np.clip(v, None, 0).sum(1)).max(), b.max()))
    else:
        col = v[:, y_feature]
        lo, hi = float(min(col.min(), 0.0)), float(max(col.max(), 0.0))
    if hi <= lo:
        w = abs(hi) * 0.1 or 1.0
        lo, hi = lo - w, hi + w
    pad = 0.04 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    width = int(min(1600, max(400, n)))
    img = stacked_image(v, out, order, y_feature, lo, hi, width, 400)
    ax.imshow(img, extent=(0, n, lo, hi), aspect="auto", interpolation="nearest")
    if y_feature is None:
        mean_base = float(b.mean())
        ax.axhline(mean_base, color="0.45", lw=0.8, ls="--")
        # outside the plot area (right margin), so it covers no bar
        ax.annotate(f"base value {mean_base:.3g}", (1.0, mean_base), xycoords=("axes fraction", "data"),
                    xytext=(4, 0), textcoords="offset points", va="center", ha="left", fontsize=8, color="0.35")
        ax.set_ylabel(output_name)
    else:
        ax.axhline(0.0, color="0.45", lw=0.8)
        name = feature_names[y_feature] if feature_names else f"x{y_feature}"
        ax.set_ylabel(f"attribution of {name}")
    if marker is not None and 0 <= marker < n:
        x = float(np.flatnonzero(order == marker)[0]) + 0.5
        ax.axvline(x, color="0.15", lw=1.0)
    ax.set_xlim(0, n)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(f"{n} samples" + (f", {order_text}" if order_text else ""))
    if link == "logit" and y_feature is None:
        _prob_ticks(ax, "y", lo, hi)
    for side in ("right", "top"):
        ax.spines[side].set_visible(False)
    return ax
