import { describe, expect, it } from "vitest";
import {
  BLACK,
  COLORMAPS,
  DIVERGING,
  WHITE,
  blend,
  colorAt,
  contrastRatio,
  dimmedText,
  isColormap,
  isDiverging,
  lut,
  readableText,
  type RGB,
} from "../src/lib/colormaps";

// Reference values: matplotlib.colormaps[name]([0, 0.25, 0.5, 0.75, 1]) * 255, rounded.
const REF: Record<string, [number, number, number][]> = {
  coolwarm: [[59, 76, 192], [141, 176, 254], [221, 220, 220], [244, 152, 122], [180, 4, 38]],
  bwr: [[0, 0, 255], [128, 128, 255], [255, 254, 254], [255, 126, 126], [255, 0, 0]],
  RdBu_r: [[5, 48, 97], [107, 172, 209], [247, 246, 246], [228, 128, 102], [103, 0, 31]],
  viridis: [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]],
  inferno: [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]],
  magma: [[0, 0, 4], [81, 18, 124], [183, 55, 121], [252, 137, 97], [252, 253, 191]],
  gray: [[0, 0, 0], [64, 64, 64], [128, 128, 128], [192, 192, 192], [255, 255, 255]],
  hot: [[11, 0, 0], [179, 0, 0], [255, 92, 0], [255, 255, 7], [255, 255, 255]],
};

describe("colormaps", () => {
  for (const [name, ref] of Object.entries(REF)) {
    it(`${name}: endpoints, midpoint and quarters match matplotlib`, () => {
      [0, 0.25, 0.5, 0.75, 1].forEach((t, i) => {
        const c = colorAt(name, t);
        for (let k = 0; k < 3; k++) expect(Math.abs(c[k] - ref[i][k])).toBeLessThanOrEqual(1);
      });
    });
  }

  it("clamps t and treats NaN as the low end", () => {
    expect(colorAt("viridis", -3)).toEqual(colorAt("viridis", 0));
    expect(colorAt("viridis", 7)).toEqual(colorAt("viridis", 1));
    expect(colorAt("viridis", NaN)).toEqual(colorAt("viridis", 0));
  });

  it("LUT has 256 entries with the endpoints", () => {
    const l = lut("coolwarm");
    expect(l.length).toBe(768);
    expect(Array.from(l.slice(0, 3))).toEqual([59, 76, 192]);
    expect(Array.from(l.slice(765))).toEqual([180, 4, 38]);
  });

  it("knows its names; unknown names throw", () => {
    expect(COLORMAPS.length).toBe(15);
    for (const n of COLORMAPS) expect(isColormap(n)).toBe(true);
    expect(isDiverging("coolwarm")).toBe(true);
    expect(isDiverging("viridis")).toBe(false);
    expect(DIVERGING).toContain("RdBu_r");
    expect(isColormap("jet")).toBe(false);
    expect(() => colorAt("jet", 0.5)).toThrow(/unknown colormap/);
  });
});

describe("contrast helpers", () => {
  // WCAG 2.x reference ratios (WebAIM contrast checker): #777 on white 4.48, #767676 on white 4.54
  it("contrastRatio matches the WCAG reference values", () => {
    expect(contrastRatio(BLACK, WHITE)).toBeCloseTo(21, 6);
    expect(contrastRatio([119, 119, 119], WHITE)).toBeCloseTo(4.48, 2);
    expect(contrastRatio([118, 118, 118], WHITE)).toBeCloseTo(4.54, 2);
    expect(contrastRatio([40, 90, 200], [40, 90, 200])).toBe(1);
    expect(contrastRatio(WHITE, [33, 33, 33])).toBeCloseTo(contrastRatio([33, 33, 33], WHITE), 12);
  });

  it("blend paints top over bottom at alpha, rounded", () => {
    expect(blend([255, 0, 0], [0, 0, 255], 0.5)).toEqual([128, 0, 128]);
    expect(blend([10, 20, 30], [200, 200, 200], 0)).toEqual([200, 200, 200]);
    expect(blend([10, 20, 30], [200, 200, 200], 1)).toEqual([10, 20, 30]);
    expect(blend([10, 20, 30], [200, 200, 200], 7)).toEqual([10, 20, 30]); // clamped
  });

  it("readableText: black or white, the better one, always >= 4.58:1 (every colour on a grid of 18^3)", () => {
    let worst = Infinity;
    for (let r = 0; r <= 255; r += 15)
      for (let g = 0; g <= 255; g += 15)
        for (let b = 0; b <= 255; b += 15) {
          const bg: RGB = [r, g, b];
          const t = readableText(bg);
          const cb = contrastRatio(BLACK, bg);
          const cw = contrastRatio(WHITE, bg);
          expect(t).toEqual(cb >= cw ? BLACK : WHITE);
          worst = Math.min(worst, contrastRatio(t, bg));
        }
    expect(worst).toBeGreaterThanOrEqual(4.5);
    // the bound is tight: sqrt(1.05 * 0.05) / 0.05
    expect(worst).toBeLessThan(Math.sqrt(1.05 * 0.05) / 0.05 + 0.2);
  });

  it("readableText puts dark text on near-white and light text on near-black", () => {
    expect(readableText([221, 220, 220])).toEqual(BLACK); // coolwarm's midpoint
    expect(readableText([252, 255, 164])).toEqual(BLACK); // inferno's top
    expect(readableText([33, 33, 33])).toEqual(WHITE); // JupyterLab dark background
    expect(readableText([59, 76, 192])).toEqual(WHITE); // coolwarm's low end
    expect(readableText([255, 0, 0])).toEqual(BLACK); // white on pure red is only 4.0:1
  });

  it("dimmedText fades toward the background but keeps the ratio", () => {
    for (const bg of [WHITE, [33, 33, 33] as RGB, [221, 220, 220] as RGB, [180, 4, 38] as RGB, [128, 128, 128] as RGB]) {
      const d = dimmedText(bg);
      expect(contrastRatio(d, bg)).toBeGreaterThanOrEqual(4.5);
      expect(contrastRatio(d, bg)).toBeLessThanOrEqual(contrastRatio(readableText(bg), bg));
    }
    // on white there is room: clearly grey, not black
    const onWhite = dimmedText(WHITE);
    expect(onWhite[0]).toBeGreaterThan(90);
    expect(contrastRatio(onWhite, WHITE)).toBeLessThan(5);
  });
});
