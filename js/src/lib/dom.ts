/** Tiny DOM helpers. Text only ever goes in through textContent. */

export interface ElOptions {
  class?: string;
  text?: string;
  attrs?: Record<string, string>;
  title?: string;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  opts: ElOptions = {},
  children: (Node | null | undefined)[] = [],
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (opts.class) el.className = opts.class;
  if (opts.text !== undefined) el.textContent = opts.text;
  if (opts.title !== undefined) el.title = opts.title;
  if (opts.attrs) for (const [k, v] of Object.entries(opts.attrs)) el.setAttribute(k, v);
  for (const c of children) if (c) el.appendChild(c);
  return el;
}

/** A labelled control: <label class="xw-control"><span>text</span>control</label>. */
export function labelled(text: string, control: HTMLElement, extraClass = ""): HTMLLabelElement {
  return h("label", { class: `xw-control ${extraClass}`.trim() }, [h("span", { class: "xw-label", text }), control]);
}

export function select(cls: string, options: readonly (string | [string, string])[], value: string): HTMLSelectElement {
  const s = h("select", { class: cls });
  fillSelect(s, options, value);
  return s;
}

export function fillSelect(s: HTMLSelectElement, options: readonly (string | [string, string])[], value: string): void {
  while (s.firstChild) s.removeChild(s.firstChild);
  for (const o of options) {
    const [v, label] = typeof o === "string" ? [o, o] : o;
    const opt = document.createElement("option");
    opt.value = v;
    opt.textContent = label;
    s.appendChild(opt);
  }
  s.value = value;
  // a choice of one is no choice: hide the select and its label (theme.ts CSS)
  s.hidden = options.length < 2;
}
