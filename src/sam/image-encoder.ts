// SAM's image encoder (segment-anything modeling/image_encoder.py, ImageEncoderViT), ported op for
// op: patch embedding, absolute position embedding, pre-LN ViT blocks with windowed (padded) or
// global attention and decomposed relative positions, and the convolutional neck.
//
// Layout choices (same numbers as the reference, fewer copies):
// - Activations stay channels-last [B, H, W, C] as in the reference, until the neck's 3x3 conv.
// - The 16x16 stride-16 patch conv is one Transpose of the image and one MatMul.
// - Per-token layers (LayerNorm, qkv, proj) commute with window partitioning, so a block pads
//   the normalised tokens (zeros, as the reference), applies qkv, and then does window partition
//   and head split in one Transpose; the way back (head merge + window unpartition) is one
//   Transpose too, then the padding is cropped and proj applied. Global blocks are the same code
//   with one window covering the grid.
// - Attention is a batched MatMul + Softmax; the decomposed relative positions are two small
//   batched MatMuls added to the logits by broadcasting.
import {
  add,
  concat,
  conv,
  div,
  gather,
  gelu,
  HostTensor,
  layerNorm,
  linear,
  linearInterpolationMatrix,
  matmul,
  mul,
  pad,
  reduceMean,
  reshape,
  slice,
  softmax,
  split,
  sqrt,
  sub,
  type Tensor,
  transpose,
  transposeLast2,
} from "../engine/index.js";
import { embeddingSize, type SamConfig } from "./config.js";
import {
  blockLoraUpdates,
  type LoraOptions,
  type LoraUpdate,
  loraLinear,
  type ResolvedLora,
  resolveLora,
} from "./lora.js";
import type { ParamScope } from "./params.js";

/** Largest attention-logit tensor computed at once (bytes); see attention(). */
const ATTENTION_CHUNK_BYTES = 64 * 2 ** 20;

/** LayerNorm eps of the encoder's blocks and of the neck's LayerNorm2d. */
const EPS = 1e-6;

export interface ImageEncoderOptions {
  /** LoRA adapters on the blocks' linears (none when absent). */
  lora?: LoraOptions;
}

export interface ImageEncoderFeatures {
  /** The image embedding [B, promptEmbedDim, S/16, S/16] (NCHW). */
  embeddings: Tensor;
  /** Each block's output, channels-last [B, S/16, S/16, encoderEmbedDim]. */
  blockOutputs: Tensor[];
}

/**
 * The image embedding of a normalised, padded image batch x [B, 3, S, S] (S = cfg.imageSize).
 * `p` is the "image_encoder." scope of a ParamStore.
 */
export function imageEncoder(
  x: Tensor,
  p: ParamScope,
  cfg: SamConfig,
  opts: ImageEncoderOptions = {},
): Tensor {
  return imageEncoderFeatures(x, p, cfg, opts).embeddings;
}

/** The encoder with its intermediate block outputs (for heads that read them). */
export function imageEncoderFeatures(
  x: Tensor,
  p: ParamScope,
  cfg: SamConfig,
  opts: ImageEncoderOptions = {},
): ImageEncoderFeatures {
  const s = cfg.imageSize;
  if (x.rank !== 4 || x.shape[1] !== 3 || x.shape[2] !== s || x.shape[3] !== s) {
    throw new Error(`imageEncoder: input must be [B, 3, ${s}, ${s}], got ${x}`);
  }
  const g = embeddingSize(cfg);
  const e = cfg.encoderEmbedDim;
  const lora = opts.lora ? resolveLora(opts.lora, cfg.encoderDepth) : null;
  const loraScope = opts.lora?.params ?? p.store.scope("lora.");

  let h = patchEmbed(x, p.scope("patch_embed.proj"), cfg);
  h = add(h, p.get("pos_embed", [1, g, g, e]));
  const global = new Set(cfg.encoderGlobalAttnIndexes);
  const blockOutputs: Tensor[] = [];
  for (let i = 0; i < cfg.encoderDepth; i++) {
    const windowSize = global.has(i) ? 0 : cfg.windowSize;
    h = vitBlock(
      h,
      p.scope(`blocks.${i}`),
      cfg,
      windowSize,
      lora ? { lora, scope: loraScope, block: i } : null,
    );
    blockOutputs.push(h);
  }
  return { embeddings: neck(h, p.scope("neck"), cfg), blockOutputs };
}

