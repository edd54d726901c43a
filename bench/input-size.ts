// Input size by measurement (`npm run bench -- input-size`): udeg with its defaults, trained as the
// quality benchmark trains (bench/quality-real.ts: the same subsets, image-steps and seed 0) at
// each size of --sizes, scored on each real set's val part (never its test part: the default
// is chosen here, and the test part judges it). Reports val Dice, BF@1px and HD95, the training
// time and the prediction time per image, so the default can be weighed against the demo's
// 10-minute budget. Each (set, size) result is kept in bench/results/input-size-cells.json
// (--resume goes on from it).
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { evaluateRun } from "../src/eval/evaluate-run.js";
import { writeJsonAtomic } from "../src/io/atomic.js";
import { train } from "../src/train/trainer.js";
import { resolveConfig } from "../src/udeg/config.js";
import { machine, round, updateBenchmarksMd, writeResults } from "./common.js";
import { epochsFor, REAL_SETS, RECIPE, stringFlag, writeSubset } from "./quality-real.js";

interface SizeCell {
  set: string;
  size: number;
  epochs: number;
  val: { dice: number | null; bf1: number | null; hd95: number | null };
  trainSeconds: number;
  predictMsPerImage: number;
  date: string;
}

const CELLS = "bench/results/input-size-cells.json";

function readCells(): SizeCell[] {
  return existsSync(CELLS) ? (JSON.parse(readFileSync(CELLS, "utf8")) as SizeCell[]) : [];
}

export async function benchInputSize(args: string[]): Promise<void> {
  const value = (name: string, dflt: string) => stringFlag(args, name, dflt);
  const root = resolve(value("real", "../shared/data/real"));
  const sizes = value("sizes", "128,192,256").split(",").map(Number);
  if (sizes.some((s) => !Number.isInteger(s) || s % 16 !== 0))
    throw new Error(
      `--sizes=${value("sizes", "")}: give sizes in px that are multiples of 16, e.g. 128,192,256`,
    );
  const only = value("sets", "");
  const sets = REAL_SETS.map((s) => s.slug).filter((s) => !only || only.split(",").includes(s));
  let cells = args.includes("--resume") ? readCells() : [];
  const work = mkdtempSync(join(tmpdir(), "udeg-input-size-"));
  try {
    for (const set of sets) {
      const data = join(work, "data", set);
      const split = writeSubset(join(root, set), data, RECIPE);
      const epochs = epochsFor(RECIPE, split.train.length);
      for (const size of sizes) {
        if (cells.some((c) => c.set === set && c.size === size)) continue;
        console.error(`input size: ${set} at ${size} px, ${epochs} epochs ...`);
        const config = resolveConfig({
          overrides: { model: { base: RECIPE.base, imageSize: size }, train: { epochs, seed: 0 } },
        });
        const out = join(work, "runs", `${set}-${size}`);
        const t0 = performance.now();
        await train({ data, out, config, progress: false, log: () => {} });
        const trainSeconds = (performance.now() - t0) / 1000;
        const t1 = performance.now();
        const { summary } = await evaluateRun({ model: out, data, split: "val", quiet: true }, () => {});
        const m = summary.mean as unknown as Record<string, number | null>;
        const cell: SizeCell = {
          set,
          size,
          epochs,
          val: { dice: m.dice ?? null, bf1: m.bf1 ?? null, hd95: m.hd95 ?? null },
          trainSeconds: round(trainSeconds),
          predictMsPerImage: round((performance.now() - t1) / Math.max(1, split.val.length)),
          date: new Date().toISOString(),
        };
        console.error(`  ${JSON.stringify(cell)}`);
        cells = [...readCells().filter((c) => !(c.set === set && c.size === size)), cell];
        writeJsonAtomic(CELLS, cells);
        rmSync(out, { recursive: true, force: true });
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const f = (v: number | null | undefined, d = 3) => (v === null || v === undefined ? "n/a" : v.toFixed(d));
  const rows = sets.flatMap((set) =>
    sizes.map((size) => {
      const c = cells.find((x) => x.set === set && x.size === size);
      return c
        ? `| ${set} | ${size} | ${c.epochs} | ${f(c.val.dice)} | ${f(c.val.bf1)} | ${f(c.val.hd95, 1)} | ${c.trainSeconds} | ${c.predictMsPerImage} |`
        : `| ${set} | ${size} | not run | | | | | |`;
    }),
  );
  const file = { recipe: RECIPE, sizes, cells, machine: machine(), date: new Date().toISOString() };
  writeResults("bench/results/input-size.json", file);
  updateBenchmarksMd(
    "input-size",
    `## Input size on the real sets' val parts (\`npm run bench -- input-size\`)

${file.machine}. udeg's defaults from the "${RECIPE.base}" base, seed 0, trained as the real-image quality benchmark trains
(${RECIPE.train} train images at most, ${RECIPE.steps} image-steps), at each size; scored on the set's val part (at most
${RECIPE.val} images) at the image's original size. Prediction time: \`udeg eval\` on the val part, per image (model, restoring
to the original size and the metrics).

| set | size (px) | epochs | val Dice | val BF@1px | val HD95 (px) | train (s) | predict + score (ms/image) |
|---|---|---|---|---|---|---|---|
${rows.join("\n")}

Date: ${file.date}.`,
  );
}
