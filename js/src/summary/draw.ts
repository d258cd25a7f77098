/**
 * SummaryPlot's three drawings on one canvas: beeswarm (dots stamped into an
 * ImageData, no per-dot canvas calls), bar (mean |value|, stacked or grouped
 * per output) and dependence scatter. Each returns what the pointer needs
 * (dot positions per row, bar boxes). Text goes through fillText only.
 */
import { hiDpi } from "../lib/canvas";
import { contrastRatio, cssColor, readableText, type RGB } from "../lib/colormaps";
import { parseColor, resolvedColors } from "../lib/theme";
import { formatValue } from "../lib/scale";
import {
  collapse, colorUnit, featureOrder, fitLabel, HIGH, LOW, niceTicks, otherLabel, paddedExtent, redBlue, rowHeight, swarmOffsets,
} from "./layout";
import type { SummaryData, SummaryState } from "./state";

export const FONT_PX = 12;
/** One colour per output in the multi-output bar plot (matplotlib's tab10, as the static picture). */
export const OUTPUT_COLORS: RGB[] = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
];

export interface Palette {
  bg: string;
  bgRGB: RGB;
  fg: string;
  fg2: string;
  grid: string;
  font: string;
  dark: boolean;
}

/** Theme colours with text that reads on the background (>= 4.6:1, else black or white). */
export function palette(root: HTMLElement): Palette {
  const c = resolvedColors(root);
  const bg = (parseColor(c.bg) ?? [255, 255, 255]) as RGB;
  const dark = bg[0] * 0.299 + bg[1] * 0.587 + bg[2] * 0.114 < 128;
  const readable = (css: string): string => {
    const rgb = parseColor(css);
    return rgb && contrastRatio(rgb, bg) >= 4.6 ? cssColor(rgb) : cssColor(readableText(bg));
  };
  return {
    bg: cssColor(bg), bgRGB: bg, fg: readable(c.fg), fg2: readable(c.fg2), font: c.font, dark,
    grid: dark ? "rgba(255,255,255,0.16)" : "rgba(0,0,0,0.12)",
  };
}

export interface Plot {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface Row {
  /** feature index, -1 for the "other features" row */
  feature: number;
  y: number;
  h: number;
  /** dot centres (beeswarm), CSS px, one per sample */
  xs?: Float32Array;
  ys?: Float32Array;
  /** bar boxes (bar plot): [x0, x1, output] per output */
  bars?: [number, number, number][];
  value?: number;
}

export interface Drawn {
  kind: string;
  width: number;
  height: number;
  plot: Plot;
  rows: Row[];
  rest: number[];
  /** scatter: dot centres, the feature on x and the colour feature */
  xs?: Float32Array;
  ys?: Float32Array;
  feature?: number;
  color?: number;
  /** labels drawn on the canvas (the PNG export redraws nothing else) */
  labelBoxes: { feature: number; x0: number; x1: number; y0: number; y1: number }[];
}

export interface DrawContext {
  canvas: HTMLCanvasElement;
  state: SummaryState;
  width: number;
  pal: Palette;
}

function measureWith(ctx: CanvasRenderingContext2D, font: string): (s: string) => number {
  return (s: string) => {
    ctx.font = font;
    return ctx.measureText(s).width;
  };
}

/** Stamp filled discs into RGBA pixels (opaque, later dots over earlier). */
function stampDots(img: ImageData, xs: ArrayLike<number>, ys: ArrayLike<number>, colors: (i: number) => RGB, rCss: number, dpr: number): void {
  const w = img.width;
  const h = img.height;
  const px = new Uint32Array(img.data.buffer, img.data.byteOffset, w * h);
  const r = Math.max(1, rCss * dpr);
  const ri = Math.ceil(r);
  const offs: number[] = [];
  for (let dy = -ri; dy <= ri; dy++) for (let dx = -ri; dx <= ri; dx++) if (dx * dx + dy * dy <= r * r + 0.5) offs.push(dx, dy);
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    const y = ys[i];
    if (Number.isNaN(x) || Number.isNaN(y)) continue;
    const cx = Math.round(x * dpr);
    const cy = Math.round(y * dpr);
    const c = colors(i);
    const packed = (255 << 24) | (c[2] << 16) | (c[1] << 8) | c[0];
    for (let k = 0; k < offs.length; k += 2) {
      const X = cx + offs[k];
      const Y = cy + offs[k + 1];
      if (X >= 0 && X < w && Y >= 0 && Y < h) px[Y * w + X] = packed;
    }
  }
}

