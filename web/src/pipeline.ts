// The mask's pixel counts, for the page's header. (The maps themselves come back to the image
// through src/udeg/prediction.ts, as in Node.) Pure: the tests run it in Node.

/** Pixels per class of a label map, background first. */
export function labelCounts(labels: Uint8Array, classes: number): number[] {
  const counts = new Array<number>(classes + 1).fill(0);
  for (const v of labels) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}
