// Port of segment-anything's modeling/mask_decoder.py (MaskDecoder, MLP). Weights come from a
// ParamScope over the "mask_decoder." keys of an original state dict. The image side runs
// channels-last ([B, hw, C] tokens, as the transformer wants them); the 2x2 stride-2 transposed
// convs of output_upscaling are matrix products (patch-ops.ts).
import {
  add,
  cast,
  concat,
  expand,
  gelu,
  HostTensor,
  linear,
  matmul,
  mul,
  narrow,
  relu,
  reshape,
  squeeze,
  sub,
  type Tensor,
  transpose,
  transposeLast2,
  unsqueeze,
} from "../engine/index.js";
import { fmtShape } from "../engine/tensor.js";
import { embeddingSize, type SamConfig } from "./config.js";
import type { ParamScope } from "./params.js";
import { layerNorm2dChannelsLast, patchConvTranspose } from "./patch-ops.js";
import { twoWayTransformer } from "./transformer.js";

/** The original's MLP: num_layers Linear layers with ReLU between them. */
export function mlp(
  p: ParamScope,
  x: Tensor,
  inputDim: number,
  hiddenDim: number,
  outputDim: number,
  numLayers: number,
): Tensor {
  for (let i = 0; i < numLayers; i++) {
    const inD = i === 0 ? inputDim : hiddenDim;
    const outD = i === numLayers - 1 ? outputDim : hiddenDim;
    x = linear(x, p.get(`layers.${i}.weight`, [outD, inD]), p.get(`layers.${i}.bias`, [outD]));
    if (i < numLayers - 1) x = relu(x);
  }
  return x;
}

export interface MaskDecoderInputs {
  /** [Bi, C, h, w], the image encoder's output. */
  imageEmbeddings: Tensor;
  /** [1, C, h, w], densePositionalEncoding(). */
  imagePe: Tensor;
  /** [Bt, n, C] (n may be 0: the prompt-free path). */
  sparse: Tensor;
  /** [Bd, C, h, w], Bd broadcastable to the decoder batch. */
  dense: Tensor;
  /** true: masks 1.. (num_multimask_outputs of them); false: mask 0 only. */
  multimask: boolean;
  /**
   * "repeat" (default, the original): every image is repeated for each of the Bt prompt sets
   * (torch.repeat_interleave(image_embeddings, Bt, dim=0)), meant for one image with Bt prompts or
   * Bt = 1 prompt set for a batch of images (SAMed). "paired": image i goes with prompt set i
   * (Bi = Bt, or either is 1), for batched training with per-image prompts.
   */
  batching?: "repeat" | "paired";
  /**
   * [Bt or 1, n]: 1 where a sparse prompt token is present, 0 where its slot is empty (fixed-size
   * graphs with a variable number of points). Empty tokens are removed from every attention, so
   * the result equals the decoder run without them. Default: all present.
   */
  sparsePresent?: Tensor;
}

export interface MaskDecoderOutputs {
  /** [B, K, 4h, 4w] low-resolution mask logits. */
  masks: Tensor;
  /** [B, K] predicted IoU. */
  iou: Tensor;
}

/** predict_masks' two factors of the mask logits, masks = hyperIn x upscaled, for other heads. */
export interface MaskFactors {
  /** The upscaled image embedding, channels first [B, C/8, 4h, 4w]. */
  upscaled: Tensor;
  /** One hypernetwork output per mask token [B, K, C/8]. */
  hyperIn: Tensor;
}

/** torch.repeat_interleave(x, n, dim=0). */
export function repeatInterleave0(x: Tensor, n: number): Tensor {
  if (n === 1) return x;
  const [b, ...rest] = x.shape;
  return reshape(expand(unsqueeze(x, 1), [b!, n, ...rest]), [b! * n, ...rest]);
}

/** Attention-logit bias [B, 1, 1, outputTokens + n]: 0 for present tokens, -1e9 for empty slots. */
function tokenKeyBias(sparsePresent: Tensor, outputTokens: number): Tensor {
  const [b, n] = sparsePresent.shape as [number, number];
  const always = sparsePresent.graph.constant(
    HostTensor.float32(new Float32Array(b * outputTokens).fill(1), [b, outputTokens]),
  );
  const present = concat([always, cast(sparsePresent, "float32")], 1);
  return reshape(mul(sub(present, 1), 1e9), [b, 1, 1, outputTokens + n]);
}

