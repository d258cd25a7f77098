/**
 * Colormaps: 33 evenly spaced stops sampled from matplotlib (t = i/32),
 * linearly interpolated. Names match matplotlib's so `.plot()` and the
 * widgets agree; the Python side validates against the same list
 * (xai_widgets/widgets/_traits.py COLORMAPS).
 */

export type RGB = [number, number, number];

const STOPS_HEX: Record<string, string> = {
  coolwarm: "3b4cc0445acc4e68d85875e16282ea6c8ff1779af782a6fb8db0fe98b9ffa3c2feaec9fcb9d0f9c3d5f4ccd9edd5dbe5dddcdce5d8d1ecd3c5f1ccb8f5c4acf7ba9ff7b093f6a586f4987af08b6eeb7d62e46e56dd5f4bd44e41ca3b37be242eb40426",
  bwr: "0000ff1010ff2020ff3030ff4040ff5050ff6060ff7070ff8080ff9090ffa0a0ffb0b0ffc0c0ffd0d0ffe0e0fff0f0fffffefeffeeeeffdedeffceceffbebeffaeaeff9e9eff8e8eff7e7eff6e6eff5e5eff4e4eff3e3eff2e2eff1e1eff0e0eff0000",
  RdBu_r: "0530610e41791752901f63a82a71b23480b93f8ec0529dc86bacd184bcd99bc9e0aed3e6c2ddecd4e6f1e0ecf3ecf2f5f7f6f6f9eee7fbe5d8fddcc9fbccb4f8bb9ef5aa89ee9677e48066db6b55d05548c53e3dba2832ab162a930e267c072267001f",
  seismic: "00004c0000630000790000900000a60000bc0000d30000e90101ff2121ff4141ff6161ff8181ffa1a1ffc1c1ffe1e1fffffdfdffddddffbdbdff9d9dff7d7dff5d5dff3d3dff1d1dfe0000ee0000de0000ce0000be0000ae00009e00008e0000800000",
  PiYG: "8e01529f095fb1116dc2197acb3289d34f99db6ca8e283b7e897c4eeabd2f3bcddf6c9e3fad6eafde2f0fbe9f2f9f0f5f7f7f6f1f6eaecf6dee7f5d2d9f0bccbe9a4bde38dacd9779acd6188c24c77b53c67a832589b28498d203d7f1e31711b276419",
  viridis: "440154470d6048186a482374472d7b4537814240863e49893b528b375b8d33638d2f6b8e2c728e297a8e26828e23898e21918c1f988b1fa08822a78528ae8032b67a3fbc734ec36b5ec96270cf5784d44b98d83eaddc30c2df23d8e219ece51bfde725",
  inferno: "0000040403120b0724150b37210c4a2f0a5b3d09654a0c6b57106e64156e71196e7d1e6d8a226a972766a32c61b0315bbc3754c73e4cd24644db503be45a31eb6628f1731df68013f98e09fb9d07fcac11fbbc21f9cb35f5db4cf2ea69f3f68afcffa4",
  magma: "0000040303120a0822130d341d114729115a36106b440f7651127c5d177f6a1c81762181832681902a819c2e7faa337db73779c43c75d0416fdc4869e75263ef5d5ef56b5cf9795dfc8961fd9869fea772feb67cfec488fed395fde2a3fcf0b2fcfdbf",
  plasma: "0d08872206903105973f049c4c02a15901a56600a77201a87e03a88a09a59511a1a01a9caa2395b32c8ebc3587c43e7fcc4778d35171da5a6ae06363e66c5ceb7655f0804ef58b47f89540fba139fdac33feb82cfdc527fcd225f8df25f4ed27f0f921",
  cividis: "00224e00285b002e6a0533711a386f273e6e32436d3b496c434e6c4b546c535a6d5a5f6e61656f686a716f70737676767d7c788482798c8878938e789b9476a39a74aba072b4a76fbcae6cc4b468cdbb63d5c25edec958e7d150f0d846f9e03afee838",
  hot: "0b00002000003500004a00005f00007400008900009e0000b30000c80000dd0000f20000ff0800ff1d00ff3200ff4700ff5c00ff7100ff8600ff9b00ffb000ffc500ffda00ffef00ffff07ffff26ffff46ffff65ffff85ffffa4ffffc4ffffe3ffffff",
  gray: "000000080808101010181818202020282828303030383838404040484848505050585858606060686868707070787878808080888888909090989898a0a0a0a8a8a8b0b0b0b8b8b8c0c0c0c8c8c8d0d0d0d8d8d8e0e0e0e8e8e8f0f0f0f8f8f8ffffff",
  Reds: "fff5f0fff0e8feeae1fee5d9fee0d2fdd7c6fdcdb9fcc4adfcbba1fcb095fca689fc9c7dfc9272fc8767fb7d5dfb7353fb694af85d42f5523af24633ee3a2ce53228dc2924d32020ca181dc1161bb71319ad1117a30f15940b1384071175030f67000d",
  Blues: "f7fbfff1f7fdeaf3fbe4eff9deebf7d8e7f5d2e3f3ccdff1c6dbefbcd7ebb2d2e8a8cee49dcae191c3de84bcdb77b5d96aaed660a7d256a0ce4b98ca4191c63989c13181bd2979b92070b41a68ae1460a80e58a208509b08488e08408208377608306b",
  Greens: "f7fcf5f2faf0eef8eae9f7e5e5f5e0ddf2d8d6efd0ceecc8c7e9c0bde5b6b4e1adaadda4a0d99b95d3918ace887fc97f73c47666bd6f5ab7694db16340aa5d39a257319a502a924a228a4419833e117b38087432006c2c006227005723004d1f00441b",
};

