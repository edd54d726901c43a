// Ops that move data without arithmetic: Reshape, Transpose, Expand, Slice, Concat, Split, Pad,
// Gather. All shape parameters are static (plain numbers), so every output shape is known here.
// Their gradient rules are in grads/shape.ts.

import { fmtShape, HostTensor, type Tensor } from "../tensor.js";
import { broadcastShapes, normAxis } from "./broadcast.js";
import { add, cast, equal, less, mul } from "./elementwise.js";

/** Reshape with at most one -1 (inferred) and 0 meaning "no change" is NOT supported (explicit sizes only). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const holes = shape.filter((d) => d === -1).length;
  if (holes > 1) throw new Error(`Reshape: more than one -1 in ${fmtShape(shape)}`);
  const out = shape.map((d) => (d === -1 ? x.size / known : d));
  if (out.some((d) => !Number.isInteger(d) || d < 0) || out.reduce((a, b) => a * b, 1) !== x.size) {
    throw new Error(`Reshape: cannot reshape ${x} (${x.size} elements) to ${fmtShape(shape)}`);
  }
  if (out.length === x.rank && out.every((d, i) => d === x.shape[i])) return x;
  return x.graph.addNode("Reshape", [x, x.graph.int64s(out)], {}, [{ shape: out, dtype: x.dtype }])[0]!;
}

export function flatten(x: Tensor, fromAxis = 1): Tensor {
  const head = x.shape.slice(0, fromAxis);
  return reshape(x, [...head, -1]);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normAxis(axis, x.rank + 1, "Unsqueeze");
  const shape = [...x.shape];
  shape.splice(a, 0, 1);
  return reshape(x, shape);
}

export function squeeze(x: Tensor, axis: number): Tensor {
  const a = normAxis(axis, x.rank, "Squeeze");
  if (x.shape[a] !== 1) throw new Error(`Squeeze: axis ${axis} of ${x} is not 1`);
  return reshape(
    x,
    x.shape.filter((_, i) => i !== a),
  );
}

export function transpose(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new Error(`Transpose: perm [${perm}] is not a permutation for ${x}`);
  }
  if (perm.every((p, i) => p === i)) return x;
  const shape = perm.map((p) => x.shape[p]!);
  return x.graph.addNode("Transpose", [x], { perm: { kind: "ints", value: perm } }, [
    { shape, dtype: x.dtype },
  ])[0]!;
}

/** Swap the last two axes (matrix transpose over a batch). */
export function transposeLast2(x: Tensor): Tensor {
  const perm = x.shape.map((_, i) => i);
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1]!, perm[x.rank - 2]!];
  return transpose(x, perm);
}

export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const out = broadcastShapes(x.shape, shape, "Expand");
  if (out.length === x.rank && out.every((d, i) => d === x.shape[i])) return x;
  return x.graph.addNode("Expand", [x, x.graph.int64s(out)], {}, [{ shape: out, dtype: x.dtype }])[0]!;
}

export interface SliceSpec {
  axis: number;
  start: number;
  end: number;
  step?: number;
}

/** Resolve one axis of an ONNX Slice to concrete (start, count, step), with ONNX's clamping. */
function resolveSlice(
  dim: number,
  start: number,
  end: number,
  step: number,
): { start: number; count: number } {
  if (step === 0) throw new Error("Slice: step cannot be 0");
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    start = Math.min(Math.max(start, 0), dim);
    end = Math.min(Math.max(end, 0), dim);
    return { start, count: Math.max(0, Math.ceil((end - start) / step)) };
  }
  start = Math.min(Math.max(start, -1), dim - 1);
  end = Math.min(Math.max(end, -1), dim - 1);
  return { start, count: Math.max(0, Math.ceil((end - start) / step)) };
}

/**
 * ONNX Slice along any set of axes, with steps (negative steps reverse). Ends past the dimension
 * are clamped as in ONNX/NumPy, so `end: Infinity`-like values can be written as a large number.
 *
 * Negative steps become a Gather of the picked indices: onnxruntime 1.30's WebGPU Slice kernel
 * starts every negative-step slice at the last element, whatever the start (test/engine/
 * webgpu-bugs.test.ts keeps a reproduction). Gather is exact on every provider.
 */
export function slice(x: Tensor, specs: readonly SliceSpec[]): Tensor {
  const resolved = specs.map((s) => {
    const axis = normAxis(s.axis, x.rank, "Slice");
    const step = s.step ?? 1;
    return { axis, step, ...resolveSlice(x.shape[axis]!, s.start, s.end, step) };
  });
  let y = stepSlice(
    x,
    resolved.filter((r) => r.step > 0),
  );
  for (const r of resolved.filter((r) => r.step < 0)) {
    y = gather(
      y,
      Array.from({ length: r.count }, (_, i) => r.start + i * r.step),
      r.axis,
    );
  }
  return y;
}

