// Smoke-test quality benchmark (`npm run bench -- quality-smoke`; the targets are on real images,
// bench/quality-real.ts): UDEG-Net with `udeg train`'s defaults from the phantom-only "tiny" base
// (its recorded numbers were measured so), its ablations, and a plain U-Net peer (bench/peer/unet.py) trained on the same
// split, size, epochs, batches and augmentation, all scored by udeg's own metric code, on three
// sets: the ITK brain slices (real MRI), the demo's ultrasound-like phantoms and small-structure
// phantoms (lesions 3-15 px, strands 1-3 px). Also: how much clicks help (the web viewer's
// refinement), through the split ONNX export, for udeg on the brain slices.
//
// The brain set's test split is the top 17 slices of one volume (slice_044-060), so it measures
// extrapolation along the volume. Measured 2026-12-07 (2 cores, train seeds 0-2, by hand, not by
// this file): on an interleaved split of the same 59 slices (every third slice tested, 39 train),
// udeg 0.908 (0.908, 0.905, 0.910) and the U-Net 0.912 (0.911, 0.914, 0.912), against 0.856 and
// 0.875 on the shipped split (BENCHMARKS.md): udeg loses most where it extrapolates, and there it
// under-segments (the dark CSF rim inside the label is left out; seed 0 sensitivity 0.78,
// precision 0.98).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDataset } from "../src/data/index.js";
import { writePhantomDataset } from "../src/data/phantoms/index.js";
import { bundledBrainData, type DemoDataset } from "../src/demo/demo.js";
import { evaluateRun } from "../src/eval/evaluate-run.js";
import { type CaseResult, dice, meanStd, type Summary } from "../src/eval/metrics/index.js";
import { train } from "../src/train/trainer.js";
import { type PresetName, resolveConfig } from "../src/udeg/config.js";
import { exportWebModels } from "../src/udeg/export.js";
import { type Click, nextClick } from "../src/udeg/interactive.js";
import { flag, interactiveModel, machine, round, updateBenchmarksMd, writeResults } from "./common.js";
import { trainUnetPeer } from "./unet-peer.js";

const PRESETS: PresetName[] = ["udeg", "samed", "no-edge", "no-fine", "no-evidential"];
const CLICKS = 3;

type Row = Record<string, number | null>;

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

function row(m: Summary["mean"], seconds: number): Row {
  return { ...m, train_seconds: round(seconds) };
}

/** A table cell: `d` decimals, or n/a for a missing value. */
const f = (v: number | null | undefined, d = 4) => (v === null || v === undefined ? "n/a" : v.toFixed(d));

/** Mean of metric `m` over rows that have it; null when none has. */
export function meanOf(rows: Row[], m: string): number | null {
  return meanStd(rows.map((r) => r[m] ?? null)).mean;
}

/** Population standard deviation of metric `m` over rows (0 for one row). */
export function sdOf(rows: Row[], m: string): number | null {
  return meanStd(rows.map((r) => r[m] ?? null)).std;
}

/** `by[set][model]` mapped through `map`, for quality.json. */
function perSetAndModel<T, U>(
  by: Record<string, Partial<Record<string, T>>>,
  map: (value: T) => U,
): Record<string, Record<string, U>> {
  return Object.fromEntries(
    Object.entries(by).map(([set, byModel]) => [
      set,
      Object.fromEntries(Object.entries(byModel).map(([model, v]) => [model, map(v as T)])),
    ]),
  );
}

/** Every metric's mean over rows. */
function meanRow(rows: Row[]): Row {
  return Object.fromEntries(Object.keys(rows[0] ?? {}).map((k) => [k, meanOf(rows, k)]));
}

/**
 * The benchmark's sets: ultrasound-like phantoms (the demo's until it moved to real images), the
 * bundled ITK brain slices and the small-structure phantoms.
 */
