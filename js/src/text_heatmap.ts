/**
 * TextHeatmap view: tokens coloured by attribution, one row per method.
 *
 * Each shown token is a column with one cell per method, so a token sits at
 * the same x in every row; columns flow into lines that fit the output's
 * width (text/layout.ts), each line a grid whose first track holds the method
 * names. Padding (the attention mask's zeros) is not drawn; `token` keeps the
 * original positions. Hover shows every method's value, click pins a token
 * (synced `token`). Token text is black or white by contrast with the colour
 * actually painted (text/colors.ts), recomputed on theme switches.
 * Tokens reach the DOM only through textContent.
 */
import { COLORMAPS, isColormap } from "./lib/colormaps";
import { drawColorbar, hiDpi } from "./lib/canvas";
import { decodeArray, type ArrayMeta } from "./lib/decode";
import { fillSelect, h, labelled, select } from "./lib/dom";
import { listen, type RenderProps } from "./lib/model";
import { SIGNS, formatValue, type SignMode } from "./lib/scale";
import { injectStyle, parseColor, resolvedColors } from "./lib/theme";
import { Tooltip } from "./lib/tooltip";
import { FLAG_CONTINUATION, FLAG_PADDING, FLAG_SPECIAL, rgbCss, tokenColors } from "./text/colors";
import { rowScales, sampleData, shownSum, type SampleData } from "./text/data";
import { exportTokens } from "./text/export";
import { breakLines, gutterWidth } from "./text/layout";
import { injectTextStyle } from "./text/style";
import { watchTheme } from "./lib/theme_watch";

export { FLAG_CONTINUATION, FLAG_PADDING, FLAG_SPECIAL, tokenColors };

const SIGN_LABELS: [string, string][] = [
  ["all", "all (signed)"],
  ["positive", "positive"],
  ["negative", "negative"],
  ["absolute", "absolute"],
];
const BAR_W = 220;
const BAR_H = 28;

interface Built {
  key: string;
  data: SampleData;
  /** cells[k][m]: shown token k (original position data.shown[k]), method m */
  cells: HTMLSpanElement[][];
  labels: string[];
  /** natural width of each shown token's cell (0 until measured) */
  widths: number[];
  labelWidths: number[];
  measured: boolean;
  laidOutFor: number;
}

