// Reductions and Softmax. Axes are static; `keepdims` defaults to false as in NumPy. Their
// gradient rules are in grads/reduce.ts.

import type { Tensor } from "../tensor.js";
import { normAxis } from "./broadcast.js";
import { detach, exp, log, sub } from "./elementwise.js";

function reducedShape(x: Tensor, axes: readonly number[], keepdims: boolean): number[] {
  return keepdims
    ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
    : x.shape.filter((_, i) => !axes.includes(i));
}

function normAxes(x: Tensor, axes: readonly number[] | undefined, op: string): number[] {
  const all = axes ?? x.shape.map((_, i) => i);
  return [...new Set(all.map((a) => normAxis(a, x.rank, op)))].sort((a, b) => a - b);
}

/** Sum over `axes` (all axes when omitted). */
export function reduceSum(x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
  const ax = normAxes(x, axes, "ReduceSum");
  if (ax.length === 0) return x;
  const g = x.graph;
  // opset 13+: axes are an input for ReduceSum.
  return g.addNode("ReduceSum", [x, g.int64s(ax)], { keepdims: { kind: "int", value: keepdims ? 1 : 0 } }, [
    { shape: reducedShape(x, ax, keepdims), dtype: x.dtype },
  ])[0]!;
}

export function reduceMean(x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
  const ax = normAxes(x, axes, "ReduceMean");
  if (ax.length === 0) return x;
  return x.graph.addNode(
    "ReduceMean",
    [x],
    { axes: { kind: "ints", value: ax }, keepdims: { kind: "int", value: keepdims ? 1 : 0 } },
    [{ shape: reducedShape(x, ax, keepdims), dtype: x.dtype }],
  )[0]!;
}

export function reduceMax(x: Tensor, axes?: readonly number[], keepdims = false): Tensor {
  const ax = normAxes(x, axes, "ReduceMax");
  if (ax.length === 0) return x;
  return x.graph.addNode(
    "ReduceMax",
    [x],
    { axes: { kind: "ints", value: ax }, keepdims: { kind: "int", value: keepdims ? 1 : 0 } },
    [{ shape: reducedShape(x, ax, keepdims), dtype: x.dtype }],
  )[0]!;
}

export function softmax(x: Tensor, axis = -1): Tensor {
  const a = normAxis(axis, x.rank, "Softmax");
  return x.graph.addNode("Softmax", [x], { axis: { kind: "int", value: a } }, [
    { shape: x.shape, dtype: x.dtype },
  ])[0]!;
}

/**
 * log(softmax(x)) as x - m - log(sum(exp(x - m))) with m the (gradient-free) maximum: the WebGPU
 * provider has no LogSoftmax kernel, and this form is as stable and differentiates through
 * Exp, Log and ReduceSum.
 */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const a = normAxis(axis, x.rank, "LogSoftmax");
  const m = detach(reduceMax(x, [a], true));
  const z = sub(x, m);
  return sub(z, log(reduceSum(exp(z), [a], true)));
}
