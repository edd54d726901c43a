// From a run's config to a model: which SAM architecture, which starting weights (a SAM
// checkpoint with LoRA, a bundled base, or nothing: from scratch), and which weights train.
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { HostTensor } from "../engine/index.js";
import { readSafetensors, toFloat32 } from "../io/checkpoints/index.js";
import { packageAsset } from "../io/package-files.js";
import {
  loadConfigFile,
  SAM_PRESETS,
  type SamConfig,
  type SamPreset,
  validateConfig,
} from "../sam/config.js";
import { loadSam } from "../sam/model.js";
import { resizeEncoderWeights } from "../sam/resize-weights.js";
import type { UdegConfig } from "./config.js";
import { adaptDecoderToClasses, completeWeights, udegWeightShapes } from "./init.js";
import type { UdegModelOptions } from "./model.js";
import { BASE_FILES, basePath, isBaseFolder } from "./run-folder.js";

export interface BaseInfo {
  kind: "scratch" | "sam" | "bundled";
  /** The checkpoint file (sam, bundled). */
  path: string | null;
  /** Fingerprint of that file: sha256 of its size and first 64 MiB. */
  fingerprint: string | null;
}

export interface ResolvedModel {
  model: UdegModelOptions;
  /** Every weight the model reads. */
  weights: Map<string, HostTensor>;
  trainable: (key: string) => boolean;
  base: BaseInfo;
}

/** A base's folder: a path to one (BASE_FILES of run-folder.ts), or a bundled name (assets/bases/NAME). */
export function bundledBaseDir(name: string): string {
  if (isBaseFolder(name)) return name;
  const dir = packageAsset(["bases", name], BASE_FILES.model.name);
  if (dir) return dir;
  throw new Error(
    `unknown base "${name}": no assets/bases/${name}/model.safetensors in the package (run \`udeg pretrain\` to make it)`,
  );
}

/** Cheap, stable identity of a large checkpoint: sha256 over its size and first 64 MiB. */
export function fingerprint(path: string): string {
  const size = statSync(path).size;
  const h = createHash("sha256").update(String(size));
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(Math.min(size, 64 * 2 ** 20));
    readSync(fd, buf, 0, buf.length, 0);
    h.update(buf);
  } finally {
    closeSync(fd);
  }
  return h.digest("hex").slice(0, 16);
}

function samArch(config: UdegConfig): SamConfig {
  const arch = config.model.samArch;
  const base = arch in SAM_PRESETS ? SAM_PRESETS[arch as SamPreset] : loadConfigFile(arch);
  const cfg = { ...base, imageSize: config.model.imageSize };
  validateConfig(cfg, `${arch} at --image-size ${config.model.imageSize}`);
  return cfg;
}

/** The SAM architecture of a from-scratch model. */
export function scratchArch(config: UdegConfig): SamConfig {
  const cfg = { ...SAM_PRESETS.vit_b, ...config.model.scratch, imageSize: config.model.imageSize };
  validateConfig(cfg, "model.scratch (with model.imageSize)");
  return cfg;
}

export function modelOptions(
  config: UdegConfig,
  cfg: SamConfig,
  classes: number,
  lora: boolean,
): UdegModelOptions {
  const l = config.model.lora;
  return {
    cfg,
    classes,
    lora: lora
      ? { rank: l.rank, alpha: l.alpha ?? l.rank, targets: l.targets, blocks: l.blocks ?? undefined }
      : null,
    edge: {
      enabled: config.model.edge.enabled,
      hidden: config.model.edge.hidden ?? undefined,
      maskPrompt: config.model.edge.maskPrompt,
      sparseTokens: config.model.edge.sparseTokens,
    },
    fine: { enabled: config.model.fine.enabled, channels: config.model.fine.channels },
    evidential: config.model.evidential,
  };
}

function readWeights(path: string): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [k, t] of readSafetensors(path).tensors)
    out.set(k, new HostTensor("float32", t.shape, toFloat32(t)));
  return out;
}

/**
 * The model a config describes, with its starting weights. With a SAM checkpoint or a bundled
 * base, the encoder is frozen and LoRA trains (plus the prompt encoder, decoder and UDEG parts);
 * from scratch, everything trains.
 */
export function resolveModel(config: UdegConfig, classes: number): ResolvedModel {
  const seed = config.train.seed;
  if (config.model.sam && config.model.base)
    throw new Error("give either a SAM checkpoint (--sam) or a base (--base), not both");
  if (config.model.sam || config.model.base) {
    let cfg: SamConfig;
    let source: Map<string, HostTensor>;
    let base: BaseInfo;
    if (config.model.sam) {
      cfg = samArch(config);
      source = loadSam(config.model.sam, cfg, {});
      base = { kind: "sam", path: config.model.sam, fingerprint: fingerprint(config.model.sam) };
    } else {
      const dir = bundledBaseDir(config.model.base!);
      cfg = { ...loadConfigFile(basePath(dir, "samConfig")), imageSize: config.model.imageSize };
      const file = basePath(dir, "model");
      // Trained at the base's own size (128 px): pos_embed and the global blocks' relative
      // position tables are resized to --image-size, as a SAM checkpoint's are (loadSam).
      source = resizeEncoderWeights(readWeights(file), cfg).weights;
      base = { kind: "bundled", path: file, fingerprint: fingerprint(file) };
    }
    const mode = config.model.encoder;
    const model = modelOptions(config, cfg, classes, mode === "lora");
    const shapes = udegWeightShapes(model);
    const weights = completeWeights(adaptDecoderToClasses(source, shapes, seed), shapes, seed);
    // LoRA trains its adapters (not image_encoder.* weights: their keys are lora.*); "full"
    // trains the encoder too; "frozen" trains the decoder and UDEG-Net's parts only.
    const trainable = mode === "full" ? () => true : (k: string) => !k.startsWith("image_encoder.");
    return { model, weights, trainable, base };
  }
  const cfg = scratchArch(config);
  const model = modelOptions(config, cfg, classes, false);
  const weights = completeWeights(new Map(), udegWeightShapes(model), seed);
  return { model, weights, trainable: () => true, base: { kind: "scratch", path: null, fingerprint: null } };
}
