/** Styles of the HeatmapOverlay view (beside the shared ones in lib/theme.ts). */
const STYLE_ID = "xw-heatmap-style-v1";

const CSS = `
.xw-heatmap-overlay .xw-panels { display: grid; gap: 12px; align-items: start; justify-content: start; }
.xw-heatmap-overlay .xw-panel { display: flex; flex-direction: column; gap: 4px; min-width: 0; }
.xw-heatmap-overlay .xw-stage { position: relative; }
.xw-heatmap-overlay .xw-stage > canvas.xw-canvas {
  position: absolute; left: 0; top: 0; width: 100%; height: 100%; max-width: none;
}
.xw-heatmap-overlay .xw-stage > canvas.xw-canvas.xw-crisp { image-rendering: pixelated; image-rendering: crisp-edges; image-rendering: pixelated; }
.xw-heatmap-overlay .xw-stage > canvas.xw-canvas.xw-smooth { image-rendering: auto; }
.xw-heatmap-overlay .xw-stage > canvas.xw-marker { position: absolute; left: 0; top: 0; pointer-events: none; }
.xw-heatmap-overlay .xw-caption, .xw-heatmap-overlay .xw-row-label, .xw-heatmap-overlay .xw-heading, .xw-heatmap-overlay .xw-note {
  color: var(--xw-fg2); font-size: 0.92em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 0;
}
.xw-heatmap-overlay .xw-heading { color: var(--xw-fg); margin: 0 0 6px; }
.xw-heatmap-overlay .xw-note { white-space: normal; margin: 0 0 6px; }
.xw-heatmap-overlay .xw-grid-scroll { max-width: 100%; overflow-x: auto; }
.xw-heatmap-overlay .xw-grid { display: grid; gap: 4px 12px; align-items: end; justify-content: start; }
.xw-heatmap-overlay .xw-grid .xw-title { align-self: end; }
.xw-heatmap-overlay .xw-row-label { grid-column: 1 / -1; color: var(--xw-fg); font-weight: 600; margin-top: 6px; }
.xw-heatmap-overlay .xw-row-label.xw-current::before { content: "▸ "; }
.xw-heatmap-overlay .xw-colorbar-shared { max-width: 100%; }
.xw-heatmap-overlay .xw-status { min-width: 0; overflow-wrap: anywhere; }
`;

export function injectHeatmapStyle(doc: Document = document): void {
  if (doc.getElementById(STYLE_ID)) return;
  const style = doc.createElement("style");
  style.id = STYLE_ID;
  style.textContent = CSS;
  (doc.head || doc.documentElement).appendChild(style);
}
