// A trained run evaluated on a split of a dataset (`udeg eval`, the demo, the quality benchmark):
// overlap, surface distance, boundary F-score and uncertainty quality per image and on average,
// written as metrics.json, metrics.csv and metrics.md. `evaluateSplit` scores any predictor the
// same way (the benchmark's U-Net peer goes through it too).
import { type Dataset, openDataset, type SplitPart } from "../data/index.js";
import type { ExecutionProvider } from "../engine/index.js";
import type { PlanarImage } from "../io/planar-image.js";
import { Progress } from "../io/progress.js";
import type { UdegConfig } from "../udeg/config.js";
import { foregroundProbability, type UdegPrediction } from "../udeg/prediction.js";
import { UdegPredictor } from "../udeg/predictor.js";
import { evalDir, readRunSplit } from "../udeg/run-folder.js";
import { SplitEvaluator, type Summary } from "./metrics/index.js";
import { writeMetrics } from "./report-files.js";

export interface EvalOptions {
  model: string;
  data: string;
  split?: SplitPart;
  out?: string;
  quiet?: boolean;
  /** Execution provider (default cpu). */
  device?: ExecutionProvider;
}

export interface EvalResult {
  summary: Summary;
  files: { json: string; csv: string; md: string };
}

/**
 * Scores `predict` on one part of `ds`: foreground (all classes but background, merged) against
 * the ground truth at each image's original size, in millimetres where the data has a pixel
 * spacing (NIfTI).
 */
export async function evaluateSplit(
  ds: Dataset,
  part: SplitPart,
  predict: (image: PlanarImage, index: number) => Promise<UdegPrediction>,
  options: { quiet?: boolean } = {},
): Promise<Summary> {
  const samples = ds.part(part);
  if (samples.length === 0) throw new Error(`${ds.root}: the ${part} split is empty (${ds.describe()})`);
  const evaluator = new SplitEvaluator();
  const progress = new Progress({ total: samples.length, label: `eval ${part}`, silent: options.quiet });
  for (const [i, ref] of samples.entries()) {
    const sample = await ds.load(ref);
    const p = await predict(sample.image, i);
    evaluator.add({
      id: sample.name,
      shape: [p.height, p.width],
      pred: p.labels.map((v) => (v > 0 ? 1 : 0)),
      gt: sample.mask.data.map((v) => (v > 0 ? 1 : 0)),
      prob: foregroundProbability(p),
      uncertainty: p.uncertainty,
      spacing: sample.spacing,
      trust: p.trust ?? null,
    });
    progress.update(i + 1);
  }
  progress.finish();
  return evaluator.summary();
}

/**
 * The dataset with the split the run trained on (its split.json, which holds the validation
 * part held out of train) when the dataset is the one it trained on; else the dataset's own.
 */
export async function datasetOfRun(run: string, data: string, config: UdegConfig): Promise<Dataset> {
  const ds = await openDataset(data, { seed: config.train.seed, input: config.input });
  try {
    const split = readRunSplit(run, ds.groups);
    return split ? ds.withSplit(split, "run") : ds;
  } catch {
    return ds; // another dataset than the run's: its names are not this one's samples
  }
}

export async function evaluateRun(
  o: EvalOptions,
  log: (line: string) => void = console.error,
): Promise<EvalResult> {
  const predictor = await UdegPredictor.load(o.model, { ep: o.device });
  const ds = await datasetOfRun(o.model, o.data, predictor.config);
  const part = o.split ?? "test";
  const summary = await evaluateSplit(ds, part, (image) => predictor.predict(image), { quiet: o.quiet });
  const out = o.out ?? evalDir(o.model, part);
  const files = await writeMetrics(out, summary);
  const m = summary.mean;
  const f = (v: number | null | undefined) => (v === null || v === undefined ? "n/a" : v.toFixed(4));
  log(
    `${part} (${summary.n_images} images): Dice ${f(m.dice)}  IoU ${f(m.iou)}  ` +
      `sensitivity ${f(m.sensitivity)}  precision ${f(m.precision)}  HD95 ${f(m.hd95)}  ASSD ${f(m.assd)}  ` +
      `BF@1px ${f(m.bf1)}  BF@2px ${f(m.bf2)}  ECE ${f(m.ece)}  AUROC(u) ${f(m.auroc_u)}  UEO ${f(m.ueo)}`,
  );
  const trustLine = evalTrustLine(summary);
  if (trustLine) log(trustLine);
  log(`metrics in ${files.json}, ${files.csv}, ${files.md}`);
  return { summary, files };
}

/** How many images the trust flag marked, and how they segmented against the rest; null without a flag. */
export function evalTrustLine(summary: Summary): string | null {
  const judged = summary.per_image.filter((c) => c.trust !== null);
  if (judged.length === 0) return null;
  const flagged = judged.filter((c) => c.flags.includes("untrusted"));
  const meanDice = (cs: typeof judged) => (cs.reduce((a, c) => a + c.dice, 0) / cs.length).toFixed(4);
  if (flagged.length === 0)
    return `trust: none of ${judged.length} images flagged as unlike the training data`;
  const rest = judged.filter((c) => !c.flags.includes("untrusted"));
  return (
    `trust: ${flagged.length} of ${judged.length} images flagged as unlike the training data ` +
    `(Dice ${meanDice(flagged)}${rest.length ? ` against ${meanDice(rest)} for the others` : ""}; the "untrusted" flag in the per-image files)`
  );
}
