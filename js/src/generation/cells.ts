/**
 * Matrix cell colours (pure): generated token g (row) × source s (column),
 * each value over its row's scale, blended over the page colour like the
 * text view's tokens; sources the row's token had not seen get a neutral tint.
 */
import { blend, isDiverging, lut, readableText, type RGB } from "../lib/colormaps";
import { normalize } from "../lib/scale";
import { contextLength, type GenData } from "./data";

/** The tint of a cell the model had not seen: the page colour moved 10% toward its text colour. */
export function unseenColor(bg: RGB): RGB {
  return blend(readableText(bg), bg, 0.1);
}

/** RGBA pixels (S wide, G high) of the matrix, one per cell; `scales` from rowScales. */
export function matrixPixels(d: GenData, scales: ArrayLike<number>, colormap: string, bg: RGB): Uint8ClampedArray<ArrayBuffer> {
  const out = new Uint8ClampedArray(new ArrayBuffer(d.G * d.S * 4));
  const table = lut(colormap);
  const div = isDiverging(colormap);
  const un = unseenColor(bg);
  for (let g = 0; g < d.G; g++) {
    const lim = contextLength(d, g);
    const vmax = scales[g] > 0 ? scales[g] : 1;
    for (let s = 0; s < d.S; s++) {
      const i = g * d.S + s;
      let c: RGB = un;
      if (s < lim) {
        const { t, m } = normalize(d.values[i], "all", vmax, div);
        const k = 3 * Math.round((Number.isNaN(t) ? 0.5 : t) * 255);
        c = blend([table[k], table[k + 1], table[k + 2]], bg, div ? m : 1);
      }
      out[4 * i] = c[0];
      out[4 * i + 1] = c[1];
      out[4 * i + 2] = c[2];
      out[4 * i + 3] = 255;
    }
  }
  return out;
}
