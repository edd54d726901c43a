// `udeg predict`: a trained run on an image, a DICOM file, a folder of them, or a NIfTI volume.
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { basename, extname, join } from "node:path";
import { toPlanar } from "../data/preprocess.js";
import type { ExecutionProvider } from "../engine/index.js";
import { sliceOrder } from "../io/dicom-series.js";
import { IMAGE_EXTENSIONS, readImage } from "../io/images.js";
import { headerFor, type NiftiVolume, readNifti, writeNifti } from "../io/nifti.js";
import type { PlanarImage } from "../io/planar-image.js";
import { Progress } from "../io/progress.js";
import { writePrediction } from "../udeg/outputs.js";
import { UdegPredictor } from "../udeg/predictor.js";
import { predictNiftiVolume } from "../udeg/volume-prediction.js";
import { DICOM, greyOf, NIFTI, stem } from "./predict-common.js";
import { dicomSeries, isDicomFile, predictDicomInstances, writeDicomObjects } from "./predict-dicom.js";

export interface PredictOptions {
  model: string;
  input: string;
  out: string;
  quiet?: boolean;
  /** Execution provider (default cpu). */
  device?: ExecutionProvider;
}

async function readPlanar(path: string): Promise<PlanarImage> {
  const img = await readImage(path);
  const scale = img.bitDepth === 16 ? 255 / 65535 : 1;
  const planes = toPlanar(img.data, img.height, img.width, img.channels);
  if (scale !== 1) for (let i = 0; i < planes.length; i++) planes[i]! *= scale;
  return {
    data: planes,
    channels: img.channels,
    height: img.height,
    width: img.width,
    quantized: img.bitDepth === 8,
  };
}

async function predictVolume(
  predictor: UdegPredictor,
  path: string,
  out: string,
  quiet: boolean,
): Promise<string[]> {
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
  return files;
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

export async function predictCommand(
  o: PredictOptions,
  log: (line: string) => void = console.error,
): Promise<string[]> {
  const inputs = listInputs(o.input);
  const predictor = await UdegPredictor.load(o.model, { ep: o.device });
  mkdirSync(o.out, { recursive: true });
  const written: string[] = [];
  const dicom = new Set(inputs.filter(isDicomFile));
  const images = inputs.filter((f) => !NIFTI.test(f) && !dicom.has(f));
  const progress = new Progress({
    total: images.length,
    label: "predict",
    silent: o.quiet || images.length < 2,
  });
  let done = 0;
  // DICOM: one SEG per series (NAME.seg.dcm for a one-file series, SERIES_UID.seg.dcm else),
  // the instances in slice order; the per-frame outputs keep each file's name.
  for (const series of await dicomSeries([...dicom])) {
    const ordered = sliceOrder(series);
    const r = await predictDicomInstances(predictor, ordered, o.out, !!o.quiet, basename(ordered[0]!.path));
    const name = ordered.length === 1 ? ordered[0]!.name : ordered[0]!.series;
    written.push(...r.written, ...writeDicomObjects(o.out, name, r));
    if (r.note && !o.quiet) console.error(r.note);
  }
  for (const file of inputs) {
    if (dicom.has(file)) continue;
    if (NIFTI.test(file)) {
      written.push(...(await predictVolume(predictor, file, o.out, !!o.quiet)));
      continue;
    }
    const img = await readPlanar(file);
    const p = await predictor.predict(img);
    const files = await writePrediction(o.out, stem(file), p, greyOf(img));
    written.push(...Object.values(files));
    progress.update(++done);
  }
  progress.finish();
  log(`wrote predictions for ${inputs.length} input(s) to ${o.out}`);
  return written;
}
