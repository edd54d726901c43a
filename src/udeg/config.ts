// The one typed, validated configuration of a UDEG-Net run: a preset, optionally a JSON file,
// then command-line overrides, in that order. The resolved config is written into the run
// directory, so a run can always be reproduced from its folder.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { DEFAULT_INPUT_RULE, type InputRule } from "../data/input-rule.js";
import { DEFAULT_LOSS, type LossConfig } from "./losses.js";

const positiveInt = z.number().int().positive();

/**
 * The bundled base (assets/bases/NAME) that `udeg train` adapts when neither --sam nor --base is
 * given: the one pretrained on real images. The config's own default stays null (from scratch),
 * so a config written by a run before this default existed means what it meant then.
 */
export const DEFAULT_BASE = "real";
const fraction = z.number().min(0).max(1);

/** Architecture of a SAM trained from scratch (no checkpoint): small enough for a laptop CPU. */
const ScratchSchema = z
  .object({
    patchSize: positiveInt.default(8),
    encoderEmbedDim: positiveInt.default(96),
    encoderDepth: positiveInt.default(4),
    encoderNumHeads: positiveInt.default(4),
    encoderGlobalAttnIndexes: z.array(z.number().int().nonnegative()).default([1, 3]),
    windowSize: positiveInt.default(8),
    promptEmbedDim: positiveInt.default(64),
    decoderDepth: positiveInt.default(2),
    decoderMlpDim: positiveInt.default(256),
    decoderNumHeads: positiveInt.default(4),
    iouHeadDepth: positiveInt.default(3),
    iouHeadHiddenDim: positiveInt.default(64),
    maskInChans: positiveInt.default(8),
    mlpRatio: z.number().positive().default(4),
  })
  .strict();

/** The input rule's settings (src/data/input-rule.ts), as a run's config and an export record them. */
export const InputRuleSchema = z
  .object({
    intensity16: z.enum(["min-max", "full-range"]).default(DEFAULT_INPUT_RULE.intensity16),
    window: z
      .discriminatedUnion("kind", [
        z
          .object({
            kind: z.literal("percentile"),
            lower: z.number().min(0).max(100),
            upper: z.number().min(0).max(100),
          })
          .strict(),
        z.object({ kind: z.literal("range"), min: z.number(), max: z.number() }).strict(),
      ])
      .default(DEFAULT_INPUT_RULE.window),
  })
  .strict()
  .default({});

