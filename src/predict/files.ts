// Prediction on files: a trained run on an image, a DICOM file or series, a folder of them, or a
// NIfTI volume (`udeg predict --input`); the unit of work (PredictItem) that shards and the queue
// hand out. Every image reaches the network through the run's input rule (data/input-rule.ts).
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { basename, extname, join } from "node:path";
import { type InputRule, inputPlanes } from "../data/input-rule.js";
import type { ExecutionProvider } from "../engine/index.js";
import { sliceOrder } from "../io/dicom/dicom-series.js";
import { IMAGE_EXTENSIONS, readImageSource } from "../io/images/images.js";
import { headerFor, type NiftiVolume, readNifti, writeNifti } from "../io/nifti/nifti.js";
import type { PlanarImage } from "../io/planar-image.js";
import { Progress } from "../io/progress.js";
import { UdegPredictor } from "../udeg/predictor.js";
import { dicomSeries, isDicomFile, predictDicomInstances, writeDicomObjects } from "./dicom.js";
import { predictStudy } from "./dicomweb.js";
import { DICOM, greyOf, NIFTI, stem } from "./names.js";
import { writePrediction } from "./outputs.js";
import {
  flaggedLine,
  type ImageTrust,
  imageTrust,
  type PredictSummary,
  summarize,
  writePredictSummary,
} from "./summary.js";
import { predictNiftiVolume } from "./volume.js";

export interface PredictOptions {
  model: string;
  input: string;
  out: string;
  quiet?: boolean;
  /** Execution provider (default cpu). */
  device?: ExecutionProvider;
  /** Only shard k of n (1-based) of the inputs: `--shard K/N` (SLURM arrays, Kubernetes Indexed Jobs). */
  shard?: { k: number; n: number };
}

/** An image file as the network's planes, under the run's input rule (as training read it). */
export async function readInputPlanes(path: string, rule: InputRule): Promise<PlanarImage> {
  return inputPlanes(await readImageSource(path), rule);
}

async function predictVolume(
  predictor: UdegPredictor,
  path: string,
  out: string,
  quiet: boolean,
): Promise<PredictedItem> {
  const vol: NiftiVolume = await readNifti(path);
  const slices = vol.shape.slice(2).reduce((a, b) => a * b, 1);
  const progress = new Progress({ total: slices, label: basename(path), silent: quiet });
  const r = await predictNiftiVolume(predictor, vol, (done) => progress.update(done));
  progress.finish();
  const name = stem(path);
  const files = [
    join(out, `${name}_mask.nii.gz`),
    join(out, `${name}_prob.nii.gz`),
    join(out, `${name}_uncertainty.nii.gz`),
  ];
  await writeNifti(files[0]!, headerFor(vol.header, r.shape, "uint8"), r.mask);
  await writeNifti(files[1]!, headerFor(vol.header, r.shape, "float32"), r.prob);
  await writeNifti(files[2]!, headerFor(vol.header, r.shape, "float32"), r.uncertainty);
  const images = r.trust.map((trust, k) =>
    imageTrust(basename(path), { trust }, r.trust.length > 1 ? k + 1 : undefined),
  );
  return { written: files, images };
}

/** What predicting one item gave: the files written, and each image's trust entry (summary.json). */
export interface PredictedItem {
  written: string[];
  images: ImageTrust[];
}

function listInputs(input: string): string[] {
  if (!existsSync(input)) throw new Error(`--input ${input}: no such file or folder`);
  if (!statSync(input).isDirectory()) return [input];
  const files = readdirSync(input)
    .filter((f) => NIFTI.test(f) || DICOM.test(f) || IMAGE_EXTENSIONS.includes(extname(f).toLowerCase()))
    .sort()
    .map((f) => join(input, f));
  if (files.length === 0)
    throw new Error(`--input ${input}: no PNG, JPEG, TIFF, BMP, NIfTI or DICOM (.dcm) files in the folder`);
  return files;
}

/**
 * One unit of prediction: an image file, a NIfTI volume, or one DICOM series (its files; one SEG
 * for all of them). The unit of a queue job (`--redis`) and of a shard (`--shard K/N`).
 */
export type PredictItem =
  | { kind: "image" | "nifti"; file: string }
  | { kind: "dicom"; files: string[] }
  /** One series of a study on a PACS; the token comes from the worker's UDEG_DICOMWEB_TOKEN, never the queue. */
  | { kind: "dicomweb"; url: string; study: string; series: string; store: boolean };

