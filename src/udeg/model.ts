// UDEG-Net assembled (DESIGN §5): the SAM image encoder (LoRA-adapted, or trained in full from
// scratch), the automatic edge prompt generator, SAM's prompt encoder and mask decoder with one
// mask token per class (SAMed), and evidential heads for the segmentation and the edges.
import {
  add,
  cast,
  concat,
  conv,
  convTranspose,
  div,
  expand,
  gelu,
  greater,
  HostTensor,
  linear,
  narrow,
  reduceMax,
  reduceMean,
  reshape,
  resizeBilinear,
  sigmoid,
  sqrt,
  square,
  sub,
  type Tensor,
} from "../engine/index.js";
import { embeddingSize, type SamConfig } from "../sam/config.js";
import { imageEncoderFeatures, layerNorm2d } from "../sam/image-encoder.js";
import type { LoraOptions } from "../sam/lora.js";
import { predictMasks } from "../sam/mask-decoder.js";
import type { ParamScope, ParamStore } from "../sam/params.js";
import { toChannelsFirst } from "../sam/patch-ops.js";
import { densePositionalEncoding, promptEncoder } from "../sam/prompt-encoder.js";
import { headOutputs, type SegmentationHead } from "./losses.js";

export interface EdgePromptOptions {
  /** Turn the generator off entirely (the `no-edge` ablation and SAMed). */
  enabled: boolean;
  /** Channels of the generator's body (default: the prompt embedding width). */
  hidden?: number;
  /** Also feed the edge probability through SAM's own mask-prompt path. */
  maskPrompt: boolean;
  /** Learned sparse prompt tokens (default 0). */
  sparseTokens: number;
}

export interface UdegModelOptions {
  cfg: SamConfig;
  /** Foreground classes; the heads have classes + 1 channels (background first). */
  classes: number;
  /** LoRA on the encoder (SAM checkpoint); null = the encoder is trained in full or frozen. */
  lora: LoraOptions | null;
  edge: EdgePromptOptions;
  evidential: boolean;
}

export interface UdegOutputs {
  /** Per-class logits at the input resolution [B, K, S, S]. */
  seg: SegmentationHead;
  /** Edge head (2 classes) at the mask resolution [B, 2, 4h, 4w], when the generator is on. */
  edge: SegmentationHead | null;
  /** Segmentation uncertainty at the edge head's resolution (for the progressive edge loss). */
  segUncertaintyLow: Tensor | null;
}

const SOBEL_X = [-1, 0, 1, -2, 0, 2, -1, 0, 1];
const SOBEL_Y = [-1, -2, -1, 0, 0, 0, 1, 2, 1];

/** Mean over non-overlapping f x f blocks of [B, C, H, W]. */
function avgPool(x: Tensor, f: number): Tensor {
  if (f === 1) return x;
  const [b, c, h, w] = x.shape as [number, number, number, number];
  return reduceMean(reshape(x, [b, c, h / f, f, w / f, f]), [3, 5]);
}

/** Sobel gradient magnitude of the mean of the image's channels, [B, 1, S, S]. */
export function sobelPrior(image: Tensor): Tensor {
  const g = image.graph;
  const grey = reduceMean(image, [1], true);
  const kernel = g.constant(HostTensor.float32([...SOBEL_X, ...SOBEL_Y], [2, 1, 3, 3]));
  const grad = conv(grey, kernel, null, { padding: 1 });
  const gx = narrow(grad, 1, 0, 1);
  const gy = narrow(grad, 1, 1, 1);
  return sqrt(add(add(square(gx), square(gy)), 1e-6));
}

function conv3(p: ParamScope, x: Tensor, cin: number, cout: number): Tensor {
  return conv(x, p.get("weight", [cout, cin, 3, 3]), p.get("bias", [cout]), { padding: 1 });
}

function ln2d(p: ParamScope, x: Tensor): Tensor {
  const c = x.shape[1]!;
  return layerNorm2d(x, p.get("weight", [c]), p.get("bias", [c]));
}

export interface EdgePrompt {
  /** Added to SAM's dense prompt [B, C, h, w]. */
  denseDelta: Tensor;
  /** Edge logits [B, 2, 4h, 4w] (background, edge). */
  edgeLogits: Tensor;
}

