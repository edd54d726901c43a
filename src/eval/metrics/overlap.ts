// Overlap: Dice and IoU (medpy's dc / jc, both empty -> 1).
import { checkSameLength, type NumArray } from "./conventions.js";

/** Counts |A|, |B| and |A and B| for masks where non-zero is foreground. */
export function overlapCounts(pred: NumArray, gt: NumArray): { pred: number; gt: number; both: number } {
  checkSameLength(pred, gt);
  let np = 0;
  let ng = 0;
  let both = 0;
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i] !== 0;
    const g = gt[i] !== 0;
    if (p) np++;
    if (g) ng++;
    if (p && g) both++;
  }
  return { pred: np, gt: ng, both };
}

/** Dice = 2|A and B| / (|A| + |B|); 1 when both masks are empty (medpy's dc). */
export function dice(pred: NumArray, gt: NumArray): number {
  const c = overlapCounts(pred, gt);
  return c.pred + c.gt === 0 ? 1 : (2 * c.both) / (c.pred + c.gt);
}

/** IoU (Jaccard) = |A and B| / |A or B|; 1 when both masks are empty (medpy's jc). */
export function iou(pred: NumArray, gt: NumArray): number {
  const c = overlapCounts(pred, gt);
  const union = c.pred + c.gt - c.both;
  return union === 0 ? 1 : c.both / union;
}
