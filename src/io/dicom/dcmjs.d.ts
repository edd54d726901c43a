// The part of dcmjs (0.51, no bundled types) that udeg uses: reading a Part 10 file into a
// "naturalized" data set (keywords as keys) and writing one back.
declare module "dcmjs" {
  /** A data set with DICOM keywords as keys; sequences as arrays of data sets. */
  export type NaturalDataset = Record<string, unknown>;
  interface DicomDictLike {
    meta: Record<string, unknown>;
    dict: Record<string, unknown>;
  }
  const dcmjs: {
    data: {
      DicomMessage: { readFile(buffer: ArrayBuffer, options?: Record<string, unknown>): DicomDictLike };
      DicomMetaDictionary: {
        naturalizeDataset(dict: Record<string, unknown>): NaturalDataset;
        namifyDataset(dict: Record<string, unknown>): NaturalDataset;
        uid(): string;
      };
      datasetToBuffer(dataset: NaturalDataset): Buffer;
    };
    log: { getLogger(name: string): { setLevel(level: "silent" | "error" | "warn" | "info"): void } };
  };
  export default dcmjs;
}