/** Every weight the encoder reads (keys relative to "image_encoder.") and its shape. */
export function imageEncoderWeightShapes(cfg: SamConfig): Map<string, number[]> {
  const g = embeddingSize(cfg);
  const [e, ps, o] = [cfg.encoderEmbedDim, cfg.patchSize, cfg.promptEmbedDim];
  const hd = e / cfg.encoderNumHeads;
  const m = Math.floor(e * cfg.mlpRatio);
  const out = new Map<string, number[]>([
    ["patch_embed.proj.weight", [e, 3, ps, ps]],
    ["patch_embed.proj.bias", [e]],
    ["pos_embed", [1, g, g, e]],
  ]);
  const global = new Set(cfg.encoderGlobalAttnIndexes);
  for (let i = 0; i < cfg.encoderDepth; i++) {
    const r = global.has(i) ? g : cfg.windowSize;
    const entries: [string, number[]][] = [
      ["norm1.weight", [e]],
      ["norm1.bias", [e]],
      ["attn.qkv.weight", [3 * e, e]],
      ["attn.qkv.bias", [3 * e]],
      ["attn.proj.weight", [e, e]],
      ["attn.proj.bias", [e]],
      ["attn.rel_pos_h", [2 * r - 1, hd]],
      ["attn.rel_pos_w", [2 * r - 1, hd]],
      ["norm2.weight", [e]],
      ["norm2.bias", [e]],
      ["mlp.lin1.weight", [m, e]],
      ["mlp.lin1.bias", [m]],
      ["mlp.lin2.weight", [e, m]],
      ["mlp.lin2.bias", [e]],
    ];
    for (const [k, shape] of entries) out.set(`blocks.${i}.${k}`, shape);
  }
  out.set("neck.0.weight", [o, e, 1, 1]);
  out.set("neck.1.weight", [o]);
  out.set("neck.1.bias", [o]);
  out.set("neck.2.weight", [o, o, 3, 3]);
  out.set("neck.3.weight", [o]);
  out.set("neck.3.bias", [o]);
  return out;
}

/** PatchEmbed: Conv2d(3, E, k=P, stride=P) then NCHW -> NHWC, as Transpose + MatMul. */
function patchEmbed(x: Tensor, p: ParamScope, cfg: SamConfig): Tensor {
  const [b, c] = [x.shape[0]!, x.shape[1]!];
  const ps = cfg.patchSize;
  const g = embeddingSize(cfg);
  const e = cfg.encoderEmbedDim;
  const w = reshape(p.get("weight", [e, c, ps, ps]), [e, c * ps * ps]);
  // [B, C, g, P, g, P] -> [B, g, g, C, P, P]: each patch's (c, ky, kx) in the weight's order.
  const patches = permute(x, [b, c, g, ps, g, ps], [0, 2, 4, 1, 3, 5], [b, g, g, c * ps * ps]);
  return linear(patches, w, p.get("bias", [e]));
}

interface BlockLora {
  lora: ResolvedLora;
  scope: ParamScope;
  block: number;
}

/** Block: x + attn(norm1(x)) (windowed when windowSize > 0), then x + mlp(norm2(x)). */
function vitBlock(
  x: Tensor,
  p: ParamScope,
  cfg: SamConfig,
  windowSize: number,
  lora: BlockLora | null,
): Tensor {
  const c = cfg.encoderEmbedDim;
  const m = Math.floor(c * cfg.mlpRatio);
  const up = lora ? blockLoraUpdates(lora.scope, lora.lora, cfg, lora.block) : {};
  const scale = lora?.lora.scale ?? 1;
  const updates = (...list: [keyof typeof up, number][]): LoraUpdate[] =>
    list.flatMap(([t, offset]) => (up[t] ? [{ ...up[t]!, offset }] : []));

  const h = layerNorm(x, p.get("norm1.weight", [c]), p.get("norm1.bias", [c]), EPS);
  const a = attention(
    h,
    p.scope("attn"),
    cfg,
    windowSize,
    updates(["q", 0], ["k", c], ["v", 2 * c]),
    updates(["proj", 0]),
    scale,
  );
  x = add(x, a);
  const n = layerNorm(x, p.get("norm2.weight", [c]), p.get("norm2.bias", [c]), EPS);
  const h1 = gelu(
    loraLinear(n, p.get("mlp.lin1.weight", [m, c]), p.get("mlp.lin1.bias", [m]), updates(["mlp1", 0]), scale),
  );
  const h2 = loraLinear(
    h1,
    p.get("mlp.lin2.weight", [c, m]),
    p.get("mlp.lin2.bias", [c]),
    updates(["mlp2", 0]),
    scale,
  );
  return add(x, h2);
}

/**
 * Multi-head attention with decomposed relative positions over windows of the grid (one window
 * covering the grid when windowSize is 0), on x [B, H, W, C]; returns [B, H, W, C].
 */
