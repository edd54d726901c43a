// Stands in for Node's zlib in the page's bundle: dicom-parser only touches it for deflated DICOM,
// and the page inflates those before parsing (decodeDicomAsync), so this is never called.
export function inflateRawSync(): never {
  throw new Error("zlib is not available in the browser");
}
export default { inflateRawSync };
