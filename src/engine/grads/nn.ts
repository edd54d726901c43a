// Reverse-mode rules of LayerNormalization, Conv and ConvTranspose (ops/nn.ts). A convolution's
// weight gradient, which onnxruntime has no kernel for, is built in conv-weight.ts.
import { mul, sub } from "../ops/elementwise.js";
import { type ConvGeometry, conv, convTranspose, readGeometry } from "../ops/nn.js";
import { reduceMean, reduceSum } from "../ops/reduce.js";
import { reshape, slice, transpose } from "../ops/shape.js";
import type { Tensor } from "../tensor.js";
import { registerVjp } from "../vjp.js";
import { convWeightGrad } from "./conv-weight.js";
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
