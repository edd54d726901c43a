// UDEG-Net assembled (DESIGN §5): the SAM image encoder (LoRA-adapted, or trained in full from
// scratch), the automatic edge prompt generator, SAM's prompt encoder and mask decoder with one
// mask token per class (SAMed), and evidential heads for the segmentation and the edges.
import {
  add,
  cast,
  concat,
  div,
  expand,
  greater,
  HostTensor,
  narrow,
  reduceMax,
  reshape,
  resizeBilinear,
  sigmoid,
  sub,
  type Tensor,
} from "../engine/index.js";
import { embeddingSize, type SamConfig } from "../sam/config.js";
import { imageEncoderFeatures } from "../sam/image-encoder.js";
import type { LoraOptions } from "../sam/lora.js";
import { predictMasks } from "../sam/mask-decoder.js";
import type { ParamStore } from "../sam/params.js";
import { densePositionalEncoding, promptEncoder } from "../sam/prompt-encoder.js";
import { type EdgePromptOptions, edgePromptGenerator, sobelPrior } from "./edge-prompt-generator.js";
import { type FineDetail, type FinePathOptions, fineDecode, fineImageSide } from "./fine-path.js";
import { headOutputs, type SegmentationHead } from "./heads.js";

export type { EdgePromptOptions };

export interface UdegModelOptions {
  cfg: SamConfig;
  /** Foreground classes; the heads have classes + 1 channels (background first). */
  classes: number;
  /** LoRA on the encoder (SAM checkpoint); null = the encoder is trained in full or frozen. */
  lora: LoraOptions | null;
  edge: EdgePromptOptions;
  /** The pixel-precise decoding path (fine-path.ts). */
  fine: FinePathOptions;
  evidential: boolean;
}

export interface UdegOutputs {
  /** Per-class logits at the input resolution [B, K, S, S]. */
  seg: SegmentationHead;
  /** Edge head (2 classes) at edgeResolution(model), when the generator is on. */
  edge: SegmentationHead | null;
  /** Segmentation uncertainty at the edge head's resolution (for the progressive edge loss). */
  segUncertainty: Tensor | null;
  /** SAM's image embedding [B, C, h, w] (the trust score's distance to the training images). */
  embeddings: Tensor;
}

