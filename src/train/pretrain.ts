// `udeg pretrain`: the small base model that `--base tiny` and the demo adapt. A SAM-architecture
// network (the from-scratch config) trained in full on phantoms: generic shapes and
// endoscopy-like polyps. Ultrasound-like phantoms are held out: the demo adapts to them.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writePhantomDataset } from "../data/phantoms/index.js";
import { resolveConfig } from "../udeg/config.js";
import { type BaseManifest, exportBase } from "./base.js";
import { train } from "./trainer.js";

export interface PretrainOptions {
  out: string;
  seed: number;
  /** Phantoms per kind. */
  count: number;
  epochs: number;
  log: (line: string) => void;
  progress: boolean;
}

export const DEFAULT_PRETRAIN: Omit<PretrainOptions, "log"> = {
  out: join("assets", "bases", "tiny"),
  seed: 1,
  count: 400,
  epochs: 15,
  progress: true,
};

/**
 * One dataset folder holding several phantom kinds: each kind's files go into the same
 * images/ and masks/ (their names start with the kind), and the splits are merged.
 */
function phantomMix(
  dir: string,
  kinds: readonly ("shapes" | "endoscopy")[],
  count: number,
  seed: number,
): void {
  const merged = { train: [] as string[], val: [] as string[], test: [] as string[] };
  kinds.forEach((kind, i) => {
    // Moderate difficulty: the base should learn shapes and edges, not fight the noise.
    writePhantomDataset(dir, kind, { count, size: 128, seed: seed * 100 + i, difficulty: 0.3 });
    const split = JSON.parse(readFileSync(join(dir, "split.json"), "utf8")) as typeof merged;
    for (const part of ["train", "val", "test"] as const) merged[part].push(...split[part]);
  });
  writeFileSync(join(dir, "split.json"), JSON.stringify(merged));
}

export async function pretrain(o: PretrainOptions): Promise<BaseManifest> {
  const work = mkdtempSync(join(tmpdir(), "udeg-pretrain-"));
  try {
    const data = join(work, "data");
    o.log(`generating ${o.count} shape and ${o.count} endoscopy phantoms ...`);
    phantomMix(data, ["shapes", "endoscopy"], o.count, o.seed);
    const config = resolveConfig({
      overrides: {
        preset: "samed",
        model: { imageSize: 128 },
        train: { epochs: o.epochs, lr: 5e-3, seed: o.seed },
      },
    });
    const run = join(work, "run");
    o.log(`training the base from scratch for ${o.epochs} epochs ...`);
    const summary = await train({ data, out: run, config, progress: o.progress, log: o.log });
    const manifest = exportBase(run, o.out, {
      name: "tiny",
      command: `udeg pretrain --seed ${o.seed} --count ${o.count} --epochs ${o.epochs}`,
      seed: o.seed,
      data: `phantoms: ${o.count} shapes + ${o.count} endoscopy-like polyps, 128 px, difficulty 0.3 (src/data/phantoms)`,
      steps: summary.steps,
      metrics: { val_dice: summary.bestDice, last_loss: summary.lastLoss },
      createdAt: new Date().toISOString(),
    });
    o.log(`base written to ${o.out} (val Dice ${summary.bestDice?.toFixed(4) ?? "n/a"})`);
    return manifest;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
