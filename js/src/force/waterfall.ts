/** The waterfall of one row: the base value at the bottom, one bar per feature (largest at the top), the output on top. */
import { hiDpi } from "../lib/canvas";
import { cssColor, type RGB } from "../lib/colormaps";
import { OTHER, collapseFeatures, lighten, paddedRange, waterfallRows } from "../lib/force_layout";
import { formatValue } from "../lib/scale";
import { inkOn } from "./colors";
import { NEG, POS, addLabel, chevron, clearLabels, clip, drawText, signed } from "./labels";
import { layoutWaterfall } from "./layout";
import type { ForceData } from "./state";
import { emptyDrawn, type Drawn, type ViewContext } from "./view";

/** A waterfall bar's fill: the sign colour, lighter for "other". */
export function barColor(value: number, other: boolean): RGB {
  const c = value >= 0 ? POS : NEG;
  return other ? lighten(c, 0.5) : c;
}

export function drawWaterfall(vc: ViewContext, d: ForceData, i: number): Drawn | null {
  const st0 = vc.state;
  const m = d.m;
  const row = d.values.subarray(i * m, (i + 1) * m);
  const base = d.base[i];
  const col = collapseFeatures(row, st0.maxFeatures(), st0.coverage());
  const rows = waterfallRows(row, base, col);
  const output = rows.length ? rows[rows.length - 1].end : base;
  const c = vc.colors();
  const link = st0.link();
  const outputName = st0.outputName();
  let lo = Math.min(base, output);
  let hi = Math.max(base, output);
  for (const r of rows) {
    lo = Math.min(lo, r.start, r.end);
    hi = Math.max(hi, r.start, r.end);
  }
  [lo, hi] = paddedRange(lo, hi, 0.04);
  const W = vc.width();
  const L = layoutWaterfall(
    {
      width: W,
      family: c.font,
      lo,
      hi,
      link,
      base,
      output,
      rows: rows.map((r) => ({
        ...r,
        label: r.feature === OTHER ? `${col.otherCount} other feature${col.otherCount === 1 ? "" : "s"}` : clip(st0.featureLabel(d, i, r.feature), 40),
        valueText: signed(r.value),
      })),
      outText: `${outputName} = ${st0.outputText(output)}`,
      baseText: `base value E[${outputName}] = ${link === "logit" ? st0.outputText(base) : formatValue(base)}`,
    },
    vc.textWidth,
  );
  const { X, Y, top, rowH, plotBot } = L;
  const R = rows.length;
  const H = L.height;
  const ctx = hiDpi(vc.canvas, W, H);
  if (!ctx) return null;
  const drawn = emptyDrawn(W);
  ctx.fillStyle = c.bg;
  ctx.fillRect(0, 0, W, H);
  clearLabels(vc);

  // grid + axis
  ctx.strokeStyle = c.border;
  ctx.globalAlpha = 0.45;
  ctx.lineWidth = 1;
  for (const t of L.ticks) {
    const x = Math.round(t.at) + 0.5;
    ctx.beginPath();
    ctx.moveTo(x, top - 4);
    ctx.lineTo(x, plotBot);
    ctx.stroke();
  }
  ctx.globalAlpha = 1;
  ctx.beginPath();
  ctx.moveTo(L.left, plotBot + 0.5);
  ctx.lineTo(W - L.right, plotBot + 0.5);
  ctx.stroke();
  for (const t of L.ticks) if (t.label) drawText(ctx, t.label, c.fg2);

  // base (bottom) and output (top) lines
  ctx.setLineDash([3, 3]);
  ctx.strokeStyle = c.fg2;
  ctx.beginPath();
  ctx.moveTo(Math.round(X(base)) + 0.5, top + (R - 1) * rowH + 4);
  ctx.lineTo(Math.round(X(base)) + 0.5, plotBot);
  ctx.moveTo(Math.round(X(output)) + 0.5, 24);
  ctx.lineTo(Math.round(X(output)) + 0.5, top + rowH - 4);
  ctx.stroke();
  ctx.setLineDash([]);
  drawText(ctx, L.baseLabel, c.fg2);
  drawText(ctx, L.out, c.fg);

  // bars
  const selected = st0.selectedFeature();
  rows.forEach((r, k) => {
    const y = Y(k);
    const lay = L.rows[k];
    const up = r.value >= 0;
    const fill = barColor(r.value, r.feature === OTHER);
    chevron(ctx, lay.bar.x0, lay.bar.x1, lay.bar.y0, lay.bar.y1, up, false);
    ctx.fillStyle = cssColor(fill);
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
    // the value beside its bar in the sign's text colour, or on the bar in black/white
    drawText(ctx, lay.value, lay.onBar ? cssColor(inkOn(fill)) : up ? c.posText : c.negText);
    drawn.hits.push({ x0: lay.bar.x0 - 2, x1: lay.bar.x1 + 2, y0: y - 10, y1: y + 10, feature: r.feature, value: r.value });
    const name = r.feature === OTHER ? `${col.otherCount} features collapsed into "other"` : d.names[r.feature];
    addLabel(vc, drawn, r.feature, lay.label.text, lay.label.box, r.feature === OTHER ? c.fg2 : c.fg, "right", name);
  });
  vc.setStatus(
    `sample ${i}${d.n > 1 ? ` of ${d.n}` : ""} · base value ${formatValue(base)} → ${outputName} ${st0.outputText(output)} · ` +
      `${col.kept.length} of ${m} features, largest at the top · click a feature to select it`,
  );
  return drawn;
}
