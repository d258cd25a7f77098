/**
 * The matrix view: generated tokens down, source tokens across, on one canvas,
 * with zoom (wheel), pan (drag), thinned axis labels (lib/zoom.ts), the
 * selected row outlined, a line between prompt and generation, a hover
 * readout and click-to-select a row.
 */
import { hiDpi } from "../lib/canvas";
import type { RGB } from "../lib/colormaps";
import { h } from "../lib/dom";
import {
  FIT,
  cellAt,
  cellSize,
  cellToPx,
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
import { matrixPixels } from "./cells";
import type { GenData } from "./data";
import { displayToken } from "./layout";

const LABEL_FONT = 11;

export interface MatrixColors {
  fg: string;
  fg2: string;
  border: string;
  accent: string;
  font: string;
  bg: RGB;
}

export interface MatrixEvents {
  select(g: number): void;
  hover(cell: [number, number] | null, e: MouseEvent): void;
}

export class MatrixView {
  readonly canvas: HTMLCanvasElement;
  private view: View = { ...FIT };
  private grid: Grid = { nx: 1, ny: 1, w: 1, h: 1 };
  private margin = { left: 40, top: 40 };
  private off: HTMLCanvasElement | null = null;
  private offKey = "";
  private drag: { x: number; y: number; moved: boolean } | null = null;
  private hoverCell: [number, number] | null = null;
  private last: { d: GenData; scales: Float64Array; colormap: string; token: number; avail: number; colors: MatrixColors } | null = null;

  constructor(private events: MatrixEvents, signal: AbortSignal) {
    this.canvas = h("canvas", { class: "xw-canvas xw-gen-matrix" });
    const c = this.canvas;
    const local = (e: MouseEvent): [number, number] => {
      const r = c.getBoundingClientRect();
      return [e.clientX - r.left - this.margin.left, e.clientY - r.top - this.margin.top];
    };
    c.addEventListener(
      "wheel",
      (e) => {
        const [x, y] = local(e);
        if (x < 0 || y < 0 || x > this.grid.w || y > this.grid.h) return;
        e.preventDefault();
        this.view = zoomAt(this.grid, this.view, Math.exp(-e.deltaY * 0.0015), x, y);
        this.redraw();
      },
      { signal, passive: false },
    );
    c.addEventListener("mousedown", (e) => (this.drag = { x: e.clientX, y: e.clientY, moved: false }), { signal });
    window.addEventListener("mouseup", () => setTimeout(() => (this.drag = null), 0), { signal });
    c.addEventListener(
      "mousemove",
      (e) => {
        if (this.drag && e.buttons & 1) {
          const dx = e.clientX - this.drag.x;
          const dy = e.clientY - this.drag.y;
          if (this.drag.moved || Math.abs(dx) + Math.abs(dy) > 3) {
            this.drag = { x: e.clientX, y: e.clientY, moved: true };
            this.view = panBy(this.grid, this.view, dx, dy);
            this.redraw();
            return;
          }
        }
        const [x, y] = local(e);
        const cell = cellAt(this.grid, this.view, x, y);
        const same = cell && this.hoverCell && cell[0] === this.hoverCell[0] && cell[1] === this.hoverCell[1];
        if (!same) {
          this.hoverCell = cell;
          this.redraw();
        }
        this.events.hover(cell, e);
      },
      { signal },
    );
    c.addEventListener(
      "mouseleave",
      (e) => {
        this.hoverCell = null;
        this.redraw();
        this.events.hover(null, e);
      },
      { signal },
    );
    c.addEventListener(
      "click",
      (e) => {
        if (this.drag?.moved) return;
        const [x, y] = local(e);
        const cell = cellAt(this.grid, this.view, x, y);
        if (cell) this.events.select(cell[1]);
      },
      { signal },
    );
  }

  /** Page-relative centre of cell (s, g), for tests and keyboard-free automation. */
  cellCentre(s: number, g: number): [number, number] {
    const [x, y] = cellToPx(this.grid, this.view, s + 0.5, g + 0.5);
    return [this.margin.left + x, this.margin.top + y];
  }

  private redraw(): void {
    const l = this.last;
    if (l) this.draw(l.d, l.scales, l.colormap, l.token, l.avail, l.colors);
  }

  draw(d: GenData, scales: Float64Array, colormap: string, token: number, avail: number, colors: MatrixColors): void {
    this.last = { d, scales, colormap, token, avail, colors };
    const key = `${d.G}|${d.S}|${d.values.length}|${Array.from(scales).join(",")}|${colormap}|${colors.bg.join(",")}`;
    if (!this.off || key !== this.offKey || this.off.width !== d.S || this.off.height !== d.G) {
      this.offKey = key;
      this.off = this.off ?? document.createElement("canvas");
      this.off.width = d.S;
      this.off.height = d.G;
      const octx = this.off.getContext("2d");
      if (octx) octx.putImageData(new ImageData(matrixPixels(d, scales, colormap, colors.bg), d.S, d.G), 0, 0);
    }
    const ctx0 = this.canvas.getContext("2d");
    const rows = d.generated.map((t) => displayToken(t).text);
    const cols = d.sources.map((t) => displayToken(t).text);
    let left = 40;
    let top = 40;
    if (ctx0) {
      ctx0.font = `${LABEL_FONT}px ${colors.font}`;
      const widest = (toks: string[]) => {
        let w = 0;
        const step = Math.max(1, Math.floor(toks.length / 400));
        for (let i = 0; i < toks.length; i += step) w = Math.max(w, ctx0.measureText(toks[i]).width);
        return w;
      };
      left = Math.min(110, Math.max(28, widest(rows) + 10));
      top = Math.min(90, Math.max(28, widest(cols) + 10));
    }
    this.margin = { left, top };
    const plotW = Math.max(120, Math.min(d.S * 30, 720, avail - left - 12));
    const cellH = Math.min(28, Math.max(8, plotW / d.S));
    const plotH = Math.max(24, Math.min(d.G * cellH, 480));
    const changed = this.grid.nx !== d.S || this.grid.ny !== d.G;
    this.grid = { nx: d.S, ny: d.G, w: plotW, h: plotH };
    this.view = changed ? { ...FIT } : clampView(this.grid, this.view);
    const W = left + plotW + 10;
    const H = top + plotH + 6;
    const ctx = hiDpi(this.canvas, W, H);
    if (!ctx) return;
    this.canvas.dataset.plotLeft = String(left);
    this.canvas.dataset.plotTop = String(top);
    const { grid, view } = this;
    ctx.clearRect(0, 0, W, H);
    const [cx, cy] = cellSize(grid, view);
    ctx.imageSmoothingEnabled = cx < 1 || cy < 1;
    ctx.drawImage(this.off, view.x0, view.y0, grid.nx / view.zoom, grid.ny / view.zoom, left, top, grid.w, grid.h);
    ctx.strokeStyle = colors.border;
    ctx.lineWidth = 1;
    ctx.strokeRect(left - 0.5, top - 0.5, grid.w + 1, grid.h + 1);

    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, grid.w, grid.h);
    ctx.clip();
    // prompt | generation boundary
    const [px] = cellToPx(grid, view, d.P, 0);
    ctx.strokeStyle = colors.accent;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(left + px, top);
    ctx.lineTo(left + px, top + grid.h);
    ctx.stroke();
    const [, ty] = cellToPx(grid, view, 0, token);
    ctx.strokeStyle = colors.fg;
    ctx.lineWidth = 2;
    ctx.strokeRect(left + 1, top + ty, grid.w - 2, Math.max(2, cy));
    const hc = this.hoverCell;
    if (hc) {
      const [x, y] = cellToPx(grid, view, hc[0], hc[1]);
      ctx.strokeStyle = colors.fg2;
      ctx.lineWidth = 1.5;
      ctx.strokeRect(left + x, top + y, Math.max(3, cx), Math.max(3, cy));
    }
    ctx.restore();

    ctx.font = `${LABEL_FONT}px ${colors.font}`;
    ctx.textBaseline = "middle";
    const measure = (s: string) => ctx.measureText(s).width;
    const [glo, ghi] = visibleRange(grid, view, "y");
    const [slo, shi] = visibleRange(grid, view, "x");
    const gs = thinnedLabels(glo, ghi, labelStep(cy, LABEL_FONT + 2), [token, ...(hc ? [hc[1]] : [])]);
    const ss = thinnedLabels(slo, shi, labelStep(cx, LABEL_FONT + 2), hc ? [hc[0]] : []);
    ctx.textAlign = "right";
    for (const g of gs) {
      const [, y] = cellToPx(grid, view, 0, g + 0.5);
      ctx.fillStyle = g === token ? colors.fg : colors.fg2;
      ctx.font = `${g === token ? "600 " : ""}${LABEL_FONT}px ${colors.font}`;
      ctx.fillText(fitText(rows[g] || " ", left - 8, measure), left - 4, top + y);
    }
    ctx.save();
    ctx.translate(left, top - 4);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "left";
    for (const s of ss) {
      const [x] = cellToPx(grid, view, s + 0.5, 0);
      ctx.fillStyle = s >= d.P ? colors.fg : colors.fg2;
      ctx.font = `${LABEL_FONT}px ${colors.font}`;
      ctx.fillText(fitText(cols[s] || " ", top - 8, measure), 0, x);
    }
    ctx.restore();
  }
}
