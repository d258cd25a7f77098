/**
 * Token colours (pure): the colormap colour blended over the page background
 * at the token's opacity, and a text colour chosen from that blended colour,
 * so the contrast holds whatever the theme puts behind the widget.
 */
import { blend, colorAt, dimmedText, isDiverging, readableText, type RGB } from "../lib/colormaps";
import { normalize, type SignMode } from "../lib/scale";

export const FLAG_CONTINUATION = 1;
export const FLAG_SPECIAL = 2;
/** Set by the kernel for positions the attention mask drops (padding): not drawn. */
export const FLAG_PADDING = 4;

export interface TokenStyle {
  /** The colour actually painted behind the token (opaque). */
  background: RGB;
  /** Text colour for that background (>= 4.5:1 against it). */
  text: RGB;
  /** Opacity of the colormap colour over the page background. */
  alpha: number;
}

/**
 * Background and text colour of one token over a page background `bg`.
 * Diverging maps fade in with |value| (zero shows the page); sequential maps
 * are opaque, except zero in a magnitude mode. `dim` (special tokens) fades
 * the text toward the background as far as the contrast rule allows.
 */
export function tokenColors(
  v: number,
  sign: SignMode,
  vmax: number,
  colormap: string,
  bg: RGB,
  dim = false,
): TokenStyle {
  const div = isDiverging(colormap);
  const { t, m } = normalize(v, sign, vmax > 0 ? vmax : 1, div);
  let alpha = 0;
  let background: RGB = [bg[0], bg[1], bg[2]];
  if (!Number.isNaN(t)) {
    alpha = div ? Math.min(1, m) : sign !== "all" && m === 0 ? 0 : 1;
    background = blend(colorAt(colormap, t), bg, alpha);
  }
  return { background, text: dim ? dimmedText(background) : readableText(background), alpha };
}

export function rgbCss(c: RGB): string {
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}
