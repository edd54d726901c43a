// The pictures of the report: for one example, the image, the ground truth and the prediction
// (each a contour over the image), the edge map (grey) and the uncertainty map (heat colours),
// all at one display size and encoded as PNG data: URIs.
//
// Display size: images smaller than TARGET px (longest side) are enlarged by a whole factor with
// nearest neighbour, so pixels stay square and sharp; larger than MAX px are reduced (nearest,
// masks stay binary) to keep the HTML small. Contours are found at display resolution and drawn
// 2 px wide so they read at a glance.

import { encodePng, type RasterImage } from "../io/images/images.js";
import { contour, heatColour } from "../udeg/colour-maps.js";

export const TARGET_SIZE = 192;
export const MAX_SIZE = 384;

/** Colours of the overlays, shared with the legend on the page. */
export const GT_COLOUR: readonly [number, number, number] = [255, 206, 0];
export const PRED_COLOUR: readonly [number, number, number] = [40, 255, 80];

/** Display size for an image of width x height (see the file header). */
export function displaySize(width: number, height: number): { width: number; height: number } {
  const long = Math.max(width, height);
  if (long < TARGET_SIZE) {
    const k = Math.ceil(TARGET_SIZE / long);
    return { width: width * k, height: height * k };
  }
  if (long > MAX_SIZE) {
    const s = MAX_SIZE / long;
    return { width: Math.max(1, Math.round(width * s)), height: Math.max(1, Math.round(height * s)) };
  }
  return { width, height };
}

/** Nearest-neighbour resize of an interleaved [h, w, channels] array (pixel centres aligned). */
export function resizeNearest<T extends Uint8Array | Float32Array>(
  src: ArrayLike<number>,
  w: number,
  h: number,
  channels: number,
  outW: number,
  outH: number,
  make: (n: number) => T,
): T {
  const out = make(outW * outH * channels);
  const xs = new Int32Array(outW);
  for (let x = 0; x < outW; x++) xs[x] = Math.min(w - 1, Math.floor(((x + 0.5) * w) / outW));
  for (let y = 0; y < outH; y++) {
    const sy = Math.min(h - 1, Math.floor(((y + 0.5) * h) / outH));
    for (let x = 0; x < outW; x++) {
      const si = (sy * w + xs[x]!) * channels;
      const di = (y * outW + x) * channels;
      for (let c = 0; c < channels; c++) out[di + c] = src[si + c]!;
    }
  }
  return out;
}

/** A binary mask (non-zero = 1) as Uint8Array. */
function binary(a: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] !== 0 ? 1 : 0;
  return out;
}

/** Grows a set of pixels by one in all 8 directions. */
function dilate(mask: Uint8Array, w: number, h: number): Uint8Array {
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!mask[y * w + x]) continue;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx >= 0 && xx < w) out[yy * w + xx] = 1;
        }
      }
    }
  }
  return out;
}

/** The RGB image with the mask tinted and its contour drawn in `colour`. */
export function maskOverlay(
  rgb: Uint8Array,
  mask: Uint8Array,
  w: number,
  h: number,
  colour: readonly [number, number, number],
): RasterImage {
  const edge = contour(mask, w, h);
  const line = Math.max(w, h) >= 160 ? dilate(edge, w, h) : edge;
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    for (let c = 0; c < 3; c++) {
      const v = rgb[i * 3 + c]!;
      let out = v;
      if (line[i]) out = colour[c]!;
      else if (mask[i]) out = v * 0.78 + colour[c]! * 0.22;
      data[i * 3 + c] = Math.round(out);
    }
  }
  return { width: w, height: h, channels: 3, data, bitDepth: 8 };
}

