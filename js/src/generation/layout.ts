/**
 * Token text and colours for the text view (pure). Mirrors
 * xai_widgets/_display/generation.py (display_token, source colours).
 */
import { dimmedText, readableText, type RGB } from "../lib/colormaps";
import { tokenColors, type TokenStyle } from "../text/colors";
import { row, sourceState, type GenData } from "./data";

/** What a token's box shows: newlines as "↵" (a box to colour), then a line break after it. */
export function displayToken(t: string): { text: string; breakAfter: boolean } {
  return { text: t.replace(/\r/g, "").replace(/\n/g, "↵"), breakAfter: t.includes("\n") };
}

export interface SourceStyle extends TokenStyle {
  state: "context" | "self" | "later";
}

/**
 * Colours of every source for generated token g: earlier sources by their
 * signed attribution to g over `bg` (the page colour), g itself and later
 * sources unpainted (the page colour, readable text).
 */
export function sourceStyles(d: GenData, g: number, vmax: number, colormap: string, bg: RGB): SourceStyle[] {
  const r = row(d, g);
  const out: SourceStyle[] = [];
  for (let s = 0; s < d.S; s++) {
    const state = sourceState(d, g, s);
    const dim = Boolean(d.special[s]);
    if (state === "context") out.push({ ...tokenColors(r[s], "all", vmax, colormap, bg, dim), state });
    else out.push({ background: [bg[0], bg[1], bg[2]], text: dim ? dimmedText(bg) : readableText(bg), alpha: 0, state });
  }
  return out;
}
