// Uncertainty against error: AUROC of u as an error detector, and the uncertainty-error
// overlap (UEO) of Jungo & Reyes 2019.
import { checkSameLength, type NumArray, UEO_THRESHOLDS } from "./conventions.js";

/** Error map: 1 where pred and gt differ (values compared as given; binarize first for 0/255 masks). */
export function errorMap(pred: NumArray, gt: NumArray): Uint8Array {
  checkSameLength(pred, gt);
  const out = new Uint8Array(pred.length);
  for (let i = 0; i < pred.length; i++) out[i] = pred[i] !== gt[i] ? 1 : 0;
  return out;
}

/** Scores split by label and sorted ascending; the uncertainty's own precision is kept (Float32 stays Float32). */
export interface ScoreSplit {
  positive: Float32Array | Float64Array;
  negative: Float32Array | Float64Array;
}

/** Splits scores into positives (label non-zero) and negatives, each sorted ascending. */
export function splitScores(score: NumArray, label: NumArray): ScoreSplit {
  if (score.length !== label.length) {
    throw new RangeError(`scores have ${score.length} elements but labels have ${label.length}`);
  }
  let np = 0;
  for (let i = 0; i < label.length; i++) if (label[i] !== 0) np++;
  const Ctor = score instanceof Float32Array ? Float32Array : Float64Array;
  const positive = new Ctor(np);
  const negative = new Ctor(label.length - np);
  let a = 0;
  let b = 0;
  for (let i = 0; i < score.length; i++) {
    const s = score[i]!;
    if (Number.isNaN(s)) throw new RangeError(`score[${i}] is NaN`);
    if (label[i] !== 0) positive[a++] = s;
    else negative[b++] = s;
  }
  positive.sort();
  negative.sort();
  return { positive, negative };
}

/**
 * Exact AUROC from ascending-sorted positive and negative scores: U / (n1 n0) with
 * U = sum over positives of (#negatives below + 1/2 #negatives equal), i.e. the Mann-Whitney
 * statistic, identical to (R1 - n1 (n1 + 1) / 2) / (n1 n0) with average ranks for ties.
 * One merge sweep, O(n1 + n0). NaN when either side is empty.
 */
export function aurocSorted(positive: ArrayLike<number>, negative: ArrayLike<number>): number {
  const n1 = positive.length;
  const n0 = negative.length;
  if (n1 === 0 || n0 === 0) return Number.NaN;
  let u2 = 0; // 2 U, an integer (exact in a double up to 2^53, i.e. n1 n0 < 4.5e15)
  let i = 0;
  let j = 0;
  while (i < n1) {
    const v = positive[i]!;
    while (j < n0 && negative[j]! < v) j++;
    let k = j;
    while (k < n0 && negative[k] === v) k++;
    let c = 0;
    while (i < n1 && positive[i] === v) {
      i++;
      c++;
    }
    u2 += c * (2 * j + (k - j));
    j = k;
  }
  return u2 / (2 * n1 * n0);
}

/** AUROC of `score` for detecting label != 0 (e.g. uncertainty vs error map); NaN if all or no labels are set. */
export function auroc(score: NumArray, label: NumArray): number {
  const s = splitScores(score, label);
  return aurocSorted(s.positive, s.negative);
}

/** Mergeable counts behind UEO: per threshold, |{u > tau}| and |{u > tau} and E|, plus |E|. */
export interface UeoCounts {
  thresholds: readonly number[];
  above: Float64Array;
  overlap: Float64Array;
  errors: number;
}

function checkThresholds(t: readonly number[]): void {
  if (t.length === 0) throw new RangeError("at least one UEO threshold is needed");
  for (let i = 0; i < t.length; i++) {
    if (!Number.isFinite(t[i]!) || (i > 0 && !(t[i]! > t[i - 1]!))) {
      throw new RangeError("UEO thresholds must be finite and strictly increasing");
    }
  }
}

export function emptyUeoCounts(thresholds: readonly number[] = UEO_THRESHOLDS): UeoCounts {
  checkThresholds(thresholds);
  return {
    thresholds: [...thresholds],
    above: new Float64Array(thresholds.length),
    overlap: new Float64Array(thresholds.length),
    errors: 0,
  };
}

/** Accumulates UEO counts for one image (u and err of equal length) into `into`. O(N log T). */
export function ueoCounts(
  u: NumArray,
  err: NumArray,
  thresholds: readonly number[] = UEO_THRESHOLDS,
  into?: UeoCounts,
): UeoCounts {
  const acc = into ?? emptyUeoCounts(thresholds);
  if (
    into &&
    (into.thresholds.length !== thresholds.length || into.thresholds.some((t, i) => t !== thresholds[i]))
  ) {
    throw new RangeError("UEO counts use different thresholds");
  }
  if (u.length !== err.length) throw new RangeError(`u has ${u.length} elements but err has ${err.length}`);
  const t = acc.thresholds;
  const nt = t.length;
  // hist[m]: pixels above exactly the first m thresholds
  const hist = new Float64Array(nt + 1);
  const histErr = new Float64Array(nt + 1);
  let errors = 0;
  for (let i = 0; i < u.length; i++) {
    const x = u[i]!;
    if (Number.isNaN(x)) throw new RangeError(`uncertainty[${i}] is NaN`);
    let lo = 0;
    let hi = nt;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (x > t[mid]!) lo = mid + 1;
      else hi = mid;
    }
    hist[lo]!++;
    if (err[i] !== 0) {
      histErr[lo]!++;
      errors++;
    }
  }
  let above = 0;
  let overlap = 0;
  for (let m = nt; m >= 1; m--) {
    above += hist[m]!;
    overlap += histErr[m]!;
    acc.above[m - 1]! += above;
    acc.overlap[m - 1]! += overlap;
  }
  acc.errors += errors;
  return acc;
}

export function mergeUeoCounts(a: UeoCounts, b: UeoCounts): UeoCounts {
  if (a.thresholds.length !== b.thresholds.length || a.thresholds.some((t, i) => t !== b.thresholds[i])) {
    throw new RangeError("UEO counts use different thresholds");
  }
  for (let i = 0; i < a.thresholds.length; i++) {
    a.above[i]! += b.above[i]!;
    a.overlap[i]! += b.overlap[i]!;
  }
  a.errors += b.errors;
  return a;
}

/** UEO from counts: the maximum over thresholds of Dice({u > tau}, E), and its (smallest) arg-max tau. */
export function ueoFromCounts(c: UeoCounts): { ueo: number; tau: number; curve: number[] } {
  const curve: number[] = [];
  let best = -1;
  let tau = Number.NaN;
  for (let i = 0; i < c.thresholds.length; i++) {
    const denom = c.above[i]! + c.errors;
    const d = denom === 0 ? 1 : (2 * c.overlap[i]!) / denom;
    curve.push(d);
    if (d > best) {
      best = d;
      tau = c.thresholds[i]!;
    }
  }
  return { ueo: best, tau, curve };
}

/** Uncertainty-error overlap of one image: max over tau of Dice(u > tau, err). */
export function ueo(
  u: NumArray,
  err: NumArray,
  thresholds: readonly number[] = UEO_THRESHOLDS,
): { ueo: number; tau: number; curve: number[] } {
  return ueoFromCounts(ueoCounts(u, err, thresholds));
}