/** MaskDecoder.predict_masks: all num_multimask_outputs + 1 masks and IoU predictions. */
export function predictMasks(
  p: ParamScope,
  cfg: SamConfig,
  inputs: Omit<MaskDecoderInputs, "multimask">,
): MaskDecoderOutputs & MaskFactors {
  const { imageEmbeddings, imagePe, sparse, dense } = inputs;
  const c = cfg.promptEmbedDim;
  const s = embeddingSize(cfg);
  const nMask = cfg.numMultimaskOutputs + 1;
  const check = (t: Tensor, what: string, batch?: number) => {
    if (
      t.rank !== 4 ||
      t.shape[1] !== c ||
      t.shape[2] !== s ||
      t.shape[3] !== s ||
      (batch && t.shape[0] !== batch)
    ) {
      throw new Error(
        `mask decoder: ${what} must be [${batch ?? "B"}, ${c}, ${s}, ${s}], got ${fmtShape(t.shape)}`,
      );
    }
  };
  check(imageEmbeddings, "image embeddings");
  check(imagePe, "image positional encoding", 1);
  check(dense, "dense prompt embeddings");
  if (sparse.rank !== 3 || sparse.shape[2] !== c) {
    throw new Error(
      `mask decoder: sparse prompt embeddings must be [B, n, ${c}], got ${fmtShape(sparse.shape)}`,
    );
  }
  const bt = sparse.shape[0]!;

  // Output tokens: iou token, then the mask tokens, then the prompt tokens.
  const outputTokens = concat(
    [p.get("iou_token.weight", [1, c]), p.get("mask_tokens.weight", [nMask, c])],
    0,
  );
  let tokens = expand(unsqueeze(outputTokens, 0), [bt, 1 + nMask, c]);
  if (sparse.shape[1]! > 0) tokens = concat([tokens, sparse], 1);

  // Per-image data expanded to per-prompt-set (the original's repeat_interleave), then + dense.
  const repeat = (inputs.batching ?? "repeat") === "repeat";
  const src = add(repeat ? repeatInterleave0(imageEmbeddings, bt) : imageEmbeddings, dense);
  const pos = repeat ? repeatInterleave0(imagePe, bt) : imagePe;
  const toTokens = (x: Tensor) => transpose(reshape(x, [x.shape[0]!, c, s * s]), [0, 2, 1]);

  const { queries: hs, keys } = twoWayTransformer(
    p.scope("transformer"),
    cfg,
    toTokens(src),
    toTokens(pos),
    tokens,
    inputs.sparsePresent && tokenKeyBias(inputs.sparsePresent, 1 + nMask),
  );
  const b = hs.shape[0]!;
  const iouTokenOut = squeeze(narrow(hs, 1, 0, 1), 1); // [B, C]

  // Upscale the image tokens: ConvTranspose 2x2 s2 -> LayerNorm2d -> GELU -> ConvTranspose -> GELU.
  const u = p.scope("output_upscaling");
  const [c4, c8] = [c / 4, c / 8];
  let up = reshape(keys, [keys.shape[0]!, s, s, c]);
  up = patchConvTranspose(up, u.get("0.weight", [c, c4, 2, 2]), u.get("0.bias", [c4]));
  up = gelu(layerNorm2dChannelsLast(up, u.get("1.weight", [c4]), u.get("1.bias", [c4])));
  up = gelu(patchConvTranspose(up, u.get("3.weight", [c4, c8, 2, 2]), u.get("3.bias", [c8])));
  const side = 4 * s;
  const upTokens = reshape(up, [up.shape[0]!, side * side, c8]); // [B, HW, C/8]

  // One hypernetwork MLP per mask token.
  const hyper: Tensor[] = [];
  for (let i = 0; i < nMask; i++) {
    const tok = narrow(hs, 1, 1 + i, 1); // [B, 1, C]
    hyper.push(mlp(p.scope(`output_hypernetworks_mlps.${i}`), tok, c, c, c8, 3));
  }
  const hyperIn = concat(hyper, 1); // [B, K, C/8]
  const masks = reshape(matmul(hyperIn, transposeLast2(upTokens)), [
    Math.max(b, up.shape[0]!),
    nMask,
    side,
    side,
  ]);
  const iou = mlp(
    p.scope("iou_prediction_head"),
    iouTokenOut,
    c,
    cfg.iouHeadHiddenDim,
    nMask,
    cfg.iouHeadDepth,
  );
  const upscaled = transpose(reshape(up, [up.shape[0]!, side, side, c8]), [0, 3, 1, 2]);
  return { masks, iou, upscaled, hyperIn };
}

/** MaskDecoder.forward: predict_masks, then the multimask selection (1: or 0:1). */
export function maskDecoder(p: ParamScope, cfg: SamConfig, inputs: MaskDecoderInputs): MaskDecoderOutputs {
  const all = predictMasks(p, cfg, inputs);
  const [start, count] = inputs.multimask ? [1, cfg.numMultimaskOutputs] : [0, 1];
  return { masks: narrow(all.masks, 1, start, count), iou: narrow(all.iou, 1, start, count) };
}
