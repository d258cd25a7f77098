/**
 * ForcePlot view: additive attributions (SHAP values) from the base value to
 * the output.
 *  - "single": one row as a horizontal force bar — features pushing the output
 *    up (red) and down (blue) as arrow segments, small ones collapsed into
 *    "other", labels `name = value` as DOM elements (`.xw-feature`).
 *  - "waterfall": one row, base value at the bottom, features by |value|,
 *    cumulative bars, the output at the top.
 *  - "stacked": many rows side by side (ordered by similarity / output /
 *    as given), the output (or one feature's effect) on y, drawn into an
 *    ImageData at device resolution (no per-sample DOM); click selects `index`.
 * Feature names reach the DOM through textContent and the canvas through
 * fillText only.
 */
import { hiDpi } from "./lib/canvas";
import { cssColor, type RGB } from "./lib/colormaps";
import { decodeArray, type ArrayMeta } from "./lib/decode";
import { fillSelect, h, labelled, select } from "./lib/dom";
import { downloadCanvas } from "./lib/download";
import {
  OTHER,
  axisTicks,
  byMagnitude,
  collapseFeatures,
  forceStack,
  lighten,
  outputOrder,
  paddedRange,
  placeLabels,
  positions,
  sampleAt,
  sampleX,
  sigmoid,
  waterfallRows,
  type Segment,
} from "./lib/force_layout";
import { listen, type RenderProps } from "./lib/model";
import { clientToCanvas, formatValue } from "./lib/scale";
import { injectStyle, parseColor, resolvedColors } from "./lib/theme";
import { Tooltip, type TooltipRow } from "./lib/tooltip";

/** shap's colours: red pushes the output up, blue pushes it down. */
export const POS: RGB = [255, 0, 81];
export const NEG: RGB = [0, 139, 251];

const MODES: [string, string][] = [
  ["auto", "auto"],
  ["single", "force (one sample)"],
  ["stacked", "stacked (all samples)"],
  ["waterfall", "waterfall"],
];
const ORDERS: [string, string][] = [
  ["similarity", "similarity"],
  ["output", "output value"],
  ["original", "original order"],
];
const LABEL_FONT_PX = 12;
const MAX_LABEL_CHARS = 48;

const FORCE_CSS = `
.xw-force-body { position: relative; width: 100%; }
.xw-force-canvas { display: block; cursor: pointer; }
.xw-labels { position: absolute; left: 0; top: 0; right: 0; bottom: 0; pointer-events: none; }
.xw-feature {
  position: absolute; white-space: pre; pointer-events: auto; cursor: pointer; line-height: 16px;
  font-size: ${LABEL_FONT_PX}px; padding: 0 2px; border-radius: 3px; border: 1px solid transparent;
  overflow: hidden; text-overflow: ellipsis;
}
.xw-feature:hover { border-color: var(--xw-fg2); }
.xw-feature.xw-selected { border-color: var(--xw-fg); box-shadow: 0 0 0 1px var(--xw-fg); }
.xw-feature.xw-other { color: var(--xw-fg2) !important; cursor: default; font-style: italic; }
.xw-force-plot .xw-index { width: 72px; }
.xw-force-plot .xw-hidden { display: none !important; }
`;
const FORCE_STYLE_ID = "xw-style-force-v1";

function injectForceStyle(doc: Document = document): void {
  if (doc.getElementById(FORCE_STYLE_ID)) return;
  const style = doc.createElement("style");
  style.id = FORCE_STYLE_ID;
  style.textContent = FORCE_CSS;
  (doc.head || doc.documentElement).appendChild(style);
}

interface Data {
  n: number;
  m: number;
  values: Float32Array; // n*m
  base: Float32Array; // n
  outputs: Float64Array; // n
  data: Float32Array | null; // n*m
  dataText: string[][] | null;
  names: string[];
}

interface Hit {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  feature: number;
  value: number;
}

interface LabelDraw {
  text: string;
  x: number;
  y: number;
  width: number;
  color: string;
  align: CanvasTextAlign;
}

/** Short text for a label (the full name goes in the title/tooltip). */
export function clip(s: string, n = MAX_LABEL_CHARS): string {
  return s.length > n ? s.slice(0, n - 1) + "…" : s;
}

function signed(v: number): string {
  const s = formatValue(v);
  return v > 0 ? "+" + s : s;
}

