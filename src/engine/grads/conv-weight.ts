// A convolution's weight gradient, which onnxruntime has no kernel for (ConvGrad exists only in
// its training build), as ops it does have. Three ways, one chosen by `convWeightGrad`:
//  - shifted operands (stride 1, the common 3x3 / 1x1 case): the output gradient shifted along
//    the first spatial axis and the input along the others, a few copies for all taps, and one
//    batched product per tap;
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

/** The convolution's own zero padding, applied explicitly to the spatial axes of [N, C, ...]. */
function padSpatial(input: Tensor, geo: ConvGeometry): Tensor {
  const spatial = input.rank - 2;
  return pad(input, [
    [0, 0],
    [0, 0],
    ...geo.kernel.map((_, i) => [geo.pads[i]!, geo.pads[i + spatial]!] as [number, number]),
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
 * Gradient of a stride-1 convolution's weight by shifted operands. Tap k reads the input at
 * y + s(k) for output position y (s = k * dilation - leading pad), so
 *   dW[:, :, k] = sum over y of gradOut[y] x input[y + s(k)]^T.
 * Shifting gradOut along the first spatial axis and the input along the others puts both on one
 * frame (the input's rows, the output's columns) where the product needs no offset: so only
 * k0 + k1 (x k2 ...) shifted copies are made, each one Pad (negative pads crop), not one window
 * per tap, and a 3x3 "same" convolution's middle row and column need no copy at all.
 * Measured (`npm run bench -- engine`: 3x3, 64->64 over 2 x 64 x 128 x 128, AMD EPYC, 2 threads,
 * 3 runs each): conv forward + backward 18.3-20.3 ms; 24.1-25.1 ms with one contiguous window of
 * the flattened, padded input per tap; 33.1 ms by taps. PyTorch: 15.2-18.6 ms.
 * Not taken (onnxruntime's profiler, 20 runs of that case, 2026-12-07): stacking the input's
 * shifted copies along the channels, so that each row shift is one product [3C, frame] x
 * [frame, O], cuts the products from 8.3 to 7.3 ms, but the Concat that stacks them costs 3.7 ms
 * (25 MB written; the two Pads it replaces cost 1.4 ms): forward + backward 19.3 against 19.4.
 * What bounds this case: onnxruntime's best SGEMM rate here is 352 GFLOP/s (a 2048^3 MatMul), at
 * which the forward's 2.4 GFLOP alone take 6.9 ms, PyTorch's whole forward (6.4-6.8 ms, oneDNN's
 * direct convolution); the Conv kernel runs at 287 GFLOP/s and the weight gradient's products at
 * 290. At 352 and with no copies, forward + backward would take 13.8 ms (plus the loss's Mul and
 * ReduceSum, 0.7 ms) against PyTorch's 15.2: 1.0x needs the kernels at the runtime's best GEMM
 * rate, which no rewrite of the graph reaches. onnxruntime-node 1.31.1 (the newest on npm that
 * day) runs this graph in the same time.
 */
const convWeightGradByShiftedOperands: WeightGradMethod = (input, gradOut, geo, weightShape) => {
  const { n, c, o, grp, osp } = sizesOf(input, gradOut, geo);
  const isp = input.shape.slice(2);
  const frame = [isp[0]!, ...osp.slice(1)];
  const flat = (t: Tensor, ch: number) => reshape(t, [n, grp, ch / grp, product(frame)]);
  const shiftedGrads = new Map<number, Tensor>();
  const shiftedInputs = new Map<string, Tensor>();
  const taps: Tensor[] = [];
  for (let t = 0; t < product(geo.kernel); t++) {
    const shift = tapOffsets(t, geo.kernel).map((k, i) => k * geo.dilations[i]! - geo.pads[i]!);
    const s0 = shift[0]!;
    if (!shiftedGrads.has(s0)) {
      const rows: [number, number] = [s0, isp[0]! - osp[0]! - s0];
      shiftedGrads.set(s0, flat(pad(gradOut, [[0, 0], [0, 0], rows]), o));
    }
    const key = shift.slice(1).join();
    if (!shiftedInputs.has(key)) {
      const cols = shift.slice(1).map((si, i) => [-si, osp[i + 1]! - isp[i + 1]! + si] as [number, number]);
      shiftedInputs.set(key, flat(pad(input, [[0, 0], [0, 0], [0, 0], ...cols]), c));
    }
    const perImage = matmul(shiftedGrads.get(s0)!, transposeLast2(shiftedInputs.get(key)!));
    taps.push(reshape(reduceSum(perImage, [0]), [o, c / grp, 1]));
  }
  return reshape(concat(taps, 2), weightShape);
};

/** Stride 1 by shifted operands; other small kernels by taps; large ones by the swapped conv. */
export const convWeightGrad: WeightGradMethod = (input, gradOut, geo, weightShape) => {
  if (product(geo.kernel) > 49) return convWeightGradBySwappedConv(input, gradOut, geo, weightShape);
  return geo.strides.every((s) => s === 1)
    ? convWeightGradByShiftedOperands(input, gradOut, geo, weightShape)
    : convWeightGradByTaps(input, gradOut, geo, weightShape);
};
