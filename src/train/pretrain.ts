// `udeg pretrain`: the small base model that `--base tiny` and the demo adapt. A SAM-architecture
// network (the from-scratch config) trained in full, with UDEG-Net's edge prompt generator and
// fine path, on phantoms (generic shapes, endoscopy-like polyps, small and thin structures, each
// at a spread of difficulties) and, with --data, the train parts of real data sets
// (pretrain-data.ts: their val and test parts are never read).
// It trains until the validation Dice stops improving (patience) or the time budget is spent,
// and keeps the best epoch. `--init BASE` continues from an earlier base (every weight trains), so
// a longer pretraining can be done in sittings, each on fresh phantoms (its own seed).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { PhantomKind } from "../data/phantoms/index.js";
import { resolveConfig } from "../udeg/config.js";
import { type BaseManifest, exportBase, readBaseManifest } from "./base.js";
import { PRETRAIN_DIFFICULTY, writePretrainMix } from "./pretrain-data.js";
import { train } from "./trainer.js";

export interface PretrainOptions {
  out: string;
  seed: number;
  /** Phantoms per kind (0: none). */
  count: number;
  /** Real data set folders whose train parts (val parts: validation) join the mix. */
  data: string[];
  /** A real set with fewer train images is repeated up to this many. */
  minPerSet: number;
  epochs: number;
  /** Stop after this many epochs without a better val Dice. */
  patience: number;
  /** Stop after this many minutes (the best epoch is kept); 0: no limit. */
  minutes: number;
  /** The ViT: patch size, width (embedding dimension) and depth. */
  patchSize: number;
  width: number;
  depth: number;
  /** The share of shapes phantoms whose mask holds a labelled rim (ShapesOptions.rims). */
  rims: number;
  /** The share of shapes phantoms rendered speckled (ShapesOptions.speckle). */
  speckle: number;
  /** Start from this base folder's weights and architecture instead of from scratch. */
  init: string | null;
  log: (line: string) => void;
  progress: boolean;
}

// Longer sittings on these kinds, and speckle, measured, not taken: docs/experiments.md, "Pretraining mix".
export const PRETRAIN_KINDS: readonly PhantomKind[] = ["shapes", "endoscopy", "small-structures"];

export const DEFAULT_PRETRAIN: Omit<PretrainOptions, "log"> = {
  out: join("assets", "bases", "tiny"),
  seed: 1,
  count: 1000,
  data: [],
  minPerSet: 200,
  epochs: 40,
  patience: 6,
  minutes: 0,
  patchSize: 8,
  width: 96,
  depth: 4,
  // Rims and speckle 0: the bundled base's recipe (0.5 of each: docs/experiments.md, "Pretraining mix").
  rims: 0,
  speckle: 0,
  init: null,
  progress: true,
};

/** The command line that reproduces a pretraining. */
export function pretrainCommand(o: Omit<PretrainOptions, "log" | "progress" | "out">): string {
  return (
    `udeg pretrain --seed ${o.seed} --count ${o.count} --epochs ${o.epochs} --patience ${o.patience}` +
    ` --minutes ${o.minutes} --rims ${o.rims} --speckle ${o.speckle} ` +
    (o.data.length ? `--data ${o.data.join(",")} --min-per-set ${o.minPerSet} ` : "") +
    (o.init ? `--init ${o.init}` : `--patch-size ${o.patchSize} --width ${o.width} --depth ${o.depth}`)
  );
}

export async function pretrain(o: PretrainOptions): Promise<BaseManifest> {
  const t0 = performance.now();
  const work = mkdtempSync(join(tmpdir(), "udeg-pretrain-"));
  try {
    const data = join(work, "data");
    if (o.count > 0) o.log(`generating ${o.count} phantoms each of ${PRETRAIN_KINDS.join(", ")} ...`);
    const mix = await writePretrainMix(data, {
      kinds: PRETRAIN_KINDS,
      count: o.count,
      seed: o.seed,
      shapes: { rims: o.rims, speckle: o.speckle },
      real: o.data,
      minPerSet: o.minPerSet,
    });
    if (mix.train === 0) throw new Error("nothing to pretrain on: --count 0 and no --data");
    o.log(`pretraining data: ${mix.sources.join("; ")} (train ${mix.train}, val ${mix.val})`);
    // Heads of 24 (the bundled base: 96 = 4 x 24) or else of 32 channels.
    const heads = o.width % 24 === 0 ? o.width / 24 : o.width % 32 === 0 ? o.width / 32 : 1;
    const config = resolveConfig({
      overrides: {
        preset: "udeg",
        model: {
          imageSize: 128,
          ...(o.init ? { base: o.init, encoder: "full" } : {}),
          scratch: {
            patchSize: o.patchSize,
            encoderEmbedDim: o.width,
            encoderDepth: o.depth,
            encoderNumHeads: heads,
            encoderGlobalAttnIndexes: [Math.floor(o.depth / 2) - 1, o.depth - 1],
          },
        },
        train: {
          epochs: o.epochs,
          lr: 2e-3,
          seed: o.seed,
          patience: o.patience,
          maxMinutes: o.minutes > 0 ? o.minutes : null,
          clicks: { probability: 0.25 },
        },
      },
    });
    const run = join(work, "run");
    o.log(`training the base ${o.init ? `from ${o.init}` : "from scratch"} for up to ${o.epochs} epochs ...`);
    const summary = await train({ data, out: run, config, progress: o.progress, log: o.log });
    const minutes = (performance.now() - t0) / 60000;
    const phantoms =
      `phantoms: ${o.count} each of ${PRETRAIN_KINDS.join(", ")}, 128 px, difficulty ` +
      `${PRETRAIN_DIFFICULTY.join("-")} (src/data/phantoms, seed ${o.seed}), ` +
      `${o.rims > 0 ? `shapes with labelled rims p ${o.rims}, ` : ""}` +
      `${o.speckle > 0 ? `shapes speckled p ${o.speckle}, ` : ""}split 70/10/20`;
    const real = o.data.length
      ? `real sets, train parts only (val and test parts never read): ${mix.sources
          .filter((l) => !l.startsWith("phantoms "))
          .join("; ")}`
      : "";
    const sitting = [o.count > 0 ? phantoms : "", real].filter(Boolean).join("; ");
    // A continued base records every sitting: the commands, data, steps and minutes add up.
    const before = o.init ? readBaseManifest(o.init) : null;
    const manifest = exportBase(run, o.out, {
      name: basename(o.out),
      command: before ? `${before.command}; then ${pretrainCommand(o)}` : pretrainCommand(o),
      seed: o.seed,
      data: before ? `${before.data}; then ${sitting}` : sitting,
      steps: summary.steps + (before?.steps ?? 0),
      metrics: {
        val_dice: summary.bestDice,
        last_loss: summary.lastLoss,
        epochs: summary.epochs,
        minutes: Math.round((minutes + Number(before?.metrics.minutes ?? 0)) * 10) / 10,
      },
      createdAt: new Date().toISOString(),
    });
    o.log(
      `base written to ${o.out} (val Dice ${summary.bestDice?.toFixed(4) ?? "n/a"}, ${minutes.toFixed(0)} min)`,
    );
    return manifest;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
