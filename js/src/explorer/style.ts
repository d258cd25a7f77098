/** Explorer-specific styles (on top of lib/theme.ts); colours from the --xw-* variables only. */
const STYLE_ID = "xw-explorer-style-v1";

export const EXPLORER_CSS = `
.xw-explorer .xw-row { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 12px; min-width: 0; }
.xw-explorer .xw-controls { padding: 0 0 8px; margin-bottom: 8px; border-bottom: 1px solid var(--xw-border2); display: flex; flex-direction: column; gap: 6px; }
.xw-explorer select { max-width: 100%; min-width: 0; }
.xw-explorer .xw-control { min-width: 0; max-width: 100%; }
.xw-explorer .xw-class { max-width: min(260px, 60vw); }
.xw-explorer .xw-search { font: inherit; color: var(--xw-fg); background: var(--xw-bg); border: 1px solid var(--xw-border); border-radius: 4px; padding: 2px 6px; height: 24px; width: 140px; max-width: 100%; }
.xw-explorer .xw-matches { display: flex; flex-wrap: wrap; gap: 4px; }
.xw-explorer .xw-matches:empty { display: none; }
.xw-explorer .xw-match { height: 22px; font-size: 0.92em; }
.xw-explorer .xw-progress { display: inline-block; width: 90px; height: 8px; border: 1px solid var(--xw-border); border-radius: 4px; overflow: hidden; background: var(--xw-bg2); }
.xw-explorer .xw-progress > div { height: 100%; width: 0%; background: var(--xw-accent); }
.xw-explorer .xw-state { color: var(--xw-fg); font-size: 0.92em; }
.xw-explorer .xw-error { color: var(--xw-fg); border-left: 3px solid #d33; padding: 4px 8px; background: var(--xw-bg2); white-space: pre-wrap; overflow-wrap: anywhere; }
.xw-explorer .xw-error:empty { display: none; }
.xw-explorer .xw-note { color: var(--xw-fg2); font-size: 0.92em; overflow-wrap: anywhere; }
.xw-explorer .xw-main.xw-busy { opacity: 0.55; }
.xw-explorer .xw-pins { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 10px; }
.xw-explorer .xw-pins:empty { display: none; }
.xw-explorer .xw-pin { display: flex; flex-direction: column; gap: 4px; min-width: 0; max-width: 100%; border-top: 1px solid var(--xw-border2); padding-top: 6px; }
.xw-explorer .xw-pin-head { display: flex; gap: 6px; align-items: center; min-width: 0; }
.xw-explorer .xw-pin-head .xw-title { flex: 1 1 auto; font-weight: 400; font-size: 0.92em; }
.xw-explorer .xw-unpin { height: 20px; padding: 0 6px; }
.xw-explorer .xw-ex-tokens { line-height: 1.95; overflow-wrap: anywhere; }
.xw-explorer .xw-ex-tok { display: inline-block; padding: 1px 3px; margin: 1px 0 1px 4px; border-radius: 3px; white-space: pre; line-height: 1.35; }
.xw-explorer .xw-ex-tok.xw-cont { margin-left: 0; }
.xw-explorer .xw-ex-tok.xw-special { font-family: var(--xw-mono); font-size: 0.85em; }
.xw-explorer .xw-unavail { color: var(--xw-fg2); font-size: 0.92em; }
.xw-explorer .xw-main-title { white-space: normal; overflow-wrap: anywhere; }
.xw-explorer .xw-trust { display: flex; flex-direction: column; gap: 4px; margin-top: 8px; padding-top: 6px; border-top: 1px solid var(--xw-border2); min-width: 0; }
.xw-explorer .xw-trust-line { color: var(--xw-fg); font-size: 0.92em; overflow-wrap: anywhere; }
.xw-explorer .xw-trust-line:empty { display: none; }
.xw-explorer .xw-trust-rows { display: flex; flex-direction: column; gap: 4px; }
.xw-explorer .xw-trust-row { display: flex; gap: 8px; align-items: center; min-width: 0; }
.xw-explorer .xw-trust-text { color: var(--xw-fg); font-size: 0.92em; min-width: 0; overflow-wrap: anywhere; }
.xw-explorer .xw-trust-curve { flex: none; }
`;

export function injectExplorerStyle(doc: Document = document): void {
  if (doc.getElementById(STYLE_ID)) return;
  const style = doc.createElement("style");
  style.id = STYLE_ID;
  style.textContent = EXPLORER_CSS;
  (doc.head || doc.documentElement).appendChild(style);
}
