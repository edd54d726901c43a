// One case (an image, or one class of it): every metric at once, sharing the work.
import { boundaryF } from "./boundary.js";
import { type CalibrationBins, calibrationBins, eceFromBins } from "./calibration.js";
import {
  checkLength,
  checkShape,
  DEFAULT_ECE_BINS,
  type NumArray,
  type Shape2D,
  type Spacing2D,
  UEO_THRESHOLDS,
} from "./conventions.js";
import { overlapCounts } from "./overlap.js";
import { type SurfaceOptions, surfaceDistanceMetrics } from "./surface.js";
import {
  aurocSorted,
  errorMap,
  type ScoreSplit,
  splitScores,
  type UeoCounts,
  ueoCounts,
  ueoFromCounts,
} from "./uncertainty.js";

export interface CaseInput {
  /** Name of the image, carried into the report. */
  id?: string;
  shape: Shape2D;
  /** Predicted mask, H*W, non-zero = foreground. */
  pred: NumArray;
  /** Ground-truth mask, H*W, non-zero = foreground. */
  gt: NumArray;
  /** Foreground probability, H*W, in [0, 1]. Needed for ece. */
  prob?: NumArray;
  /** Per-pixel uncertainty, H*W, in [0, 1]. Needed for auroc_u and ueo. */
  uncertainty?: NumArray;
  /** [sy, sx]; overrides the options' spacing for this image. */
  spacing?: Spacing2D;
  /** The model's trust in the image (udeg/trust.ts), carried into the report; null: not judged. */
  trust?: { trust: number; flagged: boolean } | null;
}

export interface EvaluateOptions extends SurfaceOptions {
  /** ECE bins, default 15. */
  eceBins?: number;
  /** UEO thresholds, default 0.05..0.95 step 0.05. */
  ueoThresholds?: readonly number[];
}

/** Why a value is null, or how it was obtained. */
export type CaseFlag =
  | "both_empty" // pred and gt empty: dice = iou = 1, hd95 = assd = 0, sensitivity and precision null
  | "gt_empty" // gt empty, pred not: sensitivity null
  | "pred_empty" // pred empty, gt not: precision null
  | "distance_undefined" // hd95/assd null because exactly one mask is empty
  | "distance_imputed" // hd95/assd set to the image diagonal because exactly one mask is empty
  | "no_prob" // ece null: no probability map given
  | "no_uncertainty" // auroc_u/ueo null: no uncertainty map given
  | "no_errors" // auroc_u null: every pixel is right
  | "all_errors" // auroc_u null: every pixel is wrong
  | "untrusted"; // the trust flag (udeg/trust.ts): the image is unlike the model's training data

/** Per-image metrics; null stands for NaN / not computable and always comes with a flag. */
export interface CaseResult {
  id: string | null;
  dice: number;
  iou: number;
  /** |pred and gt| / |gt|; null when gt is empty. */
  sensitivity: number | null;
  /** |pred and gt| / |pred|; null when pred is empty. */
  precision: number | null;
  hd95: number | null;
  assd: number | null;
  /** Boundary F-score at 1 and 2 px tolerance (boundary.ts). */
  bf1: number;
  bf2: number;
  ece: number | null;
  auroc_u: number | null;
  ueo: number | null;
  /** The threshold at which ueo was reached. */
  ueo_tau: number | null;
  flags: CaseFlag[];
  /** The model's trust in the image (0 to 1), where the model judges it; else null. */
  trust: number | null;
}

/** What an image contributes to the split's pooled ECE / AUROC / UEO. */
export interface CasePool {
  calibration: CalibrationBins | null;
  ueo: UeoCounts | null;
  scores: ScoreSplit | null;
}

export const orNull = (x: number): number | null => (Number.isNaN(x) ? null : x);

function binarize(a: NumArray): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] !== 0 ? 1 : 0;
  return out;
}

