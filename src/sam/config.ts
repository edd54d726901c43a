// SAM architecture configurations: the official presets and custom ones from a config.json in
// the fixture format (snake_case keys, as test/fixtures/sam/README.md lists them).
import { readFileSync } from "node:fs";

export interface SamConfig {
  imageSize: number;
  patchSize: number;
  encoderEmbedDim: number;
  encoderDepth: number;
  encoderNumHeads: number;
  encoderGlobalAttnIndexes: readonly number[];
  windowSize: number;
  /** Also the neck's output channels (256 in SAM). */
  promptEmbedDim: number;
  decoderDepth: number;
  decoderMlpDim: number;
  decoderNumHeads: number;
  iouHeadDepth: number;
  iouHeadHiddenDim: number;
  maskInChans: number;
  mlpRatio: number;
  numMultimaskOutputs: number;
  /** SAM's 0-255 pixel statistics. */
  pixelMean: readonly [number, number, number];
  pixelStd: readonly [number, number, number];
}

const common = {
  imageSize: 1024,
  patchSize: 16,
  windowSize: 14,
  promptEmbedDim: 256,
  decoderDepth: 2,
  decoderMlpDim: 2048,
  decoderNumHeads: 8,
  iouHeadDepth: 3,
  iouHeadHiddenDim: 256,
  maskInChans: 16,
  mlpRatio: 4,
  numMultimaskOutputs: 3,
  pixelMean: [123.675, 116.28, 103.53] as const,
  pixelStd: [58.395, 57.12, 57.375] as const,
};

export const SAM_PRESETS = {
  vit_b: {
    ...common,
    encoderEmbedDim: 768,
    encoderDepth: 12,
    encoderNumHeads: 12,
    encoderGlobalAttnIndexes: [2, 5, 8, 11],
  },
  vit_l: {
    ...common,
    encoderEmbedDim: 1024,
    encoderDepth: 24,
    encoderNumHeads: 16,
    encoderGlobalAttnIndexes: [5, 11, 17, 23],
  },
  vit_h: {
    ...common,
    encoderEmbedDim: 1280,
    encoderDepth: 32,
    encoderNumHeads: 16,
    encoderGlobalAttnIndexes: [7, 15, 23, 31],
  },
} satisfies Record<string, SamConfig>;

export type SamPreset = keyof typeof SAM_PRESETS;

const jsonKeys: Record<string, keyof SamConfig> = {
  image_size: "imageSize",
  patch_size: "patchSize",
  encoder_embed_dim: "encoderEmbedDim",
  encoder_depth: "encoderDepth",
  encoder_num_heads: "encoderNumHeads",
  encoder_global_attn_indexes: "encoderGlobalAttnIndexes",
  window_size: "windowSize",
  prompt_embed_dim: "promptEmbedDim",
  decoder_depth: "decoderDepth",
  decoder_mlp_dim: "decoderMlpDim",
  decoder_num_heads: "decoderNumHeads",
  iou_head_depth: "iouHeadDepth",
  iou_head_hidden_dim: "iouHeadHiddenDim",
  mask_in_chans: "maskInChans",
  mlp_ratio: "mlpRatio",
  num_multimask_outputs: "numMultimaskOutputs",
};

/** A config from the fixture-format JSON object; missing keys fall back to ViT-B's values. */
export function configFromJson(json: Record<string, unknown>, where = "config"): SamConfig {
  const cfg: Record<string, unknown> = { ...SAM_PRESETS.vit_b };
  for (const [k, field] of Object.entries(jsonKeys)) {
    if (!(k in json)) continue;
    const v = json[k];
    const ok =
      field === "encoderGlobalAttnIndexes"
        ? Array.isArray(v) && v.every(Number.isInteger)
        : Number.isInteger(v) && (v as number) > 0;
    if (!ok)
      throw new Error(
        `${where}: "${k}" must be ${field === "encoderGlobalAttnIndexes" ? "a list of integers" : "a positive integer"}, got ${JSON.stringify(v)}`,
      );
    cfg[field] = v;
  }
  const c = cfg as unknown as SamConfig;
  validateConfig(c, where);
  return c;
}

export function loadConfigFile(path: string): SamConfig {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new Error(`cannot read SAM config ${path}: ${(e as Error).message}`);
  }
  if (typeof json !== "object" || json === null) throw new Error(`SAM config ${path} is not a JSON object`);
  return configFromJson(json as Record<string, unknown>, path);
}

export function validateConfig(c: SamConfig, where = "config"): void {
  const fail = (msg: string) => {
    throw new Error(`${where}: ${msg}`);
  };
  if (c.imageSize % c.patchSize)
    fail(`image_size ${c.imageSize} is not a multiple of patch_size ${c.patchSize}`);
  if (c.encoderEmbedDim % c.encoderNumHeads) fail("encoder_embed_dim must be divisible by encoder_num_heads");
  if (c.promptEmbedDim % c.decoderNumHeads) fail("prompt_embed_dim must be divisible by decoder_num_heads");
  for (const i of c.encoderGlobalAttnIndexes)
    if (i < 0 || i >= c.encoderDepth) fail(`global attention index ${i} is outside 0..${c.encoderDepth - 1}`);
}

/** Side of the image embedding grid (64 for SAM at 1024). */
export function embeddingSize(c: SamConfig): number {
  return c.imageSize / c.patchSize;
}

/** The fixture-format JSON (snake_case keys) of a config: what configFromJson reads back. */
export function configToJson(c: SamConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, field] of Object.entries(jsonKeys)) out[k] = c[field];
  return out;
}
