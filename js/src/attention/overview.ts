/**
 * The overview: every layer (rows) x mean and each head (columns) as a
 * small thumbnail from the `_thumbs` trait (uint8, one scale per
 * thumbnail, already normalised to its own max); click one to select it.
 */
import { hiDpi } from "../lib/canvas";
import { lut } from "../lib/colormaps";
import { asBytes, type ArrayMeta } from "../lib/decode";
import { h } from "../lib/dom";
import { fitText } from "../lib/zoom";
import type { Colors, ViewContext } from "./context";
import { layerLabel } from "./labels";
import { checker } from "./state";

/**
 * Whether thumbnail cell (row y, column x) of a causal `nq x nk` map pooled
 * to `tq x tk` covers masked cells only (every key after every query of the
 * block): such cells are hatched as the matrix view hatches masked cells,
 * so the triangle reads as "no data" rather than "no attention".
 */
export function thumbCellMasked(y: number, x: number, tq: number, tk: number, nq: number, nk: number): boolean {
  const firstKey = Math.floor((x * nk) / tk);
  const lastQuery = Math.ceil(((y + 1) * nq) / tq) - 1;
  return firstKey > lastQuery;
}

interface Geometry {
  left: number;
  top: number;
  cs: number;
  gap: number;
  rows: number;
  cols: number;
}

export class OverviewView {
  readonly pane: HTMLDivElement;
  readonly canvas: HTMLCanvasElement;
  private thumbsBuf: unknown = null;
  private thumbs: HTMLCanvasElement | null = null;
  private thumbsCmap = "";
  private thumbsLook = "";
  private geom: Geometry = { left: 0, top: 0, cs: 32, gap: 2, rows: 0, cols: 0 };
  private note: HTMLDivElement;

  constructor(private ctx: ViewContext) {
    this.pane = h("div", { class: "xw-pane xw-overview-pane" });
    this.canvas = h("canvas", { class: "xw-overview" });
    this.note = h("div", { class: "xw-overview-note" });
    this.note.hidden = true;
    this.pane.append(this.canvas, this.note);
    this.listen();
  }

  /** The thumbnails changed (new source or sample). */
  invalidate(): void {
    this.thumbs = null;
  }

  private build(bg: string): void {
    const { model, state } = this.ctx;
    const b = model.get("_thumbs");
    const meta = model.get("_thumbs_meta") as ArrayMeta & { scales?: number[] };
    const s = state.src();
    const nq = Number(s?.queries) || state.queryTokens().length;
    const nk = state.keyTokens().length;
    const causal = !!model.get("causal") && nq === nk && nq > 1;
    const look = `${bg}|${causal}|${nq}`;
    if (b === this.thumbsBuf && this.thumbs && look === this.thumbsLook) return;
    this.thumbsBuf = b;
    this.thumbsLook = look;
    if (!meta || !meta.shape || meta.shape.length !== 4) return;
    const [L, C, tq, tk] = meta.shape;
    const bytes = asBytes(b as ArrayBuffer);
    if (bytes.length < L * C * tq * tk) return;
    const off = (this.thumbs = document.createElement("canvas"));
    off.width = C * tk;
    off.height = L * tq;
    const ctx = off.getContext("2d");
    if (!ctx) return;
    const img = ctx.createImageData(C * tk, L * tq);
    const lt = lut(state.colormap());
    const hatch = checker(bg);
    for (let l = 0; l < L; l++)
      for (let c = 0; c < C; c++)
        for (let y = 0; y < tq; y++)
          for (let x = 0; x < tk; x++) {
            const o = 4 * ((l * tq + y) * C * tk + c * tk + x);
            if (causal && thumbCellMasked(y, x, tq, tk, nq, nk)) {
              const h = hatch[(x + y) & 1];
              img.data[o] = h[0];
              img.data[o + 1] = h[1];
              img.data[o + 2] = h[2];
            } else {
              const v = 3 * bytes[((l * C + c) * tq + y) * tk + x];
              img.data[o] = lt[v];
              img.data[o + 1] = lt[v + 1];
              img.data[o + 2] = lt[v + 2];
            }
            img.data[o + 3] = 255;
          }
    ctx.putImageData(img, 0, 0);
  }

