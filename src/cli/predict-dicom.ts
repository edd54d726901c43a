// `udeg predict` on DICOM: the frames of one file or of a series' instances, each windowed as the
// web viewer maps it (dicomToPlanar) and predicted, and one DICOM SEG over all of them.
import { closeSync, openSync, readSync } from "node:fs";
import { inflateRawSync } from "node:zlib";
import { decodeDicom, dicomDisplayMapping, dicomToPlanar, sniffDicom } from "../io/dicom.js";
import { readDicomDataset, segmentationFromLabels } from "../io/dicom-seg.js";
import { packageVersion } from "../io/package-files.js";
import { Progress } from "../io/progress.js";
import { writePrediction } from "../udeg/outputs.js";
import type { UdegPredictor } from "../udeg/predictor.js";
import { DICOM, greyOf } from "./predict-common.js";

export interface DicomInstance {
  bytes: Uint8Array;
  /** Output name stem (NAME_mask.png, ...). */
  name: string;
}

/** Segment display colours (sRGB), class 1 first. */
export const SEGMENT_COLOURS: readonly (readonly [number, number, number])[] = [
  [230, 60, 60],
  [60, 160, 230],
  [90, 200, 90],
  [240, 200, 40],
  [180, 90, 220],
];

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
 * Returns the files written and one SEG (Part 10 bytes) over all frames, in the source's study.
 */
export async function predictDicomInstances(
  predictor: UdegPredictor,
  instances: readonly DicomInstance[],
  out: string | null,
  quiet: boolean,
  label = "predict",
): Promise<{ written: string[]; seg: Uint8Array }> {
  const images = instances.map((i) => decodeDicom(i.bytes, i.name, { inflate: (d) => inflateRawSync(d) }));
  const total = images.reduce((a, img) => a + img.frames, 0);
  const progress = new Progress({ total, label, silent: quiet || total < 2 });
  const written: string[] = [];
  const labels: Uint8Array[] = [];
  for (const [k, img] of images.entries()) {
    const mapping = dicomDisplayMapping(img);
    for (let f = 0; f < img.frames; f++) {
      const planar = dicomToPlanar(img, f, mapping);
      const p = await predictor.predict(planar);
      labels.push(p.labels);
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
  const seg = segmentationFromLabels(
    instances.map((i) => readDicomDataset(i.bytes)),
    labels,
    {
      segments: Array.from({ length: classes }, (_, k) => ({
        label: classes === 1 ? "foreground" : `class ${k + 1}`,
        rgb: SEGMENT_COLOURS[k % SEGMENT_COLOURS.length]!,
      })),
      softwareVersion: packageVersion(),
    },
  );
  return { written, seg };
}

const SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4";

/**
 * The instances of one series in slice order: along the slice normal where every instance has a
 * position, else by InstanceNumber. Refuses, naming the files: a SEG given as an image, instances
 * of several series, mixed orientations, two instances at one position (or one instance twice),
 * and gaps (a spacing over 1.5 x the median: missing slices).
 */
export function sliceOrder<T extends DicomInstance>(instances: readonly T[]): T[] {
  const keyed = instances.map((inst) => {
    const ds = readDicomDataset(inst.bytes);
    if (ds.SOPClassUID === SEG_CLASS || ds.Modality === "SEG")
      throw new Error(`${inst.name}: a DICOM SEG (a segmentation), not an image to segment`);
    const ipp = (ds.ImagePositionPatient as number[] | undefined)?.map(Number);
    const iop = (ds.ImageOrientationPatient as number[] | undefined)?.map(Number);
    return { inst, ds, ipp, iop, number: Number(ds.InstanceNumber ?? 0) };
  });
  if (keyed.length < 2) return keyed.map((k) => k.inst);
  const first = keyed[0]!;
  const other = keyed.find((k) => k.ds.SeriesInstanceUID !== first.ds.SeriesInstanceUID);
  if (other)
    throw new Error(
      `${first.inst.name} and ${other.inst.name} belong to different series: give one series at a time`,
    );
  const uids = new Map<string, string>();
  for (const k of keyed) {
    const uid = String(k.ds.SOPInstanceUID);
    if (uids.has(uid))
      throw new Error(`${uids.get(uid)} and ${k.inst.name} are the same instance (${uid}): remove one`);
    uids.set(uid, k.inst.name);
  }
  const located = keyed.every((k) => k.ipp?.length === 3 && k.iop?.length === 6);
  if (!located) return keyed.sort((a, b) => a.number - b.number).map((k) => k.inst);
  const iop = first.iop!;
  const bent = keyed.find((k) => k.iop!.some((v, i) => Math.abs(v - iop[i]!) > 1e-3));
  if (bent)
    throw new Error(
      `${bent.inst.name} has another orientation than ${first.inst.name}: a series must be one stack`,
    );
  const n = [
    iop[1]! * iop[5]! - iop[2]! * iop[4]!,
    iop[2]! * iop[3]! - iop[0]! * iop[5]!,
    iop[0]! * iop[4]! - iop[1]! * iop[3]!,
  ];
  const along = (k: (typeof keyed)[number]) => k.ipp![0]! * n[0]! + k.ipp![1]! * n[1]! + k.ipp![2]! * n[2]!;
  keyed.sort((a, b) => along(a) - along(b));
  const gaps = keyed.slice(1).map((k, i) => along(k) - along(keyed[i]!));
  for (const [i, g] of gaps.entries())
    if (g < 1e-3)
      throw new Error(
        `${keyed[i]!.inst.name} and ${keyed[i + 1]!.inst.name} are at the same position: duplicate slices`,
      );
  const median = [...gaps].sort((a, b) => a - b)[gaps.length >> 1]!;
  for (const [i, g] of gaps.entries())
    if (g > 1.5 * median)
      throw new Error(
        `a gap of ${g.toFixed(2)} mm between ${keyed[i]!.inst.name} and ${keyed[i + 1]!.inst.name} (slices are ${median.toFixed(2)} mm apart): missing slices`,
      );
  return keyed.map((k) => k.inst);
}
