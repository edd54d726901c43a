// The training step of a UDEG-Net run: loss, gradients and AdamW compiled into one session,
// its inputs fed by name (see TrainInputs). Inference is udeg/inference.ts.
import {
  fallbackNodes,
  Graph,
  type HostTensor,
  isFallbackRefused,
  type RuntimeOptions,
  type Tensor,
  TrainStep,
} from "../engine/index.js";
import { ParamStore } from "../sam/params.js";
import { lossConfigOf, type UdegConfig } from "../udeg/config.js";
import { LOSS_WEIGHT_NAMES, type LossConfig, type LossWeightInputs, udegLoss } from "../udeg/losses.js";
import { edgeResolution, type UdegModelOptions, udegForward } from "../udeg/model.js";
import type { ResolvedModel } from "../udeg/setup.js";

/**
 * What one training step is fed, by graph input name: `image` [B,3,S,S] 0-255, `seg_target`
 * one-hot [B,K,S,S], each scheduled loss weight as `w_<name>` (scalars), the click slots
 * `point_coords` [B,P,2] and `point_labels` [B,P] when clicks train, and `edge_target` one-hot
 * [B,2,e,e] when the edge prompt generator is on.
 */
export type TrainFeeds = Record<string, HostTensor>;

/** The graph input name of a scheduled loss weight. */
export const lossWeightInput = (name: keyof LossWeightInputs): string => `w_${name}`;

export interface TrainGraph {
  step: TrainStep;
  /** Trainable keys, in the order of step.state.params. */
  keys: string[];
  /** Loss-term names (the step's extras). */
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
  /** Where to say that nodes fall back to the CPU (GPU providers). */
  log?: (line: string) => void;
}

/** The training graph a run's config asks for: what the trainer builds and `udeg doctor` checks. */
export function runTrainGraphOptions(config: UdegConfig, resolved: ResolvedModel): TrainGraphOptions {
  const clicks = config.train.clicks.probability > 0 ? config.train.clicks : null;
  return {
    model: resolved.model,
    loss: lossConfigOf(config),
    weights: resolved.weights,
    trainable: resolved.trainable,
    batch: config.train.batchSize,
    clickSlots: clicks ? clicks.max : 0,
    adamw: { weightDecay: config.train.weightDecay, clipNorm: config.train.clipNorm ?? undefined },
  };
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
  const w = Object.fromEntries(
    LOSS_WEIGHT_NAMES.map((name) => [name, g.input(lossWeightInput(name), [])]),
  ) as unknown as LossWeightInputs;
  const inputs: Tensor[] = [image, segY, ...LOSS_WEIGHT_NAMES.map((name) => w[name])];
  if (points) inputs.push(points.coords, points.labels);
  let edge: Parameters<typeof udegLoss>[4];
  if (out.edge && out.segUncertainty) {
    const edgeSize = edgeResolution(o.model);
    const edgeY = g.input("edge_target", [o.batch, 2, edgeSize, edgeSize]);
    inputs.push(edgeY);
    edge = { head: out.edge, target: edgeY, segUncertainty: out.segUncertainty };
  }
  const { total, terms } = udegLoss(o.loss, w, out.seg, segY, edge);
  const params = store.trainable;
  const spec = { loss: total, params: params.map((p) => p.tensor), inputs, extras: terms };
  const create = (runtime?: RuntimeOptions) =>
    TrainStep.create(
      spec,
      params.map((p) => p.initial),
      { weightDecay: o.adamw.weightDecay, clipNorm: o.adamw.clipNorm },
      runtime,
    );
  const ep = o.runtime?.ep ?? "cpu";
  let step: TrainStep;
  if (ep === "cpu") step = await create(o.runtime);
  else {
    // On a GPU every node should stay there: try that first, and say so when it cannot.
    try {
      step = await create({ ...o.runtime, cpuFallback: false });
    } catch (err) {
      if (!isFallbackRefused(err)) throw err;
      step = await create(o.runtime);
      const p = await fallbackNodes(step.outputs, ep);
      o.log?.(
        `${ep}: ${p.fallbackNodes} of ${p.nodes} nodes of the training step fall back to the CPU ` +
          `(${p.fallback.map((f) => `${f.op} x${f.count}`).join(", ")}): it runs, with copies each way; see \`udeg doctor\``,
      );
    }
  }
  return { step, keys: params.map((p) => p.key), terms: Object.keys(terms), hasEdge: !!out.edge };
}
