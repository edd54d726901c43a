// The uncertainty heat map's colours, the mask contour and the mask PNG's values, shared by
// `udeg predict`'s files and the web viewer. Pure (no Node.js built-ins).

/**
 * Class colours (sRGB), class 1 first: the page's mask, the overlay and the DICOM SEG's
 * recommended display colour, so a class looks the same wherever it is shown.
 */
export const CLASS_COLOURS: readonly (readonly [number, number, number])[] = [
  [40, 255, 80],
  [255, 200, 40],
  [80, 170, 255],
  [255, 90, 200],
  [180, 120, 255],
  [255, 130, 60],
];

/** The colour of class c (1-based; the table repeats past its end). */
export function classColour(c: number): readonly [number, number, number] {
  return CLASS_COLOURS[(c - 1) % CLASS_COLOURS.length]!;
}

/** The mask PNG's pixel values: 0/255 for one class (viewable), class indices for several. */
export function maskPngValues(labels: Uint8Array, classes: number): Uint8Array {
  return classes === 1 ? labels.map((v) => (v ? 255 : 0)) : labels.slice();
}

/** A perceptual dark-to-bright colour map (inferno-like), t in [0, 1] -> RGB 0..255. */
export function heatColour(t: number): [number, number, number] {
  const stops: [number, number, number, number][] = [
    [0, 0, 0, 4],
    [0.25, 87, 16, 110],
    [0.5, 188, 55, 84],
    [0.75, 249, 142, 9],
    [1, 252, 255, 164],
  ];
  const x = Math.min(1, Math.max(0, t));
  for (let i = 1; i < stops.length; i++) {
    const [t1, r1, g1, b1] = stops[i]!;
    const [t0, r0, g0, b0] = stops[i - 1]!;
    if (x <= t1) {
      const f = (x - t0) / (t1 - t0);
      return [r0 + f * (r1 - r0), g0 + f * (g1 - g0), b0 + f * (b1 - b0)];
    }
  }
  return [252, 255, 164];
}

/** Pixels of `labels` whose 4-neighbourhood holds another label. */
export function contour(labels: Uint8Array, width: number, height: number): Uint8Array {
  const out = new Uint8Array(labels.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = labels[y * width + x]!;
      if (v === 0) continue;
      const differs =
        (x > 0 && labels[y * width + x - 1] !== v) ||
        (x < width - 1 && labels[y * width + x + 1] !== v) ||
        (y > 0 && labels[(y - 1) * width + x] !== v) ||
        (y < height - 1 && labels[(y + 1) * width + x] !== v);
      if (differs) out[y * width + x] = 1;
    }
  }
  return out;
}
