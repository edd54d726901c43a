// A split: the mean over images, the pooled pixel-level metrics, and SplitEvaluator, which
// streams images in and keeps only what the pooled metrics need.
import {
  type CalibrationBins,
  eceFromBins,
  emptyCalibration,
  mergeCalibration,
  type ReliabilityBin,
  reliabilityDiagram,
} from "./calibration.js";
import {
  checkSpacing,
  DEFAULT_ECE_BINS,
  type EmptyDistance,
  METRIC_NAMES,
  type MetricName,
  type SurfaceConvention,
  UEO_THRESHOLDS,
} from "./conventions.js";
import {
  type CaseFlag,
  type CaseInput,
  type CaseResult,
  type EvaluateOptions,
  evaluateWithPool,
  orNull,
} from "./evaluate.js";

import { aurocSorted, emptyUeoCounts, mergeUeoCounts, type UeoCounts, ueoFromCounts } from "./uncertainty.js";

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
 * Mean and population standard deviation (numpy's default ddof = 0) of the values that are
 * neither null nor NaN, and how many those are; mean and std are null when none is.
 */
export function meanStd(values: readonly (number | null)[]): {
  mean: number | null;
  std: number | null;
  n: number;
} {
  let s = 0;
  let n = 0;
  for (const v of values) {
    if (v === null || Number.isNaN(v)) continue;
    s += v;
    n++;
  }
  if (n === 0) return { mean: null, std: null, n };
  const mean = s / n;
  let ss = 0;
  for (const v of values) {
    if (v === null || Number.isNaN(v)) continue;
    ss += (v - mean) * (v - mean);
  }
  return { mean, std: Math.sqrt(ss / n), n };
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
    const { mean: mu, std, n: k } = meanStd(cases.map((c) => c[m]));
    meanV[m] = mu;
    stdV[m] = std;
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
