// The paper's benchmark on real images (`npm run bench -- quality`): UDEG-Net with `udeg train`'s
// defaults (the default base, LoRA, 128 px), its ablations samed and no-edge, and the plain U-Net
// peer (bench/peer/unet.py, colour images as colour: both get udeg's three planes), on the seven
// public 2-D sets of ../shared/data/real, scored by udeg's own metric code (`udeg eval`'s
// evaluateRun: Dice, IoU, HD95 and BF@1px at the image's original size, AUROC of the uncertainty
// against the errors). udeg and the U-Net train 3 seeds; the ablations seed 0.
//
// One full run has to fit a working session (2.5 h on 2 cores), so every model trains on the
// same seeded subset of each set's train part (RECIPE.train images, or all of a smaller part) for
// RECIPE.epochs epochs, keeps its best epoch on the set's val part (at most RECIPE.val images),
// and is scored on the whole test part. Measured per image-step at 128 px on 2 cores: udeg
// 0.071 s, the U-Net 0.23 s (the BUSI runs of issue 27: 30 epochs x 452 images took 16 and 52 min).
//
// Each result (set, model, seed) is written to bench/results/quality-real-cells.json as soon as it
// is scored, with the recipe it was trained under: a run stopped by the end of a session goes on
// where it stopped (`--resume`), and a changed recipe or base trains afresh. The time of a full run
// is the sum of its cells' times, written with the table.
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Split } from "../src/data/split.js";
import { Rng } from "../src/engine/random.js";
import { evaluateRun } from "../src/eval/evaluate-run.js";
import type { Summary } from "../src/eval/metrics/index.js";
import { writeJsonAtomic } from "../src/io/atomic.js";
import { train } from "../src/train/trainer.js";
import { DEFAULT_BASE, type PresetName, resolveConfig } from "../src/udeg/config.js";
import { runPath } from "../src/udeg/run-folder.js";
import { bundledBaseDir, fingerprint } from "../src/udeg/setup.js";
import { gitRevision, machine, round, updateBenchmarksMd, writeResults } from "./common.js";
import { meanOf, sdOf } from "./quality.js";
import { trainUnetPeer } from "./unet-peer.js";

/**
 * The seven sets of issue 27, in the order of its table. `published`: the Dice the issue gives for
 * orientation (full resolution, GPUs, long training; not a target), null where it gives none.
 */
export const REAL_SETS = [
  { slug: "BUSI", modality: "breast ultrasound, lesions", published: "0.80-0.85" },
  { slug: "HC18", modality: "fetal ultrasound, head", published: "about 0.97" },
  { slug: "Kvasir-SEG", modality: "colonoscopy, polyps", published: "about 0.90 (PraNet 0.898)" },
  { slug: "MoNuSeg", modality: "H&E histology, nuclei", published: "about 0.80" },
  { slug: "DSB2018-stage1test", modality: "fluorescence microscopy, nuclei", published: null },
  { slug: "ISBI2012-EM", modality: "electron microscopy, cell membranes", published: null },
  { slug: "DRIVE", modality: "retinal fundus, vessels", published: "about 0.80" },
] as const;

export interface Recipe {
  base: string;
  imageSize: number;
  /**
   * Image-steps per model and set: epochs = steps / train images (a set of 18 images trains 53
   * epochs, one of 120 trains 8), so a small set is not cut to a few hundred steps.
   */
  steps: number;
  /** Train images per set (a seeded subset of the train part; all of a smaller part). */
  train: number;
  /** Val images per set, for choosing the best epoch. */
  val: number;
  /**
   * udeg's own pipeline, named when it changes what udeg's cells measure (a cached udeg cell of
   * another pipeline trains again; the U-Net's cells do not depend on it, nor on the base).
   */
  pipeline: string;
}

export const RECIPE: Recipe = {
  base: DEFAULT_BASE,
  imageSize: 128,
  steps: 960,
  train: 120,
  val: 30,
  pipeline: "largest component chosen on val (2026-12-07)",
};

