// Mask conventions: how the values stored in a mask file become class indices.
//
// Datasets store masks as 0/255 (most binary PNGs), 0/1, label values 0..K, or as JPEG with
// compression noise around 0 and 255 (Kvasir-SEG). The convention is detected once per dataset
// from a sample of its masks (detectConvention) and then applied to every mask (toClassIndices),
// so that a mask that happens to hold only background does not flip the interpretation.

import type { RasterImage } from "../io/images/images.js";
import type { LabelMap } from "../io/planar-image.js";
import { DatasetError } from "./errors.js";

export type MaskConvention =
  /** Two values, 0 and `foreground` (1, 255 or 65535): v * 2 >= foreground -> 1, else 0. */
  | { kind: "binary"; foreground: number }
  /** Values are class indices 0..numClasses-1; anything larger is an error. */
  | { kind: "labels"; numClasses: number }
  /** Noisy or soft masks (JPEG): v > threshold -> 1. */
  | { kind: "threshold"; threshold: number };

/** The convention plus why it was chosen, for logs and reports. */
export interface DetectedConvention {
  convention: MaskConvention;
  /** Number of classes including background. */
  numClasses: number;
  /** One line, e.g. "0/255 binary masks (255 -> class 1), from 32 masks". */
  description: string;
  /** How many masks were looked at (0 when the caller gave the convention). */
  sampled: number;
  /** Distinct values seen, ascending (at most 64 listed). */
  values: number[];
}

/** Distinct-value histogram of one mask (values already one channel). */
export type ValueCounts = Map<number, number>;

/** The number of distinct values above which lossless masks are read as soft/antialiased. */
const MAX_LABELS = 32;

/**
 * One channel from a mask image. Grey masks are used as they are; RGB masks must be grey in
 * disguise (all channels equal, up to JPEG noise), and then their channel mean is used.
 */
export function maskChannel(img: RasterImage, file: string): Uint8Array | Uint16Array {
  const { channels, data, width, height } = img;
  if (channels === 1) return data;
  const n = width * height;
  const out = data instanceof Uint16Array ? new Uint16Array(n) : new Uint8Array(n);
  const tolerance = data instanceof Uint16Array ? 64 * 257 : 64;
  for (let i = 0; i < n; i++) {
    const r = data[i * channels]!;
    const g = data[i * channels + 1]!;
    const b = data[i * channels + 2]!;
    const spread = Math.max(r, g, b) - Math.min(r, g, b);
    if (spread > tolerance) {
      const x = i % width;
      const y = Math.floor(i / width);
      throw new DatasetError(
        file,
        "bad-mask",
        `colour mask: pixel (${x}, ${y}) is RGB (${r}, ${g}, ${b}); masks must be grey (0/255, 0/1 or label values)`,
        "Convert colour-coded masks to one channel of class indices.",
      );
    }
    out[i] = Math.round((r + g + b) / 3);
  }
  return out;
}

/** Counts the distinct values of one mask channel. */
export function countValues(values: Uint8Array | Uint16Array): ValueCounts {
  const hist = new Uint32Array(values instanceof Uint16Array ? 65536 : 256);
  for (let i = 0; i < values.length; i++) hist[values[i]!]!++;
  const out: ValueCounts = new Map();
  for (let v = 0; v < hist.length; v++) if (hist[v]! > 0) out.set(v, hist[v]!);
  return out;
}

/** Merges value histograms. */
export function mergeCounts(into: ValueCounts, more: ValueCounts): ValueCounts {
  for (const [v, c] of more) into.set(v, (into.get(v) ?? 0) + c);
  return into;
}

/**
 * Picks the convention from the values of a sample of masks.
 * - any lossy (JPEG) mask -> threshold at the middle of the range (127 for 8-bit);
 * - values within {0, 1} -> binary 0/1; within {0, 255} -> binary 0/255; {0, 65535} likewise;
 * - at most 32 distinct integer values below 256 -> labels, numClasses = max + 1;
 * - otherwise (antialiased or soft masks) -> threshold at the middle of the range.
 */
export function detectConvention(
  counts: ValueCounts,
  opts: { sampled: number; lossy?: boolean; sixteenBit?: boolean },
): DetectedConvention {
  const values = [...counts.keys()].sort((a, b) => a - b);
  const max = values.length ? values[values.length - 1]! : 0;
  const top = opts.sixteenBit || max > 255 ? 65535 : 255;
  const mid = Math.floor(top / 2);
  const from = `from ${opts.sampled} mask${opts.sampled === 1 ? "" : "s"}`;
  const shown = values.slice(0, 64);
  const within = (allowed: number[]) => values.every((v) => allowed.includes(v));
  const result = (convention: MaskConvention, numClasses: number, what: string): DetectedConvention => ({
    convention,
    numClasses,
    description: `${what}, ${from}`,
    sampled: opts.sampled,
    values: shown,
  });
  if (opts.lossy) {
    return result(
      { kind: "threshold", threshold: mid },
      2,
      `lossy (JPEG) masks thresholded at ${mid} (> ${mid} -> class 1; ${values.length} distinct values seen)`,
    );
  }
  if (within([0, 1])) return result({ kind: "binary", foreground: 1 }, 2, "0/1 binary masks");
  if (within([0, 255]))
    return result({ kind: "binary", foreground: 255 }, 2, "0/255 binary masks (255 -> class 1)");
  if (within([0, 65535]))
    return result({ kind: "binary", foreground: 65535 }, 2, "0/65535 binary masks (65535 -> class 1)");
  if (values.length <= MAX_LABELS && max < 256) {
    return result(
      { kind: "labels", numClasses: max + 1 },
      max + 1,
      `label masks with values ${values.join(", ")} (classes 0..${max})`,
    );
  }
  return result(
    { kind: "threshold", threshold: mid },
    2,
    `soft or antialiased masks (${values.length} distinct values) thresholded at ${mid}`,
  );
}

/** A caller-given convention, described like a detected one. */
export function givenConvention(convention: MaskConvention): DetectedConvention {
  const numClasses = convention.kind === "labels" ? convention.numClasses : 2;
  const what =
    convention.kind === "binary"
      ? `binary masks 0/${convention.foreground}`
      : convention.kind === "labels"
        ? `label masks, ${numClasses} classes`
        : `masks thresholded at ${convention.threshold}`;
  return { convention, numClasses, description: `${what} (given)`, sampled: 0, values: [] };
}

/** Applies a convention to one mask channel; `file` names the mask in errors. */
export function toClassIndices(
  values: Uint8Array | Uint16Array | ArrayLike<number>,
  width: number,
  height: number,
  convention: MaskConvention,
  file: string,
): LabelMap {
  const n = width * height;
  const out = new Uint8Array(n);
  if (convention.kind === "binary") {
    const f = convention.foreground;
    for (let i = 0; i < n; i++) out[i] = values[i]! * 2 >= f && values[i]! > 0 ? 1 : 0;
  } else if (convention.kind === "threshold") {
    const t = convention.threshold;
    for (let i = 0; i < n; i++) out[i] = values[i]! > t ? 1 : 0;
  } else {
    const k = convention.numClasses;
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      if (!(v >= 0 && v < k && Number.isInteger(v))) {
        throw new DatasetError(
          file,
          "bad-mask",
          `value ${v} at pixel (${i % width}, ${Math.floor(i / width)}) is not a class index 0..${k - 1}`,
          `Give numClasses (at least ${Math.floor(v) + 1}) or a mask convention explicitly, or fix the mask.`,
        );
      }
      out[i] = v;
    }
  }
  return { data: out, width, height };
}
