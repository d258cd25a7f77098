/**
 * Heads that are not on screen come from the kernel by custom message:
 * `{type: "get", requests: [{id, source, sample, layer, head}, ...]}` is
 * answered per head with `{type: "head", id, meta}` and the bytes as the one
 * buffer (or `{type: "error", id, message}`). Answers land in a byte-bounded
 * LRU cache; the current layer's heads are prefetched. The shown head also
 * arrives as the `_head` trait (the kernel pushes it on every selection), so
 * saved widget state shows it without any message.
 */
import { LruCache } from "../lib/lru";
import type { AnyModel } from "../lib/model";
import { keyOf, toHead, type EmbedInfo, type HeadData, type HeadMeta, type HeadRequest, type SourceInfo } from "./state";

export const CACHE_BYTES = 96 * 2 ** 20;

export class HeadTransport {
  readonly cache: LruCache<HeadData>;
  readonly stats = { hits: 0, misses: 0 };
  /** key -> message, for heads the other side said it does not have (a saved page beyond its budget) */
  readonly missing = new Map<string, string>();
  /** key -> request id, for requests not answered yet */
  private pending = new Map<string, number>();
  private reqId = 0;

  constructor(
    private model: AnyModel,
    /** called with every head that arrives (trait or message) */
    private onArrive: (d: HeadData) => void,
    maxBytes = CACHE_BYTES,
    /** called when a head is answered as missing */
    private onMissing: (key: string) => void = () => undefined,
  ) {
    this.cache = new LruCache<HeadData>(maxBytes, (d) => d.bytes);
  }

  isPending(key: string): boolean {
    return this.pending.has(key);
  }

  /** "hits/misses/entries/bytes", for tests and benchmarks (data-xw-cache). */
  label(): string {
    return `${this.stats.hits}/${this.stats.misses}/${this.cache.size}/${this.cache.bytes}`;
  }

  /** A head from the cache, else from the `_head` trait when it is that head; null when neither has it. */
  lookup(key: string): HeadData | null {
    const hit = this.cache.get(key);
    if (hit) return hit;
    const meta = this.model.get("_head_meta") as HeadMeta;
    if (meta && keyOf(meta.source, meta.sample, meta.layer, meta.head) === key) {
      const d = toHead(this.model.get("_head"), meta);
      if (d) {
        this.cache.set(d.key, d);
        return d;
      }
    }
    return null;
  }

  ingest(d: HeadData | null): void {
    if (!d) return;
    this.pending.delete(d.key);
    this.cache.set(d.key, d);
    this.onArrive(d);
  }

  /** Take the `_head` trait into the cache (not decoded again when that head is cached: a key names fixed data). */
  ingestTrait(): void {
    const meta = this.model.get("_head_meta") as HeadMeta;
    if (meta && typeof meta === "object" && this.cache.has(keyOf(meta.source, meta.sample, meta.layer, meta.head))) {
      this.pending.delete(keyOf(meta.source, meta.sample, meta.layer, meta.head));
      return;
    }
    this.ingest(toHead(this.model.get("_head"), meta));
  }

  /** The `msg:custom` handler. */
  onCustom = (msg: any, buffers?: unknown[]): void => {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "head" && buffers && buffers.length) this.ingest(toHead(buffers[0], msg.meta as HeadMeta));
    else if (msg.type === "error") {
      let key = "";
      for (const [k, id] of this.pending) if (id === msg.id) key = k;
      this.pending.delete(key);
      if (msg.missing) {
        const r = msg.request;
        if (!key && r && typeof r === "object") key = keyOf(String(r.source), Number(r.sample), Number(r.layer), Number(r.head));
        if (key) {
          this.missing.set(key, String(msg.message ?? "not available"));
          this.onMissing(key);
        }
      }
    }
  };

  /** Ask for the heads not cached nor already asked for (one message). */
  request(keys: HeadRequest[]): void {
    if (typeof this.model.send !== "function") return;
    const reqs = keys
      .map((r) => ({ ...r, key: keyOf(r.source, r.sample, r.layer, r.head) }))
      .filter((r) => !this.cache.has(r.key) && !this.pending.has(r.key) && !this.missing.has(r.key));
    if (!reqs.length) return;
    const out = reqs.map((r) => {
      const id = ++this.reqId;
      this.pending.set(r.key, id);
      return { id, source: r.source, sample: r.sample, layer: r.layer, head: r.head };
    });
    try {
      this.model.send({ type: "get", requests: out });
    } catch {
      for (const r of reqs) this.pending.delete(r.key);
    }
  }

  /**
   * The heads a user is likely to look at next: this layer's heads (and mean)
   * first, then the same head in the next and previous layer; at most half
   * the cache's worth.
   */
  prefetch(s: SourceInfo, at: HeadRequest, headBytes: number): void {
    const want: HeadRequest[] = [];
    for (let hd = -1; hd < s.heads; hd++) want.push({ source: s.name, sample: at.sample, layer: at.layer, head: hd });
    for (const l of [at.layer + 1, at.layer - 1]) if (l >= 0 && l < s.layers) want.push({ source: s.name, sample: at.sample, layer: l, head: at.head });
    const budget = Math.floor(this.cache.maxBytes / 2 / Math.max(1, headBytes));
    this.request(want.slice(0, Math.max(0, budget)));
  }

  dispose(): void {
    this.cache.clear();
    this.pending.clear();
    this.missing.clear();
  }
}

/** The model keys the kernel pushes when the source or sample changes. */
const VIEW_KEYS = ["_thumbs", "_thumbs_meta", "_mask"];
const SAMPLE_KEYS = ["_tokens", "_query_tokens", "_sources"];

/**
 * In a saved page there is no kernel to push thumbnails, mask and tokens on a
 * source or sample change: they come from the page's `_embed` data instead.
 * The state the page was saved with is kept as the entry of its own
 * source/sample (the file does not repeat it).
 */
export class EmbeddedPushes {
  private views: Record<string, Record<string, unknown>>;
  private samples: Record<string, Record<string, unknown>>;

  constructor(private model: AnyModel, embed: EmbedInfo) {
    const pick = (keys: string[]) => Object.fromEntries(keys.map((k) => [k, model.get(k)]));
    const src = String(model.get("source"));
    const sample = String(Number(model.get("sample")) || 0);
    this.views = { ...(embed.views || {}), [`${src}|${sample}`]: pick(VIEW_KEYS) };
    this.samples = { ...(embed.samples || {}), [sample]: pick(SAMPLE_KEYS) };
  }

  /** Whether the thumbnails of this source and sample are in the file. */
  hasView(source: string, sample: number): boolean {
    const v = this.views[`${source}|${sample}`];
    return !!v && Object.keys(v).length > 0;
  }

  /** Set what the kernel would push for this source and sample (empty thumbnails when they are not in the file). */
  apply(source: string, sample: number): void {
    const v = this.views[`${source}|${sample}`];
    const values: Record<string, unknown> =
      v && Object.keys(v).length ? v : { _thumbs: new DataView(new ArrayBuffer(0)), _thumbs_meta: {}, _mask: new DataView(new ArrayBuffer(0)) };
    const s = this.samples[String(sample)];
    for (const [k, val] of Object.entries({ ...values, ...(s || {}) })) if (this.model.get(k) !== val) this.model.set(k, val);
  }
}
