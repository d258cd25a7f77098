import { describe, expect, it } from "vitest";
import { COLORMAPS, lut, type RGB } from "../src/lib/colormaps";
import { cellText, inkOn, isDark, layerLabel, matchInk } from "../src/attention/labels";

// WCAG 2.x contrast, written out here independently of the code under test
const lin = (c: number) => (c / 255 <= 0.03928 ? c / 255 / 12.92 : ((c / 255 + 0.055) / 1.055) ** 2.4);
const lum = (c: RGB) => 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
const contrast = (a: RGB, b: RGB) => {
  const [x, y] = [lum(a), lum(b)];
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
};
const hex = (s: string): RGB => [1, 3, 5].map((i) => parseInt(s.slice(i, i + 2), 16)) as RGB;

describe("text over heatmap cells", () => {
  it("black or white reaches 4.5:1 over every colour of every colormap", () => {
    let worst = Infinity;
    for (const name of COLORMAPS) {
      const t = lut(name);
      for (let i = 0; i < 256; i++) {
        const c: RGB = [t[3 * i], t[3 * i + 1], t[3 * i + 2]];
        const r = contrast(hex(inkOn(c)), c);
        worst = Math.min(worst, r);
        // and it is the better of the two
        expect(r).toBeGreaterThanOrEqual(Math.min(contrast([0, 0, 0], c), contrast([255, 255, 255], c)));
      }
    }
    expect(worst).toBeGreaterThanOrEqual(4.5);
  });

  it("picks white on viridis' dark end and black on its yellow end", () => {
    expect(inkOn([68, 1, 84])).toBe("#ffffff");
    expect(inkOn([253, 231, 37])).toBe("#000000");
  });

  it("search-match labels keep 4.5:1 on light and dark backgrounds", () => {
    for (const bg of ["#ffffff", "#f4f5f7", "#111111", "#1e1f22", "#212121"]) {
      expect(contrast(hex(matchInk(bg)), hex(bg))).toBeGreaterThanOrEqual(4.5);
    }
    expect(isDark("rgb(17, 17, 17)")).toBe(true);
    expect(isDark("rgb(255, 255, 255)")).toBe(false);
  });
});

describe("labels", () => {
  it("layer rows show the index", () => {
    expect([0, 1, 11].map(layerLabel)).toEqual(["L0", "L1", "L11"]);
  });

  it("cell text is as short as the value allows", () => {
    expect(cellText(0.4231)).toBe(".42");
    expect(cellText(0.005)).toBe(".01");
    expect(cellText(0.996)).toBe("1");
    expect(cellText(1)).toBe("1");
    expect(cellText(2.345)).toBe("2.3");
    expect(cellText(12.6)).toBe("13");
    expect(cellText(-0.25)).toBe("-.25");
    expect(cellText(0.0003)).toBe("3e-4");
    expect(cellText(0)).toBe("0");
    expect(cellText(NaN)).toBe("NaN");
  });
});
