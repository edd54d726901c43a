// When training ends, the kept weights are judged on data the run holds, so that what predict
// applies needs nothing more from the user:
//  - the mask post-processing, on the val part at the images' own size (udeg/postprocess.ts: the
//    largest component per class where it raises the val Dice, as nnU-Net decides on its folds);
//  - the trust flag's calibration (udeg/trust.ts): the training images' features (at most
//    TRUST_REFERENCE_LIMIT of them) and the val images', from the same passes.
// One inference session; one pass over the val images and one over the (sampled) training images.
import type { Dataset } from "../data/index.js";
import { Rng } from "../engine/random.js";
import { dice } from "../eval/metrics/index.js";
import { choosePostprocess } from "../udeg/postprocess.js";
import { UdegPredictor } from "../udeg/predictor.js";
import {
  isFinishedRun,
  type RunPostprocess,
  writeRunPostprocess,
  writeRunTrust,
} from "../udeg/run-folder.js";
import { calibrateTrust, type TrustCalibration } from "../udeg/trust.js";

/**
 * Training images the trust reference keeps (a seeded sample beyond it): the nearest-image search
 * is linear in them, and the reference travels in trust.json and in exports' metadata
 * (500 x 2C float32: 0.25 MB at C = 64, 1 MB at SAM ViT-B's C = 256).
 */
export const TRUST_REFERENCE_LIMIT = 500;

/** Mean Dice over the foreground classes 1..classes of a label image against the truth. */
export function meanClassDice(pred: Uint8Array, truth: ArrayLike<number>, classes: number): number {
  let sum = 0;
  for (let c = 1; c <= classes; c++)
    sum += dice(
      Array.from(pred, (v) => Number(v === c)),
      Array.from(truth, (v) => Number(v === c)),
    );
  return sum / classes;
}

export interface RunEnd {
  /** Null without val images. */
  postprocess: RunPostprocess | null;
  /** Null with fewer than 2 images (training and val). */
  trust: TrustCalibration | null;
}

/** Chooses the post-processing and calibrates the trust flag; writes both into the run. */
export async function judgeRunEnd(run: string, ds: Dataset, seed = 0): Promise<RunEnd> {
  if (!isFinishedRun(run)) return { postprocess: null, trust: null };
  const predictor = await UdegPredictor.load(run);
  const classes = predictor.resolved.model.classes;
  const cases = [];
  const valFeatures: Float32Array[] = [];
  const reference: Float32Array[] = [];
  try {
    for (const ref of ds.part("val")) {
      const sample = await ds.load(ref);
      const p = await predictor.predict(sample.image);
      cases.push({ labels: p.labels, truth: sample.mask.data, width: p.width, height: p.height });
      valFeatures.push(p.trustFeature!);
    }
    let train = ds.part("train");
    if (train.length > TRUST_REFERENCE_LIMIT)
      train = new Rng(seed, "trust reference").shuffle([...train]).slice(0, TRUST_REFERENCE_LIMIT);
    for (const ref of train)
      reference.push((await predictor.predict((await ds.load(ref)).image)).trustFeature!);
  } finally {
    await predictor.release();
  }
  let postprocess: RunPostprocess | null = null;
  if (cases.length > 0) {
    const chosen = choosePostprocess(cases, (pred, truth) => meanClassDice(pred, truth, classes));
    postprocess = {
      postprocess: chosen.postprocess,
      val: { images: cases.length, diceWithout: chosen.diceWithout, diceWith: chosen.diceWith },
    };
    writeRunPostprocess(run, postprocess);
  }
  const trust = reference.length + valFeatures.length >= 2 ? calibrateTrust(reference, valFeatures) : null;
  if (trust) writeRunTrust(run, trust);
  return { postprocess, trust };
}
