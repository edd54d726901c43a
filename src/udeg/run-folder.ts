// The folders udeg writes and reads: a run (`udeg train --out RUN`) and a base model
// (`udeg pretrain`, assets/bases/NAME). This module owns their layout and their files: every
// file's name, what it holds, and its writer beside its reader, so a file's format is read where
// it is written. Nothing else spells a file name of these folders, and the README's run-directory
// list is generated from RUN_FILES (`npm run docs`; a test fails when the README is stale).
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { readSplit, type Split, writeSplit } from "../data/split.js";
import { HostTensor } from "../engine/index.js";
import { writeJsonAtomic } from "../io/atomic.js";
import { type Checkpoint, readSafetensors, toFloat32, writeSafetensors } from "../io/checkpoints/index.js";
import type { SamConfig } from "../sam/config.js";
import { parseConfig, type UdegConfig } from "./config.js";
import { NO_POSTPROCESS, type Postprocess } from "./postprocess.js";
import { parseTrustCalibration, type TrustCalibration } from "./trust.js";

export interface FolderEntry {
  /** Path inside the folder. */
  name: string;
  /** What it holds, one line for the README. */
  holds: string;
}

/** A run directory, as `udeg train` writes it. */
export const RUN_FILES = {
  config: {
    name: "config.json",
    holds: "the resolved run config (preset, model, loss, train; `--config` takes it back)",
  },
  samConfig: { name: "sam_config.json", holds: "the SAM architecture of the model at its input size" },
  split: {
    name: "split.json",
    holds:
      "the train / val / test split used (the dataset's own; without a val part, 10 % of train held out, seeded); the best epoch is chosen on val",
  },
  log: {
    name: "log.jsonl",
    holds:
      "one JSON line per step (every loss term, lr, gradient norm, bytes between host and device) and per epoch (validation Dice)",
  },
  model: {
    name: "model.safetensors",
    holds: "the trained weights (LoRA and the UDEG-Net parts); metadata names the base and its fingerprint",
  },
  last: {
    name: "checkpoints/last.safetensors",
    holds: "weights + AdamW state: `--resume` continues a killed run with the same result as an unbroken one",
  },
  summary: {
    name: "summary.json",
    holds: "steps, epochs, best and last validation Dice, the kept epoch, seconds",
  },
  postprocess: {
    name: "postprocess.json",
    holds:
      "the mask post-processing chosen on the val part when training ended (largest component per class, as nnU-Net), with the val Dice with and without it",
  },
  trust: {
    name: "trust.json",
    holds:
      "the trust flag's calibration made when training ended: the training images' embedding features and the in-distribution distances that a new image's trust is ranked among",
  },
} as const satisfies Record<string, FolderEntry>;

/** What other commands add to a run directory later. */
export const RUN_EXTRAS = {
  web: {
    name: "web/",
    holds: "the browser export (`udeg serve --model RUN`), rewritten when the weights are newer",
  },
  eval: { name: "eval-SPLIT/", holds: "`udeg eval`'s metrics.json, metrics.csv and metrics.md" },
} as const satisfies Record<string, FolderEntry>;

/** A base model folder (`udeg pretrain`, assets/bases/NAME). */
export const BASE_FILES = {
  model: { name: "model.safetensors", holds: "SAM weights (original segment-anything key names)" },
  samConfig: { name: "sam_config.json", holds: "the SAM architecture (the fixture config format)" },
  manifest: {
    name: "manifest.json",
    holds: "how the base was made: command, data, steps, time, metrics, sha256",
  },
} as const satisfies Record<string, FolderEntry>;

export type RunFile = keyof typeof RUN_FILES;
export type BaseFile = keyof typeof BASE_FILES;

/** The path of one file of a run directory. */
export function runPath(run: string, file: RunFile): string {
  return join(run, RUN_FILES[file].name);
}

/** The folder of `udeg eval`'s metrics for a split. */
export function evalDir(run: string, split: string): string {
  return join(run, `eval-${split}`);
}

/** The folder of the browser export. */
export function webDir(run: string): string {
  return join(run, "web");
}

export function basePath(base: string, file: BaseFile): string {
  return join(base, BASE_FILES[file].name);
}

/** Whether `dir` holds a base model. */
export function isBaseFolder(dir: string): boolean {
  return existsSync(basePath(dir, "model")) && existsSync(basePath(dir, "samConfig"));
}

