/**
 * Pure layout for force plots (ForcePlot): collapsing small contributions into
 * "other", stacking segments around the output, waterfall rows, axis ticks
 * (linear, and probability ticks for a logit link), label placement and the
 * sample <-> x mapping of the stacked view. No DOM here (tested with vitest).
 */

/** Feature index used for the collapsed "other" contributions. */
export const OTHER = -1;

export interface Collapsed {
  /** Features drawn individually, by |value| descending (ties: lower index first). */
  kept: number[];
  /** Sum of the positive / negative collapsed values. */
  otherPos: number;
  otherNeg: number;
  /** How many (non-zero) features were collapsed, in all and by sign. */
  otherCount: number;
  otherPosCount: number;
  otherNegCount: number;
}

/** Feature indices sorted by |value| descending, ties by index (stable, deterministic). */
export function byMagnitude(row: ArrayLike<number>): number[] {
  const idx = Array.from({ length: row.length }, (_, i) => i);
  idx.sort((a, b) => Math.abs(row[b]) - Math.abs(row[a]) || a - b);
  return idx;
}

/**
 * Keep the largest features until they cover `coverage` of sum|v| or
 * `maxFeatures` are kept; the rest are "other" (split by sign so the stacks
 * stay exact). Collapsing a single feature would not save space, so a lone
 * remainder is kept; zero-valued features are always collapsed.
 */
export function collapseFeatures(row: ArrayLike<number>, maxFeatures: number, coverage: number): Collapsed {
  const order = byMagnitude(row);
  let total = 0;
  for (let i = 0; i < row.length; i++) total += Math.abs(row[i]);
  const cap = Math.max(1, Math.floor(maxFeatures));
  const kept: number[] = [];
  let covered = 0;
  for (const i of order) {
    if (row[i] === 0) break;
    if (kept.length >= cap || (total > 0 && covered >= coverage * total - 1e-12 * total)) break;
    kept.push(i);
    covered += Math.abs(row[i]);
  }
  let rest = order.filter((i) => !kept.includes(i));
  if (rest.length === 1 && row[rest[0]] !== 0 && kept.length < cap) {
    kept.push(rest[0]);
    rest = [];
  }
  let otherPos = 0;
  let otherNeg = 0;
  let otherPosCount = 0;
  let otherNegCount = 0;
  for (const i of rest) {
    if (row[i] > 0) {
      otherPos += row[i];
      otherPosCount++;
    } else if (row[i] < 0) {
      otherNeg += row[i];
      otherNegCount++;
    }
  }
  return { kept, otherPos, otherNeg, otherCount: otherPosCount + otherNegCount, otherPosCount, otherNegCount };
}

export interface Segment {
  feature: number; // OTHER for the collapsed remainder
  value: number;
  lo: number; // in output units, lo < hi
  hi: number;
}

export interface ForceStack {
  base: number;
  output: number;
  /** Positive contributions, from the output downwards (largest first, "other" last). */
  pos: Segment[];
  /** Negative contributions, from the output upwards (largest |v| first, "other" last). */
  neg: Segment[];
}

/**
 * Segments of one force plot: output = base + sum(v). Positive values end at
 * the output and stack down from it (the largest next to the output), negative
 * ones start at the output and stack up; red spans [output - sum(pos), output],
 * blue [output, output - sum(neg)]. With `collapsed`, features not kept are one
 * "other" segment per sign at the far end.
 */
export function forceStack(row: ArrayLike<number>, base: number, collapsed?: Collapsed): ForceStack {
  const feats = collapsed ? collapsed.kept : byMagnitude(row);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += row[i];
  const output = base + sum;
  const pos: Segment[] = [];
  const neg: Segment[] = [];
  let p = output;
  let q = output;
  const push = (feature: number, v: number) => {
    if (v > 0) {
      pos.push({ feature, value: v, lo: p - v, hi: p });
      p -= v;
    } else if (v < 0) {
      neg.push({ feature, value: v, lo: q, hi: q - v });
      q -= v;
    }
  };
  for (const i of feats) push(i, row[i]);
  if (collapsed) {
    push(OTHER, collapsed.otherPos);
    push(OTHER, collapsed.otherNeg);
  }
  return { base, output, pos, neg };
}

export interface WaterfallRow {
  feature: number; // OTHER for the collapsed remainder
  value: number;
  start: number; // cumulative before this feature
  end: number; // start + value
}

/**
 * Waterfall rows listed bottom to top: starting at the base value, "other"
 * first (when any), then the kept features from the smallest |value| to the
 * largest, so the last row ends at the output.
 */
export function waterfallRows(row: ArrayLike<number>, base: number, collapsed: Collapsed): WaterfallRow[] {
  const out: WaterfallRow[] = [];
  let x = base;
  const other = collapsed.otherPos + collapsed.otherNeg;
  if (collapsed.otherCount > 0) {
    out.push({ feature: OTHER, value: other, start: x, end: x + other });
    x += other;
  }
  for (let k = collapsed.kept.length - 1; k >= 0; k--) {
    const i = collapsed.kept[k];
    out.push({ feature: i, value: row[i], start: x, end: x + row[i] });
    x += row[i];
  }
  return out;
}

export interface Tick {
  pos: number; // in axis units (log-odds for a logit link)
  label: string;
}

/**
 * "Nice" linear ticks (1, 2, 2.5, 5 x 10^k steps) covering [lo, hi], about
 * `count` of them, and at least two (a single tick gives no scale): the step
 * is made finer when the nice one leaves fewer.
 */