function ring(ctx: CanvasRenderingContext2D, x: number, y: number, pal: Palette): void {
  ctx.beginPath();
  ctx.arc(x, y, 6, 0, Math.PI * 2);
  ctx.lineWidth = 3;
  ctx.strokeStyle = pal.bg;
  ctx.stroke();
  ctx.lineWidth = 1.6;
  ctx.strokeStyle = pal.fg;
  ctx.stroke();
}

function xAxis(ctx: CanvasRenderingContext2D, p: Plot, lo: number, hi: number, title: string, pal: Palette, measure: (s: string) => number): void {
  const X = (v: number) => p.left + ((v - lo) / (hi - lo)) * p.width;
  const y = p.top + p.height;
  ctx.strokeStyle = pal.fg2;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(p.left, y + 0.5);
  ctx.lineTo(p.left + p.width, y + 0.5);
  ctx.stroke();
  const ticks = niceTicks(lo, hi, Math.max(3, Math.floor(p.width / 70)));
  ctx.fillStyle = pal.fg2;
  ctx.font = `${FONT_PX - 1}px ${pal.font}`;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  let lastRight = -Infinity;
  for (const t of ticks) {
    const x = X(t);
    const s = formatValue(t);
    const w = measure(s);
    ctx.beginPath();
    ctx.moveTo(x + 0.5, y);
    ctx.lineTo(x + 0.5, y + 4);
    ctx.stroke();
    if (x - w / 2 < lastRight + 6 || x + w / 2 > p.left + p.width + 20) continue;
    ctx.fillText(s, x, y + 6);
    lastRight = x + w / 2;
  }
  ctx.fillStyle = pal.fg;
  ctx.font = `${FONT_PX}px ${pal.font}`;
  ctx.fillText(fitLabel(title, p.width, measure), p.left + p.width / 2, y + 22);
}

/** Vertical colour bar (low blue at the bottom, high red at the top) at x, from y0 to y1. */
function colorBar(ctx: CanvasRenderingContext2D, x: number, y0: number, y1: number, label: string, pal: Palette, measure: (s: string) => number): void {
  const h = Math.max(20, y1 - y0 - 32);
  const top = y0 + 16;
  for (let i = 0; i < h; i++) {
    ctx.fillStyle = cssColor(redBlue(1 - i / (h - 1)));
    ctx.fillRect(x, top + i, 8, 1.2);
  }
  ctx.fillStyle = pal.fg2;
  ctx.font = `${FONT_PX - 1}px ${pal.font}`;
  ctx.textAlign = "center";
  ctx.textBaseline = "bottom";
  ctx.fillText("high", x + 4, top - 2);
  ctx.textBaseline = "top";
  ctx.fillText("low", x + 4, top + h + 2);
  ctx.save();
  ctx.translate(x + 22, top + h / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText(fitLabel(label, h, measure), 0, 0);
  ctx.restore();
}

function rowLabels(ctx: CanvasRenderingContext2D, rows: Row[], names: string[], rest: number[], p: Plot, selected: number | null, pal: Palette, measure: (s: string) => number, out: Drawn): void {
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const r of rows) {
    const bold = r.feature >= 0 && r.feature === selected;
    const font = `${bold ? "600 " : ""}${FONT_PX}px ${pal.font}`;
    ctx.font = font;
    const text = r.feature >= 0 ? names[r.feature] : otherLabel(rest.length);
    const fitted = fitLabel(text, p.left - 12, (s) => {
      ctx.font = font;
      return ctx.measureText(s).width;
    });
    ctx.fillStyle = r.feature >= 0 ? pal.fg : pal.fg2;
    ctx.fillText(fitted, p.left - 8, r.y + r.h / 2);
    out.labelBoxes.push({ feature: r.feature, x0: 0, x1: p.left - 4, y0: r.y, y1: r.y + r.h });
  }
  void measure;
}

