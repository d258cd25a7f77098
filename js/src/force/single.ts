/** The force plot of one row: a horizontal bar of arrow segments from the base value to the output, labels below. */
import { hiDpi } from "../lib/canvas";
import { OTHER, collapseFeatures, forceStack, paddedRange, type Segment } from "../lib/force_layout";
import { formatValue } from "../lib/scale";
import { addLabel, chevron, clearLabels, clip, drawText, segColor } from "./labels";
import { layoutSingle } from "./layout";
import type { ForceData } from "./state";
import { emptyDrawn, type Drawn, type ViewContext } from "./view";

export function drawSingle(vc: ViewContext, d: ForceData, i: number): Drawn | null {
  const st0 = vc.state;
  const m = d.m;
  const row = d.values.subarray(i * m, (i + 1) * m);
  const base = d.base[i];
  const col = collapseFeatures(row, st0.maxFeatures(), st0.coverage());
  const st = forceStack(row, base, col);
  const segs = [...st.pos, ...st.neg];
  let lo = Math.min(base, st.output);
  let hi = Math.max(base, st.output);
  for (const s of segs) {
    lo = Math.min(lo, s.lo);
    hi = Math.max(hi, s.hi);
  }
  [lo, hi] = paddedRange(lo, hi, 0.05);
  const W = vc.width();
  const c = vc.colors();
  const link = st0.link();
  const outputName = st0.outputName();

  // labels: largest first, "other" last
  const ordered = [...segs].sort((a, b) => (a.feature === OTHER ? 1 : 0) - (b.feature === OTHER ? 1 : 0) || Math.abs(b.value) - Math.abs(a.value));
  const labelText = (s: Segment) =>
    s.feature === OTHER
      ? ((k) => `${s.value > 0 ? "+" : "−"} ${k} other${k === 1 ? "" : "s"}`)(s.value > 0 ? col.otherPosCount : col.otherNegCount)
      : clip(st0.featureLabel(d, i, s.feature));
  const L = layoutSingle(
    {
      width: W,
      family: c.font,
      lo,
      hi,
      link,
      base,
      output: st.output,
      segments: segs,
      labels: ordered.map((s) => ({ text: labelText(s), lo: s.lo, hi: s.hi })),
      outText: `${outputName} = ${st0.outputText(st.output)}`,
      baseText: `base value ${link === "logit" ? st0.outputText(base) : formatValue(base)}`,
      caption: link === "logit" ? `${outputName} · log-odds, ticks in probability` : outputName,
      legend: ["higher ▶", "◀ lower"],
    },
    vc.textWidth,
  );
  const X = L.X;
  const H = L.height;
  const ctx = hiDpi(vc.canvas, W, H);
  if (!ctx) return null;
  const drawn = emptyDrawn(W);
  ctx.fillStyle = c.bg;
  ctx.fillRect(0, 0, W, H);
  clearLabels(vc);

  // legend + caption
  drawText(ctx, L.legend[0], c.posText);
  drawText(ctx, L.legend[1], c.negText);
  if (L.caption) drawText(ctx, L.caption, c.fg2);

  // axis
  const axisY = L.axisY;
  ctx.strokeStyle = c.border;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(L.left, axisY + 0.5);
  ctx.lineTo(W - L.right, axisY + 0.5);
  ctx.stroke();
  for (const t of L.ticks) {
    const x = Math.round(t.at) + 0.5;
    ctx.strokeStyle = c.border;
    ctx.beginPath();
    ctx.moveTo(x, axisY - 3);
    ctx.lineTo(x, axisY + 3);
    ctx.stroke();
    if (t.label) drawText(ctx, t.label, c.fg2);
  }

  // segments
  const { barTop, barBot } = L;
  const rank = new Map<Segment, number>();
  st.pos.forEach((s, k) => rank.set(s, k));
  st.neg.forEach((s, k) => rank.set(s, k));
  const selected = st0.selectedFeature();
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
    drawn.hits.push({ x0, x1, y0: barTop, y1: barBot, feature: s.feature, value: s.value });
  }
  if (selected !== null) {
    const s = segs.find((g) => g.feature === selected);
    if (s) {
      chevron(ctx, X(s.lo), X(s.hi), barTop - 1, barBot + 1, s.value > 0, true);
      ctx.strokeStyle = c.fg;
      ctx.lineWidth = 2;
      ctx.stroke();
    }
  }

  // base value (dashed) and output (solid) from the axis through the bar
  const xb = Math.round(X(base)) + 0.5;
  ctx.setLineDash([3, 3]);
  ctx.strokeStyle = c.fg2;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(xb, axisY);
  ctx.lineTo(xb, barBot + 4);
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.strokeStyle = c.fg;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  ctx.moveTo(X(st.output), axisY - 4);
  ctx.lineTo(X(st.output), barBot + 4);
  ctx.stroke();
  drawText(ctx, L.out, c.fg);
  drawText(ctx, L.baseLabel, c.fg2);

  // labels with leader lines
  L.labels.forEach((p, k) => {
    const s = ordered[k];
    if (!p.box) return;
    const color = s.feature === OTHER ? c.fg2 : s.value > 0 ? c.posText : c.negText;
    ctx.strokeStyle = color;
    ctx.globalAlpha = 0.55;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(p.center, barBot + 1);
    ctx.lineTo(Math.max(p.box.x0 + 3, Math.min(p.box.x1 - 3, p.center)), p.box.y0 + 1);
    ctx.stroke();
    ctx.globalAlpha = 1;
    const cnt = s.value > 0 ? col.otherPosCount : col.otherNegCount;
    const name =
      s.feature === OTHER
        ? `${cnt} ${s.value > 0 ? "positive" : "negative"} contribution${cnt === 1 ? "" : "s"} collapsed into "other"`
        : d.names[s.feature];
    addLabel(vc, drawn, s.feature, p.text, p.box, color, "left", name);
  });
  const hidden = L.labels.filter((p) => !p.box).length;
  vc.setStatus(
    `sample ${i}${d.n > 1 ? ` of ${d.n}` : ""} · base value ${formatValue(base)} → ${outputName} ${st0.outputText(st.output)} · ` +
      `${col.kept.length} of ${m} features shown${col.otherCount ? `, ${col.otherCount} in "other"` : ""}` +
      `${hidden ? ` · ${hidden} label${hidden > 1 ? "s" : ""} hidden (hover the bar)` : ""} · click a feature to select it`,
  );
  return drawn;
}
