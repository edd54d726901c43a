// NIfTI-1 writing: a header for a volume (or copied from a source), serialised with its voxels.
import {
  BYTES,
  DATATYPE_CODES,
  type NiftiDatatype,
  NiftiError,
  type NiftiHeader,
  type VoxelArray,
} from "./nifti-header.js";

/** The datatype that stores a typed array without loss. */
export function datatypeOf(data: VoxelArray): NiftiDatatype {
  if (data instanceof Uint8Array) return "uint8";
  if (data instanceof Int8Array) return "int8";
  if (data instanceof Int16Array) return "int16";
  if (data instanceof Uint16Array) return "uint16";
  if (data instanceof Int32Array) return "int32";
  if (data instanceof Uint32Array) return "uint32";
  if (data instanceof Float32Array) return "float32";
  return "float64";
}

export interface SerializeOptions {
  /**
   * Datatype to store (default: the template's when the data's array type stores it, else the
   * one matching the array type: Float64Array for an int64 template stays int64). When it differs from
   * the template's, scl_slope/scl_inter are reset to "no scaling" and cal_min/cal_max to 0,
   * because the template's scaling belongs to the template's stored values.
   */
  datatype?: NiftiDatatype;
  /** Keep the template's extension bytes (default true). */
  keepExtensions?: boolean;
  /** Replace the description (80 characters at most). */
  descrip?: string;
}

/**
 * A header for new data on the template's grid: same geometry (dim[1..3], pixdim, qform, sform,
 * units), the new datatype, dim[0] = 3 unless `shape` says otherwise.
 */
export function headerFor(
  template: NiftiHeader,
  shape: readonly number[],
  datatype: NiftiDatatype,
): NiftiHeader {
  const dim = [shape.length, ...shape];
  while (dim.length < 8) dim.push(1);
  const changed = datatype !== template.datatype;
  return {
    ...template,
    dim,
    datatype,
    bitpix: BYTES[datatype] * 8,
    sclSlope: changed ? 1 : template.sclSlope,
    sclInter: changed ? 0 : template.sclInter,
    calMin: changed ? 0 : template.calMin,
    calMax: changed ? 0 : template.calMax,
    glmin: 0,
    glmax: 0,
  };
}

/** Serialises a header + data (uncompressed .nii bytes, little-endian). */
export function serializeNifti(
  header: NiftiHeader,
  data: VoxelArray,
  options: SerializeOptions = {},
): Uint8Array {
  const own = datatypeOf(data);
  const keepsTemplate =
    own === header.datatype ||
    (own === "float64" && (header.datatype === "int64" || header.datatype === "uint64"));
  const datatype = options.datatype ?? (keepsTemplate ? header.datatype : own);
  const nd = header.dim[0]!;
  let nvox = 1;
  for (let d = 1; d <= nd; d++) nvox *= header.dim[d]!;
  if (nvox !== data.length) {
    throw new NiftiError(
      "(nifti)",
      "bad-argument",
      `header dim ${header.dim.slice(1, nd + 1).join("x")} holds ${nvox} voxels, the data has ${data.length}`,
    );
  }
  if (header.dim.some((d) => d > 32767)) {
    throw new NiftiError(
      "(nifti)",
      "bad-argument",
      `dim ${header.dim.slice(1, nd + 1).join("x")}: NIfTI-1, which udeg writes, holds at most 32767 per dimension`,
      "Crop or split the volume.",
    );
  }
  const h = datatype === header.datatype ? header : headerFor(header, header.dim.slice(1, nd + 1), datatype);
  let ext = options.keepExtensions === false ? new Uint8Array(4) : header.extensions;
  if (ext.length === 0) ext = new Uint8Array(4); // the 4-byte extender, all zero: no extensions
  const padded = Math.ceil((348 + ext.length) / 16) * 16; // vox_offset: a multiple of 16
  const size = BYTES[datatype];
  const out = new Uint8Array(padded + nvox * size);
  const v = new DataView(out.buffer);
  const le = true;
  v.setInt32(0, 348, le);
  out.set(h.legacy.subarray(0, 35), 4);
  out[39] = h.dimInfo;
  for (let k = 0; k < 8; k++) v.setInt16(40 + 2 * k, h.dim[k] ?? 0, le);
  v.setFloat32(56, h.intentP1, le);
  v.setFloat32(60, h.intentP2, le);
  v.setFloat32(64, h.intentP3, le);
  v.setInt16(68, h.intentCode, le);
  v.setInt16(70, DATATYPE_CODES[datatype], le);
  v.setInt16(72, size * 8, le);
  v.setInt16(74, h.sliceStart, le);
  for (let k = 0; k < 8; k++) v.setFloat32(76 + 4 * k, h.pixdim[k] ?? 0, le);
  v.setFloat32(108, padded, le);
  v.setFloat32(112, h.sclSlope, le);
  v.setFloat32(116, h.sclInter, le);
  v.setInt16(120, h.sliceEnd, le);
  out[122] = h.sliceCode;
  out[123] = h.xyztUnits;
  v.setFloat32(124, h.calMax, le);
  v.setFloat32(128, h.calMin, le);
  v.setFloat32(132, h.sliceDuration, le);
  v.setFloat32(136, h.toffset, le);
  v.setInt32(140, h.glmax, le);
  v.setInt32(144, h.glmin, le);
  writeString(out, 148, 80, options.descrip ?? h.descrip);
  writeString(out, 228, 24, h.auxFile);
  v.setInt16(252, h.qformCode, le);
  v.setInt16(254, h.sformCode, le);
  v.setFloat32(256, h.quaternB, le);
  v.setFloat32(260, h.quaternC, le);
  v.setFloat32(264, h.quaternD, le);
  v.setFloat32(268, h.qoffsetX, le);
  v.setFloat32(272, h.qoffsetY, le);
  v.setFloat32(276, h.qoffsetZ, le);
  for (let k = 0; k < 4; k++) {
    v.setFloat32(280 + 4 * k, h.srowX[k] ?? 0, le);
    v.setFloat32(296 + 4 * k, h.srowY[k] ?? 0, le);
    v.setFloat32(312 + 4 * k, h.srowZ[k] ?? 0, le);
  }
  writeString(out, 328, 16, h.intentName);
  out.set([0x6e, 0x2b, 0x31, 0], 344); // "n+1\0"
  out.set(ext, 348);
  writeVoxels(new DataView(out.buffer, padded), data, datatype);
  return out;
}

