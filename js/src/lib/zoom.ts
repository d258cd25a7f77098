/**
 * Zoom / pan of a cell grid (e.g. an attention matrix) and axis label thinning.
 * Pure functions. A grid of `nx` x `ny` cells is shown in a plot of `w` x `h`
 * CSS pixels; at zoom 1 it fits exactly. The view's (x0, y0) is the data
 * coordinate (in cells) at the plot's top-left corner.
 */

export interface Grid {
  nx: number;
  ny: number;
  w: number;
  h: number;
}

export interface View {
  x0: number;
  y0: number;
  zoom: number;
}

export const FIT: View = { x0: 0, y0: 0, zoom: 1 };

/** Cell size in pixels [cx, cy] at a view. */
export function cellSize(g: Grid, v: View): [number, number] {
  return [(g.w / g.nx) * v.zoom, (g.h / g.ny) * v.zoom];
}

/** Largest useful zoom: cells of `maxCellPx` pixels along the smaller cell side (never below 1). */
export function maxZoom(g: Grid, maxCellPx = 48): number {
  const c = Math.min(g.w / g.nx, g.h / g.ny);
  return Math.max(1, maxCellPx / Math.max(1e-9, c));
}

/** Clamp zoom into [1, zmax] and the window inside the grid. */
export function clampView(g: Grid, v: View, zmax = maxZoom(g)): View {
  const zoom = Math.min(zmax, Math.max(1, Number.isFinite(v.zoom) ? v.zoom : 1));
  const visX = g.nx / zoom;
  const visY = g.ny / zoom;
  const x0 = Math.min(g.nx - visX, Math.max(0, Number.isFinite(v.x0) ? v.x0 : 0));
  const y0 = Math.min(g.ny - visY, Math.max(0, Number.isFinite(v.y0) ? v.y0 : 0));
  return { x0, y0, zoom };
}

/** Plot pixel (px, py) to continuous cell coordinates [x, y]. */
export function pxToCell(g: Grid, v: View, px: number, py: number): [number, number] {
  const [cx, cy] = cellSize(g, v);
  return [v.x0 + px / cx, v.y0 + py / cy];
}

/** Cell coordinates to plot pixels. */
export function cellToPx(g: Grid, v: View, x: number, y: number): [number, number] {
  const [cx, cy] = cellSize(g, v);
  return [(x - v.x0) * cx, (y - v.y0) * cy];
}

/** Integer cell [col, row] under a plot pixel, or null outside the grid. */
export function cellAt(g: Grid, v: View, px: number, py: number): [number, number] | null {
  if (px < 0 || py < 0 || px >= g.w || py >= g.h) return null;
  const [x, y] = pxToCell(g, v, px, py);
  const col = Math.floor(x);
  const row = Math.floor(y);
  if (col < 0 || row < 0 || col >= g.nx || row >= g.ny) return null;
  return [col, row];
}

/** Multiply the zoom by `factor`, keeping the data point under (px, py) in place. */
export function zoomAt(g: Grid, v: View, factor: number, px: number, py: number, zmax = maxZoom(g)): View {
  const [x, y] = pxToCell(g, v, px, py);
  const zoom = Math.min(zmax, Math.max(1, v.zoom * factor));
  const cx = (g.w / g.nx) * zoom;
  const cy = (g.h / g.ny) * zoom;
  return clampView(g, { x0: x - px / cx, y0: y - py / cy, zoom }, zmax);
}

/** Move the window by a drag of (dx, dy) pixels (content follows the pointer). */
export function panBy(g: Grid, v: View, dx: number, dy: number, zmax = maxZoom(g)): View {
  const [cx, cy] = cellSize(g, v);
  return clampView(g, { x0: v.x0 - dx / cx, y0: v.y0 - dy / cy, zoom: v.zoom }, zmax);
}

/** Centre the window on cell (col, row) (either may be null: that axis stays), zooming in to at least `minZoom`. */
export function centerOn(g: Grid, v: View, col: number | null, row: number | null, minZoom = 1, zmax = maxZoom(g)): View {
  const zoom = Math.min(zmax, Math.max(v.zoom, minZoom));
  const visX = g.nx / zoom;
  const visY = g.ny / zoom;
  return clampView(
    g,
    { x0: col === null ? v.x0 : col + 0.5 - visX / 2, y0: row === null ? v.y0 : row + 0.5 - visY / 2, zoom },
    zmax,
  );
}

/** Visible integer cells [lo, hi) along x ("x") or y ("y"). */
export function visibleRange(g: Grid, v: View, axis: "x" | "y"): [number, number] {
  const n = axis === "x" ? g.nx : g.ny;
  const o = axis === "x" ? v.x0 : v.y0;
  const vis = n / v.zoom;
  return [Math.max(0, Math.floor(o)), Math.min(n, Math.ceil(o + vis - 1e-9))];
}

const NICE = [1, 2, 5];

/** Smallest "nice" step (1, 2, 5, 10, 20, 50, ...) so that labels `step` cells apart are >= labelPx apart. */
export function labelStep(cellPx: number, labelPx: number): number {
  if (!(cellPx > 0)) return Infinity;
  const need = labelPx / cellPx;
  if (need <= 1) return 1;
  for (let p = 1; p < 1e12; p *= 10) for (const m of NICE) if (m * p >= need) return m * p;
  return Infinity;
}

/**
 * Label indices for cells [lo, hi): multiples of `step`, plus `keep` (e.g. the
 * pinned token, search matches) which win over regular labels closer than
 * `step` cells. Sorted, unique.
 */
export function thinnedLabels(lo: number, hi: number, step: number, keep: readonly number[] = []): number[] {
  if (!Number.isFinite(step) || step < 1 || hi <= lo) return keep.filter((k) => k >= lo && k < hi).sort((a, b) => a - b);
  const kept = [...new Set(keep.filter((k) => k >= lo && k < hi))].sort((a, b) => a - b);
  const out: number[] = [];
  for (let i = Math.ceil(lo / step) * step; i < hi; i += step) {
    const near = kept.some((k) => Math.abs(k - i) < step && k !== i);
    if (!near) out.push(i);
  }
  return [...new Set([...out, ...kept])].sort((a, b) => a - b);
}

/** Shorten `text` to fit `maxPx` using `measure` (e.g. ctx.measureText), with an ellipsis. */
export function fitText(text: string, maxPx: number, measure: (s: string) => number): string {
  if (measure(text) <= maxPx) return text;
  const chars = [...text];
  let lo = 0;
  let hi = chars.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (measure(chars.slice(0, mid).join("") + "…") <= maxPx) lo = mid;
    else hi = mid - 1;
  }
  return lo > 0 ? chars.slice(0, lo).join("") + "…" : "…";
}
