// `udeg predict`: a trained run on an image, a folder of images, or a NIfTI volume.
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, extname, join } from "node:path";
import { inflateRawSync } from "node:zlib";
import { toPlanar } from "../data/preprocess.js";
import { predictWindow, windowSlice } from "../data/volume-window.js";
import type { ExecutionProvider } from "../engine/index.js";
import { decodeDicom, dicomDisplayMapping, dicomToPlanar, sniffDicom } from "../io/dicom.js";
import { IMAGE_EXTENSIONS, readImage } from "../io/images.js";
import { getSlice, headerFor, type NiftiVolume, readNifti, sliceCount, writeNifti } from "../io/nifti.js";
import type { PlanarImage } from "../io/planar-image.js";
import { Progress } from "../io/progress.js";
import { writePrediction } from "../udeg/outputs.js";
import { UdegPredictor } from "../udeg/predictor.js";

export interface PredictOptions {
  model: string;
  input: string;
  out: string;
  quiet?: boolean;
  /** Execution provider (default cpu). */
  device?: ExecutionProvider;
}

const NIFTI = /\.nii(\.gz)?$/i;
const DICOM = /\.(dcm|dicom)$/i;

function stem(path: string): string {
  return basename(path)
    .replace(NIFTI, "")
    .replace(DICOM, "")
    .replace(extname(basename(path).replace(NIFTI, "")), "");
}

/** One grey plane (channel mean) of planar 0..255 data, for the overlay. */
function greyOf(img: PlanarImage): Float32Array {
  const n = img.height * img.width;
  const out = new Float32Array(n);
  for (let c = 0; c < img.channels; c++)
    for (let i = 0; i < n; i++) out[i]! += img.data[c * n + i]! / img.channels;
  return out;
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
  const axis = 2;
  const n = sliceCount(vol, axis);
  // 4-D and up (fMRI, DWI, time series): every volume is predicted, each with the one window of
  // the whole file, and the outputs keep the input's extra dimensions.
  const volumes = vol.shape.slice(3).reduce((a, b) => a * b, 1);
  const [lo, hi] = predictWindow(vol);
  const [nx, ny] = vol.shape as [number, number];
  const total = nx * ny * n * volumes;
  const mask = new Uint8Array(total);
  const prob = new Float32Array(total);
  const unc = new Float32Array(total);
  const progress = new Progress({ total: n * volumes, label: basename(path), silent: quiet });
  for (let t = 0; t < volumes; t++) {
    for (let z = 0; z < n; z++) {
      const slice = getSlice(vol, axis, z, t);
      const plane = windowSlice(slice, lo, hi);
      const p = await predictor.predict({ data: plane, channels: 1, height: slice.rows, width: slice.cols });
      // Slices along axis 2 are [i, j] with rows = i: voxel (i, j, z, t) lives at
      // i + nx * (j + ny * (z + n * t)).
      for (let i = 0; i < slice.rows; i++) {
        for (let j = 0; j < slice.cols; j++) {
          const v = i + nx * (j + ny * (z + n * t));
          const q = i * slice.cols + j;
          mask[v] = p.labels[q]!;
          prob[v] = 1 - p.prob[q]!;
          unc[v] = p.uncertainty[q]!;
        }
      }
      progress.update(t * n + z + 1);
    }
  }
  progress.finish();
  const shape = volumes > 1 ? vol.shape : [nx, ny, n];
  const name = stem(path);
  const files = [
    join(out, `${name}_mask.nii.gz`),
    join(out, `${name}_prob.nii.gz`),
    join(out, `${name}_uncertainty.nii.gz`),
  ];
  await writeNifti(files[0]!, headerFor(vol.header, shape, "uint8"), mask);
  await writeNifti(files[1]!, headerFor(vol.header, shape, "float32"), prob);
  await writeNifti(files[2]!, headerFor(vol.header, shape, "float32"), unc);
  return files;
}

/**
 * A DICOM file (single or multi-frame, the transfer syntaxes src/io/dicom.ts reads): each frame
 * windowed as the web viewer maps it (dicomToPlanar) and predicted; outputs as for an image,
 * named NAME (one frame) or NAME_fNNNN (frame NNNN, from 1). DICOM SEG output is issue 13's.
 */
async function predictDicom(
  predictor: UdegPredictor,
  path: string,
  out: string,
  quiet: boolean,
): Promise<string[]> {
  const img = decodeDicom(await readFile(path), path, { inflate: (d) => inflateRawSync(d) });
  const mapping = dicomDisplayMapping(img);
  const written: string[] = [];
  const progress = new Progress({
    total: img.frames,
    label: basename(path),
    silent: quiet || img.frames < 2,
  });
  for (let f = 0; f < img.frames; f++) {
    const planar = dicomToPlanar(img, f, mapping);
    const p = await predictor.predict(planar);
    const name = img.frames > 1 ? `${stem(path)}_f${String(f + 1).padStart(4, "0")}` : stem(path);
    written.push(...Object.values(await writePrediction(out, name, p, greyOf(planar))));
    progress.update(f + 1);
  }
  progress.finish();
  return written;
}

function isDicomFile(path: string): boolean {
  if (DICOM.test(path)) return true;
  const head = new Uint8Array(132);
  const fd = openSync(path, "r");
  try {
    readSync(fd, head, 0, 132, 0);
  } finally {
    closeSync(fd);
  }
  return sniffDicom(head);
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
  for (const file of inputs) {
    if (NIFTI.test(file)) {
      written.push(...(await predictVolume(predictor, file, o.out, !!o.quiet)));
      continue;
    }
    if (dicom.has(file)) {
      written.push(...(await predictDicom(predictor, file, o.out, !!o.quiet)));
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
