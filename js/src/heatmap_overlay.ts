/**
 * HeatmapOverlay view: attribution maps composited over images.
 *
 * Two layouts:
 * - methods: one panel per method for the current sample, flowing into as
 *   many columns as the output's width allows;
 * - class grid (`_grid`, a target="all" attribution): rows are samples,
 *   columns classes, one colour scale for the whole grid.
 *
 * Each panel is an image-sized canvas (the composited overlay, scaled up with
 * square pixels) under a screen-sized canvas holding the selection marker, so
 * the marker is a few screen pixels whatever the image size. Controls:
 * opacity / colormap / sign / clipping / shared scale, hover readout,
 * click-to-select (synced `selected`, ORIGINAL image pixels), PNG download.
 */
import { COLORMAPS, isColormap } from "./lib/colormaps";
import { compositeOverlay, drawColorbar, drawMarker, hiDpi } from "./lib/canvas";
import { asBytes, decodeArray, type ArrayMeta } from "./lib/decode";
import { h, labelled, select } from "./lib/dom";
import { downloadCanvas } from "./lib/download";
import { listen, type AnyModel, type RenderProps } from "./lib/model";
import {
  SIGNS,
  clientToCanvas,
  displayToOriginal,
  formatValue,
  originalToDisplayIndex,
  panelSign,
  scaleMax,
  sharedScale,
  type SignMode,
} from "./lib/scale";
import { injectStyle, resolvedColors } from "./lib/theme";
import { Tooltip } from "./lib/tooltip";
import { classGrid, heightFor, panelGrid, GAP } from "./heatmap/layout";
import { injectHeatmapStyle } from "./heatmap/style";

const SIGN_LABELS: [string, string][] = [
  ["all", "all (signed)"],
  ["positive", "positive"],
  ["negative", "negative"],
  ["absolute", "absolute"],
];
const COLORBAR_H = 28;
const SHARED_BAR_W = 240;

interface Panel {
  root: HTMLDivElement;
  stage: HTMLDivElement;
  caption: HTMLDivElement | null;
  canvas: HTMLCanvasElement;
  marker: HTMLCanvasElement;
  colorbar: HTMLCanvasElement | null;
  /** batch row (sample) and column (method or class) this panel shows */
  row: number;
  col: number;
  base: ImageData | null;
  vmax: number;
  sign: SignMode;
}

interface Row {
  sample: number;
  image: Uint8Array | null; // h*w*3
  maps: Float32Array[]; // one h*w per column
}

interface Data {
  h: number;
  w: number;
  H: number;
  W: number;
  columns: string[];
  grid: boolean;
  rows: Row[];
}

function pair(v: unknown, fallback: [number, number]): [number, number] {
  return Array.isArray(v) && v.length === 2 ? [Number(v[0]), Number(v[1])] : fallback;
}

