// What every derived multi-frame object udeg writes (DICOM SEG, dicom-seg.ts; Parametric Map,
// dicom-pmap.ts) takes from its source images: the source frames in order with their positions,
// the geometry (orientation, spacing, thickness) as shared functional groups, a per-frame
// derivation reference, and the patient / study / frame of reference / equipment attributes of a
// new series in the source's study. The data sets are dcmjs "naturalized" ones (keywords as keys).
import dcmjs, { type NaturalDataset } from "dcmjs";

const { DicomMessage, DicomMetaDictionary } = dcmjs.data;
// dcmjs logs oddities of the files it reads ("Invalid vr type ox - using OW") to the console;
// the decoder (src/io/dicom/dicom.ts) is what judges a source file here.
dcmjs.log.getLogger("validation.dcmjs").setLevel("silent");

export const EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1";

/** A Part 10 file as a dcmjs "naturalized" data set (keywords as keys), its meta under `_meta`. */
export function readDicomDataset(bytes: Uint8Array): NaturalDataset {
  const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const dict = DicomMessage.readFile(copy);
  const ds = DicomMetaDictionary.naturalizeDataset(dict.dict);
  ds._meta = DicomMetaDictionary.namifyDataset(dict.meta);
  return ds;
}

export const code = (value: string, scheme: string, meaning: string) => [
  { CodeValue: value, CodingSchemeDesignator: scheme, CodeMeaning: meaning },
];

export function numbers(v: unknown): number[] | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  const arr = (Array.isArray(v) ? v : [v]).map(Number);
  return arr.every(Number.isFinite) ? arr : undefined;
}

export const first = (v: unknown): NaturalDataset | undefined =>
  (Array.isArray(v) ? v[0] : v) as NaturalDataset | undefined;

/** Per source frame: its ImagePositionPatient, from whichever place the source keeps it. */
export function framePositions(
  src: NaturalDataset,
  frames: number,
  iop: number[] | undefined,
): number[][] | undefined {
  const perFrame = src.PerFrameFunctionalGroupsSequence as NaturalDataset[] | undefined;
  if (perFrame?.length === frames) {
    const ps = perFrame.map((f) => numbers(first(first(f.PlanePositionSequence))?.ImagePositionPatient));
    return ps.every((p) => p?.length === 3) ? (ps as number[][]) : undefined;
  }
  const ipp = numbers(src.ImagePositionPatient);
  if (ipp?.length !== 3) return undefined;
  if (frames === 1) return [ipp];
  // Classic multi-frame (RT dose, NM): GridFrameOffsetVector along the slice normal.
  const offsets = numbers(src.GridFrameOffsetVector);
  if (!iop || offsets?.length !== frames) return undefined;
  const n = [
    iop[1]! * iop[5]! - iop[2]! * iop[4]!,
    iop[2]! * iop[3]! - iop[0]! * iop[5]!,
    iop[0]! * iop[4]! - iop[1]! * iop[3]!,
  ];
  return offsets.map((o) => ipp.map((p, k) => p + o * n[k]!));
}

function dicomDateTime(d: Date): { date: string; time: string } {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return {
    date: `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}`,
    time: `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`,
  };
}

/** One frame of the source images: which instance, which of its frames (1-based), where. */
export interface SourceFrame {
  ds: NaturalDataset;
  frame: number;
  multiFrame: boolean;
  position?: number[];
}

/** The source images of a derived object: their frames, size and geometry. */
export interface DerivedSource {
  list: readonly NaturalDataset[];
  src: NaturalDataset;
  rows: number;
  columns: number;
  frames: SourceFrame[];
  /** Orientation, positions and a frame of reference for every frame. */
  geometry: boolean;
  positions: number[][] | undefined;
  /** PlaneOrientation and PixelMeasures, as the shared functional groups hold them. */
  sharedGroup: NaturalDataset;
}

/**
 * The source frames of `sources` (one file, or a series' instances in order), checked against
 * `maps` (one map of rows x columns values per source frame; `what` names them in errors).
 */
