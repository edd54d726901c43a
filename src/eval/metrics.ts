// Segmentation and uncertainty metrics for 2-D images, in plain TypeScript on typed arrays.
//
// Layout: every image is H x W, row-major (index = y * W + x). Masks are any numeric arrays where
// non-zero means foreground (0/1, 0/255 and label values all work, as in medpy). Multi-class label
// maps are evaluated one class at a time (one-vs-rest): `classCase` / `evaluateClasses`.
// Pixel spacing is [sy, sx] (row spacing, column spacing), 1 by default, mm when known.
//
// Conventions (each one is also stated where it is implemented):
// - Surface (boundary) pixels, as medpy: border = mask XOR binary_erosion(mask, structure of
//   connectivity 1), with scipy's default border_value 0, i.e. a foreground pixel is on the surface
//   when one of its 4 neighbours is background or lies outside the image. Connectivity 2 (8
//   neighbours) is an option.
// - Distances: exact Euclidean distance transform (Felzenszwalb & Huttenlocher 2012, one 1-D
//   squared transform per axis, anisotropic spacing), O(HW).
// - HD95 / ASSD: `surfaceConvention` "medpy" (default) reproduces medpy.metric.binary 0.4/0.5:
//   hd95 = numpy.percentile(hstack(d(pred->gt), d(gt->pred)), 95) (one percentile of the pooled
//   directed distances) and assd = (mean d(pred->gt) + mean d(gt->pred)) / 2. "monai" is MONAI's
//   compute_hausdorff_distance(percentile=95) / compute_average_surface_distance(symmetric=True)
//   and DeepMind's surface-distance robust Hausdorff used by MedSAM: hd95 = max of the two
//   directed 95th percentiles, assd = mean of the concatenated distances. Percentiles use numpy's
//   default "linear" method, bit for bit.
// - Empty masks: both empty -> dice 1, iou 1, hd95 0, assd 0 (medpy's dc/jc give 1 for two empty
//   masks; no boundary to miss). Exactly one empty -> dice 0, iou 0 and, by default
//   (`emptyDistance: "nan"`), hd95 = assd = NaN, reported as null with the flag
//   "distance_undefined" and skipped (and counted) by the means. Option "diagonal" imputes the
//   physical image diagonal sqrt((H sy)^2 + (W sx)^2) instead (flag "distance_imputed").
//   Why NaN by default: a surface distance to nothing does not exist; any imputed number depends
//   on the image size and spacing, not on the prediction, and silently mixes a penalty into a mean
//   of distances (medpy raises here, MONAI returns NaN). The failure is already fully charged to
//   Dice/IoU (0) and is visible in the skipped count. Note that SAMed/TransUNet's
//   calculate_metric_percase differs: pred empty -> (dice 0, hd95 0) even when gt is empty, and
//   pred non-empty with gt empty -> (dice 1, hd95 0); numbers from those scripts are therefore
//   not comparable on cases with empty masks.
// - ECE: 15 equal-width bins (b/B, (b+1)/B] over the confidence of the predicted class: for a
//   binary foreground probability p the predicted class is p > 0.5 and the confidence
//   max(p, 1 - p); for K class planes it is argmax_k p_k (first maximum) and max_k p_k.
//   ECE = sum_b (n_b / N) |acc_b - conf_b|. The predicted class comes from `prob`, not from
//   `pred`, so post-processing of the mask does not change calibration.
// - auroc_u: AUROC of the uncertainty u as a detector of wrong pixels (label = pred != gt,
//   score = u): the Mann-Whitney U statistic with ties counted 1/2, equal to the average-rank
//   formula. NaN (null, with a flag) when every pixel is right or every pixel is wrong.
// - ueo: uncertainty-error overlap (Jungo & Reyes 2019): Dice between {u > tau} and the error
//   map, reported as the maximum over tau in {0.05, 0.10, ..., 0.95} (with the arg-max tau). A
//   threshold with no errors and no pixel above it counts as Dice 1 (same rule as dice()). u is
//   expected in [0, 1] (evidential u = K / S is).
// - Split level: `mean` is the mean over images of each per-image value (NaN skipped, counted in
//   `skipped`). `pooled` (SplitEvaluator) computes ECE, AUROC and UEO once over all pixels of the
//   split pooled together; per-image values are in `per_image`.

