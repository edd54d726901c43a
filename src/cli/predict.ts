// `udeg predict`: a trained run on an image, a folder of images, or a NIfTI volume.
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, extname, join } from "node:path";
import { inflateRawSync } from "node:zlib";
import { toPlanar } from "../data/preprocess.js";
import { predictWindow, windowSlice } from "../data/volume-window.js";
import type { ExecutionProvider } from "../engine/index.js";
import { writeFileAtomic } from "../io/atomic.js";
import { decodeDicom, dicomDisplayMapping, dicomToPlanar, sniffDicom } from "../io/dicom.js";
import { readDicomDataset, segmentationFromLabels } from "../io/dicom-seg.js";
import { IMAGE_EXTENSIONS, readImage } from "../io/images.js";
import { getSlice, headerFor, type NiftiVolume, readNifti, sliceCount, writeNifti } from "../io/nifti.js";
import { packageVersion } from "../io/package-files.js";
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
 * named NAME (one frame) or NAME_fNNNN (frame NNNN, from 1); and NAME.seg.dcm, a DICOM SEG of
 * every frame in the source's study.
 */
async function predictDicom(
  predictor: UdegPredictor,
  path: string,
  out: string,
  quiet: boolean,
): Promise<string[]> {
  const bytes = await readFile(path);
  const img = decodeDicom(bytes, path, { inflate: (d) => inflateRawSync(d) });
  const mapping = dicomDisplayMapping(img);
  const written: string[] = [];
  const labels: Uint8Array[] = [];
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
    labels.push(p.labels);
    progress.update(f + 1);
  }
  progress.finish();
  const classes = predictor.resolved.model.classes;
  const seg = segmentationFromLabels(readDicomDataset(bytes), labels, {
    segments: Array.from({ length: classes }, (_, k) => ({
      label: classes === 1 ? "foreground" : `class ${k + 1}`,
      rgb: SEGMENT_COLOURS[k % SEGMENT_COLOURS.length]!,
    })),
    softwareVersion: packageVersion(),
  });
  const segPath = join(out, `${stem(path)}.seg.dcm`);
  writeFileAtomic(segPath, seg);
  written.push(segPath);
  return written;
}

/** Segment display colours (sRGB), class 1 first. */
const SEGMENT_COLOURS: readonly (readonly [number, number, number])[] = [
  [230, 60, 60],
  [60, 160, 230],
  [90, 200, 90],
  [240, 200, 40],
  [180, 90, 220],
];

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
