/** Canvas helpers: overlay compositing (pure), marker, colour bar, hi-dpi sizing. */
import { isDiverging, lut } from "./colormaps";
import { colorbarRange, formatValue, normalize, type SignMode } from "./scale";

export interface OverlayOptions {
  colormap: string;
  sign: SignMode;
  vmax: number;
  opacity: number;
}

/**
 * Composite one attribution map over an RGB image into RGBA pixels.
 * `image`: h*w*3 bytes (or null for a plain heatmap); `values`: h*w floats.
 * Diverging colormaps: alpha = opacity * |normalised value| (zero stays
 * transparent, so the image shows through); sequential: alpha = opacity.
 * Pixels whose value is 0 in a magnitude mode are left as the image.
 */
export function compositeOverlay(
  image: Uint8Array | null,
  values: ArrayLike<number>,
  width: number,
  height: number,
  opts: OverlayOptions,
  out?: Uint8ClampedArray,
): Uint8ClampedArray {
  const n = width * height;
  const rgba = out ?? new Uint8ClampedArray(n * 4);
  const table = lut(opts.colormap);
  const div = isDiverging(opts.colormap);
  const op = Math.min(1, Math.max(0, opts.opacity));
  const vmax = opts.vmax > 0 ? opts.vmax : 1;
  for (let i = 0; i < n; i++) {
    const r0 = image ? image[3 * i] : 255;
    const g0 = image ? image[3 * i + 1] : 255;
    const b0 = image ? image[3 * i + 2] : 255;
    const { t, m } = normalize(values[i], opts.sign, vmax, div);
    let a = 0;
    let k = 0;
    if (!Number.isNaN(t)) {
      a = div ? op * m : opts.sign !== "all" && m === 0 ? 0 : op;
      k = 3 * Math.round(t * 255);
    }
    rgba[4 * i] = r0 + (table[k] - r0) * a;
    rgba[4 * i + 1] = g0 + (table[k + 1] - g0) * a;
    rgba[4 * i + 2] = b0 + (table[k + 2] - b0) * a;
    rgba[4 * i + 3] = 255;
  }
  return rgba;
}

/** Marker geometry in CSS pixels: the same few pixels whatever the image size or zoom. */
export const MARKER = { radius: 3.5, arm: 8, outline: 3, line: 1.5 } as const;

/** Furthest a marker's ink reaches from its centre, in CSS pixels. */
export const MARKER_EXTENT = MARKER.arm + MARKER.outline / 2;

/**
 * Ring + crosshair centred on (x, y), drawn in CSS pixels into a context
 * scaled to CSS pixels (see hiDpi): a dark outline under a light stroke, so
 * it reads on any colour. It marks a point and must not hide the pixels
 * around it, so its size does not follow the image.
 */
export function drawMarker(ctx: CanvasRenderingContext2D, x: number, y: number): void {
  const { radius: r, arm } = MARKER;
  ctx.save();
  ctx.lineCap = "round";
  const path = () => {
    ctx.beginPath();
    ctx.arc(x, y, r, 0, Math.PI * 2);
    ctx.moveTo(x - arm, y);
    ctx.lineTo(x - r, y);
    ctx.moveTo(x + r, y);
    ctx.lineTo(x + arm, y);
    ctx.moveTo(x, y - arm);
    ctx.lineTo(x, y - r);
    ctx.moveTo(x, y + r);
    ctx.lineTo(x, y + arm);
  };
  path();
  ctx.strokeStyle = "rgba(0, 0, 0, 0.85)";
  ctx.lineWidth = MARKER.outline;
  ctx.stroke();
  path();
  ctx.strokeStyle = "#ffffff";
  ctx.lineWidth = MARKER.line;
  ctx.stroke();
  ctx.restore();
}

/** Size a canvas' backing store for crisp drawing at devicePixelRatio; returns the 2d context scaled to CSS pixels. */
export function hiDpi(canvas: HTMLCanvasElement, cssWidth: number, cssHeight: number): CanvasRenderingContext2D | null {
  const dpr = Math.max(1, Math.min(3, (typeof window !== "undefined" && window.devicePixelRatio) || 1));
  canvas.width = Math.round(cssWidth * dpr);
  canvas.height = Math.round(cssHeight * dpr);
  canvas.style.width = `${cssWidth}px`;
  canvas.style.height = `${cssHeight}px`;
  const ctx = canvas.getContext("2d");
  if (ctx) ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

export interface ColorbarStyle {
  color: string;
  font: string;
  border: string;
}

/**
 * Horizontal colour bar with min / 0 / max ticks, drawn in CSS pixels into `ctx`
 * at (x, y) with the given width (height 28: 10 px bar + labels).
 */
export function drawColorbar(
  ctx: CanvasRenderingContext2D,
  x: number,
  y: number,
  width: number,
  colormap: string,
  sign: SignMode,
  vmax: number,
  style: ColorbarStyle,
  label?: string,
): void {
  const barH = 10;
  const div = isDiverging(colormap);
  const [lo, hi] = colorbarRange(sign, vmax);
  const steps = Math.max(2, Math.round(width));
  for (let i = 0; i < steps; i++) {
    const v = lo + ((hi - lo) * (i + 0.5)) / steps;
    const { t } = normalize(v, sign, vmax, div);
    const k = 3 * Math.round((Number.isNaN(t) ? 0 : t) * 255);
    const table = lut(colormap);
    ctx.fillStyle = `rgb(${table[k]},${table[k + 1]},${table[k + 2]})`;
    ctx.fillRect(x + (i * width) / steps, y, width / steps + 0.6, barH);
  }
  ctx.strokeStyle = style.border;
  ctx.lineWidth = 1;
  ctx.strokeRect(x + 0.5, y + 0.5, width - 1, barH - 1);
  ctx.fillStyle = style.color;
  ctx.font = style.font;
  ctx.textBaseline = "top";
  const ty = y + barH + 3;
  ctx.textAlign = "left";
  ctx.fillText(formatValue(lo), x, ty);
  ctx.textAlign = "right";
  ctx.fillText(formatValue(hi), x + width, ty);
  if (lo < 0 && hi > 0) {
    ctx.textAlign = "center";
    ctx.fillText(label ? `0 · ${label}` : "0", x + width / 2, ty);
  } else if (label) {
    ctx.textAlign = "center";
    ctx.fillText(label, x + width / 2, ty);
  }
}
