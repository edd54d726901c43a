// DICOM Segmentation Storage (SEG, BINARY) from per-frame label maps: one segment per class,
// each a frame per source frame, referencing the source instance and frame, in the source's
// study (and frame of reference, where it has one) as a new series. dcmjs reads the source and
// writes the result; the data set itself is filled here, module by module (PS3.3 A.51), because
// dcmjs 0.51's derivations.Segmentation needs a normalized multi-frame source and its Normalizer
// throws on a single instance ("Cannot populate shared groups uniquely without multiple frames",
// on pydicom's CT_small.dcm), which is what `udeg predict` gets. The tests validate the output
// with dciodvfy (dicom3tools) and read it back with pydicom.
import dcmjs, { type NaturalDataset } from "dcmjs";

const { DicomMessage, DicomMetaDictionary } = dcmjs.data;
// dcmjs logs oddities of the files it reads ("Invalid vr type ox - using OW") to the console;
// the decoder (src/io/dicom.ts) is what judges a source file here.
dcmjs.log.getLogger("validation.dcmjs").setLevel("silent");

export const SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4";
const EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1";

export interface SegSegment {
  label: string;
  /** Display colour, sRGB 0..255 (stored as DICOM's scaled CIELab). */
  rgb: readonly [number, number, number];
}

export interface SegOptions {
  /** Segment k + 1 is label value k + 1 in the maps. */
  segments: readonly SegSegment[];
  softwareVersion: string;
  seriesDescription?: string;
  algorithmName?: string;
}

/** A Part 10 file as a dcmjs "naturalized" data set (keywords as keys), its meta under `_meta`. */
export function readDicomDataset(bytes: Uint8Array): NaturalDataset {
  const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const dict = DicomMessage.readFile(copy);
  const ds = DicomMetaDictionary.naturalizeDataset(dict.dict);
  ds._meta = DicomMetaDictionary.namifyDataset(dict.meta);
  return ds;
}

const code = (value: string, scheme: string, meaning: string) => [
  { CodeValue: value, CodingSchemeDesignator: scheme, CodeMeaning: meaning },
];

/** sRGB 0..255 -> CIELab (D65) scaled to 0..65535 as RecommendedDisplayCIELabValue wants. */
export function dicomLab([r, g, b]: readonly [number, number, number]): [number, number, number] {
  const lin = (c: number) => {
    const v = c / 255;
    return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const [R, G, B] = [lin(r), lin(g), lin(b)];
  const x = (0.4124564 * R + 0.3575761 * G + 0.1804375 * B) / 0.95047;
  const y = 0.2126729 * R + 0.7151522 * G + 0.072175 * B;
  const z = (0.0193339 * R + 0.119192 * G + 0.9503041 * B) / 1.08883;
  const f = (t: number) => (t > 216 / 24389 ? Math.cbrt(t) : ((24389 / 27) * t + 16) / 116);
  const L = 116 * f(y) - 16;
  const a = 500 * (f(x) - f(y));
  const bb = 200 * (f(y) - f(z));
  const clamp = (v: number) => Math.max(0, Math.min(65535, Math.round(v)));
  return [clamp((L * 65535) / 100), clamp(((a + 128) * 65535) / 255), clamp(((bb + 128) * 65535) / 255)];
}

function numbers(v: unknown): number[] | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  const arr = (Array.isArray(v) ? v : [v]).map(Number);
  return arr.every(Number.isFinite) ? arr : undefined;
}

const first = (v: unknown): NaturalDataset | undefined =>
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
interface SourceFrame {
  ds: NaturalDataset;
  frame: number;
  multiFrame: boolean;
  position?: number[];
}

/**
 * A SEG for `labels` (one map per source frame, rows x columns, values 0..segments.length) over
 * the source instances (readDicomDataset; one file, or a series' instances in the order of the
 * maps). Returns the Part 10 file bytes.
 */
export function segmentationFromLabels(
  sources: NaturalDataset | readonly NaturalDataset[],
  labels: readonly Uint8Array[],
  o: SegOptions,
): Uint8Array {
  return segmentation(
    sources,
    labels,
    "label map",
    { kind: "BINARY", value: (s, f, i) => labels[f]![i] === s },
    o,
  );
}

/**
 * A FRACTIONAL SEG (PROBABILITY, 8-bit, 255 = 1) of per-class probabilities: `probabilities[f][k]`
 * is class k + 1's probability map (0..1) on source frame f. How sure the model is, per pixel,
 * in the form SEG viewers show as a soft overlay (the uncertainty map is not a segment property,
 * so it is not written this way).
 */
