// A convolution's weight gradient, which onnxruntime has no kernel for (ConvGrad exists only in
// its training build), as ops it does have. Three ways, one chosen by `convWeightGrad`:
//  - shifted rows (stride 1, the common 3x3 / 1x1 case): the padded input flattened, so that
//    every kernel tap's window is one contiguous range of it, and one batched product per tap;
//  - taps (strided, small kernels): each tap's window a strided slice, one product per tap;
//  - a swapped convolution (large kernels, where taps would be many thin products).
// `input` is the convolution's input [N, C, ...] and `gradOut` the gradient of its output
// [N, O, ...]; the result has the weight's shape [O, C / group, k...].
import { matmul } from "../ops/linalg.js";
import { type ConvGeometry, convOutSize } from "../ops/nn.js";
import { reduceSum } from "../ops/reduce.js";
import { concat, pad, reshape, slice, transpose, transposeLast2 } from "../ops/shape.js";
import { fmtShape, type Tensor } from "../tensor.js";

/** Each method: the weight gradient [O, C / group, k...] from the input and the output's gradient. */
type WeightGradMethod = (
  input: Tensor,
  gradOut: Tensor,
  geo: ConvGeometry,
  weightShape: readonly number[],
) => Tensor;

const range = (k: number, from = 0) => Array.from({ length: k }, (_, i) => from + i);
const product = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** Per-axis kernel offsets of tap `t`, row-major like the weight's layout. */
function tapOffsets(t: number, kernel: readonly number[]): number[] {
  const offsets: number[] = [];
  let rest = t;
  for (let i = kernel.length - 1; i >= 0; i--) {
    offsets[i] = rest % kernel[i]!;
    rest = Math.floor(rest / kernel[i]!);
  }
  return offsets;
}

/** The sizes every method reads: spatial rank, batch, channels in and out, groups, output size. */
function sizesOf(input: Tensor, gradOut: Tensor, geo: ConvGeometry) {
  const [n, c] = input.shape as [number, number];
  return { spatial: input.rank - 2, n, c, o: gradOut.shape[1]!, grp: geo.group, osp: gradOut.shape.slice(2) };
}

/**
 * The convolution's own zero padding, applied explicitly to the spatial axes of [N, C, ...], and
 * `extraRows` more at the end of the first spatial axis.
 */
function padSpatial(input: Tensor, geo: ConvGeometry, extraRows = 0): Tensor {
  const spatial = input.rank - 2;
  return pad(input, [
    [0, 0],
    [0, 0],
    ...geo.kernel.map(
      (_, i) => [geo.pads[i]!, geo.pads[i + spatial]! + (i === 0 ? extraRows : 0)] as [number, number],
    ),
  ]);
}

/**
 * Gradient of a convolution's weight, as another convolution with the roles swapped: the batch
 * becomes the channel axis, the forward stride becomes the dilation and vice versa. `input` is
 * the convolution's input [N, C, ...] and `gradOut` the gradient of its output [N, O, ...].
 * Groups are kept by laying each group's batch copies side by side as input channels.
 */
const convWeightGradBySwappedConv: WeightGradMethod = (input, gradOut, geo, weightShape) => {
  const { spatial, n, c, o, grp, osp } = sizesOf(input, gradOut, geo);
  const padded = padSpatial(input, geo);
  const sp = padded.shape.slice(2);
  // input -> [C/g, g*N, ...]: for group j, channels j*N..(j+1)*N hold its batch copies.
  const xs = reshape(transpose(reshape(padded, [n, grp, c / grp, ...sp]), [2, 1, 0, ...range(spatial, 3)]), [
    c / grp,
    grp * n,
    ...sp,
  ]);
  // gradOut -> [O, N, ...] with outputs ordered by group, as the conv weight expects.
  const ks = reshape(
    transpose(reshape(gradOut, [n, grp, o / grp, ...osp]), [1, 2, 0, ...range(spatial, 3)]),
    [o, n, ...osp],
  );
  const full = xs.graph.addNode(
    "Conv",
    [xs, ks],
    {
      strides: { kind: "ints", value: geo.dilations },
      dilations: { kind: "ints", value: geo.strides },
      pads: { kind: "ints", value: new Array(2 * spatial).fill(0) },
      group: { kind: "int", value: grp },
      kernel_shape: { kind: "ints", value: osp },
    },
    [
      {
        shape: [
          c / grp,
          o,
          ...sp.map((d, i) => convOutSize(d, osp[i]!, geo.dilations[i]!, geo.strides[i]!, 0, 0)),
        ],
        dtype: input.dtype,
      },
    ],
  )[0]!;
  // The swapped convolution can see a little past the kernel when the stride does not divide the
  // input evenly: keep the first k taps.
  const cropped = slice(
    full,
    geo.kernel.map((k, i) => ({ axis: i + 2, start: 0, end: k })),
  );
  const dw = transpose(cropped, [1, 0, ...range(spatial, 2)]);
  if (dw.shape.some((d, i) => d !== weightShape[i])) {
    throw new Error(`internal: conv weight gradient ${dw} does not match weight ${fmtShape(weightShape)}`);
  }
  return dw;
};

