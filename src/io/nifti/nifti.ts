// NIfTI volumes: single-file .nii and .nii.gz, NIfTI-1 and NIfTI-2 (gzip detected from the bytes,
// not the name; written as NIfTI-1).
//
// Reading keeps every header field, qform/sform included, so a prediction can be written back
// with the header of the image it came from (same geometry, new datatype). Slices are 2-D float
// arrays along a chosen voxel axis, in the file's own voxel order: for axis 2 the slice is
// [rows = i, cols = j], i.e. what nibabel's `img.get_fdata()[:, :, k]` gives. No reorientation
// to RAS or to a radiological display is done; that is the caller's business (and must then be
// undone before writing a prediction back).
//
// Not read: the two-file .hdr/.img form, complex and RGB datatypes.

import { open, readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { constants, gunzip, gunzipSync, gzipSync } from "node:zlib";
import { writeFileAtomic } from "../atomic.js";
import {
  gzipError,
  isGzip,
  NiftiError,
  type NiftiHeader,
  type NiftiVolume,
  parseNiftiHeader,
  parseNiftiUncompressed,
  type SerializeOptions,
  serializeNifti,
  type VoxelArray,
} from "./nifti-format.js";

export * from "./nifti-format.js";

const gunzipAsync = promisify(gunzip);

// ---------------------------------------------------------------------------------------------
// Reading

/** Reads a .nii or .nii.gz file. */
/** A failed open or read, as a NiftiError naming the file. */
function readError(path: string, err: unknown): NiftiError {
  const e = err as NodeJS.ErrnoException;
  const problem = e.code === "ENOENT" ? "file not found" : `cannot read the file (${e.message})`;
  return new NiftiError(path, "io", problem, "", { cause: err });
}

export async function readNifti(path: string): Promise<NiftiVolume> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw readError(path, err);
  }
  if (isGzip(bytes)) {
    try {
      bytes = await gunzipAsync(bytes);
    } catch (err) {
      throw gzipError(path, err);
    }
  }
  return parseNifti(bytes, path);
}

/**
 * Reads only the header (and extensions) of a .nii or .nii.gz file: for a gzip file only the
 * first kilobytes are decompressed. For listing shapes without loading volumes.
 */
export async function readNiftiHeader(path: string): Promise<NiftiHeader> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, "r");
  } catch (err) {
    throw readError(path, err);
  }
  try {
    const size = (await fh.stat()).size;
    for (let want = 1 << 16; ; want *= 4) {
      const len = Math.min(want, size);
      const buf = new Uint8Array(len);
      await fh.read(buf, 0, len, 0);
      let bytes: Uint8Array = buf;
      if (isGzip(buf)) {
        try {
          bytes = gunzipSync(buf, { finishFlush: constants.Z_SYNC_FLUSH });
        } catch (err) {
          throw gzipError(path, err);
        }
      }
      let enough = false;
      if (bytes.length >= 548) {
        const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        const two = v.getInt32(0, true) === 540 || v.getInt32(0, false) === 540; // NIfTI-2
        const le = v.getInt32(0, true) === (two ? 540 : 348);
        const voxOffset = two ? Number(v.getBigInt64(168, le)) : v.getFloat32(108, le);
        enough = bytes.length >= voxOffset || !(voxOffset < 2 ** 26); // a garbage offset: let the parser say so
      }
      if (enough || len === size) return parseNiftiHeader(bytes, path);
    }
  } finally {
    await fh.close();
  }
}

/** Parses NIfTI-1 or NIfTI-2 bytes (gzip-compressed or not); `name` is used in errors. */
export function parseNifti(bytes: Uint8Array, name = "(nifti)"): NiftiVolume {
  if (isGzip(bytes)) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw gzipError(name, err);
    }
  }
  return parseNiftiUncompressed(bytes, name);
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * Writes a NIfTI-1 file with `header` as the template (use headerFor() to put new data on an
 * image's grid). Gzip-compressed when the path ends in .gz. Integer datatypes round and clamp.
 */
export async function writeNifti(
  path: string,
  header: NiftiHeader,
  data: VoxelArray,
  options: SerializeOptions = {},
): Promise<void> {
  let bytes = serializeNifti(header, data, options);
  if (path.toLowerCase().endsWith(".gz")) bytes = gzipSync(bytes, { level: 6 });
  try {
    // Atomic (temporary file + rename): a killed writer never leaves half a file, and a
    // retried prediction job rewrites the same file whole.
    writeFileAtomic(path, bytes);
  } catch (err) {
    throw new NiftiError(path, "io", `cannot write the file (${(err as Error).message})`, "", { cause: err });
  }
}
