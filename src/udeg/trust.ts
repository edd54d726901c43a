// The trust flag (issue 28): is this image like the ones the model was trained on? Not a paper
// component; udeg's answer to "a confident mask on an image of another kind". Pure (no Node
// built-ins): `udeg predict`, `udeg eval`, MONAI Label, the DICOM SEG and the web page all judge
// an image by this one module.
//
// The score, chosen by measurement (`npm run bench -- trust`, 2026-12-08: a model trained on each
// of the seven real sets and the ITK brain slices, AUROC at telling the other sets' test images
// from its own set's):
//   feature   the image embedding's mean and standard deviation over its grid (2C numbers; what
//             the inference graph already outputs, no extra pass). Mean pooling alone: mean AUROC
//             0.959, lowest pair 0.19; with the standard deviation: 0.987, lowest 0.83. The
//             evidential uncertainty (mean u over the image: 0.58; inside the mask: 0.75) does not
//             tell other kinds of image apart: a model is often confidently wrong on them.
//   distance  to the nearest image the run holds (its training and val images), as the mean
//             squared z-score per feature (z from their spread, so no feature's scale is chosen
//             by hand); cosine 0.987 / 0.70, the mean of the 5 nearest 0.982 / 0.64; the training
//             images alone as the reference 0.987 / 0.83 (the val images widen a small set's
//             reference: DSB2018's 46 training images of several microscopy kinds).
//   trust     a conformal p-value: the share of the run's own images (each against the others,
//             leave one out) that lie at least as far from the rest (+1 over n+1). 1 = as typical
//             as any, near 0 = farther than all of them.
//             Beyond the farthest of them it falls further as farthest / distance (a run with
//             fewer than 1/alpha images could not flag anything otherwise).
//   flagged   trust < alpha (0.05): about 5 % of in-distribution images are flagged by design.
//             Measured over the 8 models: mean AUROC 0.989, lowest pair 0.865; 5.6 % of
//             in-domain test images flagged (the images a run trained on lie a little closer to
//             one another than new ones do), 86 % of the other sets' images; the flagged
//             in-domain images segmented worse (Kvasir-SEG Dice 0.45 against 0.70, BUSI 0.51
//             against 0.59, the brain 0.46 against 0.89). docs/experiments.md has the rest.

/** The graph outputs the feature is made of: the image embedding's mean and mean square over its grid, [B, C] each. */
export const EMBEDDING_OUTPUTS = ["embedding_mean", "embedding_mean_square"] as const;

/** A run's trust calibration (trust.json in the run; `trust` in exports' metadata and meta.json). */
export interface TrustCalibration {
  format: "udeg-trust/1";
  /** Flag an image whose trust is below this. */
  alpha: number;
  /** Feature length (2C: the embedding's mean, then its standard deviation over the grid). */
  dims: number;
  /** Per feature mean and spread of the reference images (the z-score of the distance). */
  center: number[];
  spread: number[];
  /** The reference (training and val) images' features, row after row: float32 little-endian, base64. */
  reference: string;
  /** In-distribution distances, ascending: each reference image to the nearest of the others. */
  calibration: number[];
  /** Where the reference came from, for people: image counts. */
  images: { train: number; val: number };
}

export interface TrustVerdict {
  /** 0 to 1; higher = more like the training images (a conformal p-value). */
  trust: number;
  /** trust < the run's alpha: unlike the training data, do not take the mask on trust. */
  flagged: boolean;
  /** Mean squared z-score to the nearest training image (what trust ranks). */
  distance: number;
}

export const DEFAULT_TRUST_ALPHA = 0.05;

/** The trust feature: the embedding's mean over its grid, then its standard deviation. */
export function trustFeature(mean: ArrayLike<number>, meanSquare: ArrayLike<number>): Float32Array {
  const c = mean.length;
  const f = new Float32Array(2 * c);
  for (let i = 0; i < c; i++) {
    f[i] = mean[i]!;
    f[c + i] = Math.sqrt(Math.max(0, meanSquare[i]! - mean[i]! * mean[i]!));
  }
  return f;
}

/** The trust feature of an image embedding [C, plane] (the split export's encoder output). */
export function trustFeatureOfGrid(embedding: ArrayLike<number>, channels: number): Float32Array {
  const plane = embedding.length / channels;
  const mean = new Float64Array(channels);
  const square = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    let s = 0;
    let q = 0;
    for (let i = c * plane; i < (c + 1) * plane; i++) {
      const v = embedding[i]!;
      s += v;
      q += v * v;
    }
    mean[c] = s / plane;
    square[c] = q / plane;
  }
  return trustFeature(mean, square);
}

function spreadFloor(spread: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < spread.length; i++) m += spread[i]! / spread.length;
  return 1e-6 * m + 1e-12; // a dead feature (no spread) stays finite
}

