// Which mask convention a dataset uses (0/255, 0/1, labels, JPEG-noisy), from a sample of its
// masks (or label volumes); see masks.ts for the conventions themselves.
import { basename } from "node:path";
import { readImage } from "../io/images/images.js";
import { scaledVolume } from "../io/nifti/nifti.js";
import { DatasetError, unreadable } from "./errors.js";
import type { Scan } from "./layouts/index.js";
import {
  countValues,
  type DetectedConvention,
  detectConvention,
  givenConvention,
  type MaskConvention,
  maskChannel,
  mergeCounts,
  type ValueCounts,
} from "./masks.js";
import type { VolumeCache } from "./volume-cache.js";

function evenly<T>(items: readonly T[], n: number): T[] {
  if (items.length <= n) return [...items];
  return Array.from({ length: n }, (_, i) => items[Math.floor((i * items.length) / n)]!);
}

export async function detectMasks(
  scan: Scan,
  opts: { maskConvention?: MaskConvention; numClasses?: number; detectSamples?: number },
  cache: VolumeCache,
): Promise<DetectedConvention> {
  if (opts.maskConvention) return givenConvention(opts.maskConvention);
  if (scan.layout === "nifti") {
    const labels = [...new Set(scan.samples.map((s) => s.masks[0]!))];
    const picked = evenly(labels, opts.detectSamples ?? 4);
    let max = 0;
    for (const path of picked) {
      const vol = await cache.get(path).catch((e: unknown) => {
        throw unreadable(path, "label volume", basename(path), e);
      });
      for (const v of scaledVolume(vol)) {
        if (!Number.isInteger(v) || v < 0 || v > 255) {
          throw new DatasetError(
            path,
            "bad-mask",
            `label value ${v} is not a class index 0..255`,
            "Label volumes hold integer classes.",
          );
        }
        if (v > max) max = v;
      }
    }
    const numClasses = Math.max(opts.numClasses ?? 0, max + 1, 2);
    const d = givenConvention({ kind: "labels", numClasses });
    const how = opts.numClasses ? "given" : `max label ${max} in ${picked.length} volume(s)`;
    return { ...d, description: `label volumes, ${numClasses} classes (${how})`, sampled: picked.length };
  }
  if (opts.numClasses !== undefined && opts.numClasses > 2)
    return givenConvention({ kind: "labels", numClasses: opts.numClasses });
  const picked = evenly(scan.samples, opts.detectSamples ?? 32);
  const counts: ValueCounts = new Map();
  let lossy = false;
  let sixteen = false;
  let files = 0;
  for (const s of picked) {
    for (const m of s.masks) {
      const img = await readImage(m, { palette: "indices" }).catch((e: unknown) => {
        throw unreadable(m, "mask", s.name, e);
      });
      if (img.format === "jpeg") lossy = true;
      if (img.bitDepth === 16) sixteen = true;
      mergeCounts(counts, countValues(maskChannel(img, m)));
      files++;
    }
  }
  return detectConvention(counts, { sampled: files, lossy, sixteenBit: sixteen });
}
