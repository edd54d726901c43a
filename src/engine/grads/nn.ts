// Reverse-mode rules of LayerNormalization, Conv and ConvTranspose (ops/nn.ts), and the two ways
// of computing a convolution's weight gradient.
import { mul, sub } from "../ops/elementwise.js";
import { matmul } from "../ops/linalg.js";
import { type ConvGeometry, conv, convOutSize, convTranspose, readGeometry } from "../ops/nn.js";
import { reduceMean, reduceSum } from "../ops/reduce.js";
import { concat, pad, reshape, slice, transpose, transposeLast2 } from "../ops/shape.js";
import { fmtShape, type Tensor } from "../tensor.js";
import { registerVjp } from "../vjp.js";
import { unbroadcast } from "./unbroadcast.js";

registerVjp("LayerNormalization", (n, [g], needs) => {
  const [x, w, b] = [n.inputs[0]!, n.inputs[1]!, n.inputs[2]];
  const [, mean, invStd] = n.outputs as [Tensor, Tensor, Tensor];
  const a = (n.attrs.axis as { value: number }).value;
  const normAxes = x.shape.map((_, i) => i).filter((i) => i >= a);
  const xhat = mul(sub(x, mean), invStd);
  let dx: Tensor | null = null;
  if (needs[0]) {
    const gx = mul(g!, w);
    const meanG = reduceMean(gx, normAxes, true);
    const meanGX = reduceMean(mul(gx, xhat), normAxes, true);
    dx = mul(invStd, sub(sub(gx, meanG), mul(xhat, meanGX)));
  }
  return [
    dx,
    needs[1] ? unbroadcast(mul(g!, xhat), w.shape) : null,
    b && needs[2] ? unbroadcast(g!, b.shape) : null,
  ];
});

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
function convWeightGradBySwappedConv(
  input: Tensor,
  gradOut: Tensor,
  geo: ConvGeometry,
  weightShape: readonly number[],
): Tensor {
  const spatial = input.rank - 2;
  const [n, c] = input.shape as [number, number];
  const o = gradOut.shape[1]!;
  const grp = geo.group;
  const padded = padSpatial(input, geo);
  const sp = padded.shape.slice(2);
  const osp = gradOut.shape.slice(2);
  const range = (k: number, from = 0) => Array.from({ length: k }, (_, i) => from + i);
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
}

/**
 * Gradient of a convolution's weight, one kernel tap at a time: for tap t the input window it
 * reads is a strided slice of the padded input, and dW[:, :, t] = gradOut x window^T is one
 * (grouped) matrix product. For small kernels this is several times faster on onnxruntime's CPU
 * EP than the swapped convolution, whose huge "kernel" (the whole output map) is a poor fit for
 * its convolution code (measured on 3x3, 64->64 over 2x64x128x128: 26 vs 120 ms, loaded machine).
 */
