// DICOM Segmentation Storage (SEG, BINARY) from per-frame label maps: one segment per class,
// each a frame per source frame, referencing the source instance and frame, in the source's
// study (and frame of reference, where it has one) as a new series. dcmjs reads the source and
// writes the result; the data set itself is filled here, module by module (PS3.3 A.51), because
// dcmjs 0.51's derivations.Segmentation needs a normalized multi-frame source and its Normalizer
// throws on a single instance ("Cannot populate shared groups uniquely without multiple frames",
// on pydicom's CT_small.dcm), which is what `udeg predict` gets. What SEG shares with the
// Parametric Map (source frames, geometry, header) is dicom-derived.ts. The tests validate the
// output with dciodvfy (dicom3tools) and read it back with pydicom.
import dcmjs, { type NaturalDataset } from "dcmjs";
import { code, datasetBytes, derivationItem, derivedHeader, derivedSource } from "./dicom-derived.js";

export { framePositions, readDicomDataset } from "./dicom-derived.js";

const { DicomMetaDictionary } = dcmjs.data;

export const SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4";

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
  /** ContentDescription (LO, at most 64 characters); the default names the kind of SEG. */
  contentDescription?: string;
  algorithmName?: string;
}

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
  const source = derivedSource(sources, labels, what);
  const { rows, columns, frames, geometry, positions } = source;
  const srcFrames = frames.length;
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
      const item: NaturalDataset = {
        DerivationImageSequence: [derivationItem(frames[f]!, code("113076", "DCM", "Segmentation"))],
        FrameContentSequence: [
          geometry
            ? { DimensionIndexValues: [s, f + 1] }
            : { StackID: "1", InStackPositionNumber: f + 1, DimensionIndexValues: [s, f + 1] },
        ],
        SegmentIdentificationSequence: [{ ReferencedSegmentNumber: s }],
      };
      if (geometry) item.PlanePositionSequence = [{ ImagePositionPatient: positions![f] }];
      perFrame.push(item);
    }
  }
  const positionDimension = geometry
    ? { pointer: 0x00200032, group: 0x00209113, label: "ImagePositionPatient" }
    : { pointer: 0x00209057, group: 0x00209111, label: "InStackPositionNumber" };

  const ds: NaturalDataset = {
    ...derivedHeader(source, {
      sopClassUID: SEGMENTATION_STORAGE,
      modality: "SEG",
      seriesNumber: 9001,
      seriesDescription:
        o.seriesDescription ?? (fractional ? "UDEG-Net probability" : "UDEG-Net segmentation"),
      softwareVersion: o.softwareVersion,
    }),
    ImageType: ["DERIVED", "PRIMARY"],
    ContentLabel: fractional ? "UDEG_NET_PROB" : "UDEG_NET",
    ContentDescription:
      o.contentDescription ??
      (fractional ? "Class probabilities (UDEG-Net)" : "Automatic segmentation (UDEG-Net)"),
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
    SharedFunctionalGroupsSequence: [source.sharedGroup],
    PerFrameFunctionalGroupsSequence: perFrame,
    PixelData: packed.buffer,
    _vrMap: { PixelData: "OB" },
  };
  return datasetBytes(ds);
}
