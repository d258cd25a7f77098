/**
 * PNG download: the title and subtitle, then the text view (every token's
 * painted boxes, underline and outline where the screen has them, its text
 * line by line) or the matrix canvas, then the legend's colour bar.
 */
import { downloadCanvas } from "../lib/download";

export interface ExportInput {
  title: string;
  subtitle: string;
  /** the text view's container (spans .xw-gtok) or null */
  text: HTMLElement | null;
  /** the matrix canvas or null */
  matrix: HTMLCanvasElement | null;
  legend: HTMLCanvasElement;
  colors: { bg: string; fg: string; accent: string; font: string };
}

export function exportPng(o: ExportInput, filename = "generation_heatmap.png"): void {
  const pad = 14;
  const body = o.text ?? o.matrix;
  if (!body) return;
  const box = body.getBoundingClientRect();
  const W = Math.max(320, Math.ceil(box.width) + 2 * pad);
  const head = (o.title ? 22 : 0) + (o.subtitle ? 18 : 0);
  const lg = o.legend.getBoundingClientRect();
  const H = pad + head + Math.ceil(box.height) + 10 + Math.ceil(lg.height) + pad;
  const out = document.createElement("canvas");
  out.width = W * 2;
  out.height = H * 2;
  const ctx = out.getContext("2d");
  if (!ctx) return;
  ctx.scale(2, 2);
  ctx.fillStyle = o.colors.bg;
  ctx.fillRect(0, 0, W, H);
  let y = pad;
  ctx.textBaseline = "alphabetic";
  if (o.title) {
    ctx.fillStyle = o.colors.fg;
    ctx.font = `600 13px ${o.colors.font}`;
    ctx.fillText(o.title, pad, y + 13, W - 2 * pad);
    y += 22;
  }
  if (o.subtitle) {
    ctx.fillStyle = o.colors.fg;
    ctx.font = `12px ${o.colors.font}`;
    ctx.fillText(o.subtitle, pad, y + 12, W - 2 * pad);
    y += 18;
  }
  const ox = pad - box.left;
  const oy = y - box.top;
  if (o.text) {
    ctx.textBaseline = "middle";
    for (const el of Array.from(o.text.querySelectorAll<HTMLElement>(".xw-gtok"))) {
      const cs = getComputedStyle(el);
      const rects = Array.from(el.getClientRects());
      // one rectangle per line the token spans; its text goes in the first
      rects.forEach((r, k) => {
        if (!r.width || !r.height) return;
        const x = r.left + ox;
        const top = r.top + oy;
        ctx.fillStyle = cs.backgroundColor;
        ctx.fillRect(x, top, r.width, r.height);
        if (el.classList.contains("xw-gen")) {
          ctx.fillStyle = o.colors.accent;
          ctx.fillRect(x, top + r.height - 2, r.width, 2);
        }
        if (el.classList.contains("xw-self")) {
          ctx.strokeStyle = cs.outlineColor || o.colors.fg;
          ctx.lineWidth = 2;
          ctx.strokeRect(x - 1, top - 1, r.width + 2, r.height + 2);
        }
        if (k === 0) {
          ctx.fillStyle = cs.color;
          ctx.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
          ctx.fillText(el.textContent ?? "", x, top + r.height / 2);
        }
      });
    }
  } else if (o.matrix) {
    ctx.drawImage(o.matrix, box.left + ox, box.top + oy, box.width, box.height);
  }
  y += Math.ceil(box.height) + 10;
  ctx.drawImage(o.legend, pad, y, lg.width, lg.height);
  downloadCanvas(out, filename);
}
