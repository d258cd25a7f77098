/**
 * AttentionView: attention weights by layer and head.
 *
 * Views (one module each in ./attention/): "matrix" (canvas heatmap of one
 * head with zoom/pan, thinned token labels, masked cells hatched, hover
 * readout), "tokens" (bertviz-style head view), "overview" (every layer x
 * head as thumbnails; click picks). ViT mode adds the image: click a patch to
 * see its attention over the image.
 *
 * Data: `_thumbs` (uint8, every layer x head, small) and `_head` (the shown
 * head, full size) are traits; other heads come by custom message, are
 * prefetched for the current layer and kept in a byte-bounded LRU cache
 * (./attention/transport.ts). In a page saved by save_html the heads come
 * from a table in the page and the view says which ones were left out.
 * This file wires the parts together.
 */
import { downloadCanvas } from "./lib/download";
import { h } from "./lib/dom";
import { listen, type AnyModel, type RenderProps } from "./lib/model";
import { injectStyle } from "./lib/theme";
import { Tooltip } from "./lib/tooltip";
import { colors, dpr, injectAttentionStyle, type ViewContext } from "./attention/context";
import { formatBytes } from "./attention/labels";
import { MatrixView } from "./attention/matrix";
import { OverviewView } from "./attention/overview";
import { AttentionState, missingMessage, type HeadData } from "./attention/state";
import { TokensView } from "./attention/tokens";
import { Toolbar } from "./attention/toolbar";
import { EmbeddedPushes, HeadTransport, CACHE_BYTES } from "./attention/transport";
import { VitView, imageShown } from "./attention/vit";

