// NIfTI-1 in memory, the shared part: the header and volume types, datatypes and their codes,
// and the error every NIfTI module throws. Pure (no Node.js built-ins), as all nifti-*.ts but nifti.ts.
import { FileError } from "../file-error.js";

export type NiftiErrorCode = "io" | "corrupt" | "truncated" | "unsupported" | "bad-argument";

/** Every failure in this module: names the file, says what is wrong and what to do. */
export class NiftiError extends FileError<NiftiErrorCode> {
  override name = "NiftiError";
}

export const DAMAGED = "The file is damaged or incomplete: re-download or re-export it.";

/** The NIfTI datatypes read and written here. */
export type NiftiDatatype =
  | "uint8"
  | "int8"
  | "int16"
  | "uint16"
  | "int32"
  | "uint32"
  | "float32"
  | "float64"
  | "int64"
  | "uint64";

export const DATATYPE_CODES: Record<NiftiDatatype, number> = {
  uint8: 2,
  int16: 4,
  int32: 8,
  float32: 16,
  float64: 64,
  int8: 256,
  uint16: 512,
  uint32: 768,
  int64: 1024,
  uint64: 1280,
};
export const CODE_NAMES = new Map<number, NiftiDatatype>(
  Object.entries(DATATYPE_CODES).map(([k, v]) => [v, k as NiftiDatatype]),
);
export const BYTES: Record<NiftiDatatype, number> = {
  uint8: 1,
  int8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  float32: 4,
  float64: 8,
  int64: 8,
  uint64: 8,
};
export const OTHER_CODES: Record<number, string> = {
  1: "binary",
  32: "complex64",
  128: "RGB24",
  1536: "float128",
  1792: "complex128",
  2048: "complex256",
  2304: "RGBA32",
};

/** Voxel data in its stored type; 64-bit integers are read as float64 (exact up to 2^53). */
export type VoxelArray =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array;

/**
 * Every field of the 348-byte NIfTI-1 header. Unused legacy fields (data_type, db_name, extents,
 * session_error, regular) are kept as they were so that a header writes back byte for byte.
 */
export interface NiftiHeader {
  littleEndian: boolean;
  /** Legacy bytes 4..39 (data_type, db_name, extents, session_error, regular), kept raw. */
  legacy: Uint8Array;
  dimInfo: number;
  /** dim[0..7]: dim[0] is the number of dimensions, dim[1..] the sizes. */
  dim: number[];
  intentP1: number;
  intentP2: number;
  intentP3: number;
  intentCode: number;
  datatype: NiftiDatatype;
  bitpix: number;
  sliceStart: number;
  /** pixdim[0..7]: pixdim[0] is qfac (+-1), pixdim[1..3] the voxel spacing. */
  pixdim: number[];
  voxOffset: number;
  sclSlope: number;
  sclInter: number;
  sliceEnd: number;
  sliceCode: number;
  xyztUnits: number;
  calMax: number;
  calMin: number;
  sliceDuration: number;
  toffset: number;
  glmax: number;
  glmin: number;
  descrip: string;
  auxFile: string;
  qformCode: number;
  sformCode: number;
  quaternB: number;
  quaternC: number;
  quaternD: number;
  qoffsetX: number;
  qoffsetY: number;
  qoffsetZ: number;
  srowX: number[];
  srowY: number[];
  srowZ: number[];
  intentName: string;
  /** Extension bytes between the header and vox_offset (the 4-byte extender included). */
  extensions: Uint8Array;
}

export interface NiftiVolume {
  header: NiftiHeader;
  /** Sizes along i, j, k (1 where the volume has fewer dimensions), then t, ... */
  shape: number[];
  /** Stored values, not scaled; i fastest (Fortran order), as on disk. */
  data: VoxelArray;
}

export function allocate(dt: NiftiDatatype, n: number): VoxelArray {
  switch (dt) {
    case "uint8":
      return new Uint8Array(n);
    case "int8":
      return new Int8Array(n);
    case "int16":
      return new Int16Array(n);
    case "uint16":
      return new Uint16Array(n);
    case "int32":
      return new Int32Array(n);
    case "uint32":
      return new Uint32Array(n);
    case "float32":
      return new Float32Array(n);
    case "float64":
    case "int64":
    case "uint64":
      return new Float64Array(n);
  }
}
