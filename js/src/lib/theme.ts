/**
 * Shared styles. Colours come from JupyterLab's --jp-* variables (so light and
 * dark themes just work), then VS Code's, then plain light/dark fallbacks.
 */
const STYLE_ID = "xw-style-v1";

export const CSS = `
.xw-root {
  --xw-bg: var(--jp-layout-color1, var(--vscode-editor-background, #ffffff));
  --xw-bg2: var(--jp-layout-color2, var(--vscode-sideBar-background, #f4f5f7));
  --xw-fg: var(--jp-ui-font-color1, var(--vscode-editor-foreground, #1f2328));
  --xw-fg2: var(--jp-ui-font-color2, var(--vscode-descriptionForeground, #5f6670));
  --xw-border: var(--jp-border-color1, var(--vscode-panel-border, #c9ced6));
  --xw-border2: var(--jp-border-color2, var(--vscode-panel-border, #e3e6ea));
  --xw-accent: var(--jp-brand-color1, var(--vscode-focusBorder, #1a73e8));
  --xw-font: var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif);
  --xw-mono: var(--jp-code-font-family, ui-monospace, SFMono-Regular, Menlo, Consolas, monospace);
  --xw-size: var(--jp-ui-font-size1, 13px);
  position: relative;
  box-sizing: border-box;
  max-width: 100%;
  padding: 8px 10px 10px;
  border: 1px solid var(--xw-border2);
  border-radius: 6px;
  background: var(--xw-bg);
  color: var(--xw-fg);
  font-family: var(--xw-font);
  font-size: var(--xw-size);
  line-height: 1.35;
}
@media (prefers-color-scheme: dark) {
  .xw-root {
    --xw-bg: var(--jp-layout-color1, var(--vscode-editor-background, #1e1f22));
    --xw-bg2: var(--jp-layout-color2, var(--vscode-sideBar-background, #2a2c30));
    --xw-fg: var(--jp-ui-font-color1, var(--vscode-editor-foreground, #e6e6e6));
    --xw-fg2: var(--jp-ui-font-color2, var(--vscode-descriptionForeground, #a9adb3));
    --xw-border: var(--jp-border-color1, var(--vscode-panel-border, #4a4d52));
    --xw-border2: var(--jp-border-color2, var(--vscode-panel-border, #393b40));
    --xw-accent: var(--jp-brand-color1, var(--vscode-focusBorder, #5b9cf5));
  }
}
body[data-jp-theme-light="false"] .xw-root, body.vscode-dark .xw-root { color-scheme: dark; }
body[data-jp-theme-light="true"] .xw-root, body.vscode-light .xw-root { color-scheme: light; }
.xw-root *, .xw-root *::before, .xw-root *::after { box-sizing: border-box; }
.xw-toolbar {
  display: flex; flex-wrap: wrap; align-items: center; gap: 6px 12px;
  padding: 0 0 8px; margin-bottom: 8px; border-bottom: 1px solid var(--xw-border2);
}
.xw-control { display: inline-flex; align-items: center; gap: 6px; white-space: nowrap; color: var(--xw-fg2); cursor: default; }
.xw-label { font-size: 0.92em; }
.xw-root select[hidden], .xw-control:has(> select[hidden]) { display: none !important; }
.xw-root select, .xw-root input[type="number"], .xw-root button {
  font: inherit; color: var(--xw-fg); background: var(--xw-bg);
  border: 1px solid var(--xw-border); border-radius: 4px; padding: 2px 6px; height: 24px; margin: 0;
}
.xw-root select { padding-right: 2px; cursor: pointer; }
.xw-root input[type="number"] { width: 58px; }
.xw-root input[type="range"] { width: 80px; margin: 0; accent-color: var(--xw-accent); cursor: pointer; }
.xw-root input[type="checkbox"] { margin: 0; accent-color: var(--xw-accent); cursor: pointer; }
.xw-root button { cursor: pointer; display: inline-flex; align-items: center; gap: 4px; background: var(--xw-bg2); }
.xw-root button:hover, .xw-root select:hover { border-color: var(--xw-accent); }
.xw-root select:focus-visible, .xw-root input:focus-visible, .xw-root button:focus-visible { outline: 2px solid var(--xw-accent); outline-offset: 1px; }
.xw-value { font-variant-numeric: tabular-nums; min-width: 2.2em; margin-left: -6px; color: var(--xw-fg); font-size: 0.92em; }
.xw-spacer { flex: 1 1 auto; }
.xw-panels { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.xw-panel { display: flex; flex-direction: column; gap: 4px; min-width: 0; max-width: 100%; }
.xw-title {
  font-weight: 600; color: var(--xw-fg); overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
}
.xw-canvas {
  display: block; max-width: 100%; height: auto; cursor: crosshair; border-radius: 3px;
  image-rendering: pixelated; outline: 1px solid var(--xw-border2); outline-offset: -1px;
}
.xw-colorbar { display: block; }
.xw-footer { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 16px; margin-top: 8px; min-height: 18px; }
.xw-status { color: var(--xw-fg2); font-size: 0.92em; font-variant-numeric: tabular-nums; }
.xw-status b { color: var(--xw-fg); font-weight: 600; }
.xw-tooltip {
  position: absolute; z-index: 10; pointer-events: none; padding: 5px 8px; border-radius: 4px;
  background: var(--xw-bg); color: var(--xw-fg); border: 1px solid var(--xw-border);
  box-shadow: 0 2px 8px rgba(0, 0, 0, 0.18); font-size: 0.92em; white-space: nowrap; max-width: 360px;
}
.xw-tooltip-head { font-weight: 600; margin-bottom: 2px; overflow: hidden; text-overflow: ellipsis; }
.xw-tooltip-row { display: flex; justify-content: space-between; gap: 12px; }
.xw-tooltip-key { color: var(--xw-fg2); }
.xw-tooltip-val { font-family: var(--xw-mono); font-variant-numeric: tabular-nums; }
.xw-empty { color: var(--xw-fg2); padding: 12px 4px; }
.xw-tokens { line-height: 1.95; word-wrap: break-word; overflow-wrap: anywhere; padding: 2px 0; }
.xw-token {
  display: inline-block; line-height: 1.35; padding: 1px 3px; margin: 1px 0 1px 4px; border-radius: 3px;
  cursor: pointer; white-space: pre; border: 1px solid transparent; font-family: var(--xw-font);
}
.xw-token.xw-cont { margin-left: 0; border-top-left-radius: 0; border-bottom-left-radius: 0; }
.xw-token.xw-special { font-size: 0.85em; font-family: var(--xw-mono); }
.xw-token:hover { border-color: var(--xw-fg2); }
.xw-token.xw-pinned { border-color: var(--xw-fg); box-shadow: 0 0 0 1px var(--xw-fg); opacity: 1; }
`;