/**
 * Gradient of a convolution's weight, one kernel tap at a time: for tap t the input window it
 * reads is a strided slice of the padded input, and dW[:, :, t] = gradOut x window^T is one
 * (grouped) matrix product. For small kernels this is several times faster on onnxruntime's CPU
 * EP than the swapped convolution, whose huge "kernel" (the whole output map) is a poor fit for
 * its convolution code (measured on 3x3, 64->64 over 2x64x128x128: 26 vs 120 ms, loaded machine).
 */
const convWeightGradByTaps: WeightGradMethod = (input, gradOut, geo, weightShape) => {
  const { spatial, n, c, o, grp, osp } = sizesOf(input, gradOut, geo);
  const rows = n * product(osp);
  const padded = padSpatial(input, geo);
  // Channels first, so that each tap's window flattens to [C, N*out] without another transpose.
  const xc = transpose(padded, [1, 0, ...range(spatial, 2)]);
  const gm = reshape(transpose(gradOut, [1, 0, ...range(spatial, 2)]), [grp, o / grp, rows]);
  const taps: Tensor[] = [];
  const kernelSize = product(geo.kernel);
  for (let t = 0; t < kernelSize; t++) {
    const offsets = tapOffsets(t, geo.kernel);
    const window = slice(
      xc,
      offsets.map((k, i) => {
        const start = k * geo.dilations[i]!;
        return {
          axis: i + 2,
          start,
          end: start + (osp[i]! - 1) * geo.strides[i]! + 1,
          step: geo.strides[i]!,
        };
      }),
    );
    const xs = reshape(window, [grp, c / grp, rows]);
    taps.push(reshape(matmul(gm, transposeLast2(xs)), [o, c / grp, 1]));
  }
  return reshape(concat(taps, 2), weightShape);
};

/**
 * Gradient of a stride-1 convolution's weight by shifted rows. With the padded input flattened
 * over its spatial axes (row length P), the window that tap k reads for output position y starts
 * at flat index y + offset(k), where y is laid out with the same row length: so gradOut, padded
 * with zeros to rows of length P, and the slice [offset(k), offset(k) + L) of the flat input are
 * aligned, and dW[:, :, k] = sum over the batch of gradOut x window^T. Each window is a contiguous
 * copy (the taps' windows are strided ones) and no operand needs a transpose: measured on
 * 3x3, 64->64 over 2 x 64 x 128 x 128 (AMD EPYC, 2 threads), 17.2 ms against the taps' 27.8 ms.
 */
const convWeightGradByShiftedRows: WeightGradMethod = (input, gradOut, geo, weightShape) => {
  const { spatial, n, c, o, grp, osp } = sizesOf(input, gradOut, geo);
  const psp = input.shape.slice(2).map((d, i) => d + geo.pads[i]! + geo.pads[i + spatial]!);
  // Flat strides of the padded frame, and the flat offset of every tap's window.
  const strides = psp.map((_, i) => product(psp.slice(i + 1)));
  const kernelSize = product(geo.kernel);
  const offsets = range(kernelSize).map((t) =>
    tapOffsets(t, geo.kernel).reduce((sum, k, i) => sum + k * geo.dilations[i]! * strides[i]!, 0),
  );
  const length = osp[0]! * strides[0]!;
  // The last windows run past the frame by less than one row: pad the first axis by whole rows.
  const extraRows = Math.ceil(Math.max(0, Math.max(...offsets) + length - product(psp)) / strides[0]!);
  const flatLength = (psp[0]! + extraRows) * strides[0]!;
  const flat = reshape(padSpatial(input, geo, extraRows), [n, grp, c / grp, flatLength]);
  const rows = reshape(
    pad(gradOut, [
      [0, 0],
      [0, 0],
      [0, 0],
      ...osp.slice(1).map((d, i) => [0, psp[i + 1]! - d] as [number, number]),
    ]),
    [n, grp, o / grp, length],
  );
  const taps = offsets.map((start) => {
    // A 1x1 kernel's one window is the whole input: no copy.
    const window = length === flatLength ? flat : slice(flat, [{ axis: 3, start, end: start + length }]);
    return reshape(reduceSum(matmul(rows, transposeLast2(window)), [0]), [o, c / grp, 1]);
  });
  return reshape(concat(taps, 2), weightShape);
};

/** Stride 1 by shifted rows; other small kernels by taps; large ones by the swapped conv. */
export const convWeightGrad: WeightGradMethod = (input, gradOut, geo, weightShape) => {
  if (product(geo.kernel) > 49) return convWeightGradBySwappedConv(input, gradOut, geo, weightShape);
  return geo.strides.every((s) => s === 1)
    ? convWeightGradByShiftedRows(input, gradOut, geo, weightShape)
    : convWeightGradByTaps(input, gradOut, geo, weightShape);
};
