/**
 * A least-recently-used cache bounded by bytes (not entries). `get` refreshes
 * an entry; `set` evicts the oldest entries until the total fits `maxBytes`.
 * An entry larger than `maxBytes` is not stored (and evicts nothing).
 */
export class LruCache<V> {
  private map = new Map<string, { value: V; bytes: number }>();
  private total = 0;
  evictions = 0;

  constructor(
    public maxBytes: number,
    private sizeOf: (v: V) => number,
  ) {}

  get bytes(): number {
    return this.total;
  }

  get size(): number {
    return this.map.size;
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  /** The value (and mark it most recently used), or undefined. */
  get(key: string): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }

  /** Look without refreshing. */
  peek(key: string): V | undefined {
    return this.map.get(key)?.value;
  }

  /** Store; returns false when the value alone is larger than the cache. */
  set(key: string, value: V): boolean {
    const bytes = Math.max(0, this.sizeOf(value));
    this.delete(key);
    if (bytes > this.maxBytes) return false;
    this.map.set(key, { value, bytes });
    this.total += bytes;
    this.trim();
    return true;
  }

  delete(key: string): boolean {
    const e = this.map.get(key);
    if (!e) return false;
    this.map.delete(key);
    this.total -= e.bytes;
    return true;
  }

  clear(): void {
    this.map.clear();
    this.total = 0;
  }

  /** Keys from least to most recently used. */
  keys(): string[] {
    return [...this.map.keys()];
  }

  private trim(): void {
    for (const [k, e] of this.map) {
      if (this.total <= this.maxBytes) break;
      this.map.delete(k);
      this.total -= e.bytes;
      this.evictions++;
    }
  }
}
