import { describe, expect, it } from "vitest";
import { LruCache } from "../src/lib/lru";

const bytes = (n: number) => new Uint8Array(n);

describe("LruCache (bounded by bytes)", () => {
  it("evicts least recently used entries until the total fits", () => {
    const c = new LruCache<Uint8Array>(100, (v) => v.byteLength);
    c.set("a", bytes(40));
    c.set("b", bytes(40));
    expect(c.bytes).toBe(80);
    c.get("a"); // a is now most recent
    c.set("c", bytes(40)); // 120 > 100: evict b
    expect(c.keys()).toEqual(["a", "c"]);
    expect(c.has("b")).toBe(false);
    expect(c.bytes).toBe(80);
    expect(c.evictions).toBe(1);
  });

  it("peek does not refresh; replacing a key updates the byte count", () => {
    const c = new LruCache<Uint8Array>(100, (v) => v.byteLength);
    c.set("a", bytes(30));
    c.set("b", bytes(30));
    c.peek("a");
    c.set("a", bytes(10));
    expect(c.bytes).toBe(40);
    expect(c.keys()).toEqual(["b", "a"]);
    c.set("c", bytes(70)); // 110: evict b only
    expect(c.keys()).toEqual(["a", "c"]);
  });

  it("refuses an entry larger than the cache without evicting", () => {
    const c = new LruCache<Uint8Array>(50, (v) => v.byteLength);
    c.set("a", bytes(20));
    expect(c.set("huge", bytes(51))).toBe(false);
    expect(c.keys()).toEqual(["a"]);
    expect(c.delete("a")).toBe(true);
    expect(c.bytes).toBe(0);
    expect(c.get("a")).toBeUndefined();
  });

  it("clear empties everything", () => {
    const c = new LruCache<number[]>(10, (v) => v.length);
    c.set("x", [1, 2, 3]);
    c.clear();
    expect(c.size).toBe(0);
    expect(c.bytes).toBe(0);
  });
});
