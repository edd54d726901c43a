// Port of segment-anything's modeling/prompt_encoder.py (PromptEncoder, PositionEmbeddingRandom).
// Weights come from a ParamScope over the "prompt_encoder." keys of an original state dict:
//   pe_layer.positional_encoding_gaussian_matrix [2, C/2], point_embeddings.{0..3}.weight [1, C],
//   not_a_point_embed.weight [1, C], no_mask_embed.weight [1, C],
//   mask_downscaling.{0,3,6} (convs) and .{1,4} (LayerNorm2d).
// Point labels may be graph inputs: the label-dependent embeddings are selected with Equal/Where,
// never on the host, so only the number of points is fixed per graph.
import {
  add,
  concat,
  cos,
  div,
  equal,
  expand,
  gelu,
  HostTensor,
  matmul,
  mul,
  reshape,
  sin,
  sub,
  type Tensor,
  transpose,
  unsqueeze,
  where,
} from "../engine/index.js";
import { fmtShape } from "../engine/tensor.js";
import { embeddingSize, type SamConfig } from "./config.js";
import type { ParamScope } from "./params.js";
import { layerNorm2dChannelsLast, patchConv, toChannelsFirst, toChannelsLast } from "./patch-ops.js";

export interface PointPrompts {
  /** [B, N, 2] (x, y) in model-input pixels, i.e. after resizing the longest side to image_size. */
  coords: Tensor;
  /** [B, N]: 1 foreground, 0 background, -1 padding (not a point); int64 or float32. */
  labels: Tensor;
}

export interface Prompts {
  points?: PointPrompts;
  /** [B, 4] (x0, y0, x1, y1) in model-input pixels. */
  boxes?: Tensor;
  /** [B, 1, 4h, 4w] mask logits (h, w: the image-embedding grid). */
  masks?: Tensor;
  /**
   * A dense prompt [B or 1, C, h, w] that replaces no_mask_embed (UDEG-Net's edge prompt
   * generator). Not an option of the original; cannot be combined with `masks`.
   */
  dense?: Tensor;
}

export interface PromptEmbeddings {
  /** [B, n, C]: point tokens (plus a padding point when there is no box), then 2 box corners. */
  sparse: Tensor;
  /** [B, C, h, w] (batch 1 when only the no-mask embedding is used, as expanded by the original). */
  dense: Tensor;
}

function embed(p: ParamScope, name: string, c: number): Tensor {
  return p.get(`${name}.weight`, [1, c]);
}

function gaussianMatrix(p: ParamScope, cfg: SamConfig): Tensor {
  return p.get("pe_layer.positional_encoding_gaussian_matrix", [2, cfg.promptEmbedDim / 2]);
}

/** PositionEmbeddingRandom._pe_encoding: coords [..., 2] in [0, 1] -> [..., C]. */
function peEncoding(coords: Tensor, gauss: Tensor): Tensor {
  const c = mul(matmul(sub(mul(coords, 2), 1), gauss), 2 * Math.PI);
  return concat([sin(c), cos(c)], -1);
}

/**
 * PositionEmbeddingRandom.forward_with_coords: coords [B, N, 2] in input pixels (x, y) ->
 * [B, N, C]. The caller applies the +0.5 pixel-centre shift, as the original does.
 */
export function encodeCoords(p: ParamScope, cfg: SamConfig, coords: Tensor): Tensor {
  if (coords.shape[coords.rank - 1] !== 2)
    throw new Error(`encodeCoords: coords must be [..., 2], got ${coords}`);
  // input_image_size is (image_size, image_size): x / width, y / height.
  const size = coords.graph.constant(HostTensor.float32([cfg.imageSize, cfg.imageSize], [2]));
  return peEncoding(div(coords, size), gaussianMatrix(p, cfg));
}

/** get_dense_pe(): the positional encoding of the embedding grid, [1, C, h, w]. */
export function densePositionalEncoding(p: ParamScope, cfg: SamConfig): Tensor {
  const s = embeddingSize(cfg);
  const [h, w] = [s, s];
  const grid = new Float32Array(h * w * 2);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      // (cumsum - 0.5) / size, rounded to float32 as the original computes it.
      grid[(i * w + j) * 2] = Math.fround((j + 0.5) / w);
      grid[(i * w + j) * 2 + 1] = Math.fround((i + 0.5) / h);
    }
  }
  const pe = peEncoding(p.graph.constant(new HostTensor("float32", [h, w, 2], grid)), gaussianMatrix(p, cfg));
  return unsqueeze(transpose(pe, [2, 0, 1]), 0);
}