function datasets(root: string): DemoDataset[] {
  const ultrasound = join(root, "ultrasound");
  writePhantomDataset(ultrasound, "ultrasound", { count: 60, size: 128, seed: 2025, difficulty: 0.5 });
  const small = join(root, "small-structures");
  writePhantomDataset(small, "small-structures", { count: 60, size: 128, seed: 7, difficulty: 0.5 });
  return [
    {
      slug: "ultrasound",
      name: "Ultrasound-like phantoms",
      description:
        "Synthetic B-mode lesions with speckle, shadowing and partly missing edges: a domain the base model never saw.",
      data: ultrasound,
    },
    {
      slug: "itk-brain",
      name: "ITK brain MRI",
      description: "Real T1-weighted MRI slices with brain masks (Insight Toolkit example data, Apache-2.0).",
      data: bundledBrainData(),
    },
    {
      slug: "small-structures",
      name: "Small-structure phantoms",
      description: "Lesions 3-15 px across and strands 1-3 px wide on grey tissue (60 phantoms, seed 7).",
      data: small,
    },
  ];
}

export async function benchQuality(args: string[]): Promise<void> {
  const epochs = flag(args, "epochs", 30);
  // Test sets hold 12-17 images: one seed moves brain Dice by about 0.01-0.02 (measured: 0.846,
  // 0.856, 0.864 for train seeds 0, 1, 2), as much as most differences between presets.
  const seeds = flag(args, "seeds", 1);
  const withPeer = !args.includes("--no-peer");
  const root = mkdtempSync(join(tmpdir(), "udeg-quality-"));
  const t0 = performance.now();
  const results: Record<string, Record<string, Row>> = {};
  const unet: Record<string, { params: number; best_epoch: number; val_dice: number | null }> = {};
  let clicks: number[] = [];
  // Seed 0 gives every row of the tables (the demo trains with seed 0 and shows those rows);
  // seeds 1..N-1 retrain udeg and the U-Net only, for the spread that one seed hides.
  const spread: Record<string, Record<"udeg" | "unet", Row[]>> = {};
  // Seed 0's per-image scores of udeg and the U-Net: where each one loses its Dice.
  const perImage: Record<string, Partial<Record<"udeg" | "unet", CaseResult[]>>> = {};
  for (const set of datasets(root)) {
    results[set.slug] = {};
    spread[set.slug] = { udeg: [], unet: [] };
    for (let seed = 0; seed < seeds; seed++) {
      for (const preset of seed === 0 ? PRESETS : (["udeg"] as PresetName[])) {
        const out = join(root, "runs", set.slug, `${preset}-seed${seed}`);
        console.error(
          `quality: ${set.name} / ${preset}, seed ${seed}, ${epochs} epochs from the tiny base ...`,
        );
        const config = resolveConfig({
          overrides: { preset, model: { base: "tiny" }, train: { epochs, seed } },
        });
        const s = await train({ data: set.data, out, config, progress: false, log: () => {} });
        const { summary } = await evaluateRun(
          { model: out, data: set.data, split: "test", quiet: true },
          () => {},
        );
        const r = row(summary.mean, s.seconds);
        if (seed === 0) results[set.slug]![preset] = r;
        if (seed === 0 && preset === "udeg") perImage[set.slug] = { udeg: summary.per_image };
        if (preset === "udeg") spread[set.slug]!.udeg.push(r);
        console.error(`  ${JSON.stringify(r)}`);
        if (preset === "udeg" && seed === 0 && set.slug === "itk-brain")
          clicks = await clickDice(out, set.data);
      }
      if (withPeer) {
        console.error(`quality: ${set.name} / U-Net (PyTorch peer), seed ${seed}, ${epochs} epochs ...`);
        const config = resolveConfig({ overrides: { model: { base: "tiny" }, train: { epochs, seed } } });
        const r = await trainUnetPeer(set.data, config, () => {});
        const scored = row(r.summary.mean, r.seconds);
        if (seed === 0) {
          results[set.slug]!.unet = scored;
          unet[set.slug] = { params: r.params, best_epoch: r.bestEpoch, val_dice: r.bestValDice };
          perImage[set.slug] = { ...perImage[set.slug], unet: r.summary.per_image };
        }
        spread[set.slug]!.unet.push(scored);
        console.error(`  ${JSON.stringify(scored)}`);
      }
    }
  }
  const minutes = (performance.now() - t0) / 60000;
  const get = (set: string, v: string, m: string) => results[set]?.[v]?.[m] ?? null;
  // The targets against the U-Net and the absolute ones use the mean over seeds; the ablation
  // targets compare seed 0 with seed 0 (the ablations train once).
  const mean = (set: string, v: "udeg" | "unet", m: string) => meanOf(spread[set]?.[v] ?? [], m);
  const ge = (a: number | null, b: number | null, margin = 0) => a !== null && b !== null && a >= b + margin;
  const targets: Record<string, boolean> = {
    "brain: Dice >= 0.90": ge(mean("itk-brain", "udeg", "dice"), 0.9),
    "brain: Dice >= U-Net + 0.02": ge(
      mean("itk-brain", "udeg", "dice"),
      mean("itk-brain", "unet", "dice"),
      0.02,
    ),
    "brain: HD95 <= U-Net's": ge(mean("itk-brain", "unet", "hd95"), mean("itk-brain", "udeg", "hd95")),
    "ultrasound: Dice >= 0.70": ge(mean("ultrasound", "udeg", "dice"), 0.7),
    "ultrasound: Dice >= U-Net + 0.02": ge(
      mean("ultrasound", "udeg", "dice"),
      mean("ultrasound", "unet", "dice"),
      0.02,
    ),
    "small structures: Dice >= U-Net": ge(
      mean("small-structures", "udeg", "dice"),
      mean("small-structures", "unet", "dice"),
    ),
  };
  for (const set of Object.keys(results)) {
    targets[`${set}: udeg >= samed and >= no-edge`] =
      ge(get(set, "udeg", "dice"), get(set, "samed", "dice")) &&
      ge(get(set, "udeg", "dice"), get(set, "no-edge", "dice"));
    targets[`${set}: AUROC(u) >= 0.90`] = ge(mean(set, "udeg", "auroc_u"), 0.9);
  }
  const file = {
    ...results,
    unet,
    seeds: perSetAndModel(spread, (rows) => ({
      dice: rows.map((r) => r.dice),
      hd95: rows.map((r) => r.hd95),
      mean: meanRow(rows),
      sd_dice: sdOf(rows, "dice"),
    })),
    per_image: perSetAndModel(perImage, (cases) =>
      cases.map((c) => ({ id: c.id, dice: c.dice, sensitivity: c.sensitivity, precision: c.precision })),
    ),
    clicks: Object.fromEntries(clicks.map((d, n) => [`dice_${n}_clicks`, d])),
    epochs,
    image_size: 128,
    minutes: round(minutes, 2),
    targets_met: targets,
    machine: machine(),
    date: new Date().toISOString(),
  };
  writeResults("bench/results/quality.json", file);
  const tables = Object.entries(results).map(([slug, rows]) => {
    const lines = Object.entries(rows).map(
      ([name, r]) =>
        `| ${name === "unet" ? "U-Net (PyTorch peer)" : name} | ${f(r.dice)} | ${f(r.sensitivity, 3)} | ${f(r.precision, 3)} | ${f(r.hd95, 2)} | ${f(r.assd, 2)} | ${f(r.bf1, 3)} | ${f(r.bf2, 3)} | ${f(r.auroc_u, 3)} | ${f(r.ece)} | ${r.train_seconds} |`,
    );
    return `### ${slug}\n\n| model | Dice | sensitivity | precision | HD95 (px) | ASSD (px) | BF@1px | BF@2px | AUROC(u) | ECE | train (s) |\n|---|---|---|---|---|---|---|---|---|---|---|\n${lines.join("\n")}`;
  });
  const mark = (ok: boolean) => (ok ? "met" : "**not met**");
  const perSeed = (rows: Row[], m: string, d: number) => rows.map((r) => f(r[m], d)).join(", ");
  const spreadLines = Object.entries(spread).flatMap(([slug, byModel]) =>
    Object.entries(byModel)
      .filter(([, rows]) => rows.length > 0)
      .map(
        ([model, rows]) =>
          `| ${slug} | ${model === "unet" ? "U-Net" : model} | ${f(meanOf(rows, "dice"))} ± ${f(sdOf(rows, "dice"))} | ${perSeed(rows, "dice", 3)} | ${f(meanOf(rows, "hd95"), 2)} | ${f(meanOf(rows, "bf1"), 3)} | ${f(meanOf(rows, "auroc_u"), 3)} |`,
      ),
  );
  const spreadTable =
    seeds > 1
      ? `\n\n### Over ${seeds} training seeds (0-${seeds - 1}): udeg and the U-Net; the targets use these means\n\n| set | model | Dice mean ± sd | Dice per seed | HD95 mean | BF@1px mean | AUROC(u) mean |\n|---|---|---|---|---|---|---|\n${spreadLines.join("\n")}`
      : "";
  const hardest = hardestImages(perImage, 4);
  updateBenchmarksMd(
    "quality",
    `## Quality on phantoms and brain MRI, smoke tests (\`npm run bench -- quality-smoke\`)

${file.machine}. Every model trained in this run on the set's train split (the best of ${epochs} epochs chosen on the val part:
10 % of train held out, seeded, where the set has none), 128 px, batch 4, the same augmentation, and scored on the test split
by udeg's metric code (\`udeg eval\`). udeg and its ablations: \`udeg train\`'s defaults from the bundled base (\`--base tiny\`).
U-Net: bench/peer/unet.py (PyTorch ${"2-D U-Net, 4 poolings, conv-InstanceNorm-LeakyReLU x 2 per stage, Dice + CE, Adam"}),
${Object.values(unet)[0]?.params ?? "?"} parameters, trained on udeg's very batches (bench/unet-peer.ts). Total ${round(minutes, 1)} min.${seeds > 1 ? ` The per-set tables: train seed 0 (the demo's); the last: seeds 0-${seeds - 1}.` : ""}

${tables.join("\n\n")}${spreadTable}${hardest}

Clicks (the web viewer's refinement, through the split ONNX export in onnxruntime-node), brain test Dice after n clicks,
each at the centre of the largest error: ${clicks.map((d, n) => `${n}: ${f(d)}`).join(", ")}.

Targets (issue 11): ${Object.entries(targets)
      .map(([name, ok]) => `${name} ${mark(ok)}`)
      .join("; ")}. Date: ${file.date}.`,
  );
  console.log(JSON.stringify(file, null, 2));
}

/**
 * Per set, the `count` test images with the lowest Dice of udeg and the U-Net together (seed 0):
 * whether both miss the same images, and whether a Dice is lost to missed foreground (low
 * sensitivity) or to added foreground (low precision).
 */
export function hardestImages(
  perImage: Record<string, Partial<Record<"udeg" | "unet", CaseResult[]>>>,
  count: number,
): string {
  const lines = Object.entries(perImage).flatMap(([slug, { udeg, unet }]) => {
    if (!udeg || !unet) return [];
    const byId = new Map(unet.map((c) => [c.id, c]));
    return udeg
      .map((u) => ({ u, n: byId.get(u.id) }))
      .filter((p): p is { u: CaseResult; n: CaseResult } => p.n !== undefined)
      .sort((a, b) => a.u.dice + a.n.dice - (b.u.dice + b.n.dice))
      .slice(0, count)
      .map(
        ({ u, n }) =>
          `| ${slug} | ${u.id} | ${f(u.dice, 3)} | ${f(u.sensitivity, 3)} | ${f(u.precision, 3)} | ${f(n.dice, 3)} | ${f(n.sensitivity, 3)} | ${f(n.precision, 3)} |`,
      );
  });
  if (lines.length === 0) return "";
  return `\n\n### The hardest test images (seed 0): the ${count} per set with the lowest Dice of udeg and the U-Net together\n\n| set | image | udeg Dice | udeg sensitivity | udeg precision | U-Net Dice | U-Net sensitivity | U-Net precision |\n|---|---|---|---|---|---|---|---|\n${lines.join("\n")}`;
}
