/**
 * ForcePlot's view layouts (js/src/force/layout.ts) at the widths a notebook
 * gives them (a 400 px side panel leaves 378 px to draw in): every text inside
 * the canvas, none over another text or a bar, feature labels under the bar,
 * the stacked plot's base value outside the plot; and the text colours
 * (js/src/force/colors.ts) against light and dark backgrounds.
 */
import { describe, expect, it } from "vitest";
import { contrastRatio, type RGB } from "../src/lib/colormaps";
import { collapseFeatures, forceStack, lighten, paddedRange, waterfallRows } from "../src/lib/force_layout";
import { inkOn, over, readableCss, readableOn } from "../src/force/colors";
import { NEG, POS } from "../src/force/labels";
import {
  EDGE,
  fitText,
  inside,
  layoutSingle,
  layoutStacked,
  layoutWaterfall,
  overlaps,
  type Box,
  type Measure,
  type TextItem,
} from "../src/force/layout";
import { viewWidth } from "../src/force/view";

// a stub for canvas measureText: 0.6 em per character (bold 0.66)
const measure: Measure = (text, font) => {
  const size = parseFloat(font.replace(/^\d{3}\s+/, ""));
  return [...text].length * size * (font.startsWith("600") ? 0.66 : 0.6);
};
const WIDTHS = [378, 678, 978, 1200];

function noOverlaps(items: TextItem[], gap = 0): void {
  for (let i = 0; i < items.length; i++)
    for (let j = i + 1; j < items.length; j++)
      expect(overlaps(items[i].box, items[j].box, gap), `"${items[i].text}" overlaps "${items[j].text}"`).toBe(false);
}

function allInside(items: { box: Box; text?: string }[], W: number, H = Infinity): void {
  for (const t of items) expect(inside(t.box, W, H), `"${t.text}" ${JSON.stringify(t.box)} outside ${W}x${H}`).toBe(true);
}

function singleInput(W: number, row: number[], base: number, outName = "Egyptian cat") {
  const col = collapseFeatures(row, 12, 0.95);
  const st = forceStack(row, base, col);
  const segs = [...st.pos, ...st.neg];
  let lo = Math.min(base, st.output);
  let hi = Math.max(base, st.output);
  for (const s of segs) {
    lo = Math.min(lo, s.lo);
    hi = Math.max(hi, s.hi);
  }
  [lo, hi] = paddedRange(lo, hi, 0.05);
  const names = ["worst concave points = 0.1471", "mean radius = 17.99", "area error = 153.4", "texture = 10.38", "s1 = 1", "s2 = 2"];
  return {
    width: W,
    family: "sans-serif",
    lo,
    hi,
    link: "identity",
    base,
    output: st.output,
    segments: segs,
    labels: segs.map((s, k) => ({ text: names[k % names.length] + (k >= names.length ? ` (${k})` : ""), lo: s.lo, hi: s.hi })),
    outText: `${outName} = ${st.output.toPrecision(3)}`,
    baseText: `base value ${base}`,
    caption: outName,
    legend: ["higher ▶", "◀ lower"] as [string, string],
  };
}

describe("viewWidth", () => {
  it("is the container's width from a 400 px output down to 240, capped at 1200", () => {
    expect(viewWidth(378)).toBe(378);
    expect(viewWidth(678.6)).toBe(678);
    expect(viewWidth(5000)).toBe(1200);
    expect(viewWidth(0)).toBe(860); // not in the page yet
  });
});

describe("fitText", () => {
  it("keeps a text that fits and shortens one that does not, to at most the room", () => {
    const f = "12px x";
    expect(fitText("short", 100, f, measure)).toBe("short");
    const long = "worst concave points, a long feature name";
    const out = fitText(long, 120, f, measure);
    expect(out.endsWith("…")).toBe(true);
    expect(measure(out, f)).toBeLessThanOrEqual(120);
    expect(long.startsWith(out.slice(0, -1))).toBe(true);
    expect(measure(out.slice(0, -1) + long[out.length - 1] + "…", f)).toBeGreaterThan(120 - 7.3); // as long as fits
    expect(fitText(long, 3, f, measure)).toBe("");
  });
});

