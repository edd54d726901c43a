// When training ends, the run chooses its mask post-processing on its own val part, at the
// images' own size, with the kept weights (udeg/postprocess.ts: the largest component per class,
// where it raises the val Dice, as nnU-Net decides on its folds). One inference pass over the
// val images; written to the run folder, where predict, eval, export and the page read it.
import type { Dataset } from "../data/index.js";
import { dice } from "../eval/metrics/index.js";
import { choosePostprocess } from "../udeg/postprocess.js";
import { UdegPredictor } from "../udeg/predictor.js";
import { isFinishedRun, type RunPostprocess, writeRunPostprocess } from "../udeg/run-folder.js";

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

/** Chooses, writes and returns the run's post-processing; null without val images or weights yet. */
export async function choosePostprocessOnVal(run: string, ds: Dataset): Promise<RunPostprocess | null> {
  const samples = ds.part("val");
  if (samples.length === 0 || !isFinishedRun(run)) return null;
  const predictor = await UdegPredictor.load(run);
  const classes = predictor.resolved.model.classes;
  const cases = [];
  try {
    for (const ref of samples) {
      const sample = await ds.load(ref);
      const p = await predictor.predict(sample.image);
      cases.push({ labels: p.labels, truth: sample.mask.data, width: p.width, height: p.height });
    }
  } finally {
    await predictor.release();
  }
  const chosen = choosePostprocess(cases, (pred, truth) => meanClassDice(pred, truth, classes));
  const result: RunPostprocess = {
    postprocess: chosen.postprocess,
    val: { images: cases.length, diceWithout: chosen.diceWithout, diceWith: chosen.diceWith },
  };
  writeRunPostprocess(run, result);
  return result;
}
