/**
 * PNG download: the token area as it is on screen (every cell and method
 * label at its laid-out position, with its painted colours), the colour bars
 * under it, on the widget's background.
 */
import { drawColorbar } from "../lib/canvas";
import { downloadCanvas } from "../lib/download";
import type { SignMode } from "../lib/scale";

export interface ExportBar {
  label: string;
  vmax: number;
}

export interface ExportOptions {
  title: string;
  caption: string;
  colormap: string;
  sign: SignMode;
  bars: ExportBar[];
  colors: { bg: string; fg: string; border: string; font: string };
}

export function exportTokens(tokensEl: HTMLElement, o: ExportOptions, filename = "text_heatmap.png"): void {
  const pad = 14;
  const box = tokensEl.getBoundingClientRect();
  const W = Math.max(320, Math.ceil(box.width) + 2 * pad);
  const head = (o.title ? 22 : 0) + (o.caption ? 18 : 0);
  const barH = 46;
  const barsPerLine = Math.max(1, Math.floor((W - 2 * pad + 16) / (220 + 16)));
  const barLines = Math.ceil(o.bars.length / barsPerLine);
  const H = pad + head + Math.ceil(box.height) + 10 + barLines * barH + pad;
  const out = document.createElement("canvas");
  out.width = W * 2;
  out.height = H * 2;
  const ctx = out.getContext("2d");
  if (!ctx) return;
  ctx.scale(2, 2);
  ctx.fillStyle = o.colors.bg;
  ctx.fillRect(0, 0, W, H);
  ctx.textBaseline = "alphabetic";
  ctx.textAlign = "left";
  let y = pad;
  if (o.title) {
    ctx.fillStyle = o.colors.fg;
    ctx.font = `600 13px ${o.colors.font}`;
    ctx.fillText(o.title, pad, y + 13);
    y += 22;
  }
  if (o.caption) {
    ctx.fillStyle = o.colors.fg;
    ctx.font = `12px ${o.colors.font}`;
    ctx.fillText(o.caption, pad, y + 12, W - 2 * pad);
    y += 18;
  }
  const ox = pad - box.left;
  const oy = y - box.top;
  ctx.textBaseline = "middle";
  for (const el of Array.from(tokensEl.querySelectorAll<HTMLElement>(".xw-token, .xw-rowlabel"))) {
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    const cs = getComputedStyle(el);
    const x = r.left + ox;
    const top = r.top + oy;
    if (el.classList.contains("xw-token")) {
      ctx.fillStyle = cs.backgroundColor;
      ctx.fillRect(x, top, r.width, r.height);
    }
    ctx.save();
    ctx.beginPath();
    ctx.rect(x, top, r.width, r.height);
    ctx.clip();
    ctx.fillStyle = cs.color;
    ctx.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
    const padL = parseFloat(cs.paddingLeft) || 0;
    ctx.fillText(el.textContent ?? "", x + padL + (parseFloat(cs.borderLeftWidth) || 0), top + r.height / 2);
    ctx.restore();
  }
  y += Math.ceil(box.height) + 10;
  ctx.textBaseline = "alphabetic";
  o.bars.forEach((b, k) => {
    const col = k % barsPerLine;
    const line = Math.floor(k / barsPerLine);
    const x = pad + col * (220 + 16);
    const by = y + line * barH;
    let top = by;
    if (b.label) {
      ctx.fillStyle = o.colors.fg;
      ctx.font = `11px ${o.colors.font}`;
      ctx.textBaseline = "top";
      ctx.fillText(b.label, x, by, 220);
      top += 15;
    }
    drawColorbar(ctx, x, top, 220, o.colormap, o.sign, b.vmax, { color: o.colors.fg, border: o.colors.border, font: `11px ${o.colors.font}` });
  });
  downloadCanvas(out, filename);
}