/** What a cell's result depends on: for the U-Net only the data and the training budget. */
export function cellKey(model: Model, recipe: Recipe, baseFingerprint: string): Record<string, unknown> {
  const { imageSize, steps, train, val } = recipe;
  return model === "unet" ? { imageSize, steps, train, val } : { ...recipe, baseFingerprint };
}

/** The epochs a set with `trainImages` train images gets under `recipe`. */
export function epochsFor(recipe: Recipe, trainImages: number): number {
  return Math.max(1, Math.round(recipe.steps / Math.max(1, trainImages)));
}

export type Model = "udeg" | "samed" | "no-edge" | "unet";
const METRICS = ["dice", "iou", "hd95", "bf1", "auroc_u", "sensitivity", "precision"] as const;

export interface Cell {
  set: string;
  model: Model;
  seed: number;
  epochs: number;
  recipe: Record<string, unknown>;
  /** udeg's runs: postprocess.json (the choice made on val), for the record. */
  postprocess?: unknown;
  metrics: Record<string, number | null>;
  seconds: number;
  revision: string;
  date: string;
}

/** The cells in the order a run trains them: every set's seed 0 first, so a cut-short run still has one full table. */
export function cellOrder(
  sets: readonly string[],
  seeds: number,
): { set: string; model: Model; seed: number }[] {
  const out: { set: string; model: Model; seed: number }[] = [];
  for (let seed = 0; seed < seeds; seed++)
    for (const set of sets)
      for (const model of (seed === 0 ? ["udeg", "unet", "samed", "no-edge"] : ["udeg", "unet"]) as Model[])
        out.push({ set, model, seed });
  return out;
}

/**
 * A view of set `src` in `dir` that trains on `recipe.train` seeded images of its train part and
 * validates on at most `recipe.val` of its val part; the test part whole. Images are linked.
 */
export function writeSubset(src: string, dir: string, recipe: Recipe, seed = 0): Split {
  const split = JSON.parse(readFileSync(join(src, "split.json"), "utf8")) as Split;
  const pick = (names: string[], n: number, part: string) =>
    n >= names.length ? names : new Rng(seed, "benchmark subset", part).shuffle([...names]).slice(0, n);
  const out: Split = {
    train: pick(split.train, recipe.train, "train"),
    val: pick(split.val ?? [], recipe.val, "val"),
    test: split.test,
  };
  mkdirSync(dir, { recursive: true });
  for (const sub of ["images", "masks"]) symlinkSync(resolve(src, sub), join(dir, sub));
  writeFileSync(join(dir, "split.json"), JSON.stringify(out));
  return out;
}

/** The sets a bundled base saw in pretraining, read from its manifest's data line. */
export function seenByBase(base: string): Set<string> {
  const manifest = JSON.parse(readFileSync(join(bundledBaseDir(base), "manifest.json"), "utf8")) as {
    data?: string;
  };
  return new Set(REAL_SETS.map((s) => s.slug).filter((slug) => (manifest.data ?? "").includes(slug)));
}

function pick(summary: Summary["mean"]): Record<string, number | null> {
  const m = summary as unknown as Record<string, number | null>;
  return Object.fromEntries(METRICS.map((k) => [k, m[k] ?? null]));
}

