// Elementwise ops: arithmetic with NumPy/ONNX broadcasting, unary maths, comparisons, Where,
// Clip, Cast, and `detach`. Their gradient rules are in grads/elementwise.ts. Plain numbers are lifted to scalar constants of the other operand's
// dtype, because ONNX never converts dtypes implicitly.

import { type DType, fmtShape, isFloat, type Tensor } from "../tensor.js";
import { broadcastShapes } from "./broadcast.js";

export type Operand = Tensor | number;

function lift(x: Operand, like: Tensor): Tensor {
  return typeof x === "number" ? like.graph.scalar(x, like.dtype) : x;
}

function pair(a: Operand, b: Operand, op: string): [Tensor, Tensor] {
  if (typeof a === "number" && typeof b === "number")
    throw new Error(`${op}: at least one operand must be a tensor`);
  const ta = typeof a === "number" ? lift(a, b as Tensor) : a;
  const tb = lift(b, ta);
  if (ta.dtype !== tb.dtype) {
    throw new Error(
      `${op}: dtype mismatch ${ta.dtype}${fmtShape(ta.shape)} vs ${tb.dtype}${fmtShape(tb.shape)}`,
    );
  }
  return [ta, tb];
}

function binary(op: string, a: Operand, b: Operand, outDtype?: DType): Tensor {
  const [ta, tb] = pair(a, b, op);
  const shape = broadcastShapes(ta.shape, tb.shape, op);
  return ta.graph.addNode(op, [ta, tb], {}, [{ shape, dtype: outDtype ?? ta.dtype }])[0]!;
}

function unary(op: string, x: Tensor, outDtype?: DType): Tensor {
  return x.graph.addNode(op, [x], {}, [{ shape: x.shape, dtype: outDtype ?? x.dtype }])[0]!;
}

function floatUnary(op: string, x: Tensor): Tensor {
  if (!isFloat(x.dtype)) throw new Error(`${op}: needs a float tensor, got ${x}`);
  return unary(op, x);
}

export const add = (a: Operand, b: Operand): Tensor => binary("Add", a, b);
export const sub = (a: Operand, b: Operand): Tensor => binary("Sub", a, b);
export const mul = (a: Operand, b: Operand): Tensor => binary("Mul", a, b);
export const div = (a: Operand, b: Operand): Tensor => binary("Div", a, b);
/**
 * a ** b. Operands of different shapes are expanded to the common shape first: onnxruntime 1.30's
 * WebGPU Pow kernel fails on broadcasting operands ("raw_hash_map::at"; reproduced in
 * test/engine/webgpu-bugs.test.ts), and an Expand costs nothing where the shapes already agree.
 */
export function pow(a: Operand, b: Operand): Tensor {
  const [ta, tb] = pair(a, b, "Pow");
  const shape = broadcastShapes(ta.shape, tb.shape, "Pow");
  const full = (t: Tensor) =>
    t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i])
      ? t
      : t.graph.addNode("Expand", [t, t.graph.int64s(shape)], {}, [{ shape, dtype: t.dtype }])[0]!;
  return binary("Pow", full(ta), full(tb));
}
/** Elementwise maximum of two tensors (ONNX Max). */
export const maximum = (a: Operand, b: Operand): Tensor => binary("Max", a, b);
export const minimum = (a: Operand, b: Operand): Tensor => binary("Min", a, b);

