// Surfaces, the exact Euclidean distance transform, numpy-exact percentiles, and the surface
// distance metrics HD95 and ASSD (medpy or MONAI conventions, see conventions.ts).
import {
  checkLength,
  checkShape,
  checkSpacing,
  type EmptyDistance,
  type NumArray,
  type Shape2D,
  type Spacing2D,
  type SurfaceConvention,
} from "./conventions.js";

/**
 * Surface pixels of a mask, as medpy: mask XOR binary_erosion(mask, generate_binary_structure(2,
 * connectivity)) with pixels outside the image counted as background (scipy's border_value = 0).
 * Connectivity 1: a foreground pixel with a background or outside 4-neighbour; connectivity 2:
 * the same with 8 neighbours.
 */
export function surfaceMask(mask: NumArray, shape: Shape2D, connectivity: 1 | 2 = 1): Uint8Array {
  const [h, w] = checkShape(shape);
  checkLength("mask", mask, h * w);
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (mask[i] === 0) continue;
      if (y === 0 || x === 0 || y === h - 1 || x === w - 1) {
        out[i] = 1;
        continue;
      }
      let border = mask[i - w] === 0 || mask[i + w] === 0 || mask[i - 1] === 0 || mask[i + 1] === 0;
      if (!border && connectivity === 2) {
        border =
          mask[i - w - 1] === 0 || mask[i - w + 1] === 0 || mask[i + w - 1] === 0 || mask[i + w + 1] === 0;
      }
      if (border) out[i] = 1;
    }
  }
  return out;
}

/**
 * One 1-D squared distance transform (Felzenszwalb & Huttenlocher): d[q] = min_p ((q - p) s)^2 + f[p]
 * over the finite f[p]; all Infinity when there is none. v, z are scratch (n and n + 1 long).
 */
function dt1d(f: Float64Array, n: number, s: number, d: Float64Array, v: Int32Array, z: Float64Array): void {
  let k = -1;
  for (let q = 0; q < n; q++) {
    const fq = f[q]!;
    if (fq === Number.POSITIVE_INFINITY) continue;
    const xq = q * s;
    const hq = fq + xq * xq;
    if (k < 0) {
      k = 0;
      v[0] = q;
      z[0] = Number.NEGATIVE_INFINITY;
      z[1] = Number.POSITIVE_INFINITY;
      continue;
    }
    let sq: number;
    for (;;) {
      const p = v[k]!;
      const xp = p * s;
      // where the parabolas rooted at p and q intersect (z[0] = -inf stops the loop at k = 0)
      sq = (hq - (f[p]! + xp * xp)) / (2 * (xq - xp));
      if (sq <= z[k]!) k--;
      else break;
    }
    k++;
    v[k] = q;
    z[k] = sq;
    z[k + 1] = Number.POSITIVE_INFINITY;
  }
  if (k < 0) {
    d.fill(Number.POSITIVE_INFINITY, 0, n);
    return;
  }
  let j = 0;
  for (let q = 0; q < n; q++) {
    const x = q * s;
    while (z[j + 1]! < x) j++;
    const p = v[j]!;
    // integer offset times spacing, as scipy forms its distances
    const dq = (q - p) * s;
    d[q] = dq * dq + f[p]!;
  }
}

/**
 * Exact squared Euclidean distance from every pixel to the nearest site (non-zero pixel of `sites`),
 * in physical units: min over sites of (dy sy)^2 + (dx sx)^2. Infinity everywhere if there is no
 * site. O(HW): one 1-D transform along every column, then along every row.
 */
export function squaredDistanceTransform(sites: NumArray, shape: Shape2D, spacing?: Spacing2D): Float64Array {
  const [h, w] = checkShape(shape);
  const [sy, sx] = checkSpacing(spacing);
  checkLength("sites", sites, h * w);
  const out = new Float64Array(h * w);
  const m = Math.max(h, w);
  const f = new Float64Array(m);
  const d = new Float64Array(m);
  const v = new Int32Array(m);
  const z = new Float64Array(m + 1);
  for (let x = 0; x < w; x++) {
    for (let y = 0; y < h; y++) f[y] = sites[y * w + x] !== 0 ? 0 : Number.POSITIVE_INFINITY;
    dt1d(f, h, sy, d, v, z);
    for (let y = 0; y < h; y++) out[y * w + x] = d[y]!;
  }
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) f[x] = out[row + x]!;
    dt1d(f, w, sx, d, v, z);
    for (let x = 0; x < w; x++) out[row + x] = d[x]!;
  }
  return out;
}

/** Euclidean distance to the nearest site (scipy's distance_transform_edt(~sites, sampling)). */
export function distanceTransform(sites: NumArray, shape: Shape2D, spacing?: Spacing2D): Float64Array {
  const d = squaredDistanceTransform(sites, shape, spacing);
  for (let i = 0; i < d.length; i++) d[i] = Math.sqrt(d[i]!);
  return d;
}

/** Distances from every surface pixel of `from` to the nearest surface pixel of `to` (medpy's __surface_distances). */
export function directedSurfaceDistances(
  from: NumArray,
  to: NumArray,
  shape: Shape2D,
  options: { spacing?: Spacing2D; connectivity?: 1 | 2 } = {},
): Float64Array {
  const conn = options.connectivity ?? 1;
  return gatherDistances(
    surfaceMask(from, shape, conn),
    surfaceMask(to, shape, conn),
    shape,
    options.spacing,
  );
}

