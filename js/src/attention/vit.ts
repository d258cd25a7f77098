/**
 * ViT mode: the image with the pinned query token's attention over its
 * patches; click a patch to pin it, or a prefix-token button ([CLS],
 * registers) to show that token's attention.
 */
import { hiDpi } from "../lib/canvas";
import { lut } from "../lib/colormaps";
import { asBytes, type ArrayMeta } from "../lib/decode";
import { h } from "../lib/dom";
import type { ViewContext } from "./context";

/** Whether the model carries an image and a patch grid (ViT mode). */
export function imageShown(model: ViewContext["model"]): boolean {
  const g = model.get("patch_grid");
  return Array.isArray(g) && g.length === 2 && (model.get("_image_meta")?.shape?.length ?? 0) === 3;
}

export class VitView {
  readonly pane: HTMLDivElement;
  readonly canvas: HTMLCanvasElement;
  private title: HTMLDivElement;
  private prefixes: HTMLDivElement;
  private imgBuf: unknown = null;
  private imgCanvas: HTMLCanvasElement | null = null;

  constructor(private ctx: ViewContext) {
    this.pane = h("div", { class: "xw-pane xw-vit-pane" });
    this.title = h("div", { class: "xw-pane-title" });
    this.canvas = h("canvas", { class: "xw-image" });
    this.prefixes = h("div", { class: "xw-prefixes" });
    this.pane.append(this.title, this.canvas, this.prefixes);
    this.listen();
  }

  draw(): void {
    const { model, state } = this.ctx;
    const shown = imageShown(model);
    this.pane.style.display = shown ? "" : "none";
    const d = state.current;
    if (!shown || !d) return;
    state.levels();
    const table = state.table;
    const meta = model.get("_image_meta") as ArrayMeta;
    const [ih, iw] = meta.shape;
    const b = model.get("_image");
    if (b !== this.imgBuf || !this.imgCanvas) {
      this.imgBuf = b;
      const bytes = asBytes(b as ArrayBuffer);
      const ic = (this.imgCanvas = document.createElement("canvas"));
      ic.width = iw;
      ic.height = ih;
      const c = ic.getContext("2d");
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
      this.buildPrefixes();
    }
    const [gh, gw] = model.get("patch_grid") as number[];
    const prefix = Number(model.get("n_prefix_tokens")) || 0;
    const q = state.token() ?? 0;
    const dispW = Math.min(280, Math.max(224, iw));
    const dispH = (dispW * ih) / iw;
    const ctx = hiDpi(this.canvas, dispW, dispH);
    if (!ctx || !this.imgCanvas) return;
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(this.imgCanvas, 0, 0, dispW, dispH);
    const heat = document.createElement("canvas");
    heat.width = gw;
    heat.height = gh;
    const hc = heat.getContext("2d");
    if (hc && q < d.nq) {
      const img = hc.createImageData(gw, gh);
      const lt = lut(state.colormap());
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
    const qt = state.queryTokens()[q] ?? String(q);
    this.title.textContent =
      q < prefix ? `Attention of ${qt} over the image` : `Attention of patch ${q - prefix} (row ${Math.floor((q - prefix) / gw)}, col ${(q - prefix) % gw})`;
    for (const btn of Array.from(this.prefixes.children)) btn.classList.toggle("xw-active", Number((btn as HTMLElement).getAttribute("data-index")) === q);
  }

  private buildPrefixes(): void {
    const { model, state, on } = this.ctx;
    const box = this.prefixes;
    while (box.firstChild) box.removeChild(box.firstChild);
    const prefix = Number(model.get("n_prefix_tokens")) || 0;
    const qt = state.queryTokens();
    for (let i = 0; i < prefix; i++) {
      const b = h("button", { class: "xw-prefix", text: qt[i] ?? `prefix ${i}`, attrs: { type: "button", "data-index": String(i) } });
      b.addEventListener("click", () => state.set({ token: i }), on);
      box.appendChild(b);
    }
  }

  private listen(): void {
    const { model, state, on } = this.ctx;
    this.canvas.addEventListener("click", (e) => {
      const g = model.get("patch_grid") as number[];
      if (!Array.isArray(g) || g.length !== 2) return;
      const r = this.canvas.getBoundingClientRect();
      const c = Math.min(g[1] - 1, Math.max(0, Math.floor(((e.clientX - r.left) / r.width) * g[1])));
      const row = Math.min(g[0] - 1, Math.max(0, Math.floor(((e.clientY - r.top) / r.height) * g[0])));
      state.set({ token: (Number(model.get("n_prefix_tokens")) || 0) + row * g[1] + c });
    }, on);
  }
}
