// A run's graphs, built as training and `udeg predict` build them, for checking where their
// nodes run (`udeg doctor --model RUN`).
import type { Tensor } from "../engine/index.js";
import { buildInference } from "../udeg/inference.js";
import { loadRun } from "../udeg/predictor.js";
import { buildTrainGraph, runTrainGraphOptions } from "./graph.js";

export interface NamedGraph {
  name: "train" | "inference";
  outputs: readonly Tensor[];
}

export async function graphPlacements(run: string): Promise<NamedGraph[]> {
  const { config, resolved } = loadRun(run);
  const train = await buildTrainGraph(runTrainGraphOptions(config, resolved));
  const infer = await buildInference(resolved.model, resolved.weights, 1);
  return [
    { name: "train", outputs: train.step.outputs },
    { name: "inference", outputs: infer.fn.outputs },
  ];
}
