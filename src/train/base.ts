// Bundled base models: a small SAM-architecture network trained on phantoms (`udeg pretrain`),
// stored as SAM weights + the fixture-format config + a manifest, so that `--base NAME` can
// LoRA-adapt it like a real SAM checkpoint on machines without one.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { writeJsonAtomic } from "../io/atomic.js";
import { writeSafetensors } from "../io/checkpoints/index.js";
import { configToJson } from "../sam/config.js";
import { isLoraKey } from "../sam/lora.js";
import { basePath, readRunModel, readRunSamConfig } from "../udeg/run-folder.js";

export interface BaseManifest {
  name: string;
  command: string;
  seed: number;
  data: string;
  steps: number;
  /** sha256 of model.safetensors. */
  sha256: string;
  metrics: Record<string, number | null>;
  createdAt: string;
}

/** SAM's weights and UDEG-Net's own parts (edge prompt generator, fine path); never LoRA. */
const BASE_KEY = /^(image_encoder|prompt_encoder|mask_decoder|udeg)\./;

/**
 * Turn a finished from-scratch run into a base: its weights (SAM's and UDEG-Net's parts; not the
 * optimiser state), the SAM architecture, and a manifest saying how it was made. Runs that adapt
 * the base start their edge prompt generator and fine path from it where the shapes match.
 */
export function exportBase(
  runDir: string,
  outDir: string,
  manifest: Omit<BaseManifest, "sha256">,
): BaseManifest {
  const model = readRunModel(runDir);
  const cfg = readRunSamConfig(runDir);
  // The run's decoder has one mask token per class (SAMed), not SAM's 3 + 1.
  const tokens = model.tensors.get("mask_decoder.mask_tokens.weight")?.shape[0];
  if (tokens) cfg.numMultimaskOutputs = tokens - 1;
  mkdirSync(outDir, { recursive: true });
  const tensors = Object.fromEntries([...model.tensors].filter(([k]) => BASE_KEY.test(k) && !isLoraKey(k)));
  const modelPath = basePath(outDir, "model");
  writeSafetensors(modelPath, tensors, { format: "udeg-base", name: manifest.name });
  const sha256 = createHash("sha256").update(readFileSync(modelPath)).digest("hex");
  const full: BaseManifest = { ...manifest, sha256 };
  writeJsonAtomic(basePath(outDir, "samConfig"), configToJson(cfg));
  writeJsonAtomic(basePath(outDir, "manifest"), full);
  return full;
}

/** A base folder's manifest (how it was made). */
export function readBaseManifest(dir: string): BaseManifest {
  return JSON.parse(readFileSync(basePath(dir, "manifest"), "utf8")) as BaseManifest;
}
