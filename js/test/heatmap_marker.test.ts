import { describe, expect, it } from "vitest";
import { MARKER_EXTENT, drawMarker } from "../src/lib/canvas";

/** A 2-D context that records the extent of everything stroked (arcs and lines), in its own units. */
function recorder() {
  const pts: [number, number][] = [];
  let widths: number[] = [];
  let pending: [number, number][] = [];
  const ctx = {
    lineCap: "butt",
    strokeStyle: "",
    lineWidth: 1,
    save() {},
    restore() {},
    beginPath() {
      pending = [];
    },
    moveTo(x: number, y: number) {
      pending.push([x, y]);
    },
    lineTo(x: number, y: number) {
      pending.push([x, y]);
    },
    arc(x: number, y: number, r: number) {
      pending.push([x - r, y - r], [x + r, y + r]);
    },
    stroke() {
      pts.push(...pending);
      widths.push(ctx.lineWidth);
    },
  };
  const extent = (cx: number, cy: number) => {
    const half = Math.max(...widths) / 2;
    return Math.max(...pts.map(([x, y]) => Math.max(Math.abs(x - cx), Math.abs(y - cy)))) + half;
  };
  return { ctx: ctx as unknown as CanvasRenderingContext2D, extent, reset: () => ((widths = []), pts.splice(0)) };
}

describe("selection marker", () => {
  it("is a few CSS pixels, whatever the image size (it is drawn in screen pixels)", () => {
    const r = recorder();
    drawMarker(r.ctx, 100, 50);
    const e = r.extent(100, 50);
    expect(e).toBeCloseTo(MARKER_EXTENT, 6);
    // a 28x28 image shown 168 px wide: the marker covers at most ~1/8 of the width, not the image
    expect(2 * e).toBeLessThan(168 / 7);
    expect(e).toBeGreaterThanOrEqual(6); // but big enough to see
    expect(e).toBeLessThanOrEqual(12);
  });
});
