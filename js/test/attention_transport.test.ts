import { describe, expect, it } from "vitest";
import { EmbeddedPushes, HeadTransport } from "../src/attention/transport";
import { missingMessage, type EmbedInfo, type HeadData, type HeadMeta, type SourceInfo } from "../src/attention/state";

function fakeModel(state: Record<string, unknown> = {}) {
  const sent: any[] = [];
  return {
    sent,
    get: (k: string) => state[k],
    set: (k: string, v: unknown) => void (state[k] = v),
    save_changes: () => undefined,
    on: () => undefined,
    off: () => undefined,
    send: (content: unknown) => void sent.push(content),
  };
}

const meta = (layer: number, head: number, n = 4): HeadMeta => ({
  dtype: "uint8", shape: [n, n], scale: 1, offset: 0, source: "attention", sample: 0, layer, head,
});

describe("HeadTransport", () => {
  it("asks once per head: cached and pending heads are not asked again", () => {
    const m = fakeModel();
    const got: HeadData[] = [];
    const t = new HeadTransport(m, (d) => got.push(d));
    const r = (layer: number, head: number) => ({ source: "attention", sample: 0, layer, head });
    t.request([r(0, 0), r(0, 1)]);
    t.request([r(0, 1), r(0, 2)]);
    expect(m.sent.map((s) => s.requests.map((x: any) => `${x.layer}/${x.head}`))).toEqual([["0/0", "0/1"], ["0/2"]]);
    const id01 = m.sent[0].requests[1].id;
    expect(t.isPending("attention|0|0|1")).toBe(true);
    // a reply lands in the cache and is reported; an error frees the key for a new request
    t.onCustom({ type: "head", id: m.sent[0].requests[0].id, meta: meta(0, 0) }, [new Uint8Array(16).fill(7)]);
    expect(got.map((d) => d.key)).toEqual(["attention|0|0|0"]);
    expect(t.lookup("attention|0|0|0")!.codes[5]).toBe(7);
    t.onCustom({ type: "error", id: id01, message: "no" });
    expect(t.isPending("attention|0|0|1")).toBe(false);
    t.request([r(0, 0), r(0, 1)]);
    expect(m.sent[m.sent.length - 1].requests.map((x: any) => x.head)).toEqual([1]);
    expect(t.label()).toBe("0/0/1/16");
  });

  it("looks up the _head trait when the cache does not have the head", () => {
    const m = fakeModel({ _head: new Uint8Array(9).fill(3), _head_meta: meta(1, -1, 3) });
    const t = new HeadTransport(m, () => undefined);
    expect(t.lookup("attention|0|1|0")).toBeNull();
    const d = t.lookup("attention|0|1|-1")!;
    expect([d.nq, d.nk, d.codes[8]]).toEqual([3, 3, 3]);
    expect(t.cache.has("attention|0|1|-1")).toBe(true);
  });

  it("prefetches this layer's mean and heads, then the same head one layer down and up, within half the cache", () => {
    const s: SourceInfo = { name: "attention", kind: "attention", layers: 3, heads: 2, layer_names: ["0", "1", "2"] };
    const m = fakeModel();
    new HeadTransport(m, () => undefined).prefetch(s, { source: "attention", sample: 0, layer: 1, head: 0 }, 10);
    expect(m.sent[0].requests.map((x: any) => `${x.layer}/${x.head}`)).toEqual(["1/-1", "1/0", "1/1", "2/0", "0/0"]);
    const small = fakeModel();
    new HeadTransport(small, () => undefined, 60).prefetch(s, { source: "attention", sample: 0, layer: 1, head: 0 }, 10);
    expect(small.sent[0].requests.length).toBe(3); // 60 / 2 / 10
  });

  it("does nothing without a send (saved widget state)", () => {
    const m = fakeModel();
    const t = new HeadTransport({ ...m, send: undefined }, () => undefined);
    t.request([{ source: "attention", sample: 0, layer: 0, head: 0 }]);
    expect(t.isPending("attention|0|0|0")).toBe(false);
  });
});

describe("saved pages", () => {
  it("records heads answered as missing, reports them, and does not ask again", () => {
    const m = fakeModel();
    const seen: string[] = [];
    const t = new HeadTransport(m, () => undefined, 1000, (k) => seen.push(k));
    const r = { source: "attention", sample: 0, layer: 5, head: 3 };
    t.request([r]);
    const id = m.sent[0].requests[0].id;
    // the standalone runtime's answer for a key not in the page's table
    t.onCustom({ type: "error", id, message: "This head is not in this file", missing: true, request: m.sent[0].requests[0] });
    expect(seen).toEqual(["attention|0|5|3"]);
    expect(t.missing.get("attention|0|5|3")).toBe("This head is not in this file");
    t.request([r]);
    expect(m.sent.length).toBe(1);
    expect(missingMessage(r, false, false)).toBe(
      "Head 3 of layer 5 is not in this file (size budget); re-export with save_html(..., max_bytes=...) to include it.",
    );
    expect(missingMessage({ ...r, head: -1, source: "rollout", sample: 1 }, true, true)).toMatch(
      /^The mean of heads of layer 5 \(source "rollout", sample 1\) is not in this file/,
    );
  });

  it("pushes the page's thumbnails, mask and tokens on a source or sample change, and restores the saved ones", () => {
    const state: Record<string, unknown> = {
      source: "attention", sample: 0, _thumbs: "T-a0", _thumbs_meta: { m: "a0" }, _mask: "M-a0",
      _tokens: ["a"], _query_tokens: [], _sources: ["S0"],
    };
    const m = fakeModel(state);
    const embed: EmbedInfo = {
      heads: 4, embedded: 3, missing: 1, max_bytes: 100, bytes: 90,
      views: { "attention|0": {}, "attention|1": { _thumbs: "T-a1", _thumbs_meta: { m: "a1" }, _mask: "M-a1" } },
      samples: { "0": {}, "1": { _tokens: ["b"], _query_tokens: [], _sources: ["S1"] } },
    };
    const p = new EmbeddedPushes(m, embed);
    p.apply("attention", 1);
    expect([state._thumbs, state._mask, state._tokens, state._sources]).toEqual(["T-a1", "M-a1", ["b"], ["S1"]]);
    p.apply("attention", 0);
    expect([state._thumbs, state._mask, state._tokens, state._sources]).toEqual(["T-a0", "M-a0", ["a"], ["S0"]]);
    // not in the file: no thumbnails (the overview says so) rather than another source's
    expect(p.hasView("rollout", 0)).toBe(false);
    p.apply("rollout", 0);
    expect((state._thumbs as DataView).byteLength).toBe(0);
    expect(state._thumbs_meta).toEqual({});
  });
});
