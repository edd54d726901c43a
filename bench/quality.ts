// Quality benchmark: UDEG-Net from the bundled base on the ITK brain slices (test split) at
// 128 px, with the ablations trained in the same run. Targets (issue): Dice >= 0.95,
// HD95 <= 4 px, uncertainty-error AUROC >= 0.85, within 15 minutes on a 2-core machine.
// Also: how much clicks help (the web viewer's refinement), through the split ONNX export, for
// udeg trained with simulated clicks (the default) and without them.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDataset } from "../src/data/index.js";
import { bundledBrainData, demoOverrides } from "../src/demo/demo.js";
import { evaluateRun } from "../src/eval/evaluate-run.js";
import { dice } from "../src/eval/metrics/index.js";
import { train } from "../src/train/trainer.js";
import { type PresetName, resolveConfig } from "../src/udeg/config.js";
import { exportWebModels } from "../src/udeg/export.js";
import { type Click, nextClick } from "../src/udeg/interactive.js";
import { flag, interactiveModel, machine, round, updateBenchmarksMd, writeResults } from "./common.js";

interface Variant {
  name: string;
  preset: PresetName;
  /** Simulated-click training probability (undefined: the config's default). */
  clicks?: number;
  /** Measure Dice after 1..CLICKS clicks of the standard protocol. */
  interactive: boolean;
}
const VARIANTS: Variant[] = [
  { name: "udeg", preset: "udeg", interactive: true },
  { name: "samed", preset: "samed", interactive: false },
  { name: "no-edge", preset: "no-edge", interactive: false },
  { name: "no-evidential", preset: "no-evidential", interactive: false },
  { name: "udeg, no click training", preset: "udeg", clicks: 0, interactive: true },
];
const CLICKS = 3;

/** Mean test Dice (foreground vs background) after 0..CLICKS clicks, each at the largest error. */
export async function clickDice(run: string, data: string): Promise<number[]> {
  const model = await interactiveModel(join(run, "web"), exportWebModels(run, join(run, "web")));
  const ds = await openDataset(data);
  const sums = new Array<number>(CLICKS + 1).fill(0);
  const samples = ds.part("test");
  for (const ref of samples) {
    const sample = await ds.load(ref);
    const truth = sample.mask.data;
    const encoded = await model.encode(sample.image);
    const clicks: Click[] = [];
    let result = await model.decode(encoded);
    for (let n = 0; ; n++) {
      sums[n]! += dice(
        result.labels.map((v) => Number(v > 0)),
        truth.map((v) => Number(v > 0)),
      );
      if (n === CLICKS) break;
      const click = nextClick(result.labels, truth, result.width, result.height);
      if (click) clicks.push(click);
      result = await model.decode(encoded, clicks);
    }
  }
  return sums.map((v) => v / samples.length);
}

export async function benchQuality(args: string[]): Promise<void> {
  const epochs = flag(args, "epochs", 30);
  const data = bundledBrainData();
  const root = mkdtempSync(join(tmpdir(), "udeg-quality-"));
  const t0 = performance.now();
  const results: Record<string, Record<string, number | null>> = {};
  for (const [i, v] of VARIANTS.entries()) {
    const out = join(root, String(i));
    console.error(`quality: ${v.name}, ${epochs} epochs from the tiny base ...`);
    const overrides = demoOverrides(v.preset, epochs) as { train?: Record<string, unknown> };
    if (v.clicks !== undefined) overrides.train = { ...overrides.train, clicks: { probability: v.clicks } };
    const config = resolveConfig({ overrides });
    const s = await train({ data, out, config, progress: false, log: () => {} });
    const { summary } = await evaluateRun({ model: out, data, split: "test", quiet: true }, () => {});
    const m = summary.mean;
    const clicked = v.interactive ? await clickDice(out, data) : null;
    results[v.name] = {
      dice: m.dice,
      hd95: m.hd95,
      assd: m.assd,
      auroc_u: m.auroc_u,
      ece: m.ece,
      iou: m.iou,
      ueo: m.ueo,
      train_seconds: round(s.seconds),
      ...(clicked ? Object.fromEntries(clicked.map((d, n) => [`dice_${n}_clicks`, d])) : {}),
    };
    console.error(`  ${JSON.stringify(results[v.name])}`);
  }
  const minutes = (performance.now() - t0) / 60000;
  const u = results.udeg!;
  const targets = {
    dice: (u.dice ?? 0) >= 0.95,
    hd95: (u.hd95 ?? Number.POSITIVE_INFINITY) <= 4,
    auroc_u: (u.auroc_u ?? 0) >= 0.85,
    minutes: minutes <= 15,
  };
  const file = {
    ...results,
    epochs,
    image_size: 128,
    minutes: round(minutes, 2),
    targets_met: targets,
    machine: machine(),
    date: new Date().toISOString(),
  };
  writeResults("bench/results/quality.json", file);
  const f = (v: number | null | undefined, d = 4) => (v === null || v === undefined ? "n/a" : v.toFixed(d));
  const rows = VARIANTS.map(({ name }) => {
    const r = results[name]!;
    return `| ${name} | ${f(r.dice)} | ${f(r.hd95, 2)} | ${f(r.assd, 2)} | ${f(r.auroc_u, 3)} | ${f(r.ece)} | ${r.train_seconds} |`;
  });
  const clickRows = VARIANTS.filter((v) => v.interactive).map(({ name }) => {
    const r = results[name]!;
    const cells = Array.from({ length: CLICKS + 1 }, (_, n) => f(r[`dice_${n}_clicks`]));
    return `| ${name} | ${cells.join(" | ")} |`;
  });
  const mark = (ok: boolean) => (ok ? "met" : "**not met**");
  updateBenchmarksMd(
    "quality",
    `## Quality (\`npm run bench -- quality\`)

${file.machine}. ITK brain slices (bundled copy of ../shared/data/itk-t1-brain), test split (17 slices), 128 px,
each preset LoRA-adapting the bundled tiny base (LoRA on all linears, rank 8; the demo's settings) for ${epochs} epochs (lr 5e-3, batch 4). Total ${round(minutes, 1)} min.

| preset | Dice | HD95 (px) | ASSD (px) | AUROC(u) | ECE | train (s) |
|---|---|---|---|---|---|---|
${rows.join("\n")}

Clicks (the web viewer's refinement, run through the split ONNX export in onnxruntime-node): test Dice after
n clicks, each placed by the standard protocol at the centre of the largest error (positive on a miss,
negative on a false alarm). "no click training" sets \`train.clicks.probability\` to 0.

| model | 0 clicks | 1 | 2 | 3 |
|---|---|---|---|---|
${clickRows.join("\n")}

Targets for \`udeg\`: Dice >= 0.95 ${mark(targets.dice)}; HD95 <= 4 px ${mark(targets.hd95)}; AUROC(u) >= 0.85 ${mark(targets.auroc_u)}; within 15 min ${mark(targets.minutes)}. Date: ${file.date}.`,
  );
  console.log(JSON.stringify(file, null, 2));
}