export const equal = (a: Operand, b: Operand): Tensor => binary("Equal", a, b, "bool");
export const greater = (a: Operand, b: Operand): Tensor => binary("Greater", a, b, "bool");
export const greaterOrEqual = (a: Operand, b: Operand): Tensor => binary("GreaterOrEqual", a, b, "bool");
export const less = (a: Operand, b: Operand): Tensor => binary("Less", a, b, "bool");
export const lessOrEqual = (a: Operand, b: Operand): Tensor => binary("LessOrEqual", a, b, "bool");
// Logic on bool tensors, computed in float32: onnxruntime's WebGPU provider has no And, Or, Not
// (nor Where or Cast to bool on bool data); comparisons and Cast bool -> float it has, so these
// stay on the GPU (checked with CPU fallback forbidden, test/engine/webgpu.test.ts).
function checkBool(op: string, ...xs: Tensor[]): void {
  for (const x of xs) if (x.dtype !== "bool") throw new Error(`${op}: needs bool tensors, got ${x}`);
}
export const and = (a: Tensor, b: Tensor): Tensor => {
  checkBool("And", a, b);
  return binary("Greater", binary("Mul", cast(a, "float32"), cast(b, "float32")), 0.5, "bool");
};
export const or = (a: Tensor, b: Tensor): Tensor => {
  checkBool("Or", a, b);
  return binary("Greater", binary("Max", cast(a, "float32"), cast(b, "float32")), 0.5, "bool");
};
export const not = (x: Tensor): Tensor => {
  checkBool("Not", x);
  return binary("Less", cast(x, "float32"), 0.5, "bool");
};

export const neg = (x: Tensor): Tensor => unary("Neg", x);
export const abs = (x: Tensor): Tensor => unary("Abs", x);
/** -1, 0 or 1, as (x > 0) - (x < 0): the WebGPU provider has no Sign. */
export const sign = (x: Tensor): Tensor =>
  binary("Sub", cast(binary("Greater", x, 0, "bool"), x.dtype), cast(binary("Less", x, 0, "bool"), x.dtype));
export const floor = (x: Tensor): Tensor => unary("Floor", x);
export const exp = (x: Tensor): Tensor => floatUnary("Exp", x);
export const log = (x: Tensor): Tensor => floatUnary("Log", x);
export const sqrt = (x: Tensor): Tensor => floatUnary("Sqrt", x);
export const reciprocal = (x: Tensor): Tensor => floatUnary("Reciprocal", x);
export const erf = (x: Tensor): Tensor => floatUnary("Erf", x);
export const tanh = (x: Tensor): Tensor => floatUnary("Tanh", x);
export const sigmoid = (x: Tensor): Tensor => floatUnary("Sigmoid", x);
export const softplus = (x: Tensor): Tensor => floatUnary("Softplus", x);
export const relu = (x: Tensor): Tensor => unary("Relu", x);
export const sin = (x: Tensor): Tensor => floatUnary("Sin", x);
export const cos = (x: Tensor): Tensor => floatUnary("Cos", x);
export const square = (x: Tensor): Tensor => mul(x, x);

export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  if (cond.dtype !== "bool") throw new Error(`Where: condition must be bool, got ${cond}`);
  const [ta, tb] = pair(a, b, "Where");
  const shape = broadcastShapes(broadcastShapes(cond.shape, ta.shape, "Where"), tb.shape, "Where");
  return cond.graph.addNode("Where", [cond, ta, tb], {}, [{ shape, dtype: ta.dtype }])[0]!;
}

export function clip(x: Tensor, min?: number, max?: number): Tensor {
  const g = x.graph;
  const lo = min === undefined ? null : g.scalar(min, x.dtype);
  const hi = max === undefined ? null : g.scalar(max, x.dtype);
  return g.addNode("Clip", [x, lo, hi], {}, [{ shape: x.shape, dtype: x.dtype }])[0]!;
}

const onnxDtypeCode: Record<DType, number> = {
  float32: 1,
  uint8: 2,
  int32: 6,
  bool: 9,
  int64: 7,
  float16: 10,
};

export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  return x.graph.addNode("Cast", [x], { to: { kind: "int", value: onnxDtypeCode[dtype] } }, [
    { shape: x.shape, dtype },
  ])[0]!;
}

/** The same values, but gradients stop here (like torch's `.detach()`). */
export function detach(x: Tensor): Tensor {
  return x.graph.addNode("Identity", [x], {}, [{ shape: x.shape, dtype: x.dtype }], {
    stopGradient: true,
  })[0]!;
}

export function identity(x: Tensor): Tensor {
  return unary("Identity", x);
}
