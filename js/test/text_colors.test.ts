import { describe, expect, it } from "vitest";
import { COLORMAPS, DIVERGING, colorAt, contrastRatio, type RGB } from "../src/lib/colormaps";
import { SIGNS, type SignMode } from "../src/lib/scale";
import { tokenColors } from "../src/text/colors";

// the page backgrounds a token is blended over: JupyterLab Light and Dark
// (--jp-layout-color1), and the standalone page's dark Canvas colour
const PAGES: [string, RGB][] = [
  ["JupyterLab light", [255, 255, 255]],
  ["JupyterLab dark", [33, 33, 33]],
  ["standalone dark", [18, 18, 18]],
];

// 401 values across the scale, past both ends, plus exact zero and tiny values
const VALUES = [
  ...Array.from({ length: 401 }, (_, i) => -1.5 + (3 * i) / 400),
  0,
  1e-6,
  -1e-6,
];

/** The expected painted colour, written from the definition (not from the code under test). */
function expected(v: number, sign: SignMode, colormap: string, bg: RGB): RGB {
  const div = DIVERGING.includes(colormap);
  let shown = v;
  if (sign === "positive") shown = Math.max(v, 0);
  else if (sign === "negative") shown = Math.max(-v, 0);
  else if (sign === "absolute") shown = Math.abs(v);
  const x = Math.max(sign === "all" ? -1 : 0, Math.min(1, shown)); // vmax = 1
  let t: number;
  let a: number;
  if (sign === "all") {
    t = 0.5 + x / 2;
    a = div ? Math.abs(x) : 1;
  } else {
    t = div ? (sign === "negative" ? 0.5 - x / 2 : 0.5 + x / 2) : x;
    a = div ? x : x === 0 ? 0 : 1;
  }
  const c = colorAt(colormap, t);
  return [0, 1, 2].map((k) => Math.round(c[k] * a + bg[k] * (1 - a))) as RGB;
}

describe("token colours", () => {
  for (const [page, bg] of PAGES) {
    it(`${page}: every colormap, sign and value gives text >= 4.5:1 on the colour actually painted`, () => {
      let n = 0;
      let worst = Infinity;
      for (const cm of COLORMAPS)
        for (const sign of SIGNS)
          for (const v of VALUES)
            for (const dim of [false, true]) {
              const c = tokenColors(v, sign, 1, cm, bg, dim);
              expect(c.background).toEqual(expected(v, sign, cm, bg));
              const r = contrastRatio(c.text, c.background);
              worst = Math.min(worst, r);
              if (r < 4.5) throw new Error(`${cm}/${sign}/${v}/dim=${dim}: ${r.toFixed(2)} on ${c.background}`);
              n++;
            }
      expect(n).toBe(COLORMAPS.length * SIGNS.length * VALUES.length * 2);
      expect(worst).toBeGreaterThanOrEqual(4.5);
    });
  }

  it("near-zero tokens on the dark page get light text (the old white-on-near-white bug)", () => {
    const dark: RGB = [33, 33, 33];
    for (const v of [0, 0.01, -0.02, 0.05]) {
      const c = tokenColors(v, "all", 1, "coolwarm", dark);
      expect(c.background.every((x) => x < 60)).toBe(true); // the page shows through
      expect(c.text).toEqual([255, 255, 255]);
    }
    // and strong tokens near coolwarm's pale middle are never given white text on the light page
    const pale = tokenColors(0.1, "all", 1, "coolwarm", [255, 255, 255]);
    expect(pale.text).toEqual([0, 0, 0]);
  });

  it("the same value gets different text on light and dark pages when the blend differs", () => {
    const light = tokenColors(0.3, "all", 1, "coolwarm", [255, 255, 255]);
    const dark = tokenColors(0.3, "all", 1, "coolwarm", [33, 33, 33]);
    expect(light.text).toEqual([0, 0, 0]);
    expect(dark.text).toEqual([255, 255, 255]);
  });

  it("special tokens are dimmed where the background leaves room", () => {
    const plain = tokenColors(0, "all", 1, "coolwarm", [255, 255, 255]);
    const dim = tokenColors(0, "all", 1, "coolwarm", [255, 255, 255], true);
    expect(contrastRatio(dim.text, dim.background)).toBeLessThan(contrastRatio(plain.text, plain.background) / 2);
    expect(contrastRatio(dim.text, dim.background)).toBeGreaterThanOrEqual(4.5);
  });

  it("vmax scales the colour and NaN paints nothing", () => {
    const a = tokenColors(2, "all", 4, "bwr", [255, 255, 255]);
    const b = tokenColors(0.5, "all", 1, "bwr", [255, 255, 255]);
    expect(a.background).toEqual(b.background);
    const n = tokenColors(NaN, "all", 1, "bwr", [33, 33, 33]);
    expect(n.alpha).toBe(0);
    expect(n.background).toEqual([33, 33, 33]);
    expect(n.text).toEqual([255, 255, 255]);
  });
});
