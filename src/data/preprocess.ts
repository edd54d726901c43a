// Resizing and padding to the model's square input, SAM's way, and back.
//
// SAM (ResizeLongestSide + preprocess) resizes so that the longest side is the model size,
// keeping the aspect ratio (new side = trunc(side * S / longest + 0.5)), then pads bottom and
// right to S x S. segment-anything resizes a uint8 image with PIL's BILINEAR filter, which is not
// textbook bilinear: it is a separable triangle filter whose support widens when downscaling (so
// it antialiases), computed in fixed point with a uint8 rounding after each pass. Here:
// - images whose values are integers 0..255 (`quantized`, i.e. 8-bit files) are resized with
//   exactly that integer algorithm: bit-identical to PIL's Image.resize(BILINEAR) on mode "RGB";
// - other images (16-bit, NIfTI windowed to 0..255, augmented) use the same filter in double
//   precision without rounding, which is PIL's BILINEAR on a mode "F" image. Against a plain
//   float bilinear (torch interpolate, align_corners=False, antialias=False) the two agree when
//   enlarging and differ when shrinking, where PIL's averages over the wider footprint.
// Masks are resized by nearest neighbour at pixel centres: source = floor((out + 0.5) * in / out),
// PIL's NEAREST convention, so class indices stay class indices.
//
// SAM pads *after* normalising, with 0; in 0..255 space that is the pixel mean. Images here stay
// in 0..255 (normalising is the model's job), so the default pad value is SAM's pixel mean: after
// the model's (x - mean) / std the padding is exactly 0, as in SAM. Pass padValue 0 for black.

import type { LabelMap, PlanarImage } from "../io/planar-image.js";

/** segment-anything's pixel mean (RGB, 0..255). */
export const SAM_PIXEL_MEAN: readonly number[] = [123.675, 116.28, 103.53];

/** Everything needed to map a model-size prediction back to the original image. */
export interface ResizeInfo {
  /** Model input size S (square). */
  size: number;
  originalHeight: number;
  originalWidth: number;
  /** Size after resizing the longest side to S, before padding. */
  resizedHeight: number;
  resizedWidth: number;
  /** S / max(originalHeight, originalWidth). */
  scale: number;
  /** Rows added at the bottom and columns at the right: S - resized. */
  padBottom: number;
  padRight: number;
}

/** segment-anything's ResizeLongestSide.get_preprocess_shape, plus the padding. */
export function resizeInfo(height: number, width: number, size: number): ResizeInfo {
  if (!(height > 0 && width > 0 && size > 0))
    throw new RangeError(`resizeInfo: bad sizes ${height}x${width} -> ${size}`);
  const scale = size / Math.max(height, width);
  const rh = Math.min(size, Math.trunc(height * scale + 0.5));
  const rw = Math.min(size, Math.trunc(width * scale + 0.5));
  return {
    size,
    originalHeight: height,
    originalWidth: width,
    resizedHeight: rh,
    resizedWidth: rw,
    scale,
    padBottom: size - rh,
    padRight: size - rw,
  };
}

// ---------------------------------------------------------------------------------------------
// PIL's BILINEAR resampling

interface Coefficients {
  start: Int32Array;
  weights: Float64Array[];
}

/** PIL's triangle-filter coefficients for one axis (support widened by the downscale factor). */
function coefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const start = new Int32Array(outSize);
  const weights: Float64Array[] = [];
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const count = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    const k = new Float64Array(Math.max(count, 0));
    let total = 0;
    for (let x = 0; x < k.length; x++) {
      const t = Math.abs((x + xmin - center + 0.5) / filterScale);
      k[x] = t < 1 ? 1 - t : 0;
      total += k[x]!;
    }
    if (total !== 0) for (let x = 0; x < k.length; x++) k[x]! /= total;
    start[o] = xmin;
    weights.push(k);
  }
  return { start, weights };
}

const PRECISION_BITS = 22;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

function toFixed(c: Coefficients): Float64Array[] {
  return c.weights.map((k) => k.map((w) => Math.trunc(w < 0 ? -0.5 + w * ONE : 0.5 + w * ONE)));
}

/** PIL's clip8: ss >> 22, clamped. ss is an integer below 2^31 in magnitude (uint8 inputs, 22-bit weights). */
function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : Math.min(v, 255);
}