function attention(
  x: Tensor,
  p: ParamScope,
  cfg: SamConfig,
  windowSize: number,
  qkvLora: readonly LoraUpdate[],
  projLora: readonly LoraUpdate[],
  loraScale: number,
): Tensor {
  const [b, hh, ww, c] = x.shape as [number, number, number, number];
  const heads = cfg.encoderNumHeads;
  const hd = c / heads;
  const [wh, wwin] = windowSize > 0 ? [windowSize, windowSize] : [hh, ww];
  // window_partition pads the bottom and right with zeros up to a multiple of the window.
  const padH = (wh - (hh % wh)) % wh;
  const padW = (wwin - (ww % wwin)) % wwin;
  const [hp, wp] = [hh + padH, ww + padW];
  const [nh, nw] = [hp / wh, wp / wwin];
  const bw = b * nh * nw;
  const t = wh * wwin;

  const xp = pad(x, [
    [0, 0],
    [0, padH],
    [0, padW],
    [0, 0],
  ]);
  const qkv = loraLinear(xp, p.get("qkv.weight", [3 * c, c]), p.get("qkv.bias", [3 * c]), qkvLora, loraScale);
  // [B, nh, wh, nw, ww, 3, heads, hd] -> [3, B*nh*nw, heads, wh*ww, hd]
  const qkvT = permute(
    qkv,
    [b, nh, wh, nw, wwin, 3, heads, hd],
    [5, 0, 1, 3, 6, 2, 4, 7],
    [3, bw, heads, t, hd],
  );
  const [q, k, v] = split(qkvT, [1, 1, 1], 0).map((u) => reshape(u, [bw, heads, t, hd])) as [
    Tensor,
    Tensor,
    Tensor,
  ];

  const relH = p.get("rel_pos_h", [2 * wh - 1, hd]);
  const relW = p.get("rel_pos_w", [2 * wwin - 1, hd]);
  const attend = (qc: Tensor, kc: Tensor, vc: Tensor) => {
    let attn = matmul(mul(qc, hd ** -0.5), transposeLast2(kc));
    attn = addDecomposedRelPos(attn, qc, relH, relW, [wh, wwin], [wh, wwin]);
    return matmul(softmax(attn, -1), vc);
  };
  // Global attention at 1024 has [heads, 4096, 4096] logits (800 MB for ViT-B, and softmax and
  // the relative-position sums each want as much again). Attending a few heads at a time keeps
  // the live logits under ATTENTION_CHUNK_BYTES; the runtime reuses the buffers between chunks.
  const perHead = bw * t * t * 4;
  const chunk = Math.max(1, Math.min(heads, Math.floor(ATTENTION_CHUNK_BYTES / perHead)));
  let o: Tensor; // [B*nh*nw, heads, T, hd]
  if (chunk >= heads) {
    o = attend(q, k, v);
  } else {
    const sizes = Array.from({ length: Math.ceil(heads / chunk) }, (_, i) =>
      Math.min(chunk, heads - i * chunk),
    );
    const [qs, ks, vs] = [q, k, v].map((u) => split(u, sizes, 1));
    o = concat(
      sizes.map((_, i) => attend(qs![i]!, ks![i]!, vs![i]!)),
      1,
    );
  }

  // [B, nh, nw, heads, wh, ww, hd] -> [B, nh, wh, nw, ww, heads, hd] = [B, Hp, Wp, C]
  let y = permute(o, [b, nh, nw, heads, wh, wwin, hd], [0, 1, 4, 2, 5, 3, 6], [b, hp, wp, c]);
  if (padH || padW) {
    y = slice(y, [
      { axis: 1, start: 0, end: hh },
      { axis: 2, start: 0, end: ww },
    ]);
  }
  return loraLinear(y, p.get("proj.weight", [c, c]), p.get("proj.bias", [c]), projLora, loraScale);
}

/**
 * get_rel_pos: relative position embeddings [qSize, kSize, C] from a table [L, C], linearly
 * resampled (F.interpolate mode "linear", align_corners False) to 2 * max(qSize, kSize) - 1
 * entries when L differs.
 */
export function getRelPos(qSize: number, kSize: number, table: Tensor): Tensor {
  const maxRelDist = 2 * Math.max(qSize, kSize) - 1;
  const [len, c] = table.shape as [number, number];
  let t = table;
  if (len !== maxRelDist) {
    const m = new HostTensor("float32", [maxRelDist, len], linearInterpolationMatrix(len, maxRelDist, false));
    t = matmul(table.graph.constant(m), table);
  }
  const rel = relativeIndices(qSize, kSize);
  return reshape(gather(t, rel), [qSize, kSize, c]);
}

/**
 * The table row of each (query, key) pair: q*max(k/q, 1) - k*max(q/k, 1) + (k-1)*max(q/k, 1),
 * computed in float32 and truncated, as the reference does.
 */