/** [height, width]. */
export type Shape2D = readonly [number, number];
/** [sy, sx]: physical size of a pixel along rows (y) and columns (x). */
export type Spacing2D = readonly [number, number];
/** Any numeric array; for masks non-zero means foreground. */
export type NumArray = ArrayLike<number>;

export const METRIC_NAMES = ["dice", "iou", "hd95", "assd", "ece", "auroc_u", "ueo"] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

/** Distance metrics follow medpy (default) or MONAI / DeepMind surface-distance; see the file header. */
export type SurfaceConvention = "medpy" | "monai";
/** What hd95/assd are when exactly one of pred and gt is empty. */
export type EmptyDistance = "nan" | "diagonal";

export const DEFAULT_ECE_BINS = 15;
/** tau = 0.05, 0.10, ..., 0.95, computed as k / 20 so that they are exact decimals' nearest doubles. */
export const UEO_THRESHOLDS: readonly number[] = Object.freeze(
  Array.from({ length: 19 }, (_, k) => (k + 1) / 20),
);

// ----------------------------------------------------------------------------------------------
// validation helpers

function checkShape(shape: Shape2D): [number, number] {
  const [h, w] = shape;
  if (!Number.isInteger(h) || !Number.isInteger(w) || h <= 0 || w <= 0) {
    throw new RangeError(`shape must be two positive integers [H, W], got [${shape.join(", ")}]`);
  }
  return [h, w];
}

function checkSpacing(spacing: Spacing2D | undefined): [number, number] {
  if (spacing === undefined) return [1, 1];
  const [sy, sx] = spacing;
  if (!(Number.isFinite(sy) && sy > 0 && Number.isFinite(sx) && sx > 0)) {
    throw new RangeError(`spacing must be two positive finite numbers [sy, sx], got [${spacing.join(", ")}]`);
  }
  return [sy, sx];
}

function checkLength(name: string, a: NumArray, n: number): void {
  if (a.length !== n) throw new RangeError(`${name} has ${a.length} elements, expected ${n}`);
}

function checkSameLength(a: NumArray, b: NumArray): void {
  if (a.length !== b.length) throw new RangeError(`pred has ${a.length} elements but gt has ${b.length}`);
}

// ----------------------------------------------------------------------------------------------
// overlap

/** Counts |A|, |B| and |A and B| for masks where non-zero is foreground. */
export function overlapCounts(pred: NumArray, gt: NumArray): { pred: number; gt: number; both: number } {
  checkSameLength(pred, gt);
  let np = 0;
  let ng = 0;
  let both = 0;
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i] !== 0;
    const g = gt[i] !== 0;
    if (p) np++;
    if (g) ng++;
    if (p && g) both++;
  }
  return { pred: np, gt: ng, both };
}

/** Dice = 2|A and B| / (|A| + |B|); 1 when both masks are empty (medpy's dc). */
export function dice(pred: NumArray, gt: NumArray): number {
  const c = overlapCounts(pred, gt);
  return c.pred + c.gt === 0 ? 1 : (2 * c.both) / (c.pred + c.gt);
}

/** IoU (Jaccard) = |A and B| / |A or B|; 1 when both masks are empty (medpy's jc). */
export function iou(pred: NumArray, gt: NumArray): number {
  const c = overlapCounts(pred, gt);
  const union = c.pred + c.gt - c.both;
  return union === 0 ? 1 : c.both / union;
}

// ----------------------------------------------------------------------------------------------
// surfaces and distance transform

/**
 * Surface pixels of a mask, as medpy: mask XOR binary_erosion(mask, generate_binary_structure(2,
 * connectivity)) with pixels outside the image counted as background (scipy's border_value = 0).
 * Connectivity 1: a foreground pixel with a background or outside 4-neighbour; connectivity 2:
 * the same with 8 neighbours.
 */
