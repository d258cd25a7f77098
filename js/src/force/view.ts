/** What every ForcePlot view is given (the state, the canvas, the label layer) and what it hands back (hit boxes). */
import { cssColor, type RGB } from "../lib/colormaps";
import { resolvedColors, parseColor } from "../lib/theme";
import { readableCss, readableOn } from "./colors";
import { NEG, POS } from "./labels";
import type { ForceState } from "./state";

export interface Colors {
  /** primary and secondary text, both readable on `bg` (opaque) */
  fg: string;
  fg2: string;
  border: string;
  bg: string;
  font: string;
  bgRGB: RGB;
  dark: boolean;
  /** text in the sign colours (red up, blue down), readable on `bg` */
  posText: string;
  negText: string;
}

/** A region of the canvas that answers hover and click with one feature. */
export interface Hit {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  feature: number;
  value: number;
}

/** A DOM label again, for the PNG download (which has no DOM). */
export interface LabelDraw {
  text: string;
  x: number;
  y: number;
  width: number;
  color: string;
  align: CanvasTextAlign;
}

/** The stacked plot's area in CSS pixels (click and hover map x to a sample). */
export interface PlotGeom {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** What a view drew: where features and samples answer the pointer. */
export interface Drawn {
  width: number;
  hits: Hit[];
  labelDraws: LabelDraw[];
  stacked: PlotGeom | null;
}

export interface ViewContext {
  state: ForceState;
  root: HTMLElement;
  canvas: HTMLCanvasElement;
  /** absolutely positioned layer over the canvas holding `.xw-feature` labels */
  labels: HTMLElement;
  /** width to draw at, in CSS pixels */
  width(): number;
  colors(): Colors;
  textWidth(s: string, font: string): number;
  setStatus(s: string): void;
}

/**
 * The width to draw at for a container `clientWidth` CSS pixels wide: the
 * container's own width (an output as narrow as a side panel included), so
 * nothing overflows; 860 while the view is not in the page yet (0), at most
 * 1200 (wider plots only spread the same marks).
 */
export function viewWidth(clientWidth: number): number {
  return Math.floor(Math.max(240, Math.min(1200, clientWidth > 0 ? clientWidth : 860)));
}

export function emptyDrawn(width: number): Drawn {
  return { width, hits: [], labelDraws: [], stacked: null };
}

export function colors(root: HTMLElement): Colors {
  const c = resolvedColors(root);
  const bg = (parseColor(c.bg) ?? [255, 255, 255]) as RGB;
  const dark = bg[0] * 0.299 + bg[1] * 0.587 + bg[2] * 0.114 < 128;
  const ink: RGB = dark ? [230, 230, 230] : [30, 30, 30];
  return {
    ...c,
    fg: readableCss(c.fg, bg, ink),
    fg2: readableCss(c.fg2, bg, ink),
    bgRGB: bg,
    dark,
    posText: cssColor(readableOn(POS, bg)),
    negText: cssColor(readableOn(NEG, bg)),
  };
}

export const LABEL_FONT_PX = 12;

const FORCE_CSS = `
.xw-force-body { position: relative; width: 100%; }
.xw-force-canvas { display: block; cursor: pointer; }
.xw-labels { position: absolute; left: 0; top: 0; right: 0; bottom: 0; pointer-events: none; }
.xw-feature {
  position: absolute; white-space: pre; pointer-events: auto; cursor: pointer; line-height: 16px;
  font-size: ${LABEL_FONT_PX}px; padding: 0 2px; border-radius: 3px; border: 1px solid transparent;
  overflow: hidden; text-overflow: ellipsis;
}
.xw-feature:hover { border-color: var(--xw-fg2); }
.xw-feature.xw-selected { border-color: var(--xw-fg); box-shadow: 0 0 0 1px var(--xw-fg); }
.xw-feature.xw-other { cursor: default; font-style: italic; }
.xw-force-plot .xw-index { width: 72px; }
.xw-force-plot .xw-title { min-width: 0; max-width: 100%; }
.xw-force-plot .xw-hidden { display: none !important; }
`;
const FORCE_STYLE_ID = "xw-style-force-v1";

export function injectForceStyle(doc: Document = document): void {
  if (doc.getElementById(FORCE_STYLE_ID)) return;
  const style = doc.createElement("style");
  style.id = FORCE_STYLE_ID;
  style.textContent = FORCE_CSS;
  (doc.head || doc.documentElement).appendChild(style);
}
