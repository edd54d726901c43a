// Matrix products. `matmul` follows ONNX/NumPy MatMul for operands of rank >= 2 (batch axes
// broadcast); `linear` is PyTorch's nn.Linear (weight stored [out, in]).

import { fmtShape, type Tensor } from "../tensor.js";
import { registerVjp } from "../vjp.js";
import { add, broadcastShapes, unbroadcast } from "./elementwise.js";
import { reshape, transposeLast2 } from "./shape.js";

export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank < 2 || b.rank < 2) throw new Error(`MatMul: operands need rank >= 2, got ${a} and ${b}`);
  if (a.dtype !== b.dtype) throw new Error(`MatMul: dtype mismatch ${a} vs ${b}`);
  const [m, k] = a.shape.slice(-2) as [number, number];
  const [k2, n] = b.shape.slice(-2) as [number, number];
  if (k !== k2)
    throw new Error(`MatMul: inner dimensions differ: ${fmtShape(a.shape)} x ${fmtShape(b.shape)}`);
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), "MatMul");
  return a.graph.addNode("MatMul", [a, b], {}, [{ shape: [...batch, m, n], dtype: a.dtype }])[0]!;
}

/** y = x W^T + b, with W of shape [out, in] as PyTorch stores it. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (weight.rank !== 2) throw new Error(`linear: weight must be [out, in], got ${weight}`);
  if (x.shape[x.rank - 1] !== weight.shape[1]) {
    throw new Error(`linear: input ${fmtShape(x.shape)} does not match weight ${fmtShape(weight.shape)}`);
  }
  const y = matmul(x, transposeLast2(weight));
  return bias ? add(y, bias) : y;
}

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