describe("layoutSingle", () => {
  const rows: [string, number[], number][] = [
    ["spread", [0.9, 2.4, -1.3, 0.45, -0.35, 0.08, -0.05, 0.02], 0.25],
    ["base next to output", [0.5, -0.45, 0.3, -0.3, 0.01], 3.0],
    ["all one sign", [1, 2, 3, 0.5, 0.25], -1],
    ["many small", Array.from({ length: 30 }, (_, k) => (k % 2 ? -1 : 1) * (1 + (k % 7))), 0],
  ];
  for (const W of WIDTHS)
    for (const [what, row, base] of rows)
      it(`${what} at ${W} px: texts inside, none overlapping, labels under the bar`, () => {
        const L = layoutSingle(singleInput(W, row, base), measure);
        expect(L.width).toBe(W);
        const texts = [...L.legend, L.out, L.baseLabel, ...(L.caption ? [L.caption] : []), ...L.ticks.flatMap((t) => (t.label ? [t.label] : []))];
        allInside(texts, W, L.height);
        noOverlaps(texts);
        // ticks keep their marks even where a label is dropped
        expect(L.ticks.filter((t) => t.label).length).toBeGreaterThanOrEqual(2);
        expect(L.bar.x0).toBeGreaterThanOrEqual(L.left - 1e-9);
        expect(L.bar.x1).toBeLessThanOrEqual(W - L.right + 1e-9);
        const shown = L.labels.filter((l) => l.box);
        expect(shown.length).toBeGreaterThanOrEqual(Math.min(3, L.labels.length));
        for (const l of shown) {
          const b = l.box as Box;
          expect(b.x0).toBeGreaterThanOrEqual(0);
          expect(b.x1).toBeLessThanOrEqual(W - 1); // a DOM width rounds up: one spare pixel
          expect(b.y1).toBeLessThanOrEqual(L.height);
          expect(overlaps(b, L.bar), `label "${l.text}" over the bar`).toBe(false);
          for (const t of texts) expect(overlaps(b, t.box), `label "${l.text}" over "${t.text}"`).toBe(false);
        }
        for (let i = 0; i < shown.length; i++)
          for (let j = i + 1; j < shown.length; j++) expect(overlaps(shown[i].box as Box, shown[j].box as Box)).toBe(false);
        // the bar is not under any text of the top rows
        for (const t of texts) expect(overlaps(t.box, L.bar)).toBe(false);
      });

  it("moves the base value to a row of its own when it cannot sit beside a long output label", () => {
    const inp = singleInput(378, [0.02, -0.01], 0.5, "a very long class name, as ImageNet has them");
    const L = layoutSingle(inp, measure);
    expect(L.baseLabel.y).toBeGreaterThan(L.out.y);
    expect(overlaps(L.out.box, L.baseLabel.box)).toBe(false);
    allInside([L.out, L.baseLabel], 378);
    // the same row where there is room
    const wide = layoutSingle(singleInput(1200, [0.9, -0.01], 0.5), measure);
    expect(wide.baseLabel.y).toBe(wide.out.y);
  });

  it("shortens a label longer than the plot instead of letting it out", () => {
    const inp = singleInput(378, [2, -1], 0);
    inp.labels[0].text = "x".repeat(120);
    const L = layoutSingle(inp, measure);
    const b = L.labels[0].box as Box;
    expect(L.labels[0].text.endsWith("…")).toBe(true);
    expect(b.x1).toBeLessThanOrEqual(377);
  });
});

describe("layoutWaterfall", () => {
  for (const W of WIDTHS)
    it(`at ${W} px: labels left of the plot, values beside their bars, every text inside`, () => {
      const row = [0.9, 2.4, -1.3, 0.45, -0.35, 0.08, -0.05, 0.02, 0.01, -0.004];
      const base = 0.25;
      const col = collapseFeatures(row, 6, 0.95);
      const rows = waterfallRows(row, base, col);
      const output = rows[rows.length - 1].end;
      let lo = Math.min(base, output);
      let hi = Math.max(base, output);
      for (const r of rows) [lo, hi] = [Math.min(lo, r.start, r.end), Math.max(hi, r.start, r.end)];
      [lo, hi] = paddedRange(lo, hi, 0.04);
      const L = layoutWaterfall(
        {
          width: W,
          family: "sans-serif",
          lo,
          hi,
          link: "identity",
          base,
          output,
          rows: rows.map((r, k) => ({ ...r, label: k % 2 ? "worst concave points, a long feature name = 0.1471" : `x${k} = 1`, valueText: (r.value > 0 ? "+" : "") + r.value.toPrecision(3) })),
          outText: `Egyptian cat = ${output.toPrecision(3)}`,
          baseText: `base value E[Egyptian cat] = ${base}`,
        },
        measure,
      );
      const texts = [L.out, L.baseLabel, ...L.ticks.flatMap((t) => (t.label ? [t.label] : [])), ...L.rows.map((r) => r.value)];
      allInside(texts, W, L.height);
      noOverlaps(texts);
      for (const r of L.rows) {
        expect(r.label.box.x0).toBeGreaterThanOrEqual(0);
        expect(r.label.box.x1).toBeLessThanOrEqual(L.left);
        expect(r.bar.x0).toBeGreaterThanOrEqual(L.left - 1e-9);
        if (!r.onBar) expect(overlaps(r.value.box, r.bar)).toBe(false);
        for (const b of L.rows) expect(overlaps(r.value.box, b.bar) && !r.onBar).toBe(false);
      }
    });
});

