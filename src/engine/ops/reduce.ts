// Reductions and Softmax. Axes are static; `keepdims` defaults to false as in NumPy.

import type { Tensor } from "../tensor.js";
import { registerVjp } from "../vjp.js";
import { cast, div, equal, exp, mul, sub } from "./elementwise.js";
import { expand, normAxis, reshape } from "./shape.js";

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

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const a = normAxis(axis, x.rank, "LogSoftmax");
  return x.graph.addNode("LogSoftmax", [x], { axis: { kind: "int", value: a } }, [
    { shape: x.shape, dtype: x.dtype },
  ])[0]!;
}

// ---- reverse-mode rules -------------------------------------------------------------------

function reducedAxes(n: { attrs: Record<string, unknown>; inputs: readonly (Tensor | null)[] }): number[] {
  const a = n.attrs.axes as { value: number[] } | undefined;
  if (a) return a.value;
  return Array.from(n.inputs[1]!.value!.data as BigInt64Array, Number);
}

/** Bring a reduced gradient back to the input's shape. */
function spread(g: Tensor, x: Tensor, axes: readonly number[]): Tensor {
  return expand(
    reshape(
      g,
      x.shape.map((d, i) => (axes.includes(i) ? 1 : d)),
    ),
    x.shape,
  );
}

registerVjp("ReduceSum", (n, [g]) => [spread(g!, n.inputs[0]!, reducedAxes(n)), null]);
registerVjp("ReduceMean", (n, [g]) => {
  const x = n.inputs[0]!;
  const axes = reducedAxes(n);
  const count = axes.reduce((c, a) => c * x.shape[a]!, 1);
  return [div(spread(g!, x, axes), count)];
});
// The gradient goes to every maximal entry, shared equally between ties (as PyTorch's amax).
registerVjp("ReduceMax", (n, [g]) => {
  const x = n.inputs[0]!;
  const axes = reducedAxes(n);
  const isMax = cast(equal(x, spread(n.outputs[0]!, x, axes)), x.dtype);
  const ties = spread(reduceSum(isMax, axes, true), x, axes);
  return [mul(spread(g!, x, axes), div(isMax, ties))];
});
registerVjp("Softmax", (n, [g]) => {
  const y = n.outputs[0]!;
  const axis = (n.attrs.axis as { value: number }).value;
  return [mul(y, sub(g!, reduceSum(mul(g!, y), [axis], true)))];
});
registerVjp("LogSoftmax", (n, [g]) => {
  const y = n.outputs[0]!;
  const axis = (n.attrs.axis as { value: number }).value;
  return [sub(g!, mul(exp(y), reduceSum(g!, [axis], true)))];
});
