// Port of segment-anything's modeling/transformer.py: TwoWayTransformer, TwoWayAttentionBlock,
// Attention (with downsample_rate for the cross attentions) and MLPBlock (ReLU). Weights come from
// a ParamScope over "mask_decoder.transformer.".
//
// Batch axes follow the original's broadcasting: the tokens [Bt, T, C] and the image tokens
// [Bs, hw, C] may differ in batch when one of them is 1 (SAMed feeds one token set to a batch of
// images), because each tensor is split into heads with its own batch size and the products
// broadcast, exactly as torch's `@` does.
import {
  add,
  div,
  layerNorm,
  linear,
  matmul,
  relu,
  reshape,
  softmax,
  type Tensor,
  transpose,
} from "../engine/index.js";
import type { SamConfig } from "./config.js";
import type { ParamScope } from "./params.js";

/** nn.LayerNorm default eps, as the transformer's norms use it. */
const LN_EPS = 1e-5;

function norm(p: ParamScope, name: string, x: Tensor, c: number): Tensor {
  return layerNorm(x, p.get(`${name}.weight`, [c]), p.get(`${name}.bias`, [c]), LN_EPS);
}

function dense(p: ParamScope, name: string, x: Tensor, inDim: number, outDim: number): Tensor {
  return linear(x, p.get(`${name}.weight`, [outDim, inDim]), p.get(`${name}.bias`, [outDim]));
}

function separateHeads(x: Tensor, heads: number): Tensor {
  const [b, n, c] = x.shape as [number, number, number];
  return transpose(reshape(x, [b, n, heads, c / heads]), [0, 2, 1, 3]);
}

function recombineHeads(x: Tensor): Tensor {
  const [b, h, n, d] = x.shape as [number, number, number, number];
  return reshape(transpose(x, [0, 2, 1, 3]), [b, n, h * d]);
}

/**
 * Attention(embedding_dim, num_heads, downsample_rate): q, k, v [B, N, C] -> [B, Nq, C].
 * `keyBias` [B or 1, 1, 1, Nk] is added to the attention logits before the softmax: 0 keeps a
 * key, a large negative number removes it exactly (its weight underflows to 0).
 */
export function attention(
  p: ParamScope,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  embeddingDim: number,
  numHeads: number,
  downsampleRate = 1,
  keyBias?: Tensor,
): Tensor {
  const internal = embeddingDim / downsampleRate;
  if (!Number.isInteger(internal) || internal % numHeads) {
    throw new Error(`attention: ${embeddingDim}/${downsampleRate} is not divisible by ${numHeads} heads`);
  }
  const qh = separateHeads(dense(p, "q_proj", q, embeddingDim, internal), numHeads);
  const kh = separateHeads(dense(p, "k_proj", k, embeddingDim, internal), numHeads);
  const vh = separateHeads(dense(p, "v_proj", v, embeddingDim, internal), numHeads);
  const dHead = internal / numHeads;
  let logits = div(matmul(qh, transpose(kh, [0, 1, 3, 2])), Math.sqrt(dHead));
  if (keyBias) logits = add(logits, keyBias);
  const attn = softmax(logits, -1);
  return dense(p, "out_proj", recombineHeads(matmul(attn, vh)), internal, embeddingDim);
}

/** MLPBlock: lin2(relu(lin1(x))). */
function mlpBlock(p: ParamScope, x: Tensor, dim: number, mlpDim: number): Tensor {
  return dense(p, "lin2", relu(dense(p, "lin1", x, dim, mlpDim)), mlpDim, dim);
}

export interface TwoWayState {
  queries: Tensor;
  keys: Tensor;
}

/** TwoWayAttentionBlock.forward. */
export function twoWayAttentionBlock(
  p: ParamScope,
  cfg: SamConfig,
  { queries, keys }: TwoWayState,
  queryPe: Tensor,
  keyPe: Tensor,
  skipFirstLayerPe: boolean,
  attentionDownsampleRate = 2,
  tokenKeyBias?: Tensor,
): TwoWayState {
  const c = cfg.promptEmbedDim;
  const heads = cfg.decoderNumHeads;
  // Self attention of the tokens.
  if (skipFirstLayerPe) {
    queries = attention(p.scope("self_attn"), queries, queries, queries, c, heads, 1, tokenKeyBias);
  } else {
    const q = add(queries, queryPe);
    queries = add(queries, attention(p.scope("self_attn"), q, q, queries, c, heads, 1, tokenKeyBias));
  }
  queries = norm(p, "norm1", queries, c);

  // Cross attention, tokens attending to the image.
  let q = add(queries, queryPe);
  let k = add(keys, keyPe);
  const t2i = attention(p.scope("cross_attn_token_to_image"), q, k, keys, c, heads, attentionDownsampleRate);
  queries = norm(p, "norm2", add(queries, t2i), c);

  // MLP on the tokens.
  queries = norm(p, "norm3", add(queries, mlpBlock(p.scope("mlp"), queries, c, cfg.decoderMlpDim)), c);

  // Cross attention, the image attending to the tokens.
  q = add(queries, queryPe);
  k = add(keys, keyPe);
  const i2t = attention(
    p.scope("cross_attn_image_to_token"),
    k,
    q,
    queries,
    c,
    heads,
    attentionDownsampleRate,
    tokenKeyBias,
  );
  keys = norm(p, "norm4", add(keys, i2t), c);
  return { queries, keys };
}

/**
 * TwoWayTransformer.forward with the image and its positional encoding already flattened to
 * tokens: imageTokens, imagePe [B, hw, C] (the original's flatten(2).permute(0, 2, 1)),
 * pointEmbedding [B, T, C]. Returns the processed tokens and image tokens.
 * `tokenKeyBias` [B or 1, 1, 1, T] (0 or a large negative number per token) removes tokens
 * wherever they are attended to, so absent prompt slots of a fixed-size graph have no effect
 * on the other tokens (not an option of the original, which has no such slots).
 */
export function twoWayTransformer(
  p: ParamScope,
  cfg: SamConfig,
  imageTokens: Tensor,
  imagePe: Tensor,
  pointEmbedding: Tensor,
  tokenKeyBias?: Tensor,
): TwoWayState {
  let state: TwoWayState = { queries: pointEmbedding, keys: imageTokens };
  for (let i = 0; i < cfg.decoderDepth; i++) {
    state = twoWayAttentionBlock(
      p.scope(`layers.${i}`),
      cfg,
      state,
      pointEmbedding,
      imagePe,
      i === 0,
      2,
      tokenKeyBias,
    );
  }
  const { keys } = state;
  const q = add(state.queries, pointEmbedding);
  const k = add(keys, imagePe);
  const attnOut = attention(
    p.scope("final_attn_token_to_image"),
    q,
    k,
    keys,
    cfg.promptEmbedDim,
    cfg.decoderNumHeads,
    2,
  );
  const queries = norm(p, "norm_final_attn", add(state.queries, attnOut), cfg.promptEmbedDim);
  return { queries, keys };
}