function render({ model, el }: RenderProps): () => void {
  injectStyle();
  injectHeatmapStyle();
  const ac = new AbortController();
  const on = { signal: ac.signal };
  const root = h("div", { class: "xw-root xw-heatmap-overlay" });
  el.appendChild(root);

  const grid = Boolean(model.get("_grid"));
  if (grid) root.classList.add("xw-class-grid");

  // ---------------------------------------------------------------- controls
  const nSamples = Number(model.get("n_samples")) || 1;
  const sampleLabels: string[] = model.get("_sample_labels") || [];
  const sentRows = (): number[] => {
    const meta: ArrayMeta | null = model.get("_maps_meta");
    if (!meta) return [];
    return meta.samples ?? Array.from({ length: meta.shape[0] }, (_, i) => i);
  };
  // a grid that holds every row shows them all: picking a row is a click, not a menu
  const gridShowsAll = grid && sentRows().length >= nSamples;
  const sampleSel =
    nSamples > 1 && !gridShowsAll
      ? select(
          "xw-sample",
          Array.from({ length: nSamples }, (_, i) => [String(i), sampleLabels[i] ?? String(i)] as [string, string]),
          String(model.get("sample") ?? 0),
        )
      : null;
  const opacity = h("input", { class: "xw-opacity", attrs: { type: "range", min: "0", max: "1", step: "0.01" } });
  const opacityVal = h("span", { class: "xw-value" });
  const cmapSel = select("xw-colormap", COLORMAPS, String(model.get("colormap")));
  const signSel = select("xw-sign", SIGN_LABELS, String(model.get("sign")));
  const clip = h("input", {
    class: "xw-clip",
    attrs: { type: "number", min: "50", max: "100", step: "0.1", title: "Percentile of |value| mapped to the ends of the colour scale" },
  });
  const shared = h("input", { class: "xw-shared", title: "One colour scale for all methods", attrs: { type: "checkbox" } });
  const download = h("button", { class: "xw-download", text: "⤓ PNG", title: "Download the panels as PNG", attrs: { type: "button" } });

  const nColumns = (model.get("_columns") || []).length;
  const toolbar = h("div", { class: "xw-toolbar" }, [
    sampleSel ? labelled("Sample", sampleSel) : null,
    labelled("Opacity", opacity),
    opacityVal,
    labelled("Colormap", cmapSel),
    labelled("Sign", signSel),
    labelled("Clip %", clip),
    // a grid always shares one scale, and one panel has nothing to share it with
    grid || nColumns < 2 ? null : labelled("Shared", shared, "xw-shared-label"),
    h("span", { class: "xw-spacer" }),
    download,
  ]);
  const note = h("div", { class: "xw-note" });
  const heading = h("div", { class: "xw-heading" });
  const panelsEl = h("div", { class: grid ? "xw-grid" : "xw-panels" });
  const body = grid ? h("div", { class: "xw-grid-scroll" }, [panelsEl]) : panelsEl;
  const sharedBar = h("canvas", { class: "xw-colorbar xw-colorbar-shared" });
  const status = h("div", { class: "xw-status" });
  const footer = h("div", { class: "xw-footer" }, [sharedBar, status]);
  root.append(toolbar, note, heading, body, footer);
  const tooltip = new Tooltip(root);

  // ------------------------------------------------------------------- data
  let panels: Panel[] = [];
  let rowLabels: HTMLDivElement[] = [];
  let structure = "";
  let imgBuf: unknown = null;
  let mapsBuf: unknown = null;
  let imgBytes: Uint8Array = new Uint8Array(0);
  let mapsAll: Float32Array = new Float32Array(0);
  let scaleKey = "";
  let scaleCache: { vmax: number; sign: SignMode }[] = [];
  let cellWidth = 0;
  const requested = new Set<number>();
  const missing = new Map<number, string>();
  let requestId = 0;

  function current(): Data | null {
    const [H, W] = pair(model.get("image_shape"), [0, 0]);
    const [hh, ww] = pair(model.get("display_shape"), [0, 0]);
    const columns: string[] = model.get("_columns") || [];
    const imeta: ArrayMeta | null = model.get("_image_meta");
    const mmeta: ArrayMeta | null = model.get("_maps_meta");
    if (!mmeta || !hh || !ww || !columns.length) return null;
    const ib = model.get("_image");
    if (ib !== imgBuf) {
      imgBuf = ib;
      imgBytes = asBytes(ib).slice();
    }
    const mb = model.get("_maps");
    if (mb !== mapsBuf) {
      mapsBuf = mb;
      mapsAll = decodeArray(mb, mmeta);
      scaleKey = "";
    }
    const s = Number(model.get("sample")) || 0;
    const mSamples = mmeta.samples ?? Array.from({ length: mmeta.shape[0] }, (_, i) => i);
    if (!mSamples.includes(s)) return null;
    const M = columns.length;
    const n = hh * ww;
    const iSamples = imeta ? imeta.samples ?? Array.from({ length: imeta.shape[0] }, (_, i) => i) : [];
    const rowOf = (sample: number, pos: number): Row => {
      const maps: Float32Array[] = [];
      for (let m = 0; m < M; m++) maps.push(mapsAll.subarray((pos * M + m) * n, (pos * M + m + 1) * n));
      let image: Uint8Array | null = null;
      const iPos = iSamples.indexOf(sample);
      if (iPos >= 0 && imgBytes.length >= (iPos + 1) * n * 3) image = imgBytes.subarray(iPos * n * 3, (iPos + 1) * n * 3);
      return { sample, image, maps };
    };
    const rows = grid ? mSamples.map((sample, pos) => rowOf(sample, pos)) : [rowOf(s, mSamples.indexOf(s))];
    return { h: hh, w: ww, H, W, columns, grid, rows };
  }

  function opts() {
    const cm = String(model.get("colormap"));
    return {
      colormap: isColormap(cm) ? cm : "coolwarm",
      sign: (SIGNS.includes(model.get("sign")) ? model.get("sign") : "all") as SignMode,
      opacity: Number(model.get("opacity")),
      clip: Number(model.get("clip_percentile")) || 100,
      shared: grid || Boolean(model.get("shared_scale")),
    };
  }

  function captionsOf(sample: number): string[] {
    const all: string[][] = model.get("_captions") || [];
    return all[sample] || [];
  }

  // -------------------------------------------------------------- structure
  function makePanel(row: number, col: number, title: string | null, caption: string): Panel {
    const canvas = h("canvas", { class: "xw-canvas", attrs: { "data-method": String(col), "data-sample": String(row) } });
    const marker = h("canvas", { class: "xw-marker", attrs: { "aria-hidden": "true" } });
    const stage = h("div", { class: "xw-stage" }, [canvas, marker]);
    const cap = caption ? h("div", { class: "xw-caption", text: caption, title: caption }) : null;
    const colorbar = grid ? null : h("canvas", { class: "xw-colorbar" });
    const kids: (Node | null)[] = [];
    if (title !== null) kids.push(h("div", { class: "xw-title", text: title, title }));
    kids.push(cap, stage, colorbar);
    const rootEl = h("div", { class: "xw-panel" }, kids);
    const p: Panel = { root: rootEl, stage, caption: cap, canvas, marker, colorbar, row, col, base: null, vmax: 1, sign: "all" };
    canvas.addEventListener("mousemove", (e) => hover(e, p), on);
    canvas.addEventListener("mouseleave", () => tooltip.hide(), on);
    canvas.addEventListener("click", (e) => click(e, p), on);
    return p;
  }

  function ensurePanels(d: Data): void {
    const key = [d.grid ? "grid" : "methods", d.rows.map((r) => r.sample).join(","), d.columns.join("\u0001"),
      d.rows.map((r) => captionsOf(r.sample).join("\u0001")).join("\u0002")].join("|");
    if (key === structure) return;
    structure = key;
    while (panelsEl.firstChild) panelsEl.removeChild(panelsEl.firstChild);
    panels = [];
    rowLabels = [];
    if (!d.grid) {
      const caps = captionsOf(d.rows[0].sample);
      // the class every panel explains goes once above them; differing ones under each title
      const common = caps.length && caps.every((c) => c === caps[0]) ? caps[0] : "";
      heading.textContent = common;
      heading.hidden = !common;
      d.columns.forEach((name, i) => {
        const p = makePanel(d.rows[0].sample, i, name, common ? "" : caps[i] || "");
        panelsEl.appendChild(p.root);
        panels.push(p);
      });
      return;
    }
    heading.hidden = true;
    for (const name of d.columns) panelsEl.appendChild(h("div", { class: "xw-title", text: name, title: name }));
    for (const r of d.rows) {
      const label = sampleLabels[r.sample] ?? String(r.sample);
      const lab = h("div", { class: "xw-row-label", text: `Sample ${label}`, attrs: { "data-sample": String(r.sample) } });
      panelsEl.appendChild(lab);
      rowLabels.push(lab);
      const caps = captionsOf(r.sample);
      d.columns.forEach((_, i) => {
        const p = makePanel(r.sample, i, null, caps[i] || "");
        panelsEl.appendChild(p.root);
        panels.push(p);
      });
    }
  }

  /** The width the panels may use: the root's content box. */
  function available(): number {
    // not in the page yet (the ResizeObserver reports the real width once it is)
    if (!root.isConnected || root.clientWidth === 0) return 720;
    const cs = getComputedStyle(root);
    const pad = (parseFloat(cs.paddingLeft) || 0) + (parseFloat(cs.paddingRight) || 0);
    return Math.max(1, root.clientWidth - pad);
  }

  function layout(d: Data): void {
    const avail = available();
    let width: number;
    if (d.grid) {
      width = classGrid(avail, d.columns.length, d.w).width;
      panelsEl.style.gridTemplateColumns = `repeat(${d.columns.length}, ${width}px)`;
    } else {
      const g = panelGrid(avail, d.columns.length, d.w);
      width = g.width;
      panelsEl.style.gridTemplateColumns = `repeat(${g.cols}, ${width}px)`;
    }
    panelsEl.style.columnGap = `${GAP}px`;
    cellWidth = width;
    const height = heightFor(width, d.h, d.w);
    // scaled up: square, sharp image pixels; scaled down: let the browser average
    const crisp = width >= d.w;
    for (const p of panels) {
      p.root.style.width = `${width}px`;
      p.stage.style.width = `${width}px`;
      p.stage.style.height = `${height}px`;
      p.canvas.classList.toggle("xw-crisp", crisp);
      p.canvas.classList.toggle("xw-smooth", !crisp);
      p.canvas.style.imageRendering = crisp ? "pixelated" : "auto";
      hiDpi(p.marker, width, height);
    }
  }

  function scales(d: Data, o: ReturnType<typeof opts>): { vmax: number; sign: SignMode }[] {
    const key = `${d.rows.map((r) => r.sample).join(",")}|${o.sign}|${o.clip}|${o.shared}`;
    if (key !== scaleKey) {
      scaleKey = key;
      if (o.shared) {
        // methods: one scale for the sample's panels; grid: one for every cell
        const s = sharedScale(d.rows.flatMap((r) => r.maps), o.sign, o.clip);
        scaleCache = panels.map(() => s);
      } else {
        scaleCache = panels.map((p) => {
          const m = d.rows[0].maps[p.col];
          return { vmax: scaleMax([m], o.sign, o.clip), sign: panelSign(m, o.sign) };
        });
      }
    }
    return scaleCache;
  }

  function rowData(d: Data, sample: number): Row | undefined {
    return d.rows.find((r) => r.sample === sample);
  }

  function selectedPixel(): [number, number] | null {
    const s = model.get("selected");
    return Array.isArray(s) && s.length === 2 ? [Number(s[0]), Number(s[1])] : null;
  }

  function drawMarkers(d: Data): void {
    const sel = selectedPixel();
    const s = Number(model.get("sample")) || 0;
    for (const p of panels) {
      const cw = parseFloat(p.stage.style.width) || 0;
      const ch = parseFloat(p.stage.style.height) || 0;
      const ctx = p.marker.getContext("2d");
      if (!ctx || !cw || !ch) continue;
      ctx.clearRect(0, 0, cw, ch);
      const shown = Boolean(sel) && p.row === s;
      // an empty layer is hidden, not left as a transparent canvas over the picture
      p.marker.style.visibility = shown ? "visible" : "hidden";
      if (sel && shown) {
        // centre of the ORIGINAL pixel, in CSS pixels of the stage
        drawMarker(ctx, ((sel[1] + 0.5) * cw) / d.W, ((sel[0] + 0.5) * ch) / d.H);
      }
    }
    for (const lab of rowLabels) lab.classList.toggle("xw-current", Number(lab.dataset.sample) === s && d.rows.length > 1);
    updateStatus(d);
  }

  function updateStatus(d: Data): void {
    while (status.firstChild) status.removeChild(status.firstChild);
    const sel = selectedPixel();
    const s = Number(model.get("sample")) || 0;
    const row = rowData(d, s);
    if (!sel || !row) {
      status.textContent = `${d.W}×${d.H} px${d.w !== d.W ? ` (shown at ${d.w}×${d.h})` : ""} · click the image to select a pixel`;
      return;
    }
    const [r, c] = originalToDisplayIndex(sel[0], sel[1], [d.h, d.w], [d.H, d.W]);
    status.append("Selected ", h("b", { text: `(row ${sel[0]}, col ${sel[1]})` }));
    if (d.grid && d.rows.length > 1) status.append(` in sample ${s}`);
    d.columns.forEach((name, i) => {
      status.append(i === 0 ? " — " : " · ", `${name}: `, h("b", { text: formatValue(row.maps[i][r * d.w + c]) }));
    });
  }

  function barStyle() {
    const colors = resolvedColors(root);
    // tick labels are read like body text: the primary text colour keeps them legible in every theme
    return { color: colors.fg, border: colors.border, font: `11px ${colors.font}` };
  }

  function drawColorbars(o: ReturnType<typeof opts>, sc: { vmax: number; sign: SignMode }[]): void {
    const style = barStyle();
    for (let i = 0; i < panels.length; i++) {
      const p = panels[i];
      if (!p.colorbar) continue;
      p.colorbar.style.display = o.shared ? "none" : "block";
      if (o.shared) continue;
      const ctx = hiDpi(p.colorbar, cellWidth, COLORBAR_H);
      if (ctx) {
        ctx.clearRect(0, 0, cellWidth, COLORBAR_H);
        drawColorbar(ctx, 0, 2, cellWidth, o.colormap, sc[i].sign, sc[i].vmax, style);
      }
    }
    sharedBar.style.display = o.shared ? "block" : "none";
    if (o.shared && sc.length) {
      const bw = Math.max(80, Math.min(SHARED_BAR_W, available()));
      const ctx = hiDpi(sharedBar, bw, COLORBAR_H);
      if (ctx) {
        ctx.clearRect(0, 0, bw, COLORBAR_H);
        drawColorbar(ctx, 0, 2, bw, o.colormap, sc[0].sign, sc[0].vmax, style);
      }
    }
  }

  function syncControls(): void {
    const o = opts();
    opacity.value = String(o.opacity);
    opacityVal.textContent = o.opacity.toFixed(2);
    cmapSel.value = o.colormap;
    signSel.value = o.sign;
    if (document.activeElement !== clip) clip.value = String(model.get("clip_percentile"));
    shared.checked = Boolean(model.get("shared_scale"));
    if (sampleSel) sampleSel.value = String(model.get("sample"));
    const text = String(model.get("_note") || "");
    note.textContent = text;
    note.hidden = !text;
  }

  function draw(): void {
    syncControls();
    const d = current();
    if (!d) {
      root.classList.add("xw-loading");
      const s = Number(model.get("sample")) || 0;
      status.textContent = missing.get(s) ?? `Loading sample ${s}…`;
      // a kernel pushes the sample itself; a saved page answers this (or says it is not saved)
      if (!requested.has(s) && typeof model.send === "function") {
        requested.add(s);
        model.send({ type: "get", requests: [{ id: ++requestId, sample: s }] });
      }
      return;
    }
    root.classList.remove("xw-loading");
    ensurePanels(d);
    layout(d);
    const o = opts();
    const sc = scales(d, o);
    panels.forEach((p, i) => {
      const row = rowData(d, p.row);
      if (!row) return;
      p.vmax = sc[i].vmax;
      p.sign = sc[i].sign;
      if (p.canvas.width !== d.w) p.canvas.width = d.w;
      if (p.canvas.height !== d.h) p.canvas.height = d.h;
      const ctx = p.canvas.getContext("2d");
      if (!ctx) return;
      const img = p.base && p.base.width === d.w && p.base.height === d.h ? p.base : ctx.createImageData(d.w, d.h);
      compositeOverlay(row.image, row.maps[p.col], d.w, d.h, { colormap: o.colormap, sign: p.sign, vmax: p.vmax, opacity: o.opacity }, img.data);
      p.base = img;
      ctx.putImageData(img, 0, 0);
    });
    drawMarkers(d);
    drawColorbars(o, sc);
    root.setAttribute("data-xw-ready", "1");
  }

  /** Width changed: new panel sizes, markers and colour bars; the overlays themselves stay. */
  let lastWidth = -1;
  function relayout(): void {
    const w = available();
    if (w === lastWidth) return;
    lastWidth = w;
    const d = current();
    if (!d || !panels.length) return;
    layout(d);
    drawMarkers(d);
    drawColorbars(opts(), scales(d, opts()));
  }

  // ------------------------------------------------------------ interaction
  function hover(e: MouseEvent, p: Panel): void {
    const d = current();
    const row = d && rowData(d, p.row);
    if (!d || !row) return;
    const [x, y] = clientToCanvas(e.clientX, e.clientY, p.canvas.getBoundingClientRect(), d.w, d.h);
    const [r0, c0] = displayToOriginal(x, y, [d.h, d.w], [d.H, d.W]);
    const r = Math.min(d.h - 1, Math.max(0, Math.floor(y)));
    const c = Math.min(d.w - 1, Math.max(0, Math.floor(x)));
    const v = row.maps[p.col][r * d.w + c];
    const rows: [string, string][] = [
      ["x, y", `${c0}, ${r0}`],
      [d.w !== d.W || d.h !== d.H ? "value (area mean)" : "value", formatValue(v)],
      ["scale ±", formatValue(p.vmax)],
    ];
    if (d.grid && d.rows.length > 1) rows.unshift(["sample", sampleLabels[p.row] ?? String(p.row)]);
    tooltip.show(e.clientX, e.clientY, rows, d.columns[p.col]);
  }

  function click(e: MouseEvent, p: Panel): void {
    const d = current();
    if (!d) return;
    const [x, y] = clientToCanvas(e.clientX, e.clientY, p.canvas.getBoundingClientRect(), d.w, d.h);
    const [row, col] = displayToOriginal(x, y, [d.h, d.w], [d.H, d.W]);
    if (p.row !== Number(model.get("sample"))) model.set("sample", p.row);
    model.set("selected", [row, col]);
    model.save_changes();
  }

  function setAndSave(name: string, value: unknown): void {
    model.set(name, value);
    model.save_changes();
  }

  opacity.addEventListener("input", () => setAndSave("opacity", Number(opacity.value)), on);
  cmapSel.addEventListener("change", () => setAndSave("colormap", cmapSel.value), on);
  signSel.addEventListener("change", () => setAndSave("sign", signSel.value), on);
  clip.addEventListener(
    "change",
    () => {
      const v = Number(clip.value);
      if (Number.isFinite(v) && v > 0 && v <= 100) setAndSave("clip_percentile", v);
      else clip.value = String(model.get("clip_percentile"));
    },
    on,
  );
  shared.addEventListener("change", () => setAndSave("shared_scale", shared.checked), on);
  sampleSel?.addEventListener("change", () => setAndSave("sample", Number(sampleSel.value)), on);
  download.addEventListener("click", () => exportPng(), on);

  function exportPng(): void {
    const d = current();
    if (!d || !panels.length) return;
    const o = opts();
    const colors = resolvedColors(root);
    const k = d.w < 224 ? Math.ceil(224 / d.w) : 1;
    const pw = d.w * k;
    const ph = d.h * k;
    const pad = 14;
    const titleH = 22;
    const capH = 16;
    const barH = COLORBAR_H + 6;
    const cols = d.grid ? d.columns.length : panels.length;
    const nRows = d.grid ? d.rows.length : 1;
    const hasCaps = panels.some((p) => p.caption);
    const cellH = (d.grid ? capH + 4 : titleH) + (hasCaps && !d.grid ? capH : 0) + ph + 8 + (o.shared ? 0 : barH);
    const W = pad + cols * (pw + pad);
    const H = pad + (d.grid ? titleH : 0) + nRows * cellH + (o.shared ? barH + 8 : 0) + pad;
    const out = document.createElement("canvas");
    const scale = 2;
    out.width = W * scale;
    out.height = H * scale;
    const ctx = out.getContext("2d");
    if (!ctx) return;
    ctx.scale(scale, scale);
    ctx.fillStyle = colors.bg;
    ctx.fillRect(0, 0, W, H);
    // image pixels stay square when scaled up
    ctx.imageSmoothingEnabled = false;
    const style = { color: colors.fg, border: colors.border, font: `11px ${colors.font}` };
    const text = (s: string, x: number, y: number, w: number, bold: boolean) => {
      ctx.fillStyle = colors.fg;
      ctx.font = `${bold ? "600 13px" : "12px"} ${colors.font}`;
      ctx.textBaseline = "alphabetic";
      ctx.textAlign = "left";
      ctx.fillText(s, x, y, w);
    };
    let y0 = pad;
    if (d.grid) {
      d.columns.forEach((name, c) => text(name, pad + c * (pw + pad), y0 + 15, pw, true));
      y0 += titleH;
    }
    panels.forEach((p) => {
      const r = d.grid ? d.rows.findIndex((row) => row.sample === p.row) : 0;
      const x = pad + p.col * (pw + pad);
      let y = y0 + r * cellH;
      if (d.grid) {
        text(`${sampleLabels[p.row] ?? p.row}${p.caption ? ` · ${p.caption.textContent}` : ""}`, x, y + 12, pw, false);
        y += capH + 4;
      } else {
        text(d.columns[p.col], x, y + 15, pw, true);
        y += titleH;
        if (hasCaps) {
          text(p.caption?.textContent || heading.textContent || "", x, y + 11, pw, false);
          y += capH;
        }
      }
      ctx.drawImage(p.canvas, x, y, pw, ph);
      if (!o.shared) drawColorbar(ctx, x, y + ph + 8, pw, o.colormap, p.sign, p.vmax, style);
    });
    if (o.shared) drawColorbar(ctx, pad, H - pad - barH, Math.min(W - 2 * pad, SHARED_BAR_W), o.colormap, panels[0].sign, panels[0].vmax, style);
    downloadCanvas(out, "heatmap_overlay.png");
  }

  const unlisten = listen(
    model,
    ["opacity", "colormap", "sign", "clip_percentile", "shared_scale", "sample", "_image", "_maps", "_maps_meta", "_image_meta",
      "_columns", "display_shape", "image_shape", "_captions", "_note"],
    draw,
  );
  const onSelected = () => {
    const d = current();
    if (d && panels.length) drawMarkers(d);
  };
  model.on("change:selected", onSelected);
  const onMessage = (msg: { type?: string; missing?: boolean; message?: string; request?: { sample?: number } }) => {
    if (!msg || msg.type !== "error" || !msg.missing) return;
    const s = Number(msg.request?.sample);
    missing.set(s, `Sample ${s} is ${msg.message ?? "not available"}`);
    if (s === Number(model.get("sample"))) draw();
  };
  model.on("msg:custom", onMessage);

  // follow the output's width (side panels, split views, window resizes)
  let frame = 0;
  const schedule = () => {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      relayout();
    });
  };
  let observer: ResizeObserver | null = null;
  if (typeof ResizeObserver !== "undefined") {
    observer = new ResizeObserver(schedule);
    observer.observe(root);
  } else {
    window.addEventListener("resize", schedule, on);
  }
  // canvas text takes its colour when drawn: redraw the colour bars when the theme changes
  let themeTimer = 0;
  const recolor = () => {
    const d = current();
    if (d && panels.length) drawColorbars(opts(), scales(d, opts()));
  };
  const onTheme = () => {
    recolor();
    // the theme's stylesheet may land after its attribute flips
    clearTimeout(themeTimer);
    themeTimer = window.setTimeout(recolor, 300);
  };
  const themeObserver = typeof MutationObserver !== "undefined" ? new MutationObserver(onTheme) : null;
  themeObserver?.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name", "class"] });
  const darkQuery = typeof window.matchMedia === "function" ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  darkQuery?.addEventListener?.("change", onTheme);
  draw();
  lastWidth = available();

  return () => {
    ac.abort();
    unlisten();
    observer?.disconnect();
    themeObserver?.disconnect();
    darkQuery?.removeEventListener?.("change", onTheme);
    clearTimeout(themeTimer);
    if (frame) cancelAnimationFrame(frame);
    model.off("change:selected", onSelected);
    model.off("msg:custom", onMessage);
    tooltip.hide();
    root.remove();
  };
}

export default { render };
export { render };
export type { AnyModel };