/** One pass along rows (horizontal) or columns (vertical) of [C, H, W] planes. */
function resamplePass(
  src: Float32Array,
  channels: number,
  h: number,
  w: number,
  outLen: number,
  horizontal: boolean,
  quantized: boolean,
): Float32Array {
  const c = coefficients(horizontal ? w : h, outLen);
  const weights = quantized ? toFixed(c) : c.weights;
  const oh = horizontal ? h : outLen;
  const ow = horizontal ? outLen : w;
  const out = new Float32Array(channels * oh * ow);
  for (let ch = 0; ch < channels; ch++) {
    const sBase = ch * h * w;
    const oBase = ch * oh * ow;
    if (horizontal) {
      for (let y = 0; y < h; y++) {
        const row = sBase + y * w;
        for (let x = 0; x < ow; x++) {
          const k = weights[x]!;
          const x0 = c.start[x]!;
          let ss = quantized ? HALF : 0;
          for (let i = 0; i < k.length; i++) ss += src[row + x0 + i]! * k[i]!;
          out[oBase + y * ow + x] = quantized ? clip8(ss) : ss;
        }
      }
    } else {
      // Row by row: acc[x] = sum_i k[i] * src[y0 + i, x] (same sums, in the same order, as PIL).
      const acc = new Float64Array(w);
      for (let y = 0; y < oh; y++) {
        const k = weights[y]!;
        const y0 = c.start[y]!;
        acc.fill(quantized ? HALF : 0);
        for (let i = 0; i < k.length; i++) {
          const kw = k[i]!;
          const row = sBase + (y0 + i) * w;
          for (let x = 0; x < w; x++) acc[x]! += src[row + x]! * kw;
        }
        const o = oBase + y * ow;
        if (quantized) for (let x = 0; x < w; x++) out[o + x] = clip8(acc[x]!);
        else for (let x = 0; x < w; x++) out[o + x] = acc[x]!;
      }
    }
  }
  return out;
}

/**
 * Resizes [C, H, W] planes to outH x outW with PIL's BILINEAR filter: the uint8 algorithm when
 * the image is `quantized` (bit-exact with PIL), the float one otherwise (see the module comment).
 */
export function resizeImage(img: PlanarImage, outH: number, outW: number): PlanarImage {
  const { channels, height, width } = img;
  const quantized = img.quantized === true;
  let data = img.data;
  let w = width;
  // PIL: horizontal pass first, then vertical; a pass is skipped when that size is unchanged.
  if (outW !== width) {
    data = resamplePass(data, channels, height, w, outW, true, quantized);
    w = outW;
  }
  if (outH !== height) data = resamplePass(data, channels, height, w, outH, false, quantized);
  if (data === img.data) data = data.slice();
  return { data, channels, height: outH, width: outW, quantized };
}

/** Nearest-neighbour resize of a label map (pixel centres: floor((o + 0.5) * in / out)). */
export function resizeLabels(mask: LabelMap, outH: number, outW: number): LabelMap {
  const { height, width, data } = mask;
  const out = new Uint8Array(outH * outW);
  const xs = new Int32Array(outW);
  for (let x = 0; x < outW; x++) xs[x] = Math.min(width - 1, Math.floor(((x + 0.5) * width) / outW));
  for (let y = 0; y < outH; y++) {
    const sy = Math.min(height - 1, Math.floor(((y + 0.5) * height) / outH));
    const row = sy * width;
    for (let x = 0; x < outW; x++) out[y * outW + x] = data[row + xs[x]!]!;
  }
  return { data: out, height: outH, width: outW };
}

/** Pads [C, h, w] planes at the bottom and right to size x size with `value` (a number or one per channel). */
export function padImage(
  img: PlanarImage,
  size: number,
  value: number | readonly number[] = SAM_PIXEL_MEAN,
): PlanarImage {
  const { channels, height, width } = img;
  if (height > size || width > size)
    throw new RangeError(`padImage: ${height}x${width} does not fit in ${size}x${size}`);
  const out = new Float32Array(channels * size * size);
  for (let c = 0; c < channels; c++) {
    const v = typeof value === "number" ? value : (value[c] ?? value[0] ?? 0);
    const plane = out.subarray(c * size * size, (c + 1) * size * size);
    if (v !== 0) plane.fill(v);
    for (let y = 0; y < height; y++) {
      const s = (c * height + y) * width;
      plane.set(img.data.subarray(s, s + width), y * size);
    }
  }
  return {
    data: out,
    channels,
    height: size,
    width: size,
    quantized: img.quantized && Number.isInteger(value),
  };
}

/** Pads a label map at the bottom and right to size x size with `value` (default background 0). */
export function padLabels(mask: LabelMap, size: number, value = 0): LabelMap {
  const { height, width } = mask;
  if (height > size || width > size)
    throw new RangeError(`padLabels: ${height}x${width} does not fit in ${size}x${size}`);
  const out = new Uint8Array(size * size);
  if (value !== 0) out.fill(value);
  for (let y = 0; y < height; y++) out.set(mask.data.subarray(y * width, (y + 1) * width), y * size);
  return { data: out, height: size, width: size };
}

/** Grey planes become three equal channels (SAM wants RGB); RGB passes through. */
export function toThreeChannels(img: PlanarImage): PlanarImage {
  if (img.channels === 3) return img;
  if (img.channels !== 1) throw new Error(`images must have 1 or 3 channels, got ${img.channels}`);
  const n = img.height * img.width;
  const data = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) data.set(img.data, c * n);
  return { ...img, data, channels: 3 };
}