function gatherDistances(fromBorder: Uint8Array, toBorder: Uint8Array, shape: Shape2D, spacing?: Spacing2D) {
  const d2 = squaredDistanceTransform(toBorder, shape, spacing);
  let n = 0;
  for (let i = 0; i < fromBorder.length; i++) n += fromBorder[i]!;
  const out = new Float64Array(n);
  let k = 0;
  for (let i = 0; i < fromBorder.length; i++) if (fromBorder[i] !== 0) out[k++] = Math.sqrt(d2[i]!);
  return out;
}

/** numpy's _lerp: a + (b - a) t, computed from b's side when t >= 0.5 (numpy >= 1.22). */
export function lerp(a: number, b: number, t: number): number {
  const diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

/**
 * q-th percentile (0..100) of values sorted ascending, numpy.percentile's default method
 * "linear": virtual index (n - 1) q / 100, linear interpolation between its neighbours. NaN for
 * an empty array.
 */
export function percentileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  if (!(q >= 0 && q <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${q}`);
  const idx = (n - 1) * (q / 100);
  if (idx >= n - 1) return sorted[n - 1]!;
  if (idx < 0) return sorted[0]!;
  const lo = Math.floor(idx);
  return lerp(sorted[lo]!, sorted[lo + 1]!, idx - lo);
}

/** numpy.percentile(values, q) (linear); sorts a copy. */
export function percentile(values: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(values).sort();
  return percentileSorted(s, q);
}

export function mean(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s / a.length;
}

export interface SurfaceOptions {
  /** [sy, sx], default [1, 1]. */
  spacing?: Spacing2D;
  /** Surface definition, 1 (default, medpy's default) or 2. */
  connectivity?: 1 | 2;
  /** "medpy" (default) or "monai"; see the file header. */
  surfaceConvention?: SurfaceConvention;
  /** Value when exactly one mask is empty: "nan" (default) or "diagonal". */
  emptyDistance?: EmptyDistance;
}

/** Which of the two masks are empty. */
export type EmptyCase = "none" | "both" | "pred" | "gt";

export interface SurfaceMetrics {
  /** 95th-percentile Hausdorff distance (convention per options). */
  hd95: number;
  /** Average symmetric surface distance (convention per options). */
  assd: number;
  /** Plain (100th-percentile) symmetric Hausdorff distance. */
  hd: number;
  empty: EmptyCase;
  /** true when hd95/assd/hd were imputed with the image diagonal. */
  imputed: boolean;
}

/** The physical image diagonal sqrt((H sy)^2 + (W sx)^2): larger than any attainable distance. */
export function imageDiagonal(shape: Shape2D, spacing?: Spacing2D): number {
  const [h, w] = checkShape(shape);
  const [sy, sx] = checkSpacing(spacing);
  return Math.hypot(h * sy, w * sx);
}

/**
 * HD95, ASSD and HD between the surfaces of pred and gt in one pass (two surfaces, two EDTs).
 * Both empty: all 0. One empty: NaN, or the image diagonal with `emptyDistance: "diagonal"`.
 */
export function surfaceDistanceMetrics(
  pred: NumArray,
  gt: NumArray,
  shape: Shape2D,
  options: SurfaceOptions = {},
): SurfaceMetrics {
  const [h, w] = checkShape(shape);
  checkLength("pred", pred, h * w);
  checkLength("gt", gt, h * w);
  const conn = options.connectivity ?? 1;
  const convention = options.surfaceConvention ?? "medpy";
  const spacing = checkSpacing(options.spacing);
  const bp = surfaceMask(pred, shape, conn);
  const bg = surfaceMask(gt, shape, conn);
  const hasP = bp.includes(1);
  const hasG = bg.includes(1);
  if (!hasP && !hasG) return { hd95: 0, assd: 0, hd: 0, empty: "both", imputed: false };
  if (!hasP || !hasG) {
    const empty: EmptyCase = hasP ? "gt" : "pred";
    if ((options.emptyDistance ?? "nan") === "diagonal") {
      const d = imageDiagonal(shape, spacing);
      return { hd95: d, assd: d, hd: d, empty, imputed: true };
    }
    return { hd95: Number.NaN, assd: Number.NaN, hd: Number.NaN, empty, imputed: false };
  }
  const dpg = gatherDistances(bp, bg, shape, spacing).sort();
  const dgp = gatherDistances(bg, bp, shape, spacing).sort();
  const hd = Math.max(dpg[dpg.length - 1]!, dgp[dgp.length - 1]!);
  let hd95: number;
  let assd: number;
  if (convention === "medpy") {
    const all = new Float64Array(dpg.length + dgp.length);
    all.set(dpg);
    all.set(dgp, dpg.length);
    hd95 = percentileSorted(all.sort(), 95);
    assd = (mean(dpg) + mean(dgp)) / 2;
  } else {
    hd95 = Math.max(percentileSorted(dpg, 95), percentileSorted(dgp, 95));
    let s = 0;
    for (let i = 0; i < dpg.length; i++) s += dpg[i]!;
    for (let i = 0; i < dgp.length; i++) s += dgp[i]!;
    assd = s / (dpg.length + dgp.length);
  }
  return { hd95, assd, hd, empty: "none", imputed: false };
}

/** 95th-percentile Hausdorff distance; see surfaceDistanceMetrics for conventions. */
export function hd95(pred: NumArray, gt: NumArray, shape: Shape2D, options: SurfaceOptions = {}): number {
  return surfaceDistanceMetrics(pred, gt, shape, options).hd95;
}

/** Average symmetric surface distance; see surfaceDistanceMetrics for conventions. */
export function assd(pred: NumArray, gt: NumArray, shape: Shape2D, options: SurfaceOptions = {}): number {
  return surfaceDistanceMetrics(pred, gt, shape, options).assd;
}
