// Reverse-mode rules of the elementwise ops (ops/elementwise.ts).
import {
  and,
  cast,
  cos,
  div,
  exp,
  greater,
  greaterOrEqual,
  lessOrEqual,
  log,
  mul,
  neg,
  pow,
  sigmoid,
  sign,
  sin,
  square,
  sub,
  where,
} from "../ops/elementwise.js";
import { isFloat, type Tensor } from "../tensor.js";
import { registerNonDifferentiable, registerVjp } from "../vjp.js";
import { unbroadcast } from "./unbroadcast.js";

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
