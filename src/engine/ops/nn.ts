// Neural-network layers that map to one ONNX op with a hand-written VJP (LayerNormalization,
// Conv, ConvTranspose) or to a few primitives (GELU, bilinear resize).

import { fmtShape, HostTensor, type Tensor } from "../tensor.js";
import { registerVjp } from "../vjp.js";
import { add, erf, mul, sub, unbroadcast } from "./elementwise.js";
import { matmul } from "./linalg.js";
import { reduceMean, reduceSum } from "./reduce.js";
import { concat, normAxis, pad, reshape, slice, transpose, transposeLast2 } from "./shape.js";

/**
 * ONNX LayerNormalization over the axes from `axis` to the last (PyTorch's nn.LayerNorm with
 * normalized_shape = x.shape[axis:]). The node also returns the mean and inverse std, which the
 * backward rule reuses instead of recomputing them.
 */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor | null, eps = 1e-5, axis = -1): Tensor {
  const a = normAxis(axis, x.rank, "LayerNormalization");
  const normShape = x.shape.slice(a);
  for (const p of [weight, bias]) {
    if (p && (p.rank !== normShape.length || p.shape.some((d, i) => d !== normShape[i]))) {
      throw new Error(
        `LayerNormalization: parameter ${p} must have shape ${fmtShape(normShape)} for input ${x}`,
      );
    }
  }
  const statShape = x.shape.map((d, i) => (i < a ? d : 1));
  // No bias: leave the optional input out rather than naming it "" (onnxruntime-node 1.30's
  // level-2 graph optimiser crashes with a segfault on an empty trailing LayerNormalization input).
  return x.graph.addNode(
    "LayerNormalization",
    bias ? [x, weight, bias] : [x, weight],
    { axis: { kind: "int", value: a }, epsilon: { kind: "float", value: eps } },
    [
      { shape: x.shape, dtype: x.dtype },
      { shape: statShape, dtype: "float32" },
      { shape: statShape, dtype: "float32" },
    ],
  )[0]!;
}

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

/** GELU with the exact erf form (PyTorch's default); onnxruntime fuses the pattern. */
export function gelu(x: Tensor): Tensor {
  return mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
}

export interface ConvOptions {
  stride?: number | readonly number[];
  /** Symmetric padding per spatial axis, or [begin..., end...] as ONNX `pads`. */
  padding?: number | readonly number[];
  dilation?: number | readonly number[];
  groups?: number;
}

interface ConvGeometry {
  strides: number[];
  pads: number[]; // ONNX order: all begins, then all ends
  dilations: number[];
  group: number;
  kernel: number[];
}

function perAxis(v: number | readonly number[] | undefined, n: number, dflt: number): number[] {
  if (v === undefined) return new Array(n).fill(dflt);
  if (typeof v === "number") return new Array(n).fill(v);
  return [...v];
}

function geometry(w: Tensor, o: ConvOptions, spatial: number): ConvGeometry {
  let pads = perAxis(o.padding, spatial, 0);
  if (pads.length === spatial) pads = [...pads, ...pads];
  return {
    strides: perAxis(o.stride, spatial, 1),
    pads,
    dilations: perAxis(o.dilation, spatial, 1),
    group: o.groups ?? 1,
    kernel: w.shape.slice(2),
  };
}

function geometryAttrs(geo: ConvGeometry) {
  return {
    strides: { kind: "ints" as const, value: geo.strides },
    pads: { kind: "ints" as const, value: geo.pads },
    dilations: { kind: "ints" as const, value: geo.dilations },
    group: { kind: "int" as const, value: geo.group },
    kernel_shape: { kind: "ints" as const, value: geo.kernel },
  };
}

function readGeometry(attrs: Record<string, unknown>): ConvGeometry {
  const v = (k: string) => (attrs[k] as { value: unknown }).value;
  return {
    strides: v("strides") as number[],
    pads: v("pads") as number[],
    dilations: v("dilations") as number[],
    group: v("group") as number,
    kernel: v("kernel_shape") as number[],
  };
}

function convOutSize(inSize: number, k: number, s: number, d: number, pb: number, pe: number): number {
  return Math.floor((inSize + pb + pe - d * (k - 1) - 1) / s) + 1;
}

