// Calibration: ECE over 15 equal-width confidence bins and the reliability diagram.
import { DEFAULT_ECE_BINS, type NumArray } from "./conventions.js";

/** Per-bin sums; mergeable across images (mergeCalibration), which is how pooled ECE is computed. */
export interface CalibrationBins {
  bins: number;
  count: Float64Array;
  /** Sum of the confidences of the pixels in each bin. */
  confidence: Float64Array;
  /** Number of correctly classified pixels in each bin. */
  correct: Float64Array;
}

export function emptyCalibration(bins = DEFAULT_ECE_BINS): CalibrationBins {
  if (!Number.isInteger(bins) || bins < 1)
    throw new RangeError(`bins must be a positive integer, got ${bins}`);
  return {
    bins,
    count: new Float64Array(bins),
    confidence: new Float64Array(bins),
    correct: new Float64Array(bins),
  };
}

/** Bin of a confidence c for bins (b/B, (b+1)/B]; c = 0 goes to bin 0. Edges are b / B. */
function binOf(c: number, bins: number): number {
  let b = Math.ceil(c * bins) - 1;
  if (b < 0) b = 0;
  else if (b >= bins) b = bins - 1;
  // c * bins may round across an edge: settle against the edges b / B themselves
  while (b > 0 && c <= b / bins) b--;
  while (b < bins - 1 && c > (b + 1) / bins) b++;
  return b;
}

/**
 * Accumulates calibration bins for one image into `into` (a fresh set when absent).
 * `prob` is either the foreground probability (length N = gt.length; gt non-zero = foreground)
 * or K class planes, class-first (length K N, plane k at [k N, (k+1) N); gt holds labels 0..K-1).
 * Binary: predicted class = p > 0.5, confidence max(p, 1 - p). K planes: first argmax, max_k p_k.
 */
export function calibrationBins(
  prob: NumArray,
  gt: NumArray,
  bins = DEFAULT_ECE_BINS,
  into?: CalibrationBins,
): CalibrationBins {
  const acc = into ?? emptyCalibration(bins);
  if (acc.bins !== bins) throw new RangeError(`cannot add ${bins} bins into ${acc.bins}`);
  const n = gt.length;
  if (n === 0) return acc;
  const k = prob.length / n;
  if (!Number.isInteger(k) || k < 1) {
    throw new RangeError(`prob has ${prob.length} elements: expected ${n} (binary) or a multiple K * ${n}`);
  }
  if (k === 1) {
    for (let i = 0; i < n; i++) {
      const p = prob[i]!;
      if (!Number.isFinite(p)) throw new RangeError(`prob[${i}] is not finite: ${p}`);
      const fg = p > 0.5;
      const c = fg ? p : 1 - p;
      const b = binOf(c, bins);
      acc.count[b]!++;
      acc.confidence[b]! += c;
      if (fg === (gt[i] !== 0)) acc.correct[b]!++;
    }
    return acc;
  }
  for (let i = 0; i < n; i++) {
    let best = 0;
    let c = prob[i]!;
    for (let j = 1; j < k; j++) {
      const p = prob[j * n + i]!;
      if (Number.isNaN(p)) throw new RangeError(`prob at plane ${j}, pixel ${i} is NaN`);
      if (p > c) {
        c = p;
        best = j;
      }
    }
    if (!Number.isFinite(c)) throw new RangeError(`prob at pixel ${i} is not finite`);
    const label = gt[i]!;
    if (!(Number.isInteger(label) && label >= 0 && label < k)) {
      throw new RangeError(`gt[${i}] = ${label} is not a class label in 0..${k - 1}`);
    }
    const b = binOf(c, bins);
    acc.count[b]!++;
    acc.confidence[b]! += c;
    if (best === label) acc.correct[b]!++;
  }
  return acc;
}

/** Adds b's sums into a (in place) and returns a. */
export function mergeCalibration(a: CalibrationBins, b: CalibrationBins): CalibrationBins {
  if (a.bins !== b.bins) throw new RangeError(`cannot merge ${b.bins} bins into ${a.bins}`);
  for (let i = 0; i < a.bins; i++) {
    a.count[i]! += b.count[i]!;
    a.confidence[i]! += b.confidence[i]!;
    a.correct[i]! += b.correct[i]!;
  }
  return a;
}

/** ECE = sum_b (n_b / N) |acc_b - conf_b| = sum_b |correct_b - confidence_b| / N; NaN when N = 0. */
export function eceFromBins(c: CalibrationBins): number {
  let n = 0;
  let s = 0;
  for (let b = 0; b < c.bins; b++) {
    n += c.count[b]!;
    s += Math.abs(c.correct[b]! - c.confidence[b]!);
  }
  return n === 0 ? Number.NaN : s / n;
}

/** Expected calibration error over the pixels of one image; see calibrationBins for `prob`. */
export function expectedCalibrationError(prob: NumArray, gt: NumArray, bins = DEFAULT_ECE_BINS): number {
  return eceFromBins(calibrationBins(prob, gt, bins));
}

/** One reliability-diagram bar: mean confidence and accuracy in (lower, upper]; null when empty. */
export interface ReliabilityBin {
  lower: number;
  upper: number;
  confidence: number | null;
  accuracy: number | null;
  count: number;
}

/** Reliability diagram data, one entry per bin, for plotting accuracy against confidence. */
export function reliabilityDiagram(c: CalibrationBins): ReliabilityBin[] {
  const out: ReliabilityBin[] = [];
  for (let b = 0; b < c.bins; b++) {
    const n = c.count[b]!;
    out.push({
      lower: b / c.bins,
      upper: (b + 1) / c.bins,
      confidence: n > 0 ? c.confidence[b]! / n : null,
      accuracy: n > 0 ? c.correct[b]! / n : null,
      count: n,
    });
  }
  return out;
}
