/**
 * Standalone runtime: draws widgets in a page with no Jupyter and no kernel
 * (`save_html`, `make docs`). Built as one classic script (IIFE) that defines
 * `window.xaiWidgets.mount(el, spec)`.
 *
 * A spec is what Python's `widgets/_html.py` writes: the widget's synced state
 * (bytes traits replaced by `{"$buf": i}`), its binary buffers (base64, deflated
 * when that helps), and optionally a table answering the custom messages the
 * live view would send to the kernel (attention heads fetched lazily).
 * The model below implements the part of anywidget's model API the views use;
 * user changes stay in the page (there is no kernel to sync with).
 */
import attentionView from "./attention_view";
import forcePlot from "./force_plot";
import generationHeatmap from "./generation_heatmap";
import heatmapOverlay from "./heatmap_overlay";
import summaryPlot from "./summary_plot";
import textHeatmap from "./text_heatmap";
import type { AnyModel } from "./lib/model";

interface WidgetModule {
  initialize?: (props: { model: AnyModel }) => unknown;
  render: (props: { model: AnyModel; el: HTMLElement }) => unknown;
}

const REGISTRY: Record<string, WidgetModule> = {
  attention_view: attentionView as WidgetModule,
  force_plot: forcePlot as WidgetModule,
  generation_heatmap: generationHeatmap as WidgetModule,
  heatmap_overlay: heatmapOverlay as WidgetModule,
  summary_plot: summaryPlot as WidgetModule,
  text_heatmap: textHeatmap as WidgetModule,
};

export interface BufferSpec {
  b64: string;
  /** zlib-deflated (Python's zlib.compress) */
  z?: boolean;
}

export interface MessageTable {
  /** `type` of the request message the view sends, e.g. "get" */
  request: string;
  /** fields of each request (in msg.requests) joined by "|" to form the key */
  key_fields: string[];
  /** `type` of the reply, e.g. "head" */
  reply: string;
  table: Record<string, { meta: unknown; buf: number }>;
  /** error text for a key not in the table */
  missing: string;
}

export interface WidgetSpec {
  bundle: string;
  state: Record<string, unknown>;
  buffers: BufferSpec[];
  messages?: MessageTable;
}

type Callback = (...args: any[]) => void;

function b64ToBytes(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

async function inflate(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export async function decodeBuffers(specs: BufferSpec[]): Promise<DataView[]> {
  return Promise.all(
    specs.map(async (b) => {
      const raw = b64ToBytes(b.b64);
      const bytes = b.z ? await inflate(raw) : raw;
      return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }),
  );
}

/** Replace `{"$buf": i}` placeholders (at any depth) by the decoded buffers. */
export function restore(value: unknown, buffers: DataView[]): unknown {
  if (Array.isArray(value)) return value.map((v) => restore(v, buffers));
  if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    if (typeof o.$buf === "number" && Object.keys(o).length === 1) return buffers[o.$buf];
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(o)) out[k] = restore(o[k], buffers);
    return out;
  }
  return value;
}

/** The anywidget model API over a plain object: change events, custom messages answered from a table. */
export class StandaloneModel implements AnyModel {
  private handlers = new Map<string, Set<Callback>>();

  constructor(
    private state: Record<string, unknown>,
    private buffers: DataView[] = [],
    private messages?: MessageTable,
  ) {}

  get(name: string): any {
    return this.state[name];
  }

  set(name: string, value: unknown): void {
    const old = this.state[name];
    this.state[name] = value;
    if (old !== value) this.emit(`change:${name}`, value);
  }

  save_changes(): void {
    /* no kernel to sync with */
  }

  on(event: string, cb: Callback): void {
    let s = this.handlers.get(event);
    if (!s) this.handlers.set(event, (s = new Set()));
    s.add(cb);
  }

  off(event?: string | null, cb?: Callback | null): void {
    if (!event) {
      this.handlers.clear();
      return;
    }
    if (!cb) this.handlers.delete(event);
    else this.handlers.get(event)?.delete(cb);
  }

  send(content: unknown): void {
    const m = this.messages;
    const msg = content as { type?: string; requests?: Record<string, unknown>[] };
    if (!m || !msg || msg.type !== m.request || !Array.isArray(msg.requests)) return;
    // reply asynchronously, as a kernel would
    const replies = msg.requests.map((r) => {
      const key = m.key_fields.map((f) => String(r[f])).join("|");
      const hit = m.table[key];
      return hit
        ? { content: { type: m.reply, id: r.id, meta: hit.meta }, buffers: [this.buffers[hit.buf]] }
        : { content: { type: "error", id: r.id, message: m.missing, missing: true, request: r }, buffers: [] };
    });
    setTimeout(() => {
      for (const r of replies) this.emit("msg:custom", r.content, r.buffers);
    }, 0);
  }

  private emit(event: string, ...args: unknown[]): void {
    for (const cb of [...(this.handlers.get(event) ?? [])]) cb(...args);
  }
}

/** Draw one widget from its spec into `el`. */
export async function mount(el: HTMLElement, spec: WidgetSpec): Promise<StandaloneModel> {
  const mod = REGISTRY[spec.bundle];
  if (!mod) throw new Error(`xai_widgets: unknown widget bundle ${JSON.stringify(spec.bundle)}`);
  const buffers = await decodeBuffers(spec.buffers || []);
  const state = restore(spec.state, buffers) as Record<string, unknown>;
  const model = new StandaloneModel(state, buffers, spec.messages);
  if (mod.initialize) await mod.initialize({ model });
  await mod.render({ model, el });
  return model;
}

/** Mount every `<div data-xw-spec="id">` whose spec sits in `<script type="application/json" id="id">`. */
export async function mountAll(root: ParentNode = document): Promise<void> {
  const els = Array.from(root.querySelectorAll<HTMLElement>("[data-xw-spec]"));
  await Promise.all(
    els.map(async (el) => {
      if (el.dataset.xwMounted) return;
      el.dataset.xwMounted = "1";
      const script = document.getElementById(el.dataset.xwSpec || "");
      try {
        if (!script) throw new Error("widget data not found");
        const model = await mount(el, JSON.parse(script.textContent || "{}") as WidgetSpec);
        window.xaiWidgets?.models.push(model);
      } catch (e) {
        el.textContent = `xai_widgets could not draw this widget: ${e instanceof Error ? e.message : String(e)}`;
        throw e;
      }
    }),
  );
}

declare global {
  interface Window {
    xaiWidgets?: { mount: typeof mount; mountAll: typeof mountAll; models: StandaloneModel[] };
  }
}

if (typeof window !== "undefined" && !window.xaiWidgets) {
  window.xaiWidgets = { mount, mountAll, models: [] };
}
