// A trained UDEG-Net run, ready to predict: loads the run's config, its adapter and the base it
// was trained from, and maps images of any size to masks, probabilities, uncertainty and edges
// at the image's own size.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { argmaxLabels, padImage, type ResizeInfo, resizeForModel, restoreMaps } from "../data/preprocess.js";
import type { PlanarImage } from "../data/types.js";
import { type CompiledFunction, HostTensor, type RuntimeOptions } from "../engine/index.js";
import { readSafetensors, toFloat32 } from "../io/index.js";
import { buildInference } from "../train/graph.js";
import { parseConfig, type UdegConfig } from "./config.js";
import { fingerprint, type ResolvedModel, resolveModel } from "./setup.js";

export interface UdegPrediction {
  height: number;
  width: number;
  /** Class index per pixel (argmax of the expected probabilities), [H, W]. */
  labels: Uint8Array;
  /** Expected class probabilities [K, H, W] (background first). */
  prob: Float32Array;
  /** Uncertainty u = K / S in [0, 1], [H, W]. */
  uncertainty: Float32Array;
  /** Edge probability [H, W] (zeros when the run has no edge prompt generator). */
  edge: Float32Array;
  classes: number;
}

export class UdegPredictor {
  private constructor(
    readonly runDir: string,
    readonly config: UdegConfig,
    readonly resolved: ResolvedModel,
    private readonly fn: CompiledFunction,
    readonly hasEdge: boolean,
  ) {}

  /** Load a run directory written by `udeg train`. */
  static async load(runDir: string, runtime: RuntimeOptions = {}): Promise<UdegPredictor> {
    const { config, resolved } = loadRun(runDir);
    const infer = await buildInference(resolved.model, resolved.weights, 1, runtime);
    return new UdegPredictor(runDir, config, resolved, infer.fn, infer.hasEdge);
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
    const outs = await this.fn.run([new HostTensor("float32", [1, 3, s, s], input)]);
    const k = this.resolved.model.classes + 1;
    const prob = restoreMaps(outs[0]!.data as Float32Array, k, info);
    const uncertainty = restoreMaps(outs[1]!.data as Float32Array, 1, info);
    const edge = this.hasEdge
      ? restoreMaps(outs[2]!.data as Float32Array, 1, info)
      : new Float32Array(uncertainty.length);
    const labels = argmaxLabels(prob, k, info.originalHeight * info.originalWidth);
    return {
      height: info.originalHeight,
      width: info.originalWidth,
      labels,
      prob,
      uncertainty,
      edge,
      classes: k - 1,
    };
  }
}

/**
 * A run's config and complete weights: the base it was trained from (checked against the
 * fingerprint recorded at training time) with the run's trained weights on top.
 */
export function loadRun(runDir: string): { config: UdegConfig; resolved: ResolvedModel } {
  const configPath = join(runDir, "config.json");
  const modelPath = join(runDir, "model.safetensors");
  for (const p of [configPath, modelPath]) {
    if (!existsSync(p))
      throw new Error(
        `${runDir} is not a finished udeg run: ${p} is missing (train one with \`udeg train\`)`,
      );
  }
  const config = parseConfig(JSON.parse(readFileSync(configPath, "utf8")), configPath);
  const adapter = readSafetensors(modelPath);
  const meta = adapter.metadata;
  if (meta.base_kind === "sam" || meta.base_kind === "bundled") {
    const path = meta.base_path!;
    if (!existsSync(path))
      throw new Error(
        `${modelPath} was trained from ${path}, which is missing: put the checkpoint back there`,
      );
    const fp = fingerprint(path);
    if (meta.base_fingerprint && fp !== meta.base_fingerprint) {
      throw new Error(
        `${path} is not the checkpoint ${modelPath} was trained from (fingerprint ${fp}, expected ${meta.base_fingerprint})`,
      );
    }
  }
  const resolved = resolveModel(config, config.model.classes ?? 1);
  for (const [key, t] of adapter.tensors) {
    const want = resolved.weights.get(key);
    if (!want)
      throw new Error(`${modelPath}: unexpected weight ${key}; the run's config does not match its model`);
    if (want.shape.join() !== t.shape.join())
      throw new Error(`${modelPath}: ${key} is [${t.shape}], the model needs [${want.shape}]`);
    resolved.weights.set(key, new HostTensor("float32", t.shape, toFloat32(t)));
  }
  return { config, resolved };
}
