// Reverse-mode rules of the data-movement ops (ops/shape.ts).
import { matmul } from "../ops/linalg.js";
import { concat, expand, narrow, oneHot, pad, reshape, transpose, transposeLast2 } from "../ops/shape.js";
import { HostTensor, type Tensor } from "../tensor.js";
import { registerNonDifferentiable, registerVjp } from "../vjp.js";
import { unbroadcast } from "./unbroadcast.js";

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
  // Gather counts negative indices from the end; oneHot does too (constant-folded when idx is).
  const dim = x.shape[axis]!;
  const hot = reshape(oneHot(idx, dim, x.dtype as "float32"), [m, dim]);
  const gx = matmul(transposeLast2(hot), gFlat); // [dim, pre*post]
  const back = reshape(gx, [x.shape[axis]!, ...pre, ...post]);
  const inv = [...pre.map((_, i) => i + 1), 0, ...post.map((_, i) => pre.length + 1 + i)];
  return [transpose(back, inv), null];
});
registerNonDifferentiable("Shape", "Range");
