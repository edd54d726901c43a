// Interactive prediction on the split export (`exportWebModels`): the encoder runs once per image,
// the decoder once per set of clicks. Written against the part of the API that onnxruntime-node
// and onnxruntime-web share (the caller passes its `ort` module in), with no Node built-ins, so
// the web viewer, the tests and the benchmarks run the very same code.
import { type ResizeInfo, resizeForModel, restoreMaps } from "../data/preprocess.js";
import type { PlanarImage } from "../io/planar-image.js";
import { NO_POSTPROCESS, type Postprocess } from "./postprocess.js";
import { restorePrediction, type UdegPrediction } from "./prediction.js";
import { type TrustCalibration, TrustJudge, type TrustVerdict, trustFeatureOfGrid } from "./trust.js";
import { FINE_DETAIL_NAMES } from "./web-meta.js";

/** The subset of an onnxruntime tensor used here. */
export interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
}

/** The subset of an onnxruntime InferenceSession used here. */
export interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
}

/** The subset of the `onnxruntime-node` / `onnxruntime-web` module used here. */
export interface OrtModule {
  Tensor: new (
    type: "float32" | "uint8",
    data: Float32Array | Uint8Array,
    dims: readonly number[],
  ) => OrtTensor;
}

/** What `meta.json` of the split export says (see WebModelMeta in export.ts). */
export interface InteractiveMeta {
  modelSize: number;
  classes: number;
  maxPoints: number;
  /** The run's post-processing of the automatic mask (none when absent). */
  postprocess?: Postprocess;
  /** The run's trust calibration (trust.ts; absent in older exports: images are not judged). */
  trust?: TrustCalibration;
}

/** A click in original-image pixels: x = column, y = row; positive adds, negative removes. */
export interface Click {
  x: number;
  y: number;
  positive: boolean;
}

/** A prediction (its edge map is the encoded image's) and how long the decoder took. */
export interface InteractiveResult extends UdegPrediction {
  /** Milliseconds the decoder took (the encoder's time is `encoderMs` of the image). */
  decoderMs: number;
}

export interface EncodedImage {
  info: ResizeInfo;
  embeddings: OrtTensor;
  dense: OrtTensor;
  /** The fine path's image side, by decoder input name (empty without the fine path). */
  detail: Record<string, OrtTensor>;
  /** Edge probability at the original size, [H, W]. */
  edge: Float32Array;
  encoderMs: number;
  /** How like the training images the image is (null without a calibration in the export). */
  trust: TrustVerdict | null;
}

/**
 * The encoder's uint8 input: the image resized (longest side to S, PIL bilinear for 8-bit data,
 * exactly as `udeg predict`) into the top-left of an S x S x 3 buffer; the graph fills the rest.
 */
export function encoderInput(image: PlanarImage, size: number): { hwc: Uint8Array; info: ResizeInfo } {
  const { resized, info } = resizeForModel(image, size);
  const { resizedHeight: h, resizedWidth: w } = info;
  const hwc = new Uint8Array(size * size * 3);
  const plane = h * w;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        const v = resized.data[c * plane + y * w + x]!;
        hwc[(y * size + x) * 3 + c] = Math.min(255, Math.max(0, Math.round(v)));
      }
    }
  }
  return { hwc, info };
}

export class InteractiveModel {
  private readonly judge: TrustJudge | null;

  constructor(
    private readonly ort: OrtModule,
    private readonly encoder: OrtSession,
    private readonly decoder: OrtSession,
    readonly meta: InteractiveMeta,
  ) {
    this.judge = meta.trust ? new TrustJudge(meta.trust) : null;
  }

