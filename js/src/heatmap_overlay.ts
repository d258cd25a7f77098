/**
 * HeatmapOverlay view: attribution maps composited over images, one panel per
 * method, with opacity / colormap / sign / clipping / shared-scale controls,
 * hover readout, click-to-select pixel (synced `selected`, ORIGINAL image
 * pixels) and PNG download.
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
  originalToDisplay,
  originalToDisplayIndex,
  panelSign,
  scaleMax,
  type SignMode,
} from "./lib/scale";
import { injectStyle, resolvedColors } from "./lib/theme";
import { Tooltip } from "./lib/tooltip";

const SIGN_LABELS: [string, string][] = [
  ["all", "all (signed)"],
  ["positive", "positive"],
  ["negative", "negative"],
  ["absolute", "absolute"],
];
const COLORBAR_H = 28;

interface Panel {
  root: HTMLDivElement;
  title: HTMLDivElement;
  canvas: HTMLCanvasElement;
  colorbar: HTMLCanvasElement;
  base: ImageData | null;
  vmax: number;
  /** Sign mode this panel is drawn with (see panelSign). */
  sign: SignMode;
}

interface Data {
  h: number;
  w: number;
  H: number;
  W: number;
  methods: string[];
  image: Uint8Array | null; // (h*w*3) for the current sample
  maps: Float32Array[]; // one (h*w) per method
}

function pair(v: unknown, fallback: [number, number]): [number, number] {
  return Array.isArray(v) && v.length === 2 ? [Number(v[0]), Number(v[1])] : fallback;
}

