// Non-overlapping (kernel = stride) convolutions as Reshape/Transpose/MatMul, channels-last
// (DESIGN §3): SAM's prompt encoder downscales the mask prompt with 2x2 stride-2 convs and the
// mask decoder upscales with 2x2 stride-2 transposed convs. Every output pixel depends on exactly
// one input patch, so each is a single matrix product on a relaid tensor; the weights keep
// PyTorch's layout (Conv2d [O, C, k, k], ConvTranspose2d [C, O, k, k]) and are relaid in-graph,
// which onnxruntime folds when they are constants.
import { add, layerNorm, linear, matmul, reshape, type Tensor, transpose } from "../engine/index.js";
import { fmtShape } from "../engine/tensor.js";

/** NCHW -> NHWC. */
export function toChannelsLast(x: Tensor): Tensor {
  if (x.rank !== 4) throw new Error(`toChannelsLast: expected [B, C, H, W], got ${x}`);
  return transpose(x, [0, 2, 3, 1]);
}

/** NHWC -> NCHW. */
export function toChannelsFirst(x: Tensor): Tensor {
  if (x.rank !== 4) throw new Error(`toChannelsFirst: expected [B, H, W, C], got ${x}`);
  return transpose(x, [0, 3, 1, 2]);
}

/**
 * Conv2d with kernel_size = stride = k (no padding, no dilation) on a channels-last input
 * x [B, H, W, C] with weight [O, C, k, k]; returns [B, H/k, W/k, O]. k = 1 is a 1x1 conv.
 */
export function patchConv(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const [b, h, w, c] = x.shape as [number, number, number, number];
  const [o, wc, k, k2] = weight.shape as [number, number, number, number];
  if (x.rank !== 4 || weight.rank !== 4 || wc !== c || k !== k2 || h % k || w % k) {
    throw new Error(
      `patchConv: input ${fmtShape(x.shape)} (NHWC) does not fit weight ${fmtShape(weight.shape)}`,
    );
  }
  // weight [O, C, k, k] -> [O, k, k, C] -> [O, k*k*C], matching the patch layout below.
  const wm = reshape(transpose(weight, [0, 2, 3, 1]), [o, k * k * c]);
  const patches =
    k === 1
      ? x
      : reshape(transpose(reshape(x, [b, h / k, k, w / k, k, c]), [0, 1, 3, 2, 4, 5]), [
          b,
          h / k,
          w / k,
          k * k * c,
        ]);
  return linear(patches, wm, bias);
}

/**
 * ConvTranspose2d with kernel_size = stride = k (no padding) on a channels-last input
 * x [B, H, W, C] with weight [C, O, k, k]; returns [B, H*k, W*k, O].
 */
export function patchConvTranspose(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const [b, h, w, c] = x.shape as [number, number, number, number];
  const [wc, o, k, k2] = weight.shape as [number, number, number, number];
  if (x.rank !== 4 || weight.rank !== 4 || wc !== c || k !== k2) {
    throw new Error(
      `patchConvTranspose: input ${fmtShape(x.shape)} (NHWC) does not fit weight ${fmtShape(weight.shape)}`,
    );
  }
  // weight [C, O, k, k] -> [C, k, k, O] -> [C, k*k*O]: each input pixel emits a k x k x O block.
  const wm = reshape(transpose(weight, [0, 2, 3, 1]), [c, k * k * o]);
  let y = reshape(matmul(x, wm), [b, h, w, k, k, o]);
  if (bias) y = add(y, bias);
  return reshape(transpose(y, [0, 1, 3, 2, 4, 5]), [b, h * k, w * k, o]);
}

/** segment-anything's LayerNorm2d (normalise over channels, eps 1e-6) on a channels-last tensor. */
export function layerNorm2dChannelsLast(x: Tensor, weight: Tensor, bias: Tensor, eps = 1e-6): Tensor {
  return layerNorm(x, weight, bias, eps, -1);
}
