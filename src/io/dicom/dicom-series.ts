// DICOM series: instances in slice order (with the checks a series must pass), and a series as a
// NIfTI volume (`udeg convert`): modality values, the voxel grid from ImagePositionPatient /
// ImageOrientationPatient / PixelSpacing, and DICOM's LPS patient axes turned to NIfTI's RAS
// (x and y negated), as dcm2niix writes it (its output is the test's oracle).

import { makeNiftiHeader, type NiftiHeader, type VoxelArray } from "../nifti/nifti.js";
import type { DicomImage } from "./dicom.js";
import { decodeDicomFile } from "./dicom-node.js";
import { orderSlices, type SliceHeader } from "./dicom-order.js";
import { framePositions, readDicomDataset } from "./dicom-seg.js";

export interface DicomInstance {
  bytes: Uint8Array;
  /** The file name (stem) or another label for messages and outputs. */
  name: string;
}

/** The header fields slice ordering needs, from dcmjs's reading of a file. */
function headerOf(bytes: Uint8Array): SliceHeader {
  const ds = readDicomDataset(bytes);
  const nums = (v: unknown) =>
    v === undefined || v === null || v === "" ? undefined : (v as number[]).map(Number);
  return {
    sopClassUID: String(ds.SOPClassUID ?? ""),
    modality: String(ds.Modality ?? ""),
    seriesInstanceUID: String(ds.SeriesInstanceUID ?? ""),
    sopInstanceUID: String(ds.SOPInstanceUID ?? ""),
    instanceNumber: Number(ds.InstanceNumber ?? 0),
    position: nums(ds.ImagePositionPatient),
    orientation: nums(ds.ImageOrientationPatient),
  };
}

/** orderSlices (dicom-order.ts) over files' bytes. */
export function sliceOrder<T extends DicomInstance>(instances: readonly T[]): T[] {
  return orderSlices(
    instances,
    (i) => headerOf(i.bytes),
    (i) => i.name,
  );
}

const cross = (a: readonly number[], b: readonly number[]) => [
  a[1]! * b[2]! - a[2]! * b[1]!,
  a[2]! * b[0]! - a[0]! * b[2]!,
  a[0]! * b[1]! - a[1]! * b[0]!,
];

/**
 * A series (instances in slice order, as sliceOrder returns them; or one multi-frame instance
 * with per-frame positions) as a NIfTI volume: voxel (i, j, k) = column i, row j of slice k.
 * int16 when every modality value fits, float32 otherwise.
 */
export async function seriesToNifti(instances: readonly DicomInstance[]): Promise<{
  header: NiftiHeader;
  data: VoxelArray;
}> {
  const images: DicomImage[] = [];
  for (const i of instances) images.push(await decodeDicomFile(i.bytes, i.name));
  const sets = instances.map((i) => readDicomDataset(i.bytes));
  const { rows, columns } = images[0]!;
  for (const [k, img] of images.entries()) {
    if (img.rows !== rows || img.columns !== columns)
      throw new Error(
        `${instances[k]!.name}: ${img.rows} x ${img.columns}, the series is ${rows} x ${columns}`,
      );
    if (img.samplesPerPixel !== 1)
      throw new Error(`${instances[k]!.name}: colour images do not make a NIfTI volume here`);
  }
  const planes = images.flatMap((img) => img.frameData);
  const first = sets[0]!;
  const shared = (first.SharedFunctionalGroupsSequence as Record<string, unknown>[] | undefined)?.[0];
  const pick = (key: string, group: string) =>
    (first[key] ?? (shared?.[group] as Record<string, unknown>[] | undefined)?.[0]?.[key]) as
      | number[]
      | undefined;
  const iop = pick("ImageOrientationPatient", "PlaneOrientationSequence")?.map(Number);
  const ps = pick("PixelSpacing", "PixelMeasuresSequence")?.map(Number);
  const positions: number[][] | undefined =
    images.length === 1 && images[0]!.frames > 1
      ? framePositions(first, images[0]!.frames, iop)
      : sets.map((s) => (s.ImagePositionPatient as number[] | undefined)?.map(Number) ?? []);
  if (iop?.length !== 6 || ps?.length !== 2 || !positions || positions.some((p) => p.length !== 3))
    throw new Error(
      `${instances[0]!.name}: no patient geometry (ImagePositionPatient, ImageOrientationPatient, PixelSpacing): cannot place it in a NIfTI volume`,
    );
  const nz = planes.length;
  const rowDir = iop.slice(0, 3); // direction of increasing column index
  const colDir = iop.slice(3, 6); // direction of increasing row index
  const p0 = positions[0]!;
  const thickness = Number(first.SliceThickness ?? ps[0]);
  const step =
    nz > 1
      ? positions[nz - 1]!.map((v, a) => (v - p0[a]!) / (nz - 1))
      : cross(rowDir, colDir).map((v) => v * thickness);
  // LPS affine columns, then RAS: negate the x and y rows.
  const lps = [0, 1, 2].map((a) => [rowDir[a]! * ps[1]!, colDir[a]! * ps[0]!, step[a]!, p0[a]!]);
  const ras = lps.map((row, a) => (a < 2 ? row.map((v) => -v) : row));
  const dz = Math.hypot(...step);
  const integer = planes.every((p) => p.every((v) => Number.isInteger(v) && v >= -32768 && v <= 32767));
  const n = columns * rows;
  const data = integer ? new Int16Array(n * nz) : new Float32Array(n * nz);
  for (let k = 0; k < nz; k++) {
    const plane = planes[k]!;
    for (let j = 0; j < rows; j++)
      for (let i = 0; i < columns; i++) data[i + columns * (j + rows * k)] = plane[j * columns + i]!;
  }
  const header = makeNiftiHeader([columns, rows, nz], integer ? "int16" : "float32", [ps[1]!, ps[0]!, dz]);
  header.srowX = ras[0]!;
  header.srowY = ras[1]!;
  header.srowZ = ras[2]!;
  header.sformCode = 1;
  header.qformCode = 0;
  header.descrip =
    `udeg convert: ${String(first.Modality ?? "")} ${String(first.SeriesDescription ?? "")}`.slice(0, 79);
  return { header, data };
}
