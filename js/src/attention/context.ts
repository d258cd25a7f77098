/** What every AttentionView pane is given: the model, shared state, the root element, and theme colours. */
import type { AnyModel } from "../lib/model";
import { resolvedColors } from "../lib/theme";
import type { Tooltip } from "../lib/tooltip";
import type { AttentionState } from "./state";

export interface Colors {
  fg: string;
  fg2: string;
  border: string;
  bg: string;
  font: string;
  accent: string;
}

export interface ViewContext {
  model: AnyModel;
  state: AttentionState;
  root: HTMLElement;
  tooltip: Tooltip;
  /** listener options carrying the view's AbortSignal (every listener goes when the view does) */
  on: AddEventListenerOptions;
  /** redraw everything for the current selection */
  draw(): void;
  /** refresh the status line (zoom, matches, pinned token) */
  updateStatus(): void;
  /** whether the ViT image pane is shown (it takes width from the others) */
  imageShown(): boolean;
}

export const LABEL_FONT = 11;

export function colors(root: HTMLElement): Colors {
  const c = resolvedColors(root);
  const accent = getComputedStyle(root).getPropertyValue("--xw-accent").trim() || "#1a73e8";
  return { ...c, accent };
}

export function dpr(): number {
  return Math.max(1, Math.min(3, window.devicePixelRatio || 1));
}

const STYLE_ID = "xw-attention-style-v1";
const CSS = `
.xw-attention-view .xw-main { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
.xw-attention-view .xw-pane { display: flex; flex-direction: column; gap: 6px; min-width: 0; max-width: 100%; }
.xw-attention-view canvas.xw-matrix { cursor: crosshair; touch-action: none; display: block; outline: none; image-rendering: auto; }
.xw-attention-view canvas.xw-matrix.xw-dragging { cursor: grabbing; }
.xw-attention-view canvas.xw-overview { cursor: pointer; display: block; }
.xw-attention-view .xw-overview-pane { overflow-x: auto; }
.xw-attention-view .xw-tools { display: inline-flex; align-items: center; gap: 6px; margin-left: auto; }
.xw-attention-view .xw-control .xw-value { margin-left: -2px; }
.xw-attention-view canvas.xw-image { cursor: crosshair; display: block; border-radius: 3px; }
.xw-attention-view .xw-loading-note { color: var(--xw-fg2); font-size: 0.92em; }
.xw-attention-view input.xw-search { font: inherit; color: var(--xw-fg); background: var(--xw-bg); border: 1px solid var(--xw-border);
  border-radius: 4px; padding: 2px 6px; height: 24px; width: 130px; }
.xw-attention-view input.xw-search.xw-nomatch { border-color: #d9534f; }
.xw-attention-view .xw-tokview { display: flex; align-items: flex-start; max-height: 560px; overflow: auto; padding-right: 4px;
  border: 1px solid var(--xw-border2); border-radius: 4px; }
.xw-attention-view .xw-tokcol { display: flex; flex-direction: column; min-width: 40px; max-width: 170px; }
.xw-attention-view .xw-tokcol.xw-left { align-items: flex-end; }
.xw-attention-view .xw-tokcol .xw-token { height: 20px; line-height: 18px; margin: 0; padding: 0 5px; max-width: 170px;
  overflow: hidden; text-overflow: ellipsis; font-family: var(--xw-mono); font-size: 0.92em; }
.xw-attention-view .xw-token.xw-match { outline: 2px solid #f0ad4e; outline-offset: -2px; }
.xw-attention-view .xw-token.xw-focus { border-color: var(--xw-accent); }
.xw-attention-view canvas.xw-lines { display: block; flex: 0 0 auto; pointer-events: none; }
.xw-attention-view .xw-prefixes { display: flex; flex-wrap: wrap; gap: 4px; }
.xw-attention-view .xw-prefixes button.xw-active { border-color: var(--xw-accent); box-shadow: 0 0 0 1px var(--xw-accent); }
.xw-attention-view .xw-missing-note, .xw-attention-view .xw-overview-note { color: var(--xw-fg); padding: 16px 4px; max-width: 60ch; }
.xw-attention-view .xw-embed-note { color: var(--xw-fg2); font-size: 0.92em; }
.xw-attention-view .xw-pane-title { font-weight: 600; font-size: 0.92em; color: var(--xw-fg); }
`;

/** Insert AttentionView's own <style> once per document. */
export function injectAttentionStyle(): void {
  if (document.getElementById(STYLE_ID)) return;
  const st = document.createElement("style");
  st.id = STYLE_ID;
  st.textContent = CSS;
  (document.head || document.documentElement).appendChild(st);
}
