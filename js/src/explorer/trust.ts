/**
 * The trust panel beside the explorer's map: the completeness residual (when
 * the method promises completeness), deletion and insertion curves against a
 * random order, and the sanity check's verdict. Computed in the kernel on
 * demand (the two buttons); this module only draws what the `_trust` traits hold.
 */
import { hiDpi } from "../lib/canvas";
import { h } from "../lib/dom";
import { resolvedColors } from "../lib/theme";

export interface CurveSummary {
  auc: number;
  random_auc: number;
  better: boolean;
  unit: string;
  units: number;
}
export interface TrustSummary {
  steps?: number;
  delta?: number;
  delta_rel?: number | null;
  deletion?: CurveSummary;
  insertion?: CurveSummary;
  sanity?: { passed: boolean; verdict: string; layers: number; final: number; compare: string };
}

/** "0.0012% of f(x) − f(baseline)" or the absolute residual when the gap is 0. */
export function residualText(t: TrustSummary): string {
  if (t.delta === undefined) return "";
  const abs = Math.abs(t.delta);
  if (t.delta_rel === null || t.delta_rel === undefined) return `completeness residual ${abs.toPrecision(2)}`;
  const pct = t.delta_rel * 100;
  const shown = pct >= 10 ? pct.toFixed(0) : pct >= 0.01 ? pct.toPrecision(2) : pct.toExponential(1);
  return `completeness residual ${shown}% of f(x) − f(baseline)`;
}

/** "deletion AUC 0.118 (random 0.134): better than random" — lower is better for deletion, higher for insertion. */
export function curveText(kind: "deletion" | "insertion", c: CurveSummary): string {
  const f = (v: number) => (Math.abs(v) >= 100 || (v !== 0 && Math.abs(v) < 0.01) ? v.toExponential(2) : v.toFixed(3));
  return `${kind} AUC ${f(c.auc)} (random ${f(c.random_auc)}): ${c.better ? "better than random" : "no better than random"}`;
}

/** Points of a curve in a w × h box: x evenly spread over the steps, y from lo (bottom) to hi (top). */
export function curvePoints(values: ArrayLike<number>, w: number, h: number, lo: number, hi: number, pad = 3): [number, number][] {
  const n = values.length;
  const span = hi > lo ? hi - lo : 1;
  const out: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const x = pad + (n > 1 ? (i / (n - 1)) * (w - 2 * pad) : (w - 2 * pad) / 2);
    const y = h - pad - ((values[i] - lo) / span) * (h - 2 * pad);
    out.push([x, y]);
  }
  return out;
}

export class TrustPanel {
  readonly el: HTMLElement;
  private residual = h("div", { class: "xw-trust-line xw-trust-residual" });
  private rows = h("div", { class: "xw-trust-rows" });
  private sanity = h("div", { class: "xw-trust-line xw-trust-sanity" });
  readonly checkBtn = h("button", { class: "xw-check", text: "Faithfulness", title: "Deletion and insertion curves against a random order", attrs: { type: "button" } });
  readonly sanityBtn = h("button", { class: "xw-sanity", text: "Sanity check", title: "Cascading randomisation of the model's layers (on a copy): the map should change", attrs: { type: "button" } });

  constructor() {
    const head = h("div", { class: "xw-row" }, [h("span", { class: "xw-label", text: "Trust" }), this.checkBtn, this.sanityBtn]);
    this.el = h("div", { class: "xw-trust" }, [head, this.residual, this.rows, this.sanity]);
  }

  private summary: TrustSummary = {};
  private busy = false;
  private drawnKey = "";

  /** While the kernel computes, the buttons wait (the panel itself is not redrawn on every progress tick). */
  setBusy(busy: boolean): void {
    this.busy = busy;
    this.checkBtn.disabled = busy || this.summary.deletion !== undefined;
    this.sanityBtn.disabled = busy || this.summary.sanity !== undefined;
  }

  /** Redraw from the summary and the curves (float32 (4, steps + 1): deletion, random, insertion, random). */
  update(t: TrustSummary, curves: Float32Array | null, width: number, colorsOf: HTMLElement): void {
    this.summary = t;
    this.setBusy(this.busy);
    const c = resolvedColors(colorsOf);
    const accent = getComputedStyle(colorsOf).getPropertyValue("--xw-accent").trim() || c.fg;
    // theme watchers and resize observers call often: rebuild only when something drawn would change
    const key = JSON.stringify([t, curves ? Array.from(curves) : null, width, c.fg, c.fg2, c.border, accent]);
    if (key === this.drawnKey) return;
    this.drawnKey = key;
    this.residual.textContent = residualText(t);
    while (this.rows.firstChild) this.rows.removeChild(this.rows.firstChild);
    const kinds: ("deletion" | "insertion")[] = ["deletion", "insertion"];
    let row = 0;
    const n = (t.steps ?? 10) + 1;
    for (const kind of kinds) {
      const s = t[kind];
      if (!s) continue;
      const ours = curves ? curves.subarray(row * 2 * n, row * 2 * n + n) : null;
      const rand = curves ? curves.subarray(row * 2 * n + n, row * 2 * n + 2 * n) : null;
      row++;
      const cw = Math.max(80, Math.min(140, Math.floor(width * 0.3)));
      const canvas = h("canvas", { class: "xw-trust-curve", title: `${kind}: target score as the top-ranked ${s.unit}s are ${kind === "deletion" ? "removed" : "revealed"} (solid) and in a random order (dashed)` });
      const ctx = hiDpi(canvas, cw, 44);
      if (ctx && ours && rand) {
        let lo = Infinity;
        let hi = -Infinity;
        for (const v of [...ours, ...rand]) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
        ctx.strokeStyle = c.border;
        ctx.lineWidth = 1;
        ctx.strokeRect(0.5, 0.5, cw - 1, 43);
        const line = (vals: Float32Array, colour: string, dash: number[]) => {
          ctx.beginPath();
          ctx.setLineDash(dash);
          ctx.strokeStyle = colour;
          ctx.lineWidth = 1.5;
          curvePoints(vals, cw, 44, lo, hi).forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
          ctx.stroke();
        };
        line(rand, c.fg2, [3, 3]);
        line(ours, accent, []);
        ctx.setLineDash([]);
      }
      const text = h("span", { class: "xw-trust-text", text: curveText(kind, s) });
      this.rows.appendChild(h("div", { class: "xw-trust-row" }, [canvas, text]));
    }
    this.sanity.textContent = t.sanity ? `sanity check: ${t.sanity.verdict}` : "";
    this.el.classList.toggle("xw-trust-empty", !this.residual.textContent && !row && !t.sanity);
  }
}