/** Whether `run` holds a finished run (its config and trained weights). */
export function isFinishedRun(run: string): boolean {
  return existsSync(runPath(run, "config")) && existsSync(runPath(run, "model"));
}

/** Whether `run` has been started (its config is written first). */
export function isStartedRun(run: string): boolean {
  return existsSync(runPath(run, "config"));
}

/** Throws, naming the missing file and how to make it, unless `run` is a finished run. */
export function requireFinishedRun(run: string, hint = "train one with `udeg train`"): void {
  for (const file of ["config", "model"] as const) {
    const p = runPath(run, file);
    if (!existsSync(p)) throw new Error(`${run} is not a finished udeg run: ${p} is missing (${hint})`);
  }
}

// ---------------------------------------------------------------------------------------------
// The run's files, writer beside reader

export function writeRunConfig(run: string, config: UdegConfig): void {
  writeJsonAtomic(runPath(run, "config"), config);
}

export function readRunConfig(run: string): UdegConfig {
  const path = runPath(run, "config");
  return parseConfig(JSON.parse(readFileSync(path, "utf8")), path);
}

export function writeRunSamConfig(run: string, cfg: SamConfig): void {
  writeJsonAtomic(runPath(run, "samConfig"), cfg);
}

export function readRunSamConfig(run: string): SamConfig {
  return JSON.parse(readFileSync(runPath(run, "samConfig"), "utf8")) as SamConfig;
}

export function writeRunSplit(run: string, split: Split): void {
  writeSplit(runPath(run, "split"), split);
}

/** The split the run trained on, checked against the dataset's groups; null when it has none. */
export function readRunSplit(run: string, groups: readonly string[]): Split | null {
  const path = runPath(run, "split");
  return existsSync(path) ? readSplit(path, groups) : null;
}

/** Float32 safetensors entries from HostTensors, names prefixed. */
export function tensorsOf(keys: readonly string[], values: readonly HostTensor[], prefix = "") {
  const out: Record<string, { dtype: "float32"; shape: number[]; data: Float32Array }> = {};
  keys.forEach((k, i) => {
    out[prefix + k] = {
      dtype: "float32",
      shape: [...values[i]!.shape],
      data: values[i]!.data as Float32Array,
    };
  });
  return out;
}

/** Where a run's trained weights came from: checked when they are loaded again. */
export interface RunBase {
  kind: string;
  path: string;
  fingerprint: string;
}

/** model.safetensors: the trained weights (named as the model's keys) and the base they adapt. */
export function writeRunModel(
  run: string,
  keys: readonly string[],
  params: readonly HostTensor[],
  o: { base: RunBase; step: number; valDice: number | null },
): void {
  writeSafetensors(runPath(run, "model"), tensorsOf(keys, params), {
    format: "udeg-adapter",
    base_kind: o.base.kind,
    base_path: o.base.path,
    base_fingerprint: o.base.fingerprint,
    step: String(o.step),
    val_dice: o.valDice === null ? "" : String(o.valDice),
  });
}

/** model.safetensors as written (tensors in their stored dtypes) with its base. */
export function readRunModel(run: string): { file: string; tensors: Checkpoint["tensors"]; base: RunBase } {
  const file = runPath(run, "model");
  const { tensors, metadata } = readSafetensors(file);
  const base = {
    kind: metadata.base_kind ?? "",
    path: metadata.base_path ?? "",
    fingerprint: metadata.base_fingerprint ?? "",
  };
  return { file, tensors, base };
}

/** checkpoints/last.safetensors: everything `--resume` needs to continue as an unbroken run. */
export interface TrainState {
  step: number;
  /** Epochs finished. */
  epoch: number;
  params: HostTensor[];
  /** AdamW's first and second moments, one per parameter. */
  m: HostTensor[];
  v: HostTensor[];
  bestDice: number | null;
  /** The kept model's epoch, 1-based. */
  bestEpoch: number | null;
}

export function writeTrainState(run: string, keys: readonly string[], st: TrainState): void {
  const path = runPath(run, "last");
  mkdirSync(dirname(path), { recursive: true });
  writeSafetensors(
    path,
    {
      ...tensorsOf(keys, st.params, "param."),
      ...tensorsOf(keys, st.m, "adam_m."),
      ...tensorsOf(keys, st.v, "adam_v."),
    },
    {
      format: "udeg-train-state",
      step: String(st.step),
      epoch: String(st.epoch),
      best_dice: st.bestDice === null ? "" : String(st.bestDice),
      best_epoch: st.bestEpoch === null ? "" : String(st.bestEpoch),
    },
  );
}

