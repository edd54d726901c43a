// What a prediction is, at the image's own size, for every way udeg runs a model: `udeg predict`
// (UdegPredictor), the split export's InteractiveModel, and the web page. Pure: no Node
// built-ins, so the page's bundle uses it as the Node side does.
import { argmaxLabels, type ResizeInfo, restoreMaps } from "../data/preprocess.js";
import { NO_POSTPROCESS, type Postprocess, postprocessLabels } from "./postprocess.js";
import type { TrustVerdict } from "./trust.js";

export interface UdegPrediction {
  height: number;
  width: number;
  /** Foreground classes (prob has classes + 1 channels, background first). */
  classes: number;
  /** Class index per pixel (argmax of the expected probabilities), [H, W]. */
  labels: Uint8Array;
  /** Expected class probabilities [K, H, W] (background first). */
  prob: Float32Array;
  /** Uncertainty in [0, 1] (K / S for evidential heads), [H, W]. */
  uncertainty: Float32Array;
  /** Edge probability [H, W] (zeros when the model has no edge prompt generator). */
  edge: Float32Array;
  /** The trust score's feature [2C] (trust.ts), where the graph gives it (udeg predict). */
  trustFeature?: Float32Array;
  /** How like the training images this image is; null when the run has no trust calibration. */
  trust?: TrustVerdict | null;
}

/**
 * Model-size maps ([C, S, S], the padding included) back to the image: crop the padding, resize
 * to the original size, argmax, then the run's post-processing of the labels (postprocess.ts).
 * `edge` null: the model has no edge map (zeros).
 */
export function restorePrediction(
  probability: Float32Array,
  uncertainty: Float32Array,
  edge: Float32Array | null,
  classes: number,
  info: ResizeInfo,
  postprocess: Postprocess = NO_POSTPROCESS,
): UdegPrediction {
  const k = classes + 1;
  const prob = restoreMaps(probability, k, info);
  const u = restoreMaps(uncertainty, 1, info);
  const plane = info.originalHeight * info.originalWidth;
  return {
    height: info.originalHeight,
    width: info.originalWidth,
    classes,
    labels: postprocessLabels(
      argmaxLabels(prob, k, plane),
      info.originalWidth,
      info.originalHeight,
      postprocess,
    ),
    prob,
    uncertainty: u,
    edge: edge ? restoreMaps(edge, 1, info) : new Float32Array(plane),
  };
}

/** Foreground probability: 1 - p(background), [H, W]. */
export function foregroundProbability(p: Pick<UdegPrediction, "prob" | "width" | "height">): Float32Array {
  const plane = p.width * p.height;
  const out = new Float32Array(plane);
  for (let i = 0; i < plane; i++) out[i] = 1 - p.prob[i]!;
  return out;
}

/**
 * Mean uncertainty over all pixels and over the mask's (labels > 0; null for an empty mask): what
 * the MONAI Label answer reports and what the trust study scores an image by.
 */
export function uncertaintyMeans(
  labels: ArrayLike<number>,
  uncertainty: ArrayLike<number>,
): { mean: number; meanInMask: number | null } {
  let all = 0;
  let inside = 0;
  let count = 0;
  for (let i = 0; i < labels.length; i++) {
    all += uncertainty[i]!;
    if (labels[i]! > 0) {
      inside += uncertainty[i]!;
      count++;
    }
  }
  return { mean: all / Math.max(1, labels.length), meanInMask: count ? inside / count : null };
}
