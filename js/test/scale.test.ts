import { describe, expect, it } from "vitest";
import {
  clientToCanvas,
  colorbarRange,
  displayToOriginal,
  formatValue,
  normalize,
  originalToDisplay,
  originalToDisplayIndex,
  panelSign,
  percentile,
  scaleMax,
  sharedScale,
  signed,
} from "../src/lib/scale";
import { compositeOverlay } from "../src/lib/canvas";
import { luminance } from "../src/lib/colormaps";
import { tokenColors } from "../src/text_heatmap";

describe("percentile", () => {
  it("matches numpy's linear interpolation", () => {
    const x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(x, 50)).toBeCloseTo(5.5); // np.percentile(range(1,11), 50)
    expect(percentile(x, 99.5)).toBeCloseTo(9.955); // np.percentile(..., 99.5)
    expect(percentile(x, 0)).toBe(1);
    expect(percentile(x, 100)).toBe(10);
    expect(percentile([3, NaN, 1, Infinity, 2], 50)).toBe(2); // non-finite ignored
    expect(Number.isNaN(percentile([], 50))).toBe(true);
  });

  it("scaleMax clips outliers and depends on the sign mode", () => {
    const m = new Float32Array(1000).fill(1);
    m[0] = 1000; // one outlier
    m[1] = -3;
    expect(scaleMax([m], "all", 99.5)).toBeCloseTo(1);
    expect(scaleMax([m], "all", 100)).toBe(1000);
    expect(scaleMax([m], "negative", 100)).toBe(3);
    expect(scaleMax([new Float32Array(4)], "all", 99)).toBe(1); // all zero -> 1
    // shared over two maps = max over both
    expect(scaleMax([new Float32Array([1, 2]), new Float32Array([-5])], "all", 100)).toBe(5);
  });

  it("signed() transforms", () => {
    expect(signed(-2, "all")).toBe(-2);
    expect(signed(-2, "positive")).toBe(0);
    expect(signed(-2, "negative")).toBe(2);
    expect(signed(-2, "absolute")).toBe(2);
  });
});

describe("normalize", () => {
  it("symmetric scale for signed values", () => {
    expect(normalize(0, "all", 2, true)).toEqual({ t: 0.5, m: 0 });
    expect(normalize(2, "all", 2, true)).toEqual({ t: 1, m: 1 });
    expect(normalize(-4, "all", 2, true)).toEqual({ t: 0, m: 1 }); // clipped
  });
  it("magnitude modes use half of a diverging map, all of a sequential one", () => {
    expect(normalize(1, "positive", 2, true).t).toBeCloseTo(0.75);
    expect(normalize(-1, "negative", 2, true).t).toBeCloseTo(0.25);
    expect(normalize(-1, "absolute", 2, false).t).toBeCloseTo(0.5);
    expect(normalize(-1, "positive", 2, false)).toEqual({ t: 0, m: 0 });
    expect(colorbarRange("negative", 3)).toEqual([-3, 0]);
    expect(colorbarRange("all", 3)).toEqual([-3, 3]);
  });
});

describe("coordinate mapping (display <-> ORIGINAL pixels)", () => {
  it("identity when not downsampled", () => {
    expect(displayToOriginal(10.7, 3.2, [224, 224], [224, 224])).toEqual([3, 10]);
    expect(originalToDisplay(3, 10, [224, 224], [224, 224])).toEqual([10.5, 3.5]);
  });
  it("maps a 2x downsampled display back to original pixels", () => {
    // original 1024 x 800 shown at 512 x 400
    expect(displayToOriginal(0, 0, [512, 400], [1024, 800])).toEqual([0, 0]);
    expect(displayToOriginal(399.99, 511.99, [512, 400], [1024, 800])).toEqual([1023, 799]);
    expect(displayToOriginal(100.5, 50.25, [512, 400], [1024, 800])).toEqual([100, 201]);
    // round trip: the centre of an original pixel maps back to it
    for (const [r, c] of [[0, 0], [37, 501], [1023, 799], [512, 3]] as [number, number][]) {
      const [x, y] = originalToDisplay(r, c, [512, 400], [1024, 800]);
      expect(displayToOriginal(x, y, [512, 400], [1024, 800])).toEqual([r, c]);
      const [dr, dc] = originalToDisplayIndex(r, c, [512, 400], [1024, 800]);
      expect([dr, dc]).toEqual([Math.floor(r / 2), Math.floor(c / 2)]);
    }
  });
  it("clamps outside points and converts client coords through CSS scaling", () => {
    expect(displayToOriginal(-5, 1e9, [10, 10], [30, 30])).toEqual([29, 0]);
    const rect = { left: 100, top: 50, width: 448, height: 448 }; // 224 canvas shown at 2x
    expect(clientToCanvas(100 + 224, 50 + 448, rect, 224, 224)).toEqual([112, 224]);
  });
});

