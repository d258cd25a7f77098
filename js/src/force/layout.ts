/**
 * Where each view puts its texts, bars and labels, for a given width — pure
 * geometry in CSS pixels, with text widths from a `measure` function (a
 * canvas in the browser, a stub in tests: js/test/force_views.test.ts). The
 * rules the views keep:
 *  - every text lies inside [0, width] (nothing is cut at an output width of
 *    400 px or more: texts are moved inward, shortened with "…", or moved to
 *    a row of their own);
 *  - no text overlaps another text or a bar; the stacked plot's base value is
 *    named in the legend under the plot, not over the coloured areas.
 * Every text is drawn with textBaseline "middle" at (x, y).
 */
import { axisTicks, placeLabels } from "../lib/force_layout";

export type Measure = (text: string, font: string) => number;
export type Align = "left" | "right" | "center";

export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export interface TextItem {
  text: string;
  x: number;
  y: number;
  font: string;
  align: Align;
  /** the text's extent (for a rotated text, its extent on the page) */
  box: Box;
  /** what it is, for the painter and the tests */
  role: string;
  rotated?: boolean;
}

/** Smallest distance kept between a text and the canvas edge. */
export const EDGE = 3;

export function fonts(family: string) {
  return {
    tick: `10.5px ${family}`,
    small: `11px ${family}`,
    label: `12px ${family}`,
    bold: `600 12px ${family}`,
  };
}

const sizeOf = (font: string): number => parseFloat(font.replace(/^\d{3}\s+/, "")) || 12;

export function overlaps(a: Box, b: Box, gap = 0): boolean {
  return a.x0 < b.x1 + gap && b.x0 < a.x1 + gap && a.y0 < b.y1 + gap && b.y0 < a.y1 + gap;
}

export function inside(a: Box, width: number, height = Infinity): boolean {
  return a.x0 >= 0 && a.x1 <= width && a.y0 >= 0 && a.y1 <= height;
}

/** `text` shortened with "…" until it is at most `maxWidth` wide ("" when not even "…" fits). */
export function fitText(text: string, maxWidth: number, font: string, measure: Measure): string {
  if (measure(text, font) <= maxWidth) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (measure(text.slice(0, mid) + "…", font) <= maxWidth) lo = mid;
    else hi = mid - 1;
  }
  if (lo === 0) return measure("…", font) <= maxWidth ? "…" : "";
  return text.slice(0, lo).trimEnd() + "…";
}

export function textItem(role: string, text: string, x: number, y: number, font: string, align: Align, measure: Measure): TextItem {
  const w = measure(text, font);
  const s = sizeOf(font);
  const x0 = align === "left" ? x : align === "right" ? x - w : x - w / 2;
  return { role, text, x, y, font, align, box: { x0, x1: x0 + w, y0: y - 0.62 * s, y1: y + 0.62 * s } };
}

/** Move a text sideways into [lo, hi] (as far as its width allows). */
export function shiftInto(t: TextItem, lo: number, hi: number): TextItem {
  const w = t.box.x1 - t.box.x0;
  const x0 = Math.max(lo, Math.min(hi - w, t.box.x0));
  const dx = x0 - t.box.x0;
  return { ...t, x: t.x + dx, box: { ...t.box, x0: t.box.x0 + dx, x1: t.box.x1 + dx } };
}

export interface AxisTick {
  pos: number;
  /** where the tick mark goes (CSS px along the axis) */
  at: number;
  /** its label, or null where it would overlap a neighbour */
  label: TextItem | null;
}

/**
 * Horizontal axis ticks at height `y`: labels centred on their tick, moved
 * inside [EDGE, width - EDGE], and dropped where they would touch the label
 * kept before them.
 */
export function xTicks(lo: number, hi: number, link: string, count: number, X: (v: number) => number, y: number, width: number, font: string, measure: Measure): AxisTick[] {
  const out: AxisTick[] = [];
  let last: Box | null = null;
  for (const t of axisTicks(lo, hi, link, count)) {
    const at = X(t.pos);
    let label: TextItem | null = shiftInto(textItem("tick", t.label, at, y, font, "center", measure), EDGE, width - EDGE);
    if (last && label.box.x0 < last.x1 + 6) label = null;
    if (label) last = label.box;
    out.push({ pos: t.pos, at, label });
  }
  return out;
}

/** Rows of legend entries (a swatch then a text), wrapped to fit [x0, x1]. */
export interface LegendEntry {
  kind: string;
  swatch: Box;
  text: TextItem;
}