export function derivedSource(
  sources: NaturalDataset | readonly NaturalDataset[],
  maps: readonly ArrayLike<number>[],
  what: string,
): DerivedSource {
  const list = Array.isArray(sources) ? sources : [sources as NaturalDataset];
  if (list.length === 0) throw new Error("DICOM: no source instance");
  const src = list[0]!;
  const rows = Number(src.Rows);
  const columns = Number(src.Columns);
  const shared = first(src.SharedFunctionalGroupsSequence);
  const iop =
    numbers(src.ImageOrientationPatient) ??
    numbers(first(shared?.PlaneOrientationSequence)?.ImageOrientationPatient);
  const frames: SourceFrame[] = [];
  for (const ds of list) {
    if (
      Number(ds.Rows) !== rows ||
      Number(ds.Columns) !== columns ||
      ds.StudyInstanceUID !== src.StudyInstanceUID
    )
      throw new Error(`DICOM: instance ${ds.SOPInstanceUID} differs from the first in size or study`);
    const n = Number(ds.NumberOfFrames ?? 1) || 1;
    const own = numbers(ds.ImageOrientationPatient) ?? iop;
    const sameOrientation = own?.length === 6 && iop?.every((v, k) => Math.abs(v - own[k]!) < 1e-4);
    const pos =
      sameOrientation && ds.FrameOfReferenceUID === src.FrameOfReferenceUID
        ? framePositions(ds, n, iop)
        : undefined;
    for (let f = 0; f < n; f++) frames.push({ ds, frame: f + 1, multiFrame: n > 1, position: pos?.[f] });
  }
  const srcFrames = frames.length;
  if (maps.length !== srcFrames)
    throw new Error(`DICOM: ${maps.length} ${what}s for a source of ${srcFrames} frame(s)`);
  for (const [f, l] of maps.entries())
    if (l.length !== rows * columns)
      throw new Error(`DICOM: ${what} ${f} has ${l.length} values, the source frame ${rows * columns}`);
  const positions = frames.every((f) => f.position) ? frames.map((f) => f.position!) : undefined;
  const geometry = iop?.length === 6 && positions !== undefined && !!src.FrameOfReferenceUID;
  const measures = first(shared?.PixelMeasuresSequence);
  const spacing = numbers(src.PixelSpacing) ?? numbers(measures?.PixelSpacing);
  // Slice thickness is required with a patient geometry; RT dose has none: its frame spacing.
  const between =
    positions && positions.length > 1 ? Math.hypot(...positions[1]!.map((p, k) => p - positions[0]![k]!)) : 0;
  const thickness =
    numbers(src.SliceThickness) ?? numbers(measures?.SliceThickness) ?? (between > 0 ? [between] : undefined);

  const sharedGroup: NaturalDataset = {};
  if (geometry) sharedGroup.PlaneOrientationSequence = [{ ImageOrientationPatient: iop }];
  if (spacing?.length === 2 && (thickness || !geometry)) {
    const m: NaturalDataset = { PixelSpacing: spacing };
    if (thickness) m.SliceThickness = thickness[0];
    sharedGroup.PixelMeasuresSequence = [m];
  }
  return { list, src, rows, columns, frames, geometry, positions, sharedGroup };
}

/** A per-frame derivation reference to source frame `from` (PS3.3 C.7.6.16.2.6). */
export function derivationItem(from: SourceFrame, derivation: ReturnType<typeof code>): NaturalDataset {
  const source: NaturalDataset = {
    ReferencedSOPClassUID: from.ds.SOPClassUID,
    ReferencedSOPInstanceUID: from.ds.SOPInstanceUID,
    PurposeOfReferenceCodeSequence: code("121322", "DCM", "Source image for image processing operation"),
  };
  if (from.multiFrame) source.ReferencedFrameNumber = from.frame;
  return { SourceImageSequence: [source], DerivationCodeSequence: derivation };
}

/**
 * The attributes of a new instance in a new series of the source's study: SOP, patient, study,
 * series, frame of reference (with a geometry), equipment, content date, the Common Instance
 * Reference to the sources, and the file meta. The caller adds its IOD's own modules.
 */
export function derivedHeader(
  s: DerivedSource,
  o: {
    sopClassUID: string;
    modality: string;
    seriesNumber: number;
    seriesDescription: string;
    softwareVersion: string;
  },
): NaturalDataset {
  const { src, list } = s;
  const now = dicomDateTime(new Date());
  const sopInstanceUID = DicomMetaDictionary.uid();
  const copy = (keys: string[]) => Object.fromEntries(keys.map((k) => [k, src[k] ?? ""]));
  return {
    ...(src.SpecificCharacterSet ? { SpecificCharacterSet: src.SpecificCharacterSet } : {}),
    SOPClassUID: o.sopClassUID,
    SOPInstanceUID: sopInstanceUID,
    ...copy(["PatientName", "PatientID", "PatientBirthDate", "PatientSex"]),
    ...copy([
      "StudyInstanceUID",
      "StudyDate",
      "StudyTime",
      "ReferringPhysicianName",
      "StudyID",
      "AccessionNumber",
    ]),
    Modality: o.modality,
    SeriesInstanceUID: DicomMetaDictionary.uid(),
    SeriesNumber: o.seriesNumber,
    SeriesDescription: o.seriesDescription,
    SeriesDate: now.date,
    SeriesTime: now.time,
    ...(s.geometry
      ? copy(["FrameOfReferenceUID", "PositionReferenceIndicator"])
      : copy(["PatientOrientation"])),
    Manufacturer: "udeg",
    ManufacturerModelName: "UDEG-Net",
    DeviceSerialNumber: "1",
    SoftwareVersions: o.softwareVersion,
    InstanceNumber: 1,
    ContentDate: now.date,
    ContentTime: now.time,
    ReferencedSeriesSequence: [...new Set(list.map((ds) => ds.SeriesInstanceUID))].map((series) => ({
      SeriesInstanceUID: series,
      ReferencedInstanceSequence: list
        .filter((ds) => ds.SeriesInstanceUID === series)
        .map((ds) => ({
          ReferencedSOPClassUID: ds.SOPClassUID,
          ReferencedSOPInstanceUID: ds.SOPInstanceUID,
        })),
    })),
    _meta: {
      FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
      MediaStorageSOPClassUID: o.sopClassUID,
      MediaStorageSOPInstanceUID: sopInstanceUID,
      TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
      ImplementationClassUID: "2.25.229451600072090404564544894284998027172",
      ImplementationVersionName: "UDEG",
    },
  };
}

/** The Part 10 bytes of a data set. */
export function datasetBytes(ds: NaturalDataset): Uint8Array {
  return new Uint8Array(dcmjs.data.datasetToBuffer(ds));
}
