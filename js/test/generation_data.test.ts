import { describe, expect, it } from "vitest";
import { colorAt, contrastRatio, type RGB } from "../src/lib/colormaps";
import { matrixPixels, unseenColor } from "../src/generation/cells";
import { clampToken, generatedAt, genData, row, rowScales, sourceState, type GenData } from "../src/generation/data";
import { displayToken, sourceStyles } from "../src/generation/layout";

// P = 3 prompt tokens, G = 2 generated: S = 5; row g is meaningful for s < 3 + g
function make(values: number[][]): GenData {
  const d = genData(
    { dtype: "float32", shape: [2, 5] },
    Float32Array.from(values.flat()),
    3,
    ["<s>", "The", " sky", " is", " blue"],
    [" is", " blue"],
    [true, false, false, false, false],
    [-0.1, -0.7],
  );
  if (!d) throw new Error("genData refused a consistent state");
  return d;
}

const V = [
  [0.5, -2.0, 1.0, 99, 99], // entries after the token must not count
  [0.1, 0.2, -0.3, 0.25, 99],
];

describe("generation data", () => {
  it("refuses states whose shapes disagree", () => {
    const dec = new Float32Array(10);
    expect(genData({ dtype: "float32", shape: [2, 5] }, dec, 2, [], [], [])).toBeNull(); // S != P + G
    expect(genData({ dtype: "float32", shape: [10] }, dec, 3, [], [], [])).toBeNull();
    expect(genData({ dtype: "float32", shape: [2, 5] }, new Float32Array(9), 3, [], [], [])).toBeNull();
    expect(genData(null, dec, 3, [], [], [])).toBeNull();
  });

  it("places sources before, at and after a generated token", () => {
    const d = make(V);
    expect([0, 1, 2, 3, 4].map((s) => sourceState(d, 0, s))).toEqual(["context", "context", "context", "self", "later"]);
    expect([0, 1, 2, 3, 4].map((s) => sourceState(d, 1, s))).toEqual(["context", "context", "context", "context", "self"]);
    expect([0, 2, 3, 4, 5].map((s) => generatedAt(d, s))).toEqual([null, null, 0, 1, null]);
    expect(Array.from(row(d, 1))).toEqual(Array.from(Float32Array.from(V[1])));
    expect([clampToken(1, 2), clampToken(2, 2), clampToken(-1, 2), clampToken(0.5, 2), clampToken(null, 2)]).toEqual([1, 0, 0, 0, 0]);
  });

  it("scales per token and globally over each token's context only", () => {
    const d = make(V);
    expect(Array.from(rowScales(d, "token"))).toEqual([2, 0.30000001192092896]);
    expect(Array.from(rowScales(d, "global"))).toEqual([2, 2]);
    const zero = make([[0, 0, 0, 5, 5], [0, 0, 0, 0, 5]]);
    expect(Array.from(rowScales(zero, "token"))).toEqual([1, 1]); // never 0: falls back to 1
  });
});

describe("token display and colours", () => {
  it("shows newlines as a visible mark followed by a break", () => {
    expect(displayToken(" a")).toEqual({ text: " a", breakAfter: false });
    expect(displayToken(".\n\n")).toEqual({ text: ".↵↵", breakAfter: true });
    expect(displayToken("a\r\nb")).toEqual({ text: "a↵b", breakAfter: true });
    expect(displayToken('<img src=x onerror="1">').text).toBe('<img src=x onerror="1">');
  });

  for (const bg of [[255, 255, 255], [33, 33, 33]] as RGB[]) {
    it(`colours the context by sign and leaves the rest as the page (${bg})`, () => {
      const d = make(V);
      const st = sourceStyles(d, 0, 2, "coolwarm", bg);
      expect(st.map((s) => s.state)).toEqual(["context", "context", "context", "self", "later"]);
      // -2 at the scale's end: coolwarm's blue end, opaque
      expect(st[1].background).toEqual(colorAt("coolwarm", 0));
      expect(st[1].alpha).toBe(1);
      // +1 of 2: half-way blend of the red side over the page
      expect(st[2].alpha).toBeCloseTo(0.5, 6);
      expect(st[2].background[0]).toBeGreaterThan(st[2].background[2]);
      // the token itself and later sources (99 there) are unpainted
      expect(st[3].background).toEqual(bg);
      expect(st[4].background).toEqual(bg);
      expect(st[4].alpha).toBe(0);
      for (const s of st) expect(contrastRatio(s.text, s.background)).toBeGreaterThanOrEqual(4.5);
      // the special token's text is dimmed, still readable
      const plain = sourceStyles(make(V), 0, 2, "coolwarm", bg);
      expect(plain[0].text).not.toEqual([0, 0, 0]);
      expect(plain[0].text).not.toEqual([255, 255, 255]);
    });
  }

  it("paints matrix cells per row scale, unseen cells tinted", () => {
    const d = make(V);
    const bg: RGB = [255, 255, 255];
    const px = matrixPixels(d, rowScales(d, "token"), "coolwarm", bg);
    const at = (g: number, s: number) => Array.from(px.slice(4 * (g * 5 + s), 4 * (g * 5 + s) + 3));
    expect(at(0, 1)).toEqual(colorAt("coolwarm", 0)); // -2 of row max 2
    expect(at(1, 2)).toEqual(colorAt("coolwarm", 0)); // -0.3 of row max 0.3: the same full blue
    expect(at(0, 3)).toEqual(unseenColor(bg));
    expect(at(0, 4)).toEqual(unseenColor(bg));
    expect(at(1, 4)).toEqual(unseenColor(bg));
    const glob = matrixPixels(d, rowScales(d, "global"), "coolwarm", bg);
    // under one scale, -0.3 is a pale blue
    expect(glob[4 * 7 + 2]).toBeGreaterThan(glob[4 * 7]);
    expect(glob[4 * 7]).toBeGreaterThan(150);
    expect(px[3]).toBe(255);
  });
});
