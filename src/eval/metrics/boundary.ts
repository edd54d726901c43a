// Boundary F-score (BF, Csurka et al. 2013; the DAVIS contour measure): how much of each
// boundary lies within `tolerance` pixels of the other. It scores what Dice hardly sees: a mask
// whose contour follows an 8-pixel staircase has Dice 0.95 on a large object and a BF at 1 px
// near 0.5. Boundaries are the surface pixels of conventions.ts (a foreground pixel with a
// background 4-neighbour or on the image border); distances are exact Euclidean, in pixels.
// Both boundaries empty: 1; exactly one empty: 0.
import type { NumArray, Shape2D } from "./conventions.js";
import { squaredDistanceTransform, surfaceMask } from "./surface.js";

export interface BoundaryScore {
  precision: number;
  recall: number;
  f: number;
}

/** Share of the pixels of boundary `from` within `tolerance` of boundary `to` (squared distance map of `to`). */
function within(from: Uint8Array, toSquared: Float64Array, tolerance: number): number {
  const t2 = tolerance * tolerance;
  let n = 0;
  let hit = 0;
  for (let i = 0; i < from.length; i++) {
    if (!from[i]) continue;
    n++;
    if (toSquared[i]! <= t2) hit++;
  }
  return n === 0 ? Number.NaN : hit / n;
}

/** BF score of binary masks pred and gt (non-zero = foreground) at a tolerance in pixels. */
export function boundaryScore(
  pred: NumArray,
  gt: NumArray,
  shape: Shape2D,
  tolerance: number,
): BoundaryScore {
  const bp = surfaceMask(pred, shape);
  const bg = surfaceMask(gt, shape);
  const np = bp.reduce((a, b) => a + b, 0);
  const ng = bg.reduce((a, b) => a + b, 0);
  if (np === 0 && ng === 0) return { precision: 1, recall: 1, f: 1 };
  if (np === 0 || ng === 0) return { precision: np === 0 ? 1 : 0, recall: ng === 0 ? 1 : 0, f: 0 };
  const precision = within(bp, squaredDistanceTransform(bg, shape), tolerance);
  const recall = within(bg, squaredDistanceTransform(bp, shape), tolerance);
  const f = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f };
}

export function boundaryF(pred: NumArray, gt: NumArray, shape: Shape2D, tolerance: number): number {
  return boundaryScore(pred, gt, shape, tolerance).f;
}
