// Special functions that ONNX lacks, built from elementwise ops so that they run on every
// execution provider and differentiate through the ordinary rules (digamma's derivative comes out
// as the derivative of its series, i.e. trigamma to the same accuracy).
//
// Both use the classic recipe: shift the argument up by six with the recurrence, then use the
// asymptotic (Stirling-type) series, which is accurate to float32 precision for z >= 6.
import { add, div, log, mul, reciprocal, sub } from "./ops/elementwise.js";
import type { Tensor } from "./tensor.js";

const SHIFT = 6;

/** Horner evaluation of sum_k c_k * w^k for a tensor w. */
function polynomial(w: Tensor, coefficients: readonly number[]): Tensor {
  let acc: Tensor | number = coefficients[coefficients.length - 1]!;
  for (let k = coefficients.length - 2; k >= 0; k--) {
    acc = add(mul(w, acc), coefficients[k]!);
  }
  return acc as Tensor;
}

/** psi(x) = d/dx ln Gamma(x), for x > 0. */
export function digamma(x: Tensor): Tensor {
  // psi(x) = psi(x + 6) - sum_{k=0}^{5} 1 / (x + k)
  let shiftSum = reciprocal(x);
  for (let k = 1; k < SHIFT; k++) shiftSum = add(shiftSum, reciprocal(add(x, k)));
  const z = add(x, SHIFT);
  const w = reciprocal(mul(z, z));
  // psi(z) ~ ln z - 1/(2z) - sum B_2n / (2n z^2n)
  const tail = mul(w, polynomial(w, [-1 / 12, 1 / 120, -1 / 252, 1 / 240, -1 / 132]));
  const psiZ = add(sub(log(z), div(0.5, z)), tail);
  return sub(psiZ, shiftSum);
}

/** ln Gamma(x), for x > 0. */
export function lgamma(x: Tensor): Tensor {
  // ln Gamma(x) = ln Gamma(x + 6) - ln(x (x+1) ... (x+5)); the product is taken in two halves
  // so that it stays inside float32's range for x up to about 1e12.
  const lowHalf = mul(mul(x, add(x, 1)), add(x, 2));
  const highHalf = mul(mul(add(x, 3), add(x, 4)), add(x, 5));
  const shiftLog = add(log(lowHalf), log(highHalf));
  const z = add(x, SHIFT);
  const w = reciprocal(mul(z, z));
  // ln Gamma(z) ~ (z - 1/2) ln z - z + ln(2 pi)/2 + (1/z) sum B_2n / (2n (2n-1) z^(2n-2))
  const series = div(polynomial(w, [1 / 12, -1 / 360, 1 / 1260, -1 / 1680]), z);
  const stirling = add(sub(mul(sub(z, 0.5), log(z)), z), add(series, 0.5 * Math.log(2 * Math.PI)));
  return sub(stirling, shiftLog);
}
