// SAM assembled: checked weights, the full forward graph, and a predictor that computes an
// image's embedding once and decodes any number of prompts against it.
import {
  type CompiledFunction,
  compile,
  Graph,
  HostTensor,
  type RuntimeOptions,
  type Tensor,
} from "../engine/index.js";
import { loadSamWeights, validateWeights } from "./checkpoint.js";
import { embeddingSize, type SamConfig } from "./config.js";
import { imageEncoderFeatures, imageEncoderWeightShapes } from "./image-encoder.js";
import { isLoraKey, type LoraOptions, loraWeightShapes } from "./lora.js";
import { maskDecoder } from "./mask-decoder.js";
import { ParamStore, ShapeRecorder, type WeightSource } from "./params.js";
import { densePositionalEncoding, type Prompts, promptEncoder } from "./prompt-encoder.js";
import { resizeEncoderWeights } from "./resize-weights.js";
import { type PreparedImage, postprocessMasks, prepareImage, transformCoords } from "./transforms.js";

/** Every weight a SAM of this config (with these adapters) reads, with its shape. */
export function samWeightShapes(cfg: SamConfig, lora?: LoraOptions): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [k, s] of imageEncoderWeightShapes(cfg)) out.set(`image_encoder.${k}`, s);
  if (lora) for (const [k, s] of loraWeightShapes(cfg, lora)) out.set(k, s);
  // The prompt encoder and decoder are small: build them once with every kind of prompt.
  const rec = new ShapeRecorder(new Graph());
  const g = rec.graph;
  const e = embeddingSize(cfg);
  const c = cfg.promptEmbedDim;
  const pe = rec.scope("prompt_encoder.");
  const full = promptEncoder(pe, cfg, {
    points: { coords: g.input("pc", [1, 1, 2]), labels: g.input("pl", [1, 1]) },
    boxes: g.input("bx", [1, 4]),
    masks: g.input("mk", [1, 1, 4 * e, 4 * e]),
  });
  const none = promptEncoder(pe, cfg, {});
  maskDecoder(rec.scope("mask_decoder."), cfg, {
    imageEmbeddings: g.input("emb", [1, c, e, e]),
    imagePe: densePositionalEncoding(pe, cfg),
    sparse: full.sparse,
    dense: none.dense,
    multimask: true,
  });
  for (const [k, s] of rec.shapes) out.set(k, s);
  return out;
}

export interface LoadSamOptions {
  lora?: LoraOptions;
}

/**
 * Read, rename and check a SAM checkpoint for `cfg`. A checkpoint made for another input size
 * (e.g. 1024 weights for a 512 model) gets its positional tables interpolated, as SAMed does.
 * Throws one error listing every missing key, unexpected key and shape mismatch.
 */
export function loadSam(path: string, cfg: SamConfig, options: LoadSamOptions = {}): Map<string, HostTensor> {
  const { weights } = loadSamWeights(path);
  const resized = resizeEncoderWeights(weights, cfg).weights;
  const expected = samWeightShapes(cfg, options.lora);
  // Adapters may come from the file (a merged export) or start fresh; they are never required.
  validateWeights(path, resized, expected, isLoraKey);
  return resized;
}

export interface SamForward {
  embeddings: Tensor;
  masks: Tensor;
  iou: Tensor;
}

/** The whole model on a normalised image batch [B, 3, S, S]. */
export function samForward(
  store: ParamStore,
  cfg: SamConfig,
  image: Tensor,
  prompts: Prompts,
  options: { lora?: LoraOptions; multimask?: boolean } = {},
): SamForward {
  const { embeddings } = imageEncoderFeatures(image, store.scope("image_encoder."), cfg, {
    lora: options.lora,
  });
  return { embeddings, ...decode(store, cfg, embeddings, prompts, options.multimask ?? true) };
}

function decode(store: ParamStore, cfg: SamConfig, embeddings: Tensor, prompts: Prompts, multimask: boolean) {
  const pe = store.scope("prompt_encoder.");
  const { sparse, dense } = promptEncoder(pe, cfg, prompts);
  return maskDecoder(store.scope("mask_decoder."), cfg, {
    imageEmbeddings: embeddings,
    imagePe: densePositionalEncoding(pe, cfg),
    sparse,
    dense,
    multimask,
  });
}

export interface PointPrompt {
  /** Original-image pixel coordinates. */
  x: number;
  y: number;
  /** 1 foreground, 0 background. */
  label: 0 | 1;
}

export interface PredictRequest {
  points?: readonly PointPrompt[];
  /** [x0, y0, x1, y1] in original-image pixels. */
  box?: readonly [number, number, number, number];
  /** Low-resolution mask logits [1, 1, 4h, 4w] (a previous prediction's lowResLogits). */
  maskInput?: HostTensor;
  multimask?: boolean;
}

export interface Prediction {
  /** Mask logits at the original image size, [K, H, W]. */
  masks: Float32Array;
  /** Number of masks K and the original size. */
  count: number;
  height: number;
  width: number;
  /** [1, K, 4h, 4w] low-resolution logits (feed back as maskInput to refine). */
  lowResLogits: HostTensor;
  iou: Float32Array;
}

/**
 * Interactive use: `setImage` computes the embedding once; each `predict` runs only the prompt
 * encoder and mask decoder (compiled once per prompt layout: number of points, box, mask).
 */
