/**
 * AttentionView: attention weights by layer and head.
 *
 * Views: "matrix" (canvas heatmap of one head with zoom/pan, thinned token
 * labels, masked cells hatched, hover readout), "tokens" (bertviz-style head
 * view: query and key columns joined by lines whose alpha follows the
 * weight), "overview" (every layer x head as 32 px thumbnails; click picks).
 * ViT mode adds the image: click a patch to see its attention over the image.
 *
 * Data: `_thumbs` (uint8, every layer x head, small) and `_head` (the shown
 * head, full size) are traits; other heads come by custom message
 * ({type: "get", requests}) -> ({type: "head", id, meta}, [bytes]), are
 * prefetched for the current layer and kept in a byte-bounded LRU cache.
 */
import { drawColorbar, hiDpi } from "./lib/canvas";
import { isColormap, lut } from "./lib/colormaps";
import { asBytes, halfToFloat, type ArrayMeta } from "./lib/decode";
import { h, labelled, select } from "./lib/dom";
import { downloadCanvas } from "./lib/download";
import { LruCache } from "./lib/lru";
import { listen, type AnyModel, type RenderProps } from "./lib/model";
import { clientToCanvas, formatValue } from "./lib/scale";
import { injectStyle, parseColor, resolvedColors } from "./lib/theme";
import { Tooltip } from "./lib/tooltip";
import {
  FIT,
  cellAt,
  cellSize,
  cellToPx,
  centerOn,
  clampView,
  fitText,
  labelStep,
  panBy,
  thinnedLabels,
  visibleRange,
  zoomAt,
  type Grid,
  type View,
} from "./lib/zoom";

const STYLE_ID = "xw-attention-style-v1";
const CSS = `
.xw-attention-view .xw-main { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
.xw-attention-view .xw-pane { display: flex; flex-direction: column; gap: 6px; min-width: 0; max-width: 100%; }
.xw-attention-view canvas.xw-matrix { cursor: crosshair; touch-action: none; display: block; outline: none; image-rendering: auto; }
.xw-attention-view canvas.xw-matrix.xw-dragging { cursor: grabbing; }
.xw-attention-view canvas.xw-overview { cursor: pointer; display: block; }
.xw-attention-view canvas.xw-image { cursor: crosshair; display: block; border-radius: 3px; }
.xw-attention-view .xw-loading-note { color: var(--xw-fg2); font-size: 0.92em; }
.xw-attention-view input.xw-search { font: inherit; color: var(--xw-fg); background: var(--xw-bg); border: 1px solid var(--xw-border);
  border-radius: 4px; padding: 2px 6px; height: 24px; width: 130px; }
.xw-attention-view input.xw-search.xw-nomatch { border-color: #d9534f; }
.xw-attention-view .xw-tokview { display: flex; align-items: flex-start; max-height: 560px; overflow: auto; padding-right: 4px;
  border: 1px solid var(--xw-border2); border-radius: 4px; }
.xw-attention-view .xw-tokcol { display: flex; flex-direction: column; min-width: 40px; max-width: 170px; }
.xw-attention-view .xw-tokcol.xw-left { align-items: flex-end; }
.xw-attention-view .xw-tokcol .xw-token { height: 20px; line-height: 18px; margin: 0; padding: 0 5px; max-width: 170px;
  overflow: hidden; text-overflow: ellipsis; font-family: var(--xw-mono); font-size: 0.92em; }
.xw-attention-view .xw-token.xw-match { outline: 2px solid #f0ad4e; outline-offset: -2px; }
.xw-attention-view .xw-token.xw-focus { border-color: var(--xw-accent); }
.xw-attention-view canvas.xw-lines { display: block; flex: 0 0 auto; pointer-events: none; }
.xw-attention-view .xw-prefixes { display: flex; flex-wrap: wrap; gap: 4px; }
.xw-attention-view .xw-prefixes button.xw-active { border-color: var(--xw-accent); box-shadow: 0 0 0 1px var(--xw-accent); }
.xw-attention-view .xw-pane-title { font-weight: 600; font-size: 0.92em; color: var(--xw-fg); }
`;

const ROW = 20; // token row height in the token view
const WINDOW = 256; // tokens shown at once in the token view
const CACHE_BYTES = 96 * 2 ** 20;
const LABEL_FONT = 11;

interface SourceInfo {
  name: string;
  kind: string;
  layers: number;
  heads: number;
  layer_names: string[];
  queries?: number;
  query_tokens?: string[];
}

interface HeadMeta extends ArrayMeta {
  source: string;
  sample: number;
  layer: number;
  head: number;
  max?: number;
}

interface HeadData {
  key: string;
  meta: HeadMeta;
  nq: number;
  nk: number;
  codes: Uint8Array | Uint16Array;
  bytes: number;
  vmax: Map<number, number>;
}

let HALF: Float32Array | null = null;
function halfTable(): Float32Array {
  if (!HALF) {
    HALF = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) HALF[i] = halfToFloat(i);
  }
  return HALF;
}

function keyOf(source: string, sample: number, layer: number, head: number): string {
  return `${source}|${sample}|${layer}|${head}`;
}