export function surfaceMask(mask: NumArray, shape: Shape2D, connectivity: 1 | 2 = 1): Uint8Array {
  const [h, w] = checkShape(shape);
  checkLength("mask", mask, h * w);
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (mask[i] === 0) continue;
      if (y === 0 || x === 0 || y === h - 1 || x === w - 1) {
        out[i] = 1;
        continue;
      }
      let border = mask[i - w] === 0 || mask[i + w] === 0 || mask[i - 1] === 0 || mask[i + 1] === 0;
      if (!border && connectivity === 2) {
        border =
          mask[i - w - 1] === 0 || mask[i - w + 1] === 0 || mask[i + w - 1] === 0 || mask[i + w + 1] === 0;
      }
      if (border) out[i] = 1;
    }
  }
  return out;
}

/**
 * One 1-D squared distance transform (Felzenszwalb & Huttenlocher): d[q] = min_p ((q - p) s)^2 + f[p]
 * over the finite f[p]; all Infinity when there is none. v, z are scratch (n and n + 1 long).
 */
function dt1d(f: Float64Array, n: number, s: number, d: Float64Array, v: Int32Array, z: Float64Array): void {
  let k = -1;
  for (let q = 0; q < n; q++) {
    const fq = f[q]!;
    if (fq === Number.POSITIVE_INFINITY) continue;
    const xq = q * s;
    const hq = fq + xq * xq;
    if (k < 0) {
      k = 0;
      v[0] = q;
      z[0] = Number.NEGATIVE_INFINITY;
      z[1] = Number.POSITIVE_INFINITY;
      continue;
    }
    let sq: number;
    for (;;) {
      const p = v[k]!;
      const xp = p * s;
      // where the parabolas rooted at p and q intersect (z[0] = -inf stops the loop at k = 0)
      sq = (hq - (f[p]! + xp * xp)) / (2 * (xq - xp));
      if (sq <= z[k]!) k--;
      else break;
    }
    k++;
    v[k] = q;
    z[k] = sq;
    z[k + 1] = Number.POSITIVE_INFINITY;
  }
  if (k < 0) {
    d.fill(Number.POSITIVE_INFINITY, 0, n);
    return;
  }
  let j = 0;
  for (let q = 0; q < n; q++) {
    const x = q * s;
    while (z[j + 1]! < x) j++;
    const p = v[j]!;
    // integer offset times spacing, as scipy forms its distances
    const dq = (q - p) * s;
    d[q] = dq * dq + f[p]!;
  }
}

/**
 * Exact squared Euclidean distance from every pixel to the nearest site (non-zero pixel of `sites`),
 * in physical units: min over sites of (dy sy)^2 + (dx sx)^2. Infinity everywhere if there is no
 * site. O(HW): one 1-D transform along every column, then along every row.
 */
export function squaredDistanceTransform(sites: NumArray, shape: Shape2D, spacing?: Spacing2D): Float64Array {
  const [h, w] = checkShape(shape);
  const [sy, sx] = checkSpacing(spacing);
  checkLength("sites", sites, h * w);
  const out = new Float64Array(h * w);
  const m = Math.max(h, w);
  const f = new Float64Array(m);
  const d = new Float64Array(m);
  const v = new Int32Array(m);
  const z = new Float64Array(m + 1);
  for (let x = 0; x < w; x++) {
    for (let y = 0; y < h; y++) f[y] = sites[y * w + x] !== 0 ? 0 : Number.POSITIVE_INFINITY;
    dt1d(f, h, sy, d, v, z);
    for (let y = 0; y < h; y++) out[y * w + x] = d[y]!;
  }
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) f[x] = out[row + x]!;
    dt1d(f, w, sx, d, v, z);
    for (let x = 0; x < w; x++) out[row + x] = d[x]!;
  }
  return out;
}