function writeString(out: Uint8Array, at: number, len: number, s: string): void {
  for (let i = 0; i < len; i++) out[at + i] = i < s.length ? s.charCodeAt(i) & 0xff : 0;
}

function writeVoxels(v: DataView, data: VoxelArray, dt: NiftiDatatype): void {
  const n = data.length;
  const integer = dt !== "float32" && dt !== "float64";
  const put = (i: number, x: number) => {
    switch (dt) {
      case "uint8":
        v.setUint8(i, x);
        break;
      case "int8":
        v.setInt8(i, x);
        break;
      case "int16":
        v.setInt16(2 * i, x, true);
        break;
      case "uint16":
        v.setUint16(2 * i, x, true);
        break;
      case "int32":
        v.setInt32(4 * i, x, true);
        break;
      case "uint32":
        v.setUint32(4 * i, x, true);
        break;
      case "float32":
        v.setFloat32(4 * i, x, true);
        break;
      case "float64":
        v.setFloat64(8 * i, x, true);
        break;
      case "int64":
        v.setBigInt64(8 * i, BigInt(x), true);
        break;
      case "uint64":
        v.setBigUint64(8 * i, BigInt(x), true);
        break;
    }
  };
  const [lo, hi] = RANGES[dt];
  for (let i = 0; i < n; i++) {
    let x = data[i]!;
    if (integer) {
      x = Number.isNaN(x) ? 0 : Math.round(x);
      if (x < lo) x = lo;
      else if (x > hi) x = hi;
    }
    put(i, x);
  }
}

const RANGES: Record<NiftiDatatype, [number, number]> = {
  uint8: [0, 255],
  int8: [-128, 127],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  float32: [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY],
  float64: [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY],
  int64: [-(2 ** 53), 2 ** 53],
  uint64: [0, 2 ** 53],
};

/**
 * A fresh header for a volume of `shape` with voxel `spacing` (mm) and no orientation beyond
 * the scanner-less default (qform_code 0, sform_code 1 with a diagonal affine).
 */
export function makeNiftiHeader(
  shape: readonly number[],
  datatype: NiftiDatatype,
  spacing: readonly number[] = [1, 1, 1],
): NiftiHeader {
  const dim = [shape.length, ...shape];
  while (dim.length < 8) dim.push(1);
  const pixdim = [1, ...spacing];
  while (pixdim.length < 8) pixdim.push(1);
  const sx = spacing[0] ?? 1;
  const sy = spacing[1] ?? 1;
  const sz = spacing[2] ?? 1;
  return {
    littleEndian: true,
    legacy: new Uint8Array(35),
    dimInfo: 0,
    dim,
    intentP1: 0,
    intentP2: 0,
    intentP3: 0,
    intentCode: 0,
    datatype,
    bitpix: BYTES[datatype] * 8,
    sliceStart: 0,
    pixdim,
    voxOffset: 352,
    sclSlope: 1,
    sclInter: 0,
    sliceEnd: 0,
    sliceCode: 0,
    xyztUnits: 2, // mm
    calMax: 0,
    calMin: 0,
    sliceDuration: 0,
    toffset: 0,
    glmax: 0,
    glmin: 0,
    descrip: "udeg",
    auxFile: "",
    qformCode: 0,
    sformCode: 1,
    quaternB: 0,
    quaternC: 0,
    quaternD: 0,
    qoffsetX: 0,
    qoffsetY: 0,
    qoffsetZ: 0,
    srowX: [sx, 0, 0, 0],
    srowY: [0, sy, 0, 0],
    srowZ: [0, 0, sz, 0],
    intentName: "",
    extensions: new Uint8Array(4),
  };
}