/**
 * The automatic edge prompt generator: fuses the final image embedding, the first global
 * block's output (projected to C) and a Sobel edge prior; predicts an edge map at 4x the
 * embedding resolution and a dense prompt. The dense head starts at zero, so an untrained
 * generator leaves SAM's behaviour unchanged.
 */
export function edgePromptGenerator(
  p: ParamScope,
  cfg: SamConfig,
  embeddings: Tensor,
  firstGlobal: Tensor,
  sobel: Tensor,
  hidden: number,
): EdgePrompt {
  const c = cfg.promptEmbedDim;
  const e = embeddingSize(cfg);
  const sobel4 = avgPool(sobel, cfg.imageSize / (4 * e)); // [B, 1, 4h, 4w]
  const sobel1 = avgPool(sobel4, 4); // [B, 1, h, w]
  const g1 = toChannelsFirst(
    linear(
      firstGlobal,
      p.get("global_proj.weight", [c, cfg.encoderEmbedDim]),
      p.get("global_proj.bias", [c]),
    ),
  );
  let f = concat([embeddings, g1, sobel1], 1);
  f = gelu(ln2d(p.scope("norm1"), conv3(p.scope("conv1"), f, 2 * c + 1, hidden)));
  f = gelu(ln2d(p.scope("norm2"), conv3(p.scope("conv2"), f, hidden, hidden)));
  const denseDelta = conv(f, p.get("dense.weight", [c, hidden, 1, 1]), p.get("dense.bias", [c]));
  const [h2, h4] = [Math.max(8, hidden / 2), Math.max(8, hidden / 4)];
  let u = convTranspose(f, p.get("up1.weight", [hidden, h2, 2, 2]), p.get("up1.bias", [h2]), { stride: 2 });
  u = gelu(ln2d(p.scope("up_norm"), u));
  u = gelu(convTranspose(u, p.get("up2.weight", [h2, h4, 2, 2]), p.get("up2.bias", [h4]), { stride: 2 }));
  const edgeLogits = conv3(p.scope("edge_head"), concat([u, sobel4], 1), h4 + 1, 2);
  return { denseDelta, edgeLogits };
}

/** What the image side computes once per image; the decoder runs on it for any prompts. */
export interface UdegEncoding {
  /** SAM's image embedding [B, C, h, w]. */
  embeddings: Tensor;
  /** The dense prompt [B, C, h, w]: no-mask embedding plus the edge prompt generator's delta. */
  dense: Tensor;
  /** Edge head (2 classes) at the mask resolution [B, 2, 4h, 4w], when the generator is on. */
  edge: SegmentationHead | null;
}

/**
 * Point prompts for a fixed number of slots: coords [B, P, 2] in model-input pixels, labels
 * [B, P] float32: 1 positive, 0 negative, -1 an empty slot. Empty slots are removed from the
 * decoder's attention, so all-empty equals the prompt-free model exactly.
 */
export interface UdegPoints {
  coords: Tensor;
  labels: Tensor;
}

/** SAMed's per-class decoder: one mask token per class plus background. */
function decoderConfig(o: UdegModelOptions): SamConfig {
  return { ...o.cfg, numMultimaskOutputs: o.classes };
}