function embedPoints(p: ParamScope, cfg: SamConfig, points: PointPrompts, pad: boolean): Tensor {
  const { coords, labels } = points;
  const g = coords.graph;
  const [b, n] = coords.shape as [number, number];
  if (coords.rank !== 3 || coords.shape[2] !== 2)
    throw new Error(`prompt encoder: point coords must be [B, N, 2], got ${coords}`);
  if (labels.rank !== 2 || labels.shape[0] !== b || labels.shape[1] !== n) {
    throw new Error(
      `prompt encoder: point labels must be [${b}, ${n}] for coords ${fmtShape(coords.shape)}, got ${labels}`,
    );
  }
  if (labels.dtype !== "int64" && labels.dtype !== "float32")
    throw new Error(`prompt encoder: labels must be int64 or float32, got ${labels}`);
  let pts = add(coords, 0.5); // shift to the centre of the pixel
  let labs = labels;
  if (pad) {
    pts = concat([pts, expand(g.scalar(0), [b, 1, 2])], 1);
    labs = concat([labs, expand(g.scalar(-1, labels.dtype), [b, 1])], 1);
  }
  const c = cfg.promptEmbedDim;
  let emb = encodeCoords(p, cfg, pts);
  const is = (v: number) => unsqueeze(equal(labs, v), -1); // [B, N', 1]
  const notAPoint = is(-1);
  // point_embedding[labels == -1] = 0; then += not_a_point_embed; labels 0/1 += point_embeddings[0/1].
  emb = where(notAPoint, 0, emb);
  emb = add(emb, where(notAPoint, embed(p, "not_a_point_embed", c), 0));
  emb = add(emb, where(is(0), embed(p, "point_embeddings.0", c), 0));
  emb = add(emb, where(is(1), embed(p, "point_embeddings.1", c), 0));
  return emb;
}

function embedBoxes(p: ParamScope, cfg: SamConfig, boxes: Tensor): Tensor {
  if (boxes.size % 4 || boxes.shape[boxes.rank - 1] !== 4)
    throw new Error(`prompt encoder: boxes must be [B, 4], got ${boxes}`);
  const c = cfg.promptEmbedDim;
  const corners = reshape(add(boxes, 0.5), [-1, 2, 2]);
  const corner = concat([embed(p, "point_embeddings.2", c), embed(p, "point_embeddings.3", c)], 0); // [2, C]
  return add(encodeCoords(p, cfg, corners), corner);
}

/** mask_downscaling: [B, 1, 4h, 4w] -> [B, C, h, w]. */
function embedMasks(p: ParamScope, cfg: SamConfig, masks: Tensor): Tensor {
  const s = embeddingSize(cfg);
  if (masks.rank !== 4 || masks.shape[1] !== 1 || masks.shape[2] !== 4 * s || masks.shape[3] !== 4 * s) {
    throw new Error(`prompt encoder: mask prompt must be [B, 1, ${4 * s}, ${4 * s}], got ${masks}`);
  }
  const m = p.scope("mask_downscaling");
  const [c1, c2, c] = [cfg.maskInChans / 4, cfg.maskInChans, cfg.promptEmbedDim];
  let x = toChannelsLast(masks);
  x = patchConv(x, m.get("0.weight", [c1, 1, 2, 2]), m.get("0.bias", [c1]));
  x = gelu(layerNorm2dChannelsLast(x, m.get("1.weight", [c1]), m.get("1.bias", [c1])));
  x = patchConv(x, m.get("3.weight", [c2, c1, 2, 2]), m.get("3.bias", [c2]));
  x = gelu(layerNorm2dChannelsLast(x, m.get("4.weight", [c2]), m.get("4.bias", [c2])));
  x = patchConv(x, m.get("6.weight", [c, c2, 1, 1]), m.get("6.bias", [c]));
  return toChannelsFirst(x);
}

/** The batch size the original infers: points, else boxes, else masks, else 1. */
function batchSize(prompts: Prompts): number {
  if (prompts.points) return prompts.points.coords.shape[0]!;
  if (prompts.boxes) return prompts.boxes.rank === 1 ? 1 : prompts.boxes.size / 4;
  if (prompts.masks) return prompts.masks.shape[0]!;
  return 1;
}

/**
 * PromptEncoder.forward. With no prompts at all this is SAMed's prompt-free path: sparse is
 * [1, 0, C] and dense is no_mask_embed broadcast to [1, C, h, w] (or `prompts.dense`).
 */
export function promptEncoder(p: ParamScope, cfg: SamConfig, prompts: Prompts = {}): PromptEmbeddings {
  const g = p.graph;
  const c = cfg.promptEmbedDim;
  const s = embeddingSize(cfg);
  const bs = batchSize(prompts);
  const parts: Tensor[] = [];
  if (prompts.points) parts.push(embedPoints(p, cfg, prompts.points, !prompts.boxes));
  if (prompts.boxes) parts.push(embedBoxes(p, cfg, prompts.boxes));
  for (const t of parts) {
    if (t.shape[0] !== bs)
      throw new Error(`prompt encoder: prompt batch sizes differ (${t.shape[0]} vs ${bs})`);
  }
  const sparse = parts.length ? concat(parts, 1) : g.constant(HostTensor.zeros([bs, 0, c]));

  if (prompts.masks && prompts.dense)
    throw new Error("prompt encoder: give either a mask prompt or a dense prompt, not both");
  let dense: Tensor;
  if (prompts.masks) {
    dense = embedMasks(p, cfg, prompts.masks);
  } else if (prompts.dense) {
    const d = prompts.dense;
    if (d.rank !== 4 || d.shape[1] !== c || d.shape[2] !== s || d.shape[3] !== s) {
      throw new Error(`prompt encoder: dense prompt must be [B, ${c}, ${s}, ${s}], got ${d}`);
    }
    dense = d;
  } else {
    dense = expand(reshape(embed(p, "no_mask_embed", c), [1, c, 1, 1]), [bs, c, s, s]);
  }
  return { sparse, dense };
}
