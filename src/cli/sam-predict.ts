// `udeg sam predict`: parse the flags and call predict/sam.ts (plain SAM on one image).
import { existsSync } from "node:fs";
import type { Command } from "commander";
import { predictWithSam } from "../predict/sam.js";
import { loadConfigFile, SAM_PRESETS, type SamConfig, type SamPreset } from "../sam/config.js";
import type { PointPrompt } from "../sam/model.js";

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

/** Checks the files, parses the prompts and calls predict/sam.ts. */
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
  await predictWithSam(
    {
      checkpoint: o.checkpoint,
      cfg: resolveConfig(o),
      image: o.image,
      points: o.point.map(parsePoint),
      box: o.box ? (parseNumbers(o.box, 4, "--box") as [number, number, number, number]) : undefined,
      maskInput: o.maskInput,
      multimask: o.multimask,
      out: o.out,
    },
    log,
  );
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
