/**
 * GenerationHeatmap view: which earlier tokens each generated token rests on.
 *
 * The text view (generation/text.ts) shows the prompt and the generation as
 * flowing text, the generated part underlined; hovering a generated token
 * previews its colours, clicking selects it (synced `token`). The matrix view
 * (generation/matrix.ts) shows generated × source on a canvas with zoom.
 * Colours are signed attributions on a diverging map blended over the page
 * colour (recomputed on theme switches); `normalize` picks one scale per
 * generated token or one for all. Tokens reach the DOM only through textContent.
 */
import { drawColorbar, hiDpi } from "./lib/canvas";
import { COLORMAPS, isColormap } from "./lib/colormaps";
import { decodeArray, type ArrayMeta } from "./lib/decode";
import { h, labelled, select } from "./lib/dom";
import { listen, type RenderProps } from "./lib/model";
import { formatValue } from "./lib/scale";
import { injectStyle, parseColor, resolvedColors } from "./lib/theme";
import { watchTheme } from "./lib/theme_watch";
import { Tooltip, type TooltipRow } from "./lib/tooltip";
import { clampToken, genData, row, rowScales, sourceState, type GenData, type Normalize, type ViewName } from "./generation/data";
import { exportPng } from "./generation/export";
import { displayToken } from "./generation/layout";
import { MatrixView } from "./generation/matrix";
import { injectGenerationStyle } from "./generation/style";
import { TextView } from "./generation/text";

const BAR_W = 220;

