// Finite-difference gradient checks, used by the tests of every differentiable op.
//
// Float32 differences are noisy, so the check contracts the op's output with a fixed random
// tensor r on the host in float64 (L = sum(y * r)) and compares central differences of L with
// the graph's own vector-Jacobian product grad(y, x, seed = r).
import { grad } from "./autodiff.js";
import { randomTensor, rng } from "./random.js";
import { compile, type RuntimeOptions } from "./runtime.js";
import { type DType, Graph, HostTensor, type Tensor } from "./tensor.js";

export interface GradInputSpec {
  shape: readonly number[];
  dtype?: DType;
  /** Fixed data (e.g. integer indices); default: uniform random in `range`. */
  data?: HostTensor;
  /** Range of random values (default [-1, 1]); use a positive range for log/sqrt/pow. */
  range?: readonly [number, number];
  /** Whether to check the gradient w.r.t. this input (default: float inputs only). */
  check?: boolean;
}

export interface GradCheckOptions {
  h?: number;
  rtol?: number;
  atol?: number;
  /** At most this many elements per input are perturbed (chosen evenly). */
  maxElements?: number;
  seed?: number;
  /** Where the graphs run (default: the CPU provider). */
  runtime?: RuntimeOptions;
}

export interface GradCheckMismatch {
  input: number;
  index: number;
  analytic: number;
  numeric: number;
}

export interface GradCheckResult {
  ok: boolean;
  checked: number;
  maxAbsError: number;
  mismatches: GradCheckMismatch[];
}

export async function gradCheck(
  fn: (...inputs: Tensor[]) => Tensor,
  specs: readonly GradInputSpec[],
  options: GradCheckOptions = {},
): Promise<GradCheckResult> {
  const { h = 1e-2, rtol = 1e-2, atol = 1e-3, maxElements = 24, seed = 1 } = options;
  const random = rng(seed);
  const g = new Graph();
  const inputs = specs.map((s, i) => g.input(`x${i}`, s.shape, s.dtype ?? "float32"));
  const y = fn(...inputs);
  const r = randomTensor(y.shape, random);
  const checked = specs.map(
    (s, i) => (s.check ?? (s.dtype ?? "float32") === "float32") && inputs[i]!.size > 0,
  );
  const wrt = inputs.filter((_, i) => checked[i]);
  const grads = grad(y, wrt, g.constant(r));
  const forward = await compile(inputs, [y], options.runtime);
  const backward = await compile(inputs, grads, options.runtime);

  const feeds = specs.map((s) => s.data ?? randomTensor(s.shape, random, s.range));
  const named = (values: readonly HostTensor[]) =>
    Object.fromEntries(inputs.map((t, i) => [t.name!, values[i]!]));
  const analytic = Object.values(await backward.run(named(feeds)));
  const rData = r.data as Float32Array;
  const objective = async (f: HostTensor[]) => {
    const [out] = Object.values(await forward.run(named(f)));
    const v = out!.data as Float32Array;
    let s = 0;
    for (let i = 0; i < v.length; i++) s += v[i]! * rData[i]!;
    return s;
  };

  const mismatches: GradCheckMismatch[] = [];
  let maxAbsError = 0;
  let count = 0;
  let k = 0;
  for (let i = 0; i < specs.length; i++) {
    if (!checked[i]) continue;
    const a = analytic[k++]!.data as Float32Array;
    const base = feeds[i]!.data as Float32Array;
    const stride = Math.max(1, Math.floor(base.length / maxElements));
    for (let j = 0; j < base.length; j += stride) {
      const plus = Float32Array.from(base);
      const minus = Float32Array.from(base);
      plus[j]! += h;
      minus[j]! -= h;
      const with_ = (d: Float32Array) =>
        feeds.map((f, q) => (q === i ? new HostTensor("float32", f.shape, d) : f));
      const numeric =
        ((await objective(with_(plus))) - (await objective(with_(minus)))) / (plus[j]! - minus[j]!);
      const err = Math.abs(numeric - a[j]!);
      maxAbsError = Math.max(maxAbsError, err);
      count++;
      if (err > atol + rtol * Math.max(Math.abs(numeric), Math.abs(a[j]!))) {
        mismatches.push({ input: i, index: j, analytic: a[j]!, numeric });
      }
    }
  }
  return { ok: mismatches.length === 0, checked: count, maxAbsError, mismatches };
}
