import { describe, expect, it } from "vitest";
import {
  axisTicks,
  byMagnitude,
  collapseFeatures,
  forceStack,
  lighten,
  logit,
  logitTicks,
  niceTicks,
  OTHER,
  outputOrder,
  paddedRange,
  placeLabels,
  positions,
  sampleAt,
  sampleX,
  sigmoid,
  waterfallRows,
} from "../src/lib/force_layout";
import { clip } from "../src/force/labels";

const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);

describe("collapseFeatures", () => {
  it("keeps the largest features and sums the rest into other, by sign", () => {
    const row = [0.5, -0.3, 0.05, -0.04, 0.02, 0.01, 2.0];
    const c = collapseFeatures(row, 3, 1.0);
    expect(c.kept).toEqual([6, 0, 1]); // by |v| desc, capped at 3
    expect(c.otherPos).toBeCloseTo(0.05 + 0.02 + 0.01);
    expect(c.otherNeg).toBeCloseTo(-0.04);
    expect(c.otherCount).toBe(4);
    expect([c.otherPosCount, c.otherNegCount]).toEqual([3, 1]);
    // kept + other = everything
    const keptSum = sum(c.kept.map((i) => row[i]));
    expect(keptSum + c.otherPos + c.otherNeg).toBeCloseTo(sum(row), 12);
  });

  it("stops once the kept features cover the requested fraction of sum|v|", () => {
    const row = [10, -5, 3, 1, 0.5, 0.5];
    // sum|v| = 20; 95% = 19: 10 + 5 + 3 + 1 = 19
    const c = collapseFeatures(row, 12, 0.95);
    expect(c.kept).toEqual([0, 1, 2, 3]);
    expect(c.otherCount).toBe(2);
    expect(c.otherPos).toBeCloseTo(1);
    // 50%: the first feature alone covers it
    expect(collapseFeatures(row, 12, 0.5).kept).toEqual([0]);
  });

  it("does not collapse a lone feature, drops zeros, handles all-zero rows", () => {
    const row = [4, 3, 2, 1];
    // 90% of 10 = 9: 4 + 3 + 2 = 9 -> 1 left over -> kept rather than "1 other"
    expect(collapseFeatures(row, 12, 0.9)).toEqual({ kept: [0, 1, 2, 3], otherPos: 0, otherNeg: 0, otherCount: 0, otherPosCount: 0, otherNegCount: 0 });
    // but the cap is respected
    expect(collapseFeatures(row, 3, 1).kept).toEqual([0, 1, 2]);
    const z = collapseFeatures([0, 2, 0], 12, 0.95);
    expect(z.kept).toEqual([1]);
    expect(z.otherCount).toBe(0);
    expect(collapseFeatures([0, 0], 12, 0.95)).toEqual({ kept: [], otherPos: 0, otherNeg: 0, otherCount: 0, otherPosCount: 0, otherNegCount: 0 });
  });

  it("orders ties deterministically by index", () => {
    expect(byMagnitude([1, -1, 2, -2])).toEqual([2, 3, 0, 1]);
  });
});

describe("forceStack", () => {
  it("stacks positives down from the output and negatives up from it", () => {
    const row = [0.2, -0.5, 1.0, -0.1];
    const st = forceStack(row, 3);
    expect(st.output).toBeCloseTo(3.6);
    expect(st.pos.map((s) => s.feature)).toEqual([2, 0]); // largest next to the output
    expect(st.neg.map((s) => s.feature)).toEqual([1, 3]);
    expect(st.pos[0]).toMatchObject({ lo: expect.closeTo(2.6, 12), hi: expect.closeTo(3.6, 12) });
    expect(st.pos[1]).toMatchObject({ lo: expect.closeTo(2.4, 12), hi: expect.closeTo(2.6, 12) });
    expect(st.neg[0]).toMatchObject({ lo: expect.closeTo(3.6, 12), hi: expect.closeTo(4.1, 12) });
    expect(st.neg[1]).toMatchObject({ lo: expect.closeTo(4.1, 12), hi: expect.closeTo(4.2, 12) });
    // segments are contiguous and the red span starts where the blue one ends, net = output - base
    const redLo = st.pos[st.pos.length - 1].lo;
    const blueHi = st.neg[st.neg.length - 1].hi;
    expect(redLo + (blueHi - st.output)).toBeCloseTo(st.base, 12);
  });

  it("puts collapsed features at the far ends as OTHER, keeping the sums exact", () => {
    const row = [0.5, -0.3, 0.05, -0.04, 0.02, 2.0];
    const c = collapseFeatures(row, 2, 1);
    const st = forceStack(row, 0, c);
    expect(st.pos.map((s) => s.feature)).toEqual([5, 0, OTHER]);
    expect(st.neg.map((s) => s.feature)).toEqual([OTHER]); // -0.3 was not among the 2 kept
    expect(sum(st.pos.map((s) => s.value))).toBeCloseTo(2.57, 12);
    expect(sum(st.neg.map((s) => s.value))).toBeCloseTo(-0.34, 12);
    expect(st.output).toBeCloseTo(sum(row), 12);
    for (const s of [...st.pos, ...st.neg]) expect(s.hi - s.lo).toBeCloseTo(Math.abs(s.value), 12);
  });
});

