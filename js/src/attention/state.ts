/**
 * AttentionView's typed state: what the model holds (sources, tokens, the
 * selection), the decoded heads, and the per-view state every pane shares
 * (the head on screen, its colour scale, search matches, the focused token).
 * No DOM here: the functions are tested in node (js/test/attention_state.test.ts).
 */
import { isColormap } from "../lib/colormaps";
import { asBytes, halfToFloat, type ArrayMeta } from "../lib/decode";
import type { AnyModel } from "../lib/model";
import { parseColor } from "../lib/theme";

export const VIEWS = ["matrix", "tokens", "overview"] as const;
export type ViewName = (typeof VIEWS)[number];

/** One choice of the source selector, as `_sources` describes it. */
export interface SourceInfo {
  name: string;
  kind: string;
  layers: number;
  heads: number;
  layer_names: string[];
  queries?: number;
  query_tokens?: string[];
}

/** The meta of a head payload (`_head_meta` or a custom-message reply). */
export interface HeadMeta extends ArrayMeta {
  source: string;
  sample: number;
  layer: number;
  head: number;
  max?: number;
  /** uint8 codes in the log domain: value = scale * expm1(code * log_step) + offset (see encode_head in Python) */
  codes?: "log1p";
  log_step?: number;
  /** "tril": the bytes hold the lower triangle row by row (a causal head); the cells above decode as 0 */
  packed?: "tril";
}

/** A decoded head: integer codes and their meaning (`valueTable`). */
export interface HeadData {
  key: string;
  meta: HeadMeta;
  nq: number;
  nk: number;
  codes: Uint8Array | Uint16Array;
  bytes: number;
  /** colour-scale tops by clip percentile (computed once per head) */
  vmax: Map<number, number>;
}

/** What identifies one head: the kernel request and the cache key. */
export interface HeadRequest {
  source: string;
  sample: number;
  layer: number;
  head: number;
}

export type Focus = { side: "q" | "k"; index: number };

/**
 * What a saved page (save_html) carries besides the widget state: counts of
 * embedded and missing heads, and per source/sample what the kernel would
 * push on a change (`views`: thumbnails and mask; `samples`: tokens).
 */
export interface EmbedInfo {
  heads: number;
  embedded: number;
  missing: number;
  max_bytes: number;
  bytes: number;
  views: Record<string, Record<string, unknown>>;
  samples: Record<string, Record<string, unknown>>;
}

/** How the views name a head in sentences: "head 3 of layer 5", "the mean of heads of layer 2". */
export function headPhrase(r: HeadRequest, withSource: boolean, withSample: boolean): string {
  const what = r.head < 0 ? `the mean of heads of layer ${r.layer}` : `head ${r.head} of layer ${r.layer}`;
  const where = [withSource ? `source "${r.source}"` : "", withSample ? `sample ${r.sample}` : ""].filter(Boolean).join(", ");
  return where ? `${what} (${where})` : what;
}

/** The message a saved page shows for a head left out of the file. */
export function missingMessage(r: HeadRequest, withSource: boolean, withSample: boolean): string {
  const what = headPhrase(r, withSource, withSample);
  return `${what[0].toUpperCase()}${what.slice(1)} is not in this file (size budget); re-export with save_html(..., max_bytes=...) to include it.`;
}

export function keyOf(source: string, sample: number, layer: number, head: number): string {
  return `${source}|${sample}|${layer}|${head}`;
}

/** "head 3" / "mean of heads": how the views name a head. */
export function headName(head: number): string {
  return head < 0 ? "mean of heads" : `head ${head}`;
}

let HALF: Float32Array | null = null;
function halfTable(): Float32Array {
  if (!HALF) {
    HALF = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) HALF[i] = halfToFloat(i);
  }
  return HALF;
}

/**
 * Rows of a lower triangle (row q holds q + 1 values) spread into a full
 * `n x n` row-major array whose cells above the diagonal stay 0.
 */
