// Initial weights for UDEG-Net: PyTorch's default initialisation for everything a run creates
// (SAM from scratch, the edge prompt generator, LoRA), and the adaptation of a SAM checkpoint's
// mask decoder to one mask token per class.

import { Graph, HostTensor } from "../engine/index.js";
import { randomTensor, rng } from "../engine/random.js";
import { hashKey, isLoraKey, loraDefaults } from "../sam/lora.js";
import { ShapeRecorder } from "../sam/params.js";
import { type UdegModelOptions, udegForward } from "./model.js";

/** Every weight UDEG-Net reads for these options, with its shape (point prompts included). */
export function udegWeightShapes(o: UdegModelOptions, batch = 1): Map<string, number[]> {
  const rec = new ShapeRecorder(new Graph());
  const s = o.cfg.imageSize;
  const g = rec.graph;
  udegForward(rec, o, g.input("image", [batch, 3, s, s]), {
    coords: g.input("point_coords", [batch, 1, 2]),
    labels: g.input("point_labels", [batch, 1]),
  });
  return rec.shapes;
}

const EMBEDDING = /(iou_token|mask_tokens|point_embeddings\.\d+|not_a_point_embed|no_mask_embed)\.weight$/;
/**
 * Things that start at zero: SAM's position tables, the edge generator's dense head and the fine
 * path's last conv (so both start neutral: the plain decoder's masks).
 */
const ZERO =
  /(pos_embed|rel_pos_[hw]|udeg\.edge\.dense\.(weight|bias)|udeg\.fine\.out\.(weight|bias)|udeg\.sparse_tokens)$/;

function normal(shape: readonly number[], random: () => number, std: number): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    // Box-Muller: two normals per two uniforms.
    const r = Math.sqrt(-2 * Math.log(1 - random()));
    const t = 2 * Math.PI * random();
    data[i] = r * Math.cos(t) * std;
    if (i + 1 < n) data[i + 1] = r * Math.sin(t) * std;
  }
  return new HostTensor("float32", shape, data);
}

/**
 * PyTorch-style initial value of one weight: Linear/Conv weights Kaiming-uniform (bound
 * 1/sqrt(fan_in)), biases zero, LayerNorm scales one, embeddings N(0, 1), LoRA A uniform and
 * B zero, position tables zero.
 */
export function initialWeight(key: string, shape: readonly number[], seed: number): HostTensor {
  if (isLoraKey(key)) return loraDefaults(key, shape, seed)!;
  const random = rng(hashKey(key, seed));
  if (ZERO.test(key) || key.endsWith(".bias")) return HostTensor.zeros(shape);
  if (EMBEDDING.test(key)) return normal(shape, random, 1);
  if (key.endsWith("positional_encoding_gaussian_matrix")) return normal(shape, random, 1);
  if (shape.length === 1) return new HostTensor("float32", shape, new Float32Array(shape[0]!).fill(1)); // LayerNorm scale
  // fan_in as PyTorch computes it: dim 1 times the kernel size, for Linear [out, in], Conv
  // [out, in, k...] and ConvTranspose [in, out, k...] alike.
  const fanIn = shape[1]! * shape.slice(2).reduce((a, b) => a * b, 1);
  const bound = 1 / Math.sqrt(fanIn);
  return randomTensor(shape, random, [-bound, bound]);
}

/**
 * Adapt a SAM checkpoint's decoder to K = classes + 1 mask tokens (SAMed): the first tokens,
 * hypernetwork MLPs and IoU-head rows are reused, extra ones start fresh.
 */
export function adaptDecoderToClasses(
  weights: Map<string, HostTensor>,
  shapes: ReadonlyMap<string, readonly number[]>,
  seed: number,
): Map<string, HostTensor> {
  const out = new Map(weights);
  for (const [key, shape] of shapes) {
    const have = weights.get(key);
    if (have && have.shape.join() === shape.join()) continue;
    if (
      have &&
      key.startsWith("mask_decoder.") &&
      have.shape.length === shape.length &&
      have.shape.slice(1).join() === shape.slice(1).join()
    ) {
      // Same row layout, different row count (mask tokens, IoU head output): keep the rows that exist.
      const rows = Math.min(have.shape[0]!, shape[0]!);
      const rowSize = shape.slice(1).reduce((a, b) => a * b, 1);
      const fresh = initialWeight(key, shape, seed);
      (fresh.data as Float32Array).set(have.toFloat32().subarray(0, rows * rowSize));
      out.set(key, fresh);
    } else if (!have && /^mask_decoder\.output_hypernetworks_mlps\.(\d+)\./.test(key)) {
      // A class beyond SAM's four mask tokens: start its hypernetwork from the first one's.
      const first = weights.get(
        key.replace(/output_hypernetworks_mlps\.\d+\./, "output_hypernetworks_mlps.0."),
      );
      out.set(key, first ?? initialWeight(key, shape, seed));
    }
  }
  return out;
}

/**
 * Every key of `shapes`: the given weight, or its initial value where `weights` lacks the key or
 * (for UDEG-Net's own parts, which a base may hold at another width) has another shape.
 */
export function completeWeights(
  weights: ReadonlyMap<string, HostTensor>,
  shapes: ReadonlyMap<string, readonly number[]>,
  seed: number,
): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [key, shape] of shapes) {
    const have = weights.get(key);
    const fits = have && (!key.startsWith("udeg.") || have.shape.join() === shape.join());
    out.set(key, fits ? have : initialWeight(key, shape, seed));
  }
  return out;
}
