// Segmentation and uncertainty metrics for 2-D images, in plain TypeScript on typed arrays: the
// conventions every metric module follows, the shared types and the input checks.
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
// - Sensitivity (recall, |A and B| / |B|) and precision (|A and B| / |A|), A = pred, B = gt, as
//   MONAI's ConfusionMatrixMetric: together they say whether a Dice is lost to missed foreground
//   (under-segmentation) or to added foreground. A ratio over an empty mask does not exist: NaN
//   (null) with the flag gt_empty / pred_empty / both_empty already set, skipped by the means.
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

export const METRIC_NAMES = [
  "dice",
  "iou",
  "sensitivity",
  "precision",
  "hd95",
  "assd",
  "bf1",
  "bf2",
  "ece",
  "auroc_u",
  "ueo",
] as const;
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

export function checkShape(shape: Shape2D): [number, number] {
  const [h, w] = shape;
  if (!Number.isInteger(h) || !Number.isInteger(w) || h <= 0 || w <= 0) {
    throw new RangeError(`shape must be two positive integers [H, W], got [${shape.join(", ")}]`);
  }
  return [h, w];
}

export function checkSpacing(spacing: Spacing2D | undefined): [number, number] {
  if (spacing === undefined) return [1, 1];
  const [sy, sx] = spacing;
  if (!(Number.isFinite(sy) && sy > 0 && Number.isFinite(sx) && sx > 0)) {
    throw new RangeError(`spacing must be two positive finite numbers [sy, sx], got [${spacing.join(", ")}]`);
  }
  return [sy, sx];
}

export function checkLength(name: string, a: NumArray, n: number): void {
  if (a.length !== n) throw new RangeError(`${name} has ${a.length} elements, expected ${n}`);
}

export function checkSameLength(a: NumArray, b: NumArray): void {
  if (a.length !== b.length) throw new RangeError(`pred has ${a.length} elements but gt has ${b.length}`);
}
