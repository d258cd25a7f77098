/** Shared pieces of the force views: colours, label text, DOM feature labels, arrow segments. */
import { cssColor, type RGB } from "../lib/colormaps";
import { h } from "../lib/dom";
import { OTHER, lighten, type Segment } from "../lib/force_layout";
import { formatValue } from "../lib/scale";
import type { Box, TextItem } from "./layout";
import type { Drawn, ViewContext } from "./view";

/** shap's colours: red pushes the output up, blue pushes it down. */
export const POS: RGB = [255, 0, 81];
export const NEG: RGB = [0, 139, 251];

export const MAX_LABEL_CHARS = 48;

/** Short text for a label (the full name goes in the title/tooltip). */
export function clip(s: string, n = MAX_LABEL_CHARS): string {
  return s.length > n ? s.slice(0, n - 1) + "…" : s;
}

/** A contribution with its sign. */
export function signed(v: number): string {
  const s = formatValue(v);
  return v > 0 ? "+" + s : s;
}

/** A feature label as a DOM element over the canvas (text through textContent), remembered for the PNG. */
export function addLabel(
  vc: ViewContext,
  drawn: Drawn,
  feature: number,
  text: string,
  box: Box,
  color: string,
  align: "left" | "right",
  fullName: string,
): void {
  const span = h("span", { class: "xw-feature", text, title: fullName });
  span.setAttribute("data-feature", feature === OTHER ? "other" : String(feature));
  if (feature === OTHER) span.classList.add("xw-other");
  if (feature !== OTHER && vc.state.selectedFeature() === feature) span.classList.add("xw-selected");
  span.style.left = `${box.x0}px`;
  span.style.top = `${box.y0}px`;
  // the box already holds the padding and border (box-sizing: border-box)
  span.style.width = `${box.x1 - box.x0}px`;
  span.style.textAlign = align;
  span.style.color = color;
  vc.labels.appendChild(span);
  drawn.labelDraws.push({ text, x: align === "right" ? box.x1 - 3 : box.x0 + 3, y: box.y0 + 8, width: box.x1 - box.x0, color, align });
}

export function clearLabels(vc: ViewContext): void {
  while (vc.labels.firstChild) vc.labels.removeChild(vc.labels.firstChild);
}

/** An arrow-shaped segment from x0 to x1 pointing right (or left), notched at its tail. */
export function chevron(ctx: CanvasRenderingContext2D, x0: number, x1: number, yTop: number, yBot: number, right: boolean, notch: boolean): void {
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

/** A segment's fill: darkest next to the output, lighter outwards, "other" lightest. */
export function segColor(seg: Segment, rank: number, count: number): string {
  const c = seg.value > 0 ? POS : NEG;
  if (seg.feature === OTHER) return cssColor(lighten(c, 0.55));
  return cssColor(lighten(c, count > 1 ? (0.3 * rank) / (count - 1) : 0));
}

/** Fill a laid-out text. */
export function drawText(ctx: CanvasRenderingContext2D, t: TextItem, color: string): void {
  ctx.font = t.font;
  ctx.fillStyle = color;
  ctx.textAlign = t.align;
  ctx.textBaseline = "middle";
  ctx.fillText(t.text, t.x, t.y);
}
