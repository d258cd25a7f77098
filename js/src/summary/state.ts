/**
 * SummaryPlot's typed state: the decoded payload (values n*k*m, feature values
 * n*m, exact mean |value| k*m, names) and the model's view settings. No DOM;
 * decoding is cached on the identity of the traits it reads.
 */
import { asBytes, decodeArray, type ArrayMeta } from "../lib/decode";
import type { AnyModel } from "../lib/model";
import { decodeU16 } from "./layout";

export type Kind = "beeswarm" | "bar" | "scatter";
export const KINDS: [string, string][] = [
  ["beeswarm", "beeswarm"],
  ["bar", "bar (mean |value|)"],
  ["scatter", "dependence (scatter)"],
];
export const BAR_MODES: [string, string][] = [
  ["stacked", "stacked"],
  ["grouped", "grouped"],
];

/** The synced traits a redraw depends on. */
export const DRAW_TRAITS = [
  "kind", "feature", "color", "index", "max_display", "output", "bar_mode", "feature_names", "output_names",
  "_values", "_data", "_mean_abs", "_partners", "method",
];

interface U16Meta {
  shape: number[];
  lo: number[];
  hi: number[];
  clo?: number[];
  chi?: number[];
}

export interface SummaryData {
  n: number;
  k: number;
  m: number;
  /** n*k*m, row-major (sample, output, feature) */
  values: Float32Array;
  /** n*m feature values (NaN: missing), or null */
  data: Float32Array | null;
  /** colour range per feature */
  clo: number[];
  chi: number[];
  /** k*m */
  meanAbs: Float32Array;
  names: string[];
  outputs: string[];
}

export class SummaryState {
  private cache: { key: unknown[]; data: SummaryData } | null = null;
  private colCache = new Map<string, Float32Array>();

  constructor(readonly model: AnyModel) {}

  data(): SummaryData | null {
    const model = this.model;
    const vm: U16Meta | null = model.get("_values_meta");
    const mm: ArrayMeta | null = model.get("_mean_abs_meta");
    if (!vm || !vm.shape || !mm || !mm.shape) return null;
    const key = [model.get("_values"), model.get("_data"), model.get("_mean_abs"), model.get("feature_names"), model.get("output_names")];
    if (this.cache && this.cache.key.every((x, i) => x === key[i])) return this.cache.data;
    const [n, k, m] = vm.shape;
    const values = decodeU16(asBytes(model.get("_values")), n * k * m, vm.lo, vm.hi, k * m);
    const dm: U16Meta | null = model.get("_data_meta");
    const hasData = !!(dm && dm.shape && dm.shape.length === 2);
    const data = hasData ? decodeU16(asBytes(model.get("_data")), n * m, dm!.lo, dm!.hi, m) : null;
    const meanAbs = decodeArray(model.get("_mean_abs"), mm);
    const rawNames: unknown[] = model.get("feature_names") || [];
    const names = Array.from({ length: m }, (_, j) => (rawNames[j] !== undefined ? String(rawNames[j]) : `x${j}`));
    const rawOut: unknown[] = model.get("output_names") || [];
    const outputs = Array.from({ length: k }, (_, o) => (rawOut[o] !== undefined ? String(rawOut[o]) : `output ${o}`));
    const d: SummaryData = {
      n, k, m, values, data, meanAbs, names, outputs,
      clo: hasData && dm!.clo ? dm!.clo : new Array(m).fill(0),
      chi: hasData && dm!.chi ? dm!.chi : new Array(m).fill(1),
    };
    this.cache = { key, data: d };
    this.colCache.clear();
    return d;
  }

  /** Attributions of feature `j` (or -1: the sum of `rest`) for output `o`, one per sample (cached). */
  column(d: SummaryData, o: number, j: number, rest: readonly number[] = []): Float32Array {
    const key = `${o}|${j}|${j < 0 ? rest.join(",") : ""}`;
    let c = this.colCache.get(key);
    if (c) return c;
    c = new Float32Array(d.n);
    const stride = d.k * d.m;
    const base = o * d.m;
    if (j >= 0) for (let i = 0; i < d.n; i++) c[i] = d.values[i * stride + base + j];
    else for (let i = 0; i < d.n; i++) {
      let s = 0;
      for (const r of rest) s += d.values[i * stride + base + r];
      c[i] = s;
    }
    this.colCache.set(key, c);
    return c;
  }

  kind(d: SummaryData): Kind {
    const k = String(this.model.get("kind"));
    if (k === "scatter" && !d.data) return "beeswarm";
    return k === "bar" || k === "scatter" ? k : "beeswarm";
  }

  output(d: SummaryData): number {
    const o = Number(this.model.get("output")) || 0;
    return Math.min(d.k - 1, Math.max(0, o));
  }

  index(d: SummaryData): number | null {
    const i = this.model.get("index");
    return i === null || i === undefined || !(Number(i) >= 0 && Number(i) < d.n) ? null : Number(i);
  }

  feature(d: SummaryData): number | null {
    const f = this.model.get("feature");
    return f === null || f === undefined || !(Number(f) >= 0 && Number(f) < d.m) ? null : Number(f);
  }

  maxDisplay(): number {
    return Math.max(1, Number(this.model.get("max_display")) || 20);
  }

  barMode(): "stacked" | "grouped" {
    return this.model.get("bar_mode") === "grouped" ? "grouped" : "stacked";
  }

  /** The scatter plot's colour feature: `color`, else the interaction partner sent by Python (-1: none yet). */
  colorFeature(d: SummaryData, feature: number): number {
    const c = this.model.get("color");
    if (c !== null && c !== undefined && Number(c) >= 0 && Number(c) < d.m) return Number(c);
    const p = this.model.get("_partners");
    const row = Array.isArray(p) ? p[this.output(d)] : null;
    const v = Array.isArray(row) ? Number(row[feature]) : -1;
    return Number.isInteger(v) && v >= 0 && v < d.m ? v : -1;
  }
}
