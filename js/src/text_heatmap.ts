/**
 * TextHeatmap view: tokens coloured by attribution (symmetric diverging scale
 * by default), hover readout, click to pin a token (synced `token`), sample
 * selector, sign / colormap controls and PNG download.
 * Tokens reach the DOM only through textContent.
 */
import { COLORMAPS, isColormap } from "./lib/colormaps";
import { drawColorbar, hiDpi } from "./lib/canvas";
import { decodeArray, type ArrayMeta } from "./lib/decode";
import { h, labelled, select } from "./lib/dom";
import { downloadCanvas } from "./lib/download";
import { listen, type RenderProps } from "./lib/model";
import { SIGNS, formatValue, scaleMax, type SignMode } from "./lib/scale";
import { injectStyle, parseColor, resolvedColors } from "./lib/theme";
import { Tooltip } from "./lib/tooltip";
import { FLAG_CONTINUATION, FLAG_SPECIAL, rgbCss, tokenColors } from "./text/colors";
import { injectTextStyle } from "./text/style";
import { watchTheme } from "./text/theme_watch";

export { FLAG_CONTINUATION, FLAG_SPECIAL, tokenColors };

const SIGN_LABELS: [string, string][] = [
  ["all", "all (signed)"],
  ["positive", "positive"],
  ["negative", "negative"],
  ["absolute", "absolute"],
];

interface Row {
  tokens: string[];
  display: string[];
  flags: number[];
  values: Float32Array;
}