describe("waterfallRows", () => {
  it("runs from the base value (other first, smallest kept) to the output (largest last)", () => {
    const row = [0.5, -0.3, 0.05, -0.04, 2.0];
    const c = collapseFeatures(row, 3, 1);
    const rows = waterfallRows(row, 1, c);
    expect(rows.map((r) => r.feature)).toEqual([OTHER, 1, 0, 4]);
    expect(rows[0].start).toBe(1);
    expect(rows[0].value).toBeCloseTo(0.01, 12);
    for (let k = 1; k < rows.length; k++) expect(rows[k].start).toBeCloseTo(rows[k - 1].end, 12);
    expect(rows[rows.length - 1].end).toBeCloseTo(1 + sum(row), 12);
    // no "other" row when nothing was collapsed
    expect(waterfallRows([1, 2], 0, collapseFeatures([1, 2], 12, 1)).map((r) => r.feature)).toEqual([0, 1]);
  });
});

describe("ticks", () => {
  it("nice linear ticks cover the range with round steps", () => {
    expect(niceTicks(0, 1, 5).map((t) => t.pos)).toEqual([0, 0.2, 0.4, 0.6000000000000001, 0.8, 1]);
    expect(niceTicks(0, 1, 5).map((t) => t.label)).toEqual(["0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
    const t = niceTicks(-3.7, 12.2, 6);
    expect(t[0].pos).toBeGreaterThanOrEqual(-3.7);
    expect(t[t.length - 1].pos).toBeLessThanOrEqual(12.2);
    expect(t.map((x) => x.label)).toContain("0");
    expect(niceTicks(2, 2)).toEqual([{ pos: 2, label: "2" }]);
    // a nice step that would leave one tick is made finer: a scale needs two
    expect(niceTicks(2.172, 3.888, 3).map((x) => x.label)).toEqual(["2.5", "3.0", "3.5"]);
    for (const [a, b, n] of [[0.9, 1.05, 2], [2.172, 3.888, 3], [-0.01, 0.019, 1]]) expect(niceTicks(a, b, n).length).toBeGreaterThanOrEqual(2);
  });

  it("logit ticks sit at log-odds of round probabilities", () => {
    const t = logitTicks(-3, 3, 20);
    expect(t.map((x) => x.label)).toEqual(["0.05", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "0.95"]);
    for (const x of t) expect(sigmoid(x.pos)).toBeCloseTo(Number(x.label), 12);
    expect(logitTicks(0, 0)).toEqual([{ pos: 0, label: "0.5" }]);
    // thinned to at most maxTicks, keeping the ends
    const thin = logitTicks(-10, 10, 5);
    expect(thin.length).toBeLessThanOrEqual(5);
    expect(thin[0].label).toBe("0.0001");
    expect(thin[thin.length - 1].label).toBe("0.9999");
    // a narrow range between candidates still gets probability labels
    const narrow = logitTicks(logit(0.52), logit(0.58));
    expect(narrow.length).toBeGreaterThan(0);
    for (const x of narrow) {
      expect(x.pos).toBeGreaterThanOrEqual(logit(0.52) - 1e-9);
      expect(sigmoid(x.pos)).toBeCloseTo(Number(x.label), 9);
    }
    expect(axisTicks(-3, 3, "logit")[0].label).toBe("0.05");
    expect(axisTicks(0, 1, "identity", 5)[1].label).toBe("0.2");
  });
});

describe("placement and geometry", () => {
  it("places labels greedily on rows without overlap", () => {
    const items = [
      { center: 100, width: 80 },
      { center: 120, width: 80 }, // overlaps the first -> row 1
      { center: 300, width: 50 }, // free on row 0
      { center: 110, width: 80 }, // rows 0 and 1 taken -> row 2
      { center: 105, width: 80 }, // no room
      { center: 5, width: 40 }, // shifted inside [0, ...], fits left of the first
    ];
    const p = placeLabels(items, 3, 0, 400, 6);
    expect(p.map((x) => x.row)).toEqual([0, 1, 0, 2, -1, 0]);
    expect(p[5].x).toBe(0);
    expect(p[0].x).toBe(60);
  });

  it("maps x to sample columns and back", () => {
    const n = 2000;
    for (const k of [0, 1, 999, 1999]) expect(sampleAt(sampleX(k, 60, 800, n), 60, 800, n)).toBe(k);
    expect(sampleAt(-5, 60, 800, n)).toBe(0);
    expect(sampleAt(5000, 60, 800, n)).toBe(n - 1);
    expect(sampleX(0, 10, 100, 4)).toBe(22.5);
  });

  it("orders by output and inverts permutations", () => {
    expect(outputOrder([0.1, 3, -1, 3])).toEqual([1, 3, 0, 2]);
    expect(Array.from(positions([2, 0, 1]))).toEqual([1, 2, 0]);
  });

  it("helpers: lighten, clip", () => {
    expect(lighten([255, 0, 81], 0)).toEqual([255, 0, 81]);
    expect(lighten([0, 0, 0], 1)).toEqual([255, 255, 255]);
    expect(clip("abc", 10)).toBe("abc");
    expect(clip("abcdefghijkl", 5)).toBe("abcd…");
  });
});

describe("paddedRange", () => {
  it("adds the margin on both sides", () => {
    expect(paddedRange(0, 10, 0.05)).toEqual([-0.5, 10.5]);
  });
  it("widens a degenerate range before the margin", () => {
    expect(paddedRange(2, 2, 0)).toEqual([1.8, 2.2]);
    expect(paddedRange(0, 0, 0)).toEqual([-1, 1]);
  });
});