/** Diverging maps: zero sits at the neutral midpoint. */
export const DIVERGING: readonly string[] = ["coolwarm", "bwr", "RdBu_r", "seismic", "PiYG"];
/** Sequential maps: zero at the low end. */
export const SEQUENTIAL: readonly string[] = ["viridis", "inferno", "magma", "plasma", "cividis", "hot", "gray", "Reds", "Blues", "Greens"];
export const COLORMAPS: readonly string[] = [...DIVERGING, ...SEQUENTIAL];

const decoded = new Map<string, Uint8Array>();

function stops(name: string): Uint8Array {
  let s = decoded.get(name);
  if (s) return s;
  const hex = STOPS_HEX[name];
  if (hex === undefined) throw new Error(`unknown colormap ${JSON.stringify(name)}; expected one of ${COLORMAPS.join(", ")}`);
  s = new Uint8Array(hex.length / 2);
  for (let i = 0; i < s.length; i++) s[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  decoded.set(name, s);
  return s;
}

export function isColormap(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(STOPS_HEX, name);
}

export function isDiverging(name: string): boolean {
  return DIVERGING.includes(name);
}

/** Colour at t in [0, 1] (clamped; NaN gives the low end). Channels are 0..255 floats rounded to ints. */
export function colorAt(name: string, t: number): RGB {
  const s = stops(name);
  const n = s.length / 3 - 1;
  const x = Number.isFinite(t) ? Math.min(1, Math.max(0, t)) * n : 0;
  const i = Math.min(n - 1, Math.floor(x));
  const f = x - i;
  const a = 3 * i;
  const b = a + 3;
  return [
    Math.round(s[a] + (s[b] - s[a]) * f),
    Math.round(s[a + 1] + (s[b + 1] - s[a + 1]) * f),
    Math.round(s[a + 2] + (s[b + 2] - s[a + 2]) * f),
  ];
}

const luts = new Map<string, Uint8Array>();

/** A 256-entry RGB lookup table (768 bytes) for fast per-pixel colouring. */
export function lut(name: string): Uint8Array {
  let l = luts.get(name);
  if (l) return l;
  l = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const c = colorAt(name, i / 255);
    l[3 * i] = c[0];
    l[3 * i + 1] = c[1];
    l[3 * i + 2] = c[2];
  }
  luts.set(name, l);
  return l;
}

export function cssColor(c: RGB, alpha = 1): string {
  return alpha >= 1 ? `rgb(${c[0]}, ${c[1]}, ${c[2]})` : `rgba(${c[0]}, ${c[1]}, ${c[2]}, ${alpha.toFixed(3)})`;
}

/** Relative luminance (sRGB, WCAG) in [0, 1]. */
export function luminance(c: RGB): number {
  const f = (v: number) => {
    const x = v / 255;
    return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
}

// ---------------------------------------------------------------- contrast

export const BLACK: RGB = [0, 0, 0];
export const WHITE: RGB = [255, 255, 255];

/** WCAG 2.x contrast ratio of two opaque colours, in [1, 21]. */
export function contrastRatio(a: RGB, b: RGB): number {
  const x = luminance(a);
  const y = luminance(b);
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
}

/** `top` painted over `bottom` at opacity `alpha` (clamped to [0, 1]), rounded to whole channels. */
export function blend(top: RGB, bottom: RGB, alpha: number): RGB {
  const a = Math.min(1, Math.max(0, Number.isFinite(alpha) ? alpha : 0));
  return [0, 1, 2].map((k) => Math.round(top[k] * a + bottom[k] * (1 - a))) as RGB;
}

/**
 * Black or white, whichever contrasts more with `bg`. One of the two always
 * reaches 4.58:1: the worse case is where both ratios are equal,
 * (L + 0.05)^2 = 1.05 * 0.05, i.e. sqrt(0.0525) / 0.05 = 4.58.
 */
export function readableText(bg: RGB): RGB {
  return contrastRatio(BLACK, bg) >= contrastRatio(WHITE, bg) ? BLACK : WHITE;
}

/**
 * Text for `bg` that looks dimmed: black or white (as readableText) moved
 * toward `bg` as far as keeps `minRatio`; when there is no room (mid-grey
 * backgrounds) the text stays pure, so it is never below min(minRatio, 4.58).
 */
export function dimmedText(bg: RGB, minRatio = 4.6, maxFade = 0.7): RGB {
  const pure = readableText(bg);
  if (contrastRatio(pure, bg) <= minRatio) return pure;
  let lo = 0;
  let hi = Math.max(0, Math.min(1, maxFade));
  // the ratio falls monotonically as the text moves toward the background
  if (contrastRatio(blend(bg, pure, hi), bg) >= minRatio) return blend(bg, pure, hi);
  for (let i = 0; i < 16; i++) {
    const mid = (lo + hi) / 2;
    if (contrastRatio(blend(bg, pure, mid), bg) >= minRatio) lo = mid;
    else hi = mid;
  }
  const c = blend(bg, pure, lo);
  return contrastRatio(c, bg) >= minRatio ? c : pure;
}
