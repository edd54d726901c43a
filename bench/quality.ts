// Quality benchmark: UDEG-Net from the bundled base on the ITK brain slices (test split) at
// 128 px, with the ablations trained in the same run. Targets (issue): Dice >= 0.95,
// HD95 <= 4 px, uncertainty-error AUROC >= 0.85, within 15 minutes on a 2-core machine.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { evalCommand } from "../src/cli/eval.js";
import { bundledBrainData, demoOverrides } from "../src/demo/demo.js";
import { train } from "../src/train/trainer.js";
import { type PresetName, resolveConfig } from "../src/udeg/config.js";
import { flag, machine, round, updateBenchmarksMd, writeResults } from "./common.js";

const PRESETS: PresetName[] = ["udeg", "samed", "no-edge", "no-evidential"];

export async function benchQuality(args: string[]): Promise<void> {
  const epochs = flag(args, "epochs", 30);
  const data = bundledBrainData();
  const root = mkdtempSync(join(tmpdir(), "udeg-quality-"));
  const t0 = performance.now();
  const results: Record<string, Record<string, number | null>> = {};
  for (const preset of PRESETS) {
    const out = join(root, preset);
    console.error(`quality: ${preset}, ${epochs} epochs from the tiny base ...`);
    const config = resolveConfig({ overrides: demoOverrides(preset, epochs) });
    const s = await train({ data, out, config, progress: false, log: () => {} });
    const { summary } = await evalCommand({ model: out, data, split: "test", quiet: true }, () => {});
    const m = summary.mean;
    results[preset] = {
      dice: m.dice,
      hd95: m.hd95,
      assd: m.assd,
      auroc_u: m.auroc_u,
      ece: m.ece,
      iou: m.iou,
      ueo: m.ueo,
      train_seconds: round(s.seconds),
    };
    console.error(`  ${JSON.stringify(results[preset])}`);
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
  const rows = PRESETS.map((p) => {
    const r = results[p]!;
    return `| ${p} | ${f(r.dice)} | ${f(r.hd95, 2)} | ${f(r.assd, 2)} | ${f(r.auroc_u, 3)} | ${f(r.ece)} | ${r.train_seconds} |`;
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

Targets for \`udeg\`: Dice >= 0.95 ${mark(targets.dice)}; HD95 <= 4 px ${mark(targets.hd95)}; AUROC(u) >= 0.85 ${mark(targets.auroc_u)}; within 15 min ${mark(targets.minutes)}. Date: ${file.date}.`,
  );
  console.log(JSON.stringify(file, null, 2));
}