function toHead(buf: unknown, meta: HeadMeta): HeadData | null {
  if (!meta || !Array.isArray(meta.shape) || meta.shape.length !== 2) return null;
  const [nq, nk] = meta.shape;
  const bytes = asBytes(buf as ArrayBuffer);
  const n = nq * nk;
  let codes: Uint8Array | Uint16Array;
  if (meta.dtype === "uint8") {
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
function valueTable(d: HeadData): Float32Array {
  const s = d.meta.scale ?? 1;
  const o = d.meta.offset ?? 0;
  if (d.meta.dtype === "uint8") {
    const t = new Float32Array(256);
    for (let i = 0; i < 256; i++) t[i] = i * s + o;
    return t;
  }
  const half = halfTable();
  if (s === 1 && o === 0) return half;
  const t = new Float32Array(65536);
  for (let i = 0; i < 65536; i++) t[i] = half[i] * s + o;
  return t;
}

function isMasked(mask: Uint8Array, i: number): boolean {
  return mask.length > 0 && ((mask[i >> 3] >> (7 - (i & 7))) & 1) === 1;
}

/** The `clip` percentile of the head's unmasked values (sampled when large); > 0. */
function headVmax(d: HeadData, mask: Uint8Array, clip: number, table: Float32Array): number {
  const cached = d.vmax.get(clip);
  if (cached !== undefined) return cached;
  const n = d.nq * d.nk;
  const stride = Math.max(1, Math.floor(n / 262144));
  const vals: number[] = [];
  let max = 0;
  for (let i = 0; i < n; i += stride) {
    if (isMasked(mask, i)) continue;
    const v = table[d.codes[i]];
    if (v > max) max = v;
    vals.push(v);
  }
  let v = max;
  if (clip < 100 && vals.length) {
    const f = Float32Array.from(vals).sort();
    const pos = (clip / 100) * (f.length - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(f.length - 1, lo + 1);
    v = f[lo] + (f[hi] - f[lo]) * (pos - lo);
  }
  if (!(v > 0)) v = max > 0 ? max : 1;
  d.vmax.set(clip, v);
  return v;
}

function checker(bg: string): [[number, number, number], [number, number, number]] {
  const c = parseColor(bg) ?? [255, 255, 255];
  const dark = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] < 128;
  return dark ? [[62, 62, 66], [46, 46, 50]] : [[214, 216, 220], [238, 239, 242]];
}

function render({ model, el }: RenderProps): () => void {
  injectStyle();
  if (!document.getElementById(STYLE_ID)) {
    const st = document.createElement("style");
    st.id = STYLE_ID;
    st.textContent = CSS;
    (document.head || document.documentElement).appendChild(st);
  }
  const ac = new AbortController();
  const on = { signal: ac.signal };
  const root = h("div", { class: "xw-root xw-attention-view" });
  el.appendChild(root);

  const sources = (): SourceInfo[] => model.get("_sources") || [];
  const src = (): SourceInfo => sources().find((s) => s.name === model.get("source")) ?? sources()[0];
  const keyTokens = (): string[] => model.get("_tokens") || [];
  const queryTokens = (): string[] => {
    const own = src()?.query_tokens;
    if (own && own.length) return own;
    const q: string[] = model.get("_query_tokens") || [];
    return q.length ? q : keyTokens();
  };
  const nSamples = Number(model.get("n_samples")) || 1;

  // ---------------------------------------------------------------- controls
  const sourceSel = select("xw-source", sources().map((s) => [s.name, s.name] as [string, string]), String(model.get("source")));
  sourceSel.disabled = sources().length < 2;
  const viewSel = select("xw-view", [["matrix", "matrix"], ["tokens", "tokens"], ["overview", "overview"]], String(model.get("view")));
  const sampleSel =
    nSamples > 1 ? select("xw-sample", Array.from({ length: nSamples }, (_, i) => String(i)), String(model.get("sample"))) : null;
  const layerIn = h("input", { class: "xw-layer", attrs: { type: "range", min: "0", step: "1" } });
  const layerVal = h("span", { class: "xw-value" });
  const headIn = h("input", { class: "xw-head", attrs: { type: "range", min: "-1", step: "1", title: "-1: mean of heads" } });
  const headVal = h("span", { class: "xw-value" });
  const search = h("input", { class: "xw-search", attrs: { type: "search", placeholder: "find token…", "aria-label": "Find token" } });
  const download = h("button", { class: "xw-download", text: "⤓ PNG", title: "Download the view as PNG", attrs: { type: "button" } });
  const toolbar = h("div", { class: "xw-toolbar" }, [
    labelled("Source", sourceSel),
    labelled("View", viewSel),
    sampleSel ? labelled("Sample", sampleSel) : null,
    labelled("Layer", layerIn),
    layerVal,
    labelled("Head", headIn),
    headVal,
    search,
    h("span", { class: "xw-spacer" }),
    download,
  ]);

  const main = h("div", { class: "xw-main" });
  const matrixPane = h("div", { class: "xw-pane xw-matrix-pane" });
  const matrix = h("canvas", { class: "xw-canvas xw-matrix" });
  const colorbar = h("canvas", { class: "xw-colorbar" });
  matrixPane.append(matrix, colorbar);
  const tokPane = h("div", { class: "xw-pane xw-tokens-pane" });
  const tokView = h("div", { class: "xw-tokview" });
  const leftCol = h("div", { class: "xw-tokcol xw-left" });
  const lines = h("canvas", { class: "xw-lines" });
  const rightCol = h("div", { class: "xw-tokcol xw-right" });
  const tokNote = h("div", { class: "xw-loading-note" });
  tokView.append(leftCol, lines, rightCol);
  tokPane.append(tokView, tokNote);
  const overPane = h("div", { class: "xw-pane xw-overview-pane" });
  const overview = h("canvas", { class: "xw-overview" });
  overPane.append(overview);
  const vitPane = h("div", { class: "xw-pane xw-vit-pane" });
  const vitTitle = h("div", { class: "xw-pane-title" });
  const image = h("canvas", { class: "xw-image" });
  const prefixes = h("div", { class: "xw-prefixes" });
  vitPane.append(vitTitle, image, prefixes);
  main.append(matrixPane, tokPane, overPane, vitPane);
  const status = h("div", { class: "xw-status" });
  const footer = h("div", { class: "xw-footer" }, [status]);
  root.append(toolbar, main, footer);
  const tooltip = new Tooltip(root);

  // ------------------------------------------------------------------ state
  const cache = new LruCache<HeadData>(CACHE_BYTES, (d) => d.bytes);
  const pending = new Map<string, number>(); // key -> time requested
  let reqId = 0;
  let current: HeadData | null = null; // what is drawn
  let view: View = { ...FIT };
  let grid: Grid = { nx: 1, ny: 1, w: 1, h: 1 };
  let margin = { left: 40, top: 40 };
  let offscreen: HTMLCanvasElement | null = null;
  let offKey = "";
  let vmax = 1;
  let table: Float32Array = new Float32Array(256);
  let hoverCell: [number, number] | null = null;
  let focus: { side: "q" | "k"; index: number } | null = null;
  let matches: number[] = [];
  let matchPos = 0;
  let lastInput = 0;
  let maskBuf: unknown = null;
  let mask = new Uint8Array(0);
  let thumbsBuf: unknown = null;
  let thumbsOff: HTMLCanvasElement | null = null;
  let overGeom = { left: 0, top: 0, cs: 32, gap: 2, rows: 0, cols: 0 };
  let imgBuf: unknown = null;
  let imgCanvas: HTMLCanvasElement | null = null;
  const stats = { hits: 0, misses: 0 };
  let missing = ""; // key shown as a miss, waiting for its bytes

  function wantedKey(): string {
    return keyOf(String(model.get("source")), Number(model.get("sample")) || 0, Number(model.get("layer")) || 0, Number(model.get("head")));
  }

  function currentMask(): Uint8Array {
    const b = model.get("_mask");
    if (b !== maskBuf) {
      maskBuf = b;
      mask = asBytes(b as ArrayBuffer).slice();
      offKey = "";
    }
    return mask;
  }

  function colors() {
    const c = resolvedColors(root);
    const accent = getComputedStyle(root).getPropertyValue("--xw-accent").trim() || "#1a73e8";
    return { ...c, accent };
  }

  function colormap(): string {
    const c = String(model.get("colormap"));
    return isColormap(c) ? c : "viridis";
  }

  // ------------------------------------------------------------- ingestion
  /** Cache statistics for tests and benchmarks: hits/misses/entries/bytes. */
  function markCache(): void {
    root.setAttribute("data-xw-cache", `${stats.hits}/${stats.misses}/${cache.size}/${cache.bytes}`);
  }

  function ingest(d: HeadData | null): void {
    if (!d) return;
    pending.delete(d.key);
    cache.set(d.key, d);
    markCache();
    if (d.key === wantedKey() && (!current || current.key !== d.key)) show();
  }

  function ingestTrait(): void {
    const meta = model.get("_head_meta") as HeadMeta;
    ingest(toHead(model.get("_head"), meta));
  }

  function onCustom(msg: any, buffers?: unknown[]): void {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "head" && buffers && buffers.length) ingest(toHead(buffers[0], msg.meta as HeadMeta));
    else if (msg.type === "error") {
      for (const [k, id] of pending) if (id === msg.id) pending.delete(k);
    }
  }

  function request(keys: { source: string; sample: number; layer: number; head: number }[]): void {
    if (typeof model.send !== "function") return;
    const reqs = keys
      .map((r) => ({ ...r, key: keyOf(r.source, r.sample, r.layer, r.head) }))
      .filter((r) => !cache.has(r.key) && !pending.has(r.key));
    if (!reqs.length) return;
    const out = reqs.map((r) => {
      const id = ++reqId;
      pending.set(r.key, id);
      return { id, source: r.source, sample: r.sample, layer: r.layer, head: r.head };
    });
    try {
      model.send({ type: "get", requests: out });
    } catch {
      for (const r of reqs) pending.delete(r.key);
    }
  }

  function prefetch(): void {
    const s = src();
    if (!s || !current) return;
    const per = current.bytes;
    const sample = Number(model.get("sample")) || 0;
    const layer = Number(model.get("layer")) || 0;
    const head = Number(model.get("head"));
    const want: { source: string; sample: number; layer: number; head: number }[] = [];
    // this layer's heads (and mean) first, then the same head in the next/previous layer
    for (let hd = -1; hd < s.heads; hd++) want.push({ source: s.name, sample, layer, head: hd });
    for (const l of [layer + 1, layer - 1]) if (l >= 0 && l < s.layers) want.push({ source: s.name, sample, layer: l, head });
    const budget = Math.floor(cache.maxBytes / 2 / Math.max(1, per));
    request(want.slice(0, Math.max(0, budget)));
  }

  // -------------------------------------------------------------- controls
  function syncControls(): void {
    const s = src();
    if (!s) return;
    const layer = Number(model.get("layer")) || 0;
    const head = Number(model.get("head"));
    layerIn.max = String(Math.max(0, s.layers - 1));
    layerIn.disabled = s.layers < 2;
    layerIn.value = String(layer);
    const name = s.layer_names[layer];
    layerVal.textContent = name !== undefined && name !== String(layer) ? `${layer} · ${name}` : String(layer);
    layerVal.title = name ?? "";
    headIn.max = String(Math.max(0, s.heads - 1));
    headIn.disabled = s.heads < 2;
    headIn.value = String(head);
    headVal.textContent = head < 0 ? "mean" : String(head);
    if (sourceSel.value !== s.name) sourceSel.value = s.name;
    viewSel.value = String(model.get("view"));
    if (sampleSel) sampleSel.value = String(model.get("sample"));
  }

  function setMany(values: Record<string, unknown>): void {
    for (const [k, v] of Object.entries(values)) model.set(k, v);
    model.save_changes();
  }

  layerIn.addEventListener("input", () => {
    lastInput = performance.now();
    setMany({ layer: Number(layerIn.value) });
  }, on);
  headIn.addEventListener("input", () => {
    lastInput = performance.now();
    setMany({ head: Number(headIn.value) });
  }, on);
  sourceSel.addEventListener("change", () => {
    const s = sources().find((x) => x.name === sourceSel.value);
    if (!s) return;
    const layer = Math.min(Number(model.get("layer")) || 0, s.layers - 1);
    const head = Math.min(Number(model.get("head")), s.heads - 1);
    lastInput = performance.now();
    setMany({ source: s.name, layer, head });
  }, on);
  viewSel.addEventListener("change", () => setMany({ view: viewSel.value }), on);
  sampleSel?.addEventListener("change", () => setMany({ sample: Number(sampleSel.value) }), on);
  download.addEventListener("click", () => exportPng(), on);

  // ------------------------------------------------------------------ show
  function show(): void {
    syncControls();
    const key = wantedKey();
    let d = current && current.key === key ? current : cache.get(key) ?? null;
    if (!d) {
      const meta = model.get("_head_meta") as HeadMeta;
      if (meta && keyOf(meta.source, meta.sample, meta.layer, meta.head) === key) {
        d = toHead(model.get("_head"), meta);
        if (d) cache.set(d.key, d);
      }
    }
    if (!d) {
      if (missing !== key) stats.misses++;
      missing = key;
      root.classList.add("xw-loading");
      status.textContent = `Loading layer ${model.get("layer")}, head ${Number(model.get("head")) < 0 ? "mean" : model.get("head")}…`;
      // the kernel pushes the new `_head` on every selection change (custom messages are only for prefetching)
      return;
    }
    if (current !== d) {
      if (current && current.key !== d.key && missing !== d.key) stats.hits++;
      current = d;
    }
    missing = "";
    root.classList.remove("xw-loading");
    draw();
    prefetch();
  }

  function draw(): void {
    if (!current) return;
    const t0 = performance.now();
    const v = String(model.get("view"));
    matrixPane.style.display = v === "matrix" ? "" : "none";
    tokPane.style.display = v === "tokens" ? "" : "none";
    overPane.style.display = v === "overview" ? "" : "none";
    ensureImage();
    if (v === "matrix") drawMatrix();
    else if (v === "tokens") drawTokens();
    else drawOverview();
    drawVit();
    updateStatus();
    root.setAttribute("data-xw-drawn", current.key);
    const now = performance.now();
    root.setAttribute("data-xw-draw-ms", (now - t0).toFixed(2));
    if (lastInput) {
      root.setAttribute("data-xw-switch-ms", (now - lastInput).toFixed(2));
      lastInput = 0;
    }
    markCache();
    root.setAttribute("data-xw-ready", "1");
  }

  /** The full-resolution RGBA image of the current head (K x Q pixels), rebuilt on head/colormap/clip/theme change. */
  function ensureImage(): void {
    const d = current;
    if (!d) return;
    const m = currentMask();
    const clip = Number(model.get("clip_percentile")) || 100;
    const col = colors();
    const key = `${d.key}|${colormap()}|${clip}|${col.bg}|${m.length}`;
    if (key === offKey && offscreen) return;
    offKey = key;
    table = valueTable(d);
    vmax = headVmax(d, m, clip, table);
    const { nq, nk, codes } = d;
    if (!offscreen) offscreen = document.createElement("canvas");
    if (offscreen.width !== nk || offscreen.height !== nq) {
      offscreen.width = nk;
      offscreen.height = nq;
    }
    const ctx = offscreen.getContext("2d");
    if (!ctx) return;
    const img = ctx.createImageData(nk, nq);
    const px = new Uint32Array(img.data.buffer);
    const lt = lut(colormap());
    const pack = (r: number, g: number, b: number) => (255 << 24) | (b << 16) | (g << 8) | r;
    const [c1, c2] = checker(col.bg);
    const hatchA = pack(c1[0], c1[1], c1[2]);
    const hatchB = pack(c2[0], c2[1], c2[2]);
    // one packed colour per code (uint8: 256 codes; float16: computed per cell)
    const n = nq * nk;
    if (d.meta.dtype === "uint8") {
      const pal = new Uint32Array(256);
      for (let i = 0; i < 256; i++) {
        const k = 3 * Math.round(Math.min(1, Math.max(0, table[i] / vmax)) * 255);
        pal[i] = pack(lt[k], lt[k + 1], lt[k + 2]);
      }
      for (let i = 0; i < n; i++) px[i] = pal[codes[i]];
    } else {
      for (let i = 0; i < n; i++) {
        const k = 3 * Math.round(Math.min(1, Math.max(0, table[codes[i]] / vmax)) * 255);
        px[i] = pack(lt[k], lt[k + 1], lt[k + 2]);
      }
    }
    if (m.length) {
      for (let q = 0; q < nq; q++) {
        for (let k = 0; k < nk; k++) {
          const i = q * nk + k;
          if (isMasked(m, i)) px[i] = (((q + k) >> (nk > 256 ? 2 : 0)) & 1) === 0 ? hatchA : hatchB;
        }
      }
    }
    ctx.putImageData(img, 0, 0);
  }

  function value(q: number, k: number): number {
    const d = current;
    if (!d) return NaN;
    return table[d.codes[q * d.nk + k]];
  }

  // ---------------------------------------------------------------- matrix
  function layoutMatrix(): void {
    const d = current;
    if (!d) return;
    const avail = Math.max(320, (root.clientWidth || 800) - 24 - (imageShown() ? 300 : 0));
    const ctx = matrix.getContext("2d");
    const col = colors();
    let lw = 40;
    if (ctx) {
      ctx.font = `${LABEL_FONT}px ${col.font}`;
      const widest = (toks: string[]) => {
        let w = 0;
        const step = Math.max(1, Math.floor(toks.length / 400));
        for (let i = 0; i < toks.length; i += step) w = Math.max(w, ctx.measureText(toks[i]).width);
        return w;
      };
      margin = { left: Math.min(110, Math.max(28, widest(queryTokens()) + 10)), top: Math.min(110, Math.max(28, widest(keyTokens()) + 10)) };
      lw = margin.left;
    }
    const plotW = Math.max(160, Math.min(d.nk * 30, 560, avail - lw - 16));
    const plotH = Math.max(48, Math.min((d.nq * plotW) / d.nk, 560));
    const changed = grid.nx !== d.nk || grid.ny !== d.nq;
    grid = { nx: d.nk, ny: d.nq, w: plotW, h: plotH };
    view = changed ? { ...FIT } : clampView(grid, view);
  }

  function drawMatrix(): void {
    const d = current;
    if (!d) return;
    layoutMatrix();
    const col = colors();
    const W = margin.left + grid.w + 10;
    const H = margin.top + grid.h + 10;
    const ctx = matrix.width === Math.round(W * dpr()) && matrix.height === Math.round(H * dpr()) ? matrix.getContext("2d") : hiDpi(matrix, W, H);
    if (!ctx || !offscreen) return;
    ctx.setTransform(dpr(), 0, 0, dpr(), 0, 0);
    ctx.clearRect(0, 0, W, H);
    const [cx, cy] = cellSize(grid, view);
    ctx.imageSmoothingEnabled = cx < 1 || cy < 1;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(offscreen, view.x0, view.y0, grid.nx / view.zoom, grid.ny / view.zoom, margin.left, margin.top, grid.w, grid.h);
    ctx.strokeStyle = col.border;
    ctx.lineWidth = 1;
    ctx.strokeRect(margin.left - 0.5, margin.top - 0.5, grid.w + 1, grid.h + 1);

    // pinned query row, hovered cell
    ctx.save();
    ctx.beginPath();
    ctx.rect(margin.left, margin.top, grid.w, grid.h);
    ctx.clip();
    const tok = model.get("token");
    if (tok !== null && tok !== undefined && tok < d.nq) {
      const [, y] = cellToPx(grid, view, 0, tok);
      ctx.strokeStyle = col.accent;
      ctx.lineWidth = 2;
      ctx.strokeRect(margin.left + 1, margin.top + y, grid.w - 2, Math.max(2, cy));
    }
    if (hoverCell) {
      const [x, y] = cellToPx(grid, view, hoverCell[0], hoverCell[1]);
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 1.5;
      ctx.strokeRect(margin.left + x, margin.top + y, Math.max(3, cx), Math.max(3, cy));
      ctx.strokeStyle = "rgba(0,0,0,0.7)";
      ctx.lineWidth = 0.75;
      ctx.strokeRect(margin.left + x - 1, margin.top + y - 1, Math.max(3, cx) + 2, Math.max(3, cy) + 2);
    }
    ctx.restore();

    // labels (thinned)
    ctx.font = `${LABEL_FONT}px ${col.font}`;
    ctx.textBaseline = "middle";
    const qt = queryTokens();
    const kt = keyTokens();
    const keepQ = [...(tok !== null && tok !== undefined ? [tok] : []), ...(hoverCell ? [hoverCell[1]] : []), ...matches.filter((i) => i < d.nq)];
    const keepK = [...(hoverCell ? [hoverCell[0]] : []), ...matches.filter((i) => i < d.nk)];
    const [qlo, qhi] = visibleRange(grid, view, "y");
    const [klo, khi] = visibleRange(grid, view, "x");
    const qs = thinnedLabels(qlo, qhi, labelStep(cy, LABEL_FONT + 2), keepQ.slice(0, 50));
    const ks = thinnedLabels(klo, khi, labelStep(cx, LABEL_FONT + 2), keepK.slice(0, 50));
    const measure = (s: string) => ctx.measureText(s).width;
    const matchSet = new Set(matches);
    ctx.textAlign = "right";
    for (const q of qs) {
      const [, y] = cellToPx(grid, view, 0, q + 0.5);
      const hl = (hoverCell && hoverCell[1] === q) || q === tok;
      ctx.fillStyle = matchSet.has(q) ? "#d9822b" : hl ? col.fg : col.fg2;
      ctx.font = `${hl ? "600 " : ""}${LABEL_FONT}px ${col.font}`;
      ctx.fillText(fitText(qt[q] ?? String(q), margin.left - 8, measure), margin.left - 4, margin.top + y);
    }
    ctx.save();
    ctx.translate(margin.left, margin.top - 4);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "left";
    for (const k of ks) {
      const [x] = cellToPx(grid, view, k + 0.5, 0);
      const hl = hoverCell && hoverCell[0] === k;
      ctx.fillStyle = matchSet.has(k) ? "#d9822b" : hl ? col.fg : col.fg2;
      ctx.font = `${hl ? "600 " : ""}${LABEL_FONT}px ${col.font}`;
      ctx.fillText(fitText(kt[k] ?? String(k), margin.top - 8, measure), 0, x);
    }
    ctx.restore();
    ctx.fillStyle = col.fg2;
    ctx.font = `10px ${col.font}`;
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    if (margin.left >= 70 && margin.top >= 40) ctx.fillText("query ↓ key →", 2, 2, margin.left - 4);

    const bw = Math.min(260, grid.w);
    const bctx = hiDpi(colorbar, bw + margin.left, 30);
    if (bctx) {
      bctx.clearRect(0, 0, bw + margin.left, 30);
      drawColorbar(bctx, margin.left, 2, bw, colormap(), "absolute", vmax, { color: col.fg2, border: col.border, font: `11px ${col.font}` }, "weight");
    }
  }

  function dpr(): number {
    return Math.max(1, Math.min(3, window.devicePixelRatio || 1));
  }

  function plotPoint(e: MouseEvent): [number, number] {
    const r = matrix.getBoundingClientRect();
    const W = margin.left + grid.w + 10;
    const H = margin.top + grid.h + 10;
    const [x, y] = clientToCanvas(e.clientX, e.clientY, r, W, H);
    return [x - margin.left, y - margin.top];
  }

  let drag: { x: number; y: number; moved: boolean } | null = null;
  let raf = 0;
  function redrawSoon(): void {
    if (raf) return;
    raf = requestAnimationFrame(() => {
      raf = 0;
      if (current && String(model.get("view")) === "matrix") drawMatrix();
    });
  }

  matrix.addEventListener("wheel", (e) => {
    if (!current) return;
    e.preventDefault();
    const [px, py] = plotPoint(e);
    view = zoomAt(grid, view, Math.pow(1.0015, -e.deltaY), Math.min(grid.w, Math.max(0, px)), Math.min(grid.h, Math.max(0, py)));
    redrawSoon();
    updateStatus();
  }, { signal: ac.signal, passive: false });
  matrix.addEventListener("mousedown", (e) => {
    drag = { x: e.clientX, y: e.clientY, moved: false };
  }, on);
  window.addEventListener("mousemove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x;
    const dy = e.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 3) return;
    drag.moved = true;
    matrix.classList.add("xw-dragging");
    const r = matrix.getBoundingClientRect();
    const s = (margin.left + grid.w + 10) / Math.max(1, r.width);
    view = panBy(grid, view, dx * s, dy * s);
    drag.x = e.clientX;
    drag.y = e.clientY;
    tooltip.hide();
    redrawSoon();
  }, on);
  window.addEventListener("mouseup", () => {
    matrix.classList.remove("xw-dragging");
    setTimeout(() => (drag = null), 0);
  }, on);
  matrix.addEventListener("dblclick", () => {
    view = { ...FIT };
    redrawSoon();
    updateStatus();
  }, on);
  matrix.addEventListener("mousemove", (e) => {
    if (!current || (drag && drag.moved)) return;
    const [px, py] = plotPoint(e);
    const c = cellAt(grid, view, px, py);
    const same = c && hoverCell && c[0] === hoverCell[0] && c[1] === hoverCell[1];
    hoverCell = c;
    if (!c) {
      tooltip.hide();
      if (!same) redrawSoon();
      return;
    }
    const [k, q] = c;
    const qt = queryTokens()[q] ?? String(q);
    const kt = keyTokens()[k] ?? String(k);
    const masked = isMasked(currentMask(), q * current.nk + k);
    tooltip.show(e.clientX, e.clientY, [
      ["query", `#${q} ${qt}`],
      ["key", `#${k} ${kt}`],
      ["weight", masked ? "masked" : formatValue(value(q, k))],
    ], `${qt} → ${kt}`);
    if (!same) redrawSoon();
  }, on);
  matrix.addEventListener("mouseleave", () => {
    hoverCell = null;
    tooltip.hide();
    redrawSoon();
  }, on);
  matrix.addEventListener("click", (e) => {
    if (!current || (drag && drag.moved)) return;
    const [px, py] = plotPoint(e);
    const c = cellAt(grid, view, px, py);
    if (!c) return;
    const tok = model.get("token");
    setMany({ token: tok === c[1] ? null : c[1] });
  }, on);

  // ---------------------------------------------------------------- tokens
  function tokWindow(n: number, anchor: number | null): [number, number] {
    if (n <= WINDOW) return [0, n];
    const a = anchor ?? 0;
    const lo = Math.max(0, Math.min(n - WINDOW, a - WINDOW / 2));
    return [lo, lo + WINDOW];
  }

  let tokBuilt = "";
  let tokRange: { q: [number, number]; k: [number, number] } = { q: [0, 0], k: [0, 0] };

  function buildTokenColumns(): void {
    const qt = queryTokens();
    const kt = keyTokens();
    const tok = model.get("token");
    const anchor = tok ?? (matches.length ? matches[matchPos % matches.length] : null);
    const q = tokWindow(qt.length, anchor);
    const k = qt.length === kt.length ? q : tokWindow(kt.length, anchor);
    const sig = `${q}|${k}|${qt.length}|${kt.length}`;
    if (sig === tokBuilt) return;
    tokBuilt = sig;
    tokRange = { q, k };
    const fill = (col: HTMLDivElement, toks: string[], [lo, hi]: [number, number], side: "q" | "k") => {
      while (col.firstChild) col.removeChild(col.firstChild);
      for (let i = lo; i < hi; i++) {
        const t = h("div", { class: `xw-token ${side === "q" ? "xw-query" : "xw-key"}`, text: toks[i], attrs: { "data-index": String(i) } });
        t.title = `#${i} ${toks[i]}`;
        col.appendChild(t);
      }
    };
    fill(leftCol, qt, q, "q");
    fill(rightCol, kt, k, "k");
    const n = Math.max(q[1] - q[0], k[1] - k[0]);
    tokNote.textContent =
      qt.length > WINDOW || kt.length > WINDOW
        ? `Showing tokens ${q[0]}–${q[1] - 1} of ${qt.length}: pin a token (matrix view) or search to move the window.`
        : "Hover a token to see its lines; click a query token (left) to pin it.";
    const ctx = hiDpi(lines, 200, n * ROW);
    if (ctx) ctx.clearRect(0, 0, 200, n * ROW);
  }

  function drawTokens(): void {
    const d = current;
    if (!d) return;
    buildTokenColumns();
    const col = colors();
    const accent = parseColor(col.accent) ?? [26, 115, 232];
    const [q0, q1] = tokRange.q;
    const [k0, k1] = tokRange.k;
    const n = Math.max(q1 - q0, k1 - k0);
    const W = 200;
    const ctx = lines.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr(), 0, 0, dpr(), 0, 0);
    ctx.clearRect(0, 0, W, n * ROW);
    const tok = model.get("token");
    const f = focus ?? (tok !== null && tok !== undefined ? { side: "q" as const, index: tok } : null);
    const m = currentMask();
    // bucket lines by alpha (16 levels), one path per bucket
    const buckets: Path2D[] = Array.from({ length: 16 }, () => new Path2D());
    const used = new Uint8Array(16);
    let count = 0;
    for (let q = q0; q < q1; q++) {
      if (f && f.side === "q" && f.index !== q) continue;
      for (let k = k0; k < k1; k++) {
        if (f && f.side === "k" && f.index !== k) continue;
        const i = q * d.nk + k;
        if (isMasked(m, i)) continue;
        const a = Math.min(1, table[d.codes[i]] / vmax);
        if (a < 0.03) continue;
        const b = Math.min(15, Math.floor(a * 16));
        buckets[b].moveTo(0, (q - q0 + 0.5) * ROW);
        buckets[b].lineTo(W, (k - k0 + 0.5) * ROW);
        used[b] = 1;
        count++;
      }
    }
    ctx.lineWidth = f ? 2 : 1.2;
    for (let b = 0; b < 16; b++) {
      if (!used[b]) continue;
      ctx.strokeStyle = `rgba(${accent[0]}, ${accent[1]}, ${accent[2]}, ${((b + 1) / 16) * (f ? 1 : 0.8)})`;
      ctx.stroke(buckets[b]);
    }
    // token backgrounds: the focused token's weights
    const paint = (colEl: HTMLDivElement, lo: number, other: "q" | "k") => {
      const kids = colEl.children;
      for (let j = 0; j < kids.length; j++) {
        const el = kids[j] as HTMLElement;
        const idx = lo + j;
        let a = 0;
        if (f && f.side !== other) {
          const qi = other === "k" ? f.index : idx;
          const ki = other === "k" ? idx : f.index;
          if (qi < d.nq && ki < d.nk && !isMasked(m, qi * d.nk + ki)) a = Math.min(1, table[d.codes[qi * d.nk + ki]] / vmax);
        }
        el.style.backgroundColor = a > 0.01 ? `rgba(${accent[0]}, ${accent[1]}, ${accent[2]}, ${(a * 0.55).toFixed(3)})` : "";
        el.classList.toggle("xw-pinned", other === "q" && tok === idx);
        el.classList.toggle("xw-focus", !!f && f.side === other && f.index === idx);
        el.classList.toggle("xw-match", matches.includes(idx) && (other === "q" || queryTokens() !== keyTokens()));
      }
    };
    paint(leftCol, q0, "q");
    paint(rightCol, k0, "k");
    lines.setAttribute("data-lines", String(count));
  }

  function tokenEvent(e: Event): { side: "q" | "k"; index: number } | null {
    const t = (e.target as HTMLElement | null)?.closest?.(".xw-token") as HTMLElement | null;
    if (!t || !tokView.contains(t)) return null;
    return { side: t.classList.contains("xw-query") ? "q" : "k", index: Number(t.getAttribute("data-index")) };
  }
  tokView.addEventListener("mouseover", (e) => {
    const f = tokenEvent(e);
    if (!f || (focus && focus.side === f.side && focus.index === f.index)) return;
    focus = f;
    drawTokens();
  }, on);
  tokView.addEventListener("mouseleave", () => {
    focus = null;
    drawTokens();
  }, on);
  tokView.addEventListener("click", (e) => {
    const f = tokenEvent(e);
    if (!f) return;
    const tok = model.get("token");
    if (f.side === "q") setMany({ token: tok === f.index ? null : f.index });
    else if (queryTokens().length === keyTokens().length) setMany({ token: tok === f.index ? null : f.index });
  }, on);

  // -------------------------------------------------------------- overview
  function buildThumbs(): void {
    const b = model.get("_thumbs");
    const meta = model.get("_thumbs_meta") as ArrayMeta & { scales?: number[] };
    if (b === thumbsBuf && thumbsOff) return;
    thumbsBuf = b;
    if (!meta || !meta.shape || meta.shape.length !== 4) return;
    const [L, C, tq, tk] = meta.shape;
    const bytes = asBytes(b as ArrayBuffer);
    if (bytes.length < L * C * tq * tk) return;
    thumbsOff = document.createElement("canvas");
    thumbsOff.width = C * tk;
    thumbsOff.height = L * tq;
    const ctx = thumbsOff.getContext("2d");
    if (!ctx) return;
    const img = ctx.createImageData(C * tk, L * tq);
    const lt = lut(colormap());
    for (let l = 0; l < L; l++)
      for (let c = 0; c < C; c++)
        for (let y = 0; y < tq; y++)
          for (let x = 0; x < tk; x++) {
            const v = bytes[((l * C + c) * tq + y) * tk + x];
            const o = 4 * ((l * tq + y) * C * tk + c * tk + x);
            img.data[o] = lt[3 * v];
            img.data[o + 1] = lt[3 * v + 1];
            img.data[o + 2] = lt[3 * v + 2];
            img.data[o + 3] = 255;
          }
    ctx.putImageData(img, 0, 0);
  }

  let thumbsCmap = "";
  function drawOverview(): void {
    if (thumbsCmap !== colormap()) {
      thumbsCmap = colormap();
      thumbsOff = null;
    }
    buildThumbs();
    const meta = model.get("_thumbs_meta") as ArrayMeta;
    const s = src();
    if (!thumbsOff || !meta?.shape || !s) return;
    const [L, C, tq, tk] = meta.shape;
    const col = colors();
    const avail = Math.max(300, (root.clientWidth || 800) - 24 - (imageShown() ? 300 : 0));
    const left = 64;
    const top = 18;
    const gap = 2;
    const cs = Math.max(12, Math.min(32, Math.floor((avail - left) / C) - gap));
    overGeom = { left, top, cs, gap, rows: L, cols: C };
    const W = left + C * (cs + gap) + 4;
    const H = top + L * (cs + gap) + 4;
    const ctx = hiDpi(overview, W, H);
    if (!ctx) return;
    ctx.clearRect(0, 0, W, H);
    ctx.imageSmoothingEnabled = tq > cs;
    for (let l = 0; l < L; l++)
      for (let c = 0; c < C; c++) ctx.drawImage(thumbsOff, c * tk, l * tq, tk, tq, left + c * (cs + gap), top + l * (cs + gap), cs, cs);
    ctx.font = `10px ${col.font}`;
    ctx.textBaseline = "middle";
    ctx.textAlign = "center";
    const measure = (t: string) => ctx.measureText(t).width;
    const every = cs < 18 ? 2 : 1;
    for (let c = 0; c < C; c++) {
      if (c > 0 && (c - 1) % every) continue;
      ctx.fillStyle = c === 0 ? col.fg : col.fg2;
      ctx.fillText(c === 0 ? "mean" : String(c - 1), left + c * (cs + gap) + cs / 2, top / 2, cs + gap + 6);
    }
    ctx.textAlign = "right";
    const lstep = cs < 14 ? 2 : 1;
    for (let l = 0; l < L; l += lstep) {
      ctx.fillStyle = col.fg2;
      ctx.fillText(fitText(s.layer_names[l] ?? String(l), left - 8, measure), left - 6, top + l * (cs + gap) + cs / 2);
    }
    const layer = Number(model.get("layer")) || 0;
    const head = Number(model.get("head"));
    ctx.strokeStyle = col.accent;
    ctx.lineWidth = 2;
    ctx.strokeRect(left + (head + 1) * (cs + gap) - 1, top + layer * (cs + gap) - 1, cs + 2, cs + 2);
  }

  function overviewCell(e: MouseEvent): [number, number] | null {
    const g = overGeom;
    const r = overview.getBoundingClientRect();
    const x = e.clientX - r.left - g.left;
    const y = e.clientY - r.top - g.top;
    if (x < 0 || y < 0) return null;
    const c = Math.floor(x / (g.cs + g.gap));
    const l = Math.floor(y / (g.cs + g.gap));
    if (c >= g.cols || l >= g.rows || x - c * (g.cs + g.gap) > g.cs || y - l * (g.cs + g.gap) > g.cs) return null;
    return [l, c - 1];
  }
  overview.addEventListener("mousemove", (e) => {
    const c = overviewCell(e);
    if (!c) return tooltip.hide();
    const s = src();
    tooltip.show(e.clientX, e.clientY, [["layer", `${c[0]}${s?.layer_names[c[0]] && s.layer_names[c[0]] !== String(c[0]) ? ` · ${s.layer_names[c[0]]}` : ""}`], ["head", c[1] < 0 ? "mean" : String(c[1])]], "click to select");
  }, on);
  overview.addEventListener("mouseleave", () => tooltip.hide(), on);
  overview.addEventListener("click", (e) => {
    const c = overviewCell(e);
    if (!c) return;
    lastInput = performance.now();
    setMany({ layer: c[0], head: c[1] });
  }, on);

  // -------------------------------------------------------------------- ViT
  function imageShown(): boolean {
    const g = model.get("patch_grid");
    return Array.isArray(g) && g.length === 2 && (model.get("_image_meta")?.shape?.length ?? 0) === 3;
  }

  function drawVit(): void {
    vitPane.style.display = imageShown() ? "" : "none";
    if (!imageShown() || !current) return;
    const meta = model.get("_image_meta") as ArrayMeta;
    const [ih, iw] = meta.shape;
    const b = model.get("_image");
    if (b !== imgBuf || !imgCanvas) {
      imgBuf = b;
      const bytes = asBytes(b as ArrayBuffer);
      imgCanvas = document.createElement("canvas");
      imgCanvas.width = iw;
      imgCanvas.height = ih;
      const c = imgCanvas.getContext("2d");
      if (c && bytes.length >= ih * iw * 3) {
        const img = c.createImageData(iw, ih);
        for (let i = 0; i < ih * iw; i++) {
          img.data[4 * i] = bytes[3 * i];
          img.data[4 * i + 1] = bytes[3 * i + 1];
          img.data[4 * i + 2] = bytes[3 * i + 2];
          img.data[4 * i + 3] = 255;
        }
        c.putImageData(img, 0, 0);
      }
      buildPrefixes();
    }
    const [gh, gw] = model.get("patch_grid") as number[];
    const prefix = Number(model.get("n_prefix_tokens")) || 0;
    const tok = model.get("token");
    const q = tok !== null && tok !== undefined ? Number(tok) : 0;
    const dispW = Math.min(280, Math.max(224, iw));
    const dispH = (dispW * ih) / iw;
    const ctx = hiDpi(image, dispW, dispH);
    if (!ctx || !imgCanvas) return;
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(imgCanvas, 0, 0, dispW, dispH);
    const d = current;
    const heat = document.createElement("canvas");
    heat.width = gw;
    heat.height = gh;
    const hc = heat.getContext("2d");
    if (hc && q < d.nq) {
      const img = hc.createImageData(gw, gh);
      const lt = lut(colormap());
      let mx = 0;
      for (let p = 0; p < gh * gw; p++) mx = Math.max(mx, table[d.codes[q * d.nk + prefix + p]]);
      for (let p = 0; p < gh * gw; p++) {
        const t = mx > 0 ? table[d.codes[q * d.nk + prefix + p]] / mx : 0;
        const k = 3 * Math.round(t * 255);
        img.data[4 * p] = lt[k];
        img.data[4 * p + 1] = lt[k + 1];
        img.data[4 * p + 2] = lt[k + 2];
        img.data[4 * p + 3] = Math.round(255 * (0.15 + 0.7 * t));
      }
      hc.putImageData(img, 0, 0);
      ctx.drawImage(heat, 0, 0, dispW, dispH);
    }
    if (q >= prefix && q < prefix + gh * gw) {
      const p = q - prefix;
      const r = Math.floor(p / gw);
      const c = p % gw;
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 2;
      ctx.strokeRect((c * dispW) / gw, (r * dispH) / gh, dispW / gw, dispH / gh);
    }
    const qt = queryTokens()[q] ?? String(q);
    vitTitle.textContent = q < prefix ? `Attention of ${qt} over the image` : `Attention of patch ${q - prefix} (row ${Math.floor((q - prefix) / gw)}, col ${(q - prefix) % gw})`;
    for (const btn of Array.from(prefixes.children)) btn.classList.toggle("xw-active", Number((btn as HTMLElement).getAttribute("data-index")) === q);
  }

  function buildPrefixes(): void {
    while (prefixes.firstChild) prefixes.removeChild(prefixes.firstChild);
    const prefix = Number(model.get("n_prefix_tokens")) || 0;
    const qt = queryTokens();
    for (let i = 0; i < prefix; i++) {
      const b = h("button", { class: "xw-prefix", text: qt[i] ?? `prefix ${i}`, attrs: { type: "button", "data-index": String(i) } });
      b.addEventListener("click", () => setMany({ token: i }), on);
      prefixes.appendChild(b);
    }
  }

  image.addEventListener("click", (e) => {
    const g = model.get("patch_grid") as number[];
    if (!Array.isArray(g) || g.length !== 2) return;
    const r = image.getBoundingClientRect();
    const c = Math.min(g[1] - 1, Math.max(0, Math.floor(((e.clientX - r.left) / r.width) * g[1])));
    const row = Math.min(g[0] - 1, Math.max(0, Math.floor(((e.clientY - r.top) / r.height) * g[0])));
    setMany({ token: (Number(model.get("n_prefix_tokens")) || 0) + row * g[1] + c });
  }, on);

  // ---------------------------------------------------------------- search
  function runSearch(jump: boolean): void {
    const s = search.value.trim().toLowerCase();
    matches = [];
    if (s) {
      const qt = queryTokens();
      for (let i = 0; i < qt.length && matches.length < 500; i++) if (qt[i].toLowerCase().includes(s)) matches.push(i);
      if (qt !== keyTokens()) {
        const kt = keyTokens();
        for (let i = 0; i < kt.length && matches.length < 500; i++) if (kt[i].toLowerCase().includes(s) && !matches.includes(i)) matches.push(i);
      }
    }
    search.classList.toggle("xw-nomatch", !!s && !matches.length);
    if (jump && matches.length) {
      const m = matches[matchPos % matches.length];
      const v = String(model.get("view"));
      if (v === "matrix" && current) {
        view = centerOn(grid, view, m < grid.nx ? m : null, m < grid.ny ? m : null, grid.ny > 64 ? Math.min(8, grid.ny / 48) : 1);
      } else if (v === "tokens") {
        tokBuilt = "";
        buildTokenColumns();
        const el = leftCol.querySelector(`[data-index="${m}"]`) as HTMLElement | null;
        if (el && el.scrollIntoView) el.scrollIntoView({ block: "center" });
      }
    }
    draw();
  }
  search.addEventListener("input", () => {
    matchPos = 0;
    runSearch(true);
  }, on);
  search.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && matches.length) {
      matchPos = (matchPos + (e.shiftKey ? matches.length - 1 : 1)) % matches.length;
      runSearch(true);
    }
  }, on);

  // ---------------------------------------------------------------- status
  function updateStatus(): void {
    const d = current;
    const s = src();
    if (!d || !s) return;
    while (status.firstChild) status.removeChild(status.firstChild);
    const layer = Number(model.get("layer")) || 0;
    const head = Number(model.get("head"));
    const nm = s.layer_names[layer];
    status.append(
      h("b", { text: `${s.name}` }),
      ` · layer ${layer}${nm && nm !== String(layer) ? ` (${nm})` : ""} · ${head < 0 ? "mean of heads" : `head ${head}`} · ${d.nq}×${d.nk}`,
      model.get("causal") ? " · causal" : "",
    );
    const v = String(model.get("view"));
    if (v === "matrix") status.append(` · zoom ${view.zoom.toFixed(view.zoom < 10 ? 1 : 0)}× — scroll to zoom, drag to pan, double-click to reset`);
    if (matches.length) status.append(` · ${matches.length} match${matches.length > 1 ? "es" : ""} (Enter: next)`);
    const tok = model.get("token");
    if (tok !== null && tok !== undefined) status.append(" · pinned ", h("b", { text: `#${tok} ${queryTokens()[tok] ?? ""}` }));
  }

  // ---------------------------------------------------------------- export
  function exportPng(): void {
    const v = String(model.get("view"));
    const col = colors();
    let srcCanvas: HTMLCanvasElement | null = v === "matrix" ? matrix : v === "overview" ? overview : null;
    if (v === "tokens") srcCanvas = tokensCanvas(col);
    if (!srcCanvas) return;
    const extra = imageShown() ? image : null;
    const pad = 12;
    const titleH = 22;
    const W = srcCanvas.width + (extra ? extra.width + pad : 0) + 2 * pad;
    const H = Math.max(srcCanvas.height, extra ? extra.height : 0) + titleH + 2 * pad;
    const out = document.createElement("canvas");
    out.width = W;
    out.height = H;
    const ctx = out.getContext("2d");
    if (!ctx) return;
    ctx.fillStyle = col.bg;
    ctx.fillRect(0, 0, W, H);
    ctx.fillStyle = col.fg;
    ctx.font = `600 ${13 * dpr()}px ${col.font}`;
    ctx.textBaseline = "top";
    ctx.fillText(status.textContent?.split(" — ")[0] ?? "", pad, pad, W - 2 * pad);
    ctx.drawImage(srcCanvas, pad, pad + titleH);
    if (extra) ctx.drawImage(extra, pad + srcCanvas.width + pad, pad + titleH);
    downloadCanvas(out, "attention_view.png");
  }

  function tokensCanvas(col: ReturnType<typeof colors>): HTMLCanvasElement {
    const [q0, q1] = tokRange.q;
    const [k0, k1] = tokRange.k;
    const n = Math.max(q1 - q0, k1 - k0);
    const colW = 150;
    const k = dpr();
    const c = document.createElement("canvas");
    c.width = (2 * colW + 200) * k;
    c.height = n * ROW * k;
    const ctx = c.getContext("2d");
    if (!ctx) return c;
    ctx.scale(k, k);
    ctx.drawImage(lines, colW, 0, 200, n * ROW);
    ctx.font = `${LABEL_FONT + 1}px ${col.font}`;
    ctx.textBaseline = "middle";
    ctx.fillStyle = col.fg;
    const measure = (s: string) => ctx.measureText(s).width;
    ctx.textAlign = "right";
    queryTokens().slice(q0, q1).forEach((t, i) => ctx.fillText(fitText(t, colW - 8, measure), colW - 4, (i + 0.5) * ROW));
    ctx.textAlign = "left";
    keyTokens().slice(k0, k1).forEach((t, i) => ctx.fillText(fitText(t, colW - 8, measure), colW + 204, (i + 0.5) * ROW));
    return c;
  }

  // ------------------------------------------------------------- listeners
  model.on("msg:custom", onCustom);
  const un1 = listen(model, ["layer", "head", "source", "sample"], () => {
    if (current && current.key === wantedKey()) return draw();
    show();
  });
  const un2 = listen(model, ["_head", "_head_meta"], ingestTrait);
  const un3 = listen(model, ["view", "token", "colormap", "clip_percentile", "_mask"], () => {
    syncControls();
    if (String(model.get("view")) !== "tokens") focus = null;
    tokBuilt = tokBuilt && model.get("token") !== null ? "" : tokBuilt;
    if (current) draw();
  });
  const un4 = listen(model, ["_thumbs", "_thumbs_meta"], () => {
    thumbsOff = null;
    if (current && String(model.get("view")) === "overview") draw();
  });
  let lastWidth = 0;
  const ro =
    typeof ResizeObserver !== "undefined"
      ? new ResizeObserver(() => {
          const w = root.clientWidth;
          if (Math.abs(w - lastWidth) > 24 && current) {
            lastWidth = w;
            draw();
          }
        })
      : null;
  ro?.observe(root);
  ingestTrait();
  show();
  lastWidth = root.clientWidth;

  return () => {
    ac.abort();
    ro?.disconnect();
    if (raf) cancelAnimationFrame(raf);
    model.off("msg:custom", onCustom);
    un1();
    un2();
    un3();
    un4();
    tooltip.hide();
    cache.clear();
    root.remove();
  };
}

export default { render };
export { render };
export type { AnyModel };
