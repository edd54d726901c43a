// A short trained run for the export and interactive tests.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { train } from "../../src/train/trainer.js";
import { resolveConfig } from "../../src/udeg/config.js";
import { sliceDataset, smallConfig } from "../train/helpers.js";

/** Two epochs on four ITK slices at 64 px (edge generator on; `model` overrides the config). */
export async function trainedRun(model: Record<string, unknown> = {}): Promise<string> {
  const data = sliceDataset({ train: ["slice_020", "slice_030", "slice_040", "slice_050"] });
  const run = join(mkdtempSync(join(tmpdir(), "udeg-export-")), "run");
  await train({
    data,
    out: run,
    config: resolveConfig({ overrides: smallConfig({ epochs: 2 }, model) }),
    progress: false,
    log: () => {},
  });
  return run;
}