function convWeightGradByTaps(
  input: Tensor,
  gradOut: Tensor,
  geo: ConvGeometry,
  weightShape: readonly number[],
): Tensor {
  const spatial = input.rank - 2;
  const [n, c] = input.shape as [number, number];
  const o = gradOut.shape[1]!;
  const grp = geo.group;
  const osp = gradOut.shape.slice(2);
  const rows = n * osp.reduce((a, b) => a * b, 1);
  const range = (k: number, from = 0) => Array.from({ length: k }, (_, i) => from + i);
  const padded = padSpatial(input, geo);
  // Channels first, so that each tap's window flattens to [C, N*out] without another transpose.
  const xc = transpose(padded, [1, 0, ...range(spatial, 2)]);
  const gm = reshape(transpose(gradOut, [1, 0, ...range(spatial, 2)]), [grp, o / grp, rows]);
  const taps: Tensor[] = [];
  const kernelSize = geo.kernel.reduce((a, b) => a * b, 1);
  for (let t = 0; t < kernelSize; t++) {
    // Unravel the tap index into per-axis kernel offsets (row-major, like the weight layout).
    const offsets: number[] = [];
    let rest = t;
    for (let i = spatial - 1; i >= 0; i--) {
      offsets[i] = rest % geo.kernel[i]!;
      rest = Math.floor(rest / geo.kernel[i]!);
    }
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
}

/** Small kernels by taps; large ones (where taps would be many thin products) by the swapped conv. */
function convWeightGrad(
  input: Tensor,
  gradOut: Tensor,
  geo: ConvGeometry,
  weightShape: readonly number[],
): Tensor {
  const taps = geo.kernel.reduce((a, b) => a * b, 1);
  return taps <= 49
    ? convWeightGradByTaps(input, gradOut, geo, weightShape)
    : convWeightGradBySwappedConv(input, gradOut, geo, weightShape);
}

function biasGrad(g: Tensor): Tensor {
  return reduceSum(
    g,
    g.shape.map((_, i) => i).filter((i) => i !== 1),
  );
}

/**
 * The input gradient of a stride-1 convolution, as another convolution: the weight with input and
 * output channels swapped (within each group) and every kernel flipped, and the padding mirrored
 * (dil (k - 1) - p on each side). Besides being faster, it routes around onnxruntime 1.30's
 * WebGPU ConvTranspose, which is wrong for grouped convolutions (test/engine/webgpu-bugs.test.ts). Measured on 4 x 16 x 128 x 128, 3x3: onnxruntime's Conv takes
 * 2.5 ms where ConvTranspose takes 6.1 ms; conv fwd + both gradients 26.4 -> 16.6 ms. Null where this form
 * does not apply.
 */
function convInputGradAsConv(g: Tensor, w: Tensor, geo: ConvGeometry): Tensor | null {
  const spatial = w.rank - 2;
  if (geo.strides.some((s) => s !== 1)) return null;
  const pads = [
    ...geo.kernel.map((k, i) => geo.dilations[i]! * (k - 1) - geo.pads[i]!),
    ...geo.kernel.map((k, i) => geo.dilations[i]! * (k - 1) - geo.pads[i + spatial]!),
  ];
  if (pads.some((p) => p < 0)) return null;
  // Per group: [O/g, C/g, k...] -> [C/g, O/g, k...], groups kept in order.
  const [o, cg] = w.shape as [number, number];
  const grp = geo.group;
  const axes = geo.kernel.map((_, i) => i + 3);
  const swapped = reshape(transpose(reshape(w, [grp, o / grp, cg, ...geo.kernel]), [0, 2, 1, ...axes]), [
    grp * cg,
    o / grp,
    ...geo.kernel,
  ]);
  const flipped = slice(
    swapped,
    geo.kernel.map((k, i) => ({ axis: i + 2, start: k - 1, end: -k - 1, step: -1 })),
  );
  return conv(g, flipped, null, { padding: pads, dilation: geo.dilations, groups: grp });
}

registerVjp("Conv", (n, [g], needs) => {
  const [x, w] = [n.inputs[0]!, n.inputs[1]!];
  const geo = readGeometry(n.attrs);
  const spatial = x.rank - 2;
  let dx: Tensor | null = null;
  if (needs[0]) dx = convInputGradAsConv(g!, w, geo);
  if (needs[0] && !dx) {
    // Output padding makes the transposed convolution land exactly on x's size.
    const outPad = x.shape.slice(2).map((d, i) => {
      const reach =
        (g!.shape[i + 2]! - 1) * geo.strides[i]! -
        geo.pads[i]! -
        geo.pads[i + spatial]! +
        geo.dilations[i]! * (geo.kernel[i]! - 1) +
        1;
      return d - reach;
    });
    dx = convTranspose(g!, w, null, {
      stride: geo.strides,
      padding: geo.pads,
      dilation: geo.dilations,
      groups: geo.group,
      outputPadding: outPad,
    });
  }
  return [
    dx,
    needs[1] ? convWeightGrad(x, g!, geo, w.shape) : null,
    n.inputs[2] && needs[2] ? biasGrad(g!) : null,
  ];
});

registerVjp("ConvTranspose", (n, [g], needs) => {
  const [x, w] = [n.inputs[0]!, n.inputs[1]!];
  const geo = readGeometry(n.attrs);
  // ConvTranspose is the adjoint of Conv with the same weight: its input gradient is that Conv,
  // and its weight gradient is the Conv weight gradient with input and output swapped.
  const dx = needs[0]
    ? conv(g!, w, null, {
        stride: geo.strides,
        padding: geo.pads,
        dilation: geo.dilations,
        groups: geo.group,
      })
    : null;
  return [
    dx,
    needs[1] ? convWeightGrad(g!, x, geo, w.shape) : null,
    n.inputs[2] && needs[2] ? biasGrad(g!) : null,
  ];
});