export function unpackTril<T extends Uint8Array | Uint16Array>(packed: T, n: number, out: T): T {
  let off = 0;
  for (let q = 0; q < n; q++) {
    out.set(packed.subarray(off, off + q + 1), q * n);
    off += q + 1;
  }
  return out;
}

/** Decode a head payload; null when the bytes do not match the meta. */
export function toHead(buf: unknown, meta: HeadMeta): HeadData | null {
  if (!meta || !Array.isArray(meta.shape) || meta.shape.length !== 2) return null;
  const [nq, nk] = meta.shape;
  const bytes = asBytes(buf as ArrayBuffer);
  const n = nq * nk;
  let codes: Uint8Array | Uint16Array;
  if (meta.packed === "tril") {
    if (nq !== nk) return null;
    const m = (nq * (nq + 1)) / 2;
    if (meta.dtype === "uint8") {
      if (bytes.byteLength < m) return null;
      codes = unpackTril(bytes.subarray(0, m), nq, new Uint8Array(n));
    } else if (meta.dtype === "float16") {
      if (bytes.byteLength < 2 * m) return null;
      codes = unpackTril(new Uint16Array(bytes.slice(0, 2 * m).buffer, 0, m), nq, new Uint16Array(n));
    } else {
      return null;
    }
  } else if (meta.dtype === "uint8") {
    if (bytes.byteLength < n) return null;
    codes = bytes.slice(0, n);
  } else if (meta.dtype === "float16") {
    if (bytes.byteLength < 2 * n) return null;
    const copy = bytes.slice(0, 2 * n);
    codes = new Uint16Array(copy.buffer, 0, n); // little-endian hosts (every browser we target)
  } else {
    return null;
  }
  return { key: keyOf(meta.source, meta.sample, meta.layer, meta.head), meta, nq, nk, codes, bytes: codes.byteLength, vmax: new Map() };
}

/** The value table for a head: value = table[code]. */
export function valueTable(d: HeadData): Float32Array {
  const s = d.meta.scale ?? 1;
  const o = d.meta.offset ?? 0;
  if (d.meta.dtype === "uint8") {
    const t = new Float32Array(256);
    const step = d.meta.log_step ?? 0;
    if (d.meta.codes === "log1p") for (let i = 0; i < 256; i++) t[i] = s * Math.expm1(i * step) + o;
    else for (let i = 0; i < 256; i++) t[i] = i * s + o;
    return t;
  }
  const half = halfTable();
  if (s === 1 && o === 0) return half;
  const t = new Float32Array(65536);
  for (let i = 0; i < 65536; i++) t[i] = half[i] * s + o;
  return t;
}

/** Bit i of a np.packbits mask (big-endian bit order); an empty mask masks nothing. */
export function isMasked(mask: Uint8Array, i: number): boolean {
  return mask.length > 0 && ((mask[i >> 3] >> (7 - (i & 7))) & 1) === 1;
}

/**
 * Per code, how many unmasked cells hold it (uint8 heads: 256 counts). One
 * pass over the cells, a packed-mask byte at a time (whole bytes of masked
 * cells are skipped at once: a causal head's upper triangle).
 */
export function codeHistogram(codes: Uint8Array, mask: Uint8Array): Uint32Array {
  const hist = new Uint32Array(256);
  const n = codes.length;
  if (!mask.length) {
    for (let i = 0; i < n; i++) hist[codes[i]]++;
    return hist;
  }
  const nb = Math.ceil(n / 8);
  for (let j = 0; j < nb; j++) {
    const byte = j < mask.length ? mask[j] : 0;
    if (byte === 255) continue;
    const base = j << 3;
    const end = Math.min(n, base + 8);
    if (byte === 0) for (let i = base; i < end; i++) hist[codes[i]]++;
    else for (let i = base; i < end; i++) if (!((byte >> (7 - (i - base))) & 1)) hist[codes[i]]++;
  }
  return hist;
}

