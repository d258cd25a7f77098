/**
 * SummaryPlot view: attributions of many rows summarised per feature. This
 * entry wires the parts in ./summary/:
 *  - state.ts: the decoded payload (uint16 per feature range) and model reads;
 *  - layout.ts: pure layout (order, "other features", swarm, colours, ticks);
 *  - draw.ts: the beeswarm, bar and scatter drawings on one canvas.
 * Hover shows the sample, the feature and its values; a click sets `index`
 * and `feature`. Names reach the DOM through textContent, the canvas through
 * fillText only.
 */
import { downloadCanvas } from "./lib/download";
import { fillSelect, h, labelled, select } from "./lib/dom";
import { cssColor } from "./lib/colormaps";
import { listen, type RenderProps } from "./lib/model";
import { clientToCanvas, formatValue } from "./lib/scale";
import { injectStyle } from "./lib/theme";
import { watchTheme } from "./lib/theme_watch";
import { Tooltip, type TooltipRow } from "./lib/tooltip";
import { drawBar, drawBeeswarm, drawScatter, OUTPUT_COLORS, palette, type Drawn } from "./summary/draw";
import { nearest, otherLabel } from "./summary/layout";
import { BAR_MODES, DRAW_TRAITS, KINDS, SummaryState, type SummaryData } from "./summary/state";

const CSS = `
.xw-summary-plot .xw-summary-body { position: relative; width: 100%; }
.xw-summary-plot canvas.xw-summary-canvas { display: block; cursor: crosshair; max-width: 100%; }
.xw-summary-plot .xw-legend { display: flex; flex-wrap: wrap; gap: 4px 12px; }
.xw-summary-plot .xw-legend-item { display: inline-flex; align-items: center; gap: 4px; color: var(--xw-fg); }
.xw-summary-plot .xw-swatch { width: 10px; height: 10px; border-radius: 2px; display: inline-block; }
.xw-summary-plot .xw-hidden { display: none !important; }
.xw-summary-plot select { max-width: 180px; }
.xw-summary-plot .xw-title { min-width: 0; max-width: 100%; }
`;
const STYLE_ID = "xw-style-summary-v1";

function injectSummaryStyle(doc: Document = document): void {
  if (doc.getElementById(STYLE_ID)) return;
  const s = doc.createElement("style");
  s.id = STYLE_ID;
  s.textContent = CSS;
  (doc.head || doc.documentElement).appendChild(s);
}

const clip = (s: string, n: number) => ([...s].length > n ? [...s].slice(0, n - 1).join("") + "…" : s);
const signed = (v: number) => (v > 0 ? "+" : "") + formatValue(v);

