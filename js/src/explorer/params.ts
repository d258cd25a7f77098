/** Controls for a method's parameters, built from the registry's specs (Python: explain/registry.py). */
import { h, labelled } from "../lib/dom";

export interface ParamSpec {
  name: string;
  type: "int" | "float" | "bool" | "choice";
  default: unknown;
  label: string;
  min?: number;
  max?: number;
  choices?: string[];
}

/** Clamp and round a typed value the way Python will validate it (returns null when not a number). */
export function coerce(spec: ParamSpec, raw: string | boolean): unknown {
  if (spec.type === "bool") return Boolean(raw);
  if (spec.type === "choice") return String(raw);
  const v = Number(raw);
  if (!Number.isFinite(v)) return null;
  let x = spec.type === "int" ? Math.round(v) : v;
  if (spec.min !== undefined) x = Math.max(spec.min, x);
  if (spec.max !== undefined) x = Math.min(spec.max, x);
  return x;
}

/** One labelled control per parameter; `onChange(name, value)` fires on commit (change event). */
export function paramControls(
  specs: readonly ParamSpec[],
  values: Record<string, unknown>,
  onChange: (name: string, value: unknown) => void,
): HTMLElement[] {
  return specs.map((spec) => {
    const value = values[spec.name] ?? spec.default;
    if (spec.type === "bool") {
      const box = h("input", { class: `xw-param xw-param-${spec.name}`, attrs: { type: "checkbox" } });
      box.checked = Boolean(value);
      box.addEventListener("change", () => onChange(spec.name, box.checked));
      return labelled(spec.label, box);
    }
    if (spec.type === "choice") {
      const s = h("select", { class: `xw-param xw-param-${spec.name}` });
      for (const c of spec.choices ?? []) s.appendChild(h("option", { text: c, attrs: { value: c } }));
      s.value = String(value);
      s.addEventListener("change", () => onChange(spec.name, s.value));
      return labelled(spec.label, s);
    }
    const attrs: Record<string, string> = { type: "number", step: spec.type === "int" ? "1" : "0.01" };
    if (spec.min !== undefined) attrs.min = String(spec.min);
    if (spec.max !== undefined) attrs.max = String(spec.max);
    const input = h("input", { class: `xw-param xw-param-${spec.name}`, attrs });
    input.value = String(value);
    input.addEventListener("change", () => {
      const v = coerce(spec, input.value);
      if (v === null) {
        input.value = String(value);
        return;
      }
      input.value = String(v);
      onChange(spec.name, v);
    });
    return labelled(spec.label, input);
  });
}
