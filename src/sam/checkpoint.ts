// Loading SAM checkpoints as users download them: the official segment-anything `.pth`
// (ViT-B/L/H, MedSAM), `.safetensors`, and Hugging Face `SamModel` files. Every name is mapped
// to the original segment-anything key, so the rest of the code knows one naming only.
import { HostTensor } from "../engine/index.js";
import type { CheckpointTensor } from "../io/checkpoints/dtypes.js";
import { readCheckpoint, toFloat32 } from "../io/checkpoints/index.js";
import type { WeightSource } from "./params.js";

/** Rewrite rules from Hugging Face SamModel names to segment-anything names, applied in order. */
const HF_RULES: [RegExp, string][] = [
  [/^vision_encoder\./, "image_encoder."],
  [/^image_encoder\.layers\.(\d+)\.layer_norm(\d)\./, "image_encoder.blocks.$1.norm$2."],
  [/^image_encoder\.layers\./, "image_encoder.blocks."],
  [/^image_encoder\.patch_embed\.projection\./, "image_encoder.patch_embed.proj."],
  [/^image_encoder\.neck\.conv1\./, "image_encoder.neck.0."],
  [/^image_encoder\.neck\.layer_norm1\./, "image_encoder.neck.1."],
  [/^image_encoder\.neck\.conv2\./, "image_encoder.neck.2."],
  [/^image_encoder\.neck\.layer_norm2\./, "image_encoder.neck.3."],
  [/^mask_decoder\.transformer\.layer_norm_final_attn\./, "mask_decoder.transformer.norm_final_attn."],
  [
    /^mask_decoder\.transformer\.layers\.(\d+)\.layer_norm(\d)\./,
    "mask_decoder.transformer.layers.$1.norm$2.",
  ],
  [/^mask_decoder\.upscale_conv1\./, "mask_decoder.output_upscaling.0."],
  [/^mask_decoder\.upscale_layer_norm\./, "mask_decoder.output_upscaling.1."],
  [/^mask_decoder\.upscale_conv2\./, "mask_decoder.output_upscaling.3."],
  [/^prompt_encoder\.mask_embed\.conv1\./, "prompt_encoder.mask_downscaling.0."],
  [/^prompt_encoder\.mask_embed\.layer_norm1\./, "prompt_encoder.mask_downscaling.1."],
  [/^prompt_encoder\.mask_embed\.conv2\./, "prompt_encoder.mask_downscaling.3."],
  [/^prompt_encoder\.mask_embed\.layer_norm2\./, "prompt_encoder.mask_downscaling.4."],
  [/^prompt_encoder\.mask_embed\.conv3\./, "prompt_encoder.mask_downscaling.6."],
  [/^prompt_encoder\.point_embed\./, "prompt_encoder.point_embeddings."],
  [
    /^(prompt_encoder\.)?shared_(image_)?embedding\.positional_embedding$/,
    "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix",
  ],
];

/** HF's MLP heads are proj_in / layers.j / proj_out; segment-anything's are layers.0..n-1. */
const HF_MLP =
  /^(mask_decoder\.(?:iou_prediction_head|output_hypernetworks_mlps\.\d+))\.(proj_in|proj_out|layers\.(\d+))\.(.+)$/;

export function isHuggingFaceNaming(keys: Iterable<string>): boolean {
  for (const k of keys) if (k.startsWith("vision_encoder.") || k.includes("shared_embedding")) return true;
  return false;
}

/** Map every key of a Hugging Face SamModel state dict to its segment-anything name. */
export function fromHuggingFaceNames(keys: readonly string[]): Map<string, string> {
  // Depth of each MLP head: proj_in + hidden layers + proj_out.
  const depth = new Map<string, number>();
  for (const k of keys) {
    const m = HF_MLP.exec(k);
    if (m?.[3] !== undefined) depth.set(m[1]!, Math.max(depth.get(m[1]!) ?? 2, Number(m[3]) + 3));
  }
  const out = new Map<string, string>();
  for (const k of keys) {
    let name = k;
    const m = HF_MLP.exec(k);
    if (m) {
      const layer =
        m[2] === "proj_in" ? 0 : m[2] === "proj_out" ? (depth.get(m[1]!) ?? 2) - 1 : Number(m[3]) + 1;
      name = `${m[1]}.layers.${layer}.${m[4]}`;
    } else {
      for (const [re, rep] of HF_RULES) name = name.replace(re, rep);
    }
    out.set(k, name);
  }
  return out;
}

function toHost(t: CheckpointTensor): HostTensor {
  return new HostTensor("float32", t.shape, toFloat32(t));
}

export interface LoadedSamWeights {
  weights: Map<string, HostTensor>;
  naming: "segment-anything" | "huggingface";
  /** Keys that were not SAM weights and were dropped (e.g. an optimiser's state). */
  dropped: string[];
}

/**
 * Read a SAM checkpoint (.pth or .safetensors, original or Hugging Face names; a DataParallel
 * `module.` prefix is stripped) into float32 host tensors under segment-anything names.
 */
export function loadSamWeights(path: string): LoadedSamWeights {
  const ckpt = readCheckpoint(path);
  const keys = [...ckpt.tensors.keys()];
  const stripped = keys.every((k) => k.startsWith("module."))
    ? keys.map((k) => k.slice("module.".length))
    : keys;
  const hf = isHuggingFaceNaming(stripped);
  const rename = hf ? fromHuggingFaceNames(stripped) : new Map(stripped.map((k) => [k, k]));
  const weights = new Map<string, HostTensor>();
  const dropped: string[] = [];
  keys.forEach((original, i) => {
    const name = rename.get(stripped[i]!)!;
    if (!/^(image_encoder|prompt_encoder|mask_decoder)\./.test(name)) {
      dropped.push(original);
      return;
    }
    weights.set(name, toHost(ckpt.tensors.get(original)!));
  });
  return { weights, naming: hf ? "huggingface" : "segment-anything", dropped };
}

/** Checks one model's expected weights against a source and reports every problem at once. */
export class WeightMismatchError extends Error {
  constructor(
    readonly file: string,
    readonly missing: string[],
    readonly unexpected: string[],
    readonly wrongShape: { key: string; expected: readonly number[]; got: readonly number[] }[],
  ) {
    const lines = [
      `${file} does not fit this SAM model:`,
      ...missing.map((k) => `  missing key: ${k}`),
      ...unexpected.map((k) => `  unexpected key: ${k}`),
      ...wrongShape.map(
        (s) => `  shape mismatch: ${s.key} is [${s.got}] in the file, the model needs [${s.expected}]`,
      ),
      "Check --model (vit_b | vit_l | vit_h) or --config against the checkpoint you downloaded.",
    ];
    super(lines.join("\n"));
  }
}

/** Compare a source with the shapes a model needs (from a recording build of the model). */
export function validateWeights(
  file: string,
  source: WeightSource,
  expected: ReadonlyMap<string, readonly number[]>,
  optional: (key: string) => boolean = () => false,
): void {
  const missing: string[] = [];
  const wrongShape: { key: string; expected: readonly number[]; got: readonly number[] }[] = [];
  for (const [key, shape] of expected) {
    const t = source.get(key);
    if (!t) {
      if (!optional(key)) missing.push(key);
    } else if (t.shape.join() !== shape.join()) wrongShape.push({ key, expected: shape, got: t.shape });
  }
  const unexpected = [...source.keys()].filter((k) => !expected.has(k));
  if (missing.length || unexpected.length || wrongShape.length)
    throw new WeightMismatchError(file, missing, unexpected, wrongShape);
}