/** Euclidean distance to the nearest site (scipy's distance_transform_edt(~sites, sampling)). */
export function distanceTransform(sites: NumArray, shape: Shape2D, spacing?: Spacing2D): Float64Array {
  const d = squaredDistanceTransform(sites, shape, spacing);
  for (let i = 0; i < d.length; i++) d[i] = Math.sqrt(d[i]!);
  return d;
}

/** Distances from every surface pixel of `from` to the nearest surface pixel of `to` (medpy's __surface_distances). */
export function directedSurfaceDistances(
  from: NumArray,
  to: NumArray,
  shape: Shape2D,
  options: { spacing?: Spacing2D; connectivity?: 1 | 2 } = {},
): Float64Array {
  const conn = options.connectivity ?? 1;
  return gatherDistances(
    surfaceMask(from, shape, conn),
    surfaceMask(to, shape, conn),
    shape,
    options.spacing,
  );
}

function gatherDistances(fromBorder: Uint8Array, toBorder: Uint8Array, shape: Shape2D, spacing?: Spacing2D) {
  const d2 = squaredDistanceTransform(toBorder, shape, spacing);
  let n = 0;
  for (let i = 0; i < fromBorder.length; i++) n += fromBorder[i]!;
  const out = new Float64Array(n);
  let k = 0;
  for (let i = 0; i < fromBorder.length; i++) if (fromBorder[i] !== 0) out[k++] = Math.sqrt(d2[i]!);
  return out;
}

// ----------------------------------------------------------------------------------------------
// percentiles

