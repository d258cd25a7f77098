/** Pointer interaction: tooltips for features and samples, clicks that select a feature or a sample, the PNG export. */
import { byMagnitude, OTHER, sampleAt } from "../lib/force_layout";
import { downloadCanvas } from "../lib/download";
import { clientToCanvas, formatValue } from "../lib/scale";
import type { Tooltip, TooltipRow } from "../lib/tooltip";
import { clip, signed } from "./labels";
import type { ForceData, ForceState } from "./state";
import { LABEL_FONT_PX, type Colors, type Drawn, type Hit } from "./view";

/** A point in the canvas' CSS pixels. */
export function localPoint(canvas: HTMLCanvasElement, e: MouseEvent): [number, number] {
  const r = canvas.getBoundingClientRect();
  const w = parseFloat(canvas.style.width) || r.width;
  const hgt = parseFloat(canvas.style.height) || r.height;
  return clientToCanvas(e.clientX, e.clientY, r, w, hgt);
}

export function hitAt(drawn: Drawn | null, x: number, y: number): Hit | null {
  for (const ht of drawn?.hits ?? []) if (x >= ht.x0 && x <= ht.x1 && y >= ht.y0 && y <= ht.y1) return ht;
  return null;
}

/** The sample under (x, y) in the stacked view (the marker's head above the plot counts too). */
export function stackedSampleAt(state: ForceState, drawn: Drawn | null, d: ForceData, x: number, y: number): number | null {
  const g = drawn?.stacked;
  if (!g || x < g.left || x > g.left + g.width || y < g.top - 8 || y > g.top + g.height) return null;
  const { order } = state.order(d);
  return order[sampleAt(x, g.left, g.width, d.n)];
}

export function featureTooltip(state: ForceState, tooltip: Tooltip, d: ForceData, e: MouseEvent, feature: number, value: number): void {
  const i = state.index(d);
  if (feature === OTHER) {
    tooltip.show(e.clientX, e.clientY, [["contribution", signed(value)]], "other features (collapsed)");
    return;
  }
  const rows: TooltipRow[] = [];
  const fv = state.featureValue(d, i, feature);
  if (fv !== null) rows.push(["value", fv]);
  rows.push(["contribution", signed(value)]);
  tooltip.show(e.clientX, e.clientY, rows, d.names[feature]);
}

export function sampleTooltip(state: ForceState, tooltip: Tooltip, d: ForceData, e: MouseEvent, s: number): void {
  const m = d.m;
  const row = d.values.subarray(s * m, (s + 1) * m);
  const rows: TooltipRow[] = [
    [state.outputName(), state.outputText(d.outputs[s])],
    ["base value", formatValue(d.base[s])],
  ];
  const yf = state.yFeature(d);
  if (yf !== null) rows.push([`effect of ${clip(d.names[yf], 28)}`, signed(row[yf])]);
  for (const j of byMagnitude(row).slice(0, 5)) {
    if (row[j] === 0) break;
    rows.push([clip(state.featureLabel(d, s, j), 40), signed(row[j])]);
  }
  tooltip.show(e.clientX, e.clientY, rows, `sample ${s}`);
}

/** The canvas with its DOM labels drawn in, at 2x, as a PNG download. */
export function exportPng(canvas: HTMLCanvasElement, drawn: Drawn | null, c: Colors): void {
  const W = parseFloat(canvas.style.width) || canvas.width;
  const H = parseFloat(canvas.style.height) || canvas.height;
  const out = document.createElement("canvas");
  const scale = 2;
  out.width = Math.round(W * scale);
  out.height = Math.round(H * scale);
  const ctx = out.getContext("2d");
  if (!ctx) return;
  ctx.scale(scale, scale);
  ctx.fillStyle = c.bg;
  ctx.fillRect(0, 0, W, H);
  ctx.drawImage(canvas, 0, 0, W, H);
  ctx.font = `${LABEL_FONT_PX}px ${c.font}`;
  ctx.textBaseline = "middle";
  for (const l of drawn?.labelDraws ?? []) {
    ctx.fillStyle = l.color;
    ctx.textAlign = l.align;
    ctx.fillText(l.text, l.x, l.y);
  }
  downloadCanvas(out, "force_plot.png");
}