/** Values in [0, vmax] through a colour map; NaN drawn mid-grey. */
export function colourMap(
  values: Float32Array,
  w: number,
  h: number,
  vmax: number,
  colour: (t: number) => readonly [number, number, number],
): RasterImage {
  const data = new Uint8Array(w * h * 3);
  const scale = vmax > 0 ? 1 / vmax : 1;
  for (let i = 0; i < w * h; i++) {
    const v = values[i]!;
    const rgb = Number.isFinite(v) ? colour(Math.min(1, Math.max(0, v * scale))) : ([128, 128, 128] as const);
    for (let c = 0; c < 3; c++) data[i * 3 + c] = Math.round(rgb[c]!);
  }
  return { width: w, height: h, channels: 3, data, bitDepth: 8 };
}

/** Black to white. */
export function greyColour(t: number): [number, number, number] {
  const v = Math.round(Math.min(1, Math.max(0, t)) * 255);
  return [v, v, v];
}

export { heatColour };

export function pngDataUri(img: RasterImage): string {
  return `data:image/png;base64,${Buffer.from(encodePng(img)).toString("base64")}`;
}

export interface ExampleInput {
  name: string;
  width: number;
  height: number;
  image: ArrayLike<number>;
  gt: ArrayLike<number>;
  pred: ArrayLike<number>;
  edge: ArrayLike<number>;
  uncertainty: ArrayLike<number>;
}

export interface ExampleTiles {
  width: number;
  height: number;
  image: string;
  gt: string;
  pred: string;
  edge: string;
  uncertainty: string;
}

function checkExample(ex: ExampleInput): void {
  const { width: w, height: h } = ex;
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) {
    throw new RangeError(`example ${ex.name}: size must be positive integers, got ${w} x ${h}`);
  }
  const n = w * h;
  const want: [keyof ExampleInput, number][] = [
    ["image", n * 3],
    ["gt", n],
    ["pred", n],
    ["edge", n],
    ["uncertainty", n],
  ];
  for (const [key, len] of want) {
    const got = (ex[key] as ArrayLike<number>).length;
    if (got !== len) {
      throw new RangeError(
        `example ${ex.name}: ${key} has ${got} values, expected ${len} (${w} x ${h}${key === "image" ? " x 3" : ""})`,
      );
    }
  }
}

/**
 * The five data: URIs of one example. `uncertaintyMax` is the top of the uncertainty colour
 * scale (shared by the examples of one section so that their colours compare).
 */
export function exampleTiles(ex: ExampleInput, uncertaintyMax: number): ExampleTiles {
  checkExample(ex);
  const { width: w, height: h } = ex;
  const d = displaySize(w, h);
  const u8 = (n: number) => new Uint8Array(n);
  const f32 = (n: number) => new Float32Array(n);
  const rgb = resizeNearest(ex.image, w, h, 3, d.width, d.height, u8);
  const gt = resizeNearest(binary(ex.gt), w, h, 1, d.width, d.height, u8);
  const pred = resizeNearest(binary(ex.pred), w, h, 1, d.width, d.height, u8);
  const edge = resizeNearest(ex.edge, w, h, 1, d.width, d.height, f32);
  const unc = resizeNearest(ex.uncertainty, w, h, 1, d.width, d.height, f32);
  return {
    width: d.width,
    height: d.height,
    image: pngDataUri({ width: d.width, height: d.height, channels: 3, data: rgb, bitDepth: 8 }),
    gt: pngDataUri(maskOverlay(rgb, gt, d.width, d.height, GT_COLOUR)),
    pred: pngDataUri(maskOverlay(rgb, pred, d.width, d.height, PRED_COLOUR)),
    edge: pngDataUri(colourMap(edge, d.width, d.height, 1, greyColour)),
    uncertainty: pngDataUri(colourMap(unc, d.width, d.height, uncertaintyMax, heatColour)),
  };
}

/** A round top for a colour scale: the smallest of 0.05, 0.1, 0.2, 0.25, 0.5, 1 (x 10^k) >= v, at most 1. */
export function niceMax(v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return 1;
  if (v >= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v - 1e-12) return Math.min(1, m * p);
  return 1;
}
