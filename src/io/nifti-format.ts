// NIfTI-1 volumes in memory: header parsing, voxels, slices, serialising. Pure (no Node.js
// built-ins), so the web viewer uses it too; nifti.ts adds files and gzip and says what is read.

import { FileError } from "./file-error.js";

export type NiftiErrorCode = "io" | "corrupt" | "truncated" | "unsupported" | "bad-argument";

/** Every failure in this module: names the file, says what is wrong and what to do. */
export class NiftiError extends FileError<NiftiErrorCode> {
  override name = "NiftiError";
}

const DAMAGED = "The file is damaged or incomplete: re-download or re-export it.";

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

const DATATYPE_CODES: Record<NiftiDatatype, number> = {
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
const CODE_NAMES = new Map<number, NiftiDatatype>(
  Object.entries(DATATYPE_CODES).map(([k, v]) => [v, k as NiftiDatatype]),
);
const BYTES: Record<NiftiDatatype, number> = {
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
const OTHER_CODES: Record<number, string> = {
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

// ---------------------------------------------------------------------------------------------
// Parsing

/** True when the bytes start with the gzip magic. */
export function isGzip(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

export function gzipError(name: string, err: unknown): NiftiError {
  const msg = (err as Error).message;
  const truncated = /unexpected end/i.test(msg);
  return new NiftiError(
    name,
    truncated ? "truncated" : "corrupt",
    truncated
      ? "the gzip stream ends early (truncated .nii.gz)"
      : `cannot decompress the gzip stream (${msg})`,
    DAMAGED,
    { cause: err },
  );
}

/**
 * Parses uncompressed NIfTI-1 bytes (decompress a .nii.gz first: nifti.ts's parseNifti does, the
 * web viewer uses DecompressionStream); `name` is used in errors.
 */
export function parseNiftiUncompressed(bytes: Uint8Array, name = "(nifti)"): NiftiVolume {
  if (isGzip(bytes)) {
    throw new NiftiError(name, "bad-argument", "the bytes are gzip-compressed", "Decompress them first.");
  }
  const header = parseNiftiHeader(bytes, name);
  const dt = header.datatype;
  const nvox = voxelCount(header);
  const need = header.voxOffset + nvox * BYTES[dt];
  if (bytes.length < need) {
    throw new NiftiError(
      name,
      "truncated",
      `the volume ${header.dim.slice(1, header.dim[0]! + 1).join("x")} of ${dt} needs ${need} bytes, the file has ${bytes.length}`,
      DAMAGED,
    );
  }
  const data = readVoxels(bytes, header.voxOffset, nvox, dt, header.littleEndian);
  return { header, shape: shapeOf(header), data };
}

function voxelCount(h: NiftiHeader): number {
  let n = 1;
  for (let d = 1; d <= h.dim[0]!; d++) n *= h.dim[d]!;
  return n;
}

function shapeOf(h: NiftiHeader): number[] {
  const nd = h.dim[0]!;
  const shape: number[] = [];
  for (let d = 1; d <= Math.max(nd, 3); d++) shape.push(d <= nd ? h.dim[d]! : 1);
  return shape;
}

function readVoxels(
  bytes: Uint8Array,
  offset: number,
  n: number,
  dt: NiftiDatatype,
  le: boolean,
): VoxelArray {
  const size = BYTES[dt];
  // Copy into an aligned buffer in host (little-endian) order.
  const buf = new Uint8Array(n * size);
  buf.set(bytes.subarray(offset, offset + n * size));
  if (!le && size > 1) {
    for (let i = 0; i < buf.length; i += size) buf.subarray(i, i + size).reverse();
  }
  switch (dt) {
    case "uint8":
      return buf;
    case "int8":
      return new Int8Array(buf.buffer);
    case "int16":
      return new Int16Array(buf.buffer);
    case "uint16":
      return new Uint16Array(buf.buffer);
    case "int32":
      return new Int32Array(buf.buffer);
    case "uint32":
      return new Uint32Array(buf.buffer);
    case "float32":
      return new Float32Array(buf.buffer);
    case "float64":
      return new Float64Array(buf.buffer);
    case "int64":
    case "uint64": {
      const src = dt === "int64" ? new BigInt64Array(buf.buffer) : new BigUint64Array(buf.buffer);
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = Number(src[i]!);
      return out;
    }
  }
}

function readString(b: Uint8Array, start: number, len: number): string {
  let end = start;
  while (end < start + len && b[end] !== 0) end++;
  return new TextDecoder("latin1").decode(b.subarray(start, end));
}

/** Parses the 348-byte header (and the extension bytes up to vox_offset). */
export function parseNiftiHeader(bytes: Uint8Array, name = "(nifti)"): NiftiHeader {
  if (bytes.length < 348) {
    throw new NiftiError(
      name,
      bytes.length === 0 ? "corrupt" : "truncated",
      bytes.length === 0 ? "the file is empty" : `only ${bytes.length} bytes, a NIfTI-1 header needs 348`,
      DAMAGED,
    );
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let le: boolean;
  if (v.getInt32(0, true) === 348) le = true;
  else if (v.getInt32(0, false) === 348) le = false;
  else if (v.getInt32(0, true) === 540 || v.getInt32(0, false) === 540) {
    throw new NiftiError(
      name,
      "unsupported",
      "NIfTI-2 files are not supported",
      "Save it as NIfTI-1 (e.g. nibabel.Nifti1Image).",
    );
  } else {
    throw new NiftiError(
      name,
      "corrupt",
      `not a NIfTI-1 file (sizeof_hdr is ${v.getInt32(0, true)}, expected 348)`,
      DAMAGED,
    );
  }
  const magic = readString(bytes, 344, 4);
  if (magic === "ni1") {
    throw new NiftiError(
      name,
      "unsupported",
      "two-file NIfTI (.hdr/.img) is not supported",
      "Convert it to a single .nii.gz file.",
    );
  }
  if (magic !== "n+1") {
    throw new NiftiError(
      name,
      "corrupt",
      `bad NIfTI-1 magic ${JSON.stringify(magic)} (expected "n+1")`,
      DAMAGED,
    );
  }
  const i16 = (o: number) => v.getInt16(o, le);
  const i32 = (o: number) => v.getInt32(o, le);
  const f32 = (o: number) => v.getFloat32(o, le);
  const dim = Array.from({ length: 8 }, (_, k) => i16(40 + 2 * k));
  const nd = dim[0]!;
  if (nd < 1 || nd > 7) throw new NiftiError(name, "corrupt", `bad dim[0] = ${nd} (1..7)`, DAMAGED);
  for (let d = 1; d <= nd; d++) {
    if (dim[d]! < 1) throw new NiftiError(name, "corrupt", `bad dim[${d}] = ${dim[d]}`, DAMAGED);
  }
  const code = i16(70);
  const datatype = CODE_NAMES.get(code);
  if (datatype === undefined) {
    const known = OTHER_CODES[code];
    throw new NiftiError(
      name,
      known ? "unsupported" : "corrupt",
      known ? `datatype ${known} (${code}) is not supported` : `unknown datatype code ${code}`,
      known ? "Convert the volume to an integer or float datatype." : DAMAGED,
    );
  }
  const voxOffset = f32(108);
  if (!Number.isFinite(voxOffset) || voxOffset < 348 || !Number.isInteger(voxOffset)) {
    throw new NiftiError(name, "corrupt", `bad vox_offset ${voxOffset}`, DAMAGED);
  }
  if (bytes.length < voxOffset) {
    throw new NiftiError(
      name,
      "truncated",
      `the file ends (${bytes.length} bytes) before vox_offset ${voxOffset}`,
      DAMAGED,
    );
  }
  return {
    littleEndian: le,
    legacy: new Uint8Array(bytes.subarray(4, 39)),
    dimInfo: bytes[39]!,
    dim,
    intentP1: f32(56),
    intentP2: f32(60),
    intentP3: f32(64),
    intentCode: i16(68),
    datatype,
    bitpix: i16(72),
    sliceStart: i16(74),
    pixdim: Array.from({ length: 8 }, (_, k) => f32(76 + 4 * k)),
    voxOffset,
    sclSlope: f32(112),
    sclInter: f32(116),
    sliceEnd: i16(120),
    sliceCode: bytes[122]!,
    xyztUnits: bytes[123]!,
    calMax: f32(124),
    calMin: f32(128),
    sliceDuration: f32(132),
    toffset: f32(136),
    glmax: i32(140),
    glmin: i32(144),
    descrip: readString(bytes, 148, 80),
    auxFile: readString(bytes, 228, 24),
    qformCode: i16(252),
    sformCode: i16(254),
    quaternB: f32(256),
    quaternC: f32(260),
    quaternD: f32(264),
    qoffsetX: f32(268),
    qoffsetY: f32(272),
    qoffsetZ: f32(276),
    srowX: Array.from({ length: 4 }, (_, k) => f32(280 + 4 * k)),
    srowY: Array.from({ length: 4 }, (_, k) => f32(296 + 4 * k)),
    srowZ: Array.from({ length: 4 }, (_, k) => f32(312 + 4 * k)),
    intentName: readString(bytes, 328, 16),
    extensions: new Uint8Array(bytes.subarray(348, voxOffset)),
  };
}

// ---------------------------------------------------------------------------------------------
// Values and slices

/** True when scl_slope/scl_inter change the stored values (slope 0 means "no scaling"). */
export function hasScaling(h: NiftiHeader): boolean {
  return (
    h.sclSlope !== 0 &&
    Number.isFinite(h.sclSlope) &&
    (h.sclSlope !== 1 || (h.sclInter !== 0 && Number.isFinite(h.sclInter)))
  );
}

function scaler(h: NiftiHeader): (x: number) => number {
  if (!hasScaling(h)) return (x) => x;
  const s = h.sclSlope;
  const b = Number.isFinite(h.sclInter) ? h.sclInter : 0;
  return (x) => x * s + b;
}

/** The whole volume as float32 with scl_slope/scl_inter applied. */
export function scaledVolume(vol: NiftiVolume): Float32Array {
  const f = scaler(vol.header);
  const out = new Float32Array(vol.data.length);
  for (let i = 0; i < out.length; i++) out[i] = f(vol.data[i]!);
  return out;
}

export type Axis = 0 | 1 | 2;

export interface VolumeSlice {
  /** [rows, cols] row-major float32 values, scl_slope/scl_inter applied. */
  data: Float32Array;
  rows: number;
  cols: number;
  /** Voxel spacing along rows and along columns (pixdim of the two remaining axes). */
  spacing: [number, number];
  axis: Axis;
  index: number;
}

/** Sizes of the in-plane axes of a slice along `axis`: [rows axis, cols axis] (ascending). */
export function sliceAxes(axis: Axis): [number, number] {
  return axis === 0 ? [1, 2] : axis === 1 ? [0, 2] : [0, 1];
}

/** Number of slices along `axis`. */
export function sliceCount(vol: NiftiVolume, axis: Axis): number {
  return vol.shape[axis]!;
}

/**
 * One 2-D slice at `index` along voxel axis `axis` (0, 1, 2). The remaining two axes, in
 * ascending order, are rows and columns: axis 2 gives [i, j], like numpy's vol[:, :, k] on
 * nibabel's array. `volume` picks the 4th-dimension index (multi-modal MSD volumes).
 */
export function getSlice(vol: NiftiVolume, axis: Axis, index: number, volume = 0): VolumeSlice {
  const [nx, ny, nz] = vol.shape as [number, number, number];
  const nt = vol.shape.slice(3).reduce((a, b) => a * b, 1);
  if (!(axis === 0 || axis === 1 || axis === 2))
    throw new NiftiError("(slice)", "bad-argument", `axis must be 0, 1 or 2, not ${axis}`);
  if (!Number.isInteger(index) || index < 0 || index >= vol.shape[axis]!) {
    throw new NiftiError(
      "(slice)",
      "bad-argument",
      `slice ${index} is out of range 0..${vol.shape[axis]! - 1} along axis ${axis}`,
    );
  }
  if (!Number.isInteger(volume) || volume < 0 || volume >= nt) {
    throw new NiftiError("(slice)", "bad-argument", `volume index ${volume} is out of range 0..${nt - 1}`);
  }
  const strides = [1, nx, nx * ny];
  const base = volume * nx * ny * nz + index * strides[axis]!;
  const [ra, ca] = sliceAxes(axis);
  const rows = vol.shape[ra]!;
  const cols = vol.shape[ca]!;
  const rs = strides[ra]!;
  const cs = strides[ca]!;
  const f = scaler(vol.header);
  const out = new Float32Array(rows * cols);
  const d = vol.data;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[r * cols + c] = f(d[base + r * rs + c * cs]!);
  }
  const pd = vol.header.pixdim;
  return { data: out, rows, cols, spacing: [Math.abs(pd[ra + 1]!), Math.abs(pd[ca + 1]!)], axis, index };
}

/**
 * Writes 2-D slices (as getSlice returns them: [rows, cols]) back into a 3-D volume of the given
 * shape, e.g. per-slice predictions. Slices not given stay zero.
 */
export function volumeFromSlices(
  shape: readonly [number, number, number],
  axis: Axis,
  slices: ReadonlyMap<number, ArrayLike<number>> | readonly ArrayLike<number>[],
  datatype: NiftiDatatype = "float32",
): VoxelArray {
  const [nx, ny, nz] = shape;
  const out = allocate(datatype, nx * ny * nz);
  const strides = [1, nx, nx * ny];
  const [ra, ca] = sliceAxes(axis);
  const rows = shape[ra]!;
  const cols = shape[ca]!;
  const entries: [number, ArrayLike<number>][] = Array.isArray(slices)
    ? (slices as ArrayLike<number>[]).map((s, i) => [i, s])
    : [...(slices as ReadonlyMap<number, ArrayLike<number>>).entries()];
  for (const [index, s] of entries) {
    if (s.length !== rows * cols) {
      throw new NiftiError(
        "(slices)",
        "bad-argument",
        `slice ${index} has ${s.length} values, expected ${rows}x${cols}`,
      );
    }
    if (index < 0 || index >= shape[axis])
      throw new NiftiError("(slices)", "bad-argument", `slice index ${index} out of range`);
    const base = index * strides[axis]!;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) out[base + r * strides[ra]! + c * strides[ca]!] = s[r * cols + c]!;
    }
  }
  return out;
}

function allocate(dt: NiftiDatatype, n: number): VoxelArray {
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

// ---------------------------------------------------------------------------------------------
// Writing

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
