import { describe, expect, it } from "vitest";
import { asBytes, decodeArray, floatToHalf, halfToFloat } from "../src/lib/decode";

function f32Bytes(values: number[]): Uint8Array {
  const dv = new DataView(new ArrayBuffer(values.length * 4));
  values.forEach((v, i) => dv.setFloat32(i * 4, v, true));
  return new Uint8Array(dv.buffer);
}

describe("float16", () => {
  it("decodes known bit patterns", () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x3555)).toBeCloseTo(0.333251953125, 12);
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(halfToFloat(0x0001)).toBe(2 ** -24); // smallest subnormal
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(halfToFloat(0xfc00)).toBe(-Infinity);
    expect(Number.isNaN(halfToFloat(0x7e00))).toBe(true);
    expect(Object.is(halfToFloat(0x8000), -0)).toBe(true);
  });

  it("round trips through encode/decode within half precision", () => {
    const xs = [0, 1, -1, 0.5, 0.1, -0.7431, 3.14159, 1e-5, -1234.5, 60000];
    for (const x of xs) {
      const y = halfToFloat(floatToHalf(x));
      expect(Math.abs(y - x)).toBeLessThanOrEqual(Math.max(Math.abs(x) * 2 ** -11, 2 ** -24));
    }
    expect(floatToHalf(1e6)).toBe(0x7c00); // overflow -> inf
  });

  it("decodeArray float16 applies scale (values stored as v / max|v|)", () => {
    const vals = [0.002, -0.004, 0.001, 0];
    const scale = 0.004;
    const dv = new DataView(new ArrayBuffer(8));
    vals.forEach((v, i) => dv.setUint16(2 * i, floatToHalf(v / scale), true));
    const out = decodeArray(dv, { dtype: "float16", shape: [2, 2], scale });
    vals.forEach((v, i) => expect(out[i]).toBeCloseTo(v, 6));
  });
});

describe("decodeArray", () => {
  it("float32 from a DataView at an unaligned offset", () => {
    const raw = f32Bytes([1.5, -2.25, 3e-7]);
    const padded = new Uint8Array(raw.length + 3);
    padded.set(raw, 3);
    const dv = new DataView(padded.buffer, 3, raw.length);
    const out = decodeArray(dv, { dtype: "float32", shape: [3] });
    expect(Array.from(out)).toEqual([1.5, -2.25, Math.fround(3e-7)]);
  });

  it("uint8 with scale and offset", () => {
    // encoded like Python: round((v - lo) / (hi - lo) * 255), lo = -1, hi = 1
    const v = [-1, 0, 0.5, 1];
    const raw = new Uint8Array(v.map((x) => Math.round(((x + 1) / 2) * 255)));
    const out = decodeArray(raw.buffer, { dtype: "uint8", shape: [4], scale: 2 / 255, offset: -1 });
    v.forEach((x, i) => expect(Math.abs(out[i] - x)).toBeLessThanOrEqual(1 / 255 + 1e-6)); // float32 output
  });

  it("rejects short payloads and unknown dtypes", () => {
    expect(() => decodeArray(new Uint8Array(3), { dtype: "float32", shape: [1] })).toThrow(RangeError);
    expect(() => decodeArray(new Uint8Array(4), { dtype: "int8" as never, shape: [1] })).toThrow(/unknown dtype/);
  });

  it("asBytes accepts the binary types anywidget hands over", () => {
    const b = new Uint8Array([1, 2, 3, 4]);
    expect(Array.from(asBytes(b.buffer))).toEqual([1, 2, 3, 4]);
    expect(Array.from(asBytes(new DataView(b.buffer, 1, 2)))).toEqual([2, 3]);
    expect(asBytes(null).length).toBe(0);
  });
});
