import { describe, expect, it } from "vitest";
import { curvePoints, curveText, residualText } from "../src/explorer/trust";

describe("explorer trust panel text", () => {
  it("states the residual relative to the output gap, or absolute when there is no gap", () => {
    expect(residualText({})).toBe("");
    expect(residualText({ delta: -0.02, delta_rel: 0.125 })).toBe("completeness residual 13% of f(x) − f(baseline)");
    expect(residualText({ delta: 1e-7, delta_rel: 2e-6 })).toBe("completeness residual 2.0e-4% of f(x) − f(baseline)");
    expect(residualText({ delta: 0.5, delta_rel: null })).toBe("completeness residual 0.50");
  });

  it("says whether a curve beats its random-order reference", () => {
    const c = { auc: 0.1184, random_auc: 0.1338, better: true, unit: "pixel", units: 576 };
    expect(curveText("deletion", c)).toBe("deletion AUC 0.118 (random 0.134): better than random");
    expect(curveText("insertion", { ...c, better: false })).toContain("no better than random");
  });

  it("places curve points across the box, low values at the bottom", () => {
    const p = curvePoints([0, 1, 0.5], 106, 46, 0, 1, 3);
    expect(p.map(([x]) => x)).toEqual([3, 53, 103]);
    expect(p[0][1]).toBe(43); // lo at the bottom (h - pad)
    expect(p[1][1]).toBe(3); // hi at the top
    expect(p[2][1]).toBe(23);
    // a flat curve does not divide by zero
    expect(curvePoints([2, 2], 50, 20, 2, 2).every(([, y]) => Number.isFinite(y))).toBe(true);
  });
});
