/**
 * The tokens view (bertviz-style head view): query tokens left, key tokens
 * right, joined by lines whose alpha follows the weight. Hovering a token
 * keeps only its lines and tints the other column by its weights; clicking a
 * query token pins it. Long sequences show a window of WINDOW tokens around
 * the pinned token or the current search match.
 */
import { hiDpi } from "../lib/canvas";
import { h } from "../lib/dom";
import { parseColor } from "../lib/theme";
import { fitText } from "../lib/zoom";
import { LABEL_FONT, colors, dpr, type Colors, type ViewContext } from "./context";
import { isMasked, type Focus } from "./state";

export const ROW = 20; // token row height
export const WINDOW = 256; // tokens shown at once
const LINES_W = 200; // widest the lines between the columns get
const LINES_MIN = 72;

/** The [lo, hi) window of `n` tokens shown around `anchor`. */
export function tokenWindow(n: number, anchor: number | null, size = WINDOW): [number, number] {
  if (n <= size) return [0, n];
  const a = anchor ?? 0;
  const lo = Math.max(0, Math.min(n - size, a - size / 2));
  return [lo, lo + size];
}

export class TokensView {
  readonly pane: HTMLDivElement;
  private tokView: HTMLDivElement;
  private leftCol: HTMLDivElement;
  private rightCol: HTMLDivElement;
  private lines: HTMLCanvasElement;
  private note: HTMLDivElement;
  private built = "";
  private builtFrom: [string[], string[]] | null = null;
  private range: { q: [number, number]; k: [number, number] } = { q: [0, 0], k: [0, 0] };
  private linesW = LINES_W;

  constructor(private ctx: ViewContext) {
    this.pane = h("div", { class: "xw-pane xw-tokens-pane" });
    this.tokView = h("div", { class: "xw-tokview" });
    this.leftCol = h("div", { class: "xw-tokcol xw-left" });
    this.lines = h("canvas", { class: "xw-lines" });
    this.rightCol = h("div", { class: "xw-tokcol xw-right" });
    this.note = h("div", { class: "xw-loading-note" });
    this.tokView.append(this.leftCol, this.lines, this.rightCol);
    this.pane.append(this.tokView, this.note);
    this.listen();
  }

  /** Rebuild the columns at the next draw (the window's anchor moved). */
  invalidate(): void {
    this.built = "";
  }

  /** Move the window to token `m` and scroll it into view (search). */
  scrollTo(m: number): void {
    this.invalidate();
    this.build();
    const el = this.leftCol.querySelector(`[data-index="${m}"]`) as HTMLElement | null;
    if (el && el.scrollIntoView) el.scrollIntoView({ block: "center" });
  }

  private build(): void {
    const { state } = this.ctx;
    const qt = state.queryTokens();
    const kt = state.keyTokens();
    const tok = state.token();
    const anchor = tok ?? (state.matches.length ? state.matches[state.matchPos % state.matches.length] : null);
    const q = tokenWindow(qt.length, anchor);
    const k = qt.length === kt.length ? q : tokenWindow(kt.length, anchor);
    const sig = `${q}|${k}|${qt.length}|${kt.length}`;
    // a new sample brings new tokens of the same count: rebuild too
    const same = this.builtFrom && this.builtFrom[0] === qt && this.builtFrom[1] === kt;
    if (sig === this.built && same) return;
    this.built = sig;
    this.builtFrom = [qt, kt];
    this.range = { q, k };
    const fill = (col: HTMLDivElement, toks: string[], [lo, hi]: [number, number], side: "q" | "k") => {
      while (col.firstChild) col.removeChild(col.firstChild);
      for (let i = lo; i < hi; i++) {
        const t = h("div", { class: `xw-token ${side === "q" ? "xw-query" : "xw-key"}`, text: toks[i], attrs: { "data-index": String(i) } });
        t.title = `#${i} ${toks[i]}`;
        col.appendChild(t);
      }
    };
    fill(this.leftCol, qt, q, "q");
    fill(this.rightCol, kt, k, "k");
    this.note.textContent =
      qt.length > WINDOW || kt.length > WINDOW
        ? `Showing tokens ${q[0]}–${q[1] - 1} of ${qt.length}: pin a token (matrix view) or search to move the window.`
        : "Hover a token to see its lines; click a query token (left) to pin it.";
    this.fitLines(true);
  }

  /**
   * The lines take what the two token columns leave of the output width
   * (narrow outputs: less than LINES_W), so the view never overflows.
   */
  private fitLines(force: boolean): void {
    const [q0, q1] = this.range.q;
    const [k0, k1] = this.range.k;
    const n = Math.max(q1 - q0, k1 - k0);
    const avail = (this.ctx.root.clientWidth || 800) - 24 - 10;
    const w = Math.max(LINES_MIN, Math.min(LINES_W, avail - this.leftCol.offsetWidth - this.rightCol.offsetWidth));
    if (!force && w === this.linesW && this.lines.height === Math.round(n * ROW * dpr())) return;
    this.linesW = w;
    const ctx = hiDpi(this.lines, w, n * ROW);
    if (ctx) ctx.clearRect(0, 0, w, n * ROW);
  }

