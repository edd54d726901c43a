// A trained UDEG-Net run, ready to predict: loads the run's config, its adapter and the base it
// was trained from, and maps images of any size to masks, probabilities, uncertainty and edges
// at the image's own size.
import { existsSync } from "node:fs";
import { padImage, type ResizeInfo, resizeForModel } from "../data/preprocess.js";
import { type CompiledFunction, HostTensor, type RuntimeOptions, requireDevice } from "../engine/index.js";
import { toFloat32 } from "../io/checkpoints/index.js";
import type { PlanarImage } from "../io/planar-image.js";
import type { UdegConfig } from "./config.js";
import { buildInference } from "./inference.js";
import type { Postprocess } from "./postprocess.js";
import { restorePrediction, type UdegPrediction } from "./prediction.js";
import {
  readRunConfig,
  readRunModel,
  readRunPostprocess,
  readRunTrust,
  requireFinishedRun,
} from "./run-folder.js";
import { fingerprint, type ResolvedModel, resolveModel } from "./setup.js";
import { type TrustCalibration, TrustJudge, trustFeature } from "./trust.js";

export type { UdegPrediction };

export class UdegPredictor {
  private constructor(
    readonly runDir: string,
    readonly config: UdegConfig,
    readonly resolved: ResolvedModel,
    private readonly fn: CompiledFunction,
    readonly hasEdge: boolean,
    readonly postprocess: Postprocess,
    /** Judges each image against the training images (trust.ts); null for runs trained before it. */
    readonly trust: TrustJudge | null,
  ) {}

  /** Load a run directory written by `udeg train`. */
  static async load(runDir: string, runtime: RuntimeOptions = {}): Promise<UdegPredictor> {
    const { config, resolved, postprocess, trust } = loadRun(runDir);
    if (runtime.ep) await requireDevice(runtime.ep);
    const infer = await buildInference(resolved.model, resolved.weights, 1, runtime);
    const judge = trust ? new TrustJudge(trust) : null;
    return new UdegPredictor(runDir, config, resolved, infer.fn, infer.hasEdge, postprocess, judge);
  }

  /** Frees the model's onnxruntime session (native memory) when the predictor is done. */
  async release(): Promise<void> {
    await this.fn.release();
  }

  get imageSize(): number {
    return this.resolved.model.cfg.imageSize;
  }

  /** Resize longest side to the model size (PIL bilinear for 8-bit data) and pad, as in training. */
  prepare(image: PlanarImage): { input: Float32Array; info: ResizeInfo } {
    const { resized, info } = resizeForModel(image, this.imageSize);
    return { input: padImage(resized, this.imageSize).data, info };
  }

  /** Predict one image given as planes [C, H, W] with values 0-255 (C = 1 or 3). */
  async predict(image: PlanarImage): Promise<UdegPrediction> {
    const s = this.imageSize;
    const { input, info } = this.prepare(image);
    const out = await this.fn.run({ image: new HostTensor("float32", [1, 3, s, s], input) });
    const prediction = restorePrediction(
      out.probability!.data as Float32Array,
      out.uncertainty!.data as Float32Array,
      this.hasEdge ? (out.edge!.data as Float32Array) : null,
      this.resolved.model.classes,
      info,
      this.postprocess,
    );
    const feature = trustFeature(
      out.embedding_mean!.data as Float32Array,
      out.embedding_mean_square!.data as Float32Array,
    );
    return { ...prediction, trustFeature: feature, trust: this.trust?.judge(feature) ?? null };
  }
}

/**
 * A run's config and complete weights: the base it was trained from (checked against the
 * fingerprint recorded at training time) with the run's trained weights on top.
 */
/** A trained run in memory: its config, complete weights and mask post-processing. */
export interface LoadedRun {
  config: UdegConfig;
  resolved: ResolvedModel;
  postprocess: Postprocess;
  /** The trust calibration made when training ended (null for runs trained before it). */
  trust: TrustCalibration | null;
}

export function loadRun(runDir: string): LoadedRun {
  requireFinishedRun(runDir);
  const config = readRunConfig(runDir);
  const { file: modelPath, tensors, base } = readRunModel(runDir);
  if (base.kind === "sam" || base.kind === "bundled") {
    const path = base.path;
    if (!existsSync(path))
      throw new Error(
        `${modelPath} was trained from ${path}, which is missing: put the checkpoint back there`,
      );
    const fp = fingerprint(path);
    if (base.fingerprint && fp !== base.fingerprint) {
      throw new Error(
        `${path} is not the checkpoint ${modelPath} was trained from (fingerprint ${fp}, expected ${base.fingerprint})`,
      );
    }
  }
  const resolved = resolveModel(config, config.model.classes ?? 1);
  for (const [key, t] of tensors) {
    const want = resolved.weights.get(key);
    if (!want)
      throw new Error(`${modelPath}: unexpected weight ${key}; the run's config does not match its model`);
    if (want.shape.join() !== t.shape.join())
      throw new Error(`${modelPath}: ${key} is [${t.shape}], the model needs [${want.shape}]`);
    resolved.weights.set(key, new HostTensor("float32", t.shape, toFloat32(t)));
  }
  return { config, resolved, postprocess: readRunPostprocess(runDir), trust: readRunTrust(runDir) };
}
