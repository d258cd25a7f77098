/**
 * Panel sizes for HeatmapOverlay (pure functions, unit-tested).
 *
 * Panels are laid out from the width the output actually has (a
 * ResizeObserver feeds it in), so a narrow side panel gets a grid of smaller
 * panels instead of one tall column, and nothing is wider than the output.
 */

export const GAP = 12;
/** Below this a method panel is too small to read; fewer columns instead. */
export const MIN_PANEL = 140;
/** Smallest cell of the per-class grid; below it the grid scrolls sideways. */
export const MIN_CELL = 72;

/**
 * Width a panel would like: small images are scaled up by a whole factor to
 * about 224 px (so their pixels stay square and equal), capped by how many
 * panels share the row.
 */
export function naturalWidth(imgW: number, count: number): number {
  const w = Math.max(1, imgW);
  const target = w < 224 ? w * Math.ceil(224 / w) : w;
  const cap = count > 2 ? 260 : count > 1 ? 320 : 448;
  return Math.min(target, cap);
}

/** Snapping to whole pixels may give up at most this share of the width. */
export const SNAP_LOSS = 0.15;

/**
 * Largest width <= `width` that shows the image at a whole number of screen
 * pixels per image pixel when it is scaled up (every image pixel the same
 * size), unless that would shrink the panel by more than SNAP_LOSS (a 2x
 * panel where 2.9x fits); widths below the image's own are kept (the browser
 * averages when it scales down).
 */
export function snapWidth(width: number, imgW: number): number {
  const w = Math.floor(width);
  if (imgW <= 0 || w < imgW) return Math.max(1, w);
  const snapped = Math.floor(w / imgW) * imgW;
  return snapped >= (1 - SNAP_LOSS) * w ? snapped : w;
}

export interface PanelGrid {
  /** panels per row */
  cols: number;
  /** CSS width of one panel */
  width: number;
}

/**
 * Columns and panel width for `count` method panels in `available` CSS px:
 * all in one row at their natural width when they fit; otherwise as many
 * columns as fit at MIN_PANEL (but never more than there are panels), each
 * as wide as the row allows up to the natural width.
 */
export function panelGrid(available: number, count: number, imgW: number, gap = GAP): PanelGrid {
  const avail = Math.max(1, Math.floor(available));
  const n = Math.max(1, count);
  const natural = naturalWidth(imgW, n);
  let cols: number;
  if (n * natural + (n - 1) * gap <= avail) {
    cols = n;
  } else {
    const least = Math.min(natural, MIN_PANEL);
    cols = Math.max(1, Math.min(n, Math.floor((avail + gap) / (least + gap))));
  }
  const fit = Math.floor((avail - (cols - 1) * gap) / cols);
  const width = snapWidth(Math.max(1, Math.min(natural, fit)), imgW);
  return { cols, width };
}

export interface ClassGrid {
  /** CSS width of one cell */
  width: number;
  /** the grid is wider than the output and scrolls sideways */
  scrolls: boolean;
}

/**
 * Cell width for a per-class grid of `cols` columns (one per class) in
 * `available` CSS px. Columns stay aligned across rows, so a grid that does
 * not fit at MIN_CELL scrolls inside its own container.
 */
export function classGrid(available: number, cols: number, imgW: number, gap = GAP): ClassGrid {
  const avail = Math.max(1, Math.floor(available));
  const n = Math.max(1, cols);
  const natural = Math.min(naturalWidth(imgW, n), n > 3 ? 200 : 260);
  const fit = Math.floor((avail - (n - 1) * gap) / n);
  const least = Math.min(natural, MIN_CELL);
  if (fit < least) return { width: snapWidth(least, imgW), scrolls: true };
  return { width: snapWidth(Math.min(natural, fit), imgW), scrolls: false };
}

/** Height of a panel `width` wide showing an image of h x w pixels. */
export function heightFor(width: number, imgH: number, imgW: number): number {
  return Math.max(1, Math.round((width * imgH) / Math.max(1, imgW)));
}
