// Plain SAM on one image, with or without prompts (`udeg sam predict`): the checkpoint's masks,
// their predicted IoU, and the raw logits a later call can take back as a mask prompt.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { HostTensor } from "../engine/index.js";
import { writeJsonAtomic } from "../io/atomic.js";
import { readSafetensors, toFloat32, writeSafetensors } from "../io/checkpoints/index.js";
import { readImage, toRgb, writePng } from "../io/images/images.js";
import type { SamConfig } from "../sam/config.js";
import { loadSam, type PointPrompt, SamPredictor } from "../sam/model.js";

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

/** What `udeg sam predict` asks for, parsed. */
export interface SamPromptRequest {
  checkpoint: string;
  cfg: SamConfig;
  image: string;
  points: PointPrompt[];
  box?: [number, number, number, number];
  /** A safetensors file with mask_input, or a previous run's raw.safetensors. */
  maskInput?: string;
  multimask?: boolean;
  out: string;
}

/** Plain SAM on one image: mask_K.png, scores.json and raw.safetensors in `o.out`. */
export async function predictWithSam(
  o: SamPromptRequest,
  log: (line: string) => void = console.error,
): Promise<void> {
  const { cfg, points, box } = o;
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
