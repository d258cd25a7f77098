/**
 * Binary array decoding. Python sends arrays as bytes traits plus a small
 * JSON description: `{dtype: "float32" | "float16" | "uint8", shape, scale, offset}`;
 * the decoded value is `raw * scale + offset` (little-endian, C order).
 */

export type DType = "float32" | "float16" | "uint8";

export interface ArrayMeta {
  dtype: DType;
  shape: number[];
  scale?: number;
  offset?: number;
  /** Batch rows held by the buffer (HeatmapOverlay / TextHeatmap send all rows or just one). */
  samples?: number[];
}

export type BinaryLike = DataView | ArrayBuffer | ArrayBufferView | null | undefined;

/** View any binary payload anywidget may hand us (DataView, ArrayBuffer, typed array) as bytes. */
export function asBytes(buf: BinaryLike): Uint8Array {
  if (buf == null) return new Uint8Array(0);
  if (buf instanceof Uint8Array) return buf;
  if (buf instanceof ArrayBuffer) return new Uint8Array(buf);
  if (ArrayBuffer.isView(buf)) return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  throw new TypeError("expected binary data (DataView, ArrayBuffer or typed array)");
}

export function product(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

export function itemSize(dtype: DType): number {
  return dtype === "float32" ? 4 : dtype === "float16" ? 2 : 1;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 half (as a 16-bit integer) to a JS number: normals, subnormals, inf and NaN. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** JS number to IEEE half bits, round-to-nearest-even (used by tests and encoders). */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** Decode a bytes trait to Float32Array using its meta description. */
export function decodeArray(buf: BinaryLike, meta: ArrayMeta): Float32Array {
  const bytes = asBytes(buf);
  const n = product(meta.shape);
  const need = n * itemSize(meta.dtype);
  if (bytes.byteLength < need) {
    throw new RangeError(`binary payload has ${bytes.byteLength} bytes, ${meta.dtype}${JSON.stringify(meta.shape)} needs ${need}`);
  }
  const scale = meta.scale ?? 1;
  const offset = meta.offset ?? 0;
  const out = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (meta.dtype === "float32") {
    for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true) * scale + offset;
  } else if (meta.dtype === "float16") {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true)) * scale + offset;
  } else if (meta.dtype === "uint8") {
    for (let i = 0; i < n; i++) out[i] = bytes[i] * scale + offset;
  } else {
    throw new TypeError(`unknown dtype ${JSON.stringify((meta as { dtype: unknown }).dtype)}`);
  }
  return out;
}
