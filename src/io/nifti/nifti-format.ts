// NIfTI-1 volumes in memory: header parsing, voxels, slices, serialising. Pure (no Node.js
// built-ins), so the web viewer uses it too; nifti.ts adds files and gzip and says what is read.
export * from "./nifti-header.js";
export * from "./nifti-parse.js";
export * from "./nifti-slices.js";
export * from "./nifti-write.js";