  /** Runs the encoder on one image (planes [C, H, W], values 0-255). */
  async encode(image: PlanarImage): Promise<EncodedImage> {
    const s = this.meta.modelSize;
    const { hwc, info } = encoderInput(image, s);
    const t0 = performance.now();
    const out = await this.encoder.run({
      image: new this.ort.Tensor("uint8", hwc, [s, s, 3]),
      image_size: new this.ort.Tensor(
        "float32",
        Float32Array.from([info.resizedHeight, info.resizedWidth]),
        [2],
      ),
    });
    const encoderMs = performance.now() - t0;
    const edge = restoreMaps(out.edge!.data as Float32Array, 1, info);
    const detail: Record<string, OrtTensor> = {};
    for (const name of FINE_DETAIL_NAMES) if (out[name]) detail[name] = out[name];
    const embeddings = out.image_embeddings!;
    // The image's trust from the embedding the decoder takes anyway (no extra pass).
    const trust =
      this.judge?.judge(trustFeatureOfGrid(embeddings.data as Float32Array, embeddings.dims[1]!)) ?? null;
    return { info, embeddings, dense: out.dense_prompt!, detail, edge, encoderMs, trust };
  }

  /** Runs the decoder on an encoded image with up to maxPoints clicks (none: the automatic mask). */
  async decode(encoded: EncodedImage, clicks: readonly Click[] = []): Promise<InteractiveResult> {
    const { info } = encoded;
    const p = this.meta.maxPoints;
    if (clicks.length > p) throw new RangeError(`at most ${p} clicks, got ${clicks.length}`);
    const coords = new Float32Array(p * 2);
    const labels = new Float32Array(p).fill(-1);
    clicks.forEach((c, i) => {
      // SAM's ResizeLongestSide.apply_coords: scale each axis by new / old size.
      coords[2 * i] = c.x * (info.resizedWidth / info.originalWidth);
      coords[2 * i + 1] = c.y * (info.resizedHeight / info.originalHeight);
      labels[i] = c.positive ? 1 : 0;
    });
    const t0 = performance.now();
    const out = await this.decoder.run({
      image_embeddings: encoded.embeddings,
      dense_prompt: encoded.dense,
      ...encoded.detail,
      point_coords: new this.ort.Tensor("float32", coords, [1, p, 2]),
      point_labels: new this.ort.Tensor("float32", labels, [1, p]),
    });
    const decoderMs = performance.now() - t0;
    const prediction = restorePrediction(
      out.probability!.data as Float32Array,
      out.uncertainty!.data as Float32Array,
      null,
      this.meta.classes,
      info,
      // The automatic mask is post-processed as udeg predict's; after clicks the user's objects
      // stay, a second one included.
      clicks.length === 0 ? (this.meta.postprocess ?? NO_POSTPROCESS) : NO_POSTPROCESS,
    );
    return { ...prediction, edge: encoded.edge, decoderMs, trust: encoded.trust };
  }
}

/**
 * The next click of the standard interactive protocol (as in SAM's and RITM's evaluations): the
 * pixel of the largest error that is farthest from the error's border (city-block distance),
 * positive where the object was missed, negative where background was taken. Null when the
 * prediction is already right everywhere. `pred` and `truth` are class indices [H, W]
 * (foreground = any class > 0).
 */
export function nextClick(pred: Uint8Array, truth: Uint8Array, width: number, height: number): Click | null {
  const n = width * height;
  const dist = new Int32Array(n);
  const big = width + height;
  const wrong = (i: number) => pred[i]! > 0 !== truth[i]! > 0;
  // Two-pass city-block distance to the nearest correct pixel (or the image border).
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (!wrong(i)) continue;
      const up = y > 0 ? dist[i - width]! : 0;
      const left = x > 0 ? dist[i - 1]! : 0;
      dist[i] = Math.min(big, up + 1, left + 1);
    }
  }
  let best = -1;
  for (let y = height - 1; y >= 0; y--) {
    for (let x = width - 1; x >= 0; x--) {
      const i = y * width + x;
      if (!wrong(i)) continue;
      const down = y < height - 1 ? dist[i + width]! : 0;
      const right = x < width - 1 ? dist[i + 1]! : 0;
      dist[i] = Math.min(dist[i]!, down + 1, right + 1);
      if (best < 0 || dist[i]! >= dist[best]!) best = i;
    }
  }
  if (best < 0) return null;
  return { x: best % width, y: Math.floor(best / width), positive: truth[best]! > 0 };
}