  draw(col: Colors): void {
    const { model, state, root } = this.ctx;
    if (this.thumbsCmap !== state.colormap()) {
      this.thumbsCmap = state.colormap();
      this.thumbs = null;
    }
    this.build(col.bg);
    const meta = model.get("_thumbs_meta") as ArrayMeta;
    const s = state.src();
    const have = !!this.thumbs && !!meta?.shape && !!s;
    this.canvas.style.display = have ? "" : "none";
    this.note.hidden = have;
    // only a saved page lacks them: the kernel always sends the thumbnails
    this.note.textContent = have ? "" : "The overview of this source and sample is not in this file (size budget); re-export with save_html(..., max_bytes=...) to include it.";
    if (!this.thumbs || !meta?.shape || !s) return;
    const [L, C, tq, tk] = meta.shape;
    const avail = Math.max(300, (root.clientWidth || 800) - 24 - (this.ctx.imageShown() ? 300 : 0));
    const probe = this.canvas.getContext("2d");
    if (probe) probe.font = `10px ${col.font}`;
    const left = Math.ceil(Math.max(28, (probe ? probe.measureText(layerLabel(L - 1)).width : 24) + 12));
    const top = 18;
    const gap = 2;
    const cs = Math.max(12, Math.min(32, Math.floor((avail - left) / C) - gap));
    this.geom = { left, top, cs, gap, rows: L, cols: C };
    this.canvas.setAttribute("data-xw-geom", JSON.stringify(this.geom)); // tests click cells by it
    const W = left + C * (cs + gap) + 4;
    const H = top + L * (cs + gap) + 4;
    const ctx = hiDpi(this.canvas, W, H);
    if (!ctx) return;
    ctx.clearRect(0, 0, W, H);
    ctx.imageSmoothingEnabled = tq > cs;
    for (let l = 0; l < L; l++)
      for (let c = 0; c < C; c++) ctx.drawImage(this.thumbs, c * tk, l * tq, tk, tq, left + c * (cs + gap), top + l * (cs + gap), cs, cs);
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
      ctx.fillText(fitText(layerLabel(l), left - 8, measure), left - 6, top + l * (cs + gap) + cs / 2);
    }
    const layer = state.layer();
    const head = state.head();
    ctx.strokeStyle = col.accent;
    ctx.lineWidth = 2;
    ctx.strokeRect(left + (head + 1) * (cs + gap) - 1, top + layer * (cs + gap) - 1, cs + 2, cs + 2);
  }

  /** [layer, head] under the mouse (head -1: the mean column), or null. */
  private cellAt(e: MouseEvent): [number, number] | null {
    const g = this.geom;
    const r = this.canvas.getBoundingClientRect();
    const x = e.clientX - r.left - g.left;
    const y = e.clientY - r.top - g.top;
    if (x < 0 || y < 0) return null;
    const c = Math.floor(x / (g.cs + g.gap));
    const l = Math.floor(y / (g.cs + g.gap));
    if (c >= g.cols || l >= g.rows || x - c * (g.cs + g.gap) > g.cs || y - l * (g.cs + g.gap) > g.cs) return null;
    return [l, c - 1];
  }

  private listen(): void {
    const { state, tooltip, on } = this.ctx;
    this.canvas.addEventListener("mousemove", (e) => {
      const c = this.cellAt(e);
      if (!c) return tooltip.hide();
      const s = state.src();
      const nm = s?.layer_names[c[0]];
      tooltip.show(e.clientX, e.clientY, [["layer", `${layerLabel(c[0])}${nm && nm !== String(c[0]) ? ` · ${nm}` : ""}`], ["head", c[1] < 0 ? "mean" : String(c[1])]], "click to select");
    }, on);
    this.canvas.addEventListener("mouseleave", () => tooltip.hide(), on);
    this.canvas.addEventListener("click", (e) => {
      const c = this.cellAt(e);
      if (!c) return;
      state.lastInput = performance.now();
      state.set({ layer: c[0], head: c[1] });
    }, on);
  }
}
