// Elementwise ops: arithmetic with NumPy/ONNX broadcasting, unary maths, comparisons, Where,
// Clip, Cast, and `detach`. Plain numbers are lifted to scalar constants of the other operand's
// dtype, because ONNX never converts dtypes implicitly.

import { type DType, fmtShape, isFloat, type Tensor } from "../tensor.js";
import { registerNonDifferentiable, registerVjp } from "../vjp.js";
import { reduceSum } from "./reduce.js";
import { reshape } from "./shape.js";

export type Operand = Tensor | number;

export function broadcastShapes(a: readonly number[], b: readonly number[], op: string): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: cannot broadcast shapes ${fmtShape(a)} and ${fmtShape(b)}`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

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
export const pow = (a: Operand, b: Operand): Tensor => binary("Pow", a, b);
/** Elementwise maximum of two tensors (ONNX Max). */
export const maximum = (a: Operand, b: Operand): Tensor => binary("Max", a, b);
export const minimum = (a: Operand, b: Operand): Tensor => binary("Min", a, b);

export const equal = (a: Operand, b: Operand): Tensor => binary("Equal", a, b, "bool");
export const greater = (a: Operand, b: Operand): Tensor => binary("Greater", a, b, "bool");
export const greaterOrEqual = (a: Operand, b: Operand): Tensor => binary("GreaterOrEqual", a, b, "bool");
export const less = (a: Operand, b: Operand): Tensor => binary("Less", a, b, "bool");
export const lessOrEqual = (a: Operand, b: Operand): Tensor => binary("LessOrEqual", a, b, "bool");
export const and = (a: Tensor, b: Tensor): Tensor => binary("And", a, b);
export const or = (a: Tensor, b: Tensor): Tensor => binary("Or", a, b);
export const not = (x: Tensor): Tensor => unary("Not", x);

export const neg = (x: Tensor): Tensor => unary("Neg", x);
export const abs = (x: Tensor): Tensor => unary("Abs", x);
export const sign = (x: Tensor): Tensor => unary("Sign", x);
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

const onnxDtypeCode: Record<DType, number> = { float32: 1, uint8: 2, bool: 9, int64: 7, float16: 10 };

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

// ---- reverse-mode rules -------------------------------------------------------------------

const inputOf = (node: { inputs: readonly (Tensor | null)[] }, i: number): Tensor => node.inputs[i]!;
const y0 = (node: { outputs: readonly Tensor[] }): Tensor => node.outputs[0]!;

registerVjp("Add", (n, [g]) => [unbroadcast(g!, inputOf(n, 0).shape), unbroadcast(g!, inputOf(n, 1).shape)]);
registerVjp("Sub", (n, [g], needs) => [
  unbroadcast(g!, inputOf(n, 0).shape),
  needs[1] ? unbroadcast(neg(g!), inputOf(n, 1).shape) : null,
]);
registerVjp("Mul", (n, [g], needs) => {
  const [a, b] = [inputOf(n, 0), inputOf(n, 1)];
  return [
    needs[0] ? unbroadcast(mul(g!, b), a.shape) : null,
    needs[1] ? unbroadcast(mul(g!, a), b.shape) : null,
  ];
});
registerVjp("Div", (n, [g], needs) => {
  const [a, b] = [inputOf(n, 0), inputOf(n, 1)];
  const ga = div(g!, b);
  return [
    needs[0] ? unbroadcast(ga, a.shape) : null,
    needs[1] ? unbroadcast(neg(mul(ga, y0(n))), b.shape) : null,
  ];
});
registerVjp("Pow", (n, [g], needs) => {
  const [a, b] = [inputOf(n, 0), inputOf(n, 1)];
  return [
    needs[0] ? unbroadcast(mul(g!, mul(b, pow(a, sub(b, 1)))), a.shape) : null,
    needs[1] ? unbroadcast(mul(g!, mul(y0(n), log(a))), b.shape) : null,
  ];
});
// Ties go to the first operand, so the gradient is not split or doubled.
registerVjp("Max", (n, [g]) => {
  const [a, b] = [inputOf(n, 0), inputOf(n, 1)];
  const firstWins = greaterOrEqual(a, b);
  return [unbroadcast(where(firstWins, g!, 0), a.shape), unbroadcast(where(firstWins, 0, g!), b.shape)];
});
registerVjp("Min", (n, [g]) => {
  const [a, b] = [inputOf(n, 0), inputOf(n, 1)];
  const firstWins = lessOrEqual(a, b);
  return [unbroadcast(where(firstWins, g!, 0), a.shape), unbroadcast(where(firstWins, 0, g!), b.shape)];
});
registerVjp("Neg", (_n, [g]) => [neg(g!)]);
registerVjp("Abs", (n, [g]) => [mul(g!, sign(inputOf(n, 0)))]);
registerVjp("Exp", (n, [g]) => [mul(g!, y0(n))]);
registerVjp("Log", (n, [g]) => [div(g!, inputOf(n, 0))]);
registerVjp("Sqrt", (n, [g]) => [div(mul(g!, 0.5), y0(n))]);
registerVjp("Reciprocal", (n, [g]) => [neg(mul(g!, square(y0(n))))]);
registerVjp("Erf", (n, [g]) => {
  const x = inputOf(n, 0);
  return [mul(g!, mul(exp(neg(square(x))), 2 / Math.sqrt(Math.PI)))];
});
registerVjp("Tanh", (n, [g]) => [mul(g!, sub(1, square(y0(n))))]);
registerVjp("Sigmoid", (n, [g]) => [mul(g!, mul(y0(n), sub(1, y0(n))))]);
registerVjp("Softplus", (n, [g]) => [mul(g!, sigmoid(inputOf(n, 0)))]);
registerVjp("Relu", (n, [g]) => [where(greater(inputOf(n, 0), 0), g!, 0)]);
registerVjp("Sin", (n, [g]) => [mul(g!, cos(inputOf(n, 0)))]);
registerVjp("Cos", (n, [g]) => [neg(mul(g!, sin(inputOf(n, 0))))]);
registerVjp("Where", (n, [g], needs) => {
  const [c, a, b] = [inputOf(n, 0), inputOf(n, 1), inputOf(n, 2)];
  return [
    null,
    needs[1] ? unbroadcast(where(c, g!, 0), a.shape) : null,
    needs[2] ? unbroadcast(where(c, 0, g!), b.shape) : null,
  ];
});
registerVjp("Clip", (n, [g]) => {
  const [x, lo, hi] = [inputOf(n, 0), n.inputs[1], n.inputs[2]];
  let inside: Tensor | null = null;
  if (lo) inside = greaterOrEqual(x, lo);
  if (hi) inside = inside ? and(inside, lessOrEqual(x, hi)) : lessOrEqual(x, hi);
  return [inside ? where(inside, g!, 0) : g!, null, null];
});
registerVjp("Cast", (n, [g]) => {
  const x = inputOf(n, 0);
  return [isFloat(x.dtype) ? cast(g!, x.dtype) : null];
});
registerVjp("Identity", (_n, [g]) => [g]);
registerNonDifferentiable(
  "Equal",
  "Greater",
  "GreaterOrEqual",
  "Less",
  "LessOrEqual",
  "And",
  "Or",
  "Not",
  "Sign",
  "Floor",
);
