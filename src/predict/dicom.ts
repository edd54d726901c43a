// Prediction on DICOM: the frames of one file or of a series' instances, each through the run's
// input rule (data/input-rule.ts: the file's own display mapping, as training and the page read
// it) and predicted, and one DICOM SEG over all of them.
import { closeSync, openSync, readSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { inputPlanes } from "../data/input-rule.js";
import { writeFileAtomic } from "../io/atomic.js";
import { type DicomImage, sniffDicom } from "../io/dicom/dicom.js";
import { dicomDisplayMapping } from "../io/dicom/dicom-display.js";
import { decodeDicomFile } from "../io/dicom/dicom-node.js";
import { uncertaintyParametricMap } from "../io/dicom/dicom-pmap.js";
import { probabilitySegmentation, readDicomDataset, segmentationFromLabels } from "../io/dicom/dicom-seg.js";
import type { DicomInstance } from "../io/dicom/dicom-series.js";
import { packageVersion } from "../io/package-files.js";
import { Progress } from "../io/progress.js";
import { classColour } from "../udeg/colour-maps.js";
import type { UdegPredictor } from "../udeg/predictor.js";
import { DICOM, greyOf, stem } from "./names.js";
import { writePrediction } from "./outputs.js";
import { type ImageTrust, imageTrust } from "./summary.js";

export type { DicomInstance } from "../io/dicom/dicom-series.js";

export function isDicomFile(path: string): boolean {
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

/**
 * Every frame of `instances` (in the given order) predicted; with `out`, the per-frame outputs
 * written there as for an image (NAME, or NAME_fNNNN for frame NNNN of a multi-frame file).
 * Returns the files written, one BINARY SEG (Part 10 bytes) of the masks over all frames, in the
 * source's study, one FRACTIONAL SEG of the class probabilities, and the uncertainty as a
 * Parametric Map (null when the source has no patient geometry, which that IOD needs).
 */
export async function predictDicomInstances(
  predictor: UdegPredictor,
  instances: readonly DicomInstance[],
  out: string | null,
  quiet: boolean,
  label = "predict",
): Promise<DicomPrediction> {
  const decoded: DicomImage[] = [];
  for (const i of instances) decoded.push(await decodeDicomFile(i.bytes, i.name));
  const total = decoded.reduce((a, img) => a + img.frames, 0);
  const progress = new Progress({ total, label, silent: quiet || total < 2 });
  const written: string[] = [];
  const labels: Uint8Array[] = [];
  const probabilities: Float32Array[][] = [];
  const uncertainties: Float32Array[] = [];
  const images: ImageTrust[] = [];
  for (const [k, img] of decoded.entries()) {
    const mapping = dicomDisplayMapping(img);
    for (let f = 0; f < img.frames; f++) {
      const planar = inputPlanes({ kind: "dicom", image: img, frame: f, mapping }, predictor.config.input);
      const p = await predictor.predict(planar);
      images.push(imageTrust(instances[k]!.name, p, img.frames > 1 ? f + 1 : undefined));
      labels.push(p.labels);
      uncertainties.push(p.uncertainty);
      const plane = p.height * p.width;
      probabilities.push(
        Array.from({ length: p.classes }, (_, k) => p.prob.slice((k + 1) * plane, (k + 2) * plane)),
      );
      if (out) {
        const stem = instances[k]!.name;
        const name = img.frames > 1 ? `${stem}_f${String(f + 1).padStart(4, "0")}` : stem;
        written.push(...Object.values(await writePrediction(out, name, p, greyOf(planar))));
      }
      progress.update(labels.length);
    }
  }
  progress.finish();
  const classes = predictor.resolved.model.classes;
  const sources = instances.map((i) => readDicomDataset(i.bytes));
  const options = {
    segments: Array.from({ length: classes }, (_, k) => ({
      label: classes === 1 ? "foreground" : `class ${k + 1}`,
      rgb: classColour(k + 1),
    })),
    softwareVersion: packageVersion(),
  };
  const seg = segmentationFromLabels(sources, labels, { ...options, ...segTrustText(images) });
  const probSeg = probabilitySegmentation(sources, probabilities, options);
  let uncertaintyMap: Uint8Array | null = null;
  let note: string | null = null;
  try {
    uncertaintyMap = uncertaintyParametricMap(sources, uncertainties, options);
  } catch (err) {
    note = `no uncertainty Parametric Map for ${instances[0]!.name}: ${(err as Error).message}`;
  }
  return { written, seg, probSeg, uncertaintyMap, note, images };
}

/**
 * What the SEG says of the trust flag (issue 28), in its SeriesDescription and ContentDescription
 * (LO: at most 64 characters), where a PACS viewer shows them: the lowest trust over the frames,
 * and a warning in the series name when any frame is flagged.
 */
export function segTrustText(images: readonly ImageTrust[]): {
  seriesDescription?: string;
  contentDescription?: string;
} {
  const judged = images.filter((i) => i.trust !== null);
  if (judged.length === 0) return {};
  const lowest = Math.min(...judged.map((i) => i.trust!));
  const flagged = judged.filter((i) => i.flagged).length;
  return {
    seriesDescription: flagged
      ? `UDEG-Net segmentation - CHECK: ${flagged} of ${judged.length} unlike training`.slice(0, 64)
      : "UDEG-Net segmentation",
    contentDescription: `Automatic segmentation (UDEG-Net), lowest trust ${lowest.toFixed(2)}`,
  };
}

export interface DicomPrediction {
  written: string[];
  seg: Uint8Array;
  probSeg: Uint8Array;
  uncertaintyMap: Uint8Array | null;
  /** Why an object was not made, for the log. */
  note: string | null;
  /** Every frame's trust entry (summary.json). */
  images: ImageTrust[];
}

/**
 * The DICOM objects of a prediction written as NAME.seg.dcm (masks), NAME.prob.seg.dcm
 * (probabilities) and NAME.uncertainty.dcm (Parametric Map), atomically; returns their paths.
 */
export function writeDicomObjects(out: string, name: string, r: DicomPrediction): string[] {
  const files: [string, Uint8Array | null][] = [
    [`${name}.seg.dcm`, r.seg],
    [`${name}.prob.seg.dcm`, r.probSeg],
    [`${name}.uncertainty.dcm`, r.uncertaintyMap],
  ];
  const written: string[] = [];
  for (const [file, bytes] of files) {
    if (!bytes) continue;
    writeFileAtomic(join(out, file), bytes);
    written.push(join(out, file));
  }
  return written;
}

/** DICOM files grouped by SeriesInstanceUID (files in name order within a group). */
export async function dicomSeries(files: readonly string[]) {
  const groups = new Map<string, { bytes: Uint8Array; name: string; path: string; series: string }[]>();
  for (const path of files) {
    const bytes = await readFile(path);
    let series: string;
    try {
      series = String(readDicomDataset(bytes).SeriesInstanceUID ?? path);
    } catch (err) {
      throw new Error(`${path}: not a DICOM file udeg can read (${(err as Error).message})`, { cause: err });
    }
    const group = groups.get(series) ?? [];
    group.push({ bytes, name: stem(path), path, series });
    groups.set(series, group);
  }
  return [...groups.values()];
}