function render({ model, el }: RenderProps): () => void {
  injectStyle();
  injectGenerationStyle();
  const ac = new AbortController();
  const on = { signal: ac.signal };
  const root = h("div", { class: "xw-root xw-generation" });
  el.appendChild(root);

  const title = h("div", { class: "xw-title" });
  const viewSel = select("xw-view", [["text", "text"], ["matrix", "matrix"]], String(model.get("view")));
  const normSel = select("xw-normalize", [["token", "per token"], ["global", "global"]], String(model.get("normalize")));
  const cmapSel = select("xw-colormap", COLORMAPS, String(model.get("colormap")));
  const download = h("button", { class: "xw-download", text: "⤓ PNG", title: "Download as PNG", attrs: { type: "button" } });
  const toolbar = h("div", { class: "xw-toolbar" }, [
    title,
    labelled("View", viewSel),
    labelled("Scale", normSel),
    labelled("Colormap", cmapSel),
    h("span", { class: "xw-spacer" }),
    download,
  ]);
  const subtitle = h("div", { class: "xw-subtitle" });
  const body = h("div", { class: "xw-gen-body" });
  const legendBar = h("canvas", { class: "xw-colorbar xw-gen-legend" });
  const legend = h("div", { class: "xw-legend" }, [
    legendBar,
    h("span", { class: "xw-key", text: "prompt" }),
    h("span", { class: "xw-key xw-key-gen", text: "generated" }),
  ]);
  const status = h("div", { class: "xw-status" });
  root.append(toolbar, subtitle, body, legend, h("div", { class: "xw-footer" }, [status]));
  const tooltip = new Tooltip(root);

  let valuesBuf: unknown = null;
  let decoded: Float32Array = new Float32Array(0);
  let data: GenData | null = null;
  let scales: Float64Array = new Float64Array(0);
  let previewing: number | null = null;
  let drawnBg = "";

  const selected = (): number => clampToken(model.get("token"), data?.G ?? 1);
  const shown = (): number => previewing ?? selected();
  const normalize = (): Normalize => (model.get("normalize") === "global" ? "global" : "token");
  const viewName = (): ViewName => (model.get("view") === "matrix" ? "matrix" : "text");
  const colormap = (): string => {
    const c = String(model.get("colormap"));
    return isColormap(c) ? c : "coolwarm";
  };
  const colors = () => {
    const c = resolvedColors(root);
    const accent = getComputedStyle(root).getPropertyValue("--xw-accent").trim() || "#1a73e8";
    return { ...c, accent, rgb: (parseColor(c.bg) ?? [255, 255, 255]) as [number, number, number] };
  };

  function current(): GenData | null {
    const meta: ArrayMeta | null = model.get("_values_meta");
    if (!meta || !meta.shape) return null;
    const buf = model.get("_values");
    if (buf !== valuesBuf) {
      valuesBuf = buf;
      decoded = decodeArray(buf, meta);
    }
    return genData(
      meta,
      decoded,
      Number(model.get("prompt_length")) || 0,
      model.get("_sources") || [],
      model.get("_generated") || [],
      model.get("_special") || [],
      model.get("_log_probs") || [],
    );
  }

  const setAndSave = (k: string, v: unknown) => {
    model.set(k, v);
    model.save_changes();
  };

  const textView = new TextView(
    {
      preview: (g) => {
        if (g === previewing) return;
        previewing = g !== null && g !== selected() ? g : null;
        paint();
      },
      select: (g) => {
        previewing = null;
        if (g !== selected()) setAndSave("token", g);
        else paint();
      },
      hover: (s, e) => {
        if (s === null || !data) return tooltip.hide();
        tooltip.show(e.clientX, e.clientY, readout(data, shown(), s), data.sources[s]);
      },
    },
    ac.signal,
  );
  const matrixView = new MatrixView(
    {
      select: (g) => {
        if (g !== selected()) setAndSave("token", g);
      },
      hover: (cell, e) => {
        if (!cell || !data) return tooltip.hide();
        const [s, g] = cell;
        tooltip.show(e.clientX, e.clientY, readout(data, g, s), `${JSON.stringify(data.generated[g])} ← ${JSON.stringify(data.sources[s])}`);
      },
    },
    ac.signal,
  );
  const matrixPane = h("div", { class: "xw-matrix-pane" }, [matrixView.canvas]);
  // tests and automation find a cell's position on the canvas
  (matrixView.canvas as unknown as { __xwCell: (s: number, g: number) => [number, number] }).__xwCell = (s, g) => matrixView.cellCentre(s, g);

  function readout(d: GenData, g: number, s: number): TooltipRow[] {
    const st = sourceState(d, g, s);
    const rows: TooltipRow[] = [["source", `#${s} (${s < d.P ? "prompt" : "generated"})`], ["for token", `#${g} ${JSON.stringify(d.generated[g])}`]];
    if (st === "context") rows.push(["value", formatValue(row(d, g)[s])], ["scale ±", formatValue(scales[g] ?? 1)]);
    else rows.push(["value", st === "self" ? "the token itself" : "after it (not seen)"]);
    return rows;
  }

  function drawSubtitle(): void {
    const d = data;
    if (!d) return;
    const g = shown();
    const lp = d.logProbs[g];
    let t = `${previewing !== null ? "Previewing" : "Selected"} token ${g}: ${JSON.stringify(d.generated[g])}`;
    if (Number.isFinite(lp)) t += ` · log p = ${formatValue(lp)} (p = ${formatValue(Math.exp(lp))})`;
    subtitle.textContent = t;
  }

  function drawLegend(): void {
    const c = colors();
    const width = Math.max(120, Math.min(BAR_W, Math.floor(root.clientWidth - 24) || BAR_W));
    const ctx = hiDpi(legendBar, width, 28);
    if (!ctx) return;
    ctx.clearRect(0, 0, width, 28);
    const matrixPerRow = viewName() === "matrix" && normalize() === "token";
    const vmax = matrixPerRow ? 1 : scales[shown()] ?? 1;
    // per-token matrix rows each span their own max: the bar reads as a fraction of it
    drawColorbar(ctx, 3, 2, width - 6, colormap(), "all", vmax, { color: c.fg, border: c.border, font: `11px ${c.font}` }, matrixPerRow ? "× row max" : undefined);
    legendBar.title = matrixPerRow ? "each row scaled to its own largest |value|" : normalize() === "global" ? "one scale for every generated token" : `token ${shown()}'s scale`;
  }

  function drawStatus(): void {
    const d = data;
    if (!d) return;
    status.textContent = `${d.P} prompt + ${d.G} generated tokens · ${normalize() === "token" ? "scale per generated token" : "one scale"} · ${viewName() === "text" ? "hover or click a generated (underlined) token" : "click a row to select its token; wheel to zoom, drag to pan"}`;
  }

  function paint(): void {
    const d = data;
    if (!d) return;
    const c = colors();
    drawnBg = c.bg;
    if (viewName() === "text") {
      const g = shown();
      textView.paint(d, g, scales[g] ?? 1, colormap(), c.rgb, previewing === null);
    } else {
      const avail = Math.max(200, (root.clientWidth || 800) - 24);
      matrixView.draw(d, scales, colormap(), selected(), avail, { fg: c.fg, fg2: c.fg2, border: c.border, accent: c.accent, font: c.font, bg: c.rgb });
    }
    drawSubtitle();
    drawLegend();
    root.setAttribute("data-token", String(selected()));
  }

  function draw(): void {
    title.textContent = String(model.get("title") || model.get("method") || "attribution");
    viewSel.value = viewName();
    normSel.value = normalize();
    cmapSel.value = colormap();
    const d = current();
    if (!d) {
      status.textContent = "No generation to show.";
      return;
    }
    data = d;
    scales = rowScales(d, normalize());
    if (previewing !== null && previewing >= d.G) previewing = null;
    const want = viewName() === "text" ? textView.el : matrixPane;
    if (body.firstChild !== want) {
      while (body.firstChild) body.removeChild(body.firstChild);
      body.appendChild(want);
    }
    root.setAttribute("data-view", viewName());
    if (viewName() === "text") textView.build(d);
    paint();
    drawStatus();
    root.setAttribute("data-xw-ready", "1");
  }

  viewSel.addEventListener("change", () => setAndSave("view", viewSel.value), on);
  normSel.addEventListener("change", () => setAndSave("normalize", normSel.value), on);
  cmapSel.addEventListener("change", () => setAndSave("colormap", cmapSel.value), on);
  download.addEventListener(
    "click",
    () => {
      const c = colors();
      exportPng({
        title: title.textContent || "",
        subtitle: subtitle.textContent || "",
        text: viewName() === "text" ? textView.el : null,
        matrix: viewName() === "matrix" ? matrixView.canvas : null,
        legend: legendBar,
        colors: { bg: c.bg, fg: c.fg, accent: c.accent, font: c.font },
      }, `generation_${viewName()}.png`);
    },
    on,
  );

  const unlisten = listen(
    model,
    ["view", "normalize", "colormap", "_values", "_values_meta", "_sources", "_generated", "_special", "_log_probs", "prompt_length", "title", "method"],
    draw,
  );
  const onToken = () => {
    previewing = null;
    paint();
  };
  model.on("change:token", onToken);

  let frame = 0;
  const ro =
    typeof ResizeObserver !== "undefined"
      ? new ResizeObserver(() => {
          cancelAnimationFrame(frame);
          frame = requestAnimationFrame(() => paint());
        })
      : null;
  ro?.observe(root);
  // token colours are blended over the page background: follow theme switches
  const unwatch = watchTheme(() => {
    if (resolvedColors(root).bg !== drawnBg) paint();
  });
  draw();

  return () => {
    ac.abort();
    ro?.disconnect();
    cancelAnimationFrame(frame);
    unwatch();
    unlisten();
    model.off("change:token", onToken);
    root.remove();
  };
}

export default { render };
export { render, displayToken };
