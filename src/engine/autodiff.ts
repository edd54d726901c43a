// Reverse-mode differentiation over a recorded Graph. The backward pass is built from the same
// ops as the forward one and appended to the same graph, so one ONNX model holds both and
// onnxruntime optimises them together.
import "./grads/index.js";
import { add } from "./ops/elementwise.js";
import { expand } from "./ops/shape.js";
import { isFloat, type Node, type Tensor } from "./tensor.js";
import { isNonDifferentiable, vjpRule } from "./vjp.js";

/**
 * Gradients of `output` w.r.t. each tensor in `wrt`. `output` is usually a scalar loss; for any
 * other shape the seed gradient (default: ones) says which vector-Jacobian product is taken.
 * A tensor the output does not depend on gets a zero gradient.
 */
export function grad(output: Tensor, wrt: readonly Tensor[], seed?: Tensor): Tensor[] {
  const g = output.graph;
  if (!isFloat(output.dtype)) throw new Error(`grad: output ${output} is not a float tensor`);
  for (const w of wrt) {
    if (w.graph !== g) throw new Error(`grad: ${w} belongs to another graph`);
    if (!isFloat(w.dtype)) throw new Error(`grad: cannot differentiate w.r.t. non-float ${w}`);
  }
  if (seed && seed.shape.join() !== output.shape.join()) {
    throw new Error(`grad: seed ${seed} does not match output ${output}`);
  }

  // Tensors that depend on some wrt tensor, found in one forward sweep (nodes are in creation
  // order, which is a topological order).
  const dependsOnWrt = new Set<number>(wrt.map((t) => t.id));
  const active: Node[] = [];
  for (const node of g.nodes) {
    if (node.stopGradient || isNonDifferentiable(node.op)) continue;
    if (node.inputs.some((t) => t && dependsOnWrt.has(t.id))) {
      for (const o of node.outputs) if (isFloat(o.dtype)) dependsOnWrt.add(o.id);
      active.push(node);
    }
  }

  const grads = new Map<number, Tensor>();
  grads.set(output.id, seed ?? expand(g.scalar(1, output.dtype), output.shape));
  const accumulate = (t: Tensor, dt: Tensor) => {
    if (dt.shape.join() !== t.shape.join()) {
      throw new Error(`internal: gradient ${dt} does not match ${t}`);
    }
    const prev = grads.get(t.id);
    grads.set(t.id, prev ? add(prev, dt) : dt);
  };

  for (let k = active.length - 1; k >= 0; k--) {
    const node = active[k]!;
    const gOuts = node.outputs.map((o) => grads.get(o.id) ?? null);
    if (gOuts.every((x) => x === null)) continue;
    const rule = vjpRule(node.op);
    if (!rule) throw new Error(`grad: no VJP rule for op ${node.op}`);
    const needs = node.inputs.map((t) => !!t && dependsOnWrt.has(t.id));
    const gIns = rule(node, gOuts, needs);
    node.inputs.forEach((t, i) => {
      const gi = gIns[i];
      if (t && needs[i] && gi) accumulate(t, gi);
    });
  }

  return wrt.map((w) => grads.get(w.id) ?? expand(g.scalar(0, w.dtype), w.shape));
}