function render({ model, el }: RenderProps): () => void {
  injectStyle();
  const ac = new AbortController();
  const on = { signal: ac.signal };
  const root = h("div", { class: "xw-root xw-heatmap-overlay" });
  el.appendChild(root);

  // ---------------------------------------------------------------- controls
  const nSamples = Number(model.get("n_samples")) || 1;
  const sampleLabels: string[] = model.get("_sample_labels") || [];
  const sampleSel =
    nSamples > 1
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

  const toolbar = h("div", { class: "xw-toolbar" }, [
    sampleSel ? labelled("Sample", sampleSel) : null,
    labelled("Opacity", opacity),
    opacityVal,
    labelled("Colormap", cmapSel),
    labelled("Sign", signSel),
    labelled("Clip %", clip),
    labelled("Shared", shared, "xw-shared-label"),
    h("span", { class: "xw-spacer" }),
    download,
  ]);
  const panelsEl = h("div", { class: "xw-panels" });
  const sharedBar = h("canvas", { class: "xw-colorbar xw-colorbar-shared" });
  const status = h("div", { class: "xw-status" });
  const footer = h("div", { class: "xw-footer" }, [sharedBar, status]);
  root.append(toolbar, panelsEl, footer);
  const tooltip = new Tooltip(root);

  // ------------------------------------------------------------------- data
  let panels: Panel[] = [];
  let imgBuf: unknown = null;
  let mapsBuf: unknown = null;
  let imgBytes: Uint8Array = new Uint8Array(0);
  let mapsAll: Float32Array = new Float32Array(0);
  let vmaxKey = "";
  let vmaxCache: number[] = [];

  function current(): Data | null {
    const [H, W] = pair(model.get("image_shape"), [0, 0]);
    const [hh, ww] = pair(model.get("display_shape"), [0, 0]);
    const methods: string[] = model.get("methods") || [];
    const imeta: ArrayMeta | null = model.get("_image_meta");
    const mmeta: ArrayMeta | null = model.get("_maps_meta");
    if (!mmeta || !hh || !ww) return null;
    const ib = model.get("_image");
    if (ib !== imgBuf) {
      imgBuf = ib;
      imgBytes = asBytes(ib).slice();
    }
    const mb = model.get("_maps");
    if (mb !== mapsBuf) {
      mapsBuf = mb;
      mapsAll = decodeArray(mb, mmeta);
      vmaxKey = "";
    }
    const s = Number(model.get("sample")) || 0;
    const mSamples = mmeta.samples ?? Array.from({ length: mmeta.shape[0] }, (_, i) => i);
    const mPos = mSamples.indexOf(s);
    if (mPos < 0) return null;
    const M = methods.length;
    const n = hh * ww;
    const maps: Float32Array[] = [];
    for (let m = 0; m < M; m++) maps.push(mapsAll.subarray((mPos * M + m) * n, (mPos * M + m + 1) * n));
    let image: Uint8Array | null = null;
    if (imeta && imgBytes.length) {
      const iSamples = imeta.samples ?? Array.from({ length: imeta.shape[0] }, (_, i) => i);
      const iPos = iSamples.indexOf(s);
      if (iPos >= 0 && imgBytes.length >= (iPos + 1) * n * 3) image = imgBytes.subarray(iPos * n * 3, (iPos + 1) * n * 3);
    }
    return { h: hh, w: ww, H, W, methods, image, maps };
  }

  function opts() {
    const cm = String(model.get("colormap"));
    return {
      colormap: isColormap(cm) ? cm : "coolwarm",
      sign: (SIGNS.includes(model.get("sign")) ? model.get("sign") : "all") as SignMode,
      opacity: Number(model.get("opacity")),
      clip: Number(model.get("clip_percentile")) || 100,
      shared: Boolean(model.get("shared_scale")),
    };
  }

  function cssWidth(w: number, M: number): number {
    let cw = w;
    if (cw < 224) cw *= Math.ceil(224 / cw);
    const max = M > 2 ? 260 : M > 1 ? 320 : 448;
    return Math.min(cw, max);
  }

  function ensurePanels(d: Data): void {
    const same = panels.length === d.methods.length && panels.every((p, i) => p.title.textContent === d.methods[i]);
    if (!same) {
      for (const p of panels) p.root.remove();
      panels = d.methods.map((name, i) => {
        const title = h("div", { class: "xw-title", text: name, title: name });
        const canvas = h("canvas", { class: "xw-canvas", attrs: { "data-method": String(i) } });
        const colorbar = h("canvas", { class: "xw-colorbar" });
        const p = h("div", { class: "xw-panel" }, [title, canvas, colorbar]);
        panelsEl.appendChild(p);
        const panel: Panel = { root: p, title, canvas, colorbar, base: null, vmax: 1, sign: "all" };
        canvas.addEventListener("mousemove", (e) => hover(e, i), on);
        canvas.addEventListener("mouseleave", () => tooltip.hide(), on);
        canvas.addEventListener("click", (e) => click(e, i), on);
        return panel;
      });
    }
    const cw = cssWidth(d.w, d.methods.length);
    for (const p of panels) {
      if (p.canvas.width !== d.w) p.canvas.width = d.w;
      if (p.canvas.height !== d.h) p.canvas.height = d.h;
      p.canvas.style.width = `${cw}px`;
      p.canvas.style.imageRendering = cw > d.w ? "pixelated" : "auto";
      p.root.style.width = `${cw}px`;
    }
  }

  function scales(d: Data, o: ReturnType<typeof opts>): number[] {
    const key = `${model.get("sample")}|${o.sign}|${o.clip}|${o.shared}`;
    if (key !== vmaxKey) {
      vmaxKey = key;
      if (o.shared) {
        const v = scaleMax(d.maps, o.sign, o.clip);
        vmaxCache = d.maps.map(() => v);
      } else {
        vmaxCache = d.maps.map((m) => scaleMax([m], o.sign, o.clip));
      }
    }
    return vmaxCache;
  }

  function selectedPixel(): [number, number] | null {
    const s = model.get("selected");
    return Array.isArray(s) && s.length === 2 ? [Number(s[0]), Number(s[1])] : null;
  }

  function drawMarkers(d: Data): void {
    const sel = selectedPixel();
    for (const p of panels) {
      const ctx = p.canvas.getContext("2d");
      if (!ctx || !p.base) continue;
      ctx.putImageData(p.base, 0, 0);
      if (sel) {
        const [x, y] = originalToDisplay(sel[0], sel[1], [d.h, d.w], [d.H, d.W]);
        drawMarker(ctx, x, y, Math.max(d.w, d.h));
      }
    }
    updateStatus(d);
  }

  function updateStatus(d: Data): void {
    while (status.firstChild) status.removeChild(status.firstChild);
    const sel = selectedPixel();
    if (!sel) {
      status.textContent = `${d.W}×${d.H} px${d.w !== d.W ? ` (shown at ${d.w}×${d.h})` : ""} · click the image to select a pixel`;
      return;
    }
    const [r, c] = originalToDisplayIndex(sel[0], sel[1], [d.h, d.w], [d.H, d.W]);
    status.append("Selected ", h("b", { text: `(row ${sel[0]}, col ${sel[1]})` }));
    d.methods.forEach((name, i) => {
      status.append(i === 0 ? " — " : " · ", `${name}: `, h("b", { text: formatValue(d.maps[i][r * d.w + c]) }));
    });
  }

  function drawColorbars(o: ReturnType<typeof opts>, vmax: number[]): void {
    const colors = resolvedColors(root);
    const style = { color: colors.fg2, border: colors.border, font: `11px ${colors.font}` };
    for (let i = 0; i < panels.length; i++) {
      const p = panels[i];
      p.colorbar.style.display = o.shared ? "none" : "block";
      if (o.shared) continue;
      const cw = parseFloat(p.canvas.style.width) || p.canvas.width;
      const ctx = hiDpi(p.colorbar, cw, COLORBAR_H);
      if (ctx) {
        ctx.clearRect(0, 0, cw, COLORBAR_H);
        drawColorbar(ctx, 0, 2, cw, o.colormap, p.sign, vmax[i], style);
      }
    }
    sharedBar.style.display = o.shared ? "block" : "none";
    if (o.shared) {
      const ctx = hiDpi(sharedBar, 240, COLORBAR_H);
      if (ctx) {
        ctx.clearRect(0, 0, 240, COLORBAR_H);
        drawColorbar(ctx, 0, 2, 240, o.colormap, o.sign, vmax[0] ?? 1, style);
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
    shared.checked = o.shared;
    if (sampleSel) sampleSel.value = String(model.get("sample"));
  }

  function draw(): void {
    syncControls();
    const d = current();
    if (!d) {
      root.classList.add("xw-loading");
      status.textContent = `Loading sample ${model.get("sample")}…`;
      return;
    }
    root.classList.remove("xw-loading");
    ensurePanels(d);
    const o = opts();
    const vmax = scales(d, o);
    panels.forEach((p, i) => {
      p.vmax = vmax[i];
      // a shared scale must show both halves for every panel
      p.sign = o.shared ? o.sign : panelSign(d.maps[i], o.sign);
      const ctx = p.canvas.getContext("2d");
      if (!ctx) return;
      const img = p.base && p.base.width === d.w && p.base.height === d.h ? p.base : ctx.createImageData(d.w, d.h);
      compositeOverlay(d.image, d.maps[i], d.w, d.h, { colormap: o.colormap, sign: p.sign, vmax: vmax[i], opacity: o.opacity }, img.data);
      p.base = img;
    });
    drawMarkers(d);
    drawColorbars(o, vmax);
    root.setAttribute("data-xw-ready", "1");
  }

  // ------------------------------------------------------------ interaction
  function hover(e: MouseEvent, i: number): void {
    const d = current();
    if (!d) return;
    const p = panels[i];
    const [x, y] = clientToCanvas(e.clientX, e.clientY, p.canvas.getBoundingClientRect(), d.w, d.h);
    const [row, col] = displayToOriginal(x, y, [d.h, d.w], [d.H, d.W]);
    const r = Math.min(d.h - 1, Math.max(0, Math.floor(y)));
    const c = Math.min(d.w - 1, Math.max(0, Math.floor(x)));
    const v = d.maps[i][r * d.w + c];
    const rows: [string, string][] = [
      ["x, y", `${col}, ${row}`],
      [d.w !== d.W || d.h !== d.H ? "value (area mean)" : "value", formatValue(v)],
      ["scale ±", formatValue(p.vmax)],
    ];
    tooltip.show(e.clientX, e.clientY, rows, d.methods[i]);
  }

  function click(e: MouseEvent, i: number): void {
    const d = current();
    if (!d) return;
    const [x, y] = clientToCanvas(e.clientX, e.clientY, panels[i].canvas.getBoundingClientRect(), d.w, d.h);
    const [row, col] = displayToOriginal(x, y, [d.h, d.w], [d.H, d.W]);
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
    const barH = COLORBAR_H + 6;
    const cols = panels.length;
    const W = pad + cols * (pw + pad);
    const H = pad + titleH + ph + 8 + barH + pad;
    const out = document.createElement("canvas");
    const scale = 2;
    out.width = W * scale;
    out.height = H * scale;
    const ctx = out.getContext("2d");
    if (!ctx) return;
    ctx.scale(scale, scale);
    ctx.fillStyle = colors.bg;
    ctx.fillRect(0, 0, W, H);
    ctx.imageSmoothingEnabled = k === 1;
    const style = { color: colors.fg2, border: colors.border, font: `11px ${colors.font}` };
    panels.forEach((p, i) => {
      const x = pad + i * (pw + pad);
      ctx.fillStyle = colors.fg;
      ctx.font = `600 13px ${colors.font}`;
      ctx.textBaseline = "alphabetic";
      ctx.textAlign = "left";
      ctx.fillText(d.methods[i], x, pad + 15, pw);
      ctx.drawImage(p.canvas, x, pad + titleH, pw, ph);
      drawColorbar(ctx, x, pad + titleH + ph + 8, pw, o.colormap, o.shared ? o.sign : p.sign, p.vmax, style);
    });
    downloadCanvas(out, "heatmap_overlay.png");
  }

  const unlisten = listen(
    model,
    ["opacity", "colormap", "sign", "clip_percentile", "shared_scale", "sample", "_image", "_maps", "_maps_meta", "_image_meta", "methods", "display_shape", "image_shape"],
    draw,
  );
  const onSelected = () => {
    const d = current();
    if (d && panels.length) drawMarkers(d);
  };
  model.on("change:selected", onSelected);
  draw();

  return () => {
    ac.abort();
    unlisten();
    model.off("change:selected", onSelected);
    tooltip.hide();
    root.remove();
  };
}

export default { render };
export { render };
export type { AnyModel };
