/** Many rows side by side: samples along x (in the chosen order), the output (or one feature's effect) on y,
 * drawn column by column into an ImageData at device resolution (no per-sample DOM). */
import { hiDpi } from "../lib/canvas";
import { cssColor, type RGB } from "../lib/colormaps";
import { byMagnitude, lighten, paddedRange, sampleX } from "../lib/force_layout";
import { formatValue } from "../lib/scale";
import { NEG, POS, clearLabels, clip, drawText } from "./labels";
import { layoutStacked } from "./layout";
import type { ForceData } from "./state";
import { emptyDrawn, type Drawn, type ViewContext } from "./view";

export function stackedRange(d: ForceData, yf: number | null): [number, number] {
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
export function stackedImage(d: ForceData, order: Int32Array, yf: number | null, PW: number, PH: number, lo: number, hi: number, bg: RGB): ImageData {
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

/** The mean base value (the dashed line; rows of one model share it, a per-row base is averaged). */
export function meanBase(d: ForceData): { value: number; same: boolean } {
  let sum = 0;
  let same = true;
  for (let i = 0; i < d.n; i++) {
    sum += d.base[i];
    if (d.base[i] !== d.base[0]) same = false;
  }
  return { value: sum / Math.max(1, d.n), same };
}

export class StackedView {
  private img: { key: unknown[]; img: ImageData } | null = null;
  private range: { key: unknown[]; lo: number; hi: number } | null = null;

  draw(vc: ViewContext, d: ForceData): Drawn | null {
    const st0 = vc.state;
    const canvas = vc.canvas;
    const c = vc.colors();
    const W = vc.width();
    const yf = st0.yFeature(d);
    const { order, pos, pending } = st0.order(d);
    if (!this.range || this.range.key[0] !== d || this.range.key[1] !== yf) {
      const [lo, hi] = stackedRange(d, yf);
      this.range = { key: [d, yf], lo, hi };
    }
    const { lo, hi } = this.range;
    const link = st0.link();
    const outputName = st0.outputName();
    const o = String(st0.model.get("order"));
    const orderText = pending
      ? "computing the similarity order…"
      : o === "similarity"
        ? "ordered by similarity (hierarchical clustering)"
        : o === "output"
          ? `ordered by ${outputName}, largest first`
          : "in original order";
    const base = meanBase(d);
    const L = layoutStacked(
      {
        width: W,
        family: c.font,
        lo,
        hi,
        link: yf === null ? link : "identity",
        yLabel: yf === null ? (link === "logit" ? `${outputName} (probability)` : outputName) : `effect of ${clip(d.names[yf], 40)}`,
        caption: `${d.n} samples, ${orderText}`,
        legend:
          yf === null
            ? [
                { kind: "pos", text: "higher" },
                { kind: "neg", text: "lower" },
                { kind: "base", text: `${base.same ? "base value" : "mean base value"} ${formatValue(base.value)}` },
              ]
            : [
                { kind: "pos", text: "raises the output" },
                { kind: "neg", text: "lowers it" },
              ],
      },
      vc.textWidth,
    );
    const { left, top, pw, ph, Y } = L;
    const H = L.height;
    const ctx = hiDpi(canvas, W, H);
    if (!ctx) return null;
    const drawn = emptyDrawn(W);
    const dpr = canvas.width / W;
    ctx.fillStyle = c.bg;
    ctx.fillRect(0, 0, W, H);
    clearLabels(vc);
    const PW = Math.max(1, Math.round(pw * dpr));
    const PH = Math.max(1, Math.round(ph * dpr));
    const key = [d, order, yf, PW, PH, c.bg, lo, hi];
    if (!this.img || !this.img.key.every((k, i) => k === key[i])) {
      this.img = { key, img: stackedImage(d, order, yf, PW, PH, lo, hi, c.bgRGB) };
    }
    ctx.putImageData(this.img.img, Math.round(left * dpr), Math.round(top * dpr));
    drawn.stacked = { left, top, width: pw, height: ph };
    canvas.setAttribute("data-plot-left", String(left));
    canvas.setAttribute("data-plot-top", String(top));
    canvas.setAttribute("data-plot-width", String(pw));
    canvas.setAttribute("data-plot-height", String(ph));
    canvas.setAttribute("data-samples", String(d.n));

    // output trace (the red/blue boundary), base value line (named in the legend, not over the areas)
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
      ctx.setLineDash([4, 4]);
      ctx.strokeStyle = c.fg2;
      ctx.beginPath();
      ctx.moveTo(left, Math.round(Y(base.value)) + 0.5);
      ctx.lineTo(left + pw, Math.round(Y(base.value)) + 0.5);
      ctx.stroke();
      ctx.setLineDash([]);
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
    for (const t of L.ticks) {
      const y = Math.round(t.at) + 0.5;
      ctx.strokeStyle = c.border;
      ctx.beginPath();
      ctx.moveTo(left - 4, y);
      ctx.lineTo(left, y);
      ctx.stroke();
      if (t.label) drawText(ctx, t.label, c.fg2);
    }
    ctx.save();
    ctx.translate(L.yLabel.x, L.yLabel.y);
    ctx.rotate(-Math.PI / 2);
    drawText(ctx, { ...L.yLabel, x: 0, y: 0 }, c.fg2);
    ctx.restore();
    drawText(ctx, L.caption, c.fg2);
    for (const e of L.legend) {
      const s = e.swatch;
      if (e.kind === "base") {
        ctx.setLineDash([4, 4]);
        ctx.strokeStyle = c.fg2;
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(s.x0, Math.round((s.y0 + s.y1) / 2) + 0.5);
        ctx.lineTo(s.x1, Math.round((s.y0 + s.y1) / 2) + 0.5);
        ctx.stroke();
        ctx.setLineDash([]);
      } else {
        ctx.fillStyle = cssColor(e.kind === "pos" ? POS : NEG);
        ctx.fillRect(s.x0, s.y0, s.x1 - s.x0, s.y1 - s.y0);
      }
      drawText(ctx, e.text, e.kind === "pos" ? c.posText : e.kind === "neg" ? c.negText : c.fg2);
    }

    // selected sample marker
    const idx = st0.index(d);
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
    vc.setStatus(
      `${d.n} samples × ${d.m} features · selected: sample ${idx} (${outputName} = ${st0.outputText(d.outputs[idx])}) · click a sample to select it`,
    );
    return drawn;
  }
}