/** Mean squared z-score of `f` to the nearest row of `rows`, skipping row `skip` (leave one out). */
function nearestDistance(
  f: ArrayLike<number>,
  rows: Float32Array,
  dims: number,
  spread: ArrayLike<number>,
  skip = -1,
): number {
  const floor = spreadFloor(spread);
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r * dims < rows.length; r++) {
    if (r === skip) continue;
    let d = 0;
    for (let i = 0; i < dims; i++) {
      const z = (f[i]! - rows[r * dims + i]!) / (spread[i]! + floor);
      d += z * z;
    }
    best = Math.min(best, d / dims);
  }
  return best;
}

/**
 * Calibrates from the training images' features and the val images' (computed when training
 * ends): both are the reference a new image is measured against, and each reference image's
 * distance to the others is an in-distribution distance.
 */
export function calibrateTrust(
  train: readonly Float32Array[],
  val: readonly Float32Array[],
  alpha = DEFAULT_TRUST_ALPHA,
): TrustCalibration {
  const reference = [...train, ...val];
  if (reference.length < 2) throw new Error("trust calibration needs at least 2 images");
  const dims = reference[0]!.length;
  const rows = new Float32Array(reference.length * dims);
  reference.forEach((f, r) => {
    if (f.length !== dims) throw new Error(`trust feature ${r} has ${f.length} numbers, not ${dims}`);
    rows.set(f, r * dims);
  });
  const center = new Array<number>(dims).fill(0);
  const spread = new Array<number>(dims).fill(0);
  for (const f of reference) for (let i = 0; i < dims; i++) center[i]! += f[i]! / reference.length;
  for (const f of reference)
    for (let i = 0; i < dims; i++) spread[i]! += (f[i]! - center[i]!) ** 2 / reference.length;
  for (let i = 0; i < dims; i++) spread[i] = Math.sqrt(spread[i]!);
  const calibration = reference
    .map((f, r) => nearestDistance(f, rows, dims, spread, r))
    .sort((a, b) => a - b);
  return {
    format: "udeg-trust/1",
    alpha,
    dims,
    center,
    spread,
    reference: floatsToBase64(rows),
    calibration,
    images: { train: train.length, val: val.length },
  };
}

/** A calibration made ready to judge images (the reference rows decoded once). */
export class TrustJudge {
  private readonly rows: Float32Array;

  constructor(readonly calibration: TrustCalibration) {
    this.rows = base64ToFloats(calibration.reference);
  }

  judge(feature: ArrayLike<number>): TrustVerdict {
    const c = this.calibration;
    if (feature.length !== c.dims)
      throw new Error(`the trust feature has ${feature.length} numbers; the calibration ${c.dims}`);
    const distance = nearestDistance(feature, this.rows, c.dims, c.spread);
    const n = c.calibration.length;
    let atLeast = 0;
    for (let i = n - 1; i >= 0 && c.calibration[i]! >= distance; i--) atLeast++;
    // Beyond the farthest in-distribution image the p-value stops at 1/(n+1); it goes on falling
    // as largest/distance, so that a run with few images (n + 1 < 1/alpha, where the p-value alone
    // could never flag) still flags an image alpha*(n+1) times farther than its farthest.
    const largest = c.calibration[n - 1]!;
    const tail = atLeast === 0 && distance > 0 ? Math.min(1, largest / distance) : 1;
    const trust = ((1 + atLeast) / (1 + n)) * tail;
    return { trust, flagged: trust < c.alpha, distance };
  }
}

/** Checks a calibration read from a file or metadata; `where` names it in the error. */
export function parseTrustCalibration(json: unknown, where: string): TrustCalibration {
  const c = json as Partial<TrustCalibration> | null;
  const fail = (why: string): never => {
    throw new Error(
      `${where}: not a trust calibration (${why}); retrain, or delete it to predict without the trust flag`,
    );
  };
  if (c?.format !== "udeg-trust/1") fail('format is not "udeg-trust/1"');
  const { alpha, dims, center, spread, reference, calibration } = c!;
  if (typeof alpha !== "number" || !(alpha > 0 && alpha < 1)) fail("alpha must be between 0 and 1");
  if (!Number.isInteger(dims) || dims! < 1) fail("dims must be a positive whole number");
  if (!Array.isArray(center) || center.length !== dims || !Array.isArray(spread) || spread.length !== dims)
    fail(`center and spread must hold ${dims} numbers`);
  if (!Array.isArray(calibration) || calibration.length === 0) fail("no calibration distances");
  if (typeof reference !== "string") fail("no reference features");
  const rows = base64ToFloats(reference!);
  if (rows.length === 0 || rows.length % dims! !== 0) fail(`the reference is not rows of ${dims} numbers`);
  return c as TrustCalibration;
}

function floatsToBase64(values: Float32Array): string {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000)
    text += String.fromCharCode(...bytes.subarray(i, Math.min(bytes.length, i + 0x8000)));
  return btoa(text);
}

function base64ToFloats(text: string): Float32Array {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return new Float32Array(bytes.buffer, 0, Math.floor(bytes.length / 4));
}