/** The image side: normalisation, SAM's encoder (with LoRA), the edge prompt generator. */
export function udegEncode(store: ParamStore, o: UdegModelOptions, image0to255: Tensor): UdegEncoding {
  const cfg = decoderConfig(o);
  const c = cfg.promptEmbedDim;
  const e = embeddingSize(cfg);
  const g = store.graph;
  const mean = g.constant(HostTensor.float32([...cfg.pixelMean], [1, 3, 1, 1]));
  const std = g.constant(HostTensor.float32([...cfg.pixelStd], [1, 3, 1, 1]));
  const image = div(sub(image0to255, mean), std);
  const features = imageEncoderFeatures(image, store.scope("image_encoder."), cfg, {
    lora: o.lora ?? undefined,
  });
  const pe = store.scope("prompt_encoder.");
  const b = image.shape[0]!;

  let dense: Tensor = reshape(pe.get("no_mask_embed.weight", [1, c]), [1, c, 1, 1]);
  let edge: SegmentationHead | null = null;
  if (o.edge.enabled) {
    const firstGlobal = features.blockOutputs[cfg.encoderGlobalAttnIndexes[0] ?? 0]!;
    const hidden = o.edge.hidden ?? c;
    const gen = edgePromptGenerator(
      store.scope("udeg.edge."),
      cfg,
      features.embeddings,
      firstGlobal,
      sobelPrior(image),
      hidden,
    );
    edge = headOutputs(gen.edgeLogits, o.evidential);
    if (o.edge.maskPrompt) {
      // The edge probability as a mask prompt through SAM's own downscaling path.
      const edgeProb = sigmoid(sub(narrow(gen.edgeLogits, 1, 1, 1), narrow(gen.edgeLogits, 1, 0, 1)));
      dense = promptEncoder(pe, cfg, { masks: edgeProb }).dense;
    }
    dense = add(dense, gen.denseDelta);
  }
  return { embeddings: features.embeddings, dense: expand(dense, [b, c, e, e]), edge };
}

/** The sparse prompt tokens and which of them are present ([B, n] of 0/1, or none: all are). */
function sparsePrompts(
  store: ParamStore,
  o: UdegModelOptions,
  batch: number,
  points?: UdegPoints,
): { sparse: Tensor; present?: Tensor } {
  const cfg = decoderConfig(o);
  const c = cfg.promptEmbedDim;
  const pe = store.scope("prompt_encoder.");
  const learned =
    o.edge.enabled && o.edge.sparseTokens > 0
      ? reshape(store.get("udeg.sparse_tokens", [o.edge.sparseTokens, c]), [1, o.edge.sparseTokens, c])
      : null;
  if (!points) return { sparse: learned ?? promptEncoder(pe, cfg, {}).sparse };
  // SAM appends a padding point when there is no box; it is present whenever any point is.
  const pointTokens = promptEncoder(pe, cfg, { points }).sparse; // [B, P + 1, C]
  const isPoint = cast(greater(points.labels, -0.5), "float32"); // [B, P]
  const parts = [isPoint, reduceMax(isPoint, [1], true)];
  let sparse = pointTokens;
  if (learned) {
    const n = learned.shape[1]!;
    sparse = concat([expand(learned, [batch, n, c]), pointTokens], 1);
    parts.unshift(store.graph.constant(HostTensor.float32(new Float32Array(batch * n).fill(1), [batch, n])));
  }
  return { sparse, present: concat(parts, 1) };
}

/** The prompt side: SAM's mask decoder on an encoding (and optional points), per-class logits. */
export function udegDecode(
  store: ParamStore,
  o: UdegModelOptions,
  encoding: Pick<UdegEncoding, "embeddings" | "dense">,
  points?: UdegPoints,
): { seg: SegmentationHead; low: Tensor } {
  const cfg = decoderConfig(o);
  const pe = store.scope("prompt_encoder.");
  const { sparse, present } = sparsePrompts(store, o, encoding.embeddings.shape[0]!, points);
  const out = predictMasks(store.scope("mask_decoder."), cfg, {
    imageEmbeddings: encoding.embeddings,
    imagePe: densePositionalEncoding(pe, cfg),
    sparse,
    dense: encoding.dense,
    ...(present ? { batching: "paired" as const, sparsePresent: present } : {}),
  });
  // One mask token per class (background first), as SAMed; logits upsampled to the input size.
  const low = out.masks; // [B, K, 4h, 4w]
  const logits = resizeBilinear(low, [cfg.imageSize, cfg.imageSize]);
  return { seg: headOutputs(logits, o.evidential), low };
}

/** The whole network on a batch of images in 0-255 [B, 3, S, S] (normalisation is in the graph). */
export function udegForward(
  store: ParamStore,
  o: UdegModelOptions,
  image0to255: Tensor,
  points?: UdegPoints,
): UdegOutputs {
  const encoding = udegEncode(store, o, image0to255);
  const { seg, low } = udegDecode(store, o, encoding, points);
  const segUncertaintyLow = encoding.edge ? headOutputs(low, o.evidential).uncertainty : null;
  return { seg, edge: encoding.edge, segUncertaintyLow };
}
