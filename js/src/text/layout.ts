/**
 * Line breaking for the token columns (pure).
 *
 * Every shown token is one column holding one cell per method, so a token
 * has the same width and x position in every method's row. Columns flow into
 * lines that fit the output's width; each line is drawn as a grid whose first
 * track holds the method names (the gutter), so every row of every line
 * starts with its method's name.
 */

/** Space before a token that starts a word (a continuation piece joins its word). */
export const WORD_GAP = 4;

export interface Line {
  /** indices into the column list */
  cols: number[];
  /** each column's track width in px, gap before it included */
  tracks: number[];
  /** gap before each column (0 at a line start and for continuation pieces) */
  gaps: number[];
}

/**
 * Greedy line breaking of columns of natural widths `widths` (px) into lines
 * at most `avail` px wide. A column wider than a whole line gets the whole
 * line and its text wraps inside it. `joins[j]`: column j continues the
 * previous word (no gap).
 */
export function breakLines(widths: readonly number[], joins: readonly boolean[], avail: number): Line[] {
  const lines: Line[] = [];
  const room = Math.max(1, Math.floor(avail));
  let cur: Line = { cols: [], tracks: [], gaps: [] };
  let x = 0;
  for (let j = 0; j < widths.length; j++) {
    const w = Math.min(Math.max(0, widths[j]), room);
    let gap = joins[j] ? 0 : WORD_GAP;
    if (cur.cols.length === 0) gap = 0;
    if (cur.cols.length > 0 && x + gap + w > room) {
      lines.push(cur);
      cur = { cols: [], tracks: [], gaps: [] };
      x = 0;
      gap = 0;
    }
    cur.cols.push(j);
    cur.tracks.push(gap + w);
    cur.gaps.push(gap);
    x += gap + w;
  }
  if (cur.cols.length) lines.push(cur);
  return lines;
}

/** Width of the method-name gutter: the longest name, within [minPx, share of the width, maxPx]. */
export function gutterWidth(labelWidths: readonly number[], total: number, maxPx = 160, share = 0.3, minPx = 40): number {
  if (!labelWidths.length) return 0;
  const want = Math.ceil(Math.max(...labelWidths)) + 10;
  const cap = Math.max(minPx, Math.min(maxPx, Math.floor(total * share)));
  return Math.min(want, cap);
}
