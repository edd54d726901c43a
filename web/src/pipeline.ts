// What the page does around the ONNX files that InteractiveModel (src/udeg/interactive.ts, shared
// with Node) does not: the single-graph export's outputs back to the image, as
// UdegPredictor.predict does (crop the padding, float resize, argmax), and the mask's pixel counts.
// Pure: no DOM, no onnxruntime (the tests run it in Node).
import { argmaxLabels, type ResizeInfo, restoreMaps } from "../../src/data/preprocess.js";

/** The maps at the image's own size, as UdegPrediction holds them. */
export interface Segmentation {
  width: number;
  height: number;
  classes: number;
  /** Class index per pixel (argmax of the probabilities), [H, W]. */
  labels: Uint8Array;
  /** [K, H, W], background first. */
  prob: Float32Array;
  /** [H, W]. */
  uncertainty: Float32Array;
  /** [H, W] (zeros without an edge generator). */
  edge: Float32Array;
}

/** Restores model-size maps [C, S, S] to the image, as UdegPredictor.predict does. */
export function restoreOutputs(
  probability: Float32Array,
  uncertainty: Float32Array,
  edge: Float32Array | null,
  classes: number,
  info: ResizeInfo,
): Segmentation {
  const k = classes + 1;
  const prob = restoreMaps(probability, k, info);
  const u = restoreMaps(uncertainty, 1, info);
  const e = edge ? restoreMaps(edge, 1, info) : new Float32Array(u.length);
  const plane = info.originalHeight * info.originalWidth;
  return {
    width: info.originalWidth,
    height: info.originalHeight,
    classes,
    labels: argmaxLabels(prob, k, plane),
    prob,
    uncertainty: u,
    edge: e,
  };
}

/** Pixels per class of a label map, background first. */
export function labelCounts(labels: Uint8Array, classes: number): number[] {
  const counts = new Array<number>(classes + 1).fill(0);
  for (const v of labels) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}