function render({ model, el }: RenderProps): () => void {
  injectStyle();
  injectAttentionStyle();
  const ac = new AbortController();
  const root = h("div", { class: "xw-root xw-attention-view" });
  el.appendChild(root);
  const state = new AttentionState(model);
  const ctx: ViewContext = {
    model,
    state,
    root,
    // absolutely positioned with a z-index: its place among the root's children does not matter
    tooltip: new Tooltip(root),
    on: { signal: ac.signal },
    draw: () => draw(),
    updateStatus: () => toolbar.updateStatus(),
    imageShown: () => imageShown(model),
  };
  const matrix = new MatrixView(ctx);
  const tokens = new TokensView(ctx);
  const overview = new OverviewView(ctx);
  const vit = new VitView(ctx);
  const toolbar = new Toolbar(ctx, {
    reveal: (m) => {
      const v = state.view();
      if (v === "matrix" && state.current) matrix.centerOn(m);
      else if (v === "tokens") tokens.scrollTo(m);
    },
    exportPng: () => exportPng(),
    zoom: () => matrix.zoom,
  });
  // a head a saved page does not hold: said in place of the panes (not a spinner)
  const missingNote = h("div", { class: "xw-missing-note", attrs: { role: "status" } });
  missingNote.hidden = true;
  const main = h("div", { class: "xw-main" }, [matrix.pane, tokens.pane, overview.pane, vit.pane, missingNote]);
  const embed = state.embed();
  const embedNote = h("div", { class: "xw-embed-note" });
  if (embed && embed.missing > 0) {
    embedNote.textContent =
      `${embed.missing} of ${embed.heads} heads are not in this file (size budget ${formatBytes(embed.max_bytes)}); ` +
      "re-export with save_html(..., max_bytes=...) to include them.";
  }
  const footer = h("div", { class: "xw-footer" }, [toolbar.status, embed && embed.missing > 0 ? embedNote : null]);
  root.append(toolbar.el, main, footer);

  let missing = ""; // key shown as a miss, waiting for its bytes
  const transport = new HeadTransport(
    model,
    (d: HeadData) => {
      markCache();
      if (d.key === state.wantedKey() && (!state.current || state.current.key !== d.key)) show();
    },
    CACHE_BYTES,
    (key) => {
      if (key === state.wantedKey()) show();
    },
  );
  // a saved page: what the kernel would push on a source/sample change comes from the page
  const pushes = embed ? new EmbeddedPushes(model, embed) : null;
  let pushedFor = `${state.source()}|${state.sample()}`;

  function markCache(): void {
    root.setAttribute("data-xw-cache", transport.label());
  }

  /** Show the selected head if it is here, else say it is loading (the kernel pushes `_head` on every selection). */
  function show(): void {
    toolbar.sync();
    const key = state.wantedKey();
    const cur = state.current;
    const d = cur && cur.key === key ? cur : transport.lookup(key);
    if (!d) {
      if (missing !== key) transport.stats.misses++;
      missing = key;
      if (transport.missing.has(key)) return showMissing();
      root.classList.add("xw-loading");
      const head = state.head();
      toolbar.status.textContent = `Loading layer ${state.layer()}, head ${head < 0 ? "mean" : head}…`;
      // live: the kernel pushes `_head` on every selection change; a saved page answers requests only
      if (pushes) transport.request([state.wanted()]);
      return;
    }
    missingNote.hidden = true;
    root.removeAttribute("data-xw-missing");
    if (cur !== d) {
      if (cur && cur.key !== d.key && missing !== d.key) transport.stats.hits++;
      state.current = d;
    }
    missing = "";
    root.classList.remove("xw-loading");
    draw();
    const s = state.src();
    if (s) transport.prefetch(s, state.wanted(), d.bytes);
  }

  function showMissing(): void {
    root.classList.remove("xw-loading");
    for (const p of [matrix.pane, tokens.pane, overview.pane, vit.pane]) p.style.display = "none";
    ctx.tooltip.hide();
    const text = missingMessage(state.wanted(), state.sources().length > 1, state.nSamples() > 1);
    missingNote.textContent = text;
    missingNote.hidden = false;
    const head = state.head();
    toolbar.status.textContent = `${state.source()} · layer ${state.layer()} · ${head < 0 ? "mean of heads" : `head ${head}`} · not in this file`;
    root.setAttribute("data-xw-missing", state.wantedKey());
    root.setAttribute("data-xw-ready", "1");
  }

  function draw(): void {
    const d = state.current;
    if (!d || !missingNote.hidden) return;
    const t0 = performance.now();
    const v = state.view();
    matrix.pane.style.display = v === "matrix" ? "" : "none";
    tokens.pane.style.display = v === "tokens" ? "" : "none";
    overview.pane.style.display = v === "overview" ? "" : "none";
    state.levels();
    const col = colors(root);
    if (v === "matrix") matrix.draw();
    else if (v === "tokens") tokens.draw(col);
    else overview.draw(col);
    vit.draw();
    toolbar.updateStatus();
    root.setAttribute("data-xw-drawn", d.key);
    const now = performance.now();
    root.setAttribute("data-xw-draw-ms", (now - t0).toFixed(2));
    if (state.lastInput) {
      root.setAttribute("data-xw-switch-ms", (now - state.lastInput).toFixed(2));
      state.lastInput = 0;
    }
    markCache();
    root.setAttribute("data-xw-ready", "1");
  }

  function exportPng(): void {
    const v = state.view();
    const col = colors(root);
    const srcCanvas = v === "matrix" ? matrix.canvas : v === "overview" ? overview.canvas : tokens.exportCanvas(col);
    const extra = imageShown(model) ? vit.canvas : null;
    const pad = 12;
    const titleH = 22;
    const W = srcCanvas.width + (extra ? extra.width + pad : 0) + 2 * pad;
    const H = Math.max(srcCanvas.height, extra ? extra.height : 0) + titleH + 2 * pad;
    const out = document.createElement("canvas");
    out.width = W;
    out.height = H;
    const c = out.getContext("2d");
    if (!c) return;
    c.fillStyle = col.bg;
    c.fillRect(0, 0, W, H);
    c.fillStyle = col.fg;
    c.font = `600 ${13 * dpr()}px ${col.font}`;
    c.textBaseline = "top";
    c.fillText(toolbar.status.textContent?.split(" — ")[0] ?? "", pad, pad, W - 2 * pad);
    c.drawImage(srcCanvas, pad, pad + titleH);
    if (extra) c.drawImage(extra, pad + srcCanvas.width + pad, pad + titleH);
    downloadCanvas(out, "attention_view.png");
  }

  // ------------------------------------------------------------- listeners
  model.on("msg:custom", transport.onCustom);
  const offs = [
    listen(model, ["layer", "head", "source", "sample"], () => {
      const combo = `${state.source()}|${state.sample()}`;
      if (pushes && combo !== pushedFor) {
        pushedFor = combo;
        pushes.apply(state.source(), state.sample());
      }
      if (state.current && state.current.key === state.wantedKey() && missingNote.hidden) return draw();
      show();
    }),
    listen(model, ["_head", "_head_meta"], () => transport.ingestTrait()),
    listen(model, ["view", "token", "colormap", "clip_percentile", "_mask", "_tokens", "_query_tokens", "_sources"], () => {
      toolbar.sync();
      if (state.view() !== "tokens") state.focus = null;
      if (state.token() !== null) tokens.invalidate();
      if (state.current) draw();
    }),
    listen(model, ["_thumbs", "_thumbs_meta"], () => {
      overview.invalidate();
      if (state.current && state.view() === "overview") draw();
    }),
  ];
  let lastWidth = 0;
  const ro =
    typeof ResizeObserver !== "undefined"
      ? new ResizeObserver(() => {
          const w = root.clientWidth;
          if (Math.abs(w - lastWidth) > 24 && state.current) {
            lastWidth = w;
            draw();
          }
        })
      : null;
  ro?.observe(root);
  // canvases hold resolved theme colours: redraw when JupyterLab (or the OS) switches theme
  const themeObserver =
    typeof MutationObserver !== "undefined" && document.body
      ? new MutationObserver(() => {
          if (state.current) draw();
        })
      : null;
  themeObserver?.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name", "class"] });
  const dark = typeof matchMedia === "function" ? matchMedia("(prefers-color-scheme: dark)") : null;
  dark?.addEventListener("change", () => state.current && draw(), ctx.on);
  transport.ingestTrait();
  show();
  lastWidth = root.clientWidth;

  return () => {
    ac.abort();
    ro?.disconnect();
    themeObserver?.disconnect();
    matrix.dispose();
    model.off("msg:custom", transport.onCustom);
    for (const off of offs) off();
    ctx.tooltip.hide();
    transport.dispose();
    root.remove();
  };
}

export default { render };
export { render };
export type { AnyModel };
