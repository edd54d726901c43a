// The tensor shape both checkpoint readers return, and the byte <-> typed-array plumbing.
//
// Half-precision types have no JS typed array, so float16 and bfloat16 data stay as their raw
// 16-bit patterns in a Uint16Array (the engine's HostTensor does the same for float16);
// toFloat32() widens them when a caller needs numbers.
import { halfToFloat32 } from "../../engine/half.js";

export type CheckpointDType =
  | "float32"
  | "float16"
  | "bfloat16"
  | "float64"
  | "int64"
  | "int32"
  | "uint8"
  | "bool";

export type TensorData = Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

/** One tensor from a checkpoint: row-major, contiguous, `data.length` = product of `shape`. */
export interface CheckpointTensor {
  dtype: CheckpointDType;
  shape: number[];
  data: TensorData;
}

/** What both readers return. */
export interface Checkpoint {
  /** safetensors `__metadata__`; empty for .pth files. */
  metadata: Record<string, string>;
  /** In file order. */
  tensors: Map<string, CheckpointTensor>;
}

export const ELEMENT_SIZE: Readonly<Record<CheckpointDType, number>> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  uint8: 1,
  bool: 1,
};

/**
 * Number of elements of `shape`, or null when a dimension is not a non-negative integer or the
 * product is past 2^53 (both mean corrupt metadata; the callers turn null into an error).
 */
export function shapeSize(shape: readonly unknown[]): number | null {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) return null;
    n *= d;
    if (!Number.isSafeInteger(n)) return null;
  }
  return n;
}

// Files store little-endian bytes and we view them in place, which is only right on a
// little-endian host (every platform Node ships for today).
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Typed array over `bytes`: a view when the start is aligned for the element size (no copy, so
 * a 2.5 GB checkpoint is not held twice), a copy otherwise (typed arrays cannot be unaligned).
 * `bytes.length` must be a multiple of the element size.
 */
export function viewAs(dtype: CheckpointDType, bytes: Uint8Array): TensorData {
  if (!HOST_IS_LITTLE_ENDIAN) throw new Error("udeg io: checkpoint readers need a little-endian host");
  const size = ELEMENT_SIZE[dtype];
  if (bytes.byteOffset % size !== 0) bytes = copyBytes(bytes);
  const { buffer, byteOffset } = bytes;
  const n = bytes.length / size;
  switch (dtype) {
    case "float32":
      return new Float32Array(buffer, byteOffset, n);
    case "float64":
      return new Float64Array(buffer, byteOffset, n);
    case "float16":
    case "bfloat16":
      return new Uint16Array(buffer, byteOffset, n);
    case "int64":
      return new BigInt64Array(buffer, byteOffset, n);
    case "int32":
      return new Int32Array(buffer, byteOffset, n);
    case "uint8":
    case "bool":
      // Plain Uint8Array even when the input is a Buffer, so callers see one type per dtype.
      return new Uint8Array(buffer, byteOffset, n);
  }
}

/**
 * A copy in a fresh, aligned ArrayBuffer. (Not bytes.slice(): on a Node Buffer, slice() is a
 * view of the same memory.)
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/** The raw bytes behind a typed array (a view, no copy). */
export function bytesOf(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** The typed array class each dtype must be stored in, for checking what callers hand the writer. */
export function dataMatchesDType(dtype: CheckpointDType, data: TensorData): boolean {
  switch (dtype) {
    case "float32":
      return data instanceof Float32Array;
    case "float64":
      return data instanceof Float64Array;
    case "float16":
    case "bfloat16":
      return data instanceof Uint16Array;
    case "int64":
      return data instanceof BigInt64Array;
    case "int32":
      return data instanceof Int32Array;
    case "uint8":
    case "bool":
      return data instanceof Uint8Array;
  }
}

/**
 * The tensor's values as float32. float32 data is returned as is (not copied); float16,
 * bfloat16 and float64 are converted (float64 rounds to nearest); integer and bool tensors are
 * converted too (exact up to 2^24).
 */
export function toFloat32(t: Pick<CheckpointTensor, "dtype" | "data">): Float32Array {
  const { dtype, data } = t;
  switch (dtype) {
    case "float32":
      return data as Float32Array;
    case "float16":
      return halfToFloat32(data as Uint16Array);
    case "bfloat16":
      return bfloat16ToFloat32(data as Uint16Array);
    case "int64": {
      const src = data as BigInt64Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = Number(src[i]!);
      return out;
    }
    default:
      return Float32Array.from(data as Float64Array | Int32Array | Uint8Array);
  }
}

/** bfloat16 is the top half of a float32, so widening is a shift (NaN payloads survive). */
function bfloat16ToFloat32(src: Uint16Array): Float32Array {
  const bits = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
  return new Float32Array(bits.buffer);
}
