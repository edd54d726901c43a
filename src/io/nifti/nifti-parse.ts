// NIfTI-1 and NIfTI-2 parsing: header fields, checks with clear errors, voxels in their own
// datatype. Both versions read into one NiftiHeader (NIfTI-2's 64-bit sizes and doubles as
// numbers), so that every reader and the writer (which writes NIfTI-1) handle either.
import {
  BYTES,
  CODE_NAMES,
  DAMAGED,
  type NiftiDatatype,
  NiftiError,
  type NiftiHeader,
  type NiftiVolume,
  OTHER_CODES,
  type VoxelArray,
} from "./nifti-header.js";

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
  else if (v.getInt32(0, true) === 540) return parseNifti2Header(bytes, true, name);
  else if (v.getInt32(0, false) === 540) return parseNifti2Header(bytes, false, name);
  else {
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
  const dim = checkDims(
    Array.from({ length: 8 }, (_, k) => i16(40 + 2 * k)),
    name,
  );
  const datatype = datatypeOfCode(i16(70), name);
  const voxOffset = checkVoxOffset(f32(108), 348, bytes.length, name);
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

function checkDims(dim: number[], name: string): number[] {
  const nd = dim[0]!;
  if (nd < 1 || nd > 7) throw new NiftiError(name, "corrupt", `bad dim[0] = ${nd} (1..7)`, DAMAGED);
  for (let d = 1; d <= nd; d++) {
    if (!(dim[d]! >= 1)) throw new NiftiError(name, "corrupt", `bad dim[${d}] = ${dim[d]}`, DAMAGED);
  }
  return dim;
}

function datatypeOfCode(code: number, name: string): NiftiDatatype {
  const datatype = CODE_NAMES.get(code);
  if (datatype !== undefined) return datatype;
  const known = OTHER_CODES[code];
  throw new NiftiError(
    name,
    known ? "unsupported" : "corrupt",
    known ? `datatype ${known} (${code}) is not supported` : `unknown datatype code ${code}`,
    known ? "Convert the volume to an integer or float datatype." : DAMAGED,
  );
}

function checkVoxOffset(voxOffset: number, headerSize: number, fileSize: number, name: string): number {
  if (!Number.isFinite(voxOffset) || voxOffset < headerSize || !Number.isInteger(voxOffset)) {
    throw new NiftiError(name, "corrupt", `bad vox_offset ${voxOffset}`, DAMAGED);
  }
  if (fileSize < voxOffset) {
    throw new NiftiError(
      name,
      "truncated",
      `the file ends (${fileSize} bytes) before vox_offset ${voxOffset}`,
      DAMAGED,
    );
  }
  return voxOffset;
}

/**
 * The 540-byte NIfTI-2 header (same fields as NIfTI-1, sizes as int64 and reals as float64, in
 * another order; nifti2.h). Sizes above 2^53 are refused; NIfTI-1-only fields (legacy bytes,
 * glmax/glmin) are zero.
 */
function parseNifti2Header(bytes: Uint8Array, le: boolean, name: string): NiftiHeader {
  if (bytes.length < 540) {
    throw new NiftiError(
      name,
      "truncated",
      `only ${bytes.length} bytes, a NIfTI-2 header needs 540`,
      DAMAGED,
    );
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = readString(bytes, 4, 4);
  if (magic === "ni2") {
    throw new NiftiError(
      name,
      "unsupported",
      "two-file NIfTI-2 (.hdr/.img) is not supported",
      "Convert it to a single .nii.gz file.",
    );
  }
  if (magic !== "n+2") {
    throw new NiftiError(
      name,
      "corrupt",
      `bad NIfTI-2 magic ${JSON.stringify(magic)} (expected "n+2")`,
      DAMAGED,
    );
  }
  const i16 = (o: number) => v.getInt16(o, le);
  const i32 = (o: number) => v.getInt32(o, le);
  const f64 = (o: number) => v.getFloat64(o, le);
  const i64 = (o: number) => {
    const x = v.getBigInt64(o, le);
    if (x > BigInt(Number.MAX_SAFE_INTEGER) || x < -BigInt(Number.MAX_SAFE_INTEGER))
      throw new NiftiError(
        name,
        "corrupt",
        `a 64-bit header value at byte ${o} is out of range (${x})`,
        DAMAGED,
      );
    return Number(x);
  };
  const dim = checkDims(
    Array.from({ length: 8 }, (_, k) => i64(16 + 8 * k)),
    name,
  );
  const voxOffset = checkVoxOffset(i64(168), 540, bytes.length, name);
  return {
    littleEndian: le,
    legacy: new Uint8Array(35),
    dimInfo: bytes[524]!,
    dim,
    intentP1: f64(80),
    intentP2: f64(88),
    intentP3: f64(96),
    intentCode: i32(504),
    datatype: datatypeOfCode(i16(12), name),
    bitpix: i16(14),
    sliceStart: i64(224),
    pixdim: Array.from({ length: 8 }, (_, k) => f64(104 + 8 * k)),
    voxOffset,
    sclSlope: f64(176),
    sclInter: f64(184),
    sliceEnd: i64(232),
    sliceCode: i32(496),
    xyztUnits: i32(500),
    calMax: f64(192),
    calMin: f64(200),
    sliceDuration: f64(208),
    toffset: f64(216),
    glmax: 0,
    glmin: 0,
    descrip: readString(bytes, 240, 80),
    auxFile: readString(bytes, 320, 24),
    qformCode: i32(344),
    sformCode: i32(348),
    quaternB: f64(352),
    quaternC: f64(360),
    quaternD: f64(368),
    qoffsetX: f64(376),
    qoffsetY: f64(384),
    qoffsetZ: f64(392),
    srowX: Array.from({ length: 4 }, (_, k) => f64(400 + 8 * k)),
    srowY: Array.from({ length: 4 }, (_, k) => f64(432 + 8 * k)),
    srowZ: Array.from({ length: 4 }, (_, k) => f64(464 + 8 * k)),
    intentName: readString(bytes, 508, 16),
    extensions: new Uint8Array(bytes.subarray(540, voxOffset)),
  };
}
