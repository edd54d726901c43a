// What `udeg serve` hands the web viewer: meta.json and the ONNX files it names. From a run
// directory (`--model RUN`): the split encoder/decoder export in RUN/web/, written on first use and
// rewritten when the run's weights are newer. From an ONNX file (`--onnx FILE`): the split files
// beside it when `udeg export --split` wrote them, else the single graph (no point refinement).

import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, extname, join, resolve } from "node:path";
import { DEFAULT_INPUT_RULE, type InputRule } from "../data/input-rule.js";
import { decodeModel } from "../engine/index.js";
import { InputRuleSchema } from "../udeg/config.js";
import { exportWebModels } from "../udeg/export.js";
import { NO_POSTPROCESS, type Postprocess } from "../udeg/postprocess.js";
import { requireFinishedRun, runPath, webDir } from "../udeg/run-folder.js";
import { parseTrustCalibration, type TrustCalibration } from "../udeg/trust.js";
import type { WebModelMeta } from "../udeg/web-meta.js";
import type { ViewerMeta } from "./meta.js";

export type { ViewerMeta };

export interface ServedModel {
  meta: ViewerMeta;
  /** URL file name (as in meta.files) -> absolute path on disk. */
  files: Map<string, string>;
}

export type PrepareLog = (line: string) => void;

/** The split export of a run, in RUN/web/: reused while newer than RUN/model.safetensors. */
export function modelFromRun(runDir: string, log: PrepareLog = () => {}): ServedModel {
  const run = resolve(runDir);
  requireFinishedRun(run, "train one with `udeg train`, or run `udeg demo`");
  const weights = runPath(run, "model");
  const out = webDir(run);
  const metaPath = join(out, "meta.json");
  let meta = readWebMeta(metaPath);
  const fresh =
    meta !== null &&
    [metaPath, join(out, meta.files.encoder), join(out, meta.files.decoder)].every(
      (p) => existsSync(p) && statSync(p).mtimeMs >= statSync(weights).mtimeMs,
    );
  if (!fresh) {
    log(`exporting ${runDir} for the browser (encoder + decoder ONNX) into ${out} ...`);
    const t0 = performance.now();
    exportWebModels(run, out);
    meta = readWebMeta(metaPath);
    if (!meta) throw new Error(`the web export did not write ${metaPath}`);
    log(`exported in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } else log(`using the web export in ${out} (newer than the run's weights)`);
  const m = meta!;
  return {
    meta: { ...m, source: runDir },
    files: new Map([
      [m.files.encoder, join(out, m.files.encoder)],
      [m.files.decoder, join(out, m.files.decoder)],
    ]),
  };
}

function readWebMeta(path: string): WebModelMeta | null {
  if (!existsSync(path)) return null;
  try {
    const m = JSON.parse(readFileSync(path, "utf8")) as WebModelMeta;
    if (m.format !== "udeg-web/1" || !m.files?.encoder || !m.files?.decoder) return null;
    return m;
  } catch {
    return null;
  }
}

/** An ONNX file decoded, or an error that names it and says what to do. */
function readOnnx(path: string): ReturnType<typeof decodeModel> {
  const bytes = readFileSync(path);
  try {
    return decodeModel(bytes);
  } catch (err) {
    throw new Error(
      `${path} is not a readable ONNX file (${(err as Error).message}): write one with \`udeg export --model RUN --out FILE.onnx\``,
      { cause: err },
    );
  }
}

/** The metadata_props of an ONNX file as a record. */
export function onnxMetadata(path: string): Record<string, string> {
  const model = readOnnx(path);
  return Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key ?? "", p.value ?? ""]));
}

/** Inputs of an ONNX file: name -> static dims (0 where symbolic). */
export function onnxInputs(path: string): Map<string, number[]> {
  const model = readOnnx(path);
  const out = new Map<string, number[]>();
  for (const i of model.graph?.input ?? []) {
    const dims = (i.type?.tensorType?.shape?.dim ?? []).map((d) => Number(d.dimValue ?? 0));
    out.set(i.name ?? "", dims);
  }
  return out;
}

function parseJsonArray(v: string | undefined, key: string, file: string): number[] {
  try {
    const a = JSON.parse(v ?? "") as unknown;
    if (Array.isArray(a) && a.every((x) => typeof x === "number")) return a;
  } catch {
    // reported below
  }
  throw new Error(
    `${file}: metadata ${key} is missing or not a list of numbers: is it a \`udeg export\` file?`,
  );
}