describe("compositing and formatting", () => {
  it("zero stays transparent with a diverging map; the max gets opacity", () => {
    const img = new Uint8Array([10, 20, 30, 10, 20, 30]);
    const px = compositeOverlay(img, [0, 1], 2, 1, { colormap: "bwr", sign: "all", vmax: 1, opacity: 1 });
    expect(Array.from(px.slice(0, 4))).toEqual([10, 20, 30, 255]);
    expect(Array.from(px.slice(4, 8))).toEqual([255, 0, 0, 255]);
    const half = compositeOverlay(img, [1], 1, 1, { colormap: "bwr", sign: "all", vmax: 1, opacity: 0.5 });
    expect(Array.from(half.slice(0, 3))).toEqual([132, 10, 15]); // 10 + 245 * 0.5 = 132.5, Uint8ClampedArray rounds half to even
  });
  it("sequential maps blend uniformly", () => {
    const px = compositeOverlay(null, [0], 1, 1, { colormap: "gray", sign: "absolute", vmax: 1, opacity: 1 });
    expect(Array.from(px)).toEqual([255, 255, 255, 255]); // zero magnitude in a magnitude mode: untouched
    const px2 = compositeOverlay(null, [-1], 1, 1, { colormap: "gray", sign: "all", vmax: 1, opacity: 1 });
    expect(Array.from(px2)).toEqual([0, 0, 0, 255]);
  });
  it("token colours pick readable text", () => {
    const ratio = (a: number[], b: number[]) => {
      const [x, y] = [luminance(a as [number, number, number]), luminance(b as [number, number, number])];
      return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
    };
    const strong = tokenColors(1, "all", 1, "bwr", [255, 255, 255]);
    expect(strong.background).toEqual([255, 0, 0]);
    expect(ratio(strong.text as number[], strong.background)).toBeGreaterThanOrEqual(4.5); // black on red: 5.25
    const zero = tokenColors(0, "all", 1, "bwr", [30, 30, 30]);
    expect(zero.background).toEqual([30, 30, 30]); // zero shows the page
    expect(ratio(zero.text as number[], zero.background)).toBeGreaterThanOrEqual(4.5);
  });
  it("formats values compactly", () => {
    expect(formatValue(0)).toBe("0");
    expect(formatValue(0.12345)).toBe("0.123");
    expect(formatValue(-2)).toBe("-2");
    expect(formatValue(1.5e-5)).toBe("1.50e-5");
    expect(formatValue(123456)).toBe("1.23e5");
  });
});

describe("panelSign", () => {
  it("draws a map without negatives as positive under 'all'", () => {
    expect(panelSign([0, 0.5, 2], "all")).toBe("positive");
    expect(panelSign([0, -0.5, 2], "all")).toBe("all");
  });
  it("leaves explicit sign modes alone", () => {
    expect(panelSign([0, 1], "absolute")).toBe("absolute");
    expect(panelSign([-1, 1], "negative")).toBe("negative");
  });
});

describe("sharedScale (one colour scale for a set of maps)", () => {
  it("is the clip percentile over all maps together, not per map", () => {
    const a = new Float32Array(100).map((_, i) => i / 99); // 0..1
    const b = new Float32Array(100).map((_, i) => -4 * (i / 99)); // 0..-4
    const s = sharedScale([a, b], "all", 100);
    expect(s.vmax).toBe(4);
    expect(s.sign).toBe("all");
    // numpy: np.percentile(np.abs(np.r_[a, b]), 90)
    const mags = [...a, ...b].map(Math.abs);
    expect(sharedScale([a, b], "all", 90).vmax).toBeCloseTo(percentile(mags, 90), 5);
    expect(sharedScale([a, b], "all", 90).vmax).not.toBeCloseTo(scaleMax([a], "all", 90), 2);
  });

  it("draws 'all' as 'positive' only when no map has a negative value", () => {
    const pos = new Float32Array([0, 1, 2]);
    expect(sharedScale([pos, pos], "all", 100).sign).toBe("positive");
    expect(sharedScale([pos, new Float32Array([0, -1])], "all", 100).sign).toBe("all");
    expect(sharedScale([pos], "absolute", 100).sign).toBe("absolute");
  });
});
