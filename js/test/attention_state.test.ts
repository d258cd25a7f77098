import { describe, expect, it } from "vitest";
import { floatToHalf } from "../src/lib/decode";
import { AttentionState, headVmax, isMasked, keyOf, toHead, valueTable, type HeadMeta } from "../src/attention/state";
import { tokenWindow } from "../src/attention/tokens";

const meta = (over: Partial<HeadMeta> = {}): HeadMeta => ({
  dtype: "uint8", shape: [2, 3], scale: 0.5, offset: 1, source: "attention", sample: 0, layer: 2, head: -1, ...over,
});

/** np.packbits of a flat bool list (big-endian bit order within a byte). */
function packbits(bits: boolean[]): Uint8Array {
  const out = new Uint8Array(Math.ceil(bits.length / 8));
  bits.forEach((b, i) => {
    if (b) out[i >> 3] |= 0x80 >> (i & 7);
  });
  return out;
}

describe("head decoding", () => {
  it("uint8 codes decode to code * scale + offset and carry their cache key", () => {
    const d = toHead(new Uint8Array([0, 1, 2, 3, 4, 255]), meta())!;
    expect(d.key).toBe(keyOf("attention", 0, 2, -1));
    expect(d.key).toBe("attention|0|2|-1");
    expect([d.nq, d.nk, d.bytes]).toEqual([2, 3, 6]);
    const t = valueTable(d);
    expect(Array.from(d.codes, (c) => t[c])).toEqual([1, 1.5, 2, 2.5, 3, 128.5]);
  });

  it("log-domain uint8 codes decode to scale * expm1(code * log_step)", () => {
    // what Python's encode_head writes for max 1: eps = 1/1024, step = log1p(1024) / 255
    const step = Math.log1p(1024) / 255;
    const d = toHead(new Uint8Array([0, 1, 128, 255]), meta({ shape: [2, 2], scale: 1 / 1024, offset: 0, codes: "log1p", log_step: step }))!;
    const t = valueTable(d);
    const got = Array.from(d.codes, (c) => t[c]);
    expect(got[0]).toBe(0);
    expect(got[3]).toBeCloseTo(1, 5);
    expect(got[1]).toBeCloseTo((Math.exp(step) - 1) / 1024, 9);
    expect(got[2]).toBeCloseTo((Math.pow(1025, 128 / 255) - 1) / 1024, 6);
  });

  it("float16 codes decode through the half table times the scale", () => {
    const vals = [0.25, 1, 0.5, 0.125];
    const raw = new Uint16Array(vals.map(floatToHalf));
    const d = toHead(new Uint8Array(raw.buffer), meta({ dtype: "float16", shape: [2, 2], scale: 0.4, offset: 0 }))!;
    const t = valueTable(d);
    Array.from(d.codes, (c) => t[c]).forEach((v, i) => expect(v).toBeCloseTo(vals[i] * 0.4, 6));
  });

  it("rejects payloads shorter than the shape says, and unknown dtypes", () => {
    expect(toHead(new Uint8Array(5), meta())).toBeNull();
    expect(toHead(new Uint8Array(11), meta({ dtype: "float16" }))).toBeNull();
    expect(toHead(new Uint8Array(24), meta({ dtype: "float32" }))).toBeNull();
    expect(toHead(new Uint8Array(6), meta({ shape: [6] }))).toBeNull();
  });
});

describe("masks and colour scale", () => {
  it("reads numpy's packbits bit order", () => {
    const bits = [true, false, false, true, false, false, false, false, false, true];
    const m = packbits(bits);
    expect(bits.map((_, i) => isMasked(m, i))).toEqual(bits);
    expect(isMasked(new Uint8Array(0), 3)).toBe(false);
  });

  it("vmax is the clip percentile of the unmasked values", () => {
    // codes 0..99 with scale 1: values 0..99; percentile p of 0..99 = 0.99 * p
    const d = toHead(Uint8Array.from({ length: 100 }, (_, i) => i), meta({ shape: [10, 10], scale: 1, offset: 0 }))!;
    const t = valueTable(d);
    expect(headVmax(d, new Uint8Array(0), 100, t)).toBe(99);
    expect(headVmax(d, new Uint8Array(0), 50, t)).toBeCloseTo(49.5, 6);
    // masking the largest value (index 99) moves the top to 98
    const mask = packbits(Array.from({ length: 100 }, (_, i) => i === 99));
    const d2 = toHead(d.codes, d.meta)!;
    expect(headVmax(d2, mask, 100, t)).toBe(98);
    // all zero: never a zero scale
    const z = toHead(new Uint8Array(4), meta({ shape: [2, 2], scale: 1, offset: 0 }))!;
    expect(headVmax(z, new Uint8Array(0), 99.5, valueTable(z))).toBe(1);
  });
});

describe("AttentionState", () => {
  const model = (state: Record<string, unknown>) => ({
    get: (k: string) => state[k],
    set: (k: string, v: unknown) => void (state[k] = v),
    save_changes: () => undefined,
    on: () => undefined,
    off: () => undefined,
  });

  it("reads the selection and the source's own query tokens", () => {
    const m = model({
      source: "flow", sample: 1, layer: 2, head: -1, token: null, view: "bogus", colormap: "nope", clip_percentile: 99,
      _tokens: ["a", "b"], _query_tokens: [],
      _sources: [
        { name: "attention", kind: "attention", layers: 3, heads: 4, layer_names: ["0", "1", "2"] },
        { name: "flow", kind: "flow", layers: 3, heads: 1, layer_names: ["0", "1", "2"], query_tokens: ["#0"] },
      ],
    });
    const s = new AttentionState(m);
    expect(s.wantedKey()).toBe("flow|1|2|-1");
    expect(s.queryTokens()).toEqual(["#0"]);
    expect(s.keyTokens()).toEqual(["a", "b"]);
    expect([s.view(), s.colormap(), s.token()]).toEqual(["matrix", "viridis", null]);
    s.set({ source: "attention", token: 1 });
    expect(s.queryTokens()).toEqual(["a", "b"]);
    expect(s.token()).toBe(1);
  });
});

describe("token window", () => {
  it("shows everything when short, else WINDOW tokens centred on the anchor and clamped", () => {
    expect(tokenWindow(10, 5, 256)).toEqual([0, 10]);
    expect(tokenWindow(1000, 500, 256)).toEqual([372, 628]);
    expect(tokenWindow(1000, 3, 256)).toEqual([0, 256]);
    expect(tokenWindow(1000, 999, 256)).toEqual([744, 1000]);
    expect(tokenWindow(1000, null, 256)).toEqual([0, 256]);
  });
});
