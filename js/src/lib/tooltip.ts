/** A small tooltip positioned inside a (position: relative) container. */
import { h } from "./dom";

export type TooltipRow = [label: string, value: string];

export class Tooltip {
  readonly el: HTMLDivElement;
  constructor(private container: HTMLElement) {
    this.el = h("div", { class: "xw-tooltip", attrs: { role: "tooltip" } });
    this.el.style.display = "none";
    container.appendChild(this.el);
  }

  /** Show rows at a client (viewport) position; header is optional bold first line. */
  show(clientX: number, clientY: number, rows: TooltipRow[], header?: string): void {
    const el = this.el;
    while (el.firstChild) el.removeChild(el.firstChild);
    if (header !== undefined) el.appendChild(h("div", { class: "xw-tooltip-head", text: header }));
    for (const [k, v] of rows) {
      el.appendChild(h("div", { class: "xw-tooltip-row" }, [h("span", { class: "xw-tooltip-key", text: k }), h("span", { class: "xw-tooltip-val", text: v })]));
    }
    el.style.display = "block";
    const box = this.container.getBoundingClientRect();
    const tw = el.offsetWidth;
    const th = el.offsetHeight;
    let x = clientX - box.left + 14;
    let y = clientY - box.top + 14;
    if (x + tw > box.width) x = Math.max(0, clientX - box.left - tw - 12);
    if (y + th > box.height && clientY - box.top - th - 12 >= 0) y = clientY - box.top - th - 12;
    el.style.left = `${x}px`;
    el.style.top = `${y}px`;
  }

  hide(): void {
    this.el.style.display = "none";
  }
}
