// `udeg train`, `udeg predict`, `udeg eval`: the UDEG-Net workflow on a user's folder.
import { existsSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import type { Command } from "commander";
import { type EvalOptions, evaluateRun } from "../eval/evaluate-run.js";
import { type DicomwebPredictOptions, predictDicomweb } from "../predict/dicomweb.js";
import { type PredictOptions, predictFiles } from "../predict/files.js";
import { predictOnQueue } from "../predict/queue.js";
import { flaggedLine, summarize, writePredictSummary } from "../predict/summary.js";
import { train } from "../train/trainer.js";
import { DEFAULT_BASE, type PresetName, resolveConfig, type UdegConfig } from "../udeg/config.js";
import { exportRun, exportWebModels } from "../udeg/export.js";
import { loadRun } from "../udeg/predictor.js";
import { isStartedRun, readRunConfig } from "../udeg/run-folder.js";
import { DEVICE_HELP, deviceName, integer, positiveInt, positiveNumber, shardSpec } from "./parse.js";

/** `udeg predict --fail-on-flag`'s exit status when an image is flagged (1 is kept for failures). */
export const FLAGGED_EXIT_CODE = 3;

interface TrainFlags {
  data: string;
  out: string;
  sam?: string;
  samArch?: string;
  base?: string;
  scratch?: boolean;
  preset?: PresetName;
  config?: string;
  epochs?: number;
  maxSteps?: number;
  batchSize?: number;
  lr?: number;
  imageSize?: number;
  seed?: number;
  device?: "cpu" | "webgpu" | "cuda";
  resume?: boolean;
  progress?: boolean;
}

/** The command-line overrides as a partial config (only what was given). */
export function overridesFrom(f: TrainFlags): Record<string, unknown> {
  const model: Record<string, unknown> = {};
  const trainPart: Record<string, unknown> = {};
  // Absolute, so that predict and eval find the checkpoint from any folder.
  if (f.sam !== undefined) model.sam = resolve(f.sam);
  if (f.samArch !== undefined) model.samArch = f.samArch;
  if (f.base !== undefined) model.base = existsSync(f.base) ? resolve(f.base) : f.base;
  if (f.imageSize !== undefined) model.imageSize = f.imageSize;
  if (f.epochs !== undefined) trainPart.epochs = f.epochs;
  if (f.maxSteps !== undefined) trainPart.maxSteps = f.maxSteps;
  if (f.batchSize !== undefined) trainPart.batchSize = f.batchSize;
  if (f.lr !== undefined) trainPart.lr = f.lr;
  if (f.seed !== undefined) trainPart.seed = f.seed;
  if (f.device !== undefined) trainPart.device = f.device;
  const out: Record<string, unknown> = {};
  if (Object.keys(model).length) out.model = model;
  if (Object.keys(trainPart).length) out.train = trainPart;
  if (f.preset) out.preset = f.preset;
  return out;
}

/**
 * Where `udeg train` starts: --sam, --base (flag or config file), the run's own choice when it
 * resumes, --scratch for random weights, or else the bundled DEFAULT_BASE, which has seen real
 * ultrasound, endoscopy and microscopy images (a scratch model has seen nothing).
 */
export function withStartingPoint(
  config: UdegConfig,
  f: Pick<TrainFlags, "scratch" | "resume" | "out">,
): UdegConfig {
  const given = config.model.sam !== null || config.model.base !== null;
  if (f.scratch) {
    if (given)
      throw new Error(
        "--scratch trains from random weights: leave out --sam and --base (and the config's model.sam/base)",
      );
    return config;
  }
  if (given) return config;
  if (f.resume && isStartedRun(f.out)) {
    const { sam, base } = readRunConfig(f.out).model;
    return { ...config, model: { ...config.model, sam, base } };
  }
  return { ...config, model: { ...config.model, base: DEFAULT_BASE } };
}

export function addUdegCommands(program: Command): void {
  program
    .command("train")
    .description(
      `train UDEG-Net on a folder of images and masks: LoRA on the bundled "${DEFAULT_BASE}" base (default), on a SAM checkpoint (--sam), or from scratch (--scratch)`,
    )
    .requiredOption(
      "--data <dir>",
      "dataset: images/ + masks/ (+ split.json), Kvasir-SEG, ISIC 2018, BUSI or NIfTI imagesTr/labelsTr",
    )
    .requiredOption("--out <dir>", "run directory (config, checkpoints, log, model)")
    .option("--sam <file>", "SAM checkpoint to adapt with LoRA (.pth or .safetensors; ViT-B/L/H, MedSAM)")
    .option(
      "--sam-arch <name|file>",
      "architecture of --sam: vit_b | vit_l | vit_h or a config.json",
      undefined,
    )
    .option(
      "--base <name>",
      `a bundled base model to adapt with LoRA (default: ${DEFAULT_BASE}, pretrained on real ultrasound, endoscopy and microscopy images; tiny: phantoms only) or a base folder`,
    )
    .option(
      "--scratch",
      "no base and no checkpoint: every weight from random (slow to learn; for comparison)",
    )
    .option("--preset <name>", "udeg | samed | no-edge | no-evidential | no-progressive (default udeg)")
    .option("--config <file>", "JSON config file (see the README); flags below override it")
    .option("--epochs <n>", "epochs", positiveInt("--epochs"))
    .option("--max-steps <n>", "stop after this many steps", positiveInt("--max-steps"))
    .option("--batch-size <n>", "images per step", positiveInt("--batch-size"))
    .option("--lr <x>", "peak learning rate", positiveNumber("--lr"))
    .option("--image-size <n>", "model input size (longest side, padded square)", positiveInt("--image-size"))
    .option("--seed <n>", "seed of the split, order and augmentation", integer("--seed"))
    .option("--device <name>", DEVICE_HELP, deviceName("--device"))
    .option("--resume", "continue the run in --out where it stopped")
    .option("--no-progress", "no progress bar (logs only)")
    .action(async (f: TrainFlags) => {
      const config = withStartingPoint(resolveConfig({ file: f.config, overrides: overridesFrom(f) }), f);
      await train({ data: f.data, out: f.out, config, resume: f.resume, progress: f.progress });
    });

  program
    .command("predict")
    .description(
      "masks, probability, uncertainty and edge maps (PNG, safetensors, NIfTI, DICOM SEG) and overlays from a trained run; from files or from a PACS (DICOMweb)",
    )
    .requiredOption("--model <run>", "run directory written by udeg train")
    .option("--input <path>", "an image, a DICOM file, a folder of them, or a NIfTI volume (.nii, .nii.gz)")
    .option("--out <dir>", "output folder (needed with --input; optional with --dicomweb)")
    .option(
      "--dicomweb <url>",
      "a DICOMweb root (e.g. http://pacs:8042/dicom-web): predict a study from the PACS",
    )
    .option("--study <uid>", "with --dicomweb: the StudyInstanceUID")
    .option("--series <uid>", "with --dicomweb: only this series (default: every image series of the study)")
    .option("--no-store", "with --dicomweb: do not STOW the DICOM SEG back into the study")
    .option("--token <token>", "with --dicomweb: bearer token for the server")
    .option("--device <name>", DEVICE_HELP, deviceName("--device"))
    .option(
      "--shard <k/n>",
      "only shard K of N of the inputs (SLURM arrays, Kubernetes Indexed Jobs)",
      shardSpec("--shard"),
    )
    .option("--redis <url>", "queue one job per input on this Redis for `udeg worker`s, and wait for them")
    .option(
      "--attempts <n>",
      "with --redis: tries per job before it counts as failed",
      positiveInt("--attempts"),
      3,
    )
    .option(
      "--fail-on-flag",
      `exit with status ${FLAGGED_EXIT_CODE} when any image is flagged as unlike the training data (OUT/summary.json lists each image's trust)`,
    )
    .option("--quiet", "no progress bar")
    .action(
      async (
        f: PredictOptions &
          Partial<DicomwebPredictOptions> & {
            store: boolean;
            redis?: string;
            attempts: number;
            failOnFlag?: boolean;
          },
      ) => {
        // Failed inputs exit 1 (they win); flagged images FLAGGED_EXIT_CODE with --fail-on-flag.
        const finish = (failed: number, flagged: number) => {
          if (failed > 0) process.exitCode = 1;
          else if (flagged > 0 && f.failOnFlag) process.exitCode = FLAGGED_EXIT_CODE;
        };
        if (f.dicomweb) {
          if (!f.study) throw new Error("--dicomweb needs --study UID (the study to segment)");
          if (f.input) throw new Error("--input and --dicomweb exclude each other: give one source");
          if (f.redis) {
            const pacs = { ...f, dicomweb: f.dicomweb, study: f.study, store: f.store };
            const r = await predictOnQueue({ ...f, redis: f.redis, pacs });
            finish(r.failed, r.flagged);
            return;
          }
          const r = await predictDicomweb({ ...f, dicomweb: f.dicomweb, study: f.study, store: f.store });
          console.error(`segmented ${r.series.length} series; ${r.stored} SEG stored in study ${f.study}`);
          const summary = summarize(f.model, r.images);
          if (f.out) writePredictSummary(f.out, summary);
          console.error(flaggedLine(summary));
          finish(0, summary.flagged);
          return;
        }
        if (!f.input || !f.out)
          throw new Error("udeg predict needs --input and --out (or --dicomweb URL --study UID)");
        if (f.redis) {
          const r = await predictOnQueue({ ...f, input: f.input, out: f.out, redis: f.redis });
          finish(r.failed, r.flagged);
          return;
        }
        const r = await predictFiles(f);
        finish(0, r.flagged);
      },
    );

  program
    .command("export")
    .description(
      "a trained run as one ONNX file: uint8 image -> mask logits, probability, uncertainty, edge map",
    )
    .requiredOption("--model <run>", "run directory written by udeg train")
    .requiredOption("--out <file>", "the .onnx file to write")
    .option("--fp16", "store the weights as float16 (half the size; computed in float32)")
    .option(
      "--split",
      "also write NAME.encoder.onnx + NAME.decoder.onnx (+ NAME.meta.json) for point prompts on a cached embedding, as `udeg serve --onnx` uses",
    )
    .action((f: { model: string; out: string; fp16?: boolean; split?: boolean }) => {
      const run = loadRun(f.model); // once, for every file written
      const info = exportRun(run, f.out, { fp16: f.fp16 });
      const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;
      console.error(
        `wrote ${info.path} (${mb(info.bytes)}): input ${info.inputs.join(", ")} -> ${info.outputs.join(", ")}`,
      );
      if (f.split) {
        const prefix = `${basename(f.out).replace(/\.onnx$/i, "")}.`;
        const name = basename(resolve(f.model));
        const web = exportWebModels(run, dirname(resolve(f.out)), { fp16: f.fp16, prefix, name });
        for (const part of web.infos)
          console.error(
            `wrote ${part.path} (${mb(part.bytes)}): ${part.inputs.join(", ")} -> ${part.outputs.join(", ")}`,
          );
      }
    });

  program
    .command("eval")
    .description(
      "Dice, IoU, sensitivity, precision, HD95, ASSD, boundary F-score and uncertainty quality (ECE, AUROC, UEO) of a run on a dataset split",
    )
    .requiredOption("--model <run>", "run directory written by udeg train")
    .requiredOption("--data <dir>", "dataset folder")
    .option("--split <part>", "train | val | test (default test)")
    .option("--out <dir>", "where metrics.json/csv/md go (default RUN/eval-SPLIT)")
    .option("--device <name>", DEVICE_HELP, deviceName("--device"))
    .option("--quiet", "no progress bar")
    .action(async (f: EvalOptions) => {
      await evaluateRun(f);
    });
}