/**
 * An image (1 or 3 channels, 0-255) as the model's RGB input before padding: three channels, the
 * longest side resized to `size` (PIL bilinear, exact for 8-bit data). `udeg predict` and the
 * exported graph's callers (InteractiveModel, the web viewer) share it.
 */
export function resizeForModel(image: PlanarImage, size: number): { resized: PlanarImage; info: ResizeInfo } {
  const rgb = toThreeChannels(image);
  const info = resizeInfo(rgb.height, rgb.width, size);
  return { resized: resizeImage(rgb, info.resizedHeight, info.resizedWidth), info };
}

/** Class index per pixel: the argmax over K planes [K, plane] (ties go to the lower class). */
export function argmaxLabels(prob: Float32Array, k: number, plane: number): Uint8Array {
  const labels = new Uint8Array(plane);
  for (let i = 0; i < plane; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (prob[c * plane + i]! > prob[best * plane + i]!) best = c;
    labels[i] = best;
  }
  return labels;
}

/** Resizes image and mask so the longest side is `size` (no padding yet). */
export function resizeLongestSide(
  image: PlanarImage,
  mask: LabelMap,
  size: number,
): { image: PlanarImage; mask: LabelMap; info: ResizeInfo } {
  if (mask.height !== image.height || mask.width !== image.width) {
    throw new RangeError(
      `resizeLongestSide: mask ${mask.height}x${mask.width} vs image ${image.height}x${image.width}`,
    );
  }
  const info = resizeInfo(image.height, image.width, size);
  const img = resizeImage(image, info.resizedHeight, info.resizedWidth);
  const m =
    info.resizedHeight === mask.height && info.resizedWidth === mask.width
      ? mask
      : resizeLabels(mask, info.resizedHeight, info.resizedWidth);
  return { image: img, mask: m, info };
}

export interface PreprocessOptions {
  /** Image padding value(s) in 0..255 space; default SAM's pixel mean (see the module comment). */
  padValue?: number | readonly number[];
  /** Mask padding value; default 0 (background). */
  maskPadValue?: number;
}

/** Resize longest side to `size`, then pad bottom/right to size x size: SAM's preprocessing (without normalising). */
export function preprocessPair(
  image: PlanarImage,
  mask: LabelMap,
  size: number,
  options: PreprocessOptions = {},
): { image: PlanarImage; mask: LabelMap; info: ResizeInfo } {
  const r = resizeLongestSide(image, mask, size);
  return {
    image: padImage(r.image, size, options.padValue),
    mask: padLabels(r.mask, size, options.maskPadValue),
    info: r.info,
  };
}

/** Crops the valid (unpadded) region out of [C, S, S] planes. */
function crop(planes: Float32Array, channels: number, info: ResizeInfo): Float32Array {
  const { size, resizedHeight: h, resizedWidth: w } = info;
  if (planes.length !== channels * size * size) {
    throw new RangeError(`restore: expected ${channels}x${size}x${size} values, got ${planes.length}`);
  }
  const out = new Float32Array(channels * h * w);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < h; y++) {
      const s = (c * size + y) * size;
      out.set(planes.subarray(s, s + w), (c * h + y) * w);
    }
  }
  return out;
}

/**
 * Maps model-size maps [C, S, S] (probabilities, uncertainty, logits) back to the original
 * image: crop the padding, resize with the float filter. Returns [C, H, W].
 */
export function restoreMaps(maps: Float32Array, channels: number, info: ResizeInfo): Float32Array {
  const cropped: PlanarImage = {
    data: crop(maps, channels, info),
    channels,
    height: info.resizedHeight,
    width: info.resizedWidth,
  };
  return resizeImage(cropped, info.originalHeight, info.originalWidth).data;
}

/** Maps a model-size label map [S, S] back to the original image (crop, nearest). Returns [H, W]. */
export function restoreLabels(labels: Uint8Array, info: ResizeInfo): Uint8Array {
  const { size, resizedHeight: h, resizedWidth: w } = info;
  if (labels.length !== size * size)
    throw new RangeError(`restoreLabels: expected ${size}x${size} labels, got ${labels.length}`);
  const cropped = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) cropped.set(labels.subarray(y * size, y * size + w), y * w);
  return resizeLabels({ data: cropped, height: h, width: w }, info.originalHeight, info.originalWidth).data;
}

/** Interleaved 8- or 16-bit [H, W, C] pixels to [C, H, W] float planes (no value change). */
export function toPlanar(
  data: ArrayLike<number>,
  height: number,
  width: number,
  channels: number,
): Float32Array {
  const n = height * width;
  const out = new Float32Array(n * channels);
  for (let c = 0; c < channels; c++) {
    const plane = c * n;
    for (let i = 0; i < n; i++) out[plane + i] = data[i * channels + c]!;
  }
  return out;
}