  draw(col: Colors): void {
    const { state } = this.ctx;
    const d = state.current;
    if (!d) return;
    state.levels();
    this.build();
    const { table, vmax } = state;
    const accent = parseColor(col.accent) ?? [26, 115, 232];
    const [q0, q1] = this.range.q;
    const [k0, k1] = this.range.k;
    const n = Math.max(q1 - q0, k1 - k0);
    this.fitLines(false);
    const W = this.linesW;
    const ctx = this.lines.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr(), 0, 0, dpr(), 0, 0);
    ctx.clearRect(0, 0, W, n * ROW);
    const tok = state.token();
    const f: Focus | null = state.focus ?? (tok !== null ? { side: "q", index: tok } : null);
    const m = state.mask();
    // bucket lines by alpha (16 levels), one path per bucket
    const buckets: Path2D[] = Array.from({ length: 16 }, () => new Path2D());
    const used = new Uint8Array(16);
    let count = 0;
    for (let q = q0; q < q1; q++) {
      if (f && f.side === "q" && f.index !== q) continue;
      for (let k = k0; k < k1; k++) {
        if (f && f.side === "k" && f.index !== k) continue;
        const i = q * d.nk + k;
        if (isMasked(m, i)) continue;
        const a = Math.min(1, table[d.codes[i]] / vmax);
        if (a < 0.03) continue;
        const b = Math.min(15, Math.floor(a * 16));
        buckets[b].moveTo(0, (q - q0 + 0.5) * ROW);
        buckets[b].lineTo(W, (k - k0 + 0.5) * ROW);
        used[b] = 1;
        count++;
      }
    }
    ctx.lineWidth = f ? 2 : 1.2;
    for (let b = 0; b < 16; b++) {
      if (!used[b]) continue;
      ctx.strokeStyle = `rgba(${accent[0]}, ${accent[1]}, ${accent[2]}, ${((b + 1) / 16) * (f ? 1 : 0.8)})`;
      ctx.stroke(buckets[b]);
    }
    // token backgrounds: the focused token's weights
    const sameTokens = state.queryTokens() === state.keyTokens();
    const paint = (colEl: HTMLDivElement, lo: number, other: "q" | "k") => {
      const kids = colEl.children;
      for (let j = 0; j < kids.length; j++) {
        const el = kids[j] as HTMLElement;
        const idx = lo + j;
        let a = 0;
        if (f && f.side !== other) {
          const qi = other === "k" ? f.index : idx;
          const ki = other === "k" ? idx : f.index;
          if (qi < d.nq && ki < d.nk && !isMasked(m, qi * d.nk + ki)) a = Math.min(1, table[d.codes[qi * d.nk + ki]] / vmax);
        }
        el.style.backgroundColor = a > 0.01 ? `rgba(${accent[0]}, ${accent[1]}, ${accent[2]}, ${(a * 0.55).toFixed(3)})` : "";
        el.classList.toggle("xw-pinned", other === "q" && tok === idx);
        el.classList.toggle("xw-focus", !!f && f.side === other && f.index === idx);
        el.classList.toggle("xw-match", state.matches.includes(idx) && (other === "q" || !sameTokens));
      }
    };
    paint(this.leftCol, q0, "q");
    paint(this.rightCol, k0, "k");
    this.lines.setAttribute("data-lines", String(count));
  }

  private tokenAt(e: Event): Focus | null {
    const t = (e.target as HTMLElement | null)?.closest?.(".xw-token") as HTMLElement | null;
    if (!t || !this.tokView.contains(t)) return null;
    return { side: t.classList.contains("xw-query") ? "q" : "k", index: Number(t.getAttribute("data-index")) };
  }

  private listen(): void {
    const { state, on } = this.ctx;
    this.tokView.addEventListener("mouseover", (e) => {
      const f = this.tokenAt(e);
      if (!f || (state.focus && state.focus.side === f.side && state.focus.index === f.index)) return;
      state.focus = f;
      this.draw(colors(this.ctx.root));
    }, on);
    this.tokView.addEventListener("mouseleave", () => {
      state.focus = null;
      this.draw(colors(this.ctx.root));
    }, on);
    this.tokView.addEventListener("click", (e) => {
      const f = this.tokenAt(e);
      if (!f) return;
      const tok = state.token();
      if (f.side === "q" || state.queryTokens().length === state.keyTokens().length) state.set({ token: tok === f.index ? null : f.index });
    }, on);
  }

  /** The token view as one canvas (PNG export): both columns and the lines between them. */
  exportCanvas(col: Colors): HTMLCanvasElement {
    const { state } = this.ctx;
    const [q0, q1] = this.range.q;
    const [k0, k1] = this.range.k;
    const n = Math.max(q1 - q0, k1 - k0);
    const colW = 150;
    const k = dpr();
    const c = document.createElement("canvas");
    const W = this.linesW;
    c.width = (2 * colW + W) * k;
    c.height = n * ROW * k;
    const ctx = c.getContext("2d");
    if (!ctx) return c;
    ctx.scale(k, k);
    ctx.fillStyle = col.bg;
    ctx.fillRect(0, 0, 2 * colW + W, n * ROW);
    ctx.drawImage(this.lines, colW, 0, W, n * ROW);
    ctx.font = `${LABEL_FONT + 1}px ${col.font}`;
    ctx.textBaseline = "middle";
    ctx.fillStyle = col.fg;
    const measure = (s: string) => ctx.measureText(s).width;
    ctx.textAlign = "right";
    state.queryTokens().slice(q0, q1).forEach((t, i) => ctx.fillText(fitText(t, colW - 8, measure), colW - 4, (i + 0.5) * ROW));
    ctx.textAlign = "left";
    state.keyTokens().slice(k0, k1).forEach((t, i) => ctx.fillText(fitText(t, colW - 8, measure), colW + W + 4, (i + 0.5) * ROW));
    return c;
  }
}