function labelColumn(ctx: CanvasRenderingContext2D, labels: string[], width: number, font: string): number {
  ctx.font = font;
  let w = 0;
  for (const s of labels) w = Math.max(w, ctx.measureText(s).width);
  return Math.ceil(Math.min(w + 16, Math.max(70, width * 0.36)));
}

export function drawBeeswarm(dc: DrawContext, d: SummaryData): Drawn {
  const { canvas, state, width: W, pal } = dc;
  const o = state.output(d);
  const { shown, rest } = collapse(featureOrder(d.meanAbs.subarray(o * d.m, (o + 1) * d.m), 1, d.m), state.maxDisplay());
  const rowsF = [...shown, ...(rest.length ? [-1] : [])];
  const rh = rowHeight(rowsF.length);
  const cbW = d.data ? 40 : 0;
  const probe = canvas.getContext("2d");
  const font = `${FONT_PX}px ${pal.font}`;
  const labelW = probe ? labelColumn(probe, rowsF.map((j) => (j >= 0 ? d.names[j] : otherLabel(rest.length))), W, `600 ${font}`) : 120;
  const p: Plot = { left: labelW, top: 8, width: Math.max(40, W - labelW - cbW - 14), height: rowsF.length * rh };
  const H = p.top + p.height + 42;
  const ctx = hiDpi(canvas, W, H);
  const out: Drawn = { kind: "beeswarm", width: W, height: H, plot: p, rows: [], rest, labelBoxes: [] };
  if (!ctx) return out;
  const dpr = canvas.width / W;
  const measure = measureWith(ctx, font);
  const cols = rowsF.map((j) => state.column(d, o, j, rest));
  let lo = Infinity;
  let hi = -Infinity;
  for (const c of cols) for (let i = 0; i < c.length; i++) {
    if (c[i] < lo) lo = c[i];
    if (c[i] > hi) hi = c[i];
  }
  [lo, hi] = paddedExtent([lo, hi, 0], false);
  const X = (v: number) => p.left + ((v - lo) / (hi - lo)) * p.width;
  ctx.fillStyle = pal.bg;
  ctx.fillRect(0, 0, W, H);
  const sel = state.feature(d);
  ctx.strokeStyle = pal.grid;
  ctx.lineWidth = 1;
  rowsF.forEach((j, r) => {
    const y = p.top + r * rh;
    if (j >= 0 && j === sel) {
      ctx.fillStyle = pal.grid;
      ctx.fillRect(0, y, p.left + p.width, rh);
    }
    ctx.setLineDash([2, 3]);
    ctx.beginPath();
    ctx.moveTo(p.left, y + rh / 2 + 0.5);
    ctx.lineTo(p.left + p.width, y + rh / 2 + 0.5);
    ctx.stroke();
    ctx.setLineDash([]);
  });
  ctx.strokeStyle = pal.fg2;
  ctx.beginPath();
  ctx.moveTo(X(0) + 0.5, p.top);
  ctx.lineTo(X(0) + 0.5, p.top + p.height);
  ctx.stroke();
  const img = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const grey: RGB = pal.dark ? [150, 150, 150] : [128, 128, 128];
  rowsF.forEach((j, r) => {
    const col = cols[r];
    const offs = swarmOffsets(col);
    let mx = 0;
    for (let i = 0; i < offs.length; i++) mx = Math.max(mx, Math.abs(offs[i]));
    const yc = p.top + (r + 0.5) * rh;
    const s = (0.42 * rh) / (mx + 1);
    const xs = new Float32Array(d.n);
    const ys = new Float32Array(d.n);
    for (let i = 0; i < d.n; i++) {
      xs[i] = X(col[i]);
      ys[i] = yc + offs[i] * s;
    }
    const data = d.data;
    const lo_ = j >= 0 ? d.clo[j] : 0;
    const hi_ = j >= 0 ? d.chi[j] : 1;
    const color = data && j >= 0 ? (i: number) => redBlue(colorUnit(data[i * d.m + j], lo_, hi_)) : () => grey;
    stampDots(img, xs, ys, color, d.n > 3000 ? 1.6 : 2.2, dpr);
    out.rows.push({ feature: j, y: p.top + r * rh, h: rh, xs, ys });
  });
  ctx.putImageData(img, 0, 0);
  const idx = state.index(d);
  if (idx !== null) for (const r of out.rows) ring(ctx, r.xs![idx], r.ys![idx], pal);
  rowLabels(ctx, out.rows, d.names, rest, p, sel, pal, measure, out);
  xAxis(ctx, p, lo, hi, W < 520 ? "SHAP value" : "SHAP value (impact on model output)", pal, measure);
  if (d.data) colorBar(ctx, W - cbW + 4, p.top, p.top + p.height, "feature value", pal, measure);
  return out;
}

