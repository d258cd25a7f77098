/**
 * The sample on screen, read from the synced state (pure functions over the
 * decoded values, so vitest can check them without a DOM).
 *
 * `_values` holds float32 (rows, methods, T) for the samples listed in
 * `meta.samples` (a 2-D (rows, T) array is read as one method).
 */
import type { ArrayMeta } from "../lib/decode";
import { scaleMax, type SignMode } from "../lib/scale";
import { FLAG_PADDING } from "./colors";

export interface SampleData {
  sample: number;
  tokens: string[];
  display: string[];
  flags: number[];
  /** one Float32Array of T values per method */
  values: Float32Array[];
  /** original positions drawn (the mask's ones), in order */
  shown: number[];
}

export function methodCount(meta: ArrayMeta): number {
  return meta.shape.length >= 3 ? meta.shape[1] : 1;
}

/** The sample `s` from decoded values, or null when it was not sent (yet). */
export function sampleData(
  meta: ArrayMeta,
  decoded: Float32Array,
  s: number,
  tokens: string[][],
  display: string[][],
  flags: number[][],
): SampleData | null {
  const samples = meta.samples ?? Array.from({ length: meta.shape[0] }, (_, i) => i);
  const pos = samples.indexOf(s);
  if (pos < 0) return null;
  const M = methodCount(meta);
  const T = meta.shape[meta.shape.length - 1];
  const values: Float32Array[] = [];
  for (let m = 0; m < M; m++) {
    const start = (pos * M + m) * T;
    if (start + T > decoded.length) return null;
    values.push(decoded.subarray(start, start + T));
  }
  const tok = tokens[pos] ?? [];
  const f = flags[pos] ?? [];
  const shown: number[] = [];
  for (let i = 0; i < T; i++) if (!((f[i] || 0) & FLAG_PADDING)) shown.push(i);
  return { sample: s, tokens: tok, display: display[pos] ?? tok, flags: f, values, shown };
}

/** The values of the shown positions of one method (padding never sets the scale). */
export function shownValues(values: Float32Array, shown: number[]): Float32Array {
  const out = new Float32Array(shown.length);
  shown.forEach((i, k) => (out[k] = values[i]));
  return out;
}

/** Upper end of each method's colour scale: its own, or one over every method when `shared`. */
export function rowScales(d: SampleData, sign: SignMode, clip: number, shared: boolean): number[] {
  const rows = d.values.map((v) => shownValues(v, d.shown));
  if (shared) {
    const v = scaleMax(rows, sign, clip);
    return rows.map(() => v);
  }
  return rows.map((r) => scaleMax([r], sign, clip));
}

/** Sum of a method's shown values (the readout's completeness check). */
export function shownSum(values: Float32Array, shown: number[]): number {
  let s = 0;
  for (const i of shown) if (Number.isFinite(values[i])) s += values[i];
  return s;
}