function render({ model, el }: RenderProps): () => void {
  injectStyle();
  injectTextStyle();
  const ac = new AbortController();
  const on = { signal: ac.signal };
  const root = h("div", { class: "xw-root xw-text-heatmap" });
  el.appendChild(root);

  const nSamples = Number(model.get("n_samples")) || 1;
  const labels: string[] = model.get("_sample_labels") || [];
  const sampleSel =
    nSamples > 1
      ? select(
          "xw-sample",
          Array.from({ length: nSamples }, (_, i) => [String(i), labels[i] ?? String(i)] as [string, string]),
          String(model.get("sample") ?? 0),
        )
      : null;
  const cmapSel = select("xw-colormap", COLORMAPS, String(model.get("colormap")));
  const signSel = select("xw-sign", SIGN_LABELS, String(model.get("sign")));
  const download = h("button", { class: "xw-download", text: "⤓ PNG", title: "Download as PNG", attrs: { type: "button" } });
  const title = h("div", { class: "xw-title" });
  const toolbar = h("div", { class: "xw-toolbar" }, [
    title,
    sampleSel ? labelled("Sample", sampleSel) : null,
    labelled("Colormap", cmapSel),
    labelled("Sign", signSel),
    h("span", { class: "xw-spacer" }),
    download,
  ]);
  const tokensEl = h("div", { class: "xw-tokens" });
  const colorbar = h("canvas", { class: "xw-colorbar" });
  const status = h("div", { class: "xw-status" });
  root.append(toolbar, tokensEl, h("div", { class: "xw-footer" }, [colorbar, status]));
  const tooltip = new Tooltip(root);

  let spans: HTMLSpanElement[] = [];
  let valuesBuf: unknown = null;
  let decoded: Float32Array = new Float32Array(0);
  let builtFor = "";
  let vmax = 1;
  let drawnBg = "";

  function row(): Row | null {
    const meta: ArrayMeta | null = model.get("_values_meta");
    if (!meta) return null;
    const buf = model.get("_values");
    if (buf !== valuesBuf) {
      valuesBuf = buf;
      decoded = decodeArray(buf, meta);
    }
    const s = Number(model.get("sample")) || 0;
    const samples = meta.samples ?? Array.from({ length: meta.shape[0] }, (_, i) => i);
    const pos = samples.indexOf(s);
    if (pos < 0) return null;
    const T = meta.shape[1];
    const tokens: string[] = (model.get("_tokens") || [])[pos] || [];
    const display: string[] = (model.get("_display") || [])[pos] || tokens;
    const flags: number[] = (model.get("_flags") || [])[pos] || [];
    const values = decoded.subarray(pos * T, (pos + 1) * T);
    return { tokens, display, flags, values };
  }

  function opts() {
    const cm = String(model.get("colormap"));
    return {
      colormap: isColormap(cm) ? cm : "coolwarm",
      sign: (SIGNS.includes(model.get("sign")) ? model.get("sign") : "all") as SignMode,
      clip: Number(model.get("clip_percentile")) || 100,
    };
  }

  function build(r: Row): void {
    while (tokensEl.firstChild) tokensEl.removeChild(tokensEl.firstChild);
    spans = r.display.map((text, i) => {
      const f = r.flags[i] || 0;
      let cls = "xw-token";
      if (f & FLAG_CONTINUATION) cls += " xw-cont";
      if (f & FLAG_SPECIAL) cls += " xw-special";
      const s = h("span", { class: cls, attrs: { "data-i": String(i) } });
      s.textContent = text; // text only — never innerHTML
      tokensEl.appendChild(s);
      return s;
    });
  }

  function pinned(): number | null {
    const t = model.get("token");
    return typeof t === "number" && Number.isInteger(t) ? t : null;
  }

  function updatePinned(r: Row): void {
    const p = pinned();
    spans.forEach((s, i) => s.classList.toggle("xw-pinned", i === p));
    while (status.firstChild) status.removeChild(status.firstChild);
    let sum = 0;
    for (const v of r.values) if (Number.isFinite(v)) sum += v;
    if (p !== null && p < r.tokens.length) {
      status.append("Pinned ", h("b", { text: `#${p} ${JSON.stringify(r.tokens[p])}` }), " = ", h("b", { text: formatValue(r.values[p]) }));
    } else {
      status.append(`${r.tokens.length} tokens · click one to pin it`);
    }
    status.append(" · sum ", h("b", { text: formatValue(sum) }));
  }

  function draw(): void {
    const o = opts();
    cmapSel.value = o.colormap;
    signSel.value = o.sign;
    if (sampleSel) sampleSel.value = String(model.get("sample"));
    title.textContent = String(model.get("method") ?? "");
    title.style.display = title.textContent ? "" : "none";
    const r = row();
    if (!r) {
      status.textContent = `Loading sample ${model.get("sample")}…`;
      return;
    }
    const key = `${model.get("sample")}|${r.tokens.length}|${String(valuesBuf === null ? "" : "b")}`;
    if (key !== builtFor || spans.length !== r.tokens.length || !spans.every((s) => s.isConnected)) {
      build(r);
      builtFor = key;
    }
    vmax = scaleMax([r.values], o.sign, o.clip);
    const colors = resolvedColors(root);
    const bg = parseColor(colors.bg) ?? [255, 255, 255];
    drawnBg = colors.bg;
    spans.forEach((s, i) => {
      // always explicit: the text follows the colour actually painted behind it
      const c = tokenColors(r.values[i], o.sign, vmax, o.colormap, bg, ((r.flags[i] || 0) & FLAG_SPECIAL) !== 0);
      s.style.backgroundColor = rgbCss(c.background);
      s.style.color = rgbCss(c.text);
    });
    const ctx = hiDpi(colorbar, 220, 28);
    if (ctx) {
      ctx.clearRect(0, 0, 220, 28);
      drawColorbar(ctx, 0, 2, 220, o.colormap, o.sign, vmax, { color: colors.fg, border: colors.border, font: `11px ${colors.font}` });
    }
    updatePinned(r);
    root.setAttribute("data-xw-ready", "1");
  }

  function indexOf(target: EventTarget | null): number | null {
    const s = target instanceof Element ? target.closest(".xw-token") : null;
    if (!s || !tokensEl.contains(s)) return null;
    const i = Number(s.getAttribute("data-i"));
    return Number.isInteger(i) ? i : null;
  }

  tokensEl.addEventListener(
    "mousemove",
    (e) => {
      const i = indexOf(e.target);
      const r = i === null ? null : row();
      if (i === null || !r) return tooltip.hide();
      tooltip.show(e.clientX, e.clientY, [
        ["index", String(i)],
        ["value", formatValue(r.values[i])],
        ["scale ±", formatValue(vmax)],
      ], r.tokens[i]);
    },
    on,
  );
  tokensEl.addEventListener("mouseleave", () => tooltip.hide(), on);
  tokensEl.addEventListener(
    "click",
    (e) => {
      const i = indexOf(e.target);
      if (i === null) return;
      model.set("token", pinned() === i ? null : i);
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
  sampleSel?.addEventListener("change", () => setAndSave("sample", Number(sampleSel.value)), on);
  download.addEventListener("click", () => exportPng(), on);

  function exportPng(): void {
    const r = row();
    if (!r) return;
    const o = opts();
    const colors = resolvedColors(root);
    const bg = parseColor(colors.bg) ?? [255, 255, 255];
    const fg = colors.fg;
    const W = 760;
    const pad = 14;
    const lineH = 26;
    const scratch = document.createElement("canvas").getContext("2d");
    if (!scratch) return;
    const font = `14px ${colors.font}`;
    scratch.font = font;
    // lay out tokens
    const boxes: { x: number; y: number; w: number; i: number }[] = [];
    let x = pad;
    let y = pad + 26;
    r.display.forEach((text, i) => {
      const w = scratch.measureText(text).width + 6;
      const gap = (r.flags[i] || 0) & FLAG_CONTINUATION ? 0 : 4;
      if (x + gap + w > W - pad && x > pad) {
        x = pad;
        y += lineH;
      } else if (i > 0) x += gap;
      boxes.push({ x, y, w, i });
      x += w;
    });
    const H = y + lineH + 40 + pad;
    const out = document.createElement("canvas");
    out.width = W * 2;
    out.height = H * 2;
    const ctx = out.getContext("2d");
    if (!ctx) return;
    ctx.scale(2, 2);
    ctx.fillStyle = colors.bg;
    ctx.fillRect(0, 0, W, H);
    ctx.fillStyle = fg;
    ctx.font = `600 13px ${colors.font}`;
    ctx.textBaseline = "alphabetic";
    ctx.fillText(title.textContent || "attribution", pad, pad + 12);
    ctx.font = font;
    ctx.textBaseline = "middle";
    for (const b of boxes) {
      const c = tokenColors(r.values[b.i], o.sign, vmax, o.colormap, bg, ((r.flags[b.i] || 0) & FLAG_SPECIAL) !== 0);
      ctx.fillStyle = rgbCss(c.background);
      ctx.fillRect(b.x, b.y, b.w, lineH - 4);
      ctx.fillStyle = rgbCss(c.text);
      ctx.fillText(r.display[b.i], b.x + 3, b.y + (lineH - 4) / 2);
    }
    drawColorbar(ctx, pad, y + lineH + 8, 220, o.colormap, o.sign, vmax, { color: colors.fg, border: colors.border, font: `11px ${colors.font}` });
    downloadCanvas(out, "text_heatmap.png");
  }

  const unlisten = listen(model, ["colormap", "sign", "clip_percentile", "sample", "_values", "_values_meta", "_tokens", "_display", "_flags", "method"], draw);
  const onToken = () => {
    const r = row();
    if (r) updatePinned(r);
  };
  model.on("change:token", onToken);
  // token colours are blended over the page background: follow theme switches
  const unwatch = watchTheme(() => {
    if (resolvedColors(root).bg !== drawnBg) draw();
  });
  draw();

  return () => {
    ac.abort();
    unwatch();
    unlisten();
    model.off("change:token", onToken);
    root.remove();
  };
}

export default { render };
export { render };