function render({ model, el }: RenderProps): () => void {
  const t0 = typeof performance !== "undefined" ? performance.now() : Date.now();
  injectStyle();
  injectForceStyle();
  const ac = new AbortController();
  const on = { signal: ac.signal };
  const root = h("div", { class: "xw-root xw-force-plot" });
  el.appendChild(root);

  // ---------------------------------------------------------------- controls
  const nSamples = Number(model.get("n_samples")) || 1;
  const modeSel = select("xw-mode", MODES, String(model.get("mode")));
  const orderSel = select("xw-order", ORDERS, String(model.get("order")));
  const ySel = select("xw-y", [], "");
  const indexIn = h("input", {
    class: "xw-index",
    title: "Sample shown by the force and waterfall views",
    attrs: { type: "number", min: "0", max: String(nSamples - 1), step: "1" },
  });
  const download = h("button", { class: "xw-download", text: "⤓ PNG", title: "Download as PNG", attrs: { type: "button" } });
  const title = h("div", { class: "xw-title" });
  const orderCtl = labelled("Order", orderSel);
  const yCtl = labelled("y", ySel);
  const indexCtl = labelled("Sample", indexIn);
  const toolbar = h("div", { class: "xw-toolbar" }, [
    title,
    labelled("View", modeSel),
    orderCtl,
    yCtl,
    indexCtl,
    h("span", { class: "xw-spacer" }),
    download,
  ]);
  const canvas = h("canvas", { class: "xw-force-canvas" });
  const labels = h("div", { class: "xw-labels" });
  const body = h("div", { class: "xw-force-body" }, [canvas, labels]);
  const status = h("div", { class: "xw-status" });
  const footer = h("div", { class: "xw-footer" }, [status]);
  root.append(toolbar, body, footer);
  const tooltip = new Tooltip(root);

  // ------------------------------------------------------------------- data
  let cache: { key: unknown[]; data: Data } | null = null;
  let yNamesKey = "";

  function decode(): Data | null {
    const vm: ArrayMeta | null = model.get("_values_meta");
    const bm: ArrayMeta | null = model.get("_base_meta");
    if (!vm || !vm.shape || !bm || !bm.shape) return null;
    const key = [model.get("_values"), model.get("_base"), model.get("_data"), model.get("_data_text"), model.get("feature_names")];
    if (cache && cache.key.every((k, i) => k === key[i])) return cache.data;
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
    const d: Data = { n, m, values, base, outputs, data, dataText, names };
    cache = { key, data: d };
    return d;
  }

  function featureValue(d: Data, i: number, j: number): string | null {
    if (d.dataText) return String(d.dataText[i]?.[j] ?? "");
    if (d.data) {
      const v = d.data[i * d.m + j];
      return Number.isNaN(v) ? "NaN" : formatValue(v);
    }
    return null;
  }

  function featureLabel(d: Data, i: number, j: number): string {
    if (j === OTHER) return "";
    const v = featureValue(d, i, j);
    return v === null ? d.names[j] : `${d.names[j]} = ${v}`;
  }

  function link(): string {
    return model.get("link") === "logit" ? "logit" : "identity";
  }

  function outputText(v: number): string {
    return link() === "logit" ? `${formatValue(v)} (p = ${formatValue(sigmoid(v))})` : formatValue(v);
  }

  function outputName(): string {
    return String(model.get("output_name") || "f(x)");
  }

  function resolvedMode(d: Data): string {
    const m = String(model.get("mode"));
    if (m === "single" || m === "stacked" || m === "waterfall") return m;
    return d.n === 1 ? "single" : "stacked";
  }

  function currentIndex(d: Data): number {
    const i = Number(model.get("index")) || 0;
    return Math.min(d.n - 1, Math.max(0, i));
  }

  let orderCache: { key: unknown[]; order: Int32Array; pos: Int32Array; pending: boolean } | null = null;

  function currentOrder(d: Data): { order: Int32Array; pos: Int32Array; pending: boolean } {
    const o = String(model.get("order"));
    const key = [o, model.get("_similarity"), model.get("_by_output"), d];
    if (orderCache && orderCache.key.every((k, i) => k === key[i])) return orderCache;
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
    orderCache = { key, order, pos: positions(order), pending };
    return orderCache;
  }

  // ----------------------------------------------------------------- layout
  let hits: Hit[] = [];
  let labelDraws: LabelDraw[] = [];
  let stackedGeom: { left: number; top: number; width: number; height: number } | null = null;
  let drawnWidth = 0;
  let measureCtx: CanvasRenderingContext2D | null = null;

  function cssWidth(): number {
    const w = body.clientWidth || root.clientWidth - 20 || 0;
    return Math.round(Math.max(420, Math.min(1200, w > 0 ? w : 860)));
  }

  function colors() {
    const c = resolvedColors(root);
    const bg = parseColor(c.bg) ?? [255, 255, 255];
    const dark = bg[0] * 0.299 + bg[1] * 0.587 + bg[2] * 0.114 < 128;
    return { ...c, bgRGB: bg as RGB, dark };
  }

  function textWidth(s: string, font: string): number {
    if (!measureCtx) measureCtx = document.createElement("canvas").getContext("2d");
    if (!measureCtx) return s.length * 7;
    measureCtx.font = font;
    return measureCtx.measureText(s).width;
  }

  function clearLabels(): void {
    while (labels.firstChild) labels.removeChild(labels.firstChild);
    labelDraws = [];
  }

  function addLabel(d: Data, feature: number, text: string, x: number, y: number, width: number, color: string, align: CanvasTextAlign, fullName: string): void {
    const span = h("span", { class: "xw-feature", text, title: fullName });
    span.setAttribute("data-feature", feature === OTHER ? "other" : String(feature));
    if (feature === OTHER) span.classList.add("xw-other");
    if (feature !== OTHER && model.get("feature") === feature) span.classList.add("xw-selected");
    span.style.left = `${x}px`;
    span.style.top = `${y}px`;
    span.style.width = `${Math.ceil(width) + 6}px`;
    span.style.textAlign = align === "right" ? "right" : "left";
    span.style.color = color;
    labels.appendChild(span);
    labelDraws.push({ text, x: align === "right" ? x + width + 4 : x + 3, y: y + 8, width, color, align });
    void d;
  }

  function chevron(ctx: CanvasRenderingContext2D, x0: number, x1: number, yTop: number, yBot: number, right: boolean, notch: boolean): void {
    const w = x1 - x0;
    const t = Math.min(6, w / 2, (yBot - yTop) / 2);
    const ym = (yTop + yBot) / 2;
    ctx.beginPath();
    if (right) {
      ctx.moveTo(x0, yTop);
      ctx.lineTo(x1 - t, yTop);
      ctx.lineTo(x1, ym);
      ctx.lineTo(x1 - t, yBot);
      ctx.lineTo(x0, yBot);
      if (notch) ctx.lineTo(x0 + t, ym);
    } else {
      ctx.moveTo(x1, yTop);
      ctx.lineTo(x0 + t, yTop);
      ctx.lineTo(x0, ym);
      ctx.lineTo(x0 + t, yBot);
      ctx.lineTo(x1, yBot);
      if (notch) ctx.lineTo(x1 - t, ym);
    }
    ctx.closePath();
  }

  function segColor(seg: Segment, rank: number, count: number): string {
    const c = seg.value > 0 ? POS : NEG;
    if (seg.feature === OTHER) return cssColor(lighten(c, 0.55));
    return cssColor(lighten(c, count > 1 ? (0.3 * rank) / (count - 1) : 0));
  }

  // ------------------------------------------------------------------ single
  function drawSingle(d: Data, i: number): void {
    const m = d.m;
    const row = d.values.subarray(i * m, (i + 1) * m);
    const base = d.base[i];
    const col = collapseFeatures(row, Number(model.get("max_features")) || 12, Number(model.get("coverage")) || 0.95);
    const st = forceStack(row, base, col);
    const segs = [...st.pos, ...st.neg];
    let lo = Math.min(base, st.output);
    let hi = Math.max(base, st.output);
    for (const s of segs) {
      lo = Math.min(lo, s.lo);
      hi = Math.max(hi, s.hi);
    }
    [lo, hi] = paddedRange(lo, hi, 0.05);
    const W = cssWidth();
    const left = 14;
    const right = 14;
    const X = (v: number) => left + ((v - lo) / (hi - lo)) * (W - left - right);
    const c = colors();
    const font = `${LABEL_FONT_PX}px ${c.font}`;
    const barTop = 60;
    const barBot = 84;
    const labelTop = 96;
    const rowH = 20;

    // labels: largest first, "other" last
    const items: { seg: Segment; text: string; width: number; center: number; color: string }[] = [];
    const ordered = [...segs].sort((a, b) => (a.feature === OTHER ? 1 : 0) - (b.feature === OTHER ? 1 : 0) || Math.abs(b.value) - Math.abs(a.value));
    for (const s of ordered) {
      const text =
        s.feature === OTHER
          ? ((k) => `${s.value > 0 ? "+" : "−"} ${k} other${k === 1 ? "" : "s"}`)(s.value > 0 ? col.otherPosCount : col.otherNegCount)
          : clip(featureLabel(d, i, s.feature));
      const color = cssColor(c.dark ? lighten(s.value > 0 ? POS : NEG, 0.25) : s.value > 0 ? [214, 0, 68] : [0, 110, 214]);
      items.push({ seg: s, text, width: textWidth(text, font) + 6, center: X((s.lo + s.hi) / 2), color });
    }
    const place = placeLabels(items, 4, 0, W, 8);
    const rows = Math.max(1, ...place.map((p) => p.row + 1));
    const H = labelTop + rows * rowH + 6;
    drawnWidth = W;
    const ctx = hiDpi(canvas, W, H);
    if (!ctx) return;
    ctx.fillStyle = c.bg;
    ctx.fillRect(0, 0, W, H);
    clearLabels();
    hits = [];
    stackedGeom = null;

    // legend + caption
    ctx.font = `11px ${c.font}`;
    ctx.textBaseline = "middle";
    ctx.textAlign = "left";
    ctx.fillStyle = cssColor(POS);
    ctx.fillText("higher ▶", left, 9);
    const hw = ctx.measureText("higher ▶").width;
    ctx.fillStyle = cssColor(NEG);
    ctx.fillText("◀ lower", left + hw + 10, 9);
    ctx.fillStyle = c.fg2;
    ctx.textAlign = "right";
    ctx.fillText(link() === "logit" ? `${outputName()} · log-odds, ticks in probability` : outputName(), W - right, 9);

    // axis
    const axisY = 51;
    ctx.strokeStyle = c.border;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(left, axisY + 0.5);
    ctx.lineTo(W - right, axisY + 0.5);
    ctx.stroke();
    ctx.fillStyle = c.fg2;
    ctx.textAlign = "center";
    ctx.font = `10.5px ${c.font}`;
    for (const t of axisTicks(lo, hi, link(), Math.max(3, Math.floor(W / 110)))) {
      const x = Math.round(X(t.pos)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, axisY - 3);
      ctx.lineTo(x, axisY + 3);
      ctx.stroke();
      ctx.fillText(t.label, x, axisY - 11);
    }

    // segments
    const rank = new Map<Segment, number>();
    st.pos.forEach((s, k) => rank.set(s, k));
    st.neg.forEach((s, k) => rank.set(s, k));
    const selected = model.get("feature");
    for (const s of segs) {
      const x0 = X(s.lo);
      const x1 = X(s.hi);
      const group = s.value > 0 ? st.pos : st.neg;
      chevron(ctx, x0, x1, barTop, barBot, s.value > 0, true);
      ctx.fillStyle = segColor(s, rank.get(s) ?? 0, group.length);
      ctx.fill();
      ctx.strokeStyle = c.bg;
      ctx.lineWidth = 1;
      ctx.stroke();
      hits.push({ x0, x1, y0: barTop, y1: barBot, feature: s.feature, value: s.value });
    }
    if (selected !== null && selected !== undefined) {
      const s = segs.find((g) => g.feature === selected);
      if (s) {
        chevron(ctx, X(s.lo), X(s.hi), barTop - 1, barBot + 1, s.value > 0, true);
        ctx.strokeStyle = c.fg;
        ctx.lineWidth = 2;
        ctx.stroke();
      }
    }

    // base value and output annotations
    const xb = X(base);
    const xo = X(st.output);
    ctx.setLineDash([3, 3]);
    ctx.strokeStyle = c.fg2;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(Math.round(xb) + 0.5, axisY);
    ctx.lineTo(Math.round(xb) + 0.5, barBot + 4);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.strokeStyle = c.fg;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(xo, 30);
    ctx.lineTo(xo, barBot + 4);
    ctx.stroke();
    const outText = `${outputName()} = ${outputText(st.output)}`;
    const baseText = `base value ${link() === "logit" ? outputText(base) : formatValue(base)}`;
    ctx.font = `600 12px ${c.font}`;
    const ow = ctx.measureText(outText).width;
    ctx.font = `11px ${c.font}`;
    const bw = ctx.measureText(baseText).width;
    let ox = Math.max(left, Math.min(W - right - ow, xo - ow / 2));
    let bx = Math.max(left, Math.min(W - right - bw, xb - bw / 2));
    if (bx < ox + ow + 10 && bx + bw + 10 > ox) {
      // overlap: put the base label on its own side of the output label
      bx = xb <= xo ? Math.max(left, ox - bw - 12) : Math.min(W - right - bw, ox + ow + 12);
      if (bx < ox + ow + 10 && bx + bw + 10 > ox) ox = bx + bw + 12 <= W - right - ow ? bx + bw + 12 : ox;
    }
    ctx.textBaseline = "middle";
    ctx.textAlign = "left";
    ctx.fillStyle = c.bg;
    ctx.fillRect(ox - 3, 16, ow + 6, 16);
    ctx.fillStyle = c.fg;
    ctx.font = `600 12px ${c.font}`;
    ctx.fillText(outText, ox, 24);
    ctx.fillStyle = c.fg2;
    ctx.font = `11px ${c.font}`;
    ctx.fillText(baseText, bx, 24);

    // labels with leader lines
    items.forEach((it, k) => {
      const p = place[k];
      if (p.row < 0) return;
      const y = labelTop + p.row * rowH;
      const cx = it.center;
      ctx.strokeStyle = it.color;
      ctx.globalAlpha = 0.55;
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(cx, barBot + 1);
      ctx.lineTo(Math.max(p.x + 3, Math.min(p.x + it.width - 3, cx)), y + 1);
      ctx.stroke();
      ctx.globalAlpha = 1;
      const cnt = it.seg.value > 0 ? col.otherPosCount : col.otherNegCount;
      const name = it.seg.feature === OTHER ? `${cnt} ${it.seg.value > 0 ? "positive" : "negative"} contribution${cnt === 1 ? "" : "s"} collapsed into "other"` : d.names[it.seg.feature];
      addLabel(d, it.seg.feature, it.text, p.x, y, it.width - 6, it.color, "left", name);
    });
    const hidden = place.filter((p) => p.row < 0).length;
    setStatus(
      `sample ${i}${d.n > 1 ? ` of ${d.n}` : ""} · base value ${formatValue(base)} → ${outputName()} ${outputText(st.output)} · ` +
        `${col.kept.length} of ${m} features shown${col.otherCount ? `, ${col.otherCount} in "other"` : ""}` +
        `${hidden ? ` · ${hidden} label${hidden > 1 ? "s" : ""} hidden (hover the bar)` : ""} · click a feature to select it`,
    );
  }

  // --------------------------------------------------------------- waterfall
  function drawWaterfall(d: Data, i: number): void {
    const m = d.m;
    const row = d.values.subarray(i * m, (i + 1) * m);
    const base = d.base[i];
    const col = collapseFeatures(row, Number(model.get("max_features")) || 12, Number(model.get("coverage")) || 0.95);
    const rows = waterfallRows(row, base, col);
    const output = rows.length ? rows[rows.length - 1].end : base;
    const c = colors();
    const font = `${LABEL_FONT_PX}px ${c.font}`;
    const texts = rows.map((r) => (r.feature === OTHER ? `${col.otherCount} other feature${col.otherCount === 1 ? "" : "s"}` : clip(featureLabel(d, i, r.feature), 40)));
    const W = cssWidth();
    const labelW = Math.min(Math.round(W * 0.38), Math.max(80, ...texts.map((t) => textWidth(t, font) + 8)));
    const left = labelW + 14;
    const right = 64;
    const top = 40;
    const rowH = 24;
    const R = rows.length;
    const plotBot = top + R * rowH;
    const H = plotBot + 52;
    let lo = Math.min(base, output);
    let hi = Math.max(base, output);
    for (const r of rows) {
      lo = Math.min(lo, r.start, r.end);
      hi = Math.max(hi, r.start, r.end);
    }
    [lo, hi] = paddedRange(lo, hi, 0.04);
    const X = (v: number) => left + ((v - lo) / (hi - lo)) * (W - left - right);
    const Y = (k: number) => top + (R - 1 - k) * rowH + rowH / 2; // k: index from the bottom
    drawnWidth = W;
    const ctx = hiDpi(canvas, W, H);
    if (!ctx) return;
    ctx.fillStyle = c.bg;
    ctx.fillRect(0, 0, W, H);
    clearLabels();
    hits = [];
    stackedGeom = null;

    // grid + axis
    const ticks = axisTicks(lo, hi, link(), Math.max(3, Math.floor((W - left - right) / 100)));
    ctx.strokeStyle = c.border;
    ctx.globalAlpha = 0.45;
    ctx.lineWidth = 1;
    for (const t of ticks) {
      const x = Math.round(X(t.pos)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, top - 4);
      ctx.lineTo(x, plotBot);
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
    ctx.beginPath();
    ctx.moveTo(left, plotBot + 0.5);
    ctx.lineTo(W - right, plotBot + 0.5);
    ctx.stroke();
    ctx.fillStyle = c.fg2;
    ctx.font = `10.5px ${c.font}`;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const t of ticks) ctx.fillText(t.label, X(t.pos), plotBot + 5);

    // base (bottom) and output (top) lines
    ctx.setLineDash([3, 3]);
    ctx.strokeStyle = c.fg2;
    ctx.beginPath();
    ctx.moveTo(Math.round(X(base)) + 0.5, top + (R - 1) * rowH + 4);
    ctx.lineTo(Math.round(X(base)) + 0.5, plotBot + 20);
    ctx.moveTo(Math.round(X(output)) + 0.5, 24);
    ctx.lineTo(Math.round(X(output)) + 0.5, top + rowH - 4);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.font = `11px ${c.font}`;
    const baseText = `base value E[${outputName()}] = ${link() === "logit" ? outputText(base) : formatValue(base)}`;
    const bw = ctx.measureText(baseText).width;
    ctx.fillStyle = c.fg2;
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    ctx.fillText(baseText, Math.max(left, Math.min(W - bw - 4, X(base) - bw / 2)), plotBot + 22);
    ctx.font = `600 12px ${c.font}`;
    const outText = `${outputName()} = ${outputText(output)}`;
    const ow = ctx.measureText(outText).width;
    ctx.fillStyle = c.fg;
    ctx.textBaseline = "middle";
    ctx.fillText(outText, Math.max(left, Math.min(W - ow - 4, X(output) - ow / 2)), 14);

    // bars
    const selected = model.get("feature");
    rows.forEach((r, k) => {
      const y = Y(k);
      const x0 = X(Math.min(r.start, r.end));
      const x1 = X(Math.max(r.start, r.end));
      const up = r.value >= 0;
      chevron(ctx, x0, Math.max(x1, x0 + 1), y - 8, y + 8, up, false);
      ctx.fillStyle = r.feature === OTHER ? cssColor(lighten(up ? POS : NEG, 0.5)) : cssColor(up ? POS : NEG);
      ctx.fill();
      if (r.feature !== OTHER && r.feature === selected) {
        ctx.strokeStyle = c.fg;
        ctx.lineWidth = 2;
        ctx.stroke();
      }
      // connector to the next bar
      if (k < R - 1) {
        ctx.strokeStyle = c.fg2;
        ctx.lineWidth = 1;
        ctx.globalAlpha = 0.6;
        ctx.beginPath();
        const xe = Math.round(X(r.end)) + 0.5;
        ctx.moveTo(xe, y - 8);
        ctx.lineTo(xe, Y(k + 1) + 8);
        ctx.stroke();
        ctx.globalAlpha = 1;
      }
      // value text: right of the bar when there is room, else left of it
      ctx.font = `11px ${c.font}`;
      const vt = signed(r.value);
      const vw = ctx.measureText(vt).width;
      ctx.textBaseline = "middle";
      ctx.fillStyle = c.dark ? cssColor(lighten(up ? POS : NEG, 0.3)) : cssColor(up ? [200, 0, 64] : [0, 100, 200]);
      if (x1 + 5 + vw <= W - 2) {
        ctx.textAlign = "left";
        ctx.fillText(vt, x1 + 5, y);
      } else {
        ctx.textAlign = "right";
        ctx.fillText(vt, x0 - 5, y);
      }
      hits.push({ x0: Math.min(x0, x1) - 2, x1: Math.max(x0, x1) + 2, y0: y - 10, y1: y + 10, feature: r.feature, value: r.value });
      const name = r.feature === OTHER ? `${col.otherCount} features collapsed into "other"` : d.names[r.feature];
      const tw = Math.min(labelW - 8, textWidth(texts[k], font));
      addLabel(d, r.feature, texts[k], labelW - tw - 6, y - 9, tw, c.fg, "right", name);
    });
    setStatus(
      `sample ${i}${d.n > 1 ? ` of ${d.n}` : ""} · base value ${formatValue(base)} → ${outputName()} ${outputText(output)} · ` +
        `${col.kept.length} of ${m} features, largest at the top · click a feature to select it`,
    );
  }

  // ----------------------------------------------------------------- stacked
  let stackImg: { key: unknown[]; img: ImageData; lo: number; hi: number } | null = null;

  function stackedRange(d: Data, yf: number | null): [number, number] {
    let lo = Infinity;
    let hi = -Infinity;
    const m = d.m;
    for (let i = 0; i < d.n; i++) {
      if (yf === null) {
        let p = 0;
        let q = 0;
        for (let j = 0; j < m; j++) {
          const v = d.values[i * m + j];
          if (v > 0) p += v;
          else q -= v;
        }
        const o = d.outputs[i];
        lo = Math.min(lo, o - p, d.base[i]);
        hi = Math.max(hi, o + q, d.base[i]);
      } else {
        const v = d.values[i * m + yf];
        lo = Math.min(lo, v, 0);
        hi = Math.max(hi, v, 0);
      }
    }
    return paddedRange(lo, hi, 0.04);
  }

  /** Columns of the stacked plot into an ImageData of PW x PH device pixels. */
  function stackedImage(d: Data, order: Int32Array, yf: number | null, PW: number, PH: number, lo: number, hi: number, bg: RGB): ImageData {
    const img = new ImageData(PW, PH);
    const px = img.data;
    for (let k = 0; k < PW * PH; k++) {
      px[4 * k] = bg[0];
      px[4 * k + 1] = bg[1];
      px[4 * k + 2] = bg[2];
      px[4 * k + 3] = 255;
    }
    const m = d.m;
    const Yp = (v: number) => ((hi - v) / (hi - lo)) * PH; // device pixels from the plot top
    // shades: rank within a sign's stack (nearest the output = darkest)
    const shades = 24;
    const posLut: RGB[] = [];
    const negLut: RGB[] = [];
    for (let s = 0; s < shades; s++) {
      posLut.push(lighten(POS, (0.55 * s) / (shades - 1)));
      negLut.push(lighten(NEG, (0.55 * s) / (shades - 1)));
    }
    const fill = (col: number, y0: number, y1: number, c: RGB) => {
      let a = Math.max(0, Math.round(Math.min(y0, y1)));
      const b = Math.min(PH, Math.round(Math.max(y0, y1)));
      for (; a < b; a++) {
        const o = 4 * (a * PW + col);
        px[o] = c[0];
        px[o + 1] = c[1];
        px[o + 2] = c[2];
      }
    };
    const n = d.n;
    let lastSample = -1;
    const segs: { y0: number; y1: number; c: RGB }[] = [];
    for (let col = 0; col < PW; col++) {
      const s = order[Math.min(n - 1, Math.floor(((col + 0.5) / PW) * n))];
      if (s !== lastSample) {
        lastSample = s;
        segs.length = 0;
        if (yf === null) {
          const row = d.values.subarray(s * m, (s + 1) * m);
          const o = d.outputs[s];
          let p = o;
          let q = o;
          let rp = 0;
          let rn = 0;
          for (const j of byMagnitude(row)) {
            const v = row[j];
            if (v > 0) {
              segs.push({ y0: Yp(p), y1: Yp(p - v), c: posLut[Math.min(shades - 1, rp++)] });
              p -= v;
            } else if (v < 0) {
              segs.push({ y0: Yp(q), y1: Yp(q - v), c: negLut[Math.min(shades - 1, rn++)] });
              q -= v;
            }
          }
        } else {
          const v = d.values[s * m + yf];
          segs.push({ y0: Yp(0), y1: Yp(v), c: v >= 0 ? POS : NEG });
        }
      }
      for (const g of segs) fill(col, g.y0, g.y1, g.c);
    }
    return img;
  }

  function drawStacked(d: Data): void {
    const c = colors();
    const W = cssWidth();
    const H = 340;
    const left = 62;
    const right = 16;
    const top = 14;
    const bottom = 44;
    const pw = W - left - right;
    const ph = H - top - bottom;
    const yfRaw = model.get("y_feature");
    const yf = yfRaw === null || yfRaw === undefined || !(Number(yfRaw) >= 0 && Number(yfRaw) < d.m) ? null : Number(yfRaw);
    const { order, pos, pending } = currentOrder(d);
    drawnWidth = W;
    const ctx = hiDpi(canvas, W, H);
    if (!ctx) return;
    const dpr = canvas.width / W;
    ctx.fillStyle = c.bg;
    ctx.fillRect(0, 0, W, H);
    clearLabels();
    hits = [];
    const PW = Math.max(1, Math.round(pw * dpr));
    const PH = Math.max(1, Math.round(ph * dpr));
    const key = [d, order, yf, PW, PH, c.bg];
    if (!stackImg || !stackImg.key.every((k, i) => k === key[i])) {
      const [lo, hi] = stackedRange(d, yf);
      stackImg = { key, img: stackedImage(d, order, yf, PW, PH, lo, hi, c.bgRGB), lo, hi };
    }
    const { lo, hi } = stackImg;
    ctx.putImageData(stackImg.img, Math.round(left * dpr), Math.round(top * dpr));
    const Y = (v: number) => top + ((hi - v) / (hi - lo)) * ph;
    stackedGeom = { left, top, width: pw, height: ph };
    canvas.setAttribute("data-plot-left", String(left));
    canvas.setAttribute("data-plot-top", String(top));
    canvas.setAttribute("data-plot-width", String(pw));
    canvas.setAttribute("data-plot-height", String(ph));
    canvas.setAttribute("data-samples", String(d.n));

    // output trace (the red/blue boundary), base value line
    if (yf === null) {
      ctx.strokeStyle = c.fg;
      ctx.globalAlpha = 0.5;
      ctx.lineWidth = 1;
      ctx.beginPath();
      const step = Math.max(1, Math.floor(d.n / (pw * 2)));
      for (let k = 0; k < d.n; k += step) {
        const x = sampleX(k, left, pw, d.n);
        const y = Y(d.outputs[order[k]]);
        if (k === 0) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
      }
      ctx.stroke();
      ctx.globalAlpha = 1;
      let meanBase = 0;
      for (let i = 0; i < d.n; i++) meanBase += d.base[i];
      meanBase /= d.n;
      ctx.setLineDash([4, 4]);
      ctx.strokeStyle = c.fg2;
      ctx.beginPath();
      ctx.moveTo(left, Math.round(Y(meanBase)) + 0.5);
      ctx.lineTo(left + pw, Math.round(Y(meanBase)) + 0.5);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = c.fg2;
      ctx.font = `10.5px ${c.font}`;
      ctx.textAlign = "right";
      ctx.textBaseline = "bottom";
      ctx.fillText(`base value ${formatValue(meanBase)}`, left + pw - 4, Math.round(Y(meanBase)) - 2);
    } else {
      ctx.strokeStyle = c.fg2;
      ctx.beginPath();
      ctx.moveTo(left, Math.round(Y(0)) + 0.5);
      ctx.lineTo(left + pw, Math.round(Y(0)) + 0.5);
      ctx.stroke();
    }

    // axes
    ctx.strokeStyle = c.border;
    ctx.lineWidth = 1;
    ctx.strokeRect(left - 0.5, top - 0.5, pw + 1, ph + 1);
    ctx.fillStyle = c.fg2;
    ctx.font = `10.5px ${c.font}`;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const t of axisTicks(lo, hi, yf === null ? link() : "identity", 6)) {
      const y = Math.round(Y(t.pos)) + 0.5;
      if (y < top - 1 || y > top + ph + 1) continue;
      ctx.beginPath();
      ctx.moveTo(left - 4, y);
      ctx.lineTo(left, y);
      ctx.stroke();
      ctx.fillText(t.label, left - 6, y);
    }
    const yLabel =
      yf === null
        ? link() === "logit"
          ? `${outputName()} (probability)`
          : outputName()
        : `effect of ${clip(d.names[yf], 40)}`;
    ctx.save();
    ctx.translate(13, top + ph / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.font = `11px ${c.font}`;
    ctx.fillText(yLabel, 0, 0);
    ctx.restore();
    const o = String(model.get("order"));
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    ctx.font = `11px ${c.font}`;
    const orderText = pending
      ? "computing the similarity order…"
      : o === "similarity"
        ? "ordered by similarity (hierarchical clustering)"
        : o === "output"
          ? `ordered by ${outputName()}, largest first`
          : "in original order";
    ctx.fillText(`${d.n} samples, ${orderText}`, left + pw / 2, top + ph + 8);
    ctx.textAlign = "left";
    ctx.fillStyle = cssColor(c.dark ? lighten(POS, 0.2) : POS);
    ctx.fillText("■ higher", left, top + ph + 24);
    const hw = ctx.measureText("■ higher").width;
    ctx.fillStyle = cssColor(c.dark ? lighten(NEG, 0.2) : NEG);
    ctx.fillText("■ lower", left + hw + 10, top + ph + 24);

    // selected sample marker
    const idx = currentIndex(d);
    const p = pos[idx];
    if (p >= 0) {
      const x = Math.round(sampleX(p, left, pw, d.n)) + 0.5;
      ctx.lineCap = "round";
      ctx.strokeStyle = "rgba(0,0,0,0.85)";
      ctx.lineWidth = 3.5;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + ph);
      ctx.stroke();
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 1.5;
      ctx.stroke();
      ctx.fillStyle = c.fg;
      ctx.beginPath();
      ctx.moveTo(x - 6, top - 1);
      ctx.lineTo(x + 6, top - 1);
      ctx.lineTo(x, top + 7);
      ctx.closePath();
      ctx.fill();
      ctx.strokeStyle = c.bg;
      ctx.lineWidth = 1;
      ctx.stroke();
      ctx.lineCap = "butt";
    }
    setStatus(
      `${d.n} samples × ${d.m} features · selected: sample ${idx} (${outputName()} = ${outputText(d.outputs[idx])}) · click a sample to select it`,
    );
  }

  // ------------------------------------------------------------------- draw
  function setStatus(s: string): void {
    status.textContent = s;
  }

  function syncControls(d: Data): void {
    const mode = resolvedMode(d);
    modeSel.value = String(model.get("mode"));
    orderSel.value = String(model.get("order"));
    const key = d.names.join("\u0000") + "|" + outputName();
    if (key !== yNamesKey) {
      yNamesKey = key;
      fillSelect(ySel, [["", outputName()], ...d.names.map((nm, j) => [String(j), clip(nm, 40)] as [string, string])], "");
    }
    const yf = model.get("y_feature");
    ySel.value = yf === null || yf === undefined ? "" : String(yf);
    if (document.activeElement !== indexIn) indexIn.value = String(currentIndex(d));
    orderCtl.classList.toggle("xw-hidden", mode !== "stacked" || d.n < 2);
    yCtl.classList.toggle("xw-hidden", mode !== "stacked" || d.n < 2);
    indexCtl.classList.toggle("xw-hidden", mode === "stacked" || d.n < 2);
    const method = String(model.get("method") || "");
    title.textContent = method && method !== "custom" ? method : "";
    title.classList.toggle("xw-hidden", !title.textContent);
    root.setAttribute("data-mode", mode);
  }

  let firstDrawn = false;

  function draw(): void {
    const d = decode();
    if (!d) {
      setStatus("Loading…");
      return;
    }
    syncControls(d);
    tooltip.hide();
    const mode = resolvedMode(d);
    if (mode === "stacked") drawStacked(d);
    else if (mode === "waterfall") drawWaterfall(d, currentIndex(d));
    else drawSingle(d, currentIndex(d));
    if (!firstDrawn) {
      firstDrawn = true;
      const t1 = typeof performance !== "undefined" ? performance.now() : Date.now();
      root.setAttribute("data-xw-render-ms", (t1 - t0).toFixed(1));
    }
    root.setAttribute("data-xw-ready", "1");
  }

  // ------------------------------------------------------------ interaction
  function localPoint(e: MouseEvent): [number, number] {
    const r = canvas.getBoundingClientRect();
    const w = parseFloat(canvas.style.width) || r.width;
    const hgt = parseFloat(canvas.style.height) || r.height;
    return clientToCanvas(e.clientX, e.clientY, r, w, hgt);
  }

  function hitAt(x: number, y: number): Hit | null {
    for (const ht of hits) if (x >= ht.x0 && x <= ht.x1 && y >= ht.y0 && y <= ht.y1) return ht;
    return null;
  }

  function stackedSampleAt(d: Data, x: number, y: number): number | null {
    const g = stackedGeom;
    if (!g || x < g.left || x > g.left + g.width || y < g.top - 8 || y > g.top + g.height) return null;
    const { order } = currentOrder(d);
    return order[sampleAt(x, g.left, g.width, d.n)];
  }

  function featureTooltip(d: Data, e: MouseEvent, feature: number, value: number): void {
    const i = currentIndex(d);
    if (feature === OTHER) {
      tooltip.show(e.clientX, e.clientY, [["contribution", signed(value)]], "other features (collapsed)");
      return;
    }
    const rows: TooltipRow[] = [];
    const fv = featureValue(d, i, feature);
    if (fv !== null) rows.push(["value", fv]);
    rows.push(["contribution", signed(value)]);
    tooltip.show(e.clientX, e.clientY, rows, d.names[feature]);
  }

  function sampleTooltip(d: Data, e: MouseEvent, s: number): void {
    const m = d.m;
    const row = d.values.subarray(s * m, (s + 1) * m);
    const rows: TooltipRow[] = [
      [outputName(), outputText(d.outputs[s])],
      ["base value", formatValue(d.base[s])],
    ];
    const yf = model.get("y_feature");
    if (yf !== null && yf !== undefined && yf >= 0 && yf < m) rows.push([`effect of ${clip(d.names[yf], 28)}`, signed(row[yf])]);
    for (const j of byMagnitude(row).slice(0, 5)) {
      if (row[j] === 0) break;
      rows.push([clip(featureLabel(d, s, j), 40), signed(row[j])]);
    }
    tooltip.show(e.clientX, e.clientY, rows, `sample ${s}`);
  }

  canvas.addEventListener(
    "mousemove",
    (e) => {
      const d = decode();
      if (!d) return;
      const [x, y] = localPoint(e);
      if (resolvedMode(d) === "stacked") {
        const s = stackedSampleAt(d, x, y);
        if (s === null) tooltip.hide();
        else sampleTooltip(d, e, s);
        return;
      }
      const ht = hitAt(x, y);
      if (ht) featureTooltip(d, e, ht.feature, ht.value);
      else tooltip.hide();
    },
    on,
  );
  canvas.addEventListener("mouseleave", () => tooltip.hide(), on);
  canvas.addEventListener(
    "click",
    (e) => {
      const d = decode();
      if (!d) return;
      const [x, y] = localPoint(e);
      if (resolvedMode(d) === "stacked") {
        const s = stackedSampleAt(d, x, y);
        if (s !== null) setAndSave("index", s);
        return;
      }
      const ht = hitAt(x, y);
      if (ht && ht.feature !== OTHER) toggleFeature(ht.feature);
    },
    on,
  );
  labels.addEventListener(
    "click",
    (e) => {
      const t = (e.target as HTMLElement | null)?.closest?.(".xw-feature");
      const f = t?.getAttribute("data-feature");
      if (f && f !== "other") toggleFeature(Number(f));
    },
    on,
  );
  labels.addEventListener(
    "mouseover",
    (e) => {
      const d = decode();
      const t = (e.target as HTMLElement | null)?.closest?.(".xw-feature");
      const f = t?.getAttribute("data-feature");
      if (!d || !f || f === "other") return;
      const j = Number(f);
      featureTooltip(d, e as MouseEvent, j, d.values[currentIndex(d) * d.m + j]);
    },
    on,
  );
  labels.addEventListener("mouseleave", () => tooltip.hide(), on);

  function toggleFeature(j: number): void {
    setAndSave("feature", model.get("feature") === j ? null : j);
  }

  function setAndSave(name: string, value: unknown): void {
    model.set(name, value);
    model.save_changes();
  }

  modeSel.addEventListener("change", () => setAndSave("mode", modeSel.value), on);
  orderSel.addEventListener("change", () => setAndSave("order", orderSel.value), on);
  ySel.addEventListener("change", () => setAndSave("y_feature", ySel.value === "" ? null : Number(ySel.value)), on);
  indexIn.addEventListener(
    "change",
    () => {
      const v = Number(indexIn.value);
      if (Number.isInteger(v) && v >= 0 && v < nSamples) setAndSave("index", v);
      else indexIn.value = String(model.get("index"));
    },
    on,
  );
  download.addEventListener("click", () => exportPng(), on);

  function exportPng(): void {
    const c = colors();
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
    for (const l of labelDraws) {
      ctx.fillStyle = l.color;
      ctx.textAlign = l.align;
      ctx.fillText(l.text, l.x, l.y);
    }
    downloadCanvas(out, "force_plot.png");
  }

  const unlisten = listen(
    model,
    [
      "mode", "order", "link", "index", "feature", "y_feature", "max_features", "coverage", "output_name",
      "feature_names", "_values", "_base", "_data", "_data_text", "_similarity", "_by_output", "method",
    ],
    draw,
  );
  let raf = 0;
  const ro =
    typeof ResizeObserver !== "undefined"
      ? new ResizeObserver(() => {
          if (raf) return;
          raf = requestAnimationFrame(() => {
            raf = 0;
            if (firstDrawn && Math.abs(cssWidth() - drawnWidth) > 2) draw();
          });
        })
      : null;
  ro?.observe(body);
  draw();

  return () => {
    ac.abort();
    unlisten();
    ro?.disconnect();
    if (raf) cancelAnimationFrame(raf);
    tooltip.hide();
    root.remove();
  };
}

export default { render };
export { render };
