/**
 * The matrix view: one head as a heatmap (queries down, keys across) with
 * zoom (wheel) and pan (drag), thinned token labels, masked cells hatched,
 * a hover readout and click-to-pin a query row.
 */
import { drawColorbar, hiDpi } from "../lib/canvas";
import { lut } from "../lib/colormaps";
import { h } from "../lib/dom";
import { clientToCanvas, formatValue } from "../lib/scale";
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
} from "../lib/zoom";
import { LABEL_FONT, colors, dpr, type ViewContext } from "./context";
import { cellText, inkOn, matchInk } from "./labels";
import { checker, isMasked } from "./state";

/** Cells at least this large (CSS px) show their weight. */
const CELL_TEXT_W = 26;
const CELL_TEXT_H = 14;

export class MatrixView {
  readonly pane: HTMLDivElement;
  readonly canvas: HTMLCanvasElement;
  private colorbar: HTMLCanvasElement;
  private view: View = { ...FIT };
  private grid: Grid = { nx: 1, ny: 1, w: 1, h: 1 };
  private margin = { left: 40, top: 40 };
  private offscreen: HTMLCanvasElement | null = null;
  private offKey = "";
  private hoverCell: [number, number] | null = null;
  private drag: { x: number; y: number; moved: boolean } | null = null;
  private raf = 0;

  constructor(private ctx: ViewContext) {
    this.pane = h("div", { class: "xw-pane xw-matrix-pane" });
    this.canvas = h("canvas", { class: "xw-canvas xw-matrix" });
    this.colorbar = h("canvas", { class: "xw-colorbar" });
    this.pane.append(this.canvas, this.colorbar);
    this.listen();
  }

  get zoom(): number {
    return this.view.zoom;
  }

  /** Centre the view on a token (search), zooming in on long sequences. */
  centerOn(m: number): void {
    const g = this.grid;
    this.view = centerOn(g, this.view, m < g.nx ? m : null, m < g.ny ? m : null, g.ny > 64 ? Math.min(8, g.ny / 48) : 1);
  }

