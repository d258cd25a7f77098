import { describe, expect, it } from "vitest";
import { GAP, MIN_CELL, MIN_PANEL, SNAP_LOSS, classGrid, heightFor, naturalWidth, panelGrid, snapWidth } from "../src/heatmap/layout";

/** total width of `cols` panels of `w` px with the gaps between them */
const rowWidth = (cols: number, w: number) => cols * w + (cols - 1) * GAP;

describe("panelGrid (method panels follow the output width)", () => {
  it("never makes the row wider than the output, at any width from 400 px", () => {
    for (const imgW of [8, 28, 64, 224, 512, 1000]) {
      for (const count of [1, 2, 3, 4, 5, 7]) {
        for (let avail = 380; avail <= 1400; avail += 7) {
          const g = panelGrid(avail, count, imgW);
          expect(g.cols).toBeGreaterThanOrEqual(1);
          expect(g.cols).toBeLessThanOrEqual(count);
          expect(rowWidth(g.cols, g.width)).toBeLessThanOrEqual(avail);
        }
      }
    }
  });

  it("flows three panels into two columns at 400 px instead of one tall column", () => {
    const g = panelGrid(378, 3, 224); // a 400 px output minus the root's padding and border
    expect(g.cols).toBe(2);
    expect(g.width).toBeGreaterThanOrEqual(MIN_PANEL);
    // and one row of three where three fit at a readable size
    expect(panelGrid(678, 3, 224).cols).toBe(3);
    expect(panelGrid(978, 3, 224)).toEqual({ cols: 3, width: 224 });
  });

  it("keeps natural widths when there is room, shrinks when there is not", () => {
    expect(panelGrid(1000, 1, 224)).toEqual({ cols: 1, width: 224 });
    expect(panelGrid(1000, 1, 512).width).toBe(448);
    expect(panelGrid(300, 1, 512).width).toBe(300);
  });

  it("scales small images by whole factors (every image pixel the same size on screen) when that costs little", () => {
    for (const imgW of [8, 28, 50]) {
      for (const avail of [378, 678, 978]) {
        const { width } = panelGrid(avail, 2, imgW);
        expect(width / imgW).toBeGreaterThanOrEqual(2);
        const fit = Math.min(naturalWidth(imgW, 2), Math.floor((avail - GAP) / 2));
        if (width % imgW !== 0) expect(Math.floor(fit / imgW) * imgW).toBeLessThan((1 - SNAP_LOSS) * fit);
        else expect(width).toBeGreaterThanOrEqual((1 - SNAP_LOSS) * fit);
      }
    }
    expect(panelGrid(378, 2, 28).width).toBe(168); // 183 px fit: 6x, not 6.5x
    expect(snapWidth(82, 28)).toBe(82); // 2x would give up a third of the cell
    // 8x8 and 28x28 become about 224 px wide, not 8 or 28
    expect(naturalWidth(8, 1)).toBe(224);
    expect(naturalWidth(28, 1)).toBe(224);
    expect(snapWidth(194, 28)).toBe(168);
    expect(snapWidth(150, 224)).toBe(150); // scaled down: any width
  });
});

describe("classGrid (rows = samples, columns = classes)", () => {
  it("fits the columns in the output while cells stay readable", () => {
    for (const avail of [378, 678, 978]) {
      for (const cols of [1, 2, 3, 5]) {
        const g = classGrid(avail, cols, 224);
        if (!g.scrolls) expect(rowWidth(cols, g.width)).toBeLessThanOrEqual(avail);
        expect(g.width).toBeGreaterThanOrEqual(Math.min(MIN_CELL, 224));
      }
    }
  });

  it("scrolls sideways (inside its own box) only when the columns cannot shrink further", () => {
    expect(classGrid(378, 4, 224).scrolls).toBe(false);
    const many = classGrid(378, 12, 224);
    expect(many.scrolls).toBe(true);
    expect(many.width).toBe(MIN_CELL);
  });

  it("heightFor keeps the aspect ratio", () => {
    expect(heightFor(200, 100, 200)).toBe(100);
    expect(heightFor(168, 28, 28)).toBe(168);
  });
});
