/**
 * SummaryPlot's pure layout (js/src/summary/layout.ts): uint16 decoding with one
 * range per feature, feature order and shap's "other features" collapse, the
 * swarm layout (the same numbers as xai_widgets/_display/summary.py), colours, ticks.
 */
import { describe, expect, it } from "vitest";
import { contrastRatio } from "../src/lib/colormaps";
import {
  collapse, colorUnit, decodeU16, featureOrder, fitLabel, HIGH, LEVELS, LOW, MISSING, nearest, niceTicks, otherLabel, paddedExtent, redBlue,
  swarmOffsets,
} from "../src/summary/layout";

function u16(codes: number[]): Uint8Array {
  const b = new Uint8Array(2 * codes.length);
  const dv = new DataView(b.buffer);
  codes.forEach((c, i) => dv.setUint16(2 * i, c, true));
  return b;
}

describe("decodeU16", () => {
  it("decodes each feature on its own range and marks missing values", () => {
    // 2 rows x 3 features; feature ranges [0, 1], [-2, 2], [5, 5] (flat)
    const lo = [0, -2, 5];
    const hi = [1, 2, 5];
    const out = decodeU16(u16([0, LEVELS, 123, LEVELS, 0, MISSING]), 6, lo, hi, 3);
    expect(out[0]).toBe(0);
    expect(out[1]).toBeCloseTo(2, 6);
    expect(out[2]).toBe(5);
    expect(out[3]).toBeCloseTo(1, 6);
    expect(out[4]).toBe(-2);
    expect(Number.isNaN(out[5])).toBe(true);
  });

  it("stays within half a level of the original", () => {
    const v = Array.from({ length: 500 }, (_, i) => Math.sin(i) * 3.7);
    const lo = Math.min(...v);
    const hi = Math.max(...v);
    const codes = v.map((x) => Math.round(((x - lo) / (hi - lo)) * LEVELS));
    const out = decodeU16(u16(codes), v.length, [lo], [hi], 1);
    const bound = (hi - lo) / LEVELS / 2;
    for (let i = 0; i < v.length; i++) expect(Math.abs(out[i] - v[i])).toBeLessThanOrEqual(bound * 1.0001 + 1e-6);
  });

  it("refuses a short payload", () => {
    expect(() => decodeU16(new Uint8Array(3), 2, [0], [1], 1)).toThrow(RangeError);
  });
});

describe("feature order and collapse", () => {
  it("orders by mean |value| summed over outputs, ties by index", () => {
    // 2 outputs x 4 features
    // sums per feature: 2, 3, 4, 3
    expect(featureOrder([1, 3, 2, 2, 1, 0, 2, 1], 2, 4)).toEqual([2, 1, 3, 0]);
    expect(featureOrder([1, 1, 1], 1, 3)).toEqual([0, 1, 2]);
  });

  it("keeps max_display - 1 rows and sums the rest, as shap", () => {
    expect(collapse([4, 3, 2, 1, 0], 5)).toEqual({ shown: [4, 3, 2, 1, 0], rest: [] });
    expect(collapse([4, 3, 2, 1, 0, 5], 5)).toEqual({ shown: [4, 3, 2, 1], rest: [0, 5] });
    expect(collapse([0, 1, 2], 1)).toEqual({ shown: [], rest: [0, 1, 2] });
    expect(otherLabel(1)).toBe("1 other feature");
    expect(otherLabel(7)).toBe("7 other features");
  });
});

describe("swarmOffsets", () => {
  it("alternates 0, +1, -1, +2 ... within a bin, in sample order", () => {
    expect(Array.from(swarmOffsets([1, 1, 1, 1, 1]))).toEqual([0, 1, -1, 2, -2]);
  });

  it("restarts per bin (shap's 100 bins) and matches the Python layout", () => {
    // values 0, 0, 1, 1, 1, 0.5: three bins; Python gives [0, 1, 0, 1, -1, 0]
    expect(Array.from(swarmOffsets([0, 0, 1, 1, 1, 0.5]))).toEqual([0, 1, 0, 1, -1, 0]);
    const v = Array.from({ length: 2000 }, (_, i) => Math.round(Math.sin(i * 12.9898) * 437.5) / 100);
    const o = swarmOffsets(v);
    // each bin's dots fill layers 0, 1, -1, ... without gaps: per bin, counts per |layer| are 1 or 2
    const bins = new Map<number, number[]>();
    const lo = Math.min(...v);
    const hi = Math.max(...v);
    v.forEach((x, i) => {
      const q = Math.round((100 * (x - lo)) / (hi - lo + 1e-8));
      (bins.get(q) ?? bins.set(q, []).get(q)!).push(o[i]);
    });
    for (const layers of bins.values()) {
      const sorted = layers.slice().sort((a, b) => a - b);
      const k = layers.length;
      const expected = Array.from({ length: k }, (_, l) => (l === 0 ? 0 : Math.ceil(l / 2) * ((l % 2) * 2 - 1))).sort((a, b) => a - b);
      expect(sorted).toEqual(expected);
    }
  });

  it("handles empty and single rows", () => {
    expect(swarmOffsets([]).length).toBe(0);
    expect(Array.from(swarmOffsets([3]))).toEqual([0]);
  });
});

describe("colours", () => {
  it("maps low to blue, high to red, clipped, NaN grey", () => {
    expect(redBlue(0)).toEqual(LOW);
    expect(redBlue(1)).toEqual(HIGH);
    expect(redBlue(colorUnit(-5, 0, 1))).toEqual(LOW);
    expect(redBlue(colorUnit(5, 0, 1))).toEqual(HIGH);
    expect(colorUnit(0.25, 0, 1)).toBe(0.25);
    expect(Number.isNaN(colorUnit(NaN, 0, 1))).toBe(true);
    expect(redBlue(NaN)).toEqual([153, 153, 153]);
  });

  it("keeps both ends distinguishable on light and dark backgrounds", () => {
    for (const bg of [[255, 255, 255], [30, 31, 34]] as [number, number, number][]) {
      expect(contrastRatio(LOW, bg)).toBeGreaterThan(1.5);
      expect(contrastRatio(HIGH, bg)).toBeGreaterThan(1.5);
    }
  });
});

describe("axes and labels", () => {
  it("gives round ticks inside the range", () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    const t = niceTicks(-3.7, 4.2, 4);
    expect(t.every((x) => x >= -3.7 && x <= 4.2)).toBe(true);
    expect(t).toContain(0);
    expect(niceTicks(2, 2, 5)).toEqual([2]);
  });

  it("pads extents and keeps zero when asked", () => {
    expect(paddedExtent([1, 2], true)).toEqual([-0.1, 2.1]);
    const [lo, hi] = paddedExtent([5, 5], false);
    expect(lo).toBeLessThan(5);
    expect(hi).toBeGreaterThan(5);
    expect(paddedExtent([NaN], false)).toEqual([0, 1]);
  });

  it("clips long names with an ellipsis to the width", () => {
    const m = (s: string) => [...s].length * 7;
    expect(fitLabel("short", 100, m)).toBe("short");
    const f = fitLabel("worst concave points, a long feature name", 100, m);
    expect(f.endsWith("…")).toBe(true);
    expect(m(f)).toBeLessThanOrEqual(100);
  });

  it("finds the nearest dot within the radius, the later one on ties", () => {
    const xs = [0, 10, 10, 30];
    const ys = [0, 0, 0, 0];
    expect(nearest(xs, ys, 9, 1, 5)).toBe(2);
    expect(nearest(xs, ys, 20, 0, 5)).toBe(-1);
  });
});
