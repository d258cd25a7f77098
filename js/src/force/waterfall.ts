/** The waterfall of one row: the base value at the bottom, one bar per feature (largest at the top), the output on top. */
import { hiDpi } from "../lib/canvas";
import { cssColor } from "../lib/colormaps";
import { OTHER, axisTicks, collapseFeatures, lighten, paddedRange, waterfallRows } from "../lib/force_layout";
import { formatValue } from "../lib/scale";
import { NEG, POS, addLabel, chevron, clearLabels, clip, signed } from "./labels";
import type { ForceData } from "./state";
import { LABEL_FONT_PX, emptyDrawn, type Drawn, type ViewContext } from "./view";

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
  const font = `${LABEL_FONT_PX}px ${c.font}`;
  const texts = rows.map((r) =>
    r.feature === OTHER ? `${col.otherCount} other feature${col.otherCount === 1 ? "" : "s"}` : clip(st0.featureLabel(d, i, r.feature), 40),
  );
  const W = vc.width();
  const labelW = Math.min(Math.round(W * 0.38), Math.max(80, ...texts.map((t) => vc.textWidth(t, font) + 8)));
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
  const ctx = hiDpi(vc.canvas, W, H);
  if (!ctx) return null;
  const drawn = emptyDrawn(W);
  ctx.fillStyle = c.bg;
  ctx.fillRect(0, 0, W, H);
  clearLabels(vc);

  // grid + axis
  const ticks = axisTicks(lo, hi, link, Math.max(3, Math.floor((W - left - right) / 100)));
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
  const baseText = `base value E[${outputName}] = ${link === "logit" ? st0.outputText(base) : formatValue(base)}`;
  const bw = ctx.measureText(baseText).width;
  ctx.fillStyle = c.fg2;
  ctx.textAlign = "left";
  ctx.textBaseline = "top";
  ctx.fillText(baseText, Math.max(left, Math.min(W - bw - 4, X(base) - bw / 2)), plotBot + 22);
  ctx.font = `600 12px ${c.font}`;
  const outText = `${outputName} = ${st0.outputText(output)}`;
  const ow = ctx.measureText(outText).width;
  ctx.fillStyle = c.fg;
  ctx.textBaseline = "middle";
  ctx.fillText(outText, Math.max(left, Math.min(W - ow - 4, X(output) - ow / 2)), 14);

  // bars
  const selected = st0.selectedFeature();
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
    drawn.hits.push({ x0: Math.min(x0, x1) - 2, x1: Math.max(x0, x1) + 2, y0: y - 10, y1: y + 10, feature: r.feature, value: r.value });
    const name = r.feature === OTHER ? `${col.otherCount} features collapsed into "other"` : d.names[r.feature];
    const tw = Math.min(labelW - 8, vc.textWidth(texts[k], font));
    addLabel(vc, drawn, r.feature, texts[k], labelW - tw - 6, y - 9, tw, c.fg, "right", name);
  });
  vc.setStatus(
    `sample ${i}${d.n > 1 ? ` of ${d.n}` : ""} · base value ${formatValue(base)} → ${outputName} ${st0.outputText(output)} · ` +
      `${col.kept.length} of ${m} features, largest at the top · click a feature to select it`,
  );
  return drawn;
}
