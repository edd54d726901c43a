// The adjoint of broadcasting, used by the rules of every op that broadcasts.
import { reduceSum } from "../ops/reduce.js";
import { reshape } from "../ops/shape.js";
import type { Tensor } from "../tensor.js";

/**
 * Sum `g` down to `shape`: the adjoint of broadcasting. Sums the leading axes that broadcasting
 * added and the axes where `shape` has 1, then reshapes.
 */
export function unbroadcast(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length ? reduceSum(g, axes, true) : g;
  return reshape(summed, shape);
}
