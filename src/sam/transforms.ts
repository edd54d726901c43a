// SAM's pre- and post-processing: ResizeLongestSide, normalise, pad; and masks back to the
// original image size.
//
// The resize reproduces what segment-anything does, which is PIL's `Image.resize(BILINEAR)`
// (torchvision's `resize` on a PIL image), to the bit, with the data layer's PIL resampler (see
// src/data/preprocess.ts): plain float bilinear (align_corners=False, no antialias) differs by
// one grey level on about a fifth of the pixels of an upscaled image, and much more when
// downscaling.
import { resizeImage, toPlanar } from "../data/preprocess.js";
import { linearInterpolationMatrix } from "../engine/index.js";
import type { SamConfig } from "./config.js";

/**
 * Resize an interleaved uint8 image [H, W, C] to [outH, outW, C] exactly as PIL's BILINEAR
 * resize does (the data layer's resampler, run on the quantised 8-bit planes).
 */
export function resizePilBilinear(
  src: Uint8Array,
  height: number,
  width: number,
  channels: number,
  outH: number,
  outW: number,
): Uint8Array {
  const planes = toPlanar(src, height, width, channels);
  const resized = resizeImage({ data: planes, channels, height, width, quantized: true }, outH, outW).data;
  const out = new Uint8Array(outH * outW * channels);
  const n = outH * outW;
  for (let c = 0; c < channels; c++) for (let i = 0; i < n; i++) out[i * channels + c] = resized[c * n + i]!;
  return out;
}

/** segment-anything's ResizeLongestSide.get_preprocess_shape. */
export function preprocessShape(height: number, width: number, longSide: number): [number, number] {
  const scale = longSide / Math.max(height, width);
  return [Math.trunc(height * scale + 0.5), Math.trunc(width * scale + 0.5)];
}

export interface PreparedImage {
  /** [1, 3, S, S] normalised and zero-padded (bottom/right). */
  data: Float32Array;
  originalSize: [number, number];
  /** Size after ResizeLongestSide, before padding. */
  inputSize: [number, number];
}

/** Resize longest side to the model size, normalise with SAM's mean/std, pad to a square. */
export function prepareImage(rgb: Uint8Array, height: number, width: number, cfg: SamConfig): PreparedImage {
  if (rgb.length !== height * width * 3)
    throw new Error(`prepareImage: expected ${height}x${width}x3 bytes, got ${rgb.length}`);
  const s = cfg.imageSize;
  const [h, w] = preprocessShape(height, width, s);
  const resized = resizePilBilinear(rgb, height, width, 3, h, w);
  const data = new Float32Array(3 * s * s);
  for (let c = 0; c < 3; c++) {
    const mean = cfg.pixelMean[c]!;
    const std = cfg.pixelStd[c]!;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) data[(c * s + y) * s + x] = (resized[(y * w + x) * 3 + c]! - mean) / std;
    }
  }
  return { data, originalSize: [height, width], inputSize: [h, w] };
}

/** Map a point from original-image pixels to model-input pixels (ResizeLongestSide.apply_coords). */
export function transformCoords(
  x: number,
  y: number,
  originalSize: readonly [number, number],
  longSide: number,
): [number, number] {
  const [oh, ow] = originalSize;
  const [nh, nw] = preprocessShape(oh, ow, longSide);
  return [x * (nw / ow), y * (nh / oh)];
}

/** Bilinear (align_corners=False) resize of a stack of planes [N, h, w] -> [N, oh, ow], via interpolation matrices. */
export function resizePlanes(
  src: Float32Array,
  n: number,
  h: number,
  w: number,
  oh: number,
  ow: number,
): Float32Array {
  const ry = linearInterpolationMatrix(h, oh, false);
  const rx = linearInterpolationMatrix(w, ow, false);
  const tmp = new Float32Array(h * ow);
  const out = new Float32Array(n * oh * ow);
  for (let p = 0; p < n; p++) {
    const base = p * h * w;
    // rows: tmp[y, x'] = sum_x src[y, x] rx[x', x]
    for (let y = 0; y < h; y++) {
      for (let xo = 0; xo < ow; xo++) {
        let acc = 0;
        for (let x = 0; x < w; x++) {
          const k = rx[xo * w + x]!;
          if (k !== 0) acc += src[base + y * w + x]! * k;
        }
        tmp[y * ow + xo] = acc;
      }
    }
    for (let yo = 0; yo < oh; yo++) {
      for (let xo = 0; xo < ow; xo++) {
        let acc = 0;
        for (let y = 0; y < h; y++) {
          const k = ry[yo * h + y]!;
          if (k !== 0) acc += tmp[y * ow + xo]! * k;
        }
        out[(p * oh + yo) * ow + xo] = acc;
      }
    }
  }
  return out;
}

/**
 * segment-anything's postprocess_masks: low-res logits [N, h, w] -> upsample to the model size,
 * crop the padding away, resize to the original image size.
 */
export function postprocessMasks(
  lowRes: Float32Array,
  n: number,
  lowSize: readonly [number, number],
  inputSize: readonly [number, number],
  originalSize: readonly [number, number],
  imageSize: number,
): Float32Array {
  const up = resizePlanes(lowRes, n, lowSize[0], lowSize[1], imageSize, imageSize);
  const [ih, iw] = inputSize;
  const cropped = new Float32Array(n * ih * iw);
  for (let p = 0; p < n; p++) {
    for (let y = 0; y < ih; y++) {
      cropped.set(
        up.subarray((p * imageSize + y) * imageSize, (p * imageSize + y) * imageSize + iw),
        (p * ih + y) * iw,
      );
    }
  }
  return resizePlanes(cropped, n, ih, iw, originalSize[0], originalSize[1]);
}
