// Simulated clicks for interactive training, as SAM and MedSAM train their point prompts: some
// training images get a few positive clicks (on the object) and negative clicks (on the
// background) drawn from the ground truth, so the decoder learns what a click means and a user
// can correct a mask in the web viewer. The rest of the batch trains prompt-free (every slot
// empty), which is exactly the automatic model that predict and eval run.
import type { ResizeInfo } from "../data/preprocess.js";
import { Rng } from "../engine/random.js";

export interface ClickOptions {
  /** Probability that a training image gets clicks at all. */
  probability: number;
  /** Largest number of clicks on one image (also the number of point slots in the graph). */
  max: number;
}

/** Half of the clicks go near the object's border, where a user's corrections land. */
const NEAR_BORDER = 0.5;
/** How near: within this many pixels (Chebyshev) of a pixel of the other side. */
const BORDER_BAND = 4;

/** 1 where a pixel of the h x w region is within `band` pixels of the other side of the mask. */
function borderBand(fg: Uint8Array, h: number, w: number, band: number): Uint8Array {
  const edge = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      for (const j of [x + 1 < w ? i + 1 : -1, y + 1 < h ? i + w : -1]) {
        if (j >= 0 && fg[j] !== fg[i]) edge[i] = edge[j] = 1;
      }
    }
  }
  // Dilate by `band`: rows, then columns (a square structuring element).
  const rows = new Uint8Array(h * w);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      if (edge[y * w + x])
        for (let d = Math.max(0, x - band); d <= Math.min(w - 1, x + band); d++) rows[y * w + d] = 1;
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      if (rows[y * w + x])
        for (let d = Math.max(0, y - band); d <= Math.min(h - 1, y + band); d++) out[d * w + x] = 1;
  return out;
}

export interface ClickBatch {
  /** [B, max, 2] (x, y) in model-input pixels. */
  coords: Float32Array;
  /** [B, max]: 1 positive, 0 negative, -1 an empty slot. */
  labels: Float32Array;
}

/**
 * Clicks for a batch of class-index masks [B, S, S], from a stream keyed by (seed, epoch, batch)
 * so that a resumed run draws the same clicks. A positive click lands on a foreground pixel (any
 * class), a negative one on a background pixel inside the image (not its padding).
 */
export function sampleClicks(
  masks: Uint8Array,
  info: readonly Pick<ResizeInfo, "resizedHeight" | "resizedWidth">[],
  size: number,
  options: ClickOptions,
  key: { seed: number; epoch: number; index: number },
): ClickBatch {
  const batch = info.length;
  const slots = options.max;
  const coords = new Float32Array(batch * slots * 2);
  const labels = new Float32Array(batch * slots).fill(-1);
  const plane = size * size;
  for (let b = 0; b < batch; b++) {
    const rng = new Rng(key.seed, "clicks", key.epoch, key.index, b);
    if (rng.next() >= options.probability) continue;
    const { resizedHeight: h, resizedWidth: w } = info[b]!;
    const isFg = new Uint8Array(h * w);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) isFg[y * w + x] = Number(masks[b * plane + y * size + x]! > 0);
    const band = borderBand(isFg, h, w, BORDER_BAND);
    // Pools of model-input pixel indices: [side][anywhere | near the border].
    const pools: number[][][] = [
      [[], []],
      [[], []],
    ];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const side = pools[isFg[y * w + x]!]!;
        side[0]!.push(y * size + x);
        if (band[y * w + x]) side[1]!.push(y * size + x);
      }
    }
    const [bg, fg] = [pools[0]![0]!, pools[1]![0]!];
    const n = 1 + Math.floor(rng.next() * slots);
    for (let c = 0; c < n; c++) {
      const positive = bg.length === 0 || (fg.length > 0 && rng.next() < 0.5);
      const side = pools[Number(positive)]!;
      const near = side[1]!.length > 0 && rng.next() < NEAR_BORDER;
      const pool = near ? side[1]! : side[0]!;
      if (pool.length === 0) break;
      const i = pool[Math.floor(rng.next() * pool.length)]!;
      coords[(b * slots + c) * 2] = i % size;
      coords[(b * slots + c) * 2 + 1] = Math.floor(i / size);
      labels[b * slots + c] = positive ? 1 : 0;
    }
  }
  return { coords, labels };
}
