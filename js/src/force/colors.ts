/**
 * Text colours that stay readable (WCAG 2.x contrast, lib/colormaps.ts): a
 * sign colour pushed towards black or white until it reads on the background
 * (the hue stays recognisable), black or white ink for text over a bar, and
 * the theme's (maybe translucent) text colours checked against the background
 * they are drawn on. Pure; tested in node (js/test/force_views.test.ts).
 */
import { blend, contrastRatio, cssColor, luminance, readableText, type RGB } from "../lib/colormaps";
import { parseColor } from "../lib/theme";

/** The contrast every text must reach, with a little margin over WCAG's 4.5:1 for rounding. */
export const MIN_CONTRAST = 4.6;

/**
 * `c` itself when it reads on `bg`, else the least mix towards black (on a
 * light background) or white (on a dark one) that does.
 */
export function readableOn(c: RGB, bg: RGB, min = MIN_CONTRAST): RGB {
  if (contrastRatio(c, bg) >= min) return [c[0], c[1], c[2]];
  const to: RGB = luminance(bg) > 0.18 ? [0, 0, 0] : [255, 255, 255];
  let lo = 0;
  let hi = 1;
  for (let k = 0; k < 20; k++) {
    const t = (lo + hi) / 2;
    if (contrastRatio(blend(to, c, t), bg) >= min) hi = t;
    else lo = t;
  }
  return blend(to, c, hi);
}

/** Black or white, whichever reads better on a bar of colour `bar`. */
export const inkOn = (bar: RGB): RGB => readableText(bar);

/** A CSS colour (maybe translucent, as JupyterLab's --jp-ui-font-color2) as the opaque colour it shows over `bg`. */
export function over(css: string, bg: RGB): RGB | null {
  const m = css.match(/rgba?\(\s*([\d.]+)[ ,]+([\d.]+)[ ,]+([\d.]+)(?:\s*[,/]\s*([\d.]+)(%?))?\s*\)/);
  if (m) {
    const a = m[4] === undefined ? 1 : m[5] ? parseFloat(m[4]) / 100 : parseFloat(m[4]);
    return blend([Number(m[1]), Number(m[2]), Number(m[3])], bg, a);
  }
  return parseColor(css);
}

/** A CSS text colour made readable on `bg`, as an opaque rgb(). */
export function readableCss(css: string, bg: RGB, fallback: RGB): string {
  return cssColor(readableOn(over(css, bg) ?? fallback, bg));
}
