// NIfTI values and slices: scaling (scl_slope / scl_inter), 2-D slices along a voxel axis with
// their spacing, and volumes built from slices.
import {
  allocate,
  type NiftiDatatype,
  NiftiError,
  type NiftiHeader,
  type NiftiVolume,
  type VoxelArray,
} from "./nifti-header.js";

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
