// ISIC 2018 Task 1: ISIC2018_Task1-2_<Part>_Input/ISIC_*.jpg with
// ISIC2018_Task1_<Part>_GroundTruth/ISIC_*_segmentation.png; the Validation and Test folders, where
// present with their ground truth, give the val and test parts of the split.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { DatasetError } from "../errors.js";
import type { Split, SplitPart } from "../split.js";
import { pairByName, type SampleRef, type Scan } from "./scan.js";

export const ISIC_INPUT = (part: string) => `ISIC2018_Task1-2_${part}_Input`;
const ISIC_TRUTH = (part: string) => `ISIC2018_Task1_${part}_GroundTruth`;

export function scanIsic(root: string): Scan {
  const warnings: string[] = [];
  const parts: [string, SplitPart][] = [
    ["Training", "train"],
    ["Validation", "val"],
    ["Test", "test"],
  ];
  const samples: SampleRef[] = [];
  const split: Split = { train: [], val: [], test: [] };
  for (const [part, key] of parts) {
    const input = join(root, ISIC_INPUT(part));
    const truth = join(root, ISIC_TRUTH(part));
    if (!existsSync(input)) continue;
    if (!existsSync(truth)) {
      if (part === "Training") {
        throw new DatasetError(
          truth,
          "missing-masks-dir",
          `the ground-truth folder is missing (found ${ISIC_INPUT(part)} but not ${ISIC_TRUTH(part)})`,
          "Download and unpack ISIC2018_Task1_Training_GroundTruth.zip next to the input folder.",
        );
      }
      warnings.push(`${input}: no ${ISIC_TRUTH(part)} beside it; its images are not used`);
      continue;
    }
    const found = pairByName(input, truth, (b) => [`${b}_segmentation`, b], []);
    for (const s of found) split[key].push(s.group);
    samples.push(...found);
  }
  if (samples.length === 0) {
    throw new DatasetError(root, "not-found", `no ${ISIC_INPUT("Training")} folder with images`);
  }
  const hasLayoutSplit = split.val.length > 0 || split.test.length > 0;
  return { layout: "isic2018", root, samples, split: hasLayoutSplit ? split : undefined, warnings };
}
