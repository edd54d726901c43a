// Reverse-mode rules of the reductions and Softmax (ops/reduce.ts).
import { cast, div, equal, mul, sub } from "../ops/elementwise.js";
import { reduceSum } from "../ops/reduce.js";
import { expand, reshape } from "../ops/shape.js";
import type { Tensor } from "../tensor.js";
import { registerVjp } from "../vjp.js";

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
