/** Text the AttentionView draws into canvases: short labels and colours that stay readable (pure; tested in node). */
import { luminance, type RGB } from "../lib/colormaps";
import { parseColor } from "../lib/theme";

/**
 * Black or white, whichever contrasts more with `rgb` (WCAG). The two tie at
 * luminance sqrt(1.05 * 0.05) - 0.05 ≈ 0.179; either way the ratio is at
 * least 4.58, so text over any heatmap cell passes 4.5:1.
 */
export function inkOn(rgb: RGB): "#000000" | "#ffffff" {
  return luminance(rgb) > Math.sqrt(1.05 * 0.05) - 0.05 ? "#000000" : "#ffffff";
}

/** Whether a background colour is dark (relative luminance below the black/white tie). */
export function isDark(bg: string): boolean {
  const c = parseColor(bg) ?? [255, 255, 255];
  return luminance(c) <= Math.sqrt(1.05 * 0.05) - 0.05;
}

/** Search-match highlight for labels: orange that keeps >= 4.5:1 on the theme's background. */
export function matchInk(bg: string): string {
  return isDark(bg) ? "#f0ad4e" : "#a65a00";
}

/**
 * The overview's row label. Module names of one model differ only in the
 * index ("encoder.layer.0.attention.self", "encoder.layer.1..."), which a
 * narrow margin would cut off: the row shows "L0", the tooltip the name.
 */
export function layerLabel(i: number): string {
  return `L${i}`;
}

/** A weight as short as a cell allows: ".42", "1", "12", "3e-4". */
export function cellText(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "inf" : "-inf";
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 0.995) return a < 9.95 ? String(Number(v.toFixed(1))) : v.toFixed(0);
  if (a >= 0.005) return v.toFixed(2).replace(/^(-?)0\./, "$1.");
  return v.toExponential(0);
}

/** A byte count for people: "640 bytes", "12.5 KiB", "20.0 MiB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 2 ** 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}
