// DICOM in and out: images (Part 10 or bare data sets; uncompressed, deflated, RLE, and the JPEG
// family through maintained WASM codecs), series in slice order, the objects udeg writes (SEG,
// FRACTIONAL SEG, Parametric Map) and a DICOMweb client.
// - dicom.ts: the pixel module and its refusals (pure); dicom-display.ts: modality values to the
//   model's 0..255; dicom-codecs.ts: the JPEG-family codecs; dicom-node.ts: decoding in Node
// - dicom-order.ts, dicom-series.ts: slice order and series (and a series as a volume)
// - dicom-derived.ts, dicom-seg.ts, dicom-pmap.ts: the derived multi-frame objects written
// - dicomweb.ts, multipart.ts: QIDO-RS, WADO-RS, STOW-RS and their multipart bodies
// - dcmjs.d.ts: the part of dcmjs (no bundled types) udeg uses
export * from "./dicom.js";
export * from "./dicom-display.js";
export * from "./dicom-node.js";
export * from "./dicom-order.js";
export * from "./dicom-pmap.js";
export * from "./dicom-seg.js";
export * from "./dicom-series.js";
export * from "./dicomweb.js";
