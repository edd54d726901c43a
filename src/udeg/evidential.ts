// Evidential (Dirichlet) outputs and the loss terms of UDEG-Net (DESIGN §5.3-5.4).
//
// A head returns one logit map per class, background included (K = classes + 1), on axis 1.
// evidence e = softplus(logits), alpha = e + 1, S = sum_k alpha_k, p = alpha / S, u = K / S.
// Every loss below is a mean over pixels (and batch), so weights mean the same at every size.
import {
  add,
  detach,
  digamma,
  div,
  equal,
  lgamma,
  log,
  mul,
  narrow,
  reduceMax,
  reduceMean,
  reduceSum,
  softplus,
  sub,
  type Tensor,
  where,
} from "../engine/index.js";

export interface Evidential {
  evidence: Tensor;
  alpha: Tensor;
  /** Dirichlet strength, [B, 1, H, W]. */
  strength: Tensor;
  /** Expected class probabilities alpha / S, [B, K, H, W]. */
  prob: Tensor;
  /** Uncertainty mass K / S in (0, 1], [B, 1, H, W]. */
  uncertainty: Tensor;
}

export function evidentialOutputs(logits: Tensor): Evidential {
  const k = logits.shape[1]!;
  const evidence = softplus(logits);
  const alpha = add(evidence, 1);
  const strength = reduceSum(alpha, [1], true);
  return { evidence, alpha, strength, prob: div(alpha, strength), uncertainty: div(k, strength) };
}

/** Mean over pixels of an optional per-pixel weight [B, 1, H, W] times a per-pixel loss [B, 1, H, W]. */
function pixelMean(perPixel: Tensor, weight?: Tensor): Tensor {
  return reduceMean(weight ? mul(perPixel, weight) : perPixel);
}

/**
 * The Bayes risk of cross-entropy under Dir(alpha): sum_k y_k (psi(S) - psi(alpha_k)),
 * averaged over pixels (optionally weighted per pixel). `y` is one-hot [B, K, H, W].
 */
export function digammaCrossEntropy(ev: Evidential, y: Tensor, weight?: Tensor): Tensor {
  const perPixel = reduceSum(mul(y, sub(digamma(ev.strength), digamma(ev.alpha))), [1], true);
  return pixelMean(perPixel, weight);
}

/**
 * KL(Dir(alpha~) || Dir(1)) with alpha~ = y + (1 - y) alpha: the evidence left on wrong classes
 * is pulled toward the uniform Dirichlet (Sensoy et al. 2018). Mean over pixels.
 */
export function klToUniform(ev: Evidential, y: Tensor): Tensor {
  const k = y.shape[1]!;
  const aTilde = add(y, mul(sub(1, y), ev.alpha));
  const sTilde = reduceSum(aTilde, [1], true);
  // ln Gamma(K) is a constant: ln((K-1)!)
  let lnGammaK = 0;
  for (let i = 2; i < k; i++) lnGammaK += Math.log(i);
  const normaliser = sub(sub(lgamma(sTilde), lnGammaK), reduceSum(lgamma(aTilde), [1], true));
  const expectation = reduceSum(mul(sub(aTilde, 1), sub(digamma(aTilde), digamma(sTilde))), [1], true);
  return pixelMean(add(normaliser, expectation));
}

export interface DiceOptions {
  /** Count the background channel (k = 0) too; default false. */
  includeBackground?: boolean;
  smooth?: number;
  /**
   * Dice per image, then the mean over images (default: over the whole batch at once). Per image,
   * a 30-pixel structure weighs as much as a 3000-pixel one in the same batch.
   */
  perImage?: boolean;
}

/**
 * Soft Dice loss 1 - (2 sum p y + s) / (sum p + sum y + s), per class over the whole batch (or
 * per image; plain sums, not squares), averaged over classes. `p` and `y` are [B, K, H, W].
 */
export function softDice(p: Tensor, y: Tensor, options: DiceOptions = {}): Tensor {
  const smooth = options.smooth ?? 1;
  const spatial = p.shape.slice(2).map((_, i) => i + 2);
  const axes = options.perImage ? spatial : [0, ...spatial];
  const inter = reduceSum(mul(p, y), axes); // [K] or [B, K]
  const denom = add(reduceSum(p, axes), reduceSum(y, axes));
  const perClass = sub(1, div(add(mul(inter, 2), smooth), add(denom, smooth)));
  const k = p.shape[1]!;
  const classAxis = perClass.rank - 1;
  if (options.includeBackground || k === 1) return reduceMean(perClass);
  return reduceMean(narrow(perClass, classAxis, 1, k - 1));
}

/**
 * Accuracy-versus-uncertainty calibration: pixels whose prediction is right are pushed to low
 * uncertainty, wrong ones to high uncertainty:
 *   -mean( [right] p_max log(1 - u) + [wrong] (1 - p_max) log(u) ).
 * Right/wrong is decided by whether the true class has the largest expected probability.
 */
export function accuracyUncertaintyLoss(ev: Evidential, y: Tensor): Tensor {
  const eps = 1e-6;
  const pMax = reduceMax(ev.prob, [1], true);
  const pTrue = reduceSum(mul(ev.prob, y), [1], true);
  const right = equal(detach(pTrue), detach(pMax));
  const u = ev.uncertainty;
  const rightTerm = mul(pMax, log(add(sub(1, u), eps)));
  const wrongTerm = mul(sub(1, pMax), log(add(u, eps)));
  return mul(reduceMean(where(right, rightTerm, wrongTerm)), -1);
}

/**
 * Per-pixel class-balancing weights [B, 1, H, W] from a one-hot target [B, K, H, W]: each pixel
 * weighs 1 / (K f_c) for its class c of batch frequency f_c, so every class carries the same
 * total weight and the weights average to 1. Edges are a few percent of the pixels: unbalanced,
 * "no edge anywhere" is almost right and the edge map stays blank (as measured on the ultrasound
 * phantoms before this weighting).
 */
export function classBalance(y: Tensor, eps = 1e-6): Tensor {
  const k = y.shape[1]!;
  const freq = reduceMean(y, [0, 2, 3], true); // [1, K, 1, 1]
  return reduceSum(div(y, add(mul(freq, k), eps)), [1], true);
}
