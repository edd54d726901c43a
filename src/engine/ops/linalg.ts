// Matrix products. `matmul` follows ONNX/NumPy MatMul for operands of rank >= 2 (batch axes
// broadcast); `linear` is PyTorch's nn.Linear (weight stored [out, in]). The gradient rule is in
// grads/linalg.ts.

import { fmtShape, type Tensor } from "../tensor.js";
import { broadcastShapes } from "./broadcast.js";
import { add } from "./elementwise.js";
import { transposeLast2 } from "./shape.js";

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
