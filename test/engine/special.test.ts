import assert from "node:assert/strict";
import { compile, digamma, Graph, grad, gradCheck, HostTensor, lgamma } from "../../src/engine/index.js";
import { RUNTIME, test } from "./test-device.js";

// Reference values: torch.digamma / torch.lgamma in float64 (PyTorch 1.13), printed to 12 digits.
const xs = [1e-3, 0.01, 0.1, 0.5, 1.0, 1.5, 2.0, 3.7, 6.0, 10.0, 42.5, 100.0, 1234.5, 1e4];
const digammaRef = [
  -1000.57557193, -100.560885458, -10.4237549404, -1.96351002602, -0.577215664902, 0.0364899739786,
  0.422784335098, 1.16715353936, 1.70611766843, 2.25175258907, 3.7376932365, 4.60016185274, 7.11801623183,
  9.21029037114,
];
const lgammaRef = [
  6.90717888538, 4.59947987804, 2.25271265173, 0.572364942925, 0.0, -0.120782237635, 0.0, 1.42807232667,
  4.78749174278, 12.8018274801, 115.90007047, 359.13420537, 7550.55090108, 82099.7174964,
];

async function evaluate(fn: typeof digamma, values: readonly number[]): Promise<Float32Array> {
  const g = new Graph();
  const x = g.input("x", [values.length]);
  const f = await compile([x], [fn(x)], RUNTIME);
  const [y] = Object.values(await f.run({ x: HostTensor.float32(values, [values.length]) }));
  return y!.data as Float32Array;
}

/** 1e-5 relative, except where the function crosses zero and only an absolute error makes sense. */
function assertClose(got: Float32Array, want: readonly number[], what: string): void {
  want.forEach((w, i) => {
    const tol = 1e-5 * Math.max(Math.abs(w), 1);
    assert.ok(Math.abs(got[i]! - w) <= tol, `${what}(${xs[i]}) = ${got[i]}, expected ${w}`);
  });
}

test("digamma matches PyTorch over (1e-3, 1e4)", async () => {
  assertClose(await evaluate(digamma, xs), digammaRef, "digamma");
});

test("lgamma matches PyTorch over (1e-3, 1e4)", async () => {
  assertClose(await evaluate(lgamma, xs), lgammaRef, "lgamma");
});

test("lgamma's derivative is digamma", async () => {
  const g = new Graph();
  const x = g.input("x", [xs.length]);
  const [dx] = grad(lgamma(x), [x]);
  const f = await compile([x], [dx!], RUNTIME);
  const [y] = Object.values(await f.run({ x: HostTensor.float32(xs, [xs.length]) }));
  assertClose(y!.data as Float32Array, digammaRef, "d lgamma/dx");
});

test("digamma and lgamma pass the finite-difference gradient check", async () => {
  for (const fn of [digamma, lgamma]) {
    const r = await gradCheck(fn, [{ shape: [12], range: [0.3, 20] }], {
      h: 1e-3,
      rtol: 2e-2,
      runtime: RUNTIME,
    });
    assert.ok(r.ok, `${fn.name}: ${JSON.stringify(r.mismatches)}`);
  }
});