async function trainCell(
  data: string,
  model: Model,
  seed: number,
  recipe: Recipe,
  epochs: number,
  root: string,
): Promise<{ metrics: Record<string, number | null>; seconds: number; postprocess?: unknown }> {
  const t0 = performance.now();
  const overrides = {
    preset: model === "unet" ? "udeg" : (model as PresetName),
    model: { base: recipe.base, imageSize: recipe.imageSize },
    train: { epochs, seed },
  };
  const config = resolveConfig({ overrides });
  if (model === "unet") {
    const r = await trainUnetPeer(data, config, () => {});
    return { metrics: pick(r.summary.mean), seconds: (performance.now() - t0) / 1000 };
  }
  const out = join(root, "runs", `${model}-${seed}-${Date.now()}`);
  await train({ data, out, config, progress: false, log: () => {} });
  const { summary } = await evaluateRun({ model: out, data, split: "test", quiet: true }, () => {});
  // What the run chose on its val part (largest component or not) and the val Dice behind it.
  const post = existsSync(runPath(out, "postprocess"))
    ? (JSON.parse(readFileSync(runPath(out, "postprocess"), "utf8")) as unknown)
    : null;
  rmSync(out, { recursive: true, force: true });
  return { metrics: pick(summary.mean), seconds: (performance.now() - t0) / 1000, postprocess: post };
}

const CELLS = "bench/results/quality-real-cells.json";

function readCells(): Cell[] {
  return existsSync(CELLS) ? (JSON.parse(readFileSync(CELLS, "utf8")) as Cell[]) : [];
}