export function legendRows(entries: { kind: string; text: string }[], x0: number, x1: number, y: number, rowH: number, font: string, measure: Measure): { entries: LegendEntry[]; rows: number } {
  const sw = 14;
  const gap = 16;
  const out: LegendEntry[] = [];
  let x = x0;
  let row = 0;
  for (const e of entries) {
    const text = fitText(e.text, x1 - x0 - sw - 4, font, measure);
    const w = sw + 4 + measure(text, font);
    if (x > x0 && x + w > x1) {
      row++;
      x = x0;
    }
    const cy = y + row * rowH;
    out.push({
      kind: e.kind,
      swatch: { x0: x, x1: x + sw, y0: cy - 5, y1: cy + 5 },
      text: textItem(`legend-${e.kind}`, text, x + sw + 4, cy, font, "left", measure),
    });
    x += w + gap;
  }
  return { entries: out, rows: entries.length ? row + 1 : 0 };
}

/** What the one-row views (force bar, waterfall) share: the drawing width, font and the output axis. */
export interface RowPlotInput {
  width: number;
  family: string;
  /** padded axis range in output units */
  lo: number;
  hi: number;
  link: string;
  base: number;
  output: number;
}

// ------------------------------------------------------------------ single
export interface SingleInput extends RowPlotInput {
  /** every segment's extent in output units (for the bar's box) */
  segments: { lo: number; hi: number }[];
  /** feature labels in priority order, each under the middle of its segment */
  labels: { text: string; lo: number; hi: number }[];
  outText: string;
  baseText: string;
  /** the output's name (and the link), right of the legend */
  caption: string;
  legend: [string, string];
}

export interface SingleLayout {
  width: number;
  height: number;
  left: number;
  right: number;
  X: (v: number) => number;
  legend: TextItem[];
  caption: TextItem | null;
  out: TextItem;
  baseLabel: TextItem;
  axisY: number;
  ticks: AxisTick[];
  barTop: number;
  barBot: number;
  bar: Box;
  labelTop: number;
  rowH: number;
  /** per input label: its box (null: no room, hidden) and text (shortened to fit) */
  labels: { text: string; box: Box | null; center: number }[];
}

export const LABEL_PAD = 6; // a DOM label's padding + border, both sides
const LABEL_ROWS = 4;