export function probabilitySegmentation(
  sources: NaturalDataset | readonly NaturalDataset[],
  probabilities: readonly (readonly Float32Array[])[],
  o: SegOptions,
): Uint8Array {
  for (const [f, maps] of probabilities.entries())
    if (maps.length !== o.segments.length)
      throw new Error(
        `SEG: frame ${f} has ${maps.length} probability maps for ${o.segments.length} segments`,
      );
  const sizes = probabilities.map((maps) => maps[0] ?? new Float32Array(0));
  return segmentation(
    sources,
    sizes,
    "probability map",
    { kind: "FRACTIONAL", value: (s, f, i) => probabilities[f]![s - 1]![i]! },
    o,
  );
}

type Pixels =
  | { kind: "BINARY"; value: (segment: number, frame: number, pixel: number) => boolean }
  | { kind: "FRACTIONAL"; value: (segment: number, frame: number, pixel: number) => number };

function segmentation(
  sources: NaturalDataset | readonly NaturalDataset[],
  labels: readonly ArrayLike<number>[],
  what: string,
  pixels: Pixels,
  o: SegOptions,
): Uint8Array {
  const list = Array.isArray(sources) ? sources : [sources as NaturalDataset];
  if (list.length === 0) throw new Error("SEG: no source instance");
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
      throw new Error(`SEG: instance ${ds.SOPInstanceUID} differs from the first in size or study`);
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
  if (labels.length !== srcFrames)
    throw new Error(`SEG: ${labels.length} ${what}s for a source of ${srcFrames} frame(s)`);
  for (const [f, l] of labels.entries())
    if (l.length !== rows * columns)
      throw new Error(`SEG: ${what} ${f} has ${l.length} values, the source frame ${rows * columns}`);
  const positions = frames.every((f) => f.position) ? frames.map((f) => f.position!) : undefined;
  const geometry = iop?.length === 6 && positions !== undefined && !!src.FrameOfReferenceUID;
  const measures = first(shared?.PixelMeasuresSequence);
  const spacing = numbers(src.PixelSpacing) ?? numbers(measures?.PixelSpacing);
  // Slice thickness is required with a patient geometry; RT dose has none: its frame spacing.
  const between =
    positions && positions.length > 1 ? Math.hypot(...positions[1]!.map((p, k) => p - positions[0]![k]!)) : 0;
  const thickness =
    numbers(src.SliceThickness) ?? numbers(measures?.SliceThickness) ?? (between > 0 ? [between] : undefined);

  const now = dicomDateTime(new Date());
  const sopInstanceUID = DicomMetaDictionary.uid();
  const dimensionUID = DicomMetaDictionary.uid();
  const segments = o.segments.map((s, k) => ({
    SegmentNumber: k + 1,
    SegmentLabel: s.label,
    SegmentAlgorithmType: "AUTOMATIC",
    SegmentAlgorithmName: o.algorithmName ?? "UDEG-Net",
    SegmentedPropertyCategoryCodeSequence: code("91723000", "SCT", "Anatomical Structure"),
    SegmentedPropertyTypeCodeSequence: code("91723000", "SCT", "Anatomical Structure"),
    RecommendedDisplayCIELabValue: dicomLab(s.rgb),
  }));

  const perFrame: NaturalDataset[] = [];
  const nFrames = segments.length * srcFrames;
  const fractional = pixels.kind === "FRACTIONAL";
  const plane = rows * columns;
  // BINARY: one bit a pixel, frames back to back; FRACTIONAL: one byte (255 = 1). Even length.
  const packed = new Uint8Array(Math.ceil((fractional ? nFrames * plane : (nFrames * plane) / 8) / 2) * 2);
  let at = 0;
  for (let s = 1; s <= segments.length; s++) {
    for (let f = 0; f < srcFrames; f++) {
      if (pixels.kind === "FRACTIONAL")
        for (let i = 0; i < plane; i++, at++)
          packed[at] = Math.round(255 * Math.min(1, Math.max(0, pixels.value(s, f, i))));
      else for (let i = 0; i < plane; i++, at++) if (pixels.value(s, f, i)) packed[at >> 3]! |= 1 << (at & 7);
      const from = frames[f]!;
      const source: NaturalDataset = {
        ReferencedSOPClassUID: from.ds.SOPClassUID,
        ReferencedSOPInstanceUID: from.ds.SOPInstanceUID,
        PurposeOfReferenceCodeSequence: code("121322", "DCM", "Source image for image processing operation"),
      };
      if (from.multiFrame) source.ReferencedFrameNumber = from.frame;
      const item: NaturalDataset = {
        DerivationImageSequence: [
          { SourceImageSequence: [source], DerivationCodeSequence: code("113076", "DCM", "Segmentation") },
        ],
        FrameContentSequence: [
          geometry
            ? { DimensionIndexValues: [s, f + 1] }
            : { StackID: "1", InStackPositionNumber: f + 1, DimensionIndexValues: [s, f + 1] },
        ],
        SegmentIdentificationSequence: [{ ReferencedSegmentNumber: s }],
      };
      if (geometry) item.PlanePositionSequence = [{ ImagePositionPatient: positions[f] }];
      perFrame.push(item);
    }
  }

  const sharedGroup: NaturalDataset = {};
  if (geometry) sharedGroup.PlaneOrientationSequence = [{ ImageOrientationPatient: iop }];
  if (spacing?.length === 2 && (thickness || !geometry)) {
    const m: NaturalDataset = { PixelSpacing: spacing };
    if (thickness) m.SliceThickness = thickness[0];
    sharedGroup.PixelMeasuresSequence = [m];
  }
  const positionDimension = geometry
    ? { pointer: 0x00200032, group: 0x00209113, label: "ImagePositionPatient" }
    : { pointer: 0x00209057, group: 0x00209111, label: "InStackPositionNumber" };

  const copy = (keys: string[]) => Object.fromEntries(keys.map((k) => [k, src[k] ?? ""]));
  const ds: NaturalDataset = {
    ...(src.SpecificCharacterSet ? { SpecificCharacterSet: src.SpecificCharacterSet } : {}),
    SOPClassUID: SEGMENTATION_STORAGE,
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
    Modality: "SEG",
    SeriesInstanceUID: DicomMetaDictionary.uid(),
    SeriesNumber: 9001,
    SeriesDescription: o.seriesDescription ?? (fractional ? "UDEG-Net probability" : "UDEG-Net segmentation"),
    SeriesDate: now.date,
    SeriesTime: now.time,
    ...(geometry
      ? copy(["FrameOfReferenceUID", "PositionReferenceIndicator"])
      : copy(["PatientOrientation"])),
    Manufacturer: "udeg",
    ManufacturerModelName: "UDEG-Net",
    DeviceSerialNumber: "1",
    SoftwareVersions: o.softwareVersion,
    InstanceNumber: 1,
    ContentDate: now.date,
    ContentTime: now.time,
    ImageType: ["DERIVED", "PRIMARY"],
    ContentLabel: fractional ? "UDEG_NET_PROB" : "UDEG_NET",
    ContentDescription: fractional ? "Class probabilities (UDEG-Net)" : "Automatic segmentation (UDEG-Net)",
    ContentCreatorName: "",
    SamplesPerPixel: 1,
    PhotometricInterpretation: "MONOCHROME2",
    Rows: rows,
    Columns: columns,
    BitsAllocated: fractional ? 8 : 1,
    BitsStored: fractional ? 8 : 1,
    HighBit: fractional ? 7 : 0,
    PixelRepresentation: 0,
    LossyImageCompression: "00",
    SegmentationType: pixels.kind,
    ...(fractional ? { SegmentationFractionalType: "PROBABILITY", MaximumFractionalValue: 255 } : {}),
    SegmentSequence: segments,
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: dimensionUID }],
    DimensionIndexSequence: [
      {
        DimensionOrganizationUID: dimensionUID,
        DimensionIndexPointer: 0x0062000b,
        FunctionalGroupPointer: 0x0062000a,
        DimensionDescriptionLabel: "ReferencedSegmentNumber",
      },
      {
        DimensionOrganizationUID: dimensionUID,
        DimensionIndexPointer: positionDimension.pointer,
        FunctionalGroupPointer: positionDimension.group,
        DimensionDescriptionLabel: positionDimension.label,
      },
    ],
    NumberOfFrames: nFrames,
    SharedFunctionalGroupsSequence: [sharedGroup],
    PerFrameFunctionalGroupsSequence: perFrame,
    ReferencedSeriesSequence: [...new Set(list.map((ds) => ds.SeriesInstanceUID))].map((series) => ({
      SeriesInstanceUID: series,
      ReferencedInstanceSequence: list
        .filter((ds) => ds.SeriesInstanceUID === series)
        .map((ds) => ({
          ReferencedSOPClassUID: ds.SOPClassUID,
          ReferencedSOPInstanceUID: ds.SOPInstanceUID,
        })),
    })),
    PixelData: packed.buffer,
    _vrMap: { PixelData: "OB" },
    _meta: {
      FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
      MediaStorageSOPClassUID: SEGMENTATION_STORAGE,
      MediaStorageSOPInstanceUID: sopInstanceUID,
      TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
      ImplementationClassUID: "2.25.229451600072090404564544894284998027172",
      ImplementationVersionName: "UDEG",
    },
  };
  return new Uint8Array(dcmjs.data.datasetToBuffer(ds));
}
