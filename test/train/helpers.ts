// Small datasets for the training tests, cut from the ITK brain slices bundled in assets/data.
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { train } from "../../src/train/trainer.js";
import { resolveConfig } from "../../src/udeg/config.js";

export const ITK = "assets/data/itk-t1-brain";

/** A dataset folder with the given slices and a split.json of them. */
export function sliceDataset(split: {
  train: readonly string[];
  val?: readonly string[];
  test?: readonly string[];
}): string {
  const dir = mkdtempSync(join(tmpdir(), "udeg-data-"));
  const names = [...split.train, ...(split.val ?? []), ...(split.test ?? [])];
  for (const sub of ["images", "masks"]) {
    mkdirSync(join(dir, sub));
    for (const n of names) copyFileSync(join(ITK, sub, `${n}.png`), join(dir, sub, `${n}.png`));
  }
  writeFileSync(
    join(dir, "split.json"),
    JSON.stringify({ train: split.train, val: split.val ?? [], test: split.test ?? [] }),
  );
  return dir;
}

/** A small from-scratch UDEG-Net config for tests (64 px input). */
export function smallConfig(train: Record<string, unknown> = {}, model: Record<string, unknown> = {}) {
  return {
    model: {
      imageSize: 64,
      scratch: {
        encoderEmbedDim: 48,
        encoderDepth: 2,
        encoderNumHeads: 2,
        encoderGlobalAttnIndexes: [1],
        promptEmbedDim: 32,
        decoderMlpDim: 64,
        iouHeadHiddenDim: 32,
      },
      ...model,
    },
    train: { augment: false, batchSize: 2, ...train },
  };
}

/**
 * A from-scratch run of two steps on two brain slices (seconds): for tests of what is done with
 * a run (DICOM, PACS, MONAI Label), not of its quality. Returns the run folder.
 */
export async function twoStepRun(out: string): Promise<string> {
  await train({
    data: sliceDataset({ train: ["slice_020", "slice_030"], val: ["slice_040"] }),
    out,
    config: resolveConfig({ overrides: smallConfig({ maxSteps: 2, epochs: 1 }) }),
    progress: false,
    log: () => {},
  });
  return out;
}
