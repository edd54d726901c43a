// Reverse-mode rule of MatMul (ops/linalg.ts).
import { matmul } from "../ops/linalg.js";
import { reshape, transposeLast2 } from "../ops/shape.js";
import type { Tensor } from "../tensor.js";
import { registerVjp } from "../vjp.js";
import { unbroadcast } from "./unbroadcast.js";

/**
 * dB for y = a @ b when b is a plain matrix and a is batched: one [K, B*M] x [B*M, N] product
 * instead of a batched product followed by a sum over the batch.
 */
function weightGrad(a: Tensor, g: Tensor): Tensor {
  const k = a.shape[a.rank - 1]!;
  const n = g.shape[g.rank - 1]!;
  return reshape(matmul(transposeLast2(reshape(a, [-1, k])), reshape(g, [-1, n])), [k, n]);
}

registerVjp("MatMul", (node, [g], needs) => {
  const [a, b] = [node.inputs[0]!, node.inputs[1]!];
  const da = needs[0] ? unbroadcast(matmul(g!, transposeLast2(b)), a.shape) : null;
  let db: Tensor | null = null;
  if (needs[1]) {
    db = b.rank === 2 && a.rank > 2 ? weightGrad(a, g!) : unbroadcast(matmul(transposeLast2(a), g!), b.shape);
  }
  return [da, db];
});