/** Insert the shared <style> once per document (idempotent). */
export function injectStyle(doc: Document = document): void {
  if (doc.getElementById(STYLE_ID)) return;
  const style = doc.createElement("style");
  style.id = STYLE_ID;
  style.textContent = CSS;
  (doc.head || doc.documentElement).appendChild(style);
}

/** Resolved colours of an element for drawing into canvases (text, border, background). */
export function resolvedColors(el: HTMLElement): { fg: string; fg2: string; border: string; bg: string; font: string } {
  const cs = getComputedStyle(el);
  const v = (name: string, fb: string) => cs.getPropertyValue(name).trim() || fb;
  return {
    fg: cs.color || "#222",
    fg2: v("--xw-fg2", "#666"),
    border: v("--xw-border", "#ccc"),
    bg: cs.backgroundColor && cs.backgroundColor !== "rgba(0, 0, 0, 0)" ? cs.backgroundColor : "#fff",
    font: cs.fontFamily || "sans-serif",
  };
}

/** Parse "rgb(a)(r, g, b[, a])" or "#rrggbb" to [r, g, b]; null when unknown. */
export function parseColor(s: string): [number, number, number] | null {
  const m = s.match(/rgba?\(\s*([\d.]+)[ ,]+([\d.]+)[ ,]+([\d.]+)/);
  if (m) return [Number(m[1]), Number(m[2]), Number(m[3])];
  const hx = s.match(/^#([0-9a-f]{6})$/i);
  if (hx) return [0, 2, 4].map((i) => parseInt(hx[1].slice(i, i + 2), 16)) as [number, number, number];
  return null;
}