export function drawBar(dc: DrawContext, d: SummaryData): Drawn {
  const { canvas, state, width: W, pal } = dc;
  const { shown, rest } = collapse(featureOrder(d.meanAbs, d.k, d.m), state.maxDisplay());
  const rowsF = [...shown, ...(rest.length ? [-1] : [])];
  const grouped = d.k > 1 && state.barMode() === "grouped";
  const rh = Math.max(rowHeight(rowsF.length), grouped ? Math.min(40, 8 + 7 * d.k) : 0);
  const probe = canvas.getContext("2d");
  const font = `${FONT_PX}px ${pal.font}`;
  const labelW = probe ? labelColumn(probe, rowsF.map((j) => (j >= 0 ? d.names[j] : otherLabel(rest.length))), W, `600 ${font}`) : 120;
  const valueW = d.k === 1 ? 52 : 8;
  const p: Plot = { left: labelW, top: 8, width: Math.max(40, W - labelW - valueW - 10), height: rowsF.length * rh };
  const H = p.top + p.height + 42;
  const ctx = hiDpi(canvas, W, H);
  const out: Drawn = { kind: "bar", width: W, height: H, plot: p, rows: [], rest, labelBoxes: [] };
  if (!ctx) return out;
  const measure = measureWith(ctx, font);
  // height per row and output: the feature's mean |value|, or the sum over the collapsed ones
  const hOf = (j: number, o: number) => (j >= 0 ? d.meanAbs[o * d.m + j] : rest.reduce((s, r) => s + d.meanAbs[o * d.m + r], 0));
  let hi = 0;
  for (const j of rowsF) {
    let tot = 0;
    for (let o = 0; o < d.k; o++) tot = grouped ? Math.max(tot, hOf(j, o)) : tot + hOf(j, o);
    hi = Math.max(hi, tot);
  }
  hi = hi > 0 ? hi * 1.04 : 1;
  const X = (v: number) => p.left + (v / hi) * p.width;
  ctx.fillStyle = pal.bg;
  ctx.fillRect(0, 0, W, H);
  const sel = state.feature(d);
  rowsF.forEach((j, r) => {
    const y = p.top + r * rh;
    if (j >= 0 && j === sel) {
      ctx.fillStyle = pal.grid;
      ctx.fillRect(0, y, p.left + p.width + valueW, rh);
    }
    const bars: [number, number, number][] = [];
    let left = 0;
    let total = 0;
    for (let o = 0; o < d.k; o++) {
      const v = hOf(j, o);
      total += v;
      const c = d.k === 1 ? HIGH : OUTPUT_COLORS[o % OUTPUT_COLORS.length];
      ctx.fillStyle = cssColor(c);
      if (grouped) {
        const bh = (rh * 0.8) / d.k;
        ctx.fillRect(X(0), y + rh * 0.1 + o * bh, X(v) - X(0), Math.max(1, bh - 1));
        bars.push([X(0), X(v), o]);
      } else {
        const bh = rh * 0.7;
        ctx.fillRect(X(left), y + (rh - bh) / 2, X(left + v) - X(left), bh);
        bars.push([X(left), X(left + v), o]);
        left += v;
      }
    }
    if (d.k === 1) {
      ctx.fillStyle = pal.fg2;
      ctx.font = `${FONT_PX - 1}px ${pal.font}`;
      ctx.textAlign = "left";
      ctx.textBaseline = "middle";
      ctx.fillText(`+${formatValue(total)}`, X(total) + 4, y + rh / 2);
    }
    out.rows.push({ feature: j, y, h: rh, bars, value: total });
  });
  ctx.strokeStyle = pal.fg2;
  ctx.beginPath();
  ctx.moveTo(p.left + 0.5, p.top);
  ctx.lineTo(p.left + 0.5, p.top + p.height);
  ctx.stroke();
  rowLabels(ctx, out.rows, d.names, rest, p, sel, pal, measure, out);
  xAxis(ctx, p, 0, hi, "mean(|SHAP value|)", pal, measure);
  return out;
}

