// Slice order for a DICOM series, from a few header fields: along the slice normal where every
// instance has a position and orientation, else by InstanceNumber, with the checks a series must
// pass. Pure (no Node.js built-ins): `udeg predict` and `udeg convert` order files with it
// (dicom-series.ts reads the headers with dcmjs), and the web viewer orders the files a user
// picks together (from its own decoding).

/** What slice ordering reads of an instance. */
export interface SliceHeader {
  sopClassUID: string;
  modality: string;
  seriesInstanceUID: string;
  sopInstanceUID: string;
  instanceNumber: number;
  /** ImagePositionPatient, ImageOrientationPatient, where the file has them. */
  position?: number[];
  orientation?: number[];
}

export const SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4";

/**
 * The instances of one series in slice order: along the slice normal where every instance has a
 * position, else by InstanceNumber. Refuses, naming the files: a SEG given as an image, instances
 * of several series, mixed orientations, two instances at one position (or one instance twice),
 * and gaps (a spacing over 1.5 x the median: missing slices).
 */
export function orderSlices<T>(
  items: readonly T[],
  header: (item: T) => SliceHeader,
  nameOf: (item: T) => string,
): T[] {
  const keyed = items.map((item) => {
    const ds = header(item);
    const inst = { item, name: nameOf(item) };
    if (ds.sopClassUID === SEG_CLASS || ds.modality === "SEG")
      throw new Error(`${inst.name}: a DICOM SEG (a segmentation), not an image to segment`);
    return { inst, ds, ipp: ds.position, iop: ds.orientation, number: ds.instanceNumber };
  });
  if (keyed.length < 2) return keyed.map((k) => k.inst.item);
  const first = keyed[0]!;
  const other = keyed.find((k) => k.ds.seriesInstanceUID !== first.ds.seriesInstanceUID);
  if (other)
    throw new Error(
      `${first.inst.name} and ${other.inst.name} belong to different series: give one series at a time`,
    );
  const uids = new Map<string, string>();
  for (const k of keyed) {
    const uid = k.ds.sopInstanceUID;
    if (uids.has(uid))
      throw new Error(`${uids.get(uid)} and ${k.inst.name} are the same instance (${uid}): remove one`);
    uids.set(uid, k.inst.name);
  }
  const located = keyed.every((k) => k.ipp?.length === 3 && k.iop?.length === 6);
  if (!located) return keyed.sort((a, b) => a.number - b.number).map((k) => k.inst.item);
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
  return keyed.map((k) => k.inst.item);
}
