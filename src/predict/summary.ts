// OUT/summary.json of `udeg predict` (issue 28): for every image, slice or frame predicted, how
// like the training images it is (udeg/trust.ts), so that a pipeline can hold back the masks of
// images the model was not made for. Written by the local run and by the queue's submitter alike.
import { join } from "node:path";
import { writeJsonAtomic } from "../io/atomic.js";
import type { UdegPrediction } from "../udeg/prediction.js";

/** One predicted image (or a slice of a volume, or a frame of a DICOM file). */
export interface ImageTrust {
  /** The input file (or DICOM instance / series item) it came from. */
  input: string;
  /** 1-based slice of a volume or frame of a multi-frame file, where there are several. */
  slice?: number;
  /** 0 to 1, higher = more like the training images; null for runs trained before the flag. */
  trust: number | null;
  flagged: boolean | null;
}

export interface PredictSummary {
  model: string;
  /** How many images were flagged as unlike the training data. */
  flagged: number;
  images: ImageTrust[];
}

/** The summary entry of one prediction. */
export function imageTrust(input: string, p: Pick<UdegPrediction, "trust">, slice?: number): ImageTrust {
  return {
    input,
    ...(slice === undefined ? {} : { slice }),
    trust: p.trust ? Number(p.trust.trust.toFixed(4)) : null,
    flagged: p.trust ? p.trust.flagged : null,
  };
}

/** The summary, its images in input order (a queue's jobs finish in any order). */
export function summarize(model: string, images: ImageTrust[]): PredictSummary {
  const key = (i: ImageTrust) => [i.input, i.slice ?? 0] as const;
  const sorted = [...images].sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] - y[1];
  });
  return { model, flagged: sorted.filter((i) => i.flagged).length, images: sorted };
}

/** Writes OUT/summary.json (summary-K-of-N.json for shard K of N, which share OUT); returns its path. */
export function writePredictSummary(
  out: string,
  summary: PredictSummary,
  shard?: { k: number; n: number },
): string {
  const path = join(out, shard ? `summary-${shard.k}-of-${shard.n}.json` : "summary.json");
  writeJsonAtomic(path, summary);
  return path;
}

/** The line printed at the end of a prediction: how many images are flagged, and what it means. */
export function flaggedLine(s: PredictSummary): string {
  const judged = s.images.filter((i) => i.flagged !== null).length;
  if (judged === 0)
    return "trust: not judged (the run was trained before udeg calibrated its trust flag; retrain to have it)";
  if (s.flagged === 0) return `trust: none of ${judged} image(s) flagged as unlike the training data`;
  const names = s.images
    .filter((i) => i.flagged)
    .slice(0, 5)
    .map((i) => (i.slice ? `${i.input} [${i.slice}]` : i.input));
  return (
    `trust: ${s.flagged} of ${judged} image(s) FLAGGED as unlike the training data (${names.join(", ")}${s.flagged > 5 ? ", ..." : ""}): ` +
    "do not use their masks without a look (summary.json lists every image)"
  );
}
