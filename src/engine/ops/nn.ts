// Neural-network layers that map to one ONNX op with a hand-written VJP (LayerNormalization,
// Conv, ConvTranspose; the rules are in grads/nn.ts) or to a few primitives (GELU, bilinear
// resize).

import { fmtShape, HostTensor, type Tensor } from "../tensor.js";
import { normAxis } from "./broadcast.js";
import { add, erf, mul } from "./elementwise.js";
import { matmul } from "./linalg.js";
import { pad, transposeLast2 } from "./shape.js";

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

export interface ConvGeometry {
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

export function readGeometry(attrs: Record<string, unknown>): ConvGeometry {
  const v = (k: string) => (attrs[k] as { value: unknown }).value;
  return {
    strides: v("strides") as number[],
    pads: v("pads") as number[],
    dilations: v("dilations") as number[],
    group: v("group") as number,
    kernel: v("kernel_shape") as number[],
  };
}

export function convOutSize(inSize: number, k: number, s: number, d: number, pb: number, pe: number): number {
  return Math.floor((inSize + pb + pe - d * (k - 1) - 1) / s) + 1;
}

/**
 * Input channels for a Conv node that onnxruntime 1.30's WebGPU provider computes right: its
 * convolution is wrong (errors of the order of the outputs) when a non-1x1 kernel has a
 * channel count that is a multiple of 3 but not of 4, above 3 (6, 9, 15, ..., 129: UDEG-Net's
 * edge conv on 2 x 64 + 1 channels; scanned for 1..140 channels with 3x3 and 5x5 kernels;
 * reproduced in test/engine/webgpu-bugs.test.ts). Such inputs get zero channels up to a multiple
 * of 4, which changes no value on any provider.
 */
function webgpuSafeChannels(channels: number, group: number, kernel: readonly number[]): number {
  const bad = group === 1 && channels > 3 && channels % 3 === 0 && channels % 4 !== 0;
  return bad && kernel.some((k) => k > 1) ? Math.ceil(channels / 4) * 4 : channels;
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
  const padTo = webgpuSafeChannels(channels, geo.group, geo.kernel);
  if (padTo !== channels) {
    const more = x.shape.map((_, i): [number, number] => [0, i === 1 ? padTo - channels : 0]);
    x = pad(x, more);
    weight = pad(weight, more);
  }
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
