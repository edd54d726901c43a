// What the prediction flows share: output names from input paths, the overlay's grey plane.
import { basename, extname } from "node:path";
import type { PlanarImage } from "../io/planar-image.js";

export const NIFTI = /\.nii(\.gz)?$/i;
export const DICOM = /\.(dcm|dicom)$/i;

/** The input's name without folder and extension(s): outputs are NAME_mask.png etc. */
export function stem(path: string): string {
  return basename(path)
    .replace(NIFTI, "")
    .replace(DICOM, "")
    .replace(extname(basename(path).replace(NIFTI, "")), "");
}

/** One grey plane (channel mean) of planar 0..255 data, for the overlay. */
export function greyOf(img: PlanarImage): Float32Array {
  const n = img.height * img.width;
  const out = new Float32Array(n);
  // Summed in doubles, then divided: three equal planes give their value exactly.
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let c = 0; c < img.channels; c++) sum += img.data[c * n + i]!;
    out[i] = sum / img.channels;
  }
  return out;
}
