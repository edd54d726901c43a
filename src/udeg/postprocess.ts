// Post-processing a mask as nnU-Net does: keep only the largest connected component of each
// class, where that measures better on the run's val part (one lesion, one head, one polyp per
// image), and not where it does not (nuclei, vessels, membranes: many components). Scattered
// false positives far from the object are what drive HD95 up; removing them is decided per run
// from its own val images, never per data set by hand. Pure: the page runs it as predict does.

/** What a run applies to its masks; written when training ends (run-folder.ts). */
export interface Postprocess {
  largestComponent: boolean;
}

export const NO_POSTPROCESS: Postprocess = { largestComponent: false };

/**
 * `labels` [H, W] with every foreground class reduced to its largest 4-connected component (the
 * rest becomes background, 0). Ties keep the component met first in raster order.
 */
export function keepLargestComponent(labels: Uint8Array, width: number, height: number): Uint8Array {
  const n = width * height;
  const component = new Int32Array(n).fill(-1);
  const sizes: number[] = [];
  const classOf: number[] = [];
  const stack = new Int32Array(n);
  for (let start = 0; start < n; start++) {
    const c = labels[start]!;
    if (c === 0 || component[start] !== -1) continue;
    const id = sizes.length;
    let size = 0;
    let top = 0;
    stack[top++] = start;
    component[start] = id;
    while (top > 0) {
      const i = stack[--top]!;
      size++;
      const x = i % width;
      const visit = (j: number) => {
        if (labels[j] === c && component[j] === -1) {
          component[j] = id;
          stack[top++] = j;
        }
      };
      if (x > 0) visit(i - 1);
      if (x < width - 1) visit(i + 1);
      if (i >= width) visit(i - width);
      if (i < n - width) visit(i + width);
    }
    sizes.push(size);
    classOf.push(c);
  }
  const largest = new Map<number, number>(); // class -> component id
  for (let id = 0; id < sizes.length; id++) {
    const best = largest.get(classOf[id]!);
    if (best === undefined || sizes[id]! > sizes[best]!) largest.set(classOf[id]!, id);
  }
  const keep = new Set(largest.values());
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) if (component[i]! >= 0 && keep.has(component[i]!)) out[i] = labels[i]!;
  return out;
}

/** `labels` after the run's post-processing. */
export function postprocessLabels(
  labels: Uint8Array,
  width: number,
  height: number,
  p: Postprocess,
): Uint8Array {
  return p.largestComponent ? keepLargestComponent(labels, width, height) : labels;
}

/**
 * The post-processing a run keeps: the largest component when it raises the mean Dice over the
 * val images (as nnU-Net decides on its folds); `dice(pred, truth)` scores one image.
 */
export function choosePostprocess(
  cases: readonly { labels: Uint8Array; truth: ArrayLike<number>; width: number; height: number }[],
  dice: (pred: Uint8Array, truth: ArrayLike<number>) => number,
): { postprocess: Postprocess; diceWithout: number; diceWith: number } {
  let without = 0;
  let withLargest = 0;
  for (const c of cases) {
    without += dice(c.labels, c.truth);
    withLargest += dice(keepLargestComponent(c.labels, c.width, c.height), c.truth);
  }
  const k = Math.max(1, cases.length);
  return {
    postprocess: { largestComponent: cases.length > 0 && withLargest > without },
    diceWithout: without / k,
    diceWith: withLargest / k,
  };
}
