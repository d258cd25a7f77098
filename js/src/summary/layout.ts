/**
 * SummaryPlot's pure layout: uint16 decoding, feature order and the "other
 * features" row, shap's swarm layout, feature-value colours, axis ticks.
 * Mirrors xai_widgets/_display/summary.py (tested in js/test/summary_layout.test.ts).
 */
import type { RGB } from "../lib/colormaps";

/** Largest quantised level; 65535 marks a missing feature value. */
export const LEVELS = 65534;
export const MISSING = 65535;
/** shap's colours: low feature values blue, high red. */
export const LOW: RGB = [0, 139, 251];
export const HIGH: RGB = [255, 0, 81];
export const NBINS = 100;

/**
 * uint16 little-endian codes to floats: element `i` decodes with range
 * `lo[i % period]..hi[i % period]` (one range per feature, or per output and
 * feature); MISSING becomes NaN.
 */
export function decodeU16(bytes: Uint8Array, count: number, lo: ArrayLike<number>, hi: ArrayLike<number>, period: number): Float32Array {
  if (bytes.byteLength < 2 * count) throw new RangeError(`binary payload has ${bytes.byteLength} bytes, uint16[${count}] needs ${2 * count}`);
  const out = new Float32Array(count);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const step = new Float64Array(period);
  for (let p = 0; p < period; p++) step[p] = hi[p] > lo[p] ? (hi[p] - lo[p]) / LEVELS : 0;
  for (let i = 0, p = 0; i < count; i++) {
    const q = dv.getUint16(2 * i, true);
    out[i] = q === MISSING ? NaN : lo[p] + q * step[p];
    if (++p === period) p = 0;
  }
  return out;
}

/** Features by mean |value| summed over `k` outputs (`meanAbs` is k*m), largest first; ties: lower index first. */
export function featureOrder(meanAbs: ArrayLike<number>, k: number, m: number): number[] {
  const score = new Float64Array(m);
  for (let o = 0; o < k; o++) for (let j = 0; j < m; j++) score[j] += meanAbs[o * m + j];
  return Array.from({ length: m }, (_, j) => j).sort((a, b) => score[b] - score[a] || a - b);
}

/** shap's collapse: more than `maxDisplay` features keep `maxDisplay - 1` rows, the rest share the last. */
export function collapse(order: readonly number[], maxDisplay: number): { shown: number[]; rest: number[] } {
  if (order.length <= maxDisplay) return { shown: order.slice(), rest: [] };
  const k = Math.max(0, Math.floor(maxDisplay) - 1);
  return { shown: order.slice(0, k), rest: order.slice(k) };
}

export function otherLabel(k: number): string {
  return `${k} other feature${k === 1 ? "" : "s"}`;
}

/**
 * Vertical offset of each dot in one beeswarm row, in layers 0, 1, -1, 2, -2 ...:
 * values binned into `nbins` along x, each bin's dots alternate above and below
 * the centre line in sample order (shap's layout, without its random order).
 */
export function swarmOffsets(v: ArrayLike<number>, nbins = NBINS): Float32Array {
  const n = v.length;
  const out = new Float32Array(n);
  if (n === 0) return out;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    if (v[i] < lo) lo = v[i];
    if (v[i] > hi) hi = v[i];
  }
  // bins are integers 0..nbins: count per bin, then each dot's rank in its bin in sample order
  // (a counting pass instead of a sort: 20 rows x 10,000 dots took ~200 ms sorted)
  const quant = new Int32Array(n);
  const span = hi - lo + 1e-8;
  for (let i = 0; i < n; i++) quant[i] = Math.round((nbins * (v[i] - lo)) / span);
  const seen = new Int32Array(nbins + 2);
  for (let i = 0; i < n; i++) {
    const layer = seen[quant[i]]++;
    out[i] = layer === 0 ? 0 : Math.ceil(layer / 2) * ((layer % 2) * 2 - 1);
  }
  return out;
}

/** A feature value to [0, 1] within its colour range (clipped); NaN stays NaN. */
export function colorUnit(x: number, lo: number, hi: number): number {
  if (Number.isNaN(x)) return NaN;
  const t = (x - lo) / (hi > lo ? hi - lo : 1);
  return t < 0 ? 0 : t > 1 ? 1 : t;
}

/** Low (t = 0) blue to high (t = 1) red, straight in sRGB; NaN grey. */
export function redBlue(t: number): RGB {
  if (Number.isNaN(t)) return [153, 153, 153];
  return [0, 1, 2].map((c) => Math.round(LOW[c] + (HIGH[c] - LOW[c]) * t)) as RGB;
}

/** Round tick values inside [lo, hi], about `count` of them (at least the two ends' neighbours). */
export function niceTicks(lo: number, hi: number, count: number): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((s) => s * p).find((s) => s >= raw) ?? 10 * p;
  const out: number[] = [];
  // k * step, rounded to 12 digits: no 0.6000000000000001 in the labels
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) out.push(k === 0 ? 0 : Number((k * step).toPrecision(12)));
  return out;
}

/** [lo, hi] of values with a margin, widened when flat; `withZero` keeps 0 inside. */
export function paddedExtent(values: ArrayLike<number>, withZero: boolean, pad = 0.05): [number, number] {
  let lo = withZero ? 0 : Infinity;
  let hi = withZero ? 0 : -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isNaN(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo)) return [0, 1];
  if (hi <= lo) {
    const w = Math.abs(hi) * 0.1 || 1;
    return [lo - w, hi + w];
  }
  const m = (hi - lo) * pad;
  return [lo - m, hi + m];
}

/**
 * Rows of a beeswarm or bar plot in a drawing `height` px tall: row `r`'s centre
 * is `top + (r + 0.5) * rowH`. Row heights between 14 and 28 px.
 */
export function rowHeight(rows: number): number {
  return Math.max(14, Math.min(28, Math.floor(420 / Math.max(1, rows))));
}

/** Text clipped to `maxWidth` with an ellipsis, measured by `measure`. */
export function fitLabel(text: string, maxWidth: number, measure: (s: string) => number): string {
  if (measure(text) <= maxWidth) return text;
  const chars = [...text];
  let lo = 0;
  let hi = chars.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (measure(chars.slice(0, mid).join("") + "…") <= maxWidth) lo = mid;
    else hi = mid - 1;
  }
  return lo > 0 ? chars.slice(0, lo).join("") + "…" : "…";
}

/** Index of the point nearest (x, y) within `radius` px among `count` points, or -1. */
export function nearest(xs: ArrayLike<number>, ys: ArrayLike<number>, x: number, y: number, radius: number): number {
  let best = -1;
  let bd = radius * radius;
  for (let i = 0; i < xs.length; i++) {
    const dx = xs[i] - x;
    const dy = ys[i] - y;
    const d = dx * dx + dy * dy;
    if (d <= bd) {
      bd = d;
      best = i;
    }
  }
  return best;
}