/** The `clip` percentile (linear between order statistics, as numpy) of counted codes whose values rise with the code. */
export function histPercentile(hist: Uint32Array, table: Float32Array, clip: number): { v: number; max: number } {
  let total = 0;
  let top = -1;
  for (let c = 0; c < hist.length; c++) {
    if (hist[c]) top = c;
    total += hist[c];
  }
  if (!total) return { v: 0, max: 0 };
  const max = table[top];
  if (clip >= 100) return { v: max, max };
  const pos = (clip / 100) * (total - 1);
  const lo = Math.floor(pos);
  // value of the r-th smallest cell (0-based)
  const at = (r: number): number => {
    let seen = 0;
    for (let c = 0; c < hist.length; c++) {
      seen += hist[c];
      if (seen > r) return table[c];
    }
    return max;
  };
  const a = at(lo);
  const b = at(Math.min(total - 1, lo + 1));
  return { v: a + (b - a) * (pos - lo), max };
}

function rising(t: Float32Array): boolean {
  for (let i = 1; i < t.length; i++) if (!(t[i] >= t[i - 1])) return false;
  return true;
}

/** The `clip` percentile of the head's unmasked values (uint8: every cell, by histogram; float16: sampled when large); > 0. */
export function headVmax(d: HeadData, mask: Uint8Array, clip: number, table: Float32Array): number {
  const cached = d.vmax.get(clip);
  if (cached !== undefined) return cached;
  let v: number;
  let max = 0;
  if (d.codes instanceof Uint8Array && table.length === 256 && rising(table)) {
    // a sort of 1M values took ~50 ms at 1,024 tokens; the codes' histogram gives the same percentile in one pass
    const r = histPercentile(codeHistogram(d.codes, mask), table, clip);
    v = r.v;
    max = r.max;
  } else {
    const n = d.nq * d.nk;
    const stride = Math.max(1, Math.floor(n / 262144));
    const vals: number[] = [];
    for (let i = 0; i < n; i += stride) {
      if (isMasked(mask, i)) continue;
      const x = table[d.codes[i]];
      if (x > max) max = x;
      vals.push(x);
    }
    v = max;
    if (clip < 100 && vals.length) {
      const f = Float32Array.from(vals).sort();
      const pos = (clip / 100) * (f.length - 1);
      const lo = Math.floor(pos);
      const hi = Math.min(f.length - 1, lo + 1);
      v = f[lo] + (f[hi] - f[lo]) * (pos - lo);
    }
  }
  if (!(v > 0)) v = max > 0 ? max : 1;
  d.vmax.set(clip, v);
  return v;
}

/** Set bits [lo, hi) of a packed (np.packbits order) bit array. */
export function setBits(bits: Uint8Array, lo: number, hi: number): void {
  let i = lo;
  for (; i < hi && i & 7; i++) bits[i >> 3] |= 0x80 >> (i & 7);
  for (; i + 8 <= hi; i += 8) bits[i >> 3] = 0xff;
  for (; i < hi; i++) bits[i >> 3] |= 0x80 >> (i & 7);
}

/**
 * The packed `n x n` mask the views read: the padding bits the kernel sent
 * (`_mask`, may be empty) plus, for a causal view, every cell above the
 * diagonal (the kernel leaves those out: 128 KB at 1,024 tokens).
 */
export function fullMask(padding: Uint8Array, nq: number, nk: number, causal: boolean): Uint8Array {
  if (!causal || nq !== nk || nq < 2) return padding;
  const out = new Uint8Array(Math.ceil((nq * nk) / 8));
  out.set(padding.subarray(0, out.length));
  for (let q = 0; q < nq - 1; q++) setBits(out, q * nk + q + 1, (q + 1) * nk);
  return out;
}

/** The two hatch colours of masked cells, quiet on the theme's background. */
export function checker(bg: string): [[number, number, number], [number, number, number]] {
  const c = parseColor(bg) ?? [255, 255, 255];
  const dark = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] < 128;
  return dark ? [[62, 62, 66], [46, 46, 50]] : [[214, 216, 220], [238, 239, 242]];
}

