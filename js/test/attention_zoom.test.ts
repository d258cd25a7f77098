import { describe, expect, it } from "vitest";
import {
  FIT,
  cellAt,
  cellSize,
  cellToPx,
  centerOn,
  clampView,
  fitText,
  labelStep,
  maxZoom,
  panBy,
  pxToCell,
  thinnedLabels,
  visibleRange,
  zoomAt,
  type Grid,
} from "../src/lib/zoom";

const g: Grid = { nx: 512, ny: 512, w: 512, h: 512 };

describe("zoom and pan", () => {
  it("fits at zoom 1 and maps pixels to cells", () => {
    expect(cellSize(g, FIT)).toEqual([1, 1]);
    expect(cellAt(g, FIT, 10.5, 3.2)).toEqual([10, 3]);
    expect(cellAt(g, FIT, -1, 3)).toBeNull();
    expect(cellAt(g, FIT, 512, 3)).toBeNull();
    expect(visibleRange(g, FIT, "x")).toEqual([0, 512]);
  });

  it("zoomAt keeps the point under the cursor fixed", () => {
    const v = zoomAt(g, FIT, 4, 200, 100);
    expect(v.zoom).toBe(4);
    const [x, y] = pxToCell(g, v, 200, 100);
    expect(x).toBeCloseTo(200, 9);
    expect(y).toBeCloseTo(100, 9);
    expect(visibleRange(g, v, "x")[1] - visibleRange(g, v, "x")[0]).toBeLessThanOrEqual(129);
    const [px, py] = cellToPx(g, v, x, y);
    expect(px).toBeCloseTo(200, 9);
    expect(py).toBeCloseTo(100, 9);
  });

  it("clamps zoom to [1, max] and the window to the grid", () => {
    expect(zoomAt(g, FIT, 0.1, 10, 10)).toEqual(FIT);
    const zmax = maxZoom(g, 48);
    expect(zmax).toBe(48);
    expect(zoomAt(g, FIT, 1e6, 0, 0).zoom).toBe(48);
    const v = clampView(g, { x0: -20, y0: 1000, zoom: 2 });
    expect(v).toEqual({ x0: 0, y0: 256, zoom: 2 });
  });

  it("pans with the pointer and stays inside", () => {
    const v = { x0: 100, y0: 100, zoom: 4 };
    const p = panBy(g, v, 40, -20); // drag right/up: window moves left/down in data
    expect(p.x0).toBeCloseTo(90, 9);
    expect(p.y0).toBeCloseTo(105, 9);
    expect(panBy(g, v, 1e6, 0).x0).toBe(0);
  });

  it("centerOn puts a cell in the middle", () => {
    const v = centerOn(g, FIT, 300, 40, 8);
    expect(v.zoom).toBe(8);
    const [x0, x1] = visibleRange(g, v, "x");
    expect(x0 <= 300 && 300 < x1).toBe(true);
    expect(v.y0).toBe(40.5 - 32); // clamped at 8.5 >= 0
    expect(centerOn(g, FIT, 0, 511, 8)).toEqual({ x0: 0, y0: 448, zoom: 8 });
  });

  it("works for rectangular (cross-attention) grids", () => {
    const r: Grid = { nx: 20, ny: 3, w: 400, h: 60 };
    expect(cellSize(r, FIT)).toEqual([20, 20]);
    expect(cellAt(r, FIT, 399, 59)).toEqual([19, 2]);
  });
});

describe("label thinning", () => {
  it("picks nice steps so labels do not overlap", () => {
    expect(labelStep(14, 13)).toBe(1);
    expect(labelStep(1, 13)).toBe(20);
    expect(labelStep(3, 13)).toBe(5);
    expect(labelStep(0.125, 13)).toBe(200);
    expect(labelStep(0, 13)).toBe(Infinity);
  });

  it("keeps multiples of the step plus pinned indices, dropping neighbours of kept ones", () => {
    expect(thinnedLabels(0, 50, 10)).toEqual([0, 10, 20, 30, 40]);
    expect(thinnedLabels(0, 50, 10, [23])).toEqual([0, 10, 23, 40]);
    expect(thinnedLabels(5, 26, 10)).toEqual([10, 20]);
    expect(thinnedLabels(0, 5, 1, [2])).toEqual([0, 1, 2, 3, 4]);
    expect(thinnedLabels(0, 10, Infinity, [3, 99])).toEqual([3]);
  });

  it("fitText shortens with an ellipsis", () => {
    const m = (s: string) => s.length * 6;
    expect(fitText("short", 60, m)).toBe("short");
    const t = fitText("a-very-long-token-name", 60, m);
    expect(t.endsWith("…")).toBe(true);
    expect(m(t)).toBeLessThanOrEqual(60);
  });
});