function render({ model, el }: RenderProps): () => void {
  injectStyle();
  injectTextStyle();
  const ac = new AbortController();
  const on = { signal: ac.signal };
  const root = h("div", { class: "xw-root xw-text-heatmap" });
  el.appendChild(root);

  const sampleSel = select("xw-sample", [], "0");
  const cmapSel = select("xw-colormap", COLORMAPS, String(model.get("colormap")));
  const signSel = select("xw-sign", SIGN_LABELS, String(model.get("sign")));
  const sharedBox = h("input", { class: "xw-shared", attrs: { type: "checkbox" } });
  const sharedCtl = labelled("Shared scale", sharedBox);
  const download = h("button", { class: "xw-download", text: "⤓ PNG", title: "Download as PNG", attrs: { type: "button" } });
  const title = h("div", { class: "xw-title" });
  const toolbar = h("div", { class: "xw-toolbar" }, [
    title,
    labelled("Sample", sampleSel),
    labelled("Colormap", cmapSel),
    labelled("Sign", signSel),
    sharedCtl,
    h("span", { class: "xw-spacer" }),
    download,
  ]);
  const caption = h("div", { class: "xw-caption" });
  const tokensEl = h("div", { class: "xw-tokens" });
  const bars = h("div", { class: "xw-bars" });
  const status = h("div", { class: "xw-status" });
  root.append(toolbar, caption, tokensEl, h("div", { class: "xw-footer" }, [bars, status]));
  const tooltip = new Tooltip(root);

  let valuesBuf: unknown = null;
  let decoded: Float32Array = new Float32Array(0);
  let built: Built | null = null;
  let vmaxes: number[] = [];
  let drawnBg = "";
  let labelsKey = "";

  const methods = (): string[] => {
    const m: unknown = model.get("methods");
    return Array.isArray(m) && m.length ? m.map(String) : [String(model.get("method") ?? "")];
  };

  function current(): SampleData | null {
    const meta: ArrayMeta | null = model.get("_values_meta");
    if (!meta || !meta.shape) return null;
    const buf = model.get("_values");
    if (buf !== valuesBuf) {
      valuesBuf = buf;
      decoded = decodeArray(buf, meta);
    }
    return sampleData(
      meta,
      decoded,
      Number(model.get("sample")) || 0,
      model.get("_tokens") || [],
      model.get("_display") || [],
      model.get("_flags") || [],
    );
  }

  function opts() {
    const cm = String(model.get("colormap"));
    return {
      colormap: isColormap(cm) ? cm : "coolwarm",
      sign: (SIGNS.includes(model.get("sign")) ? model.get("sign") : "all") as SignMode,
      clip: Number(model.get("clip_percentile")) || 100,
      shared: Boolean(model.get("shared_scale")),
    };
  }

  // ---------------------------------------------------------------- build
  function build(d: SampleData, key: string): Built {
    const names = methods();
    const M = d.values.length;
    const labels = Array.from({ length: M }, (_, m) => names[m] ?? `method ${m}`);
    const cells = d.shown.map((i) => {
      const f = d.flags[i] || 0;
      let cls = "xw-token";
      if (f & FLAG_CONTINUATION) cls += " xw-cont";
      if (f & FLAG_SPECIAL) cls += " xw-special";
      return labels.map((_, m) => {
        const s = h("span", { class: cls, attrs: { "data-i": String(i), "data-m": String(m) } });
        s.textContent = d.display[i] ?? d.tokens[i] ?? ""; // text only — never innerHTML
        return s;
      });
    });
    return { key, data: d, cells, labels, widths: cells.map(() => 0), labelWidths: labels.map(() => 0), measured: false, laidOutFor: -1 };
  }

  /** Natural widths of the cells and labels, measured unwrapped in the page's fonts. */
  function measure(b: Built): void {
    const probe = h("div", { class: "xw-measure" });
    for (const c of b.cells) probe.appendChild(c[0]);
    const labelEls = b.labels.map((t) => h("span", { class: "xw-rowlabel", text: t }));
    if (b.labels.length > 1) for (const l of labelEls) probe.appendChild(l);
    tokensEl.appendChild(probe);
    b.widths = b.cells.map((c) => Math.ceil(c[0].getBoundingClientRect().width));
    b.labelWidths = b.labels.length > 1 ? labelEls.map((l) => Math.ceil(l.getBoundingClientRect().width)) : [];
    probe.remove();
    b.measured = b.widths.length === 0 || b.widths.some((w) => w > 0);
  }

  function layout(force = false): void {
    const b = built;
    if (!b) return;
    const W = Math.floor(tokensEl.clientWidth);
    if (!W) return; // not displayed yet; the ResizeObserver calls again
    if (!b.measured) measure(b);
    if (!b.measured || (!force && b.laidOutFor === W)) return;
    b.laidOutFor = W;
    const M = b.labels.length;
    const gutter = M > 1 ? gutterWidth(b.labelWidths, W) : 0;
    const joins = b.data.shown.map((i) => ((b.data.flags[i] || 0) & FLAG_CONTINUATION) !== 0);
    const lines = breakLines(b.widths, joins, W - gutter);
    const frag = document.createDocumentFragment();
    const captions = classCaptions();
    for (const line of lines) {
      const ln = h("div", { class: "xw-tline" });
      ln.style.gridTemplateColumns = (gutter ? `${gutter}px ` : "") + line.tracks.map((t) => `${t}px`).join(" ");
      if (gutter) {
        b.labels.forEach((name, m) => {
          const lab = h("span", { class: "xw-rowlabel", text: name, title: captions[m] ? `${name}: ${captions[m]}` : name });
          lab.style.gridRow = String(m + 1);
          lab.style.gridColumn = "1";
          ln.appendChild(lab);
        });
      }
      line.cols.forEach((k, c) => {
        b.cells[k].forEach((cell, m) => {
          cell.style.gridRow = String(m + 1);
          cell.style.gridColumn = String(c + (gutter ? 2 : 1));
          cell.style.marginLeft = `${line.gaps[c]}px`;
          ln.appendChild(cell);
        });
      });
      frag.appendChild(ln);
    }
    while (tokensEl.firstChild) tokensEl.removeChild(tokensEl.firstChild);
    tokensEl.classList.toggle("xw-multi", M > 1);
    tokensEl.appendChild(frag);
    markPinned();
    // ready once the tokens are in the page, not merely built
    root.setAttribute("data-xw-ready", "1");
  }

  // ----------------------------------------------------------------- draw
  function classCaptions(): string[] {
    const all: unknown = model.get("_captions");
    const s = Number(model.get("sample")) || 0;
    return Array.isArray(all) && Array.isArray(all[s]) ? all[s].map(String) : [];
  }

  function drawCaption(): void {
    const caps = classCaptions();
    const names = methods();
    const some = caps.filter((c) => c);
    if (!some.length) caption.textContent = "";
    else if (caps.every((c) => c === caps[0])) caption.textContent = `Explains: ${caps[0]}`;
    else caption.textContent = caps.map((c, m) => `${names[m] ?? m}: ${c || "?"}`).join(" · ");
  }

  function syncSelects(): void {
    const n = Number(model.get("n_samples")) || 1;
    const labels: string[] = model.get("_sample_labels") || [];
    const key = `${n}|${labels.join("\u0000")}`;
    if (key !== labelsKey) {
      labelsKey = key;
      fillSelect(sampleSel, Array.from({ length: n }, (_, i) => [String(i), labels[i] ?? String(i)] as [string, string]), String(model.get("sample") ?? 0));
    }
    sampleSel.value = String(model.get("sample") ?? 0);
  }

  function colorCells(b: Built, vm: number[], o: ReturnType<typeof opts>, bg: [number, number, number]): void {
    b.cells.forEach((col, k) => {
      const i = b.data.shown[k];
      const special = ((b.data.flags[i] || 0) & FLAG_SPECIAL) !== 0;
      col.forEach((cell, m) => {
        // always explicit: the text follows the colour actually painted behind it
        const c = tokenColors(b.data.values[m][i], o.sign, vm[m], o.colormap, bg, special);
        cell.style.backgroundColor = rgbCss(c.background);
        cell.style.color = rgbCss(c.text);
      });
    });
  }

  function drawBars(vm: number[], o: ReturnType<typeof opts>, colors: ReturnType<typeof resolvedColors>): void {
    const names = methods();
    const one = vm.length <= 1 || o.shared;
    const want = one ? 1 : vm.length;
    while (bars.children.length > want) bars.lastChild?.remove();
    while (bars.children.length < want) bars.appendChild(h("div", { class: "xw-bar" }, [h("span", { class: "xw-bar-label" }), h("canvas", { class: "xw-colorbar" })]));
    const width = Math.max(120, Math.min(BAR_W, Math.floor(root.clientWidth - 24) || BAR_W));
    Array.from(bars.children).forEach((bar, k) => {
      const label = bar.firstChild as HTMLSpanElement;
      label.textContent = one ? "" : names[k] ?? "";
      label.style.display = one ? "none" : "";
      const canvas = bar.lastChild as HTMLCanvasElement;
      const ctx = hiDpi(canvas, width, BAR_H);
      if (!ctx) return;
      ctx.clearRect(0, 0, width, BAR_H);
      // 3 px margins: tick labels at the ends must not touch the canvas edge
      drawColorbar(ctx, 3, 2, width - 6, o.colormap, o.sign, vm[one ? 0 : k] ?? 1, { color: colors.fg, border: colors.border, font: `11px ${colors.font}` });
    });
  }

  function pinned(): number | null {
    const t = model.get("token");
    return typeof t === "number" && Number.isInteger(t) ? t : null;
  }

  function markPinned(): void {
    const p = pinned();
    if (!built) return;
    built.cells.forEach((col, k) => {
      const on = built!.data.shown[k] === p;
      for (const c of col) c.classList.toggle("xw-pinned", on);
    });
  }

  function drawStatus(): void {
    const b = built;
    if (!b) return;
    const d = b.data;
    const names = methods();
    while (status.firstChild) status.removeChild(status.firstChild);
    const p = pinned();
    const M = d.values.length;
    if (p !== null && p < d.tokens.length && d.shown.includes(p)) {
      status.append("Pinned ", h("b", { text: `#${p} ${JSON.stringify(d.tokens[p])}` }));
      if (M === 1) status.append(" = ", h("b", { text: formatValue(d.values[0][p]) }));
      else d.values.forEach((v, m) => status.append(` · ${names[m] ?? m} `, h("b", { text: formatValue(v[p]) })));
    } else {
      const hidden = d.tokens.length - d.shown.length;
      status.append(`${d.shown.length} tokens` + (hidden ? ` (${hidden} padding hidden)` : "") + " · click one to pin it");
    }
    if (M === 1) status.append(" · sum ", h("b", { text: formatValue(shownSum(d.values[0], d.shown)) }));
  }

  function draw(): void {
    const o = opts();
    cmapSel.value = o.colormap;
    signSel.value = o.sign;
    syncSelects();
    const names = methods();
    const multi = names.length > 1;
    sharedCtl.style.display = multi ? "" : "none";
    sharedBox.checked = o.shared;
    title.textContent = multi ? "" : names[0] ?? "";
    title.style.display = title.textContent ? "" : "none";
    drawCaption();
    const d = current();
    if (!d) {
      status.textContent = `Loading sample ${model.get("sample")}…`;
      return;
    }
    const key = `${d.sample}|${d.values.length}|${d.tokens.length}|${d.shown.join(",")}|${(d.display || []).join("\u0000")}`;
    if (!built || built.key !== key) {
      built = build(d, key);
      layout(true);
    } else {
      built.data = d; // same tokens, new values
    }
    vmaxes = rowScales(d, o.sign, o.clip, o.shared);
    const colors = resolvedColors(root);
    const bg = parseColor(colors.bg) ?? [255, 255, 255];
    drawnBg = colors.bg;
    colorCells(built, vmaxes, o, bg);
    drawBars(vmaxes, o, colors);
    markPinned();
    drawStatus();
    if (built.laidOutFor >= 0) root.setAttribute("data-xw-ready", "1");
  }

  // --------------------------------------------------------------- events
  function cellOf(target: EventTarget | null): { i: number; m: number } | null {
    const s = target instanceof Element ? target.closest(".xw-token") : null;
    if (!s || !tokensEl.contains(s)) return null;
    const i = Number(s.getAttribute("data-i"));
    const m = Number(s.getAttribute("data-m"));
    return Number.isInteger(i) ? { i, m: Number.isInteger(m) ? m : 0 } : null;
  }

  tokensEl.addEventListener(
    "mousemove",
    (e) => {
      const c = cellOf(e.target);
      const d = built?.data;
      if (!c || !d) return tooltip.hide();
      const names = methods();
      const rows: [string, string][] = [["index", String(c.i)]];
      if (d.values.length === 1) {
        rows.push(["value", formatValue(d.values[0][c.i])], ["scale ±", formatValue(vmaxes[0] ?? 1)]);
      } else {
        d.values.forEach((v, m) => rows.push([names[m] ?? String(m), formatValue(v[c.i])]));
        if (opts().shared) rows.push(["scale ±", formatValue(vmaxes[0] ?? 1)]);
      }
      tooltip.show(e.clientX, e.clientY, rows, d.tokens[c.i]);
    },
    on,
  );
  tokensEl.addEventListener("mouseleave", () => tooltip.hide(), on);
  tokensEl.addEventListener(
    "click",
    (e) => {
      const c = cellOf(e.target);
      if (!c) return;
      model.set("token", pinned() === c.i ? null : c.i);
      model.save_changes();
    },
    on,
  );
  const setAndSave = (k: string, v: unknown) => {
    model.set(k, v);
    model.save_changes();
  };
  cmapSel.addEventListener("change", () => setAndSave("colormap", cmapSel.value), on);
  signSel.addEventListener("change", () => setAndSave("sign", signSel.value), on);
  sampleSel.addEventListener("change", () => setAndSave("sample", Number(sampleSel.value)), on);
  sharedBox.addEventListener("change", () => setAndSave("shared_scale", sharedBox.checked), on);
  download.addEventListener(
    "click",
    () => {
      const o = opts();
      const colors = resolvedColors(root);
      const names = methods();
      const one = vmaxes.length <= 1 || o.shared;
      exportTokens(tokensEl, {
        title: title.textContent || (names.length > 1 ? names.join(" · ") : "attribution"),
        caption: caption.textContent || "",
        colormap: o.colormap,
        sign: o.sign,
        bars: one ? [{ label: "", vmax: vmaxes[0] ?? 1 }] : vmaxes.map((v, m) => ({ label: names[m] ?? "", vmax: v })),
        colors,
      });
    },
    on,
  );

  const unlisten = listen(
    model,
    ["colormap", "sign", "clip_percentile", "shared_scale", "sample", "_values", "_values_meta", "_tokens", "_display", "_flags", "method", "methods", "_sample_labels", "_captions", "n_samples"],
    draw,
  );
  const onToken = () => {
    markPinned();
    drawStatus();
  };
  model.on("change:token", onToken);

  // the line breaks follow the output's width
  let frame = 0;
  const ro =
    typeof ResizeObserver !== "undefined"
      ? new ResizeObserver(() => {
          cancelAnimationFrame(frame);
          frame = requestAnimationFrame(() => {
            layout();
            if (built) drawBars(vmaxes, opts(), resolvedColors(root));
          });
        })
      : null;
  ro?.observe(tokensEl);
  // token colours are blended over the page background: follow theme switches
  const unwatch = watchTheme(() => {
    if (resolvedColors(root).bg !== drawnBg) draw();
  });
  // fonts arriving late change the natural widths
  document.fonts?.ready.then(() => {
    if (built && !ac.signal.aborted) {
      built.measured = false;
      layout(true);
    }
  });
  draw();

  return () => {
    ac.abort();
    ro?.disconnect();
    cancelAnimationFrame(frame);
    unwatch();
    unlisten();
    model.off("change:token", onToken);
    root.remove();
  };
}

export default { render };
export { render };
