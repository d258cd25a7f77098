/** Colour scales, percentile clipping and coordinate mapping (pure functions). */

export type SignMode = "all" | "positive" | "negative" | "absolute";
export const SIGNS: readonly SignMode[] = ["all", "positive", "negative", "absolute"];

/** numpy.percentile (linear interpolation) of the finite entries; NaN when there are none. */
export function percentile(values: ArrayLike<number>, p: number): number {
  const buf = new Float64Array(values.length);
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) buf[n++] = v;
  }
  if (n === 0) return NaN;
  const s = buf.subarray(0, n).sort();
  const q = Math.min(100, Math.max(0, p)) / 100;
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** The value the sign mode shows: the signed value ("all") or a magnitude >= 0. */
export function signed(v: number, sign: SignMode): number {
  switch (sign) {
    case "positive":
      return v > 0 ? v : 0;
    case "negative":
      return v < 0 ? -v : 0;
    case "absolute":
      return Math.abs(v);
    default:
      return v;
  }
}

/**
 * Upper end of the colour scale: the `clip` percentile of the shown magnitudes
 * (|v| for "all"/"absolute", the positive or negative part otherwise) over one or
 * more maps. Falls back to the maximum, then to 1, so it is always > 0.
 */
export function scaleMax(maps: ArrayLike<number>[], sign: SignMode, clip: number): number {
  let total = 0;
  for (const m of maps) total += m.length;
  const mags = new Float32Array(total);
  let k = 0;
  let max = 0;
  for (const m of maps) {
    for (let i = 0; i < m.length; i++) {
      const a = Math.abs(signed(m[i], sign));
      mags[k++] = a;
      if (a > max) max = a;
    }
  }
  let v = clip >= 100 ? max : percentile(mags, clip);
  if (!(v > 0) || !Number.isFinite(v)) v = max;
  if (!(v > 0) || !Number.isFinite(v)) v = 1;
  return v;
}

/**
 * Position on the colormap (t in [0, 1]) and normalised magnitude (m in [0, 1])
 * of a value. "all": symmetric [-vmax, vmax] -> [0, 1] (zero at 0.5).
 * Magnitude modes: diverging maps use their half ([0.5, 1], or [0.5, 0] for
 * "negative") so zero stays neutral; sequential maps use [0, 1].
 */
export function normalize(v: number, sign: SignMode, vmax: number, diverging: boolean): { t: number; m: number } {
  if (!Number.isFinite(v)) return { t: NaN, m: 0 };
  if (sign === "all") {
    const x = Math.max(-1, Math.min(1, v / vmax));
    return { t: 0.5 + x / 2, m: Math.abs(x) };
  }
  const m = Math.min(1, signed(v, sign) / vmax);
  if (!diverging) return { t: m, m };
  return { t: sign === "negative" ? 0.5 - m / 2 : 0.5 + m / 2, m };
}

/**
 * The sign mode one map is drawn with. A map with no negative value under
 * "all" is drawn as "positive": same colours, but its colour bar spans
 * [0, vmax] instead of advertising a negative half it never uses.
 */
export function panelSign(map: ArrayLike<number>, sign: SignMode): SignMode {
  if (sign !== "all") return sign;
  for (let i = 0; i < map.length; i++) if (map[i] < 0) return sign;
  return "positive";
}

/** Range shown on the colour bar, [lo, hi], for a sign mode. */
export function colorbarRange(sign: SignMode, vmax: number): [number, number] {
  if (sign === "all") return [-vmax, vmax];
  if (sign === "negative") return [-vmax, 0];
  return [0, vmax];
}

/**
 * Display pixel (continuous x, y in canvas pixels) to ORIGINAL image pixel
 * (row, col), clamped to the image. `display` and `original` are [height, width].
 */
export function displayToOriginal(
  x: number,
  y: number,
  display: readonly [number, number],
  original: readonly [number, number],
): [number, number] {
  const [h, w] = display;
  const [H, W] = original;
  const row = Math.min(H - 1, Math.max(0, Math.floor((y * H) / h)));
  const col = Math.min(W - 1, Math.max(0, Math.floor((x * W) / w)));
  return [row, col];
}

/** Centre of ORIGINAL pixel (row, col) in display pixel coordinates, as [x, y]. */
export function originalToDisplay(
  row: number,
  col: number,
  display: readonly [number, number],
  original: readonly [number, number],
): [number, number] {
  const [h, w] = display;
  const [H, W] = original;
  return [((col + 0.5) * w) / W, ((row + 0.5) * h) / H];
}

/** Display pixel index (integer row, col in the display grid) holding ORIGINAL pixel (row, col). */
export function originalToDisplayIndex(
  row: number,
  col: number,
  display: readonly [number, number],
  original: readonly [number, number],
): [number, number] {
  const [x, y] = originalToDisplay(row, col, display, original);
  return [Math.min(display[0] - 1, Math.floor(y)), Math.min(display[1] - 1, Math.floor(x))];
}

/** Mouse position to canvas pixel coordinates, given the canvas' bounding rect and pixel size. */
export function clientToCanvas(
  clientX: number,
  clientY: number,
  rect: { left: number; top: number; width: number; height: number },
  width: number,
  height: number,
): [number, number] {
  const x = ((clientX - rect.left) / Math.max(1e-9, rect.width)) * width;
  const y = ((clientY - rect.top) / Math.max(1e-9, rect.height)) * height;
  return [x, y];
}

/** Compact number formatting for readouts and colour bar ticks (3 significant digits). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(2).replace("e+", "e");
  const s = v.toPrecision(3);
  return s.includes(".") && !s.includes("e") ? s.replace(/\.?0+$/, "") : s;
}

/**
 * One colour scale for several maps (the methods of a sample with a shared
 * scale, or every cell of a per-class grid): the clip percentile over all of
 * their values, and "all" drawn as "positive" only when none of them is negative.
 */
export function sharedScale(maps: ArrayLike<number>[], sign: SignMode, clip: number): { vmax: number; sign: SignMode } {
  let s: SignMode = sign;
  if (sign === "all") s = maps.some((m) => panelSign(m, "all") === "all") ? "all" : "positive";
  return { vmax: scaleMax(maps, sign, clip), sign: s };
}