export function evaluateWithPool(
  input: CaseInput,
  options: EvaluateOptions,
): { result: CaseResult; pool: CasePool } {
  const [h, w] = checkShape(input.shape);
  const n = h * w;
  checkLength("pred", input.pred, n);
  checkLength("gt", input.gt, n);
  const pred = binarize(input.pred);
  const gt = binarize(input.gt);
  const flags: CaseFlag[] = [];
  const spacing = input.spacing ?? options.spacing;

  const ov = overlapCounts(pred, gt);
  const union = ov.pred + ov.gt - ov.both;
  const diceV = ov.pred + ov.gt === 0 ? 1 : (2 * ov.both) / (ov.pred + ov.gt);
  const iouV = union === 0 ? 1 : ov.both / union;

  const sd = surfaceDistanceMetrics(pred, gt, input.shape, { ...options, spacing });
  if (sd.empty === "both") flags.push("both_empty");
  else if (sd.empty === "gt") flags.push("gt_empty");
  else if (sd.empty === "pred") flags.push("pred_empty");
  if (sd.imputed) flags.push("distance_imputed");
  else if (Number.isNaN(sd.hd95)) flags.push("distance_undefined");

  let eceV = Number.NaN;
  let calibration: CalibrationBins | null = null;
  if (input.prob) {
    checkLength("prob", input.prob, n);
    calibration = calibrationBins(input.prob, gt, options.eceBins ?? DEFAULT_ECE_BINS);
    eceV = eceFromBins(calibration);
  } else flags.push("no_prob");

  let aurocV = Number.NaN;
  let ueoV = Number.NaN;
  let tau = Number.NaN;
  let ueoC: UeoCounts | null = null;
  let scores: ScoreSplit | null = null;
  if (input.uncertainty) {
    checkLength("uncertainty", input.uncertainty, n);
    const err = errorMap(pred, gt);
    scores = splitScores(input.uncertainty, err);
    aurocV = aurocSorted(scores.positive, scores.negative);
    if (scores.positive.length === 0) flags.push("no_errors");
    else if (scores.negative.length === 0) flags.push("all_errors");
    ueoC = ueoCounts(input.uncertainty, err, options.ueoThresholds ?? UEO_THRESHOLDS);
    const r = ueoFromCounts(ueoC);
    ueoV = r.ueo;
    tau = r.tau;
  } else flags.push("no_uncertainty");

  const result: CaseResult = {
    id: input.id ?? null,
    dice: diceV,
    iou: iouV,
    sensitivity: ov.gt === 0 ? null : ov.both / ov.gt,
    precision: ov.pred === 0 ? null : ov.both / ov.pred,
    hd95: orNull(sd.hd95),
    assd: orNull(sd.assd),
    bf1: boundaryF(pred, gt, input.shape, 1),
    bf2: boundaryF(pred, gt, input.shape, 2),
    ece: orNull(eceV),
    auroc_u: orNull(aurocV),
    ueo: orNull(ueoV),
    ueo_tau: orNull(tau),
    flags,
    trust: input.trust ? input.trust.trust : null,
  };
  if (input.trust?.flagged) flags.push("untrusted");
  return { result, pool: { calibration, ueo: ueoC, scores } };
}

/**
 * All metrics of one binary case: dice, iou, hd95, assd (from pred and gt), ece (needs prob),
 * auroc_u and ueo (need uncertainty; errors = binarized pred != binarized gt). Values that cannot be
 * computed are null with a flag saying why. See the file header for every convention.
 */
export function evaluateCase(input: CaseInput, options: EvaluateOptions = {}): CaseResult {
  return evaluateWithPool(input, options).result;
}

/**
 * The one-vs-rest binary case of class c in a multi-class label map: pred == c, gt == c, and for
 * K class planes of probabilities (class-first, K H W) the plane of c. A `prob` of H*W is dropped
 * (it is no per-class probability); uncertainty is kept as is.
 */
export function classCase(input: CaseInput, c: number): CaseInput {
  const [h, w] = checkShape(input.shape);
  const n = h * w;
  checkLength("pred", input.pred, n);
  checkLength("gt", input.gt, n);
  const pred = new Uint8Array(n);
  const gt = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    pred[i] = input.pred[i] === c ? 1 : 0;
    gt[i] = input.gt[i] === c ? 1 : 0;
  }
  let prob: NumArray | undefined;
  if (input.prob && input.prob.length !== n) {
    const k = input.prob.length / n;
    if (!Number.isInteger(k) || c < 0 || c >= k || !Number.isInteger(c)) {
      throw new RangeError(`class ${c} has no plane in prob of ${input.prob.length} elements (H*W = ${n})`);
    }
    const p = input.prob;
    prob =
      p instanceof Float32Array || p instanceof Float64Array
        ? p.subarray(c * n, (c + 1) * n)
        : Float64Array.from({ length: n }, (_, i) => p[c * n + i]!);
  }
  const out: CaseInput = { shape: input.shape, pred, gt };
  if (input.id !== undefined) out.id = input.id;
  if (prob) out.prob = prob;
  if (input.uncertainty) out.uncertainty = input.uncertainty;
  if (input.spacing) out.spacing = input.spacing;
  return out;
}

/** evaluateCase of every class's one-vs-rest case (classCase), keyed by class value. */
export function evaluateClasses(
  input: CaseInput,
  classes: readonly number[],
  options: EvaluateOptions = {},
): Record<string, CaseResult> {
  const out: Record<string, CaseResult> = {};
  for (const c of classes) out[String(c)] = evaluateCase(classCase(input, c), options);
  return out;
}