/** N-d convolution (PyTorch Conv1d/2d/3d): x [N, C, ...], weight [O, C/groups, ...k]. */
export function conv(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: ConvOptions = {},
): Tensor {
  const spatial = x.rank - 2;
  if (spatial < 1 || weight.rank !== x.rank)
    throw new Error(`Conv: input ${x} and weight ${weight} ranks do not fit`);
  const geo = geometry(weight, options, spatial);
  const [batch, channels] = x.shape as [number, number];
  const out = weight.shape[0]!;
  if (channels !== weight.shape[1]! * geo.group || out % geo.group !== 0) {
    throw new Error(
      `Conv: input ${fmtShape(x.shape)} does not fit weight ${fmtShape(weight.shape)} with groups=${geo.group}`,
    );
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== out))
    throw new Error(`Conv: bias ${bias} must be [${out}]`);
  const sizes = x.shape
    .slice(2)
    .map((d, i) =>
      convOutSize(
        d,
        geo.kernel[i]!,
        geo.strides[i]!,
        geo.dilations[i]!,
        geo.pads[i]!,
        geo.pads[i + spatial]!,
      ),
    );
  if (sizes.some((d) => d < 1))
    throw new Error(`Conv: input ${fmtShape(x.shape)} is smaller than the kernel`);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return x.graph.addNode("Conv", inputs, geometryAttrs(geo), [
    { shape: [batch, out, ...sizes], dtype: x.dtype },
  ])[0]!;
}

export interface ConvTransposeOptions extends ConvOptions {
  outputPadding?: number | readonly number[];
}

/** N-d transposed convolution (PyTorch ConvTranspose2d): weight [C, O/groups, ...k]. */
export function convTranspose(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: ConvTransposeOptions = {},
): Tensor {
  const spatial = x.rank - 2;
  if (spatial < 1 || weight.rank !== x.rank) {
    throw new Error(`ConvTranspose: input ${x} and weight ${weight} ranks do not fit`);
  }
  const geo = geometry(weight, options, spatial);
  const outPad = perAxis(options.outputPadding, spatial, 0);
  const [batch, channels] = x.shape as [number, number];
  if (channels !== weight.shape[0]) {
    throw new Error(
      `ConvTranspose: input ${fmtShape(x.shape)} does not fit weight ${fmtShape(weight.shape)}`,
    );
  }
  const out = weight.shape[1]! * geo.group;
  if (bias && (bias.rank !== 1 || bias.shape[0] !== out))
    throw new Error(`ConvTranspose: bias ${bias} must be [${out}]`);
  const sizes = x.shape
    .slice(2)
    .map(
      (d, i) =>
        (d - 1) * geo.strides[i]! -
        geo.pads[i]! -
        geo.pads[i + spatial]! +
        geo.dilations[i]! * (geo.kernel[i]! - 1) +
        outPad[i]! +
        1,
    );
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return x.graph.addNode(
    "ConvTranspose",
    inputs,
    { ...geometryAttrs(geo), output_padding: { kind: "ints", value: outPad } },
    [{ shape: [batch, out, ...sizes], dtype: x.dtype }],
  )[0]!;
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

registerVjp("Conv", (n, [g], needs) => {
  const [x, w] = [n.inputs[0]!, n.inputs[1]!];
  const geo = readGeometry(n.attrs);
  const spatial = x.rank - 2;
  let dx: Tensor | null = null;
  if (needs[0]) {
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

/**
 * Interpolation matrix [out, in] of 1-D linear resampling, as PyTorch's
 * F.interpolate(mode="bilinear") computes it for one axis (no antialiasing).
 */
export function linearInterpolationMatrix(
  inSize: number,
  outSize: number,
  alignCorners: boolean,
): Float32Array {
  const m = new Float32Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    let src: number;
    if (alignCorners) src = outSize > 1 ? (o * (inSize - 1)) / (outSize - 1) : 0;
    else src = Math.max(((o + 0.5) * inSize) / outSize - 0.5, 0);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    const t = src - i0;
    m[o * inSize + i0] += 1 - t;
    m[o * inSize + i1] += t;
  }
  return m;
}

/**
 * Bilinear resize of the last two axes to [outH, outW]: Ry @ x @ Rx^T with constant
 * interpolation matrices. Exact, differentiable through MatMul's rule, and cheap at SAM's sizes.
 */
export function resizeBilinear(x: Tensor, size: readonly [number, number], alignCorners = false): Tensor {
  const [h, w] = x.shape.slice(-2) as [number, number];
  const [oh, ow] = size;
  let y = x;
  if (oh !== h) {
    const ry = x.graph.constant(
      new HostTensor("float32", [oh, h], linearInterpolationMatrix(h, oh, alignCorners)),
    );
    y = matmul(ry, y);
  }
  if (ow !== w) {
    const rx = x.graph.constant(
      new HostTensor("float32", [ow, w], linearInterpolationMatrix(w, ow, alignCorners)),
    );
    y = matmul(y, transposeLast2(rx));
  }
  return y;
}
