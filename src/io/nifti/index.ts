// NIfTI volumes: single-file .nii and .nii.gz, NIfTI-1 and NIfTI-2, read and written.
// - nifti.ts: the Node entry (files, gzip) over nifti-format.ts, the pure part the page uses:
//   nifti-header.ts (header and volume types, datatypes), nifti-parse.ts (parsing and its checks),
//   nifti-slices.ts (scaling, 2-D slices along a voxel axis), nifti-write.ts (headers, serialising).
export * from "./nifti.js";
