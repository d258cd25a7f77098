/** Drawing one result: a map over an image (canvas) or tokens coloured by their values (spans). */
import { compositeOverlay, drawColorbar, hiDpi } from "../lib/canvas";
import { panelSign, scaleMax, type SignMode } from "../lib/scale";
import { h } from "../lib/dom";
import { parseColor, resolvedColors } from "../lib/theme";
import { rgbCss, tokenColors, FLAG_CONTINUATION, FLAG_SPECIAL } from "../text/colors";

export const COLORMAP = "coolwarm";
const CLIP = 99.5;

export interface Scale {
  sign: SignMode;
  vmax: number;
}

export function mapScale(values: ArrayLike<number>): Scale {
  const sign = panelSign(values, "all");
  return { sign, vmax: scaleMax([values], sign, CLIP) };
}

/** Image + map into `canvas`, scaled to `cssWidth` (height keeps the aspect ratio). */
export function drawImageMap(
  canvas: HTMLCanvasElement,
  image: Uint8Array,
  values: ArrayLike<number> | null,
  w: number,
  h0: number,
  cssWidth: number,
): void {
  const src = document.createElement("canvas");
  src.width = w;
  src.height = h0;
  const sctx = src.getContext("2d");
  if (!sctx) return;
  const data = sctx.createImageData(w, h0);
  if (values) {
    const s = mapScale(values);
    compositeOverlay(image, values, w, h0, { colormap: COLORMAP, sign: s.sign, vmax: s.vmax, opacity: 0.6 }, data.data);
  } else {
    for (let i = 0; i < w * h0; i++) {
      data.data[4 * i] = image[3 * i];
      data.data[4 * i + 1] = image[3 * i + 1];
      data.data[4 * i + 2] = image[3 * i + 2];
      data.data[4 * i + 3] = 255;
    }
  }
  sctx.putImageData(data, 0, 0);
  const cssH = Math.max(1, Math.round((cssWidth * h0) / w));
  const ctx = hiDpi(canvas, cssWidth, cssH);
  if (!ctx) return;
  ctx.imageSmoothingEnabled = w < cssWidth ? false : true;
  ctx.drawImage(src, 0, 0, cssWidth, cssH);
}

/** A colour bar for `values` into `canvas` (`width` CSS px). */
export function drawBar(canvas: HTMLCanvasElement, values: ArrayLike<number>, width: number, host: HTMLElement): void {
  const ctx = hiDpi(canvas, width, 28);
  if (!ctx) return;
  const s = mapScale(values);
  const c = resolvedColors(host);
  ctx.clearRect(0, 0, width, 28);
  drawColorbar(ctx, 0, 0, width, COLORMAP, s.sign, s.vmax, { color: c.fg, font: `11px ${c.font}`, border: c.border });
}

/** Tokens as spans coloured by their values; text only through textContent. */
export function tokenSpans(
  container: HTMLElement,
  tokens: readonly string[],
  flags: readonly number[],
  values: ArrayLike<number> | null,
  host: HTMLElement,
): void {
  while (container.firstChild) container.removeChild(container.firstChild);
  const bg = parseColor(resolvedColors(host).bg) ?? [255, 255, 255];
  const s = values ? mapScale(values) : { sign: "all" as SignMode, vmax: 1 };
  tokens.forEach((t, i) => {
    const f = flags[i] ?? 0;
    const cls = `xw-ex-tok${f & FLAG_CONTINUATION ? " xw-cont" : ""}${f & FLAG_SPECIAL ? " xw-special" : ""}`;
    const span = h("span", { class: cls, text: t });
    const v = values ? values[i] : 0;
    const st = tokenColors(v, s.sign, s.vmax, COLORMAP, bg, (f & FLAG_SPECIAL) !== 0);
    span.style.background = rgbCss(st.background);
    span.style.color = rgbCss(st.text);
    if (values) span.title = `${t}: ${v.toPrecision(3)}`;
    container.appendChild(span);
  });
}