  /** The full-resolution RGBA image of the current head (K x Q pixels), rebuilt on head/colormap/clip/theme change. */
  private ensureImage(): void {
    const { state } = this.ctx;
    const d = state.current;
    if (!d) return;
    state.levels();
    const m = state.mask();
    const col = colors(this.ctx.root);
    const key = `${d.key}|${state.colormap()}|${state.clip()}|${col.bg}|${state.maskVersion}`;
    if (key === this.offKey && this.offscreen) return;
    this.offKey = key;
    const { table, vmax } = state;
    const { nq, nk, codes } = d;
    if (!this.offscreen) this.offscreen = document.createElement("canvas");
    const off = this.offscreen;
    if (off.width !== nk || off.height !== nq) {
      off.width = nk;
      off.height = nq;
    }
    const ctx = off.getContext("2d");
    if (!ctx) return;
    const img = ctx.createImageData(nk, nq);
    const px = new Uint32Array(img.data.buffer);
    const lt = lut(state.colormap());
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
      // by mask byte: zero bytes (most unmasked cells) cost one test for eight cells
      const sh = nk > 256 ? 2 : 0;
      const nb = Math.min(m.length, Math.ceil(n / 8));
      for (let j = 0; j < nb; j++) {
        const byte = m[j];
        if (!byte) continue;
        const end = Math.min(n, (j << 3) + 8);
        for (let i = j << 3; i < end; i++) {
          if (!((byte >> (7 - (i & 7))) & 1)) continue;
          const q = (i / nk) | 0;
          px[i] = (((q + i - q * nk) >> sh) & 1) === 0 ? hatchA : hatchB;
        }
      }
    }
    ctx.putImageData(img, 0, 0);
  }

  private layout(): void {
    const { state, root } = this.ctx;
    const d = state.current;
    if (!d) return;
    const avail = Math.max(320, (root.clientWidth || 800) - 24 - (this.ctx.imageShown() ? 300 : 0));
    const ctx = this.canvas.getContext("2d");
    const col = colors(root);
    let lw = 40;
    if (ctx) {
      ctx.font = `${LABEL_FONT}px ${col.font}`;
      const widest = (toks: string[]) => {
        let w = 0;
        const step = Math.max(1, Math.floor(toks.length / 400));
        for (let i = 0; i < toks.length; i += step) w = Math.max(w, ctx.measureText(toks[i]).width);
        return w;
      };
      this.margin = {
        left: Math.min(110, Math.max(28, widest(state.queryTokens()) + 10)),
        top: Math.min(110, Math.max(28, widest(state.keyTokens()) + 10)),
      };
      lw = this.margin.left;
    }
    const plotW = Math.max(160, Math.min(d.nk * 30, 560, avail - lw - 16));
    const plotH = Math.max(48, Math.min((d.nq * plotW) / d.nk, 560));
    const changed = this.grid.nx !== d.nk || this.grid.ny !== d.nq;
    this.grid = { nx: d.nk, ny: d.nq, w: plotW, h: plotH };
    this.view = changed ? { ...FIT } : clampView(this.grid, this.view);
  }

  draw(): void {
    const { state } = this.ctx;
    const d = state.current;
    if (!d) return;
    this.ensureImage();
    this.layout();
    const { grid, view, margin, hoverCell } = this;
    const col = colors(this.ctx.root);
    const W = margin.left + grid.w + 10;
    const H = margin.top + grid.h + 10;
    const k = dpr();
    const c = this.canvas;
    const ctx = c.width === Math.round(W * k) && c.height === Math.round(H * k) ? c.getContext("2d") : hiDpi(c, W, H);
    if (!ctx || !this.offscreen) return;
    // tests find cells by it (CSS px from the canvas's top left)
    this.canvas.setAttribute("data-xw-geom", JSON.stringify({ left: margin.left, top: margin.top, w: grid.w, h: grid.h }));
    ctx.setTransform(k, 0, 0, k, 0, 0);
    ctx.clearRect(0, 0, W, H);
    const [cx, cy] = cellSize(grid, view);
    ctx.imageSmoothingEnabled = cx < 1 || cy < 1;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(this.offscreen, view.x0, view.y0, grid.nx / view.zoom, grid.ny / view.zoom, margin.left, margin.top, grid.w, grid.h);
    ctx.strokeStyle = col.border;
    ctx.lineWidth = 1;
    ctx.strokeRect(margin.left - 0.5, margin.top - 0.5, grid.w + 1, grid.h + 1);

    ctx.save();
    ctx.beginPath();
    ctx.rect(margin.left, margin.top, grid.w, grid.h);
    ctx.clip();
    if (cx >= CELL_TEXT_W && cy >= CELL_TEXT_H) this.drawCellValues(ctx, col.font);
    // pinned query row, hovered cell
    const tok = state.token();
    if (tok !== null && tok < d.nq) {
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
    const qt = state.queryTokens();
    const kt = state.keyTokens();
    const matches = state.matches;
    const keepQ = [...(tok !== null ? [tok] : []), ...(hoverCell ? [hoverCell[1]] : []), ...matches.filter((i) => i < d.nq)];
    const keepK = [...(hoverCell ? [hoverCell[0]] : []), ...matches.filter((i) => i < d.nk)];
    const [qlo, qhi] = visibleRange(grid, view, "y");
    const [klo, khi] = visibleRange(grid, view, "x");
    const qs = thinnedLabels(qlo, qhi, labelStep(cy, LABEL_FONT + 2), keepQ.slice(0, 50));
    const ks = thinnedLabels(klo, khi, labelStep(cx, LABEL_FONT + 2), keepK.slice(0, 50));
    const measure = (s: string) => ctx.measureText(s).width;
    const matchSet = new Set(matches);
    const mInk = matchInk(col.bg);
    ctx.textAlign = "right";
    for (const q of qs) {
      const [, y] = cellToPx(grid, view, 0, q + 0.5);
      const hl = (hoverCell && hoverCell[1] === q) || q === tok;
      ctx.fillStyle = matchSet.has(q) ? mInk : hl ? col.fg : col.fg2;
      ctx.font = `${hl ? "600 " : ""}${LABEL_FONT}px ${col.font}`;
      ctx.fillText(fitText(qt[q] ?? String(q), margin.left - 8, measure), margin.left - 4, margin.top + y);
    }
    ctx.save();
    ctx.translate(margin.left, margin.top - 4);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "left";
    for (const kk of ks) {
      const [x] = cellToPx(grid, view, kk + 0.5, 0);
      const hl = hoverCell && hoverCell[0] === kk;
      ctx.fillStyle = matchSet.has(kk) ? mInk : hl ? col.fg : col.fg2;
      ctx.font = `${hl ? "600 " : ""}${LABEL_FONT}px ${col.font}`;
      ctx.fillText(fitText(kt[kk] ?? String(kk), margin.top - 8, measure), 0, x);
    }
    ctx.restore();
    ctx.fillStyle = col.fg2;
    ctx.font = `10px ${col.font}`;
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    if (margin.left >= 70 && margin.top >= 40) ctx.fillText("query ↓ key →", 2, 2, margin.left - 4);

    const bw = Math.min(260, grid.w);
    const bctx = hiDpi(this.colorbar, bw + margin.left, 30);
    if (bctx) {
      bctx.clearRect(0, 0, bw + margin.left, 30);
      drawColorbar(bctx, margin.left, 2, bw, state.colormap(), "absolute", state.vmax, { color: col.fg2, border: col.border, font: `11px ${col.font}` }, "weight");
    }
  }

  /** Each visible cell's weight, in black or white by the cell's colour (zoomed in, or few tokens). */
  private drawCellValues(ctx: CanvasRenderingContext2D, font: string): void {
    const { state } = this.ctx;
    const d = state.current;
    if (!d) return;
    const { grid, view, margin } = this;
    const [cx, cy] = cellSize(grid, view);
    const [qlo, qhi] = visibleRange(grid, view, "y");
    const [klo, khi] = visibleRange(grid, view, "x");
    if ((qhi - qlo) * (khi - klo) > 4096) return;
    const m = state.mask();
    const lt = lut(state.colormap());
    const size = Math.min(11, Math.floor(cy * 0.6));
    ctx.font = `${size}px ${font}`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    for (let q = qlo; q < qhi; q++) {
      for (let k = klo; k < khi; k++) {
        if (isMasked(m, q * d.nk + k)) continue;
        const v = state.value(q, k);
        const text = cellText(v);
        if (ctx.measureText(text).width > cx - 4) continue;
        const i = 3 * Math.round(Math.min(1, Math.max(0, v / state.vmax)) * 255);
        ctx.fillStyle = inkOn([lt[i], lt[i + 1], lt[i + 2]]);
        const [x, y] = cellToPx(grid, view, k + 0.5, q + 0.5);
        ctx.fillText(text, margin.left + x, margin.top + y);
      }
    }
  }

  private plotPoint(e: MouseEvent): [number, number] {
    const r = this.canvas.getBoundingClientRect();
    const W = this.margin.left + this.grid.w + 10;
    const H = this.margin.top + this.grid.h + 10;
    const [x, y] = clientToCanvas(e.clientX, e.clientY, r, W, H);
    return [x - this.margin.left, y - this.margin.top];
  }

  private redrawSoon(): void {
    if (this.raf) return;
    this.raf = requestAnimationFrame(() => {
      this.raf = 0;
      if (this.ctx.state.current && this.ctx.state.view() === "matrix") this.draw();
    });
  }

  private listen(): void {
    const { state, tooltip, on } = this.ctx;
    const matrix = this.canvas;
    matrix.addEventListener("wheel", (e) => {
      if (!state.current) return;
      e.preventDefault();
      const [px, py] = this.plotPoint(e);
      const g = this.grid;
      this.view = zoomAt(g, this.view, Math.pow(1.0015, -e.deltaY), Math.min(g.w, Math.max(0, px)), Math.min(g.h, Math.max(0, py)));
      this.redrawSoon();
      this.ctx.updateStatus();
    }, { ...on, passive: false });
    matrix.addEventListener("mousedown", (e) => {
      this.drag = { x: e.clientX, y: e.clientY, moved: false };
    }, on);
    window.addEventListener("mousemove", (e) => {
      const drag = this.drag;
      if (!drag) return;
      const dx = e.clientX - drag.x;
      const dy = e.clientY - drag.y;
      if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 3) return;
      drag.moved = true;
      matrix.classList.add("xw-dragging");
      const r = matrix.getBoundingClientRect();
      const s = (this.margin.left + this.grid.w + 10) / Math.max(1, r.width);
      this.view = panBy(this.grid, this.view, dx * s, dy * s);
      drag.x = e.clientX;
      drag.y = e.clientY;
      tooltip.hide();
      this.redrawSoon();
    }, on);
    window.addEventListener("mouseup", () => {
      matrix.classList.remove("xw-dragging");
      setTimeout(() => (this.drag = null), 0);
    }, on);
    matrix.addEventListener("dblclick", () => {
      this.view = { ...FIT };
      this.redrawSoon();
      this.ctx.updateStatus();
    }, on);
    matrix.addEventListener("mousemove", (e) => {
      const d = state.current;
      if (!d || (this.drag && this.drag.moved)) return;
      const [px, py] = this.plotPoint(e);
      const c = cellAt(this.grid, this.view, px, py);
      const hc = this.hoverCell;
      const same = c && hc && c[0] === hc[0] && c[1] === hc[1];
      this.hoverCell = c;
      if (!c) {
        tooltip.hide();
        if (!same) this.redrawSoon();
        return;
      }
      const [k, q] = c;
      const qt = state.queryTokens()[q] ?? String(q);
      const kt = state.keyTokens()[k] ?? String(k);
      const masked = isMasked(state.mask(), q * d.nk + k);
      tooltip.show(e.clientX, e.clientY, [
        ["query", `#${q} ${qt}`],
        ["key", `#${k} ${kt}`],
        ["weight", masked ? "masked" : formatValue(state.value(q, k))],
      ], `${qt} → ${kt}`);
      if (!same) this.redrawSoon();
    }, on);
    matrix.addEventListener("mouseleave", () => {
      this.hoverCell = null;
      tooltip.hide();
      this.redrawSoon();
    }, on);
    matrix.addEventListener("click", (e) => {
      if (!state.current || (this.drag && this.drag.moved)) return;
      const [px, py] = this.plotPoint(e);
      const c = cellAt(this.grid, this.view, px, py);
      if (!c) return;
      state.set({ token: state.token() === c[1] ? null : c[1] });
    }, on);
  }

  dispose(): void {
    if (this.raf) cancelAnimationFrame(this.raf);
  }
}
