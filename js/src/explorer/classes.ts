/** Class list helpers (pure): search over every class name, labels with probabilities. */

/** Indices of class names containing `query` (case-insensitive), prefix matches first, at most `limit`. */
export function searchClasses(names: readonly string[], query: string, limit = 20): number[] {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  const starts: number[] = [];
  const contains: number[] = [];
  for (let i = 0; i < names.length; i++) {
    const n = names[i].toLowerCase();
    if (n.startsWith(q)) starts.push(i);
    else if (n.includes(q)) contains.push(i);
    if (starts.length >= limit) break;
  }
  const asNumber = /^\d+$/.test(q) ? Number(q) : -1;
  const out = [...starts, ...contains];
  if (asNumber >= 0 && asNumber < names.length && !out.includes(asNumber)) out.unshift(asNumber);
  return out.slice(0, limit);
}

/** "tabby · 41.2%" (probabilities) or "tabby · 3.21" (raw scores). */
export function classLabel(name: string, value: number, kind: string): string {
  if (kind === "probability") {
    const pct = value * 100;
    return `${name} · ${pct >= 10 ? pct.toFixed(1) : pct.toPrecision(2)}%`;
  }
  return `${name} · ${Math.abs(value) >= 1e4 || (value !== 0 && Math.abs(value) < 0.01) ? value.toExponential(2) : value.toFixed(2)}`;
}

/** Options for the class select: the top classes, plus the current target when it is not among them. */
export function classOptions(
  names: readonly string[],
  topk: readonly [number, number][],
  target: number,
  kind: string,
): [string, string][] {
  const opts: [string, string][] = topk.map(([i, p]) => [String(i), classLabel(names[i] ?? `class ${i}`, p, kind)]);
  if (!topk.some(([i]) => i === target)) opts.push([String(target), names[target] ?? `class ${target}`]);
  return opts;
}