export const ConfigSchema = z
  .object({
    preset: z
      .enum(["udeg", "samed", "no-edge", "no-fine", "no-evidential", "no-progressive"])
      .default("udeg"),
    model: z
      .object({
        /** A SAM checkpoint (.pth/.safetensors) to adapt with LoRA; null = train from scratch or from `base`. */
        sam: z.string().nullable().default(null),
        /** Architecture of `sam`: a preset name or a config.json path. */
        samArch: z.string().default("vit_b"),
        /** A bundled base model (e.g. "tiny") to adapt with LoRA instead of a SAM checkpoint. */
        base: z.string().nullable().default(null),
        imageSize: positiveInt.default(128),
        /** Foreground classes; null = from the dataset. */
        classes: positiveInt.nullable().default(null),
        scratch: ScratchSchema.default({}),
        /**
         * How the encoder of a SAM checkpoint or base adapts: LoRA (default), every weight
         * ("full"), or not at all ("frozen"). From scratch, everything trains. "full" measured,
         * not taken: docs/experiments.md, "Encoder adaptation".
         */
        encoder: z.enum(["lora", "full", "frozen"]).default("lora"),
        lora: z
          .object({
            // Rank 16 measured, not taken: docs/experiments.md, "LoRA rank".
            rank: positiveInt.default(8),
            alpha: z.number().positive().nullable().default(null),
            // Every linear of every block (against q and v alone: docs/experiments.md, "LoRA rank").
            targets: z
              .array(z.enum(["q", "k", "v", "proj", "mlp1", "mlp2"]))
              .default(["q", "k", "v", "proj", "mlp1", "mlp2"]),
            blocks: z.array(z.number().int().nonnegative()).nullable().default(null),
          })
          .strict()
          .default({}),
        edge: z
          .object({
            enabled: z.boolean().default(true),
            hidden: positiveInt.nullable().default(null),
            // Other prompt forms measured, not taken: docs/experiments.md, "Edge prompt forms".
            maskPrompt: z.boolean().default(false),
            sparseTokens: z.number().int().nonnegative().default(0),
            /** Radius of the morphological gradient that makes the edge target. */
            width: positiveInt.default(1),
          })
          .strict()
          .default({}),
        /** The pixel-precise decoding path (src/udeg/fine-path.ts). */
        fine: z
          .object({
            enabled: z.boolean().default(true),
            /** Channels at full and at half resolution. */
            channels: z.tuple([positiveInt, positiveInt]).default([16, 32]),
          })
          .strict()
          .default({}),
        evidential: z.boolean().default(true),
      })
      .strict()
      .default({}),
    /**
     * From file to the network's planes (src/data/input-rule.ts), resolved when training starts:
     * `udeg eval`, `udeg predict`, the page, the queue worker and the MONAI Label server read it
     * from the run, so every reader feeds the network what training fed it. A run written before
     * this section existed gets the defaults, which are what its training used.
     */
    input: InputRuleSchema,
    loss: z
      .object({
        ceWeight: z.number().nonnegative().default(DEFAULT_LOSS.ceWeight),
        diceWeight: z.number().nonnegative().default(DEFAULT_LOSS.diceWeight),
        klWeight: z.number().nonnegative().default(DEFAULT_LOSS.klWeight),
        klAnnealFraction: fraction.default(DEFAULT_LOSS.klAnnealFraction),
        edgeWeight: z.number().nonnegative().default(DEFAULT_LOSS.edgeWeight),
        edgeGamma: z.number().nonnegative().default(DEFAULT_LOSS.edgeGamma),
        edgeBalance: z.boolean().default(DEFAULT_LOSS.edgeBalance),
        dicePerImage: z.boolean().default(DEFAULT_LOSS.dicePerImage),
        edgeRampStart: fraction.default(DEFAULT_LOSS.edgeRampStart),
        edgeRampEnd: fraction.default(DEFAULT_LOSS.edgeRampEnd),
        auLambda0: z.number().nonnegative().default(DEFAULT_LOSS.auLambda0),
      })
      .strict()
      .default({}),
    train: z
      .object({
        epochs: positiveInt.default(30),
        maxSteps: positiveInt.nullable().default(null),
        /** Stop after this many validations without a better val Dice (null: never). */
        patience: positiveInt.nullable().default(null),
        /** Stop after this many minutes of training, keeping the best epoch (null: no limit). */
        maxMinutes: z.number().positive().nullable().default(null),
        // Batch 8 measured, not taken: docs/experiments.md, "Training schedule".
        batchSize: positiveInt.default(4),
        // Other rates and EMA measured, not taken: docs/experiments.md, "Training schedule".
        lr: z.number().positive().default(2e-3),
        // Weight decay 0.05 and the cosine schedule measured: docs/experiments.md, "Training schedule".
        weightDecay: z.number().nonnegative().default(0.01),
        warmupFraction: fraction.default(0.05),
        schedule: z.enum(["poly", "cosine"]).default("poly"),
        clipNorm: z.number().positive().nullable().default(1),
        seed: z.number().int().default(0),
        augment: z.boolean().default(true),
        /** cpu; webgpu (any GPU with a Vulkan driver); cuda (onnxruntime-node's CUDA provider). */
        device: z.enum(["cpu", "webgpu", "cuda"]).default("cpu"),
        /** Validate (Dice on the val part) every N epochs; the best epoch is kept. */
        validateEvery: positiveInt.default(1),
        /** Without a val part in the dataset's split, this fraction of train is held out as val. */
        valFraction: z.number().gt(0).lt(1).default(0.1),
        /**
         * Simulated clicks (src/train/clicks.ts): the share of training images that get 1..max
         * point prompts from the ground truth, so that clicks refine masks in the web viewer.
         * probability 0 trains prompt-free only.
         */
        clicks: z
          .object({ probability: fraction.default(0.25), max: positiveInt.default(3) })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
  })
  .strict();

export type UdegConfig = z.infer<typeof ConfigSchema>;
// The schema's input section is the rule's settings, no more and no less.
const _inputIsRule: [InputRule, UdegConfig["input"]] extends [UdegConfig["input"], InputRule] ? true : never =
  true;
void _inputIsRule;
export type PresetName = UdegConfig["preset"];

/** What each preset switches, applied before the user's file and overrides. */
export function presetPatch(preset: PresetName): Record<string, unknown> {
  switch (preset) {
    case "udeg":
      return {};
    case "samed":
      return {
        model: { edge: { enabled: false }, fine: { enabled: false }, evidential: false },
        loss: { klWeight: 0, edgeWeight: 0, auLambda0: 0 },
      };
    case "no-edge":
      return { model: { edge: { enabled: false } }, loss: { edgeWeight: 0 } };
    case "no-fine":
      return { model: { fine: { enabled: false } } };
    case "no-evidential":
      return { model: { evidential: false }, loss: { klWeight: 0, auLambda0: 0 } };
    case "no-progressive":
      // The edge loss stays, but without the uncertainty weighting and without the ramp.
      return { loss: { edgeGamma: 0, edgeRampStart: 0, edgeRampEnd: 0 } };
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function deepMerge(
  base: Record<string, unknown>,
  patch: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    out[k] = isObject(v) && isObject(out[k]) ? deepMerge(out[k] as Record<string, unknown>, v) : v;
  }
  return out;
}

export class ConfigError extends Error {}

/** Validate a raw object; errors list every problem with its path. */
export function parseConfig(raw: unknown, where = "config"): UdegConfig {
  const r = ConfigSchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.join(".") || "(top)"}: ${i.message}`);
    throw new ConfigError(`${where} is not a valid udeg config:\n${lines.join("\n")}`);
  }
  return r.data;
}

/**
 * Resolve a run's config: the preset's switches, then the file (if any), then `overrides`
 * (a partial config, e.g. from the command line). The preset named in the file or overrides wins.
 */
export function resolveConfig(
  options: { preset?: PresetName; file?: string; overrides?: Record<string, unknown> } = {},
): UdegConfig {
  let fromFile: Record<string, unknown> = {};
  if (options.file) {
    try {
      fromFile = JSON.parse(readFileSync(options.file, "utf8"));
    } catch (e) {
      throw new ConfigError(`cannot read config ${options.file}: ${(e as Error).message}`);
    }
    if (!isObject(fromFile)) throw new ConfigError(`${options.file}: a config must be a JSON object`);
  }
  const overrides = options.overrides ?? {};
  const preset = (overrides.preset ?? options.preset ?? fromFile.preset ?? "udeg") as PresetName;
  const presets = ConfigSchema.shape.preset.removeDefault().options;
  if (!presets.includes(preset)) {
    throw new ConfigError(`unknown preset "${String(preset)}": use one of ${presets.join(", ")}`);
  }
  const merged = deepMerge(deepMerge(deepMerge({ preset }, presetPatch(preset)), fromFile), {
    ...overrides,
    preset,
  });
  return parseConfig(merged, options.file ?? "config");
}

/** The loss settings of a config, with the head type they apply to. */
export function lossConfigOf(config: UdegConfig): LossConfig {
  return { ...config.loss, evidential: config.model.evidential };
}
