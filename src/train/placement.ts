// A run's graphs, built as training and `udeg predict` build them, for checking where their
// nodes run (`udeg doctor --model RUN`).
import type { Tensor } from "../engine/index.js";
import { lossConfigOf } from "../udeg/config.js";
import { buildInference } from "../udeg/inference.js";
import { loadRun } from "../udeg/predictor.js";
import { buildTrainGraph } from "./graph.js";

export interface NamedGraph {
  name: "train" | "inference";
  outputs: readonly Tensor[];
}

export async function graphPlacements(run: string): Promise<NamedGraph[]> {
  const { config, resolved } = loadRun(run);
  const clicks = config.train.clicks.probability > 0 ? config.train.clicks : null;
  const train = await buildTrainGraph({
    model: resolved.model,
    loss: lossConfigOf(config),
    weights: resolved.weights,
    trainable: resolved.trainable,
    batch: config.train.batchSize,
    clickSlots: clicks ? clicks.max : 0,
    adamw: { weightDecay: config.train.weightDecay, clipNorm: config.train.clipNorm ?? undefined },
  });
  const infer = await buildInference(resolved.model, resolved.weights, 1);
  return [
    { name: "train", outputs: train.step.outputs },
    { name: "inference", outputs: infer.fn.outputs },
  ];
}
