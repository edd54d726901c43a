// The automatic edge prompt generator (DESIGN §5.2), UDEG-Net's replacement for manual prompts:
// from the image embedding, an early global block's features and a Sobel prior of the image, it
// predicts an edge map (2-class evidence) and a dense prompt that joins SAM's mask decoder.
import {
  add,
  concat,
  conv,
  convTranspose,
  gelu,
  HostTensor,
  linear,
  narrow,
  reduceMean,
  reshape,
  sqrt,
  square,
  type Tensor,
} from "../engine/index.js";
import { embeddingSize, type SamConfig } from "../sam/config.js";
import { layerNorm2d } from "../sam/image-encoder.js";
import type { ParamScope } from "../sam/params.js";
import { toChannelsFirst } from "../sam/patch-ops.js";

export interface EdgePromptOptions {
  /** Turn the generator off entirely (the `no-edge` ablation and SAMed). */
  enabled: boolean;
  /** Channels of the generator's body (default: the prompt embedding width). */
  hidden?: number;
  /** Also feed the edge probability through SAM's own mask-prompt path. */
  maskPrompt: boolean;
  /** Learned sparse prompt tokens (default 0). */
  sparseTokens: number;
}

const SOBEL_X = [-1, 0, 1, -2, 0, 2, -1, 0, 1];
const SOBEL_Y = [-1, -2, -1, 0, 0, 0, 1, 2, 1];

/** Mean over non-overlapping f x f blocks of [B, C, H, W]. */
function avgPool(x: Tensor, f: number): Tensor {
  if (f === 1) return x;
  const [b, c, h, w] = x.shape as [number, number, number, number];
  return reduceMean(reshape(x, [b, c, h / f, f, w / f, f]), [3, 5]);
}

/** Sobel gradient magnitude of the mean of the image's channels, [B, 1, S, S]. */
export function sobelPrior(image: Tensor): Tensor {
  const g = image.graph;
  const grey = reduceMean(image, [1], true);
  const kernel = g.constant(HostTensor.float32([...SOBEL_X, ...SOBEL_Y], [2, 1, 3, 3]));
  const grad = conv(grey, kernel, null, { padding: 1 });
  const gx = narrow(grad, 1, 0, 1);
  const gy = narrow(grad, 1, 1, 1);
  return sqrt(add(add(square(gx), square(gy)), 1e-6));
}

function conv3(p: ParamScope, x: Tensor, cin: number, cout: number): Tensor {
  return conv(x, p.get("weight", [cout, cin, 3, 3]), p.get("bias", [cout]), { padding: 1 });
}

function ln2d(p: ParamScope, x: Tensor): Tensor {
  const c = x.shape[1]!;
  return layerNorm2d(x, p.get("weight", [c]), p.get("bias", [c]));
}

export interface EdgePrompt {
  /** Added to SAM's dense prompt [B, C, h, w]. */
  denseDelta: Tensor;
  /** The generator's features at the mask resolution [B, hidden / 4, 4h, 4w]. */
  features: Tensor;
  /**
   * Edge logits [B, 2, 4h, 4w] (background, edge), when the head is here; with the fine path on,
   * the edge head sits at full resolution instead (fine-path.ts) and reads `features`.
   */
  edgeLogits: Tensor | null;
}

/**
 * The automatic edge prompt generator: fuses the final image embedding, the first global
 * block's output (projected to C) and a Sobel edge prior; predicts a dense prompt and edge
 * features at 4x the embedding resolution (and, without the fine path, the edge map there). The
 * dense head starts at zero, so an untrained generator leaves SAM's behaviour unchanged.
 */
export function edgePromptGenerator(
  p: ParamScope,
  cfg: SamConfig,
  embeddings: Tensor,
  firstGlobal: Tensor,
  sobel: Tensor,
  hidden: number,
  withHead: boolean,
): EdgePrompt {
  const c = cfg.promptEmbedDim;
  const grid = embeddingSize(cfg); // h = w of the image embedding
  const sobel4 = avgPool(sobel, cfg.imageSize / (4 * grid)); // [B, 1, 4h, 4w]
  const sobel1 = avgPool(sobel4, 4); // [B, 1, h, w]
  const g1 = toChannelsFirst(
    linear(
      firstGlobal,
      p.get("global_proj.weight", [c, cfg.encoderEmbedDim]),
      p.get("global_proj.bias", [c]),
    ),
  );
  let f = concat([embeddings, g1, sobel1], 1);
  f = gelu(ln2d(p.scope("norm1"), conv3(p.scope("conv1"), f, 2 * c + 1, hidden)));
  f = gelu(ln2d(p.scope("norm2"), conv3(p.scope("conv2"), f, hidden, hidden)));
  const denseDelta = conv(f, p.get("dense.weight", [c, hidden, 1, 1]), p.get("dense.bias", [c]));
  const [h2, h4] = [Math.max(8, hidden / 2), Math.max(8, hidden / 4)];
  let u = convTranspose(f, p.get("up1.weight", [hidden, h2, 2, 2]), p.get("up1.bias", [h2]), { stride: 2 });
  u = gelu(ln2d(p.scope("up_norm"), u));
  u = gelu(convTranspose(u, p.get("up2.weight", [h2, h4, 2, 2]), p.get("up2.bias", [h4]), { stride: 2 }));
  const edgeLogits = withHead ? conv3(p.scope("edge_head"), concat([u, sobel4], 1), h4 + 1, 2) : null;
  return { denseDelta, features: u, edgeLogits };
}