/** Typed reads of the model plus the state the panes share. */
export class AttentionState {
  /** the head on screen */
  current: HeadData | null = null;
  matches: number[] = [];
  matchPos = 0;
  focus: Focus | null = null;
  /** time of the last user selection (for data-xw-switch-ms) */
  lastInput = 0;
  table: Float32Array = new Float32Array(256);
  vmax = 1;
  private maskBuf: unknown = null;
  private maskFor = "";
  private maskBytes: Uint8Array = new Uint8Array(0);
  /** bumped when the mask changes (images built from it are stale) */
  maskVersion = 0;
  private levelKey = "";

  constructor(readonly model: AnyModel) {}

  sources(): SourceInfo[] {
    return this.model.get("_sources") || [];
  }

  src(): SourceInfo | undefined {
    const all = this.sources();
    return all.find((s) => s.name === this.model.get("source")) ?? all[0];
  }

  keyTokens(): string[] {
    return this.model.get("_tokens") || [];
  }

  queryTokens(): string[] {
    const own = this.src()?.query_tokens;
    if (own && own.length) return own;
    const q: string[] = this.model.get("_query_tokens") || [];
    return q.length ? q : this.keyTokens();
  }

  /** The saved page's embedding info; null in a live notebook. */
  embed(): EmbedInfo | null {
    const e = this.model.get("_embed");
    return e && typeof e === "object" && typeof e.heads === "number" ? (e as EmbedInfo) : null;
  }

  nSamples(): number {
    return Number(this.model.get("n_samples")) || 1;
  }

  source(): string {
    return String(this.model.get("source"));
  }

  sample(): number {
    return Number(this.model.get("sample")) || 0;
  }

  layer(): number {
    return Number(this.model.get("layer")) || 0;
  }

  head(): number {
    return Number(this.model.get("head"));
  }

  view(): ViewName {
    const v = String(this.model.get("view"));
    return (VIEWS as readonly string[]).includes(v) ? (v as ViewName) : "matrix";
  }

  token(): number | null {
    const t = this.model.get("token");
    return t === null || t === undefined ? null : Number(t);
  }

  colormap(): string {
    const c = String(this.model.get("colormap"));
    return isColormap(c) ? c : "viridis";
  }

  clip(): number {
    return Number(this.model.get("clip_percentile")) || 100;
  }

  wanted(): HeadRequest {
    return { source: this.source(), sample: this.sample(), layer: this.layer(), head: this.head() };
  }

  wantedKey(): string {
    const w = this.wanted();
    return keyOf(w.source, w.sample, w.layer, w.head);
  }

  /** The packed (Q, K) mask of the current source and sample, causal triangle included (empty: nothing masked). */
  mask(): Uint8Array {
    const b = this.model.get("_mask");
    const d = this.current;
    const nq = d ? d.nq : Number(this.src()?.queries) || this.queryTokens().length;
    const nk = d ? d.nk : this.keyTokens().length;
    const causal = !!this.model.get("causal");
    const shape = `${nq}x${nk}|${causal}`;
    if (b !== this.maskBuf || shape !== this.maskFor) {
      this.maskBuf = b;
      this.maskFor = shape;
      this.maskBytes = fullMask(asBytes(b as ArrayBuffer).slice(), nq, nk, causal);
      this.maskVersion++;
    }
    return this.maskBytes;
  }

  /** Bring `table` and `vmax` up to date for the current head, clip and mask. */
  levels(): void {
    const d = this.current;
    if (!d) return;
    const m = this.mask();
    const clip = this.clip();
    const key = `${d.key}|${clip}|${this.maskVersion}`;
    if (key === this.levelKey) return;
    this.levelKey = key;
    this.table = valueTable(d);
    this.vmax = headVmax(d, m, clip, this.table);
  }

  /** The current head's weight at (query q, key k). */
  value(q: number, k: number): number {
    const d = this.current;
    return d ? this.table[d.codes[q * d.nk + k]] : NaN;
  }

  /** Set traits and sync them to the kernel in one go. */
  set(values: Record<string, unknown>): void {
    for (const [k, v] of Object.entries(values)) this.model.set(k, v);
    this.model.save_changes();
  }
}
