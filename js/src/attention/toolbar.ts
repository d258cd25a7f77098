/**
 * The toolbar (source, view, sample, layer and head sliders, token search,
 * PNG download) and the status line under the panes.
 */
import { h, labelled, select } from "../lib/dom";
import type { ViewContext } from "./context";

export interface ToolbarHooks {
  /** jump to search match `m` in the shown view */
  reveal(m: number): void;
  exportPng(): void;
  /** zoom of the matrix view, for the status line */
  zoom(): number;
}

export class Toolbar {
  readonly el: HTMLDivElement;
  readonly status: HTMLDivElement;
  private sourceSel: HTMLSelectElement;
  private viewSel: HTMLSelectElement;
  private sampleSel: HTMLSelectElement | null;
  private layerIn: HTMLInputElement;
  private layerVal: HTMLSpanElement;
  private headIn: HTMLInputElement;
  private headVal: HTMLSpanElement;
  private search: HTMLInputElement;
  private download: HTMLButtonElement;

  constructor(private ctx: ViewContext, private hooks: ToolbarHooks) {
    const { state } = ctx;
    const sources = state.sources();
    // select() hides a select with one option (and its label): one source offers no choice
    this.sourceSel = select("xw-source", sources.map((s) => [s.name, s.name] as [string, string]), state.source());
    this.viewSel = select("xw-view", [["matrix", "matrix"], ["tokens", "tokens"], ["overview", "overview"]], state.view());
    const n = state.nSamples();
    this.sampleSel = n > 1 ? select("xw-sample", Array.from({ length: n }, (_, i) => String(i)), String(state.sample())) : null;
    this.layerIn = h("input", { class: "xw-layer", attrs: { type: "range", min: "0", step: "1" } });
    this.layerVal = h("span", { class: "xw-value" });
    this.headIn = h("input", { class: "xw-head", attrs: { type: "range", min: "-1", step: "1", title: "-1: mean of heads" } });
    this.headVal = h("span", { class: "xw-value" });
    this.search = h("input", { class: "xw-search", attrs: { type: "search", placeholder: "find token…", "aria-label": "Find token" } });
    this.download = h("button", { class: "xw-download", text: "⤓ PNG", title: "Download the view as PNG", attrs: { type: "button" } });
    // a slider and its value wrap as one; search and PNG too, so the button never sits alone on a line
    const layer = labelled("Layer", this.layerIn);
    layer.append(this.layerVal);
    const head = labelled("Head", this.headIn);
    head.append(this.headVal);
    this.el = h("div", { class: "xw-toolbar" }, [
      labelled("Source", this.sourceSel),
      labelled("View", this.viewSel),
      this.sampleSel ? labelled("Sample", this.sampleSel) : null,
      layer,
      head,
      h("span", { class: "xw-tools" }, [this.search, this.download]),
    ]);
    this.status = h("div", { class: "xw-status" });
    this.listen();
  }

  /** Bring the controls in line with the model. */
  sync(): void {
    const { state } = this.ctx;
    const s = state.src();
    if (!s) return;
    const layer = state.layer();
    const head = state.head();
    this.layerIn.max = String(Math.max(0, s.layers - 1));
    this.layerIn.disabled = s.layers < 2;
    this.layerIn.value = String(layer);
    // the index only: module names are long and alike (the status line and the title carry the name)
    const name = s.layer_names[layer];
    this.layerVal.textContent = String(layer);
    this.layerVal.title = name !== undefined && name !== String(layer) ? name : "";
    this.headIn.max = String(Math.max(0, s.heads - 1));
    this.headIn.disabled = s.heads < 2;
    this.headIn.value = String(head);
    this.headVal.textContent = head < 0 ? "mean" : String(head);
    if (this.sourceSel.value !== s.name) this.sourceSel.value = s.name;
    this.viewSel.value = state.view();
    if (this.sampleSel) this.sampleSel.value = String(state.sample());
  }

  private listen(): void {
    const { state, on } = this.ctx;
    this.layerIn.addEventListener("input", () => {
      state.lastInput = performance.now();
      state.set({ layer: Number(this.layerIn.value) });
    }, on);
    this.headIn.addEventListener("input", () => {
      state.lastInput = performance.now();
      state.set({ head: Number(this.headIn.value) });
    }, on);
    this.sourceSel.addEventListener("change", () => {
      const s = state.sources().find((x) => x.name === this.sourceSel.value);
      if (!s) return;
      const layer = Math.min(state.layer(), s.layers - 1);
      const head = Math.min(state.head(), s.heads - 1);
      state.lastInput = performance.now();
      state.set({ source: s.name, layer, head });
    }, on);
    this.viewSel.addEventListener("change", () => state.set({ view: this.viewSel.value }), on);
    this.sampleSel?.addEventListener("change", () => state.set({ sample: Number(this.sampleSel!.value) }), on);
    this.download.addEventListener("click", () => this.hooks.exportPng(), on);
    this.search.addEventListener("input", () => {
      state.matchPos = 0;
      this.runSearch(true);
    }, on);
    this.search.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && state.matches.length) {
        state.matchPos = (state.matchPos + (e.shiftKey ? state.matches.length - 1 : 1)) % state.matches.length;
        this.runSearch(true);
      }
    }, on);
  }

  private runSearch(jump: boolean): void {
    const { state } = this.ctx;
    const s = this.search.value.trim().toLowerCase();
    const matches: number[] = [];
    if (s) {
      const qt = state.queryTokens();
      for (let i = 0; i < qt.length && matches.length < 500; i++) if (qt[i].toLowerCase().includes(s)) matches.push(i);
      const kt = state.keyTokens();
      if (qt !== kt) {
        for (let i = 0; i < kt.length && matches.length < 500; i++) if (kt[i].toLowerCase().includes(s) && !matches.includes(i)) matches.push(i);
      }
    }
    state.matches = matches;
    this.search.classList.toggle("xw-nomatch", !!s && !matches.length);
    if (jump && matches.length) this.hooks.reveal(matches[state.matchPos % matches.length]);
    this.ctx.draw();
  }

  /** The status line: source, layer, head, size, then what the shown view offers. */
  updateStatus(): void {
    const { state, model } = this.ctx;
    const d = state.current;
    const s = state.src();
    if (!d || !s) return;
    const status = this.status;
    while (status.firstChild) status.removeChild(status.firstChild);
    const layer = state.layer();
    const head = state.head();
    const nm = s.layer_names[layer];
    status.append(
      h("b", { text: `${s.name}` }),
      ` · layer ${layer}${nm && nm !== String(layer) ? ` (${nm})` : ""} · ${head < 0 ? "mean of heads" : `head ${head}`} · ${d.nq}×${d.nk}`,
      model.get("causal") ? " · causal" : "",
    );
    const zoom = this.hooks.zoom();
    if (state.view() === "matrix") status.append(` · zoom ${zoom.toFixed(zoom < 10 ? 1 : 0)}× — scroll to zoom, drag to pan, double-click to reset`);
    const matches = state.matches;
    if (matches.length) status.append(` · ${matches.length} match${matches.length > 1 ? "es" : ""} (Enter: next)`);
    const tok = state.token();
    if (tok !== null) status.append(" · pinned ", h("b", { text: `#${tok} ${state.queryTokens()[tok] ?? ""}` }));
  }
}
