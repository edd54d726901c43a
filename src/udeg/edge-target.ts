// Edge ground truth from a mask: the morphological gradient (dilation minus erosion) with a
// square structuring element of radius `width`, per class boundary. Host-side: it runs once per
// sample in the data pipeline, not in the graph.

/**
 * Edge map (0/1) of a label map [H, W]: a pixel is an edge pixel when its (2w+1) x (2w+1)
 * neighbourhood holds more than one label, i.e. dilation != erosion for some class. With
 * width 1 a boundary is two pixels thick (one on each side), as the morphological gradient is.
 * Pixels outside the image are ignored (the border of the image is not an edge).
 */
export function edgeTarget(labels: ArrayLike<number>, height: number, width: number, radius = 1): Uint8Array {
  if (labels.length !== height * width)
    throw new Error(`edgeTarget: ${labels.length} labels for ${height}x${width}`);
  // Separable min/max filters: running min and max of the label value along rows, then columns.
  // A neighbourhood holds more than one label exactly when its max differs from its min.
  const rowMin = new Float64Array(height * width);
  const rowMax = new Float64Array(height * width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (let dx = Math.max(0, x - radius); dx <= Math.min(width - 1, x + radius); dx++) {
        const v = labels[y * width + dx]!;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      rowMin[y * width + x] = lo;
      rowMax[y * width + x] = hi;
    }
  }
  const out = new Uint8Array(height * width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (let dy = Math.max(0, y - radius); dy <= Math.min(height - 1, y + radius); dy++) {
        const i = dy * width + x;
        if (rowMin[i]! < lo) lo = rowMin[i]!;
        if (rowMax[i]! > hi) hi = rowMax[i]!;
      }
      out[y * width + x] = hi !== lo ? 1 : 0;
    }
  }
  return out;
}
