import { describe, expect, it } from "vitest";
import { FLAG_PADDING, FLAG_SPECIAL } from "../src/text/colors";
import { rowScales, sampleData, shownSum, shownValues } from "../src/text/data";
import { WORD_GAP, breakLines, gutterWidth } from "../src/text/layout";
import type { ArrayMeta } from "../src/lib/decode";

describe("breakLines", () => {
  it("fills lines greedily, a gap before each word, none at a line start or inside a word", () => {
    const widths = [30, 20, 40, 10, 50];
    const joins = [false, false, false, true, false];
    const lines = breakLines(widths, joins, 100);
    // 30 | +4+20=54 | +4+40=98 | +0+10=108 > 100 -> new line
    expect(lines.map((l) => l.cols)).toEqual([[0, 1, 2], [3, 4]]);
    expect(lines[0].gaps).toEqual([0, WORD_GAP, WORD_GAP]);
    expect(lines[1].gaps).toEqual([0, WORD_GAP]);
    expect(lines[0].tracks).toEqual([30, 24, 44]);
    for (const l of lines) expect(l.tracks.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(100);
  });

  it("never makes a line wider than the room, whatever the widths", () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (const room of [60, 173, 400, 997]) {
      const widths = Array.from({ length: 300 }, () => Math.ceil(rnd() * 900));
      const joins = widths.map(() => rnd() < 0.2);
      const lines = breakLines(widths, joins, room);
      expect(lines.flatMap((l) => l.cols)).toEqual(widths.map((_, j) => j)); // every column once, in order
      for (const l of lines) {
        expect(l.tracks.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(room);
        expect(l.gaps[0]).toBe(0);
      }
    }
  });

  it("gives a token wider than a line the whole line (its text wraps inside)", () => {
    const lines = breakLines([20, 500, 20], [false, false, false], 120);
    expect(lines.map((l) => l.cols)).toEqual([[0], [1], [2]]);
    expect(lines[1].tracks).toEqual([120]);
  });
});

describe("gutterWidth", () => {
  it("fits the longest method name within a share of the width", () => {
    expect(gutterWidth([], 800)).toBe(0);
    expect(gutterWidth([50, 80], 800)).toBe(90);
    expect(gutterWidth([300], 800)).toBe(160); // capped
    expect(gutterWidth([300], 400)).toBe(120); // 30 % of a narrow output
  });
});

describe("sampleData", () => {
  // two samples, two methods, four tokens: value = 100 * sample + 10 * method + token
  const meta: ArrayMeta = { dtype: "float32", shape: [2, 2, 4], samples: [3, 5] };
  const decoded = new Float32Array(16);
  [3, 5].forEach((s, r) => {
    for (let m = 0; m < 2; m++) for (let t = 0; t < 4; t++) decoded[(r * 2 + m) * 4 + t] = 100 * s + 10 * m + t;
  });
  const tokens = [["a", "b", "c", "[PAD]"], ["x", "y", "z", "w"]];
  const flags = [[0, 0, 0, FLAG_SPECIAL | FLAG_PADDING], [0, 0, 0, 0]];

  it("picks the sample's rows by its number, one array per method", () => {
    const d = sampleData(meta, decoded, 3, tokens, tokens, flags)!;
    expect(Array.from(d.values[0])).toEqual([300, 301, 302, 303]);
    expect(Array.from(d.values[1])).toEqual([310, 311, 312, 313]);
    expect(d.shown).toEqual([0, 1, 2]); // padding dropped, positions kept
    const e = sampleData(meta, decoded, 5, tokens, tokens, flags)!;
    expect(Array.from(e.values[1])).toEqual([510, 511, 512, 513]);
    expect(e.shown).toEqual([0, 1, 2, 3]);
    expect(sampleData(meta, decoded, 4, tokens, tokens, flags)).toBeNull();
  });

  it("reads a 2-D (rows, T) buffer as one method", () => {
    const d = sampleData({ dtype: "float32", shape: [1, 3] }, new Float32Array([1, 2, 3]), 0, [["a", "b", "c"]], [], [[]])!;
    expect(d.values.length).toBe(1);
    expect(d.shown).toEqual([0, 1, 2]);
  });

  it("scales per method or shared, over shown tokens only", () => {
    const vals = [new Float32Array([1, -2, 0.5, 100]), new Float32Array([10, 5, -20, 1000])];
    const d = { sample: 0, tokens: [], display: [], flags: [], values: vals, shown: [0, 1, 2] };
    expect(rowScales(d, "all", 100, false)).toEqual([2, 20]); // the padded 100 / 1000 never count
    expect(rowScales(d, "all", 100, true)).toEqual([20, 20]);
    expect(rowScales(d, "positive", 100, false)).toEqual([1, 10]);
    expect(Array.from(shownValues(vals[0], [2, 0]))).toEqual([0.5, 1]);
    expect(shownSum(vals[0], [0, 1, 2])).toBeCloseTo(-0.5);
  });
});
