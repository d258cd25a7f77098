import { describe, expect, it } from "vitest";
import { floatToHalf } from "../src/lib/decode";
import {
  codeHistogram,
  fullMask,
  headVmax,
  histPercentile,
  isMasked,
  setBits,
  toHead,
  unpackTril,
  valueTable,
  type HeadMeta,
} from "../src/attention/state";

/** Deterministic pseudo-random codes. */
function codes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = (s >>> 16) & 0xff;
  }
  return out;
}

/** numpy's linear percentile by sorting (the reference the histogram must equal). */
function sortPercentile(vals: number[], clip: number): number {
  const f = Float64Array.from(vals).sort();
  const pos = (clip / 100) * (f.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(f.length - 1, lo + 1);
  return f[lo] + (f[hi] - f[lo]) * (pos - lo);
}

const headMeta = (over: Partial<HeadMeta>): HeadMeta => ({
  dtype: "uint8", shape: [4, 4], scale: 1, offset: 0, source: "attention", sample: 0, layer: 0, head: 0, ...over,
});

describe("causal heads travel as their lower triangle", () => {
  it("unpackTril spreads rows of q + 1 values and leaves the upper triangle 0", () => {
    const n = 4;
    const packed = Uint8Array.from({ length: 10 }, (_, i) => i + 1);
    const full = unpackTril(packed, n, new Uint8Array(16));
    expect(Array.from(full)).toEqual([1, 0, 0, 0, 2, 3, 0, 0, 4, 5, 6, 0, 7, 8, 9, 10]);
  });

  it("toHead unpacks uint8 and float16 payloads to the full square", () => {
    const d = toHead(Uint8Array.from([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]), headMeta({ packed: "tril" }))!;
    expect([d.nq, d.nk, d.codes.length]).toEqual([4, 4, 16]);
    expect(d.codes[0 * 4 + 1]).toBe(0);
    expect(d.codes[3 * 4 + 3]).toBe(14);
    expect(d.codes[2 * 4 + 0]).toBe(8);
    // float16: values 0.5, 0.25 0.75 (3 x 3 triangle has 6 cells), odd byte offset in the source buffer
    const vals = [1, 0.5, 0.5, 0.25, 0.25, 0.5];
    const buf = new Uint8Array(1 + 12);
    const dv = new DataView(buf.buffer);
    vals.forEach((v, i) => dv.setUint16(1 + 2 * i, floatToHalf(v), true));
    const f = toHead(new DataView(buf.buffer, 1), headMeta({ dtype: "float16", shape: [3, 3], packed: "tril" }))!;
    const t = valueTable(f);
    expect(Array.from(f.codes, (c) => t[c])).toEqual([1, 0, 0, 0.5, 0.5, 0, 0.25, 0.25, 0.5]);
    // too few bytes, or not square: refused
    expect(toHead(new Uint8Array(9), headMeta({ packed: "tril" }))).toBeNull();
    expect(toHead(new Uint8Array(20), headMeta({ shape: [4, 5], packed: "tril" }))).toBeNull();
  });
});

describe("the causal mask is built in the browser", () => {
  it("setBits sets exactly [lo, hi) in np.packbits order", () => {
    for (const [lo, hi] of [[0, 0], [3, 5], [5, 21], [8, 16], [1, 63], [0, 64]]) {
      const b = new Uint8Array(8);
      setBits(b, lo, hi);
      for (let i = 0; i < 64; i++) expect(isMasked(b, i)).toBe(i >= lo && i < hi);
    }
  });

  it("fullMask is the padding bits OR every cell above the diagonal", () => {
    for (const n of [2, 7, 9, 33]) {
      const pad = new Uint8Array(Math.ceil((n * n) / 8));
      setBits(pad, (n - 1) * n, n * n); // last query row padded
      const m = fullMask(pad, n, n, true);
      for (let q = 0; q < n; q++) for (let k = 0; k < n; k++) expect(isMasked(m, q * n + k)).toBe(k > q || q === n - 1);
      // empty padding works too; not causal, or not square: the padding as it came
      const e = fullMask(new Uint8Array(0), n, n, true);
      for (let q = 0; q < n; q++) for (let k = 0; k < n; k++) expect(isMasked(e, q * n + k)).toBe(k > q);
    }
    const pad = new Uint8Array([1]);
    expect(fullMask(pad, 3, 3, false)).toBe(pad);
    expect(fullMask(pad, 2, 3, true)).toBe(pad);
  });
});

describe("colour-scale top by histogram", () => {
  it("equals the sorted percentile of the unmasked values, for log and linear codes", () => {
    const n = 37 * 37;
    const c = codes(n, 7);
    const mask = fullMask(new Uint8Array(0), 37, 37, true);
    const step = Math.log1p(1024) / 255;
    for (const meta of [headMeta({ shape: [37, 37], scale: 1 / 1024, codes: "log1p", log_step: step }), headMeta({ shape: [37, 37], scale: 0.01, offset: 0 })]) {
      const t = valueTable(toHead(c, meta)!);
      const vals: number[] = [];
      for (let i = 0; i < n; i++) if (!isMasked(mask, i)) vals.push(t[c[i]]);
      for (const clip of [50, 90, 99.5, 100]) {
        const r = histPercentile(codeHistogram(c, mask), t, clip);
        const want = clip >= 100 ? Math.max(...vals) : sortPercentile(vals, clip);
        expect(r.v).toBeCloseTo(want, 6);
        expect(r.max).toBe(Math.max(...vals));
      }
    }
  });

  it("headVmax uses every cell of a uint8 head and skips masked ones", () => {
    const n = 64;
    const c = new Uint8Array(n * n);
    for (let q = 0; q < n; q++) for (let k = 0; k < n; k++) c[q * n + k] = k > q ? 255 : (q + k) % 200;
    const d = toHead(c, headMeta({ shape: [n, n], scale: 1 }))!;
    const t = valueTable(d);
    const mask = fullMask(new Uint8Array(0), n, n, true);
    // the masked cells hold 255; the unmasked ones top out at 63 + 63
    expect(headVmax(d, mask, 100, t)).toBe(126);
    const vals: number[] = [];
    for (let q = 0; q < n; q++) for (let k = 0; k <= q; k++) vals.push((q + k) % 200);
    expect(headVmax(d, mask, 99, t)).toBeCloseTo(sortPercentile(vals, 99), 9);
    expect(codeHistogram(c, new Uint8Array(0)).reduce((a, b) => a + b, 0)).toBe(n * n);
  });
});

describe("overview thumbnails of causal maps", () => {
  /** Brute force: every (query, key) pair the area-averaged thumbnail cell touches lies above the diagonal. */
  function allMasked(y: number, x: number, tq: number, tk: number, nq: number, nk: number): boolean {
    for (let q = 0; q < nq; q++) {
      if (q + 1 <= (y * nq) / tq || q >= ((y + 1) * nq) / tq) continue; // no overlap with the block's rows
      for (let k = 0; k < nk; k++) {
        if (k + 1 <= (x * nk) / tk || k >= ((x + 1) * nk) / tk) continue;
        if (k <= q) return false;
      }
    }
    return true;
  }

  it("hatches exactly the cells that pool masked cells only", async () => {
    const { thumbCellMasked } = await import("../src/attention/overview");
    for (const [n, t] of [[5, 5], [64, 16], [50, 16], [37, 32], [1024, 32]]) {
      let count = 0;
      for (let y = 0; y < t; y++)
        for (let x = 0; x < t; x++) {
          const m = thumbCellMasked(y, x, t, t, n, n);
          if (n <= 64) expect(m).toBe(allMasked(y, x, t, t, n, n));
          count += m ? 1 : 0;
        }
      if (n % t === 0) expect(count).toBe((t * (t - 1)) / 2); // whole blocks: the strict upper triangle
    }
  });
});
