/**
 * ForcePlot view: additive attributions (SHAP values) from the base value to
 * the output. This entry only wires the parts in ./force/:
 *  - single.ts: one row as a horizontal force bar (red pushes up, blue down,
 *    small contributions collapsed into "other", DOM labels `.xw-feature`);
 *  - waterfall.ts: one row, base value at the bottom, features by |value|;
 *  - stacked.ts: many rows side by side, drawn into an ImageData (no
 *    per-sample DOM); a click selects `index`;
 *  - state.ts (decoded payload, model reads), toolbar.ts, interaction.ts
 *    (tooltips, clicks, PNG), labels.ts and view.ts (shared pieces).
 * Feature names reach the DOM through textContent and the canvas through
 * fillText only.
 */
import { h } from "./lib/dom";
import { OTHER } from "./lib/force_layout";
import { listen, type RenderProps } from "./lib/model";
import { injectStyle } from "./lib/theme";
import { Tooltip } from "./lib/tooltip";
import { exportPng, featureTooltip, hitAt, localPoint, sampleTooltip, stackedSampleAt } from "./force/interaction";
import { drawSingle } from "./force/single";
import { StackedView } from "./force/stacked";
import { DRAW_TRAITS, ForceState } from "./force/state";
import { Toolbar } from "./force/toolbar";
import { colors, injectForceStyle, viewWidth, type Drawn, type ViewContext } from "./force/view";
import { watchTheme } from "./force/theme";
import { drawWaterfall } from "./force/waterfall";

function render({ model, el }: RenderProps): () => void {
  const t0 = typeof performance !== "undefined" ? performance.now() : Date.now();
  injectStyle();
  injectForceStyle();
  const ac = new AbortController();
  const on = { signal: ac.signal };
  const root = h("div", { class: "xw-root xw-force-plot" });
  el.appendChild(root);

  const state = new ForceState(model);
  const nSamples = Number(model.get("n_samples")) || 1;
  const toolbar = new Toolbar(state, nSamples);
  const canvas = h("canvas", { class: "xw-force-canvas" });
  const labels = h("div", { class: "xw-labels" });
  const body = h("div", { class: "xw-force-body" }, [canvas, labels]);
  const status = h("div", { class: "xw-status" });
  const footer = h("div", { class: "xw-footer" }, [status]);
  root.append(toolbar.el, body, footer);
  const tooltip = new Tooltip(root);
  const stacked = new StackedView();

  let measureCtx: CanvasRenderingContext2D | null = null;
  const vc: ViewContext = {
    state,
    root,
    canvas,
    labels,
    width() {
      return viewWidth(body.clientWidth || root.clientWidth - 20 || 0);
    },
    colors: () => colors(root),
    textWidth(s, font) {
      if (!measureCtx) measureCtx = document.createElement("canvas").getContext("2d");
      if (!measureCtx) return s.length * 7;
      measureCtx.font = font;
      return measureCtx.measureText(s).width;
    },
    setStatus(s) {
      status.textContent = s;
    },
  };

  let drawn: Drawn | null = null;
  let firstDrawn = false;

  function draw(): void {
    const d = state.data();
    if (!d) {
      vc.setStatus("Loading…");
      return;
    }
    toolbar.sync(d);
    root.setAttribute("data-mode", state.mode(d));
    tooltip.hide();
    const mode = state.mode(d);
    const out = mode === "stacked" ? stacked.draw(vc, d) : mode === "waterfall" ? drawWaterfall(vc, d, state.index(d)) : drawSingle(vc, d, state.index(d));
    if (out) drawn = out;
    if (!firstDrawn) {
      firstDrawn = true;
      const t1 = typeof performance !== "undefined" ? performance.now() : Date.now();
      root.setAttribute("data-xw-render-ms", (t1 - t0).toFixed(1));
    }
    root.setAttribute("data-xw-ready", "1");
  }

  function setAndSave(name: string, value: unknown): void {
    model.set(name, value);
    model.save_changes();
  }

  function toggleFeature(j: number): void {
    setAndSave("feature", model.get("feature") === j ? null : j);
  }

  // ------------------------------------------------------------ interaction
  canvas.addEventListener(
    "mousemove",
    (e) => {
      const d = state.data();
      if (!d) return;
      const [x, y] = localPoint(canvas, e);
      if (state.mode(d) === "stacked") {
        const s = stackedSampleAt(state, drawn, d, x, y);
        if (s === null) tooltip.hide();
        else sampleTooltip(state, tooltip, d, e, s);
        return;
      }
      const ht = hitAt(drawn, x, y);
      if (ht) featureTooltip(state, tooltip, d, e, ht.feature, ht.value);
      else tooltip.hide();
    },
    on,
  );
  canvas.addEventListener("mouseleave", () => tooltip.hide(), on);
  canvas.addEventListener(
    "click",
    (e) => {
      const d = state.data();
      if (!d) return;
      const [x, y] = localPoint(canvas, e);
      if (state.mode(d) === "stacked") {
        const s = stackedSampleAt(state, drawn, d, x, y);
        if (s !== null) setAndSave("index", s);
        return;
      }
      const ht = hitAt(drawn, x, y);
      if (ht && ht.feature !== OTHER) toggleFeature(ht.feature);
    },
    on,
  );
  labels.addEventListener(
    "click",
    (e) => {
      const t = (e.target as HTMLElement | null)?.closest?.(".xw-feature");
      const f = t?.getAttribute("data-feature");
      if (f && f !== "other") toggleFeature(Number(f));
    },
    on,
  );
  labels.addEventListener(
    "mouseover",
    (e) => {
      const d = state.data();
      const t = (e.target as HTMLElement | null)?.closest?.(".xw-feature");
      const f = t?.getAttribute("data-feature");
      if (!d || !f || f === "other") return;
      const j = Number(f);
      featureTooltip(state, tooltip, d, e as MouseEvent, j, d.values[state.index(d) * d.m + j]);
    },
    on,
  );
  labels.addEventListener("mouseleave", () => tooltip.hide(), on);

  const { modeSel, orderSel, ySel, indexIn } = toolbar;
  modeSel.addEventListener("change", () => setAndSave("mode", modeSel.value), on);
  orderSel.addEventListener("change", () => setAndSave("order", orderSel.value), on);
  ySel.addEventListener("change", () => setAndSave("y_feature", ySel.value === "" ? null : Number(ySel.value)), on);
  indexIn.addEventListener(
    "change",
    () => {
      const v = Number(indexIn.value);
      if (Number.isInteger(v) && v >= 0 && v < nSamples) setAndSave("index", v);
      else indexIn.value = String(model.get("index"));
    },
    on,
  );
  toolbar.download.addEventListener("click", () => exportPng(canvas, drawn, vc.colors()), on);

  const unlisten = listen(model, DRAW_TRAITS, draw);
  let raf = 0;
  const ro =
    typeof ResizeObserver !== "undefined"
      ? new ResizeObserver(() => {
          if (raf) return;
          raf = requestAnimationFrame(() => {
            raf = 0;
            if (firstDrawn && Math.abs(vc.width() - (drawn?.width ?? 0)) > 2) draw();
          });
        })
      : null;
  ro?.observe(body);
  const unwatch = watchTheme(() => {
    const c = vc.colors();
    return `${c.bg}|${c.fg}|${c.fg2}|${c.border}`;
  }, draw);
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