/** An export's input_rule (both settings written out), checked by the run config's own schema. */
function parseInputRule(text: string, path: string): InputRule {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {}
  const whole = typeof json === "object" && json !== null && "intensity16" in json && "window" in json;
  const r = InputRuleSchema.safeParse(json);
  if (whole && r.success) return r.data;
  throw new Error(
    `${path}: metadata input_rule is not an input rule (${text.slice(0, 80)}): re-export the model with \`udeg export\``,
  );
}

/** An export's postprocess (postprocess.ts); exports made before it was chosen had none. */
function parsePostprocess(text: string | undefined, path: string): Postprocess {
  if (text === undefined) return NO_POSTPROCESS;
  try {
    const p = JSON.parse(text) as Partial<Postprocess>;
    if (typeof p.largestComponent === "boolean") return { largestComponent: p.largestComponent };
  } catch {}
  throw new Error(
    `${path}: metadata postprocess is not a post-processing (${text.slice(0, 80)}): re-export the model with \`udeg export\``,
  );
}

/** An export's trust calibration (trust.ts); exports made before the flag have none. */
function parseTrustMetadata(text: string, path: string): TrustCalibration {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {}
  return parseTrustCalibration(json, `${path}: metadata trust`);
}

/** ViewerMeta fields from an exported file's metadata_props. */
export function metaFromOnnx(path: string): Omit<ViewerMeta, "files" | "maxPoints" | "source"> {
  const md = onnxMetadata(path);
  const size = Number(md.model_size);
  const classes = Number(md.classes);
  if (!(Number.isInteger(size) && size > 0) || !(Number.isInteger(classes) && classes > 0)) {
    throw new Error(
      `${path}: no udeg metadata (model_size, classes); export the model with \`udeg export\` (got keys: ${Object.keys(md).join(", ") || "none"})`,
    );
  }
  return {
    format: "udeg-web/1",
    name: basename(path).replace(/\.onnx$/i, ""),
    modelSize: size,
    pixelMean: parseJsonArray(md.pixel_mean, "pixel_mean", path),
    pixelStd: parseJsonArray(md.pixel_std, "pixel_std", path),
    // Exports made before the rule was recorded: the default, which their training used.
    input: md.input_rule ? parseInputRule(md.input_rule, path) : DEFAULT_INPUT_RULE,
    postprocess: parsePostprocess(md.postprocess, path),
    ...(md.trust ? { trust: parseTrustMetadata(md.trust, path) } : {}),
    classes,
    preset: md.preset ?? "?",
    evidential: md.evidential === "true",
    edge: md.edge === "true",
  };
}

/**
 * `--onnx FILE`: FILE's metadata, with FILE's split files (`<stem>.encoder.onnx` and
 * `<stem>.decoder.onnx`, written by `udeg export --split`) when both exist beside it.
 */
export function modelFromOnnx(file: string, log: PrepareLog = () => {}): ServedModel {
  const path = resolve(file);
  if (!existsSync(path)) throw new Error(`--onnx ${file}: no such file`);
  const dir = dirname(path);
  const stem = basename(path, extname(path));
  const encoder = join(dir, `${stem}.encoder.onnx`);
  const decoder = join(dir, `${stem}.decoder.onnx`);
  const base = metaFromOnnx(path);
  if (existsSync(encoder) && existsSync(decoder)) {
    const labels = onnxInputs(decoder).get("point_labels");
    const maxPoints = labels?.[1] ?? 0;
    if (!(maxPoints > 0))
      throw new Error(`${decoder}: no point_labels input [1, P]: not a udeg decoder export`);
    log(`serving ${basename(encoder)} + ${basename(decoder)} (point refinement on)`);
    return {
      meta: { ...base, maxPoints, files: { encoder: "encoder.onnx", decoder: "decoder.onnx" }, source: file },
      files: new Map([
        ["encoder.onnx", encoder],
        ["decoder.onnx", decoder],
      ]),
    };
  }
  log(
    `serving the single graph ${basename(path)}: no point refinement (export with \`udeg export --split\` for it)`,
  );
  return {
    meta: { ...base, maxPoints: 0, files: { full: "model.onnx" }, source: file },
    files: new Map([["model.onnx", path]]),
  };
}
