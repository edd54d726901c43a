// A UDEG-Net head: per-class logits to probabilities and an uncertainty map, evidential
// (Dirichlet, DESIGN §5.3) or plain softmax (the no-evidential ablation and SAMed).
import { div, logSoftmax, mul, reduceSum, softmax, type Tensor } from "../engine/index.js";
import { type Evidential, evidentialOutputs } from "./evidential.js";

export interface SegmentationHead {
  /** Expected class probabilities [B, K, H, W]. */
  prob: Tensor;
  /** Uncertainty in [0, 1], [B, 1, H, W]. */
  uncertainty: Tensor;
  evidential: Evidential | null;
  logits: Tensor;
}

/**
 * Probabilities and uncertainty from per-class logits: Dirichlet when evidential, otherwise
 * softmax with the normalised predictive entropy as uncertainty (so the edge loss still has a
 * per-pixel weight in the no-evidential ablation).
 */
export function headOutputs(logits: Tensor, evidential: boolean): SegmentationHead {
  if (evidential) {
    const ev = evidentialOutputs(logits);
    return { prob: ev.prob, uncertainty: ev.uncertainty, evidential: ev, logits };
  }
  const k = logits.shape[1]!;
  const prob = softmax(logits, 1);
  const entropy = mul(reduceSum(mul(prob, logSoftmax(logits, 1)), [1], true), -1);
  return { prob, uncertainty: div(entropy, Math.log(k)), evidential: null, logits };
}