/** The last training state, its tensors in `keys` order; null when the run has none yet. */
export function readTrainState(run: string, keys: readonly string[]): TrainState | null {
  const path = runPath(run, "last");
  if (!existsSync(path)) return null;
  const ck = readSafetensors(path);
  const get = (prefix: string) =>
    keys.map((key) => {
      const t = ck.tensors.get(prefix + key);
      if (!t)
        throw new Error(
          `${path} lacks ${prefix + key}: it was written by a different model; start a new run`,
        );
      return new HostTensor("float32", t.shape, toFloat32(t));
    });
  const num = (v: string | undefined) => (v ? Number(v) : null);
  return {
    step: Number(ck.metadata.step),
    epoch: Number(ck.metadata.epoch ?? 0),
    params: get("param."),
    m: get("adam_m."),
    v: get("adam_v."),
    bestDice: num(ck.metadata.best_dice),
    bestEpoch: num(ck.metadata.best_epoch),
  };
}

/** summary.json, as the trainer writes it at the end of a run. */
export interface RunSummary {
  steps: number;
  epochs: number;
  /** Best validation Dice: the kept model's (null without a val part: the last epoch is kept). */
  bestDice: number | null;
  /** The epoch (1-based) whose model was kept, chosen on validation; null without a val part. */
  bestEpoch: number | null;
  /** Dice of the last validation pass. */
  lastDice: number | null;
  lastLoss: number;
  runDir: string;
  seconds: number;
}

export function writeRunSummary(run: string, summary: RunSummary): void {
  writeJsonAtomic(runPath(run, "summary"), summary);
}

export function readRunSummary(run: string): RunSummary | null {
  const path = runPath(run, "summary");
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as RunSummary) : null;
}

/** One line of log.jsonl. */
export type LogRecord =
  | ({ type: "step"; step: number; epoch: number; loss: number; lr: number; grad_norm?: number } & Record<
      string,
      number | string | undefined
    >)
  | {
      type: "epoch";
      epoch: number;
      step: number;
      loss: number;
      /** Dice on the run's val part (the held-out part of train when the dataset had none). */
      val_dice: number | null;
      best_dice: number | null;
    };

export function appendRunLog(run: string, record: LogRecord): void {
  appendFileSync(runPath(run, "log"), `${JSON.stringify(record)}\n`);
}

export function readRunLog(run: string): LogRecord[] {
  const path = runPath(run, "log");
  const text = readFileSync(path, "utf8").trim();
  return text ? text.split("\n").map((l) => JSON.parse(l) as LogRecord) : [];
}

/** The README's list of a run directory's files, generated from RUN_FILES and RUN_EXTRAS. */
export function runFolderMarkdown(): string {
  const rows = [...Object.values(RUN_FILES), ...Object.values(RUN_EXTRAS)].map(
    (e) => `- \`${e.name}\`: ${e.holds}`,
  );
  return rows.join("\n");
}

/** postprocess.json: what the run applies to its masks, and the val Dice that chose it. */
export interface RunPostprocess {
  postprocess: Postprocess;
  val: { images: number; diceWithout: number; diceWith: number };
}

export function writeRunPostprocess(run: string, p: RunPostprocess): void {
  writeJsonAtomic(runPath(run, "postprocess"), p);
}

/** The run's post-processing; none for runs trained before it was chosen (their masks as then). */
export function readRunPostprocess(run: string): Postprocess {
  const path = runPath(run, "postprocess");
  if (!existsSync(path)) return NO_POSTPROCESS;
  const p = (JSON.parse(readFileSync(path, "utf8")) as Partial<RunPostprocess>).postprocess;
  if (typeof p?.largestComponent !== "boolean")
    throw new Error(
      `${path}: no postprocess.largestComponent (true or false); delete the file to predict without post-processing`,
    );
  return { largestComponent: p.largestComponent };
}

export function writeRunTrust(run: string, calibration: TrustCalibration): void {
  writeJsonAtomic(runPath(run, "trust"), calibration);
}

/** The run's trust calibration; null for runs trained before it (their images are not judged). */
export function readRunTrust(run: string): TrustCalibration | null {
  const path = runPath(run, "trust");
  if (!existsSync(path)) return null;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new Error(
      `${path}: not JSON (${(err as Error).message}); delete it to predict without the trust flag`,
    );
  }
  return parseTrustCalibration(json, path);
}
