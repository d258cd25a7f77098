/** The force plot of one row: a horizontal bar of arrow segments from the base value to the output, labels below. */
import { hiDpi } from "../lib/canvas";
import { cssColor } from "../lib/colormaps";
import { OTHER, axisTicks, collapseFeatures, forceStack, lighten, paddedRange, placeLabels, type Segment } from "../lib/force_layout";
import { formatValue } from "../lib/scale";
import { NEG, POS, addLabel, chevron, clearLabels, clip, segColor } from "./labels";
import type { ForceData } from "./state";
import { LABEL_FONT_PX, emptyDrawn, type Drawn, type ViewContext } from "./view";

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
  const left = 14;
  const right = 14;
  const X = (v: number) => left + ((v - lo) / (hi - lo)) * (W - left - right);
  const c = vc.colors();
  const font = `${LABEL_FONT_PX}px ${c.font}`;
  const barTop = 60;
  const barBot = 84;
  const labelTop = 96;
  const rowH = 20;
  const link = st0.link();
  const outputName = st0.outputName();

  // labels: largest first, "other" last
  const items: { seg: Segment; text: string; width: number; center: number; color: string }[] = [];
  const ordered = [...segs].sort((a, b) => (a.feature === OTHER ? 1 : 0) - (b.feature === OTHER ? 1 : 0) || Math.abs(b.value) - Math.abs(a.value));
  for (const s of ordered) {
    const text =
      s.feature === OTHER
        ? ((k) => `${s.value > 0 ? "+" : "−"} ${k} other${k === 1 ? "" : "s"}`)(s.value > 0 ? col.otherPosCount : col.otherNegCount)
        : clip(st0.featureLabel(d, i, s.feature));
    const color = cssColor(c.dark ? lighten(s.value > 0 ? POS : NEG, 0.25) : s.value > 0 ? [214, 0, 68] : [0, 110, 214]);
    items.push({ seg: s, text, width: vc.textWidth(text, font) + 6, center: X((s.lo + s.hi) / 2), color });
  }
  const place = placeLabels(items, 4, 0, W, 8);
  const rows = Math.max(1, ...place.map((p) => p.row + 1));
  const H = labelTop + rows * rowH + 6;
  const canvas = vc.canvas;
  const ctx = hiDpi(canvas, W, H);
  if (!ctx) return null;
  const drawn = emptyDrawn(W);
  ctx.fillStyle = c.bg;
  ctx.fillRect(0, 0, W, H);
  clearLabels(vc);

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
  ctx.fillText(link === "logit" ? `${outputName} · log-odds, ticks in probability` : outputName, W - right, 9);

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
  for (const t of axisTicks(lo, hi, link, Math.max(3, Math.floor(W / 110)))) {
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
  const outText = `${outputName} = ${st0.outputText(st.output)}`;
  const baseText = `base value ${link === "logit" ? st0.outputText(base) : formatValue(base)}`;
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
    const name =
      it.seg.feature === OTHER
        ? `${cnt} ${it.seg.value > 0 ? "positive" : "negative"} contribution${cnt === 1 ? "" : "s"} collapsed into "other"`
        : d.names[it.seg.feature];
    addLabel(vc, drawn, it.seg.feature, it.text, p.x, y, it.width - 6, it.color, "left", name);
  });
  const hidden = place.filter((p) => p.row < 0).length;
  vc.setStatus(
    `sample ${i}${d.n > 1 ? ` of ${d.n}` : ""} · base value ${formatValue(base)} → ${outputName} ${st0.outputText(st.output)} · ` +
      `${col.kept.length} of ${m} features shown${col.otherCount ? `, ${col.otherCount} in "other"` : ""}` +
      `${hidden ? ` · ${hidden} label${hidden > 1 ? "s" : ""} hidden (hover the bar)` : ""} · click a feature to select it`,
  );
  return drawn;
}
