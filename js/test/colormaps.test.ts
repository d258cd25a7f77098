import { describe, expect, it } from "vitest";
import { COLORMAPS, DIVERGING, colorAt, isColormap, isDiverging, lut } from "../src/lib/colormaps";

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
