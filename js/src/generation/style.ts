/**
 * GenerationHeatmap styles, on top of the shared ones (lib/theme.ts). Tokens
 * are inline spans so the prompt and the generation flow and wrap as text;
 * the generated part is underlined in the accent colour, the selected token
 * outlined, special tokens dimmed through their text colour (generation/layout.ts).
 */
const STYLE_ID = "xw-generation-style-v1";

export const GENERATION_CSS = `
.xw-generation .xw-subtitle { color: var(--xw-fg); font-size: 0.92em; margin: -4px 0 6px; overflow-wrap: anywhere; }
.xw-generation .xw-subtitle:empty { display: none; }
.xw-generation .xw-gen-text {
  line-height: 2.05; white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word;
  padding: 2px 0; min-width: 0; max-width: 100%;
}
.xw-generation .xw-gtok {
  padding: 2px 0; border-radius: 2px; cursor: default; -webkit-box-decoration-break: clone; box-decoration-break: clone;
  font-family: var(--xw-font);
}
.xw-generation .xw-gtok.xw-gen { cursor: pointer; border-bottom: 2px solid var(--xw-accent); }
.xw-generation .xw-gtok.xw-special { font-family: var(--xw-mono); font-size: 0.85em; }
.xw-generation .xw-gtok.xw-self { outline: 2px solid var(--xw-fg); outline-offset: 0; }
.xw-generation .xw-gtok.xw-preview { outline: 1px dashed var(--xw-fg); outline-offset: 0; }
.xw-generation .xw-matrix-pane { display: flex; flex-direction: column; gap: 4px; min-width: 0; max-width: 100%; }
.xw-generation canvas.xw-gen-matrix { cursor: pointer; image-rendering: auto; }
.xw-generation .xw-legend { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 12px; margin-top: 6px; }
.xw-generation .xw-key { color: var(--xw-fg2); font-size: 0.9em; }
.xw-generation .xw-key-gen { border-bottom: 2px solid var(--xw-accent); color: var(--xw-fg); }
.xw-generation .xw-toolbar > * { min-width: 0; max-width: 100%; }
.xw-generation .xw-title { white-space: normal; overflow-wrap: anywhere; }
`;

export function injectGenerationStyle(doc: Document = document): void {
  if (doc.getElementById(STYLE_ID)) return;
  const style = doc.createElement("style");
  style.id = STYLE_ID;
  style.textContent = GENERATION_CSS;
  (doc.head || doc.documentElement).appendChild(style);
}
