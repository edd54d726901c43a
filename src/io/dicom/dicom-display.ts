// A DICOM image's modality values to the 0..255 planes the model takes (the input rule's DICOM
// case, data/input-rule.ts): plain 8-bit MONOCHROME2 or RGB without rescaling keeps its stored
// values (quantized, like an 8-bit PNG); anything else goes through the file's first VOI window
// (WindowCenter/WindowWidth, DICOM's linear function) or, without one, the 0.5 / 99.5 percentiles
// of all frames; MONOCHROME1 is inverted afterwards. Pure: the page uses it too.

import type { PlanarImage } from "../planar-image.js";
import { DicomError, type DicomImage } from "./dicom.js";

/** The 0.5 / 99.5 percentiles of all frames (sampled), like a NIfTI volume's window in `udeg predict`. */
export function dicomPercentileWindow(img: DicomImage): [number, number] {
  const total = img.frameData.reduce((s, f) => s + f.length, 0);
  const step = Math.max(1, Math.floor(total / 1_000_000));
  const sample = new Float32Array(Math.ceil(total / step) + img.frameData.length);
  let n = 0;
  for (const f of img.frameData)
    for (let k = 0; k < f.length; k += step) if (Number.isFinite(f[k]!)) sample[n++] = f[k]!;
  if (n === 0) return [0, 1];
  const sorted = sample.subarray(0, n).sort();
  const at = (p: number) => sorted[Math.min(n - 1, Math.max(0, Math.round((p / 100) * (n - 1))))]!;
  return [at(0.5), at(99.5)];
}

/** How dicomToPlanar maps modality values to 0..255, for display ("window 40 / 400", ...). */
export function dicomDisplayMapping(img: DicomImage): {
  kind: "stored" | "voi" | "percentile";
  lo: number;
  hi: number;
} {
  const plain =
    img.bitsAllocated === 8 &&
    !img.signed &&
    img.rescaleSlope === 1 &&
    img.rescaleIntercept === 0 &&
    !img.window;
  if (plain) return { kind: "stored", lo: 0, hi: 255 };
  if (img.window) {
    const { center: c, width: w } = img.window;
    return { kind: "voi", lo: c - 0.5 - (w - 1) / 2, hi: c - 0.5 + (w - 1) / 2 };
  }
  const [lo, hi] = dicomPercentileWindow(img);
  return { kind: "percentile", lo, hi };
}

/**
 * One frame as the model's input: [C, H, W] planes 0..255 (C = 1 or 3). See the module comment
 * for the mapping; `mapping` may be passed in to reuse dicomDisplayMapping's result across frames.
 */
export function dicomToPlanar(
  img: DicomImage,
  frame = 0,
  mapping: ReturnType<typeof dicomDisplayMapping> = dicomDisplayMapping(img),
): PlanarImage {
  if (!Number.isInteger(frame) || frame < 0 || frame >= img.frames)
    throw new DicomError("(dicom)", "bad-argument", `frame ${frame} is out of range 0..${img.frames - 1}`);
  const src = img.frameData[frame]!;
  const c = img.samplesPerPixel;
  const n = img.rows * img.columns;
  const data = new Float32Array(c * n);
  const invert = img.photometric === "MONOCHROME1";
  let f: (x: number) => number;
  if (mapping.kind === "stored") f = (x) => x;
  else if (mapping.kind === "voi") {
    // DICOM's linear VOI function (PS3.3 C.11.2.1.2.1), to 0..255.
    const { center, width } = img.window!;
    f = (x) => {
      if (x <= mapping.lo) return 0;
      if (x > mapping.hi) return 255;
      return ((x - (center - 0.5)) / (width - 1) + 0.5) * 255;
    };
  } else {
    const range = Math.max(mapping.hi - mapping.lo, 1e-6);
    f = (x) => Math.min(255, Math.max(0, ((x - mapping.lo) / range) * 255));
  }
  for (let p = 0; p < n; p++) {
    for (let k = 0; k < c; k++) {
      let v = f(src[p * c + k]!);
      if (invert) v = 255 - v;
      data[k * n + p] = Number.isNaN(v) ? 0 : v;
    }
  }
  return { data, channels: c, height: img.rows, width: img.columns, quantized: mapping.kind === "stored" };
}
