/**
 * TextHeatmap styles, on top of the shared ones (lib/theme.ts). Special tokens
 * are dimmed through their text colour (text/colors.ts: as far as the
 * contrast rule allows), not through opacity, which would let the text fall
 * below 4.5:1 against its own background.
 */
const STYLE_ID = "xw-text-style-v1";

export const TEXT_CSS = `
.xw-text-heatmap .xw-token.xw-special { opacity: 1; }
.xw-text-heatmap .xw-token.xw-pinned { opacity: 1; }
`;

export function injectTextStyle(doc: Document = document): void {
  if (doc.getElementById(STYLE_ID)) return;
  const style = doc.createElement("style");
  style.id = STYLE_ID;
  style.textContent = TEXT_CSS;
  (doc.head || doc.documentElement).appendChild(style);
}