function render({ model, el }: RenderProps): () => void {
  const t0 = performance.now();
  injectStyle();
  injectSummaryStyle();
  const ac = new AbortController();
  const on = { signal: ac.signal };
  const state = new SummaryState(model);
  const root = h("div", { class: "xw-root xw-summary-plot" });
  el.appendChild(root);

  const title = h("div", { class: "xw-title" });
  const kindSel = select("xw-kind", KINDS, String(model.get("kind")));
  const outputSel = select("xw-output", [], "0");
  const barSel = select("xw-bar-mode", BAR_MODES, String(model.get("bar_mode")));
  const featureSel = select("xw-feature", [], "");
  const colorSel = select("xw-color", [], "");
  const download = h("button", { class: "xw-download", text: "⤓ PNG", title: "Download as PNG", attrs: { type: "button" } });
  const outputCtl = labelled("Output", outputSel);
  const barCtl = labelled("Bars", barSel);
  const featureCtl = labelled("Feature", featureSel);
  const colorCtl = labelled("Colour", colorSel);
  const toolbar = h("div", { class: "xw-toolbar" }, [
    title, labelled("View", kindSel), outputCtl, barCtl, featureCtl, colorCtl, h("span", { class: "xw-spacer" }), download,
  ]);
  const canvas = h("canvas", { class: "xw-summary-canvas" });
  const body = h("div", { class: "xw-summary-body" }, [canvas]);
  const legend = h("div", { class: "xw-legend" });
  const status = h("div", { class: "xw-status" });
  root.append(toolbar, body, h("div", { class: "xw-footer" }, [legend, status]));
  const tooltip = new Tooltip(root);

  let drawn: Drawn | null = null;
  let firstDrawn = false;
  let namesKey = "";
  const width = () => Math.floor(Math.max(240, Math.min(1100, body.clientWidth || root.clientWidth - 22 || 860)));

  function syncToolbar(d: SummaryData): void {
    const kind = state.kind(d);
    kindSel.value = kind;
    const key = d.names.join("\u0000") + "|" + d.outputs.join("\u0000");
    if (key !== namesKey) {
      namesKey = key;
      // no feature values: nothing to put on a dependence plot's x axis
      fillSelect(kindSel, d.data ? KINDS : KINDS.filter(([k]) => k !== "scatter"), kind);
      fillSelect(outputSel, d.outputs.map((o, i) => [String(i), clip(o, 40)] as [string, string]), "0");
      fillSelect(featureSel, [["", "largest mean |value|"], ...d.names.map((nm, j) => [String(j), clip(nm, 40)] as [string, string])], "");
      fillSelect(colorSel, [["", "strongest interaction"], ...d.names.map((nm, j) => [String(j), clip(nm, 40)] as [string, string])], "");
      featureSel.hidden = colorSel.hidden = false;
    }
    outputSel.value = String(state.output(d));
    barSel.value = state.barMode();
    const f = state.feature(d);
    featureSel.value = f === null ? "" : String(f);
    const c = model.get("color");
    colorSel.value = c === null || c === undefined ? "" : String(c);
    outputCtl.classList.toggle("xw-hidden", d.k < 2 || kind === "bar");
    barCtl.classList.toggle("xw-hidden", d.k < 2 || kind !== "bar");
    featureCtl.classList.toggle("xw-hidden", kind !== "scatter");
    colorCtl.classList.toggle("xw-hidden", kind !== "scatter");
    const parts: string[] = [];
    const out = d.outputs[state.output(d)];
    if (kind !== "bar" || d.k === 1) if (out && out !== "f(x)") parts.push(out);
    const method = String(model.get("method") || "");
    if (method && method !== "custom") parts.push(method);
    parts.push(`${d.n} samples`);
    title.textContent = parts.join(" · ");
    // multi-output bars: which colour is which output
    while (legend.firstChild) legend.removeChild(legend.firstChild);
    if (kind === "bar" && d.k > 1) {
      d.outputs.forEach((o, i) => {
        const sw = h("span", { class: "xw-swatch" });
        sw.style.background = cssColor(OUTPUT_COLORS[i % OUTPUT_COLORS.length]);
        legend.appendChild(h("span", { class: "xw-legend-item" }, [sw, h("span", { text: o })]));
      });
    }
  }

  function draw(): void {
    const d = state.data();
    if (!d) {
      status.textContent = "Loading…";
      return;
    }
    syncToolbar(d);
    tooltip.hide();
    const kind = state.kind(d);
    root.setAttribute("data-kind", kind);
    const dc = { canvas, state, width: width(), pal: palette(root) };
    drawn = kind === "bar" ? drawBar(dc, d) : kind === "scatter" ? drawScatter(dc, d) : drawBeeswarm(dc, d);
    const p = drawn.plot;
    Object.assign(canvas.dataset, { plotLeft: String(p.left), plotTop: String(p.top), plotWidth: String(p.width), plotHeight: String(p.height), samples: String(d.n) });
    let s = `${d.n} samples × ${d.m} features`;
    if (drawn.rest.length) s += ` · ${otherLabel(drawn.rest.length)} summed into one row`;
    if (kind === "scatter") {
      if (drawn.color !== undefined && drawn.color < 0) s += model.get("_partners")?.length ? " · no interacting feature to colour by" : " · finding the interacting feature…";
      else if (drawn.color !== undefined) s += ` · coloured by ${clip(d.names[drawn.color], 40)}`;
    } else if (kind === "beeswarm" && !d.data) s += " · no feature values: dots in one colour";
    const idx = state.index(d);
    if (idx !== null) s += ` · sample ${idx} picked`;
    status.textContent = s;
    if (!firstDrawn) {
      firstDrawn = true;
      root.setAttribute("data-xw-render-ms", (performance.now() - t0).toFixed(1));
    }
    root.setAttribute("data-xw-ready", "1");
  }

  function setAndSave(values: Record<string, unknown>): void {
    for (const [k, v] of Object.entries(values)) model.set(k, v);
    model.save_changes();
  }

  function local(e: MouseEvent): [number, number] {
    const r = canvas.getBoundingClientRect();
    return clientToCanvas(e.clientX, e.clientY, r, drawn?.width ?? r.width, drawn?.height ?? r.height);
  }

  /** What is under (x, y): a dot (sample and row feature), a bar, or a row label. */
  function hit(x: number, y: number): { sample: number | null; feature: number | null; row: number } | null {
    if (!drawn) return null;
    if (drawn.kind === "scatter") {
      const i = nearest(drawn.xs!, drawn.ys!, x, y, 7);
      return i < 0 ? null : { sample: i, feature: drawn.feature!, row: -1 };
    }
    const r = drawn.rows.findIndex((row) => y >= row.y && y < row.y + row.h);
    if (r < 0) return null;
    const row = drawn.rows[r];
    if (x < drawn.plot.left) return { sample: null, feature: row.feature, row: r };
    if (drawn.kind === "bar") return { sample: null, feature: row.feature, row: r };
    const i = nearest(row.xs!, row.ys!, x, y, 7);
    return i < 0 ? null : { sample: i, feature: row.feature, row: r };
  }

  /** The CSS position of sample i's dot in feature j's row (scatter: j ignored), for tests and markers. */
  (canvas as any).__xwPoint = (i: number, j: number): [number, number] | null => {
    if (!drawn) return null;
    if (drawn.kind === "scatter") return Number.isNaN(drawn.xs![i]) ? null : [drawn.xs![i], drawn.ys![i]];
    const row = drawn.rows.find((r) => r.feature === j);
    return row && row.xs ? [row.xs[i], row.ys![i]] : null;
  };

  canvas.addEventListener("mousemove", (e) => {
    const d = state.data();
    if (!d || !drawn) return;
    const [x, y] = local(e);
    const ht = hit(x, y);
    if (!ht) return tooltip.hide();
    const o = state.output(d);
    const rows: TooltipRow[] = [];
    const fname = ht.feature !== null && ht.feature >= 0 ? d.names[ht.feature] : otherLabel(drawn.rest.length);
    if (drawn.kind === "bar") {
      const row = drawn.rows[ht.row];
      rows.push(["mean |value|", formatValue(row.value ?? 0)]);
      if (d.k > 1 && ht.feature !== null) d.outputs.forEach((nm, k) => rows.push([clip(nm, 30), formatValue(ht.feature! >= 0 ? d.meanAbs[k * d.m + ht.feature!] : drawn!.rest.reduce((s, r) => s + d.meanAbs[k * d.m + r], 0))]));
      return tooltip.show(e.clientX, e.clientY, rows, fname);
    }
    if (ht.sample === null) return tooltip.show(e.clientX, e.clientY, [["click", "select this feature"]], fname);
    const i = ht.sample;
    const f = ht.feature!;
    if (f >= 0) {
      rows.push(["feature", clip(d.names[f], 40)]);
      if (d.data) rows.push(["value", formatValue(d.data[i * d.m + f])]);
      rows.push(["SHAP value", signed(d.values[(i * d.k + o) * d.m + f])]);
      if (drawn.kind === "scatter" && drawn.color !== undefined && drawn.color >= 0 && d.data) rows.push([clip(d.names[drawn.color], 30), formatValue(d.data[i * d.m + drawn.color])]);
    } else {
      rows.push([otherLabel(drawn.rest.length), signed(state.column(d, o, -1, drawn.rest)[i])]);
    }
    tooltip.show(e.clientX, e.clientY, rows, `sample ${i}`);
  }, on);
  canvas.addEventListener("mouseleave", () => tooltip.hide(), on);
  canvas.addEventListener("click", (e) => {
    const d = state.data();
    if (!d) return;
    const [x, y] = local(e);
    const ht = hit(x, y);
    if (!ht) return;
    const change: Record<string, unknown> = {};
    if (ht.sample !== null) change.index = ht.sample;
    if (ht.feature !== null && ht.feature >= 0) change.feature = ht.feature;
    if (Object.keys(change).length) setAndSave(change);
  }, on);
  kindSel.addEventListener("change", () => setAndSave({ kind: kindSel.value }), on);
  outputSel.addEventListener("change", () => setAndSave({ output: Number(outputSel.value) }), on);
  barSel.addEventListener("change", () => setAndSave({ bar_mode: barSel.value }), on);
  featureSel.addEventListener("change", () => setAndSave({ feature: featureSel.value === "" ? null : Number(featureSel.value) }), on);
  colorSel.addEventListener("change", () => setAndSave({ color: colorSel.value === "" ? null : Number(colorSel.value) }), on);
  download.addEventListener("click", () => {
    if (!drawn) return;
    const out = document.createElement("canvas");
    out.width = canvas.width;
    out.height = canvas.height;
    const ctx = out.getContext("2d");
    if (!ctx) return;
    ctx.fillStyle = palette(root).bg;
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.drawImage(canvas, 0, 0);
    downloadCanvas(out, `summary_${drawn.kind}.png`);
  }, on);

  const unlisten = listen(model, DRAW_TRAITS, draw);
  let raf = 0;
  const ro = typeof ResizeObserver !== "undefined"
    ? new ResizeObserver(() => {
        if (raf) return;
        raf = requestAnimationFrame(() => {
          raf = 0;
          if (firstDrawn && Math.abs(width() - (drawn?.width ?? 0)) > 2) draw();
        });
      })
    : null;
  ro?.observe(body);
  let themeKey = "";
  const unwatch = watchTheme(() => {
    const p = palette(root);
    const k = `${p.bg}|${p.fg}|${p.fg2}`;
    if (k !== themeKey) {
      const first = themeKey === "";
      themeKey = k;
      if (!first) draw();
    }
  });
  themeKey = (() => { const p = palette(root); return `${p.bg}|${p.fg}|${p.fg2}`; })();
  draw();

  return () => {
    ac.abort();
    unlisten();
    ro?.disconnect();
    unwatch();
    if (raf) cancelAnimationFrame(raf);
    tooltip.hide();
    root.remove();
  };
}

export default { render };
export { render };
