// Adapting a checkpoint's image encoder to another input size (e.g. SAMed's 512 from a 1024
// checkpoint), exactly as SAMed's `load_from` (segment_anything/build_sam.py) does it:
// - pos_embed [1, h, w, C] is permuted to [1, C, h, w], resized with F.interpolate(mode
//   "bilinear", align_corners=False) to the new grid, and permuted back;
// - each global-attention block's rel_pos_h / rel_pos_w table [L, C], viewed as [1, 1, L, C], is
//   resized bilinearly to [2 * grid - 1, C] (the width is unchanged, so this is linear resampling
//   of the rows).
// SAMed picks the global blocks by a substring test on the key ('2', '5', '8', '11': right for
// ViT-B only); we use the config's global attention indexes. Window blocks keep their tables
// (the window size does not change). Host-side Float32Array work, no graph.
import { HostTensor, linearInterpolationMatrix } from "../engine/index.js";
import { embeddingSize, type SamConfig } from "./config.js";
import type { WeightSource } from "./params.js";

/** Non-zero taps of each output row of a 1-D linear resampling: [index, weight] pairs. */
function taps(inSize: number, outSize: number): [number, number][][] {
  const m = linearInterpolationMatrix(inSize, outSize, false);
  return Array.from({ length: outSize }, (_, o) => {
    const row: [number, number][] = [];
    for (let i = 0; i < inSize; i++) if (m[o * inSize + i] !== 0) row.push([i, m[o * inSize + i]!]);
    return row;
  });
}

/**
 * Bilinear resize (align_corners=False, no antialiasing) of channels-last data [h, w, C] to
 * [outH, outW, C]: what F.interpolate does to the same data laid out [C, h, w].
 */
export function resizeBilinearHwc(
  data: Float32Array,
  [h, w, c]: readonly [number, number, number],
  [outH, outW]: readonly [number, number],
): Float32Array {
  if (data.length !== h * w * c)
    throw new Error(`resizeBilinearHwc: ${data.length} values for [${h}, ${w}, ${c}]`);
  const ty = taps(h, outH);
  const tx = taps(w, outW);
  const out = new Float32Array(outH * outW * c);
  const acc = new Float64Array(c);
  for (let i = 0; i < outH; i++) {
    for (let j = 0; j < outW; j++) {
      acc.fill(0);
      for (const [a, wy] of ty[i]!) {
        for (const [b, wx] of tx[j]!) {
          const wgt = wy * wx;
          const base = (a * w + b) * c;
          for (let k = 0; k < c; k++) acc[k]! += wgt * data[base + k]!;
        }
      }
      out.set(acc, (i * outW + j) * c);
    }
  }
  return out;
}

/** pos_embed [1, h, w, C] resized to [1, size, size, C] (or [1, size[0], size[1], C]). */
export function resizePosEmbed(t: HostTensor, size: number | readonly [number, number]): HostTensor {
  if (t.shape.length !== 4 || t.shape[0] !== 1)
    throw new Error(`pos_embed must be [1, h, w, C], got [${t.shape}]`);
  const [, h, w, c] = t.shape as [number, number, number, number];
  const [oh, ow] = typeof size === "number" ? [size, size] : size;
  if (oh === h && ow === w) return t;
  return new HostTensor("float32", [1, oh, ow, c], resizeBilinearHwc(t.toFloat32(), [h, w, c], [oh, ow]));
}

/** A relative position table [L, C] resized to [length, C] (SAMed: bilinear on [1, 1, L, C]). */
export function resizeRelPos(t: HostTensor, length: number): HostTensor {
  if (t.shape.length !== 2) throw new Error(`rel_pos table must be [L, C], got [${t.shape}]`);
  const [len, c] = t.shape as [number, number];
  if (len === length) return t;
  return new HostTensor("float32", [length, c], resizeBilinearHwc(t.toFloat32(), [len, 1, c], [length, 1]));
}

export interface ResizedWeights {
  /** The source with the resized tensors replaced (other tensors shared, not copied). */
  weights: Map<string, HostTensor>;
  /** Keys that were resized. */
  resized: string[];
}

/**
 * The encoder weights of `source` adapted to `cfg.imageSize`: pos_embed to the new grid and the
 * global blocks' relative position tables to 2 * grid - 1 rows, where they differ.
 * `prefix` is the encoder's key prefix (default "image_encoder.").
 */
export function resizeEncoderWeights(
  source: WeightSource,
  cfg: SamConfig,
  prefix = "image_encoder.",
): ResizedWeights {
  const grid = embeddingSize(cfg);
  const weights = new Map(source);
  const resized: string[] = [];
  const replace = (key: string, fn: (t: HostTensor) => HostTensor) => {
    const t = source.get(key);
    if (!t) return;
    const r = fn(t);
    if (r !== t) {
      weights.set(key, r);
      resized.push(key);
    }
  };
  replace(`${prefix}pos_embed`, (t) => resizePosEmbed(t, grid));
  for (const i of cfg.encoderGlobalAttnIndexes) {
    for (const axis of ["h", "w"])
      replace(`${prefix}blocks.${i}.attn.rel_pos_${axis}`, (t) => resizeRelPos(t, 2 * grid - 1));
  }
  return { weights, resized };
}