export function relativeIndices(qSize: number, kSize: number): number[] {
  const f = Math.fround;
  const qr = f(Math.max(kSize / qSize, 1));
  const kr = f(Math.max(qSize / kSize, 1));
  const shift = f((kSize - 1) * kr);
  const out: number[] = [];
  for (let i = 0; i < qSize; i++) {
    for (let j = 0; j < kSize; j++) out.push(Math.trunc(f(f(f(i * qr) - f(j * kr)) + shift)));
  }
  return out;
}

/**
 * add_decomposed_rel_pos: attn [..., qh*qw, kh*kw] + rel_h[..., :, :, :, None] +
 * rel_w[..., :, :, None, :] with rel_h = einsum("bhwc,hkc->bhwk", q, Rh) and rel_w =
 * einsum("bhwc,wkc->bhwk", q, Rw); q [..., qh*qw, C] is the unscaled query.
 */
export function addDecomposedRelPos(
  attn: Tensor,
  q: Tensor,
  relPosH: Tensor,
  relPosW: Tensor,
  qSize: readonly [number, number],
  kSize: readonly [number, number],
): Tensor {
  const [qh, qw] = qSize;
  const [kh, kw] = kSize;
  const c = q.shape[q.rank - 1]!;
  const n = q.size / (qh * qw * c);
  const rhT = transpose(getRelPos(qh, kh, relPosH), [0, 2, 1]); // [qh, C, kh]
  const rwT = transpose(getRelPos(qw, kw, relPosW), [0, 2, 1]); // [qw, C, kw]
  const rq = reshape(q, [n, qh, qw, c]);
  // Batched over the query row (broadcast over n): [n, qh, qw, C] @ [qh, C, kh].
  const relH = matmul(rq, rhT);
  // Batched over the query column: move it in front of the query row, and back.
  const relW = transpose(matmul(transpose(rq, [0, 2, 1, 3]), rwT), [0, 2, 1, 3]);
  const a = reshape(attn, [n, qh, qw, kh, kw]);
  const out = add(add(a, reshape(relH, [n, qh, qw, kh, 1])), reshape(relW, [n, qh, qw, 1, kw]));
  return reshape(out, attn.shape);
}

/** Neck: 1x1 conv (no bias), LayerNorm2d, 3x3 conv pad 1 (no bias), LayerNorm2d; NHWC in, NCHW out. */
function neck(x: Tensor, p: ParamScope, cfg: SamConfig): Tensor {
  const [e, o] = [cfg.encoderEmbedDim, cfg.promptEmbedDim];
  // A 1x1 conv is a per-pixel linear, and LayerNorm2d of channels-last data is a LayerNorm.
  let y = linear(x, reshape(p.get("0.weight", [o, e, 1, 1]), [o, e]));
  y = layerNorm(y, p.get("1.weight", [o]), p.get("1.bias", [o]), EPS);
  y = transpose(y, [0, 3, 1, 2]);
  y = conv(y, p.get("2.weight", [o, o, 3, 3]), null, { padding: 1 });
  return layerNorm2d(y, p.get("3.weight", [o]), p.get("3.bias", [o]), EPS);
}

/** SAM's LayerNorm2d on NCHW: normalise over channels, biased variance, per-channel affine. */
export function layerNorm2d(x: Tensor, weight: Tensor, bias: Tensor, eps = EPS): Tensor {
  const c = x.shape[1]!;
  const u = reduceMean(x, [1], true);
  const d = sub(x, u);
  const s = reduceMean(mul(d, d), [1], true);
  const xn = div(d, sqrt(add(s, eps)));
  const affine = [c, ...x.shape.slice(2).map(() => 1)];
  return add(mul(reshape(weight, affine), xn), reshape(bias, affine));
}

/**
 * x viewed as `shape`, transposed by `perm`, reshaped to `outShape`, with the Transpose reduced
 * to its lowest rank: size-1 axes are dropped and axes that stay adjacent are merged (the
 * runtime's Transpose is fastest on few axes; the reshapes are free).
 */
export function permute(
  x: Tensor,
  shape: readonly number[],
  perm: readonly number[],
  outShape: readonly number[],
): Tensor {
  const kept = shape.map((_, i) => i).filter((i) => shape[i] !== 1);
  const pos = new Map(kept.map((a, i) => [a, i]));
  const groups: number[][] = [];
  for (const a of perm) {
    if (shape[a] === 1) continue;
    const last = groups[groups.length - 1];
    if (last && pos.get(last[last.length - 1]!)! + 1 === pos.get(a)) last.push(a);
    else groups.push([a]);
  }
  const inOrder = [...groups].sort((g1, g2) => g1[0]! - g2[0]!);
  const size = (grp: number[]) => grp.reduce((acc, a) => acc * shape[a]!, 1);
  const tperm = groups.map((grp) => inOrder.indexOf(grp));
  const moved = transpose(
    reshape(
      x,
      inOrder.map((grp) => size(grp)),
    ),
    tperm,
  );
  return reshape(moved, outShape);
}