export class SamPredictor {
  private encoder: CompiledFunction | null = null;
  private readonly decoders = new Map<string, Promise<CompiledFunction>>();
  private image: PreparedImage | null = null;
  private embedding: HostTensor | null = null;

  constructor(
    readonly cfg: SamConfig,
    readonly weights: WeightSource,
    readonly options: { lora?: LoraOptions; runtime?: RuntimeOptions } = {},
  ) {}

  /** Embed an interleaved RGB uint8 image [H, W, 3]. */
  async setImage(rgb: Uint8Array, height: number, width: number): Promise<HostTensor> {
    const s = this.cfg.imageSize;
    if (!this.encoder) {
      const store = new ParamStore(new Graph(), this.weights);
      const x = store.graph.input("image", [1, 3, s, s]);
      const { embeddings } = imageEncoderFeatures(x, store.scope("image_encoder."), this.cfg, {
        lora: this.options.lora,
      });
      this.encoder = await compile([x], [embeddings], {
        ...this.options.runtime,
        outputNames: ["image_embeddings"],
      });
    }
    this.image = prepareImage(rgb, height, width, this.cfg);
    const { image_embeddings: emb } = await this.encoder.run({
      image: new HostTensor("float32", [1, 3, s, s], this.image.data),
    });
    this.embedding = emb!;
    return emb!;
  }

  /** Use an embedding computed elsewhere (e.g. cached) for an image of the given size. */
  setEmbedding(embedding: HostTensor, image: PreparedImage): void {
    this.embedding = embedding;
    this.image = image;
  }

  async predict(request: PredictRequest = {}): Promise<Prediction> {
    if (!this.embedding || !this.image) throw new Error("predict: call setImage first");
    const { originalSize, inputSize } = this.image;
    const [oh, ow] = originalSize;
    const points = request.points ?? [];
    for (const p of points) {
      if (!(p.x >= 0 && p.x < ow && p.y >= 0 && p.y < oh)) {
        throw new Error(`point (${p.x}, ${p.y}) is outside the ${ow}x${oh} image`);
      }
    }
    if (request.box) {
      const [x0, y0, x1, y1] = request.box;
      if (!(x0 >= 0 && y0 >= 0 && x1 <= ow && y1 <= oh && x0 < x1 && y0 < y1)) {
        throw new Error(`box [${request.box}] is not inside the ${ow}x${oh} image with x0 < x1, y0 < y1`);
      }
    }
    const e = embeddingSize(this.cfg);
    if (request.maskInput && request.maskInput.shape.join() !== [1, 1, 4 * e, 4 * e].join()) {
      throw new Error(`mask input must be [1, 1, ${4 * e}, ${4 * e}], got [${request.maskInput.shape}]`);
    }
    const multimask = request.multimask ?? true;
    const layout = { n: points.length, box: !!request.box, mask: !!request.maskInput, multimask };
    const fn = await this.decoderFor(layout);
    const feeds: Record<string, HostTensor> = { image_embeddings: this.embedding };
    const s = this.cfg.imageSize;
    if (layout.n) {
      const coords = points.flatMap((p) => transformCoords(p.x, p.y, originalSize, s));
      feeds.point_coords = HostTensor.float32(coords, [1, layout.n, 2]);
      feeds.point_labels = HostTensor.float32(
        points.map((p) => p.label),
        [1, layout.n],
      );
    }
    if (request.box) {
      const [x0, y0, x1, y1] = request.box;
      feeds.boxes = HostTensor.float32(
        [...transformCoords(x0, y0, originalSize, s), ...transformCoords(x1, y1, originalSize, s)],
        [1, 4],
      );
    }
    if (request.maskInput) feeds.mask_input = request.maskInput;
    const { low_res_logits: low, iou_predictions: iou } = await fn.run(feeds);
    const [, k, lh, lw] = low!.shape as [number, number, number, number];
    const masks = postprocessMasks(low!.data as Float32Array, k, [lh, lw], inputSize, originalSize, s);
    return { masks, count: k, height: oh, width: ow, lowResLogits: low!, iou: iou!.data as Float32Array };
  }

  private decoderFor(layout: {
    n: number;
    box: boolean;
    mask: boolean;
    multimask: boolean;
  }): Promise<CompiledFunction> {
    const key = JSON.stringify(layout);
    let fn = this.decoders.get(key);
    if (!fn) {
      const store = new ParamStore(new Graph(), this.weights);
      const g = store.graph;
      const e = embeddingSize(this.cfg);
      const emb = g.input("image_embeddings", [1, this.cfg.promptEmbedDim, e, e]);
      const inputs = [emb];
      const prompts: Prompts = {};
      if (layout.n) {
        const coords = g.input("point_coords", [1, layout.n, 2]);
        const labels = g.input("point_labels", [1, layout.n]);
        inputs.push(coords, labels);
        prompts.points = { coords, labels };
      }
      if (layout.box) {
        const boxes = g.input("boxes", [1, 4]);
        inputs.push(boxes);
        prompts.boxes = boxes;
      }
      if (layout.mask) {
        const masks = g.input("mask_input", [1, 1, 4 * e, 4 * e]);
        inputs.push(masks);
        prompts.masks = masks;
      }
      const out = decode(store, this.cfg, emb, prompts, layout.multimask);
      fn = compile(inputs, [out.masks, out.iou], {
        ...this.options.runtime,
        outputNames: ["low_res_logits", "iou_predictions"],
      });
      this.decoders.set(key, fn);
    }
    return fn;
  }
}