export function layoutSingle(inp: SingleInput, measure: Measure): SingleLayout {
  const W = inp.width;
  const f = fonts(inp.family);
  const left = 14;
  const right = 14;
  const X = (v: number) => left + ((v - inp.lo) / (inp.hi - inp.lo)) * (W - left - right);

  // row 1: legend left, the output's name right (shortened to the room left)
  const legend: TextItem[] = [];
  let x = left;
  for (const t of inp.legend) {
    const it = textItem("legend", t, x, 9, f.small, "left", measure);
    legend.push(it);
    x = it.box.x1 + 10;
  }
  const room = W - right - (x + 2);
  const capText = fitText(inp.caption, room, f.small, measure);
  const caption = capText.length > 1 ? textItem("caption", capText, W - right, 9, f.small, "right", measure) : null;

  // row 2: the output (bold) and the base value, each over its position; the
  // base value takes a row of its own when both do not fit side by side
  const span = W - left - right;
  const outText = fitText(inp.outText, span, f.bold, measure);
  const baseText = fitText(inp.baseText, span, f.small, measure);
  const xo = X(inp.output);
  const xb = X(inp.base);
  let out = shiftInto(textItem("output", outText, xo, 24, f.bold, "center", measure), left, W - right);
  let base = shiftInto(textItem("base", baseText, xb, 24, f.small, "center", measure), left, W - right);
  const clash = () => overlaps(out.box, base.box, 10);
  if (clash()) {
    const bw = base.box.x1 - base.box.x0;
    const ow = out.box.x1 - out.box.x0;
    // the base label on its own side of the output label, then both pushed apart
    const place = (b0: number, o0: number) => {
      base = shiftInto({ ...base, box: { ...base.box, x0: b0, x1: b0 + bw }, x: b0 + bw / 2 }, left, W - right);
      out = shiftInto({ ...out, box: { ...out.box, x0: o0, x1: o0 + ow }, x: o0 + ow / 2 }, left, W - right);
    };
    if (xb <= xo) place(out.box.x0 - 12 - bw, out.box.x0);
    else place(out.box.x1 + 12, out.box.x0);
    if (clash()) {
      if (xb <= xo) place(left, Math.max(out.box.x0, left + bw + 12));
      else place(W - right - bw, Math.min(out.box.x0, W - right - bw - 12 - ow));
    }
  }
  let y = 24;
  if (clash()) {
    y += 16;
    base = shiftInto(textItem("base", baseText, xb, y, f.small, "center", measure), left, W - right);
  }

  // axis, bar, labels below
  const tickY = y + 16;
  const axisY = tickY + 11;
  const ticks = xTicks(inp.lo, inp.hi, inp.link, Math.max(3, Math.floor(W / 110)), X, tickY, W, f.tick, measure);
  const barTop = axisY + 9;
  const barBot = barTop + 24;
  let b0 = Infinity;
  let b1 = -Infinity;
  for (const s of inp.segments) {
    b0 = Math.min(b0, X(s.lo));
    b1 = Math.max(b1, X(s.hi));
  }
  const bar = { x0: Number.isFinite(b0) ? b0 : X(inp.base), x1: Number.isFinite(b1) ? b1 : X(inp.base), y0: barTop, y1: barBot };
  const labelTop = barBot + 12;
  const rowH = 20;
  const texts = inp.labels.map((l) => fitText(l.text, W - 2 * EDGE - LABEL_PAD - 1, f.label, measure));
  const items = texts.map((t, k) => ({ center: X((inp.labels[k].lo + inp.labels[k].hi) / 2), width: measure(t, f.label) + LABEL_PAD }));
  // a DOM label's width is rounded up to whole pixels: keep one spare
  const place = placeLabels(items, LABEL_ROWS, 0, W - 1, 8);
  const labels = place.map((p, k) => ({
    text: texts[k],
    center: items[k].center,
    box: p.row < 0 ? null : { x0: p.x, x1: p.x + items[k].width, y0: labelTop + p.row * rowH, y1: labelTop + p.row * rowH + 16 },
  }));
  const rows = Math.max(1, ...place.map((p) => p.row + 1));
  return {
    width: W,
    height: labelTop + rows * rowH + 6,
    left,
    right,
    X,
    legend,
    caption,
    out,
    baseLabel: base,
    axisY,
    ticks,
    barTop,
    barBot,
    bar,
    labelTop,
    rowH,
    labels,
  };
}

// --------------------------------------------------------------- waterfall
export interface WaterfallInput extends RowPlotInput {
  /** bottom to top */
  rows: { start: number; end: number; value: number; label: string; valueText: string }[];
  outText: string;
  baseText: string;
}

export interface WaterfallLayout {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  rowH: number;
  plotBot: number;
  labelW: number;
  X: (v: number) => number;
  /** centre y of row k (k from the bottom) */
  Y: (k: number) => number;
  ticks: AxisTick[];
  out: TextItem;
  baseLabel: TextItem;
  /** per row: the bar, its value text, whether that text sits on the bar, the DOM label */
  rows: { bar: Box; value: TextItem; onBar: boolean; label: { text: string; box: Box } }[];
}