function sameRecipe(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A `--name=value` flag of a benchmark, as text. */
export function stringFlag(args: string[], name: string, dflt: string): string {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : dflt;
}

function numberFlag(args: string[], name: string, dflt: number): number {
  const v = Number(stringFlag(args, name, String(dflt)));
  if (!Number.isInteger(v) || v <= 0)
    throw new Error(`--${name}: give a whole number (e.g. --${name}=${dflt})`);
  return v;
}

export async function benchQualityReal(args: string[]): Promise<void> {
  const root = resolve(stringFlag(args, "real", "../shared/data/real"));
  const seeds = numberFlag(args, "seeds", 3);
  const recipe: Recipe = {
    base: stringFlag(args, "base", RECIPE.base),
    imageSize: numberFlag(args, "size", RECIPE.imageSize),
    steps: numberFlag(args, "steps", RECIPE.steps),
    train: numberFlag(args, "train", RECIPE.train),
    val: numberFlag(args, "val", RECIPE.val),
    pipeline: RECIPE.pipeline,
  };
  const only = stringFlag(args, "sets", "");
  const sets = REAL_SETS.map((s) => s.slug).filter((s) => !only || only.split(",").includes(s));
  const missing = sets.filter((s) => !existsSync(join(root, s, "split.json")));
  if (missing.length)
    throw new Error(`${root}: no ${missing.join(", ")} (give --real=DIR, the folder of ../shared/data/real)`);
  const baseFile = join(bundledBaseDir(recipe.base), "model.safetensors");
  const baseFingerprint = fingerprint(baseFile);
  const current = (c: Cell) => sameRecipe(c.recipe, cellKey(c.model, recipe, baseFingerprint));
  let cells = args.includes("--resume") ? readCells().filter(current) : [];
  const work = mkdtempSync(join(tmpdir(), "udeg-quality-real-"));
  try {
    const subsets = new Map<string, { dir: string; epochs: number }>();
    for (const set of sets) {
      const dir = join(work, "data", set);
      const split = writeSubset(join(root, set), dir, recipe);
      subsets.set(set, { dir, epochs: epochsFor(recipe, split.train.length) });
    }
    const order = cellOrder(sets, seeds);
    for (const [i, c] of order.entries()) {
      if (cells.some((d) => d.set === c.set && d.model === c.model && d.seed === c.seed)) continue;
      const { dir, epochs } = subsets.get(c.set)!;
      console.error(
        `quality: [${i + 1}/${order.length}] ${c.set} / ${c.model}, seed ${c.seed}, ${epochs} epochs ...`,
      );
      const r = await trainCell(dir, c.model, c.seed, recipe, epochs, work);
      const cell: Cell = {
        ...c,
        epochs,
        recipe: cellKey(c.model, recipe, baseFingerprint),
        ...r,
        revision: gitRevision(),
        date: new Date().toISOString(),
      };
      console.error(`  ${JSON.stringify(r.metrics)} in ${round(r.seconds)} s`);
      cells = [
        ...readCells().filter((d) => !(d.set === c.set && d.model === c.model && d.seed === c.seed)),
        cell,
      ].filter(current);
      writeJsonAtomic(CELLS, cells);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  report(cells, sets, seeds, recipe);
}

/** Mean of each metric over a model's seeds on a set. */
function meanCells(cells: Cell[], set: string, model: Model): Record<string, number | null> & { n: number } {
  const rows = cells.filter((c) => c.set === set && c.model === model).map((c) => c.metrics);
  return { ...Object.fromEntries(METRICS.map((m) => [m, meanOf(rows, m)])), n: rows.length };
}

/** Issue 27's targets per set, on the means over seeds (a missing value fails its target). */
export function judge(cells: Cell[], sets: readonly string[]): Record<string, boolean> {
  const targets: Record<string, boolean> = {};
  const ge = (a: number | null, b: number | null, margin = 0) =>
    a !== null && b !== null && a >= b + margin - 1e-12;
  for (const set of sets) {
    const u = meanCells(cells, set, "udeg");
    const n = meanCells(cells, set, "unet");
    targets[`${set}: Dice >= U-Net + 0.02`] = ge(u.dice, n.dice, 0.02);
    targets[`${set}: HD95 <= U-Net's`] = ge(n.hd95, u.hd95);
    targets[`${set}: BF@1px >= U-Net's`] = ge(u.bf1, n.bf1);
    targets[`${set}: >= samed and no-edge`] =
      ge(u.dice, meanCells(cells, set, "samed").dice) && ge(u.dice, meanCells(cells, set, "no-edge").dice);
    targets[`${set}: AUROC(u) >= 0.90`] = ge(u.auroc_u, 0.9);
  }
  return targets;
}

/** How many seeds every set has of `model` (the fewest over the sets). */
function seedsRun(cells: Cell[], model: Model): number {
  const sets = new Set(cells.map((c) => c.set));
  return Math.min(...[...sets].map((set) => cells.filter((c) => c.set === set && c.model === model).length));
}

const f = (v: number | null | undefined, d = 3) => (v === null || v === undefined ? "n/a" : v.toFixed(d));

function report(cells: Cell[], sets: string[], seeds: number, recipe: Recipe): void {
  const seen = seenByBase(recipe.base);
  const minutes = cells.reduce((a, c) => a + c.seconds, 0) / 60;
  const models: Model[] = ["udeg", "samed", "no-edge", "unet"];
  const table: Record<string, Record<string, unknown>> = {};
  for (const set of sets) table[set] = Object.fromEntries(models.map((m) => [m, meanCells(cells, set, m)]));
  const targets = judge(cells, sets);
  const file = {
    recipe,
    seen_by_base: [...seen],
    table,
    sd_dice: Object.fromEntries(
      sets.map((set) => [
        set,
        Object.fromEntries(
          (["udeg", "unet"] as Model[]).map((m) => [
            m,
            sdOf(
              cells.filter((c) => c.set === set && c.model === m).map((c) => c.metrics),
              "dice",
            ),
          ]),
        ),
      ]),
    ),
    targets_met: targets,
    cells: cells.length,
    expected_cells: cellOrder(sets, seeds).length,
    minutes: round(minutes, 1),
    machine: machine(),
    date: new Date().toISOString(),
  };
  writeResults("bench/results/quality-real.json", file);
  const line = (set: string, m: Model) => {
    const r = table[set]![m] as ReturnType<typeof meanCells>;
    const name = m === "unet" ? "U-Net (PyTorch peer)" : m;
    return `| ${set} | ${seen.has(set) ? "seen" : "**unseen**"} | ${name} | ${r.n} | ${f(r.dice)} | ${f(r.iou)} | ${f(r.hd95, 1)} | ${f(r.bf1)} | ${f(r.auroc_u)} |`;
  };
  const rows = sets.flatMap((set) => models.map((m) => line(set, m)));
  const met = Object.values(targets).filter(Boolean).length;
  updateBenchmarksMd(
    "quality-real",
    `## Quality on real images (\`npm run bench -- quality\`)

${file.machine}. The seven sets of ../shared/data/real: every model trains on the same seeded subset of a set's train part
(${recipe.train} images, or all of a smaller part) for ${recipe.steps} image-steps (epochs = ${recipe.steps} / train images) at ${recipe.imageSize} px, batch 4, keeps its best epoch on the
set's val part (at most ${recipe.val} images), and is scored on the whole test part by \`udeg eval\`'s code at the image's
original size. udeg, samed and no-edge: \`udeg train\`'s defaults from the "${recipe.base}" base; U-Net: bench/peer/unet.py
on udeg's very batches. "seen": the base saw the set's train part in pretraining (its manifest); "unseen": never.
Means over the seeds in column n (udeg and the U-Net 3, the ablations 1). ${file.cells} of ${file.expected_cells} cells,
${file.minutes} min of training and scoring in all (bench/results/quality-real-cells.json has each cell).

| set | base | model | n | Dice | IoU | HD95 (px) | BF@1px | AUROC(u) |
|---|---|---|---|---|---|---|---|---|
${rows.join("\n")}

Targets (issue 27): ${met} of ${Object.keys(targets).length} met; not met: ${
      Object.entries(targets)
        .filter(([, ok]) => !ok)
        .map(([name]) => name)
        .join("; ") || "none"
    }. Date: ${file.date}.`,
  );
  const cell = (set: string, m: Model, k: string, d = 3) =>
    f((table[set]![m] as ReturnType<typeof meanCells>)[k] as number | null, d);
  const compact = sets.map((set) => {
    const published = REAL_SETS.find((r) => r.slug === set)?.published ?? "n/a";
    const u = (table[set]!.udeg as ReturnType<typeof meanCells>).dice;
    const n = (table[set]!.unet as ReturnType<typeof meanCells>).dice;
    const bold = (v: string, win: boolean) => (win ? `**${v}**` : v);
    return `| ${set} | ${seen.has(set) ? "seen" : "unseen"} | ${bold(cell(set, "udeg", "dice"), (u ?? 0) >= (n ?? 0))} | ${bold(cell(set, "unet", "dice"), (n ?? 0) > (u ?? 0))} | ${cell(set, "samed", "dice")} | ${cell(set, "no-edge", "dice")} | ${cell(set, "udeg", "hd95", 1)} / ${cell(set, "unet", "hd95", 1)} | ${cell(set, "udeg", "bf1")} / ${cell(set, "unet", "bf1")} | ${cell(set, "udeg", "auroc_u")} | ${published} |`;
  });
  updateBenchmarksMd(
    "quality-real",
    `Test-part means (udeg and the U-Net over ${seedsRun(cells, "udeg")} training seed(s), the ablations seed 0; the better Dice of the two bold) from \`npm run bench -- quality\`,
${file.machine}, ${file.date.slice(0, 10)}: ${file.cells} of ${file.expected_cells} cells; ${recipe.train} train images at most,
${recipe.steps} image-steps, ${recipe.imageSize} px (BENCHMARKS.md has every metric and the recipe). "seen": the default base saw
the set's train part in pretraining.

| set | base | udeg Dice | U-Net Dice | samed | no-edge | HD95 px (udeg / U-Net) | BF@1px (udeg / U-Net) | AUROC(u) | published Dice (orientation) |
|---|---|---|---|---|---|---|---|---|---|
${compact.join("\n")}`,
    "README.md",
  );
  // The README's tables are biome-formatted (npm run lint checks it): align the new one.
  spawnSync("npx", ["biome", "format", "--write", "README.md"], { stdio: "ignore" });
  console.log(JSON.stringify(file, null, 2));
}