export function drawScatter(dc: DrawContext, d: SummaryData): Drawn {
  const { canvas, state, width: W, pal } = dc;
  const o = state.output(d);
  const f = state.feature(d) ?? featureOrder(d.meanAbs.subarray(o * d.m, (o + 1) * d.m), 1, d.m)[0];
  const c = state.colorFeature(d, f);
  const data = d.data!;
  const cbW = c >= 0 ? 40 : 0;
  const p: Plot = { left: 62, top: 10, width: Math.max(60, W - 62 - cbW - 14), height: Math.min(340, Math.max(200, Math.round(W * 0.45))) };
  const H = p.top + p.height + 42;
  const ctx = hiDpi(canvas, W, H);
  const out: Drawn = { kind: "scatter", width: W, height: H, plot: p, rows: [], rest: [], labelBoxes: [], feature: f, color: c };
  if (!ctx) return out;
  const dpr = canvas.width / W;
  const font = `${FONT_PX}px ${pal.font}`;
  const measure = measureWith(ctx, font);
  const xv = new Float32Array(d.n);
  for (let i = 0; i < d.n; i++) xv[i] = data[i * d.m + f];
  const yv = state.column(d, o, f);
  const [xlo, xhi] = paddedExtent(xv, false);
  const [ylo, yhi] = paddedExtent(yv, true);
  const X = (v: number) => p.left + ((v - xlo) / (xhi - xlo)) * p.width;
  const Y = (v: number) => p.top + (1 - (v - ylo) / (yhi - ylo)) * p.height;
  ctx.fillStyle = pal.bg;
  ctx.fillRect(0, 0, W, H);
  ctx.strokeStyle = pal.grid;
  ctx.beginPath();
  ctx.moveTo(p.left, Y(0) + 0.5);
  ctx.lineTo(p.left + p.width, Y(0) + 0.5);
  ctx.stroke();
  const xs = new Float32Array(d.n);
  const ys = new Float32Array(d.n);
  for (let i = 0; i < d.n; i++) {
    xs[i] = Number.isNaN(xv[i]) ? NaN : X(xv[i]);
    ys[i] = Y(yv[i]);
  }
  const img = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const color = c >= 0 ? (i: number) => redBlue(colorUnit(data[i * d.m + c], d.clo[c], d.chi[c])) : () => LOW;
  stampDots(img, xs, ys, color, d.n > 3000 ? 1.8 : 2.5, dpr);
  ctx.putImageData(img, 0, 0);
  const idx = state.index(d);
  if (idx !== null && !Number.isNaN(xs[idx])) ring(ctx, xs[idx], ys[idx], pal);
  out.xs = xs;
  out.ys = ys;
  // y axis
  ctx.strokeStyle = pal.fg2;
  ctx.beginPath();
  ctx.moveTo(p.left + 0.5, p.top);
  ctx.lineTo(p.left + 0.5, p.top + p.height);
  ctx.stroke();
  ctx.fillStyle = pal.fg2;
  ctx.font = `${FONT_PX - 1}px ${pal.font}`;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const t of niceTicks(ylo, yhi, Math.max(2, Math.floor(p.height / 50)))) ctx.fillText(formatValue(t), p.left - 6, Y(t));
  ctx.save();
  ctx.translate(12, p.top + p.height / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = "center";
  ctx.fillStyle = pal.fg;
  ctx.font = font;
  ctx.fillText(fitLabel(`SHAP value of ${d.names[f]}`, p.height, measure), 0, 0);
  ctx.restore();
  xAxis(ctx, p, xlo, xhi, d.names[f], pal, measure);
  if (c >= 0) colorBar(ctx, W - cbW + 4, p.top, p.top + p.height, d.names[c], pal, measure);
  return out;
}