/** The environment variable a worker reads the DICOMweb bearer token from. */
export const DICOMWEB_TOKEN_ENV = "UDEG_DICOMWEB_TOKEN";

/** What `--input` holds, as items in a stable order (by first path): the same on every machine. */
export async function planPredict(input: string): Promise<PredictItem[]> {
  const inputs = listInputs(input);
  const dicom = inputs.filter(isDicomFile);
  const items: PredictItem[] = (await dicomSeries(dicom)).map((series) => ({
    kind: "dicom",
    files: series.map((i) => i.path),
  }));
  for (const file of inputs)
    if (!dicom.includes(file)) items.push({ kind: NIFTI.test(file) ? "nifti" : "image", file });
  const key = (i: PredictItem) =>
    i.kind === "dicom" ? i.files[0]! : i.kind === "dicomweb" ? i.series : i.file;
  return items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** A readable name of an item, for progress and errors. */
export function itemLabel(item: PredictItem): string {
  if (item.kind === "dicomweb") return `series ${item.series} of study ${item.study}`;
  return item.kind === "dicom"
    ? `${basename(item.files[0]!)}${item.files.length > 1 ? ` (+${item.files.length - 1} of its series)` : ""}`
    : basename(item.file);
}

/** Shard K of N (1-based): every N-th item from the K-th; the N shards partition the items. */
export function shardOf<T>(items: readonly T[], shard: { k: number; n: number }): T[] {
  return items.filter((_, i) => i % shard.n === shard.k - 1);
}

/** Predicts one item into `out` (created if needed); returns the files written and the trust entries. */
export async function predictItem(
  predictor: UdegPredictor,
  item: PredictItem,
  out: string,
  quiet: boolean,
): Promise<PredictedItem> {
  if (item.kind === "dicomweb") {
    const r = await predictStudy(
      predictor,
      {
        dicomweb: item.url,
        study: item.study,
        series: item.series,
        store: item.store,
        ...(out ? { out } : {}),
        token: process.env[DICOMWEB_TOKEN_ENV],
        quiet,
      },
      () => {},
    );
    return { written: r.written, images: r.images };
  }
  mkdirSync(out, { recursive: true });
  if (item.kind === "nifti") return predictVolume(predictor, item.file, out, quiet);
  if (item.kind === "dicom") {
    // One SEG per series (NAME.seg.dcm for a one-file series, SERIES_UID.seg.dcm else), the
    // instances in slice order; the per-frame outputs keep each file's name.
    const [series] = await dicomSeries(item.files);
    const ordered = sliceOrder(series!);
    const r = await predictDicomInstances(predictor, ordered, out, quiet, basename(ordered[0]!.path));
    const name = ordered.length === 1 ? ordered[0]!.name : ordered[0]!.series;
    if (r.note && !quiet) console.error(r.note);
    return { written: [...r.written, ...writeDicomObjects(out, name, r)], images: r.images };
  }
  const img = await readInputPlanes(item.file, predictor.config.input);
  const p = await predictor.predict(img);
  const written = Object.values(await writePrediction(out, stem(item.file), p, greyOf(img)));
  return { written, images: [imageTrust(basename(item.file), p)] };
}

/**
 * `udeg predict --input`: every item of the input (or one shard of them) into `o.out`, and
 * OUT/summary.json with every image's trust; the flagged count is logged at the end.
 */
export async function predictFiles(
  o: PredictOptions,
  log: (line: string) => void = console.error,
): Promise<PredictSummary & { written: string[] }> {
  let items = await planPredict(o.input);
  if (o.shard) {
    const all = items.length;
    items = shardOf(items, o.shard);
    log(`shard ${o.shard.k}/${o.shard.n}: ${items.length} of ${all} input(s)`);
  }
  const predictor = await UdegPredictor.load(o.model, { ep: o.device });
  mkdirSync(o.out, { recursive: true });
  const written: string[] = [];
  const images: ImageTrust[] = [];
  const progress = new Progress({
    total: items.length,
    label: "predict",
    silent: o.quiet || items.length < 2,
  });
  try {
    for (const [k, item] of items.entries()) {
      const r = await predictItem(predictor, item, o.out, !!o.quiet || items.length > 1);
      written.push(...r.written);
      images.push(...r.images);
      progress.update(k + 1);
    }
  } finally {
    await predictor.release();
  }
  progress.finish();
  const summary = summarize(o.model, images);
  written.push(writePredictSummary(o.out, summary, o.shard));
  log(`wrote predictions for ${items.length} input(s) to ${o.out}`);
  log(flaggedLine(summary));
  return { ...summary, written };
}