export function niceTicks(lo: number, hi: number, count = 6): Tick[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) return [{ pos: lo, label: formatTick(lo, 1) }];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const steps = [0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10].map((m) => m * mag);
  let k = steps.findIndex((s) => s >= raw);
  if (k < 0) k = steps.length - 1;
  let out = ticksAt(lo, hi, steps[k]);
  while (out.length < 2 && k > 0) out = ticksAt(lo, hi, steps[--k]);
  return out;
}

function ticksAt(lo: number, hi: number, step: number): Tick[] {
  const out: Tick[] = [];
  const first = Math.ceil(lo / step - 1e-9);
  for (let k = first; k * step <= hi + step * 1e-9; k++) {
    const v = Math.abs(k * step) < step * 1e-9 ? 0 : k * step;
    out.push({ pos: v, label: formatTick(v, step) });
  }
  return out;
}

function formatTick(v: number, step: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-4) return v.toExponential(1).replace("e+", "e");
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9) + (step / Math.pow(10, Math.floor(Math.log10(step))) === 2.5 ? 1 : 0)));
  return v.toFixed(decimals);
}

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
export const logit = (p: number): number => Math.log(p / (1 - p));

const PROBS = [
  0.0001, 0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999,
];

/**
 * Ticks for a logit link: the axis runs in log-odds [lo, hi] and is labelled
 * with probabilities at "round" values (0.5, 0.9, 0.99 ...). At most
 * `maxTicks` are returned, thinned evenly, always including the ends of the
 * candidates in range.
 */
export function logitTicks(lo: number, hi: number, maxTicks = 7): Tick[] {
  if (hi < lo) [lo, hi] = [hi, lo];
  let cand = PROBS.map((p) => ({ pos: logit(p), label: String(p) })).filter((t) => t.pos >= lo - 1e-9 && t.pos <= hi + 1e-9);
  if (cand.length === 0) {
    // a narrow range between two candidates: label linear steps in probability
    const pl = sigmoid(lo);
    const ph = sigmoid(hi);
    return niceTicks(pl, ph, 4)
      .filter((t) => t.pos > 0 && t.pos < 1)
      .map((t) => ({ pos: logit(t.pos), label: t.label }));
  }
  if (cand.length > maxTicks) {
    const keep = new Set<number>();
    for (let k = 0; k < maxTicks; k++) keep.add(Math.round((k * (cand.length - 1)) / (maxTicks - 1)));
    cand = cand.filter((_, i) => keep.has(i));
  }
  return cand;
}

/** Ticks for an axis in output units: linear, or probabilities for a logit link. */
export function axisTicks(lo: number, hi: number, link: string, count = 6): Tick[] {
  return link === "logit" ? logitTicks(lo, hi, count + 1) : niceTicks(lo, hi, count);
}

/**
 * Greedy label placement on a few rows: items are tried in priority order,
 * each on the first row where it does not overlap an already placed label
 * (with `gap` between), inside [minX, maxX] (labels are shifted to fit).
 * Returns, per item, its row (-1: no room) and left x.
 */
export function placeLabels(
  items: { center: number; width: number }[],
  rows: number,
  minX: number,
  maxX: number,
  gap = 6,
): { row: number; x: number }[] {
  const placed: [number, number][][] = Array.from({ length: rows }, () => []);
  return items.map(({ center, width }) => {
    let x = center - width / 2;
    x = Math.max(minX, Math.min(maxX - width, x));
    for (let r = 0; r < rows; r++) {
      const free = placed[r].every(([a, b]) => x + width + gap <= a || x >= b + gap);
      if (free) {
        placed[r].push([x, x + width]);
        return { row: r, x };
      }
    }
    return { row: -1, x };
  });
}

/** Position (0..n-1) of the sample column under x (CSS px), for a plot of width `width` starting at `left`. */
export function sampleAt(x: number, left: number, width: number, n: number): number {
  const p = Math.floor(((x - left) / Math.max(1e-9, width)) * n);
  return Math.min(n - 1, Math.max(0, p));
}

/** Centre x (CSS px) of the column at position `pos`. */
export function sampleX(pos: number, left: number, width: number, n: number): number {
  return left + ((pos + 0.5) * width) / Math.max(1, n);
}

/** Samples by output (largest first; ties by index): the browser's fallback when Python sent no order. */
export function outputOrder(outputs: ArrayLike<number>): number[] {
  const idx = Array.from({ length: outputs.length }, (_, i) => i);
  idx.sort((a, b) => outputs[b] - outputs[a] || a - b);
  return idx;
}

/** Inverse permutation: where each sample sits in `order`. */
export function positions(order: ArrayLike<number>): Int32Array {
  const out = new Int32Array(order.length).fill(-1);
  for (let k = 0; k < order.length; k++) out[order[k]] = k;
  return out;
}

/** Mix an RGB colour towards white by t in [0, 1]. */
export function lighten(c: readonly [number, number, number], t: number): [number, number, number] {
  const k = Math.min(1, Math.max(0, t));
  return [Math.round(c[0] + (255 - c[0]) * k), Math.round(c[1] + (255 - c[1]) * k), Math.round(c[2] + (255 - c[2]) * k)];
}

/**
 * An axis range around [lo, hi] with a margin of `margin` × its width. A
 * degenerate range (all values equal) is first widened by 10% of |hi|, or by
 * 1 around zero, so the axis never has zero width.
 */
export function paddedRange(lo: number, hi: number, margin: number): [number, number] {
  if (!(hi - lo > 1e-12)) {
    const pad = Math.abs(hi) > 0 ? Math.abs(hi) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  const pad = margin * (hi - lo);
  return [lo - pad, hi + pad];
}