export function layoutWaterfall(inp: WaterfallInput, measure: Measure): WaterfallLayout {
  const W = inp.width;
  const f = fonts(inp.family);
  const labelW = Math.min(Math.round(W * 0.38), Math.max(80, ...inp.rows.map((r) => measure(r.label, f.label) + 8)));
  const left = labelW + 14;
  const right = 64;
  const top = 40;
  const rowH = 24;
  const R = inp.rows.length;
  const plotBot = top + R * rowH;
  const X = (v: number) => left + ((v - inp.lo) / (inp.hi - inp.lo)) * (W - left - right);
  const Y = (k: number) => top + (R - 1 - k) * rowH + rowH / 2;
  const ticks = xTicks(inp.lo, inp.hi, inp.link, Math.max(3, Math.floor((W - left - right) / 100)), X, plotBot + 11, W, f.tick, measure);
  const full = W - 2 * EDGE;
  const out = shiftInto(textItem("output", fitText(inp.outText, full, f.bold, measure), X(inp.output), 14, f.bold, "center", measure), EDGE, W - EDGE);
  const baseLabel = shiftInto(
    textItem("base", fitText(inp.baseText, full, f.small, measure), X(inp.base), plotBot + 28, f.small, "center", measure),
    EDGE,
    W - EDGE,
  );
  const rows = inp.rows.map((r, k) => {
    const y = Y(k);
    const x0 = X(Math.min(r.start, r.end));
    const x1 = Math.max(X(Math.max(r.start, r.end)), x0 + 1);
    const bar = { x0, x1, y0: y - 8, y1: y + 8 };
    const vw = measure(r.valueText, f.small);
    let value: TextItem;
    let onBar = false;
    if (x1 + 5 + vw <= W - EDGE) value = textItem("value", r.valueText, x1 + 5, y, f.small, "left", measure);
    else if (x0 - 5 - vw >= left) value = textItem("value", r.valueText, x0 - 5, y, f.small, "right", measure);
    else {
      // no room beside the bar: on it, in black or white by the bar's colour
      onBar = true;
      value = shiftInto(textItem("value", r.valueText, (x0 + x1) / 2, y, f.small, "center", measure), Math.max(left, x0 + 2), W - EDGE);
    }
    const text = fitText(r.label, labelW - 8 - LABEL_PAD, f.label, measure);
    const tw = measure(text, f.label);
    const label = { text, box: { x0: labelW - tw - LABEL_PAD, x1: labelW, y0: y - 9, y1: y + 7 } };
    return { bar, value, onBar, label };
  });
  return { width: W, height: plotBot + 44, left, right, top, rowH, plotBot, labelW, X, Y, ticks, out, baseLabel, rows };
}

// ----------------------------------------------------------------- stacked
export interface StackedInput {
  width: number;
  family: string;
  /** y range (output units) and how to label it */
  lo: number;
  hi: number;
  link: string;
  yLabel: string;
  caption: string;
  legend: { kind: string; text: string }[];
}

export interface StackedLayout {
  width: number;
  height: number;
  /** the plot area */
  left: number;
  top: number;
  pw: number;
  ph: number;
  Y: (v: number) => number;
  ticks: { pos: number; at: number; label: TextItem | null }[];
  yLabel: TextItem;
  caption: TextItem;
  legend: LegendEntry[];
}

export const STACKED_PLOT_H = 282;

export function layoutStacked(inp: StackedInput, measure: Measure): StackedLayout {
  const W = inp.width;
  const f = fonts(inp.family);
  const top = 14;
  const ph = STACKED_PLOT_H;
  const Y = (v: number) => top + ((inp.hi - v) / (inp.hi - inp.lo)) * ph;
  const raw = axisTicks(inp.lo, inp.hi, inp.link, 6).filter((t) => Y(t.pos) >= top - 1 && Y(t.pos) <= top + ph + 1);
  const tickW = Math.max(0, ...raw.map((t) => measure(t.label, f.tick)));
  // the rotated y label's band, the tick labels, the tick marks
  const band = 20;
  const left = Math.ceil(band + tickW + 10);
  const right = 16;
  const pw = Math.max(40, W - left - right);
  const ticks: StackedLayout["ticks"] = [];
  let last: Box | null = null;
  for (const t of raw) {
    const at = Y(t.pos);
    let label: TextItem | null = textItem("tick", t.label, left - 6, Math.max(top + 6, Math.min(top + ph - 6, at)), f.tick, "right", measure);
    if (last && label.box.y1 + 2 > last.y0 && label.box.y0 - 2 < last.y1) label = null;
    if (label) last = label.box;
    ticks.push({ pos: t.pos, at, label });
  }
  const yText = fitText(inp.yLabel, ph - 8, f.small, measure);
  const yw = measure(yText, f.small);
  const yLabel: TextItem = {
    role: "ylabel",
    text: yText,
    x: band / 2,
    y: top + ph / 2,
    font: f.small,
    align: "center",
    rotated: true,
    box: { x0: band / 2 - 7, x1: band / 2 + 7, y0: top + ph / 2 - yw / 2, y1: top + ph / 2 + yw / 2 },
  };
  const capY = top + ph + 14;
  const caption = shiftInto(
    textItem("caption", fitText(inp.caption, W - 2 * EDGE, f.small, measure), left + pw / 2, capY, f.small, "center", measure),
    EDGE,
    W - EDGE,
  );
  const rowH = 17;
  const lg = legendRows(inp.legend, Math.min(left, 24), W - EDGE, capY + 18, rowH, f.small, measure);
  const height = capY + 18 + Math.max(0, lg.rows - 1) * rowH + 14;
  return { width: W, height, left, top, pw, ph, Y, ticks, yLabel, caption, legend: lg.entries };
}
