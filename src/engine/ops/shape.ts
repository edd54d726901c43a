// Ops that move data without arithmetic: Reshape, Transpose, Expand, Slice, Concat, Split, Pad,
// Gather. All shape parameters are static (plain numbers), so every output shape is known here.

import { fmtShape, HostTensor, type Tensor } from "../tensor.js";
import { registerNonDifferentiable, registerVjp } from "../vjp.js";
import { add, broadcastShapes, cast, equal, less, unbroadcast, where } from "./elementwise.js";
import { matmul } from "./linalg.js";

function normAxis(axis: number, rank: number, op: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`${op}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}

export { normAxis };

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
 */
export function slice(x: Tensor, specs: readonly SliceSpec[]): Tensor {
  const shape = [...x.shape];
  const resolved = specs.map((s) => {
    const axis = normAxis(s.axis, x.rank, "Slice");
    const step = s.step ?? 1;
    const r = resolveSlice(x.shape[axis]!, s.start, s.end, step);
    shape[axis] = r.count;
    return { axis, step, ...r };
  });
  if (resolved.every((r) => r.step === 1 && r.start === 0 && r.count === x.shape[r.axis])) return x;
  const g = x.graph;
  // Normalised starts/ends so that the backward rule can reuse them directly.
  const ends = resolved.map((r) => {
    const e = r.start + r.count * r.step;
    return e < 0 ? -x.shape[r.axis]! - 1 : e; // an end of -1 means "before index 0"; ONNX needs < -dim
  });
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
  if (idx.dtype !== "int64") throw new Error(`Gather: indices must be int64, got ${idx}`);
  const shape = [...x.shape.slice(0, a), ...idx.shape, ...x.shape.slice(a + 1)];
  return x.graph.addNode("Gather", [x, idx], { axis: { kind: "int", value: a } }, [
    { shape, dtype: x.dtype },
  ])[0]!;
}

/** One-hot float matrix [..., n] of an int64 tensor, built from Equal against 0..n-1. */
export function oneHot(indices: Tensor, n: number, dtype: "float32" | "float16" = "float32"): Tensor {
  const range = indices.graph.constant(
    HostTensor.int64(
      Array.from({ length: n }, (_, i) => i),
      [n],
    ),
  );
  return cast(equal(unsqueezeLast(indices), range), dtype);
}

function unsqueezeLast(x: Tensor): Tensor {
  return reshape(x, [...x.shape, 1]);
}

// ---- reverse-mode rules -------------------------------------------------------------------

registerVjp("Reshape", (n, [g]) => [reshape(g!, n.inputs[0]!.shape), null]);
registerVjp("Expand", (n, [g]) => [unbroadcast(g!, n.inputs[0]!.shape), null]);
registerVjp("Transpose", (n, [g]) => {
  const perm = (n.attrs.perm as { value: readonly number[] }).value;
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => {
    inverse[p] = i;
  });
  return [transpose(g!, inverse)];
});

function int64Values(t: Tensor): number[] {
  return Array.from(t.value!.data as BigInt64Array, Number);
}

// Slice's adjoint, one axis at a time (last sliced axis first): unit steps scatter by padding;
// other steps scatter with a one-hot matrix product (exact, and MatMul is what the runtime does best).
registerVjp("Slice", (n, [g]) => {
  const x = n.inputs[0]!;
  const starts = int64Values(n.inputs[1]!);
  const axes = int64Values(n.inputs[3]!);
  const steps = int64Values(n.inputs[4]!);
  let grad = g!;
  for (let k = axes.length - 1; k >= 0; k--) {
    const axis = axes[k]!;
    const dim = x.shape[axis]!;
    const count = grad.shape[axis]!;
    const [start, step] = [starts[k]!, steps[k]!];
    if (step === 1) {
      const pads = x.shape.map((_, i) =>
        i === axis ? ([start, dim - start - count] as const) : ([0, 0] as const),
      );
      grad = pad(grad, pads);
    } else {
      const picked = Array.from({ length: count }, (_, i) => start + i * step);
      grad = scatterAlongAxis(grad, picked, axis, dim);
    }
  }
  return [grad, null, null, null, null];
});

/** out[..., idx[i], ...] += g[..., i, ...] along `axis`, for constant indices. */
function scatterAlongAxis(g: Tensor, idx: readonly number[], axis: number, dim: number): Tensor {
  const m = new Float32Array(dim * idx.length);
  idx.forEach((j, i) => {
    m[j * idx.length + i] += 1;
  });
  const scatter = g.graph.constant(new HostTensor("float32", [dim, idx.length], m)); // [dim, count]
  const last = g.rank - 1;
  const moved = axis === last ? g : transpose(g, swap(g.rank, axis, last));
  const out = matmul(moved, transposeLast2(scatter)); // [..., dim]
  return axis === last ? out : transpose(out, swap(g.rank, axis, last));
}

function swap(rank: number, i: number, j: number): number[] {
  const perm = Array.from({ length: rank }, (_, k) => k);
  [perm[i], perm[j]] = [j, i];
  return perm;
}

registerVjp("Concat", (n, [g], needs) => {
  const axis = (n.attrs.axis as { value: number }).value;
  let offset = 0;
  return n.inputs.map((x, i) => {
    const d = x!.shape[axis]!;
    const part = needs[i] ? narrow(g!, axis, offset, d) : null;
    offset += d;
    return part;
  });
});

registerVjp("Split", (n, gs) => {
  const axis = (n.attrs.axis as { value: number }).value;
  const parts = n.outputs.map((y, i) => gs[i] ?? zerosLike(y));
  return [concat(parts, axis), null];
});

function zerosLike(t: Tensor): Tensor {
  return expand(t.graph.scalar(0, t.dtype), t.shape);
}

// Pad's adjoint is the opposite pad: crop what was padded, zero-fill what was cropped (negative
// pads), so mixed signs work too. (A slice from pads[i] misread a negative pad as "from the end".)
registerVjp("Pad", (n, [g]) => {
  const x = n.inputs[0]!;
  const pads = int64Values(n.inputs[1]!);
  const inverse = x.shape.map((_, i) => [-pads[i]!, -pads[i + x.rank]!] as const);
  return [pad(g!, inverse), null, null];
});

// Gather's adjoint as a one-hot product: move the gathered axis first, then
// grad_x[n, rest] = sum_m onehot[m, n] * g[m, rest]. Works for any index shape and for indices
// that are graph inputs, and keeps the work in one MatMul.
registerVjp("Gather", (n, [g]) => {
  const [x, idx] = [n.inputs[0]!, n.inputs[1]!];
  const axis = (n.attrs.axis as { value: number }).value;
  const pre = x.shape.slice(0, axis);
  const post = x.shape.slice(axis + 1);
  const m = idx.size;
  const nIdx = idx.rank;
  // g: pre + idx + post -> idx + pre + post
  const perm = [
    ...Array.from({ length: nIdx }, (_, i) => pre.length + i),
    ...pre.map((_, i) => i),
    ...post.map((_, i) => pre.length + nIdx + i),
  ];
  const gFlat = reshape(transpose(g!, perm), [m, -1]);
  // Gather counts negative indices from the end; the one-hot must too (constant-folded when idx is).
  const dim = x.shape[axis]!;
  const wrapped = where(less(idx, 0), add(idx, dim), idx);
  const hot = reshape(oneHot(wrapped, dim, x.dtype as "float32"), [m, dim]);
  const gx = matmul(transposeLast2(hot), gFlat); // [dim, pre*post]
  const back = reshape(gx, [x.shape[axis]!, ...pre, ...post]);
  const inv = [...pre.map((_, i) => i + 1), 0, ...post.map((_, i) => pre.length + 1 + i)];
  return [transpose(back, inv), null];
});
registerNonDifferentiable("Shape", "Range");