/** numpy's _lerp: a + (b - a) t, computed from b's side when t >= 0.5 (numpy >= 1.22). */
function lerp(a: number, b: number, t: number): number {
  const diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

/**
 * q-th percentile (0..100) of values sorted ascending, numpy.percentile's default method
 * "linear": virtual index (n - 1) q / 100, linear interpolation between its neighbours. NaN for
 * an empty array.
 */
export function percentileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  if (!(q >= 0 && q <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${q}`);
  const idx = (n - 1) * (q / 100);
  if (idx >= n - 1) return sorted[n - 1]!;
  if (idx < 0) return sorted[0]!;
  const lo = Math.floor(idx);
  return lerp(sorted[lo]!, sorted[lo + 1]!, idx - lo);
}

/** numpy.percentile(values, q) (linear); sorts a copy. */
export function percentile(values: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(values).sort();
  return percentileSorted(s, q);
}

function mean(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s / a.length;
}

// ----------------------------------------------------------------------------------------------
// surface distance metrics

export interface SurfaceOptions {
  /** [sy, sx], default [1, 1]. */
  spacing?: Spacing2D;
  /** Surface definition, 1 (default, medpy's default) or 2. */
  connectivity?: 1 | 2;
  /** "medpy" (default) or "monai"; see the file header. */
  surfaceConvention?: SurfaceConvention;
  /** Value when exactly one mask is empty: "nan" (default) or "diagonal". */
  emptyDistance?: EmptyDistance;
}

/** Which of the two masks are empty. */
export type EmptyCase = "none" | "both" | "pred" | "gt";

export interface SurfaceMetrics {
  /** 95th-percentile Hausdorff distance (convention per options). */
  hd95: number;
  /** Average symmetric surface distance (convention per options). */
  assd: number;
  /** Plain (100th-percentile) symmetric Hausdorff distance. */
  hd: number;
  empty: EmptyCase;
  /** true when hd95/assd/hd were imputed with the image diagonal. */
  imputed: boolean;
}

/** The physical image diagonal sqrt((H sy)^2 + (W sx)^2): larger than any attainable distance. */
export function imageDiagonal(shape: Shape2D, spacing?: Spacing2D): number {
  const [h, w] = checkShape(shape);
  const [sy, sx] = checkSpacing(spacing);
  return Math.hypot(h * sy, w * sx);
}

/**
 * HD95, ASSD and HD between the surfaces of pred and gt in one pass (two surfaces, two EDTs).
 * Both empty: all 0. One empty: NaN, or the image diagonal with `emptyDistance: "diagonal"`.
 */
export function surfaceDistanceMetrics(
  pred: NumArray,
  gt: NumArray,
  shape: Shape2D,
  options: SurfaceOptions = {},
): SurfaceMetrics {
  const [h, w] = checkShape(shape);
  checkLength("pred", pred, h * w);
  checkLength("gt", gt, h * w);
  const conn = options.connectivity ?? 1;
  const convention = options.surfaceConvention ?? "medpy";
  const spacing = checkSpacing(options.spacing);
  const bp = surfaceMask(pred, shape, conn);
  const bg = surfaceMask(gt, shape, conn);
  const hasP = bp.includes(1);
  const hasG = bg.includes(1);
  if (!hasP && !hasG) return { hd95: 0, assd: 0, hd: 0, empty: "both", imputed: false };
  if (!hasP || !hasG) {
    const empty: EmptyCase = hasP ? "gt" : "pred";
    if ((options.emptyDistance ?? "nan") === "diagonal") {
      const d = imageDiagonal(shape, spacing);
      return { hd95: d, assd: d, hd: d, empty, imputed: true };
    }
    return { hd95: Number.NaN, assd: Number.NaN, hd: Number.NaN, empty, imputed: false };
  }
  const dpg = gatherDistances(bp, bg, shape, spacing).sort();
  const dgp = gatherDistances(bg, bp, shape, spacing).sort();
  const hd = Math.max(dpg[dpg.length - 1]!, dgp[dgp.length - 1]!);
  let hd95: number;
  let assd: number;
  if (convention === "medpy") {
    const all = new Float64Array(dpg.length + dgp.length);
    all.set(dpg);
    all.set(dgp, dpg.length);
    hd95 = percentileSorted(all.sort(), 95);
    assd = (mean(dpg) + mean(dgp)) / 2;
  } else {
    hd95 = Math.max(percentileSorted(dpg, 95), percentileSorted(dgp, 95));
    let s = 0;
    for (let i = 0; i < dpg.length; i++) s += dpg[i]!;
    for (let i = 0; i < dgp.length; i++) s += dgp[i]!;
    assd = s / (dpg.length + dgp.length);
  }
  return { hd95, assd, hd, empty: "none", imputed: false };
}

/** 95th-percentile Hausdorff distance; see surfaceDistanceMetrics for conventions. */
export function hd95(pred: NumArray, gt: NumArray, shape: Shape2D, options: SurfaceOptions = {}): number {
  return surfaceDistanceMetrics(pred, gt, shape, options).hd95;
}

/** Average symmetric surface distance; see surfaceDistanceMetrics for conventions. */
export function assd(pred: NumArray, gt: NumArray, shape: Shape2D, options: SurfaceOptions = {}): number {
  return surfaceDistanceMetrics(pred, gt, shape, options).assd;
}

// ----------------------------------------------------------------------------------------------
// calibration

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

// ----------------------------------------------------------------------------------------------
// uncertainty vs error

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

// ----------------------------------------------------------------------------------------------
// per case

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
}

export interface EvaluateOptions extends SurfaceOptions {
  /** ECE bins, default 15. */
  eceBins?: number;
  /** UEO thresholds, default 0.05..0.95 step 0.05. */
  ueoThresholds?: readonly number[];
}

/** Why a value is null, or how it was obtained. */
export type CaseFlag =
  | "both_empty" // pred and gt empty: dice = iou = 1, hd95 = assd = 0
  | "gt_empty" // gt empty, pred not
  | "pred_empty" // pred empty, gt not
  | "distance_undefined" // hd95/assd null because exactly one mask is empty
  | "distance_imputed" // hd95/assd set to the image diagonal because exactly one mask is empty
  | "no_prob" // ece null: no probability map given
  | "no_uncertainty" // auroc_u/ueo null: no uncertainty map given
  | "no_errors" // auroc_u null: every pixel is right
  | "all_errors"; // auroc_u null: every pixel is wrong

/** Per-image metrics; null stands for NaN / not computable and always comes with a flag. */
export interface CaseResult {
  id: string | null;
  dice: number;
  iou: number;
  hd95: number | null;
  assd: number | null;
  ece: number | null;
  auroc_u: number | null;
  ueo: number | null;
  /** The threshold at which ueo was reached. */
  ueo_tau: number | null;
  flags: CaseFlag[];
}

/** What an image contributes to the split's pooled ECE / AUROC / UEO. */
export interface CasePool {
  calibration: CalibrationBins | null;
  ueo: UeoCounts | null;
  scores: ScoreSplit | null;
}

const orNull = (x: number): number | null => (Number.isNaN(x) ? null : x);

function binarize(a: NumArray): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] !== 0 ? 1 : 0;
  return out;
}

function evaluateWithPool(
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
    hd95: orNull(sd.hd95),
    assd: orNull(sd.assd),
    ece: orNull(eceV),
    auroc_u: orNull(aurocV),
    ueo: orNull(ueoV),
    ueo_tau: orNull(tau),
    flags,
  };
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

// ----------------------------------------------------------------------------------------------
// split level

export type MetricValues = Record<MetricName, number | null>;
export type MetricCounts = Record<MetricName, number>;

/** Metrics over all pixels of a split taken together. */
export interface PooledMetrics {
  ece: number | null;
  auroc_u: number | null;
  ueo: number | null;
  ueo_tau: number | null;
  /** Pixels that entered the pooled ECE (images with prob) and the pooled AUROC/UEO (images with uncertainty). */
  pixels: { calibration: number; uncertainty: number; errors: number };
  reliability: ReliabilityBin[];
}

/** The conventions a summary was computed under, written into metrics.json. */
export interface Conventions {
  surface: SurfaceConvention;
  connectivity: 1 | 2;
  empty_distance: EmptyDistance;
  spacing: [number, number];
  ece_bins: number;
  ueo_thresholds: number[];
  mean: string;
  pooled: string;
}

export interface Summary {
  n_images: number;
  /** Mean over images of each metric, NaN/null values skipped; null when no image has a value. */
  mean: MetricValues;
  /** Population standard deviation (numpy's default ddof = 0) over the same values. */
  std: MetricValues;
  /** Images that entered each mean. */
  n_valid: MetricCounts;
  /** Images skipped in each mean because the value was null (NaN). */
  skipped: MetricCounts;
  /** How many images carry each flag. */
  flag_counts: Partial<Record<CaseFlag, number>>;
  /** Pixel-pooled ECE / AUROC / UEO over the split; null when the cases were summarized without pixels. */
  pooled: PooledMetrics | null;
  conventions: Conventions | null;
  per_image: CaseResult[];
}

export function conventionsOf(options: EvaluateOptions = {}): Conventions {
  return {
    surface: options.surfaceConvention ?? "medpy",
    connectivity: options.connectivity ?? 1,
    empty_distance: options.emptyDistance ?? "nan",
    spacing: checkSpacing(options.spacing),
    ece_bins: options.eceBins ?? DEFAULT_ECE_BINS,
    ueo_thresholds: [...(options.ueoThresholds ?? UEO_THRESHOLDS)],
    mean: "per-image values averaged over images; null values skipped and counted in `skipped`",
    pooled: "ece, auroc_u and ueo computed once over all pixels of the split pooled together",
  };
}

/**
 * Means (NaN/null skipped and counted), standard deviations and flag counts over per-image
 * results. `pooled` comes from SplitEvaluator, which keeps the pixel statistics needed for it.
 */
export function summarize(
  cases: readonly CaseResult[],
  extra: { pooled?: PooledMetrics | null; conventions?: Conventions | null } = {},
): Summary {
  const meanV = {} as MetricValues;
  const stdV = {} as MetricValues;
  const nValid = {} as MetricCounts;
  const skipped = {} as MetricCounts;
  for (const m of METRIC_NAMES) {
    let s = 0;
    let k = 0;
    for (const c of cases) {
      const v = c[m];
      if (v === null || Number.isNaN(v)) continue;
      s += v;
      k++;
    }
    const mu = k > 0 ? s / k : null;
    let ss = 0;
    if (mu !== null) {
      for (const c of cases) {
        const v = c[m];
        if (v === null || Number.isNaN(v)) continue;
        ss += (v - mu) * (v - mu);
      }
    }
    meanV[m] = mu;
    stdV[m] = mu === null ? null : Math.sqrt(ss / k);
    nValid[m] = k;
    skipped[m] = cases.length - k;
  }
  const flagCounts: Partial<Record<CaseFlag, number>> = {};
  for (const c of cases) for (const f of c.flags) flagCounts[f] = (flagCounts[f] ?? 0) + 1;
  return {
    n_images: cases.length,
    mean: meanV,
    std: stdV,
    n_valid: nValid,
    skipped,
    flag_counts: flagCounts,
    pooled: extra.pooled ?? null,
    conventions: extra.conventions ?? null,
    per_image: [...cases],
  };
}

/**
 * Evaluates a split image by image and keeps what the pixel-pooled metrics need: calibration
 * bins and UEO counts (a few numbers per image) and, for the exact pooled AUROC, the uncertainty
 * of every pixel split by error (4 bytes per pixel for Float32 uncertainty, 8 for Float64;
 * `poolAuroc: false` drops them and reports pooled auroc_u as null).
 */
export class SplitEvaluator {
  readonly options: EvaluateOptions;
  private readonly poolAuroc: boolean;
  private readonly results: CaseResult[] = [];
  private readonly calibration: CalibrationBins;
  private readonly ueoAcc: UeoCounts;
  private readonly positives: (Float32Array | Float64Array)[] = [];
  private readonly negatives: (Float32Array | Float64Array)[] = [];
  private calibrated = 0;
  private uncertain = 0;

  constructor(options: EvaluateOptions & { poolAuroc?: boolean } = {}) {
    const { poolAuroc, ...rest } = options;
    this.options = rest;
    this.poolAuroc = poolAuroc ?? true;
    conventionsOf(rest); // validates
    this.calibration = emptyCalibration(rest.eceBins ?? DEFAULT_ECE_BINS);
    this.ueoAcc = emptyUeoCounts(rest.ueoThresholds ?? UEO_THRESHOLDS);
  }

  /** Evaluates one image, records it and returns its metrics. */
  add(input: CaseInput): CaseResult {
    const { result, pool } = evaluateWithPool(input, this.options);
    this.results.push(result);
    if (pool.calibration) {
      mergeCalibration(this.calibration, pool.calibration);
      this.calibrated += input.gt.length;
    }
    if (pool.ueo) {
      mergeUeoCounts(this.ueoAcc, pool.ueo);
      this.uncertain += input.gt.length;
    }
    if (pool.scores && this.poolAuroc) {
      this.positives.push(pool.scores.positive);
      this.negatives.push(pool.scores.negative);
    }
    return result;
  }

  get cases(): readonly CaseResult[] {
    return this.results;
  }

  /** Metrics over all pixels of the images added so far. */
  pooled(): PooledMetrics {
    let aurocV = Number.NaN;
    if (this.poolAuroc && this.uncertain > 0) {
      aurocV = aurocSorted(concatSorted(this.positives), concatSorted(this.negatives));
    }
    const u = this.uncertain > 0 ? ueoFromCounts(this.ueoAcc) : null;
    return {
      ece: orNull(eceFromBins(this.calibration)),
      auroc_u: orNull(aurocV),
      ueo: u ? u.ueo : null,
      ueo_tau: u ? u.tau : null,
      pixels: { calibration: this.calibrated, uncertainty: this.uncertain, errors: this.ueoAcc.errors },
      reliability: reliabilityDiagram(this.calibration),
    };
  }

  summary(): Summary {
    return summarize(this.results, { pooled: this.pooled(), conventions: conventionsOf(this.options) });
  }
}

function concatSorted(parts: (Float32Array | Float64Array)[]): Float32Array | Float64Array {
  let n = 0;
  let f32 = true;
  for (const p of parts) {
    n += p.length;
    if (!(p instanceof Float32Array)) f32 = false;
  }
  const out = f32 ? new Float32Array(n) : new Float64Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out.sort();
}
