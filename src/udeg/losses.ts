// The UDEG-Net objective (DESIGN §5.4): which terms are on, their weights, and how the
// time-varying weights follow training progress t in [0, 1].
//
// Time-varying weights are scalar graph inputs, computed on the host each step by
// `scheduledWeights`, so one compiled train step serves the whole run.
import { add, detach, logSoftmax, mul, reduceMean, reduceSum, type Tensor } from "../engine/index.js";
import {
  accuracyUncertaintyLoss,
  classBalance,
  digammaCrossEntropy,
  klToUniform,
  softDice,
} from "./evidential.js";
import type { SegmentationHead } from "./heads.js";

export interface LossConfig {
  /** Dirichlet (evidential) outputs; false = plain softmax CE + Dice (SAMed). */
  evidential: boolean;
  ceWeight: number;
  diceWeight: number;
  /** KL annealing: weight min(1, t / klAnnealFraction) * klWeight; 0 turns it off. */
  klWeight: number;
  klAnnealFraction: number;
  /** Progressive uncertainty-driven edge loss; 0 turns it off. */
  edgeWeight: number;
  /** Largest gamma in w = 1 + gamma(t) u_seg. */
  edgeGamma: number;
  /** Balance edge and background pixels in the edge loss (classBalance). */
  edgeBalance: boolean;
  /** The segmentation Dice per image (small structures weigh as much as large ones) or per batch. */
  dicePerImage: boolean;
  /** Both edge ramps go linearly from 0 at rampStart to full at rampEnd (fractions of training). */
  edgeRampStart: number;
  edgeRampEnd: number;
  /** Accuracy-versus-uncertainty term lambda_0^(1 - t); 0 turns it off. */
  auLambda0: number;
}

// Other weights, and the edge loss off, measured against these: docs/experiments.md, "Loss weights".
export const DEFAULT_LOSS: LossConfig = {
  evidential: true,
  ceWeight: 1,
  diceWeight: 1,
  klWeight: 1,
  klAnnealFraction: 0.5,
  edgeWeight: 0.5,
  edgeGamma: 4,
  edgeBalance: true,
  dicePerImage: false,
  edgeRampStart: 0,
  edgeRampEnd: 0.5,
  auLambda0: 0.01,
};

/** The time-varying loss weights: scalar inputs of the loss graph. */
export const LOSS_WEIGHT_NAMES = ["kl", "edge", "gamma", "au"] as const;
export type LossWeightInputs = Record<(typeof LOSS_WEIGHT_NAMES)[number], Tensor>;

const ramp = (t: number, start: number, end: number) =>
  end <= start ? (t >= start ? 1 : 0) : Math.min(1, Math.max(0, (t - start) / (end - start)));

/** Host-side values of the time-varying weights at progress t in [0, 1]. */
export function scheduledWeights(cfg: LossConfig, t: number): Record<keyof LossWeightInputs, number> {
  const edgeRamp = ramp(t, cfg.edgeRampStart, cfg.edgeRampEnd);
  return {
    kl:
      cfg.evidential && cfg.klWeight > 0
        ? cfg.klWeight * Math.min(1, t / Math.max(cfg.klAnnealFraction, 1e-9))
        : 0,
    edge: cfg.edgeWeight * edgeRamp,
    gamma: cfg.edgeGamma * edgeRamp,
    au: cfg.evidential && cfg.auLambda0 > 0 ? cfg.auLambda0 ** (1 - t) : 0,
  };
}

/** Softmax cross-entropy (mean over pixels), optionally weighted per pixel. */
function softmaxCrossEntropy(logits: Tensor, y: Tensor, weight?: Tensor): Tensor {
  const perPixel = mul(reduceSum(mul(y, logSoftmax(logits, 1)), [1], true), -1);
  return reduceMean(weight ? mul(perPixel, weight) : perPixel);
}

function crossEntropy(head: SegmentationHead, y: Tensor, weight?: Tensor): Tensor {
  return head.evidential
    ? digammaCrossEntropy(head.evidential, y, weight)
    : softmaxCrossEntropy(head.logits, y, weight);
}

export interface LossTerms {
  total: Tensor;
  terms: Record<string, Tensor>;
}

/**
 * The full objective. `seg` and `segY` are at the input resolution; `edge` holds the edge head,
 * its target and the segmentation uncertainty, all at the edge resolution (omit it when the edge
 * prompt is off).
 */
export function udegLoss(
  cfg: LossConfig,
  w: LossWeightInputs,
  seg: SegmentationHead,
  segY: Tensor,
  edge?: { head: SegmentationHead; target: Tensor; segUncertainty: Tensor },
): LossTerms {
  const terms: Record<string, Tensor> = {};
  terms.ce = mul(crossEntropy(seg, segY), cfg.ceWeight);
  terms.dice = mul(softDice(seg.prob, segY, { perImage: cfg.dicePerImage }), cfg.diceWeight);
  if (seg.evidential && cfg.klWeight > 0) terms.kl = mul(klToUniform(seg.evidential, segY), w.kl);
  if (seg.evidential && cfg.auLambda0 > 0)
    terms.au = mul(accuracyUncertaintyLoss(seg.evidential, segY), w.au);
  if (edge && cfg.edgeWeight > 0) {
    // Uncertain segmentation pixels weigh more in the edge loss; the weight is a constant to the
    // edge head (detached), so the segmentation is not pushed to be uncertain to please it.
    let pixelWeight = add(mul(detach(edge.segUncertainty), w.gamma), 1);
    if (cfg.edgeBalance) pixelWeight = mul(pixelWeight, classBalance(edge.target));
    const edgeTerm = add(
      crossEntropy(edge.head, edge.target, pixelWeight),
      softDice(edge.head.prob, edge.target),
    );
    terms.edge = mul(edgeTerm, w.edge);
  }
  const total = Object.values(terms).reduce((a, b) => add(a, b));
  return { total, terms };
}