describe("layoutStacked", () => {
  for (const W of WIDTHS)
    for (const [lo, hi] of [
      [-2.5, 3.1],
      [-0.000123, 0.000456],
      [1200.5, 98765.4],
    ])
      it(`at ${W} px, y in [${lo}, ${hi}]: the base value named outside the plot, texts inside, none overlapping`, () => {
        const L = layoutStacked(
          {
            width: W,
            family: "sans-serif",
            lo,
            hi,
            link: "identity",
            yLabel: "Egyptian cat",
            caption: "2000 samples, ordered by similarity (hierarchical clustering)",
            legend: [
              { kind: "pos", text: "higher" },
              { kind: "neg", text: "lower" },
              { kind: "base", text: "mean base value 0.123" },
            ],
          },
          measure,
        );
        const plot: Box = { x0: L.left, y0: L.top, x1: L.left + L.pw, y1: L.top + L.ph };
        expect(plot.x1).toBeLessThanOrEqual(W);
        const texts = [L.yLabel, L.caption, ...L.legend.map((e) => e.text), ...L.ticks.flatMap((t) => (t.label ? [t.label] : []))];
        allInside(texts, W, L.height);
        noOverlaps(texts, 1);
        for (const t of texts) expect(overlaps(t.box, plot), `"${t.text}" inside the plot`).toBe(false);
        const base = L.legend.find((e) => e.kind === "base");
        expect(base && base.text.text).toBe("mean base value 0.123");
        for (const e of L.legend) {
          expect(overlaps(e.swatch, plot)).toBe(false);
          expect(inside(e.swatch, W, L.height)).toBe(true);
        }
        expect(L.ticks.filter((t) => t.label).length).toBeGreaterThanOrEqual(2);
        expect(EDGE).toBeGreaterThan(0);
      });
});

describe("text colours", () => {
  const LIGHTS: RGB[] = [[255, 255, 255], [244, 245, 247], [238, 238, 238]];
  const DARKS: RGB[] = [[17, 17, 17], [33, 33, 33], [30, 31, 34], [40, 44, 52]];

  it("sign colours are made readable on light and dark backgrounds, and kept where they already are", () => {
    // shap's red and blue on white are below 4.5:1: the reason for this function
    expect(contrastRatio(POS, [255, 255, 255])).toBeLessThan(4.5);
    expect(contrastRatio(NEG, [255, 255, 255])).toBeLessThan(4.5);
    for (const bg of [...LIGHTS, ...DARKS])
      for (const c of [POS, NEG]) {
        const t = readableOn(c, bg);
        expect(contrastRatio(t, bg)).toBeGreaterThanOrEqual(4.5);
        // still the same hue family: red stays reddest, blue bluest
        if (c === POS) expect(t[0]).toBeGreaterThanOrEqual(Math.max(t[1], t[2]));
        else expect(t[2]).toBeGreaterThanOrEqual(Math.max(t[0], t[1]));
      }
    const ok: RGB = [20, 20, 20];
    expect(readableOn(ok, [255, 255, 255])).toEqual(ok);
  });

  it("JupyterLab's translucent secondary text is composited and fixed when too faint", () => {
    expect(over("rgba(0, 0, 0, 0.54)", [255, 255, 255])).toEqual([117, 117, 117]);
    for (const [css, bg] of [
      ["rgba(0, 0, 0, 0.38)", [255, 255, 255]],
      ["rgba(255, 255, 255, 0.38)", [17, 17, 17]],
      ["rgba(255, 255, 255, 0.54)", [33, 33, 33]],
      ["#999999", [255, 255, 255]],
    ] as [string, RGB][]) {
      const m = readableCss(css, bg, [0, 0, 0]).match(/rgb\((\d+), (\d+), (\d+)\)/);
      expect(m).not.toBeNull();
      const rgb = [Number(m![1]), Number(m![2]), Number(m![3])] as RGB;
      expect(contrastRatio(rgb, bg)).toBeGreaterThanOrEqual(4.5);
    }
  });

  it("text on a bar is black or white, whichever reads, on every bar colour", () => {
    for (const c of [POS, NEG, lighten(POS, 0.5), lighten(NEG, 0.5), [120, 0, 40] as RGB, [0, 40, 120] as RGB]) {
      expect(contrastRatio(inkOn(c), c)).toBeGreaterThanOrEqual(4.5);
    }
    expect(inkOn(POS)).toEqual([0, 0, 0]);
    expect(inkOn([0, 40, 120])).toEqual([255, 255, 255]);
  });
});
