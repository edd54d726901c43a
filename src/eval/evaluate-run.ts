// A trained run evaluated on a split of a dataset (`udeg eval`, the demo, the quality benchmark):
// overlap, surface distance and uncertainty quality per image and on average, written as
// metrics.json, metrics.csv and metrics.md.
import { openDataset, type SplitPart } from "../data/index.js";
import { Progress } from "../io/progress.js";
import { foregroundProbability } from "../udeg/prediction.js";
import { UdegPredictor } from "../udeg/predictor.js";
import { evalDir } from "../udeg/run-folder.js";
import { SplitEvaluator, type Summary } from "./metrics/index.js";
import { writeMetrics } from "./report-files.js";

export interface EvalOptions {
  model: string;
  data: string;
  split?: SplitPart;
  out?: string;
  quiet?: boolean;
}

export interface EvalResult {
  summary: Summary;
  files: { json: string; csv: string; md: string };
}

/**
 * Evaluate foreground (all classes but background, merged) against the ground truth at each
 * image's original size, in millimetres where the data has a pixel spacing (NIfTI).
 */
export async function evaluateRun(
  o: EvalOptions,
  log: (line: string) => void = console.error,
): Promise<EvalResult> {
  const predictor = await UdegPredictor.load(o.model);
  // The same seed as training, so a generated split is the one the run trained on.
  const ds = await openDataset(o.data, { seed: predictor.config.train.seed });
  const part = o.split ?? "test";
  const samples = ds.part(part);
  if (samples.length === 0) throw new Error(`${o.data}: the ${part} split is empty (${ds.describe()})`);
  const evaluator = new SplitEvaluator();
  const progress = new Progress({ total: samples.length, label: `eval ${part}`, silent: o.quiet });
  let i = 0;
  for (const ref of samples) {
    const sample = await ds.load(ref);
    const p = await predictor.predict(sample.image);
    const pred = p.labels.map((v) => (v > 0 ? 1 : 0));
    const gt = sample.mask.data.map((v) => (v > 0 ? 1 : 0));
    evaluator.add({
      id: sample.name,
      shape: [p.height, p.width],
      pred,
      gt,
      prob: foregroundProbability(p),
      uncertainty: p.uncertainty,
      spacing: sample.spacing,
    });
    progress.update(++i);
  }
  progress.finish();
  const summary = evaluator.summary();
  const out = o.out ?? evalDir(o.model, part);
  const files = await writeMetrics(out, summary);
  const m = summary.mean;
  const f = (v: number | null) => (v === null ? "n/a" : v.toFixed(4));
  log(
    `${part} (${summary.n_images} images): Dice ${f(m.dice)}  IoU ${f(m.iou)}  HD95 ${f(m.hd95)}  ASSD ${f(m.assd)}  ` +
      `ECE ${f(m.ece)}  AUROC(u) ${f(m.auroc_u)}  UEO ${f(m.ueo)}`,
  );
  log(`metrics in ${files.json}, ${files.csv}, ${files.md}`);
  return { summary, files };
}
