// The pixel-precise decoding path (DESIGN §7). SAM's mask decoder predicts at 4x the token grid
// (64 x 64 for the bundled base at 128 px, 256 x 256 for SAM at 1024): contours follow the grid
// and structures smaller than a patch vanish. As HQ-SAM fuses early and final ViT features with
// the decoder's mask features, this path fuses the decoder's upscaled features with a light
// convolutional stem on the image at 1/2 and 1/1 resolution, which the edge prompt generator's
// features have joined, and takes SAM's own hypernetwork product at full resolution:
//   logits = hyperIn x (resize(upscaled, S) + delta)
// The last conv (delta) starts at zero, so an untrained path reproduces the plain decoder exactly
// (hyperIn x resize(upscaled) = resize(hyperIn x upscaled): both are linear).
//
// It comes in two halves, as SAM splits image and prompts: `fineImageSide` (once per image: the
// stem, and with edges on, the full-resolution edge head) and `fineDecode` (per prompt set).
// Widths are small on purpose: at 128 px with channels [16, 32] the path costs about 0.3 G
// multiply-adds per image, against about 0.2 G for the tiny base's ViT (BENCHMARKS.md has the
// measured step times).
import { add, concat, conv, gelu, matmul, reshape, resizeBilinear, type Tensor } from "../engine/index.js";
import type { ParamScope } from "../sam/params.js";

export interface FinePathOptions {
  /** Turn the path off: logits are the decoder's, resized (the `no-fine` ablation and SAMed). */
  enabled: boolean;
  /** Channels at 1/1 and at 1/2 resolution. */
  channels: readonly [number, number];
}

/** The image-side features the prompt side fuses: at the input resolution S and at S / 2. */
export interface FineDetail {
  full: Tensor;
  half: Tensor;
}

function conv3(p: ParamScope, x: Tensor, cout: number, stride = 1): Tensor {
  const cin = x.shape[1]!;
  return conv(x, p.get("weight", [cout, cin, 3, 3]), p.get("bias", [cout]), { padding: 1, stride });
}

function conv1(p: ParamScope, x: Tensor, cout: number): Tensor {
  const cin = x.shape[1]!;
  return conv(x, p.get("weight", [cout, cin, 1, 1]), p.get("bias", [cout]));
}

function resizeTo(x: Tensor, size: number): Tensor {
  return x.shape[2] === size && x.shape[3] === size ? x : resizeBilinear(x, [size, size]);
}

/**
 * The image side (weights under "udeg.fine."): a stem on the normalised image and its Sobel
 * prior; with the edge prompt generator's features ([B, E, 4h, 4w]), an edge branch that brings
 * them to full resolution and predicts edge logits [B, 2, S, S] there (background, edge).
 */
export function fineImageSide(
  p: ParamScope,
  o: FinePathOptions,
  image: Tensor,
  sobel: Tensor,
  edgeFeatures: Tensor | null,
): { detail: FineDetail; edgeLogits: Tensor | null } {
  const [c1, c2] = o.channels;
  const s = image.shape[2]!;
  const stem1 = gelu(conv3(p.scope("stem1"), concat([image, sobel], 1), c1));
  const stem2 = gelu(conv3(p.scope("stem2"), stem1, c2, 2));
  if (!edgeFeatures) return { detail: { full: stem1, half: stem2 }, edgeLogits: null };
  const e2 = gelu(conv3(p.scope("edge2"), concat([stem2, resizeTo(edgeFeatures, s / 2)], 1), c2));
  const e1 = gelu(
    conv3(p.scope("edge1"), concat([resizeTo(conv1(p.scope("edge_up"), e2, c1), s), stem1], 1), c1),
  );
  return { detail: { full: e1, half: e2 }, edgeLogits: conv1(p.scope("edge_head"), e1, 2) };
}

/**
 * The prompt side: mask logits [B, K, S, S] from the decoder's upscaled embedding
 * [B, C/8, 4h, 4w], its hypernetwork outputs [B, K, C/8] and the image side's detail.
 */
export function fineDecode(
  p: ParamScope,
  o: FinePathOptions,
  detail: FineDetail,
  upscaled: Tensor,
  hyperIn: Tensor,
): Tensor {
  const [c1, c2] = o.channels;
  const s = detail.full.shape[2]!;
  const c8 = upscaled.shape[1]!;
  const half = gelu(conv3(p.scope("fuse2"), concat([resizeTo(upscaled, s / 2), detail.half], 1), c2));
  const full = gelu(
    conv3(p.scope("fuse1"), concat([resizeTo(conv1(p.scope("reduce"), half, c1), s), detail.full], 1), c1),
  );
  const delta = conv1(p.scope("out"), full, c8); // zero at the start (udeg/init.ts)
  const b = Math.max(upscaled.shape[0]!, detail.full.shape[0]!);
  const features = add(resizeTo(upscaled, s), delta); // [B, C/8, S, S]
  const k = hyperIn.shape[1]!;
  return reshape(matmul(hyperIn, reshape(features, [b, c8, s * s])), [b, k, s, s]);
}
