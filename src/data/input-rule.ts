// The one rule from a decoded file to the network's input: three planes [3, H, W] in 0..255.
//
// Training, `udeg eval`, `udeg predict` (files, volumes, DICOM series, DICOMweb, the queue worker),
// the MONAI Label server and the web page all call inputPlanes(); nothing else maps intensities.
// Before this module the rule lived in five places and disagreed: a 16-bit PNG of values
// 1000-2500 reached training as 0..255 (min-max) and `udeg predict` as 3.9..9.7 (x 255 / 65535),
// so a model scoring Dice 0.85 in `udeg eval` wrote empty masks (issue 26).
//
// The rule, by source:
// - 8-bit raster (PNG, JPEG, TIFF, BMP): the stored values, grey replicated to RGB; `quantized`,
//   so the resize is PIL's integer one (bit-identical to segment-anything's preprocessing).
// - 16-bit raster: `intensity16` "min-max" (default: the image's own min and max to 0 and 255,
//   what training always did) or "full-range" (value x 255 / 65535).
// - DICOM frame: the file's own display mapping (io/dicom/dicom-display.ts dicomToPlanar: stored 8-bit values,
//   the VOI window, or the frame's percentiles; rescale slope/intercept applied; MONOCHROME1
//   inverted), in floats; no further scaling.
// - NIfTI slice: through the volume's `window` (default its 0.5 / 99.5 percentiles, one window per
//   volume), clamped to 0..255; NaN and infinities become 0.
// The settings that change the rule (InputRule) are resolved when training starts and written in
// the run's config.json (config.input); every reader takes them from the run.
//
// Pure (no Node.js built-ins): the page imports this module as the Node side does.
import type { DicomImage } from "../io/dicom/dicom.js";
import { type dicomDisplayMapping, dicomToPlanar } from "../io/dicom/dicom-display.js";
import type { RasterImage } from "../io/images/image-types.js";
import { type NiftiVolume, scaledVolume } from "../io/nifti/nifti-format.js";
import type { PlanarImage } from "../io/planar-image.js";
import { toPlanar, toThreeChannels } from "./preprocess.js";

/** How NIfTI intensities become 0..255. */
export type NiftiWindow =
  /** Per volume: the lower/upper percentiles map to 0/255 (default 0.5 / 99.5). */
  | { kind: "percentile"; lower: number; upper: number }
  /** Fixed range, e.g. CT { min: -125, max: 275 }. */
  | { kind: "range"; min: number; max: number };

/** The settings of the rule, recorded in a run's config (config.input). */
export interface InputRule {
  /** 16-bit images to 0..255: per-image min-max, or value x 255 / 65535. */
  intensity16: "min-max" | "full-range";
  /** NIfTI volumes: the intensity window. */
  window: NiftiWindow;
}

export const DEFAULT_INPUT_RULE: InputRule = {
  intensity16: "min-max",
  window: { kind: "percentile", lower: 0.5, upper: 99.5 },
};

/** One 2-D image as a reader decoded it, before the rule. */
export type InputSource =
  /** PNG, JPEG, TIFF, BMP: interleaved 8- or 16-bit values. */
  | { kind: "raster"; image: RasterImage }
  /** One frame of a DICOM image; `mapping` may be passed to reuse one per file. */
  | { kind: "dicom"; image: DicomImage; frame: number; mapping?: ReturnType<typeof dicomDisplayMapping> }
  /** One slice of a volume, with its volume's window (volumeWindow). */
  | { kind: "slice"; data: ArrayLike<number>; rows: number; cols: number; window: readonly [number, number] };

/** A volume's window under the rule: [value mapped to 0, value mapped to 255]. */
export function volumeWindow(vol: NiftiVolume, rule: InputRule): [number, number] {
  const w = rule.window;
  return w.kind === "range" ? [w.min, w.max] : percentileWindow(vol, w.lower, w.upper);
}

/** The network's planes [3, H, W], 0..255, of one decoded image under the rule. */
export function inputPlanes(source: InputSource, rule: InputRule): PlanarImage {
  switch (source.kind) {
    case "raster":
      return rasterPlanes(source.image, rule);
    case "dicom":
      return toThreeChannels(dicomToPlanar(source.image, source.frame, source.mapping));
    case "slice":
      return slicePlanes(source.data, source.rows, source.cols, source.window);
  }
}

function rasterPlanes(img: RasterImage, rule: InputRule): PlanarImage {
  const { width, height, channels } = img;
  const planes = toThreeChannels({
    data: toPlanar(img.data, height, width, channels),
    channels,
    height,
    width,
  }).data;
  if (img.bitDepth === 8) return { data: planes, channels: 3, height, width, quantized: true };
  let lo = 0;
  let hi = 65535;
  if (rule.intensity16 === "min-max") {
    lo = Number.POSITIVE_INFINITY;
    hi = Number.NEGATIVE_INFINITY;
    for (const v of planes) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  const k = hi > lo ? 255 / (hi - lo) : 0;
  for (let i = 0; i < planes.length; i++) planes[i] = (planes[i]! - lo) * k;
  return { data: planes, channels: 3, height, width, quantized: false };
}

function slicePlanes(
  data: ArrayLike<number>,
  rows: number,
  cols: number,
  [lo, hi]: readonly [number, number],
): PlanarImage {
  const n = rows * cols;
  const planes = new Float32Array(3 * n);
  const k = hi > lo ? 255 / (hi - lo) : 0;
  for (let i = 0; i < n; i++) {
    const v = (data[i]! - lo) * k;
    planes[i] = v > 0 ? Math.min(v, 255) : 0; // NaN -> 0; +Infinity -> 255
  }
  planes.copyWithin(n, 0, n);
  planes.copyWithin(2 * n, 0, n);
  return { data: planes, channels: 3, height: rows, width: cols, quantized: false };
}

/** Intensity window of a volume: its lower and upper percentiles (sampled, finite values only). */
export function percentileWindow(vol: NiftiVolume, lower: number, upper: number): [number, number] {
  const all = scaledVolume(vol);
  const step = Math.max(1, Math.floor(all.length / 1_000_000));
  const sample = new Float32Array(Math.ceil(all.length / step));
  let n = 0;
  for (let i = 0; i < all.length; i += step) if (Number.isFinite(all[i]!)) sample[n++] = all[i]!;
  const sorted = sample.subarray(0, n).sort();
  if (n === 0) return [0, 1];
  const at = (p: number) => sorted[Math.min(n - 1, Math.max(0, Math.round((p / 100) * (n - 1))))]!;
  return [at(lower), at(upper)];
}
