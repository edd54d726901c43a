// The compiled inference function of a UDEG-Net model: image -> probabilities, uncertainty,
// edge map and logits, all at the model's input size. `udeg predict`, `udeg eval` and the
// trainer's validation all run this one graph.
import {
  type CompiledFunction,
  compile,
  Graph,
  type HostTensor,
  mul,
  narrow,
  type RuntimeOptions,
  reduceMean,
  resizeBilinear,
} from "../engine/index.js";
import { ParamStore } from "../sam/params.js";
import { type UdegModelOptions, udegForward } from "./model.js";
import { EMBEDDING_OUTPUTS } from "./trust.js";

/**
 * Output names: `probability` [B,K,S,S], `uncertainty` [B,1,S,S], `logits` [B,K,S,S], `edge`
 * [B,1,S,S] when the model has the edge prompt generator, and EMBEDDING_OUTPUTS [B,C] each: the
 * mean of SAM's image embedding and of its square over the grid, the trust score's feature
 * (trust.ts). Input: `image` [B,3,S,S] 0-255.
 */

export interface InferenceFunction {
  fn: CompiledFunction;
  hasEdge: boolean;
}

export async function buildInference(
  model: UdegModelOptions,
  weights: ReadonlyMap<string, HostTensor>,
  batch = 1,
  runtime: RuntimeOptions = {},
  /**
   * Weights that stay graph inputs, fed on every run, instead of constants: the trainer's
   * validation compiles one session per run and feeds each epoch's trained weights (measured
   * 2026-12-08, demo model on 2 cores: a compile is 150-350 ms of a 450-600 ms validation, and
   * the demo validates 360 times).
   */
  fedWeights?: (key: string) => boolean,
): Promise<InferenceFunction> {
  const store = new ParamStore(new Graph(), weights, fedWeights ? { trainable: fedWeights } : {});
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
  const e = out.embeddings;
  outputs.push(out.seg.logits, reduceMean(e, [2, 3]), reduceMean(mul(e, e), [2, 3]));
  names.push("logits", ...EMBEDDING_OUTPUTS);
  const fn = await compile([image, ...store.trainable.map((p) => p.tensor)], outputs, {
    ...runtime,
    outputNames: names,
  });
  return { fn, hasEdge: !!out.edge };
}
