/**
 * The generation on screen, read from the synced state (pure, so vitest can
 * check it without a DOM). Mirrors xai_widgets/_display/generation.py.
 *
 * `_values` is (G, S): source s's attribution to generated token g, meaningful
 * for s < P + g (what the model had seen when it wrote token g).
 */
import type { ArrayMeta } from "../lib/decode";

export type Normalize = "token" | "global";
export const NORMALIZE: readonly Normalize[] = ["token", "global"];
export type ViewName = "text" | "matrix";
export const VIEWS: readonly ViewName[] = ["text", "matrix"];

export interface GenData {
  /** generated tokens */
  G: number;
  /** source positions, P + G */
  S: number;
  /** prompt tokens */
  P: number;
  /** (G, S) row-major */
  values: Float32Array;
  sources: string[];
  generated: string[];
  special: boolean[];
  /** log-probability per generated token ([] when not recorded) */
  logProbs: number[];
}

/** The state as GenData, or null when it does not hold a consistent (G, S) generation yet. */
export function genData(
  meta: ArrayMeta | null | undefined,
  decoded: Float32Array,
  P: number,
  sources: string[],
  generated: string[],
  special: boolean[],
  logProbs: number[] = [],
): GenData | null {
  if (!meta || !Array.isArray(meta.shape) || meta.shape.length !== 2) return null;
  const [G, S] = meta.shape;
  if (!(G >= 1) || S !== P + G || decoded.length < G * S) return null;
  return { G, S, P, values: decoded, sources, generated, special, logProbs };
}

/** Sources before generated token g: positions [0, P + g). */
export function contextLength(d: Pick<GenData, "P">, g: number): number {
  return d.P + g;
}

/** Source s's relation to generated token g: seen before it, the token itself, or after it. */
export function sourceState(d: Pick<GenData, "P">, g: number, s: number): "context" | "self" | "later" {
  const lim = contextLength(d, g);
  return s < lim ? "context" : s === lim ? "self" : "later";
}

/** Row g of the values (S entries). */
export function row(d: GenData, g: number): Float32Array {
  return d.values.subarray(g * d.S, (g + 1) * d.S);
}

/**
 * Upper end of each generated token's colour scale (G entries, always > 0):
 * "token" — its own largest |value| over its context; "global" — the largest
 * over every token's context.
 */
export function rowScales(d: GenData, mode: Normalize): Float64Array {
  const out = new Float64Array(d.G);
  let top = 0;
  for (let g = 0; g < d.G; g++) {
    const r = row(d, g);
    const lim = Math.min(d.S, contextLength(d, g));
    let m = 0;
    for (let s = 0; s < lim; s++) {
      const a = Math.abs(r[s]);
      if (a > m) m = a;
    }
    out[g] = m;
    if (m > top) top = m;
  }
  for (let g = 0; g < d.G; g++) {
    const v = mode === "global" ? top : out[g];
    out[g] = v > 0 && Number.isFinite(v) ? v : 1;
  }
  return out;
}

/** Generated token g as a source position. */
export function sourceOf(d: Pick<GenData, "P">, g: number): number {
  return d.P + g;
}

/** The generated token at source position s, or null for a prompt token. */
export function generatedAt(d: Pick<GenData, "P" | "G">, s: number): number | null {
  const g = s - d.P;
  return g >= 0 && g < d.G ? g : null;
}

/** A valid selection: an integer in [0, G), else 0. */
export function clampToken(t: unknown, G: number): number {
  return typeof t === "number" && Number.isInteger(t) && t >= 0 && t < G ? t : 0;
}
