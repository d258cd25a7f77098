/**
 * The text view: prompt and generation as flowing text, one inline span per
 * source token (text only through textContent). `paint(g, ...)` colours every
 * source for generated token g; hovering a generated token asks the owner to
 * preview it, clicking asks to select it.
 */
import { h } from "../lib/dom";
import type { RGB } from "../lib/colormaps";
import { rgbCss } from "../text/colors";
import { generatedAt, type GenData } from "./data";
import { displayToken, sourceStyles } from "./layout";

export interface TextViewEvents {
  preview(g: number | null): void;
  select(g: number): void;
  hover(s: number | null, e: MouseEvent): void;
}

export class TextView {
  readonly el: HTMLDivElement;
  private spans: HTMLSpanElement[] = [];
  private key = "";

  constructor(events: TextViewEvents, signal: AbortSignal) {
    this.el = h("div", { class: "xw-gen-text" });
    const at = (t: EventTarget | null): number | null => {
      const s = t instanceof Element ? t.closest(".xw-gtok") : null;
      if (!s || !this.el.contains(s)) return null;
      const i = Number(s.getAttribute("data-s"));
      return Number.isInteger(i) ? i : null;
    };
    let last: number | null = null;
    this.el.addEventListener(
      "mousemove",
      (e) => {
        const s = at(e.target);
        events.hover(s, e);
        const g = s === null || !this.data ? null : generatedAt(this.data, s);
        if (g !== last) {
          last = g;
          if (g !== null) events.preview(g);
        }
      },
      { signal },
    );
    this.el.addEventListener(
      "mouseleave",
      (e) => {
        last = null;
        events.hover(null, e);
        events.preview(null);
      },
      { signal },
    );
    this.el.addEventListener(
      "click",
      (e) => {
        const s = at(e.target);
        const g = s === null || !this.data ? null : generatedAt(this.data, s);
        if (g !== null) events.select(g);
      },
      { signal },
    );
  }

  private data: GenData | null = null;

  /** (Re)build the spans when the tokens change. */
  build(d: GenData): void {
    this.data = d;
    const key = `${d.P}|${d.sources.join("\u0000")}|${d.special.join(",")}`;
    if (key === this.key) return;
    this.key = key;
    const frag = document.createDocumentFragment();
    this.spans = d.sources.map((t, s) => {
      const { text, breakAfter } = displayToken(t);
      let cls = "xw-gtok";
      if (s >= d.P) cls += " xw-gen";
      if (d.special[s]) cls += " xw-special";
      const span = h("span", { class: cls, attrs: { "data-s": String(s) } });
      span.textContent = text; // text only — never innerHTML
      frag.appendChild(span);
      if (breakAfter) frag.appendChild(document.createElement("br"));
      return span;
    });
    while (this.el.firstChild) this.el.removeChild(this.el.firstChild);
    this.el.appendChild(frag);
  }

  /** Colour every source for generated token g (`selected`: the pinned one, outlined differently from a preview). */
  paint(d: GenData, g: number, vmax: number, colormap: string, bg: RGB, selected: boolean): void {
    const styles = sourceStyles(d, g, vmax, colormap, bg);
    const self = d.P + g;
    this.spans.forEach((span, s) => {
      const st = styles[s];
      // always explicit: the text follows the colour actually painted behind it
      span.style.backgroundColor = rgbCss(st.background);
      span.style.color = rgbCss(st.text);
      span.classList.toggle("xw-self", s === self && selected);
      span.classList.toggle("xw-preview", s === self && !selected);
      span.setAttribute("data-state", st.state);
    });
  }

  span(s: number): HTMLSpanElement | undefined {
    return this.spans[s];
  }
}
