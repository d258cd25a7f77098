/** The toolbar: view, order, y and sample controls, the PNG button, and keeping them in step with the model. */
import { fillSelect, h, labelled, select } from "../lib/dom";
import { clip } from "./labels";
import { MODES, ORDERS, type ForceData, type ForceState } from "./state";

export class Toolbar {
  readonly el: HTMLDivElement;
  readonly title: HTMLDivElement;
  readonly modeSel: HTMLSelectElement;
  readonly orderSel: HTMLSelectElement;
  readonly ySel: HTMLSelectElement;
  readonly indexIn: HTMLInputElement;
  readonly download: HTMLButtonElement;
  private orderCtl: HTMLLabelElement;
  private yCtl: HTMLLabelElement;
  private indexCtl: HTMLLabelElement;
  private yNamesKey = "";

  constructor(private state: ForceState, readonly nSamples: number) {
    const model = state.model;
    this.modeSel = select("xw-mode", MODES, String(model.get("mode")));
    this.orderSel = select("xw-order", ORDERS, String(model.get("order")));
    this.ySel = select("xw-y", [], "");
    this.indexIn = h("input", {
      class: "xw-index",
      title: "Sample shown by the force and waterfall views",
      attrs: { type: "number", min: "0", max: String(nSamples - 1), step: "1" },
    });
    this.download = h("button", { class: "xw-download", text: "⤓ PNG", title: "Download as PNG", attrs: { type: "button" } });
    this.title = h("div", { class: "xw-title" });
    this.orderCtl = labelled("Order", this.orderSel);
    this.yCtl = labelled("y", this.ySel);
    this.indexCtl = labelled("Sample", this.indexIn);
    this.el = h("div", { class: "xw-toolbar" }, [
      this.title,
      labelled("View", this.modeSel),
      this.orderCtl,
      this.yCtl,
      this.indexCtl,
      h("span", { class: "xw-spacer" }),
      this.download,
    ]);
  }

  /** Show the model's values; hide the controls the current view does not use. */
  sync(d: ForceData): void {
    const st = this.state;
    const model = st.model;
    const mode = st.mode(d);
    this.modeSel.value = String(model.get("mode"));
    this.orderSel.value = String(model.get("order"));
    const key = d.names.join("\u0000") + "|" + st.outputName();
    if (key !== this.yNamesKey) {
      this.yNamesKey = key;
      fillSelect(this.ySel, [["", st.outputName()], ...d.names.map((nm, j) => [String(j), clip(nm, 40)] as [string, string])], "");
    }
    const yf = model.get("y_feature");
    this.ySel.value = yf === null || yf === undefined ? "" : String(yf);
    if (document.activeElement !== this.indexIn) this.indexIn.value = String(st.index(d));
    this.orderCtl.classList.toggle("xw-hidden", mode !== "stacked" || d.n < 2);
    this.yCtl.classList.toggle("xw-hidden", mode !== "stacked" || d.n < 2);
    this.indexCtl.classList.toggle("xw-hidden", mode === "stacked" || d.n < 2);
    this.title.textContent = titleText(st, d);
    this.title.classList.toggle("xw-hidden", !this.title.textContent);
  }
}

/**
 * The title: the explained class (the output's name, e.g. "Egyptian cat"),
 * with its value in the one-row views, then the method. A plain "f(x)" names
 * no class and is left to the plot.
 */
export function titleText(st: ForceState, d: ForceData): string {
  const name = st.outputName();
  const parts: string[] = [];
  if (name && name !== "f(x)") {
    if (st.mode(d) === "stacked") parts.push(name);
    else parts.push(`${name} = ${st.outputText(d.outputs[st.index(d)])}`);
  }
  const method = String(st.model.get("method") || "");
  if (method && method !== "custom") parts.push(method);
  return parts.join(" · ");
}