/** What the image side computes once per image; the decoder runs on it for any prompts. */
export interface UdegEncoding {
  /** SAM's image embedding [B, C, h, w]. */
  embeddings: Tensor;
  /** The dense prompt [B, C, h, w]: no-mask embedding plus the edge prompt generator's delta. */
  dense: Tensor;
  /** Edge head (2 classes) at edgeResolution(model), when the generator is on. */
  edge: SegmentationHead | null;
  /** The fine path's image side (null when the path is off). */
  detail: FineDetail | null;
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

/** Edge target and edge head resolution: the input size with the fine path, else 4x the token grid. */
export function edgeResolution(model: UdegModelOptions): number {
  return model.fine.enabled ? model.cfg.imageSize : 4 * embeddingSize(model.cfg);
}

/** SAMed's per-class decoder: one mask token per class plus background. */
function decoderConfig(model: UdegModelOptions): SamConfig {
  return { ...model.cfg, numMultimaskOutputs: model.classes };
}

/** The image side: normalisation, SAM's encoder (with LoRA), the edge prompt generator. */
export function udegEncode(store: ParamStore, model: UdegModelOptions, image0to255: Tensor): UdegEncoding {
  const cfg = decoderConfig(model);
  const c = cfg.promptEmbedDim;
  const grid = embeddingSize(cfg); // h = w of the image embedding
  const g = store.graph;
  const mean = g.constant(HostTensor.float32([...cfg.pixelMean], [1, 3, 1, 1]));
  const std = g.constant(HostTensor.float32([...cfg.pixelStd], [1, 3, 1, 1]));
  const image = div(sub(image0to255, mean), std);
  const features = imageEncoderFeatures(image, store.scope("image_encoder."), cfg, {
    lora: model.lora ?? undefined,
  });
  const pe = store.scope("prompt_encoder.");
  const b = image.shape[0]!;

  let dense: Tensor = reshape(pe.get("no_mask_embed.weight", [1, c]), [1, c, 1, 1]);
  const sobel = model.edge.enabled || model.fine.enabled ? sobelPrior(image) : null;
  let edgeLogits: Tensor | null = null;
  let edgeFeatures: Tensor | null = null;
  let denseDelta: Tensor | null = null;
  if (model.edge.enabled) {
    const firstGlobal = features.blockOutputs[cfg.encoderGlobalAttnIndexes[0] ?? 0]!;
    // The edge loss reaches the encoder through these inputs; detaching them was measured and
    // not taken: docs/experiments.md, "The edge loss's gradient into the encoder".
    const gen = edgePromptGenerator(
      store.scope("udeg.edge."),
      cfg,
      features.embeddings,
      firstGlobal,
      sobel!,
      model.edge.hidden ?? c,
      !model.fine.enabled,
    );
    edgeLogits = gen.edgeLogits;
    edgeFeatures = gen.features;
    denseDelta = gen.denseDelta;
  }
  let detail: FineDetail | null = null;
  if (model.fine.enabled) {
    const side = fineImageSide(store.scope("udeg.fine."), model.fine, image, sobel!, edgeFeatures);
    detail = side.detail;
    edgeLogits = side.edgeLogits ?? edgeLogits;
  }
  if (edgeLogits && model.edge.maskPrompt) {
    // The edge probability as a mask prompt through SAM's own downscaling path (at 4h x 4w).
    const prob = sigmoid(sub(narrow(edgeLogits, 1, 1, 1), narrow(edgeLogits, 1, 0, 1)));
    const masks = prob.shape[2] === 4 * grid ? prob : resizeBilinear(prob, [4 * grid, 4 * grid]);
    dense = promptEncoder(pe, cfg, { masks }).dense;
  }
  if (denseDelta) dense = add(dense, denseDelta);
  const edge = edgeLogits ? headOutputs(edgeLogits, model.evidential) : null;
  return { embeddings: features.embeddings, dense: expand(dense, [b, c, grid, grid]), edge, detail };
}

/** The sparse prompt tokens and which of them are present ([B, n] of 0/1, or none: all are). */
function sparsePrompts(
  store: ParamStore,
  model: UdegModelOptions,
  batch: number,
  points?: UdegPoints,
): { sparse: Tensor; present?: Tensor } {
  const cfg = decoderConfig(model);
  const c = cfg.promptEmbedDim;
  const pe = store.scope("prompt_encoder.");
  const learned =
    model.edge.enabled && model.edge.sparseTokens > 0
      ? reshape(store.get("udeg.sparse_tokens", [model.edge.sparseTokens, c]), [
          1,
          model.edge.sparseTokens,
          c,
        ])
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
  model: UdegModelOptions,
  encoding: Pick<UdegEncoding, "embeddings" | "dense" | "detail">,
  points?: UdegPoints,
): { seg: SegmentationHead; low: Tensor } {
  const cfg = decoderConfig(model);
  const pe = store.scope("prompt_encoder.");
  const { sparse, present } = sparsePrompts(store, model, encoding.embeddings.shape[0]!, points);
  const out = predictMasks(store.scope("mask_decoder."), cfg, {
    imageEmbeddings: encoding.embeddings,
    imagePe: densePositionalEncoding(pe, cfg),
    sparse,
    dense: encoding.dense,
    ...(present ? { batching: "paired" as const, sparsePresent: present } : {}),
  });
  // One mask token per class (background first), as SAMed; at the input size through the fine
  // path, or the decoder's logits upsampled.
  const low = out.masks; // [B, K, 4h, 4w]
  const logits = encoding.detail
    ? fineDecode(store.scope("udeg.fine."), model.fine, encoding.detail, out.upscaled, out.hyperIn)
    : resizeBilinear(low, [cfg.imageSize, cfg.imageSize]);
  return { seg: headOutputs(logits, model.evidential), low };
}

/** The whole network on a batch of images in 0-255 [B, 3, S, S] (normalisation is in the graph). */
export function udegForward(
  store: ParamStore,
  model: UdegModelOptions,
  image0to255: Tensor,
  points?: UdegPoints,
): UdegOutputs {
  const encoding = udegEncode(store, model, image0to255);
  const { seg, low } = udegDecode(store, model, encoding, points);
  // The segmentation's uncertainty where the edge head predicts (full size with the fine path).
  const segUncertainty = !encoding.edge
    ? null
    : encoding.detail
      ? seg.uncertainty
      : headOutputs(low, model.evidential).uncertainty;
  return { seg, edge: encoding.edge, segUncertainty, embeddings: encoding.embeddings };
}