/** One ONNX Slice node for positive steps, resolved (start, count) per axis. */
function stepSlice(
  x: Tensor,
  resolved: readonly { axis: number; step: number; start: number; count: number }[],
): Tensor {
  const shape = [...x.shape];
  for (const r of resolved) shape[r.axis] = r.count;
  if (resolved.every((r) => r.step === 1 && r.start === 0 && r.count === x.shape[r.axis])) return x;
  const g = x.graph;
  // Normalised starts/ends so that the backward rule can reuse them directly.
  const ends = resolved.map((r) => r.start + r.count * r.step);
  return g.addNode(
    "Slice",
    [
      x,
      g.int64s(resolved.map((r) => r.start)),
      g.int64s(ends),
      g.int64s(resolved.map((r) => r.axis)),
      g.int64s(resolved.map((r) => r.step)),
    ],
    {},
    [{ shape, dtype: x.dtype }],
  )[0]!;
}

/** Shorthand for a unit-step slice of one axis. */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  return slice(x, [{ axis, start, end: start + length }]);
}

export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new Error("Concat: no inputs");
  if (xs.length === 1) return xs[0]!;
  const first = xs[0]!;
  const a = normAxis(axis, first.rank, "Concat");
  let total = 0;
  for (const x of xs) {
    const ok =
      x.rank === first.rank &&
      x.dtype === first.dtype &&
      x.shape.every((d, i) => i === a || d === first.shape[i]);
    if (!ok) throw new Error(`Concat: ${x} does not match ${first} outside axis ${axis}`);
    total += x.shape[a]!;
  }
  const shape = [...first.shape];
  shape[a] = total;
  return first.graph.addNode("Concat", xs, { axis: { kind: "int", value: a } }, [
    { shape, dtype: first.dtype },
  ])[0]!;
}

export function split(x: Tensor, sizes: readonly number[], axis: number): Tensor[] {
  const a = normAxis(axis, x.rank, "Split");
  if (sizes.reduce((s, d) => s + d, 0) !== x.shape[a]) {
    throw new Error(`Split: sizes [${sizes}] do not add up to dim ${a} of ${x}`);
  }
  const outputs = sizes.map((d) => {
    const shape = [...x.shape];
    shape[a] = d;
    return { shape, dtype: x.dtype };
  });
  return x.graph.addNode("Split", [x, x.graph.int64s(sizes)], { axis: { kind: "int", value: a } }, outputs);
}

/**
 * Constant padding. `pads` lists [before, after] per axis from the first axis (shorter lists pad
 * the leading axes only). Negative pads crop, as in ONNX.
 */
export function pad(x: Tensor, pads: readonly (readonly [number, number])[], value = 0): Tensor {
  if (pads.length > x.rank) throw new Error(`Pad: ${pads.length} pad pairs for ${x}`);
  const full = x.shape.map((_, i) => pads[i] ?? ([0, 0] as const));
  if (full.every(([b, e]) => b === 0 && e === 0)) return x;
  const shape = x.shape.map((d, i) => d + full[i]![0] + full[i]![1]);
  if (shape.some((d) => d < 0)) throw new Error(`Pad: pads ${JSON.stringify(pads)} crop ${x} below zero`);
  const g = x.graph;
  const onnxPads = [...full.map((p) => p[0]), ...full.map((p) => p[1])];
  return g.addNode(
    "Pad",
    [x, g.int64s(onnxPads), g.scalar(value, x.dtype)],
    { mode: { kind: "string", value: "constant" } },
    [{ shape, dtype: x.dtype }],
  )[0]!;
}

/** ONNX Gather: pick entries of `x` along `axis` by integer `indices` (any shape). */
export function gather(x: Tensor, indices: Tensor | readonly number[], axis = 0): Tensor {
  const a = normAxis(axis, x.rank, "Gather");
  const idx = Array.isArray(indices)
    ? x.graph.constant(HostTensor.int64(indices, [indices.length]))
    : (indices as Tensor);
  if (idx.dtype !== "int64" && idx.dtype !== "int32")
    throw new Error(`Gather: indices must be int64 or int32, got ${idx}`);
  const shape = [...x.shape.slice(0, a), ...idx.shape, ...x.shape.slice(a + 1)];
  return x.graph.addNode("Gather", [x, idx], { axis: { kind: "int", value: a } }, [
    { shape, dtype: x.dtype },
  ])[0]!;
}

/**
 * One-hot float matrix [..., n] of an integer tensor (negative indices count from the end, as
 * Gather's do), built from Equal against 0..n-1. The comparison runs in float32 (exact for
 * indices under 2^24): the WebGPU provider has no int64 arithmetic or int64 Equal.
 */
export function oneHot(indices: Tensor, n: number, dtype: "float32" | "float16" = "float32"): Tensor {
  const range = indices.graph.constant(
    HostTensor.float32(
      Array.from({ length: n }, (_, i) => i),
      [n],
    ),
  );
  const f = cast(indices, "float32");
  const wrapped = add(f, mul(cast(less(f, 0), "float32"), n));
  return cast(equal(unsqueezeLast(wrapped), range), dtype);
}

function unsqueezeLast(x: Tensor): Tensor {
  return reshape(x, [...x.shape, 1]);
}
