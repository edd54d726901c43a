// `udeg sam predict`: plain SAM on one image, with or without prompts.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { HostTensor } from "../engine/index.js";
import { writeJsonAtomic } from "../io/atomic.js";
import { readSafetensors, toFloat32, writeSafetensors } from "../io/checkpoints/index.js";
import { readImage, toRgb, writePng } from "../io/images/images.js";
import { loadConfigFile, SAM_PRESETS, type SamConfig, type SamPreset } from "../sam/config.js";
import { loadSam, type PointPrompt, SamPredictor } from "../sam/model.js";

export interface SamPredictOptions {
  checkpoint: string;
  model?: string;
  config?: string;
  image: string;
  point: string[];
  box?: string;
  maskInput?: string;
  multimask?: boolean;
  out: string;
}

function parseNumbers(text: string, count: number, what: string): number[] {
  const parts = text.split(",").map((s) => Number(s.trim()));
  if (parts.length !== count || parts.some((n) => !Number.isFinite(n))) {
    throw new Error(`${what} must be ${count} comma-separated numbers, got "${text}"`);
  }
  return parts;
}

export function parsePoint(text: string): PointPrompt {
  const [x, y, label] = parseNumbers(text, 3, "--point") as [number, number, number];
  if (label !== 0 && label !== 1)
    throw new Error(`--point label must be 1 (foreground) or 0 (background), got ${label}`);
  return { x, y, label };
}

function resolveConfig(o: SamPredictOptions): SamConfig {
  if (o.config && o.model) throw new Error("give either --model or --config, not both");
  if (o.config) return loadConfigFile(o.config);
  const name = o.model ?? "vit_b";
  if (!(name in SAM_PRESETS))
    throw new Error(`--model must be one of ${Object.keys(SAM_PRESETS).join(", ")}, got "${name}"`);
  return SAM_PRESETS[name as SamPreset];
}

/** The mask prompt: a tensor `mask_input`, or the best of a previous run's `low_res_logits`. */
function readMaskInput(path: string): HostTensor {
  const { tensors } = readSafetensors(path);
  const direct = tensors.get("mask_input");
  if (direct) return new HostTensor("float32", direct.shape, toFloat32(direct));
  const low = tensors.get("low_res_logits");
  const iou = tensors.get("iou_predictions");
  if (!low || !iou)
    throw new Error(`${path} has neither "mask_input" nor "low_res_logits" + "iou_predictions"`);
  const [, k, h, w] = low.shape as [number, number, number, number];
  const scores = toFloat32(iou);
  let best = 0;
  for (let i = 1; i < k; i++) if (scores[i]! > scores[best]!) best = i;
  return new HostTensor("float32", [1, 1, h, w], toFloat32(low).slice(best * h * w, (best + 1) * h * w));
}

export async function samPredict(
  o: SamPredictOptions,
  log: (line: string) => void = console.error,
): Promise<void> {
  for (const [flag, path] of [
    ["--checkpoint", o.checkpoint],
    ["--image", o.image],
    ["--mask-input", o.maskInput],
  ] as const) {
    if (path && !existsSync(path)) throw new Error(`${flag} ${path}: no such file`);
  }
  const cfg = resolveConfig(o);
  const points = o.point.map(parsePoint);
  const box = o.box ? (parseNumbers(o.box, 4, "--box") as [number, number, number, number]) : undefined;
  const maskInput = o.maskInput ? readMaskInput(o.maskInput) : undefined;

  let t0 = performance.now();
  log(`loading ${o.checkpoint} ...`);
  const weights = loadSam(o.checkpoint, cfg);
  const img = toRgb(await readImage(o.image));
  if (img.bitDepth !== 8)
    throw new Error(`${o.image}: 16-bit images are not supported by SAM; convert to 8-bit`);
  const predictor = new SamPredictor(cfg, weights);
  log(`embedding ${o.image} (${img.width}x${img.height}) at ${cfg.imageSize} px ...`);
  const embedding = await predictor.setImage(img.data as Uint8Array, img.height, img.width);
  const embedMs = performance.now() - t0;
  t0 = performance.now();
  const promptFree = !points.length && !box && !maskInput;
  const pred = await predictor.predict({ points, box, maskInput, multimask: o.multimask ?? promptFree });
  const decodeMs = performance.now() - t0;

  mkdirSync(o.out, { recursive: true });
  const files: string[] = [];
  const plane = pred.height * pred.width;
  for (let k = 0; k < pred.count; k++) {
    const bin = new Uint8Array(plane);
    for (let i = 0; i < plane; i++) bin[i] = pred.masks[k * plane + i]! > 0 ? 255 : 0;
    const file = `mask_${k}.png`;
    await writePng(join(o.out, file), {
      width: pred.width,
      height: pred.height,
      channels: 1,
      data: bin,
      bitDepth: 8,
    });
    files.push(file);
  }
  writeSafetensors(join(o.out, "raw.safetensors"), {
    image_embeddings: { dtype: "float32", shape: [...embedding.shape], data: embedding.data as Float32Array },
    low_res_logits: {
      dtype: "float32",
      shape: [...pred.lowResLogits.shape],
      data: pred.lowResLogits.data as Float32Array,
    },
    iou_predictions: { dtype: "float32", shape: [1, pred.count], data: pred.iou },
  });
  const scores = {
    image: o.image,
    checkpoint: o.checkpoint,
    image_size: cfg.imageSize,
    prompt_free: promptFree,
    points,
    box: box ?? null,
    mask_input: o.maskInput ?? null,
    masks: files.map((file, k) => ({ file, iou_prediction: pred.iou[k] })),
    timing_ms: { load_and_embed: Math.round(embedMs), decode: Math.round(decodeMs) },
  };
  writeJsonAtomic(join(o.out, "scores.json"), scores);
  log(`wrote ${files.length} mask(s), scores.json and raw.safetensors to ${o.out}`);
}

export function addSamCommands(program: Command): void {
  const sam = program.command("sam").description("plain Segment Anything (no UDEG-Net parts)");
  sam
    .command("predict")
    .description("segment one image with a SAM checkpoint; no prompt = SAMed's prompt-free decoding")
    .requiredOption(
      "--checkpoint <file>",
      "SAM weights: .pth or .safetensors (original or Hugging Face names)",
    )
    .option("--model <name>", "architecture preset: vit_b | vit_l | vit_h (default vit_b; MedSAM is vit_b)")
    .option("--config <file>", "custom architecture as a config.json (fixture format)")
    .requiredOption("--image <file>", "PNG, JPEG, TIFF or BMP")
    .option(
      "--point <x,y,label>",
      "point prompt in image pixels, label 1 = foreground, 0 = background (repeatable)",
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option("--box <x0,y0,x1,y1>", "box prompt in image pixels")
    .option(
      "--mask-input <file>",
      "mask prompt: safetensors with mask_input [1,1,4h,4w], or a previous raw.safetensors",
    )
    .option("--multimask", "return 3 masks (default: on without prompts, off with prompts)")
    .requiredOption("--out <dir>", "output folder: mask_K.png, scores.json, raw.safetensors")
    .action(async (opts: SamPredictOptions) => samPredict(opts));
}
