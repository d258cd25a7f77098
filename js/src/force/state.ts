/**
 * ForcePlot's typed state: the decoded payload (values, base values, outputs,
 * feature values and names) and what the model says about the view (mode,
 * row, sample order, link, output name). No DOM here; each call reads the
 * model, and decoding is cached on the identity of the traits it reads.
 */
import { decodeArray, type ArrayMeta } from "../lib/decode";
import { OTHER, outputOrder, positions, sigmoid } from "../lib/force_layout";
import type { AnyModel } from "../lib/model";
import { formatValue } from "../lib/scale";

export type Mode = "single" | "stacked" | "waterfall";

export const MODES: [string, string][] = [
  ["auto", "auto"],
  ["single", "force (one sample)"],
  ["stacked", "stacked (all samples)"],
  ["waterfall", "waterfall"],
];
export const ORDERS: [string, string][] = [
  ["similarity", "similarity"],
  ["output", "output value"],
  ["original", "original order"],
];

/** The synced traits a redraw depends on. */
export const DRAW_TRAITS = [
  "mode", "order", "link", "index", "feature", "y_feature", "max_features", "coverage", "output_name",
  "feature_names", "_values", "_base", "_data", "_data_text", "_similarity", "_by_output", "method",
];

export interface ForceData {
  n: number;
  m: number;
  values: Float32Array; // n*m
  base: Float32Array; // n
  outputs: Float64Array; // n
  data: Float32Array | null; // n*m
  dataText: string[][] | null;
  names: string[];
}

export interface SampleOrder {
  order: Int32Array;
  /** where each sample sits in `order` */
  pos: Int32Array;
  /** the similarity order is asked for but not computed yet */
  pending: boolean;
}

export class ForceState {
  private cache: { key: unknown[]; data: ForceData } | null = null;
  private orderCache: (SampleOrder & { key: unknown[] }) | null = null;

  constructor(readonly model: AnyModel) {}

  /** The decoded payload, or null while it has not arrived. */
  data(): ForceData | null {
    const model = this.model;
    const vm: ArrayMeta | null = model.get("_values_meta");
    const bm: ArrayMeta | null = model.get("_base_meta");
    if (!vm || !vm.shape || !bm || !bm.shape) return null;
    const key = [model.get("_values"), model.get("_base"), model.get("_data"), model.get("_data_text"), model.get("feature_names")];
    if (this.cache && this.cache.key.every((k, i) => k === key[i])) return this.cache.data;
    const [n, m] = vm.shape;
    const values = decodeArray(model.get("_values"), vm);
    const base = decodeArray(model.get("_base"), bm);
    const dm: ArrayMeta | null = model.get("_data_meta");
    const data = dm && dm.shape && dm.shape.length === 2 ? decodeArray(model.get("_data"), dm) : null;
    const dt = model.get("_data_text");
    const dataText = Array.isArray(dt) && dt.length === n ? (dt as string[][]) : null;
    const rawNames: unknown[] = model.get("feature_names") || [];
    const names = Array.from({ length: m }, (_, j) => (rawNames[j] !== undefined ? String(rawNames[j]) : `x${j}`));
    const outputs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = base[i];
      for (let j = 0; j < m; j++) s += values[i * m + j];
      outputs[i] = s;
    }
    const d: ForceData = { n, m, values, base, outputs, data, dataText, names };
    this.cache = { key, data: d };
    return d;
  }

  /** The explained input's value of feature j in row i, as text (null when no data was given). */
  featureValue(d: ForceData, i: number, j: number): string | null {
    if (d.dataText) return String(d.dataText[i]?.[j] ?? "");
    if (d.data) {
      const v = d.data[i * d.m + j];
      return Number.isNaN(v) ? "NaN" : formatValue(v);
    }
    return null;
  }

  /** `name = value` (or the name alone without data). */
  featureLabel(d: ForceData, i: number, j: number): string {
    if (j === OTHER) return "";
    const v = this.featureValue(d, i, j);
    return v === null ? d.names[j] : `${d.names[j]} = ${v}`;
  }

  link(): "logit" | "identity" {
    return this.model.get("link") === "logit" ? "logit" : "identity";
  }

  /** An output value as text; with a logit link, the probability too. */
  outputText(v: number): string {
    return this.link() === "logit" ? `${formatValue(v)} (p = ${formatValue(sigmoid(v))})` : formatValue(v);
  }

  outputName(): string {
    return String(this.model.get("output_name") || "f(x)");
  }

  mode(d: ForceData): Mode {
    const m = String(this.model.get("mode"));
    if (m === "single" || m === "stacked" || m === "waterfall") return m;
    return d.n === 1 ? "single" : "stacked";
  }

  index(d: ForceData): number {
    const i = Number(this.model.get("index")) || 0;
    return Math.min(d.n - 1, Math.max(0, i));
  }

  /** The stacked view's y feature, or null for the output. */
  yFeature(d: ForceData): number | null {
    const raw = this.model.get("y_feature");
    return raw === null || raw === undefined || !(Number(raw) >= 0 && Number(raw) < d.m) ? null : Number(raw);
  }

  selectedFeature(): number | null {
    const f = this.model.get("feature");
    return f === null || f === undefined ? null : Number(f);
  }

  maxFeatures(): number {
    return Number(this.model.get("max_features")) || 12;
  }

  coverage(): number {
    return Number(this.model.get("coverage")) || 0.95;
  }

  order(d: ForceData): SampleOrder {
    const model = this.model;
    const o = String(model.get("order"));
    const key = [o, model.get("_similarity"), model.get("_by_output"), d];
    if (this.orderCache && this.orderCache.key.every((k, i) => k === key[i])) return this.orderCache;
    let order: Int32Array | null = null;
    let pending = false;
    const fromTrait = (name: string): Int32Array | null => {
      const meta: ArrayMeta | null = model.get(`${name}_meta`);
      if (!meta || !meta.shape || meta.shape[0] !== d.n) return null;
      return Int32Array.from(decodeArray(model.get(name), meta));
    };
    if (o === "similarity") {
      order = fromTrait("_similarity");
      pending = order === null && d.n > 1;
    } else if (o === "output") {
      order = fromTrait("_by_output") ?? Int32Array.from(outputOrder(d.outputs));
    }
    if (!order) order = Int32Array.from({ length: d.n }, (_, i) => i);
    this.orderCache = { key, order, pos: positions(order), pending };
    return this.orderCache;
  }
}
