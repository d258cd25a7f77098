/**
 * TextHeatmap styles, on top of the shared ones (lib/theme.ts). Special tokens
 * are dimmed through their text colour (text/colors.ts: as far as the
 * contrast rule allows), not through opacity, which would let the text fall
 * below 4.5:1 against its own background.
 */
const STYLE_ID = "xw-text-style-v1";

export const TEXT_CSS = `
.xw-text-heatmap .xw-caption { color: var(--xw-fg); font-size: 0.92em; margin: -4px 0 6px; overflow-wrap: anywhere; }
.xw-text-heatmap .xw-caption:empty { display: none; }
.xw-text-heatmap .xw-tokens {
  position: relative; display: flex; flex-direction: column; gap: 4px;
  line-height: 1.35; padding: 2px 0; min-width: 0; max-width: 100%;
}
.xw-text-heatmap .xw-tokens.xw-multi { gap: 12px; }
.xw-text-heatmap .xw-tline { display: grid; row-gap: 2px; column-gap: 0; align-items: stretch; min-width: 0; }
.xw-text-heatmap .xw-measure {
  position: absolute; left: 0; top: 0; visibility: hidden; pointer-events: none;
  display: flex; flex-wrap: nowrap; width: max-content; height: 0; overflow: visible;
}
.xw-text-heatmap .xw-measure > * { flex: none; position: static; }
.xw-text-heatmap .xw-token {
  display: block; margin: 0; min-width: 0; white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word;
  line-height: calc(var(--xw-size) * 1.4);
}
.xw-text-heatmap .xw-token.xw-cont { border-top-left-radius: 0; border-bottom-left-radius: 0; }
.xw-text-heatmap .xw-token.xw-special { opacity: 1; font-size: 0.85em; font-family: var(--xw-mono); }
.xw-text-heatmap .xw-token.xw-pinned { opacity: 1; }
.xw-text-heatmap .xw-rowlabel {
  display: block; color: var(--xw-fg); font-size: 0.92em; font-weight: 600; align-self: center;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; padding: 0 8px 0 0; min-width: 0;
}
.xw-text-heatmap .xw-toolbar > * { min-width: 0; max-width: 100%; }
.xw-text-heatmap .xw-control select { min-width: 0; max-width: 100%; flex: 0 1 auto; text-overflow: ellipsis; }
.xw-text-heatmap .xw-bars { display: flex; flex-wrap: wrap; gap: 4px 16px; align-items: flex-end; min-width: 0; max-width: 100%; }
.xw-text-heatmap .xw-bar { display: flex; flex-direction: column; min-width: 0; }
.xw-text-heatmap .xw-bar-label { color: var(--xw-fg); font-size: 0.85em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
`;

export function injectTextStyle(doc: Document = document): void {
  if (doc.getElementById(STYLE_ID)) return;
  const style = doc.createElement("style");
  style.id = STYLE_ID;
  style.textContent = TEXT_CSS;
  (doc.head || doc.documentElement).appendChild(style);
}
