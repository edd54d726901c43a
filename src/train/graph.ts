// The compiled functions of a UDEG-Net run: the training step (loss, gradients and AdamW in
// one session) and the inference function (probabilities, uncertainty, edges).
import {
  type CompiledFunction,
  compile,
  Graph,
  type HostTensor,
  narrow,
  type RuntimeOptions,
  resizeBilinear,
  type Tensor,
  TrainStep,
} from "../engine/index.js";
import { embeddingSize } from "../sam/config.js";
import { ParamStore } from "../sam/params.js";
import { type LossConfig, type LossWeightInputs, udegLoss } from "../udeg/losses.js";
import { type UdegModelOptions, udegForward } from "../udeg/model.js";

/** Edge target and edge head resolution: 4x the image embedding grid. */
export function edgeResolution(o: UdegModelOptions): number {
  return 4 * embeddingSize(o.cfg);
}

export const LOSS_TERMS = ["ce", "dice", "kl", "au", "edge"] as const;

export interface TrainGraph {
  step: TrainStep;
  /** Trainable keys, in the order of step.state.params. */
  keys: string[];
  /** Loss-term names returned as extras, in order. */
  terms: string[];
  hasEdge: boolean;
}

export interface TrainGraphOptions {
  model: UdegModelOptions;
  loss: LossConfig;
  weights: ReadonlyMap<string, HostTensor>;
  trainable: (key: string) => boolean;
  batch: number;
  /** Point slots per image for simulated clicks (0: the graph has no point inputs). */
  clickSlots?: number;
  adamw: { weightDecay: number; clipNorm?: number };
  runtime?: RuntimeOptions;
}

export async function buildTrainGraph(o: TrainGraphOptions): Promise<TrainGraph> {
  const store = new ParamStore(new Graph(), o.weights, { trainable: o.trainable });
  const g = store.graph;
  const s = o.model.cfg.imageSize;
  const k = o.model.classes + 1;
  const image = g.input("image", [o.batch, 3, s, s]);
  const segY = g.input("seg_target", [o.batch, k, s, s]);
  const slots = o.clickSlots ?? 0;
  const points = slots
    ? {
        coords: g.input("point_coords", [o.batch, slots, 2]),
        labels: g.input("point_labels", [o.batch, slots]),
      }
    : undefined;
  const out = udegForward(store, o.model, image, points);
  const w: LossWeightInputs = {
    kl: g.input("w_kl", []),
    edge: g.input("w_edge", []),
    gamma: g.input("w_gamma", []),
    au: g.input("w_au", []),
  };
  const inputs: Tensor[] = [image, segY, w.kl, w.edge, w.gamma, w.au];
  if (points) inputs.push(points.coords, points.labels);
  let edge: Parameters<typeof udegLoss>[4];
  if (out.edge && out.segUncertaintyLow) {
    const e = edgeResolution(o.model);
    const edgeY = g.input("edge_target", [o.batch, 2, e, e]);
    inputs.push(edgeY);
    edge = { head: out.edge, target: edgeY, segUncertainty: out.segUncertaintyLow };
  }
  const { total, terms } = udegLoss(o.loss, w, out.seg, segY, edge);
  const names = Object.keys(terms);
  const params = store.trainable;
  const step = await TrainStep.create(
    { loss: total, params: params.map((p) => p.tensor), inputs, extras: names.map((n) => terms[n]!) },
    params.map((p) => p.initial),
    { weightDecay: o.adamw.weightDecay, clipNorm: o.adamw.clipNorm },
    o.runtime,
  );
  return { step, keys: params.map((p) => p.key), terms: names, hasEdge: !!out.edge };
}

export interface InferenceFunction {
  fn: CompiledFunction;
  /** Output order: prob [B,K,S,S], uncertainty [B,1,S,S], edge prob [B,1,S,S] (zeros without edges), logits. */
  hasEdge: boolean;
}

/** image [B,3,S,S] 0-255 -> prob, uncertainty, edge probability (at S), logits. */
export async function buildInference(
  model: UdegModelOptions,
  weights: ReadonlyMap<string, HostTensor>,
  batch = 1,
  runtime: RuntimeOptions = {},
): Promise<InferenceFunction> {
  const store = new ParamStore(new Graph(), weights);
  const g = store.graph;
  const s = model.cfg.imageSize;
  const image = g.input("image", [batch, 3, s, s]);
  const out = udegForward(store, model, image);
  const outputs = [out.seg.prob, out.seg.uncertainty];
  const names = ["probability", "uncertainty"];
  if (out.edge) {
    outputs.push(resizeBilinear(narrow(out.edge.prob, 1, 1, 1), [s, s]));
    names.push("edge");
  }
  outputs.push(out.seg.logits);
  names.push("logits");
  const fn = await compile([image], outputs, { ...runtime, outputNames: names });
  return { fn, hasEdge: !!out.edge };
}
