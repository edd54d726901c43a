// The uncertainty map as a DICOM Parametric Map (PS3.3 A.75): one frame per source frame, 16-bit
// unsigned pixels with a Real World Value Mapping (value / 65535 = the uncertainty in [0, 1], K / S
// of the evidential head), on the source's grid and frame of reference, referencing its frames.
// Why a Parametric Map and not a SEG: the uncertainty is not the probability of a segment, it is
// a quantity per pixel; the Parametric Map is the IOD for such maps, and OHIF and 3D Slicer
// (QIICR's dcmqi) show it as a scalar overlay with its real-world value. 16-bit integers rather
// than float pixel data: dcmjs 0.51 writes OW pixel data as it does for SEG, and 1/65535 is finer
// than the map's own precision. Modality RWV (real world value map): a DICOMweb client tells it
// from the images (`udeg predict --dicomweb` skips it as input). dcmjs has no Parametric Map derivation, so the modules are filled
// here, as for SEG (dicom-seg.ts); tests validate with dciodvfy and read back with pydicom.
import dcmjs, { type NaturalDataset } from "dcmjs";
import { code, datasetBytes, derivationItem, derivedHeader, derivedSource } from "./dicom-derived.js";

const { DicomMetaDictionary } = dcmjs.data;

export const PARAMETRIC_MAP_STORAGE = "1.2.840.10008.5.1.4.1.1.30";
/** Pixel value of uncertainty 1. */
export const UNCERTAINTY_SCALE = 65535;

/**
 * A Parametric Map of `maps` (one uncertainty map in [0, 1] per source frame, rows x columns)
 * over the source instances (one file, or a series' instances in the order of the maps). The
 * Parametric Map requires a frame of reference: sources without a patient geometry (a secondary
 * capture, say) get an Error saying so. Returns the Part 10 file bytes.
 */
export function uncertaintyParametricMap(
  sources: NaturalDataset | readonly NaturalDataset[],
  maps: readonly Float32Array[],
  o: { softwareVersion: string },
): Uint8Array {
  const source = derivedSource(sources, maps, "uncertainty map");
  const { rows, columns, frames, positions } = source;
  if (!source.geometry)
    throw new Error(
      "the source has no patient geometry (orientation, positions, frame of reference), which a Parametric Map needs",
    );
  const plane = rows * columns;
  const pixels = new Uint16Array(frames.length * plane);
  for (const [f, map] of maps.entries())
    for (let i = 0; i < plane; i++)
      pixels[f * plane + i] = Math.round(UNCERTAINTY_SCALE * Math.min(1, Math.max(0, map[i]! || 0)));
  const imageType = ["DERIVED", "PRIMARY", "VOLUME", "NONE"];
  const dimensionUID = DicomMetaDictionary.uid();
  const perFrame = frames.map((from, f) => ({
    DerivationImageSequence: [derivationItem(from, code("113076", "DCM", "Segmentation"))],
    FrameContentSequence: [{ DimensionIndexValues: [f + 1] }],
    PlanePositionSequence: [{ ImagePositionPatient: positions![f] }],
  }));
  const shared: NaturalDataset = {
    ...source.sharedGroup,
    PixelValueTransformationSequence: [{ RescaleIntercept: 0, RescaleSlope: 1, RescaleType: "US" }],
    FrameVOILUTSequence: [
      { WindowCenter: UNCERTAINTY_SCALE / 2, WindowWidth: UNCERTAINTY_SCALE, VOILUTFunction: "LINEAR" },
    ],
    ParametricMapFrameTypeSequence: [{ FrameType: imageType }],
    RealWorldValueMappingSequence: [
      {
        LUTExplanation: "Evidential uncertainty K / S (0: sure, 1: no evidence)",
        LUTLabel: "UNCERTAINTY",
        MeasurementUnitsCodeSequence: code("1", "UCUM", "no units"),
        RealWorldValueFirstValueMapped: 0,
        RealWorldValueLastValueMapped: UNCERTAINTY_SCALE,
        RealWorldValueIntercept: 0,
        RealWorldValueSlope: 1 / UNCERTAINTY_SCALE,
      },
    ],
  };
  const ds: NaturalDataset = {
    ...derivedHeader(source, {
      sopClassUID: PARAMETRIC_MAP_STORAGE,
      modality: "RWV",
      seriesNumber: 9003,
      seriesDescription: "UDEG-Net uncertainty",
      softwareVersion: o.softwareVersion,
    }),
    // Type 2C in the General Series module; dciodvfy asks for it here (empty when unknown).
    Laterality: source.src.Laterality ?? "",
    ImageType: imageType,
    ContentQualification: "RESEARCH",
    ContentLabel: "UNCERTAINTY",
    ContentDescription: "Evidential uncertainty (UDEG-Net)",
    ContentCreatorName: "",
    BurnedInAnnotation: "NO",
    RecognizableVisualFeatures: "NO",
    LossyImageCompression: "00",
    PresentationLUTShape: "IDENTITY",
    SamplesPerPixel: 1,
    PhotometricInterpretation: "MONOCHROME2",
    Rows: rows,
    Columns: columns,
    BitsAllocated: 16,
    BitsStored: 16,
    HighBit: 15,
    PixelRepresentation: 0,
    AcquisitionContextSequence: [],
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: dimensionUID }],
    DimensionIndexSequence: [
      {
        DimensionOrganizationUID: dimensionUID,
        DimensionIndexPointer: 0x00200032,
        FunctionalGroupPointer: 0x00209113,
        DimensionDescriptionLabel: "ImagePositionPatient",
      },
    ],
    NumberOfFrames: frames.length,
    SharedFunctionalGroupsSequence: [shared],
    PerFrameFunctionalGroupsSequence: perFrame,
    PixelData: pixels.buffer,
    _vrMap: { PixelData: "OW" },
  };
  return datasetBytes(ds);
}
