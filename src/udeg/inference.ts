// The compiled inference function of a UDEG-Net model: image -> probabilities, uncertainty,
// edge map and logits, all at the model's input size. `udeg predict`, `udeg eval` and the
// trainer's validation all run this one graph.
import {
  type CompiledFunction,
  compile,
  Graph,
  type HostTensor,
  narrow,
  type RuntimeOptions,
  reduceMean,
  resizeBilinear,
} from "../engine/index.js";
import { ParamStore } from "../sam/params.js";
import { type UdegModelOptions, udegForward } from "./model.js";

/**
 * Output names: `probability` [B,K,S,S], `uncertainty` [B,1,S,S], `logits` [B,K,S,S], `edge`
 * [B,1,S,S] when the model has the edge prompt generator, and `embedding` [B,C]: SAM's image
 * embedding averaged over its grid, what the trust score compares with the training images'.
 * Input: `image` [B,3,S,S] 0-255.
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
  outputs.push(out.seg.logits, reduceMean(out.embeddings, [2, 3]));
  names.push("logits", "embedding");
  const fn = await compile([image], outputs, { ...runtime, outputNames: names });
  return { fn, hasEdge: !!out.edge };
}
