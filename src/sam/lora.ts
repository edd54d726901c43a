// LoRA (low-rank adaptation) of the SAM image encoder's linear layers, as SAMed does it and
// generalised: per block, a rank-r update x A^T B^T (scaled by alpha / r) added to the q, k or v
// slice of the fused qkv projection, to the attention output projection, or to the MLP's two
// linears. A is [r, in], B is [out, r]; A starts Kaiming-uniform (nn.Linear's init) and B at zero,
// so a fresh adapter leaves the model unchanged. Weights live at `lora.blocks.{i}.{target}.{a|b}`.
import {
  add,
  concat,
  HostTensor,
  linear,
  matmul,
  mul,
  pad,
  rng,
  type Tensor,
  transposeLast2,
} from "../engine/index.js";
import type { SamConfig } from "./config.js";
import type { ParamScope } from "./params.js";

export const LORA_TARGETS = ["q", "k", "v", "proj", "mlp1", "mlp2"] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

export interface LoraOptions {
  /** Rank r (default 4). */
  rank?: number;
  /** The update is scaled by alpha / rank; default alpha = rank (scale 1, as SAMed). */
  alpha?: number;
  /** Which linears get an adapter (default q and v). */
  targets?: readonly LoraTarget[];
  /** Which encoder blocks get adapters (default: all). */
  blocks?: readonly number[];
  /** Where the adapter weights are looked up (default: the store's "lora." scope). */
  params?: ParamScope;
}

export interface ResolvedLora {
  rank: number;
  alpha: number;
  scale: number;
  targets: ReadonlySet<LoraTarget>;
  blocks: ReadonlySet<number>;
}

export function resolveLora(opts: LoraOptions, depth: number): ResolvedLora {
  const rank = opts.rank ?? 4;
  if (!Number.isInteger(rank) || rank < 1)
    throw new Error(`LoRA rank must be a positive integer, got ${rank}`);
  const alpha = opts.alpha ?? rank;
  if (!(alpha > 0)) throw new Error(`LoRA alpha must be positive, got ${alpha}`);
  const targets = opts.targets ?? ["q", "v"];
  for (const t of targets) {
    if (!LORA_TARGETS.includes(t))
      throw new Error(`unknown LoRA target "${t}" (one of ${LORA_TARGETS.join(", ")})`);
  }
  const blocks = opts.blocks ?? Array.from({ length: depth }, (_, i) => i);
  for (const b of blocks) {
    if (!Number.isInteger(b) || b < 0 || b >= depth)
      throw new Error(`LoRA block ${b} is outside 0..${depth - 1}`);
  }
  return { rank, alpha, scale: alpha / rank, targets: new Set(targets), blocks: new Set(blocks) };
}

/** Key of one adapter matrix, relative to the "lora." scope. */
export function loraKey(block: number, target: LoraTarget, which: "a" | "b"): string {
  return `blocks.${block}.${target}.${which}`;
}

/** [in, out] of each target's linear in an encoder of this config. */
export function loraTargetDims(cfg: SamConfig, target: LoraTarget): [number, number] {
  const c = cfg.encoderEmbedDim;
  const m = Math.floor(c * cfg.mlpRatio);
  if (target === "mlp1") return [c, m];
  if (target === "mlp2") return [m, c];
  return [c, c];
}

/** Every adapter weight (full key with the "lora." prefix) and its shape, in block/target order. */
export function loraWeightShapes(cfg: SamConfig, opts: LoraOptions = {}): Map<string, number[]> {
  const r = resolveLora(opts, cfg.encoderDepth);
  const out = new Map<string, number[]>();
  for (const b of [...r.blocks].sort((x, y) => x - y)) {
    for (const t of LORA_TARGETS) {
      if (!r.targets.has(t)) continue;
      const [i, o] = loraTargetDims(cfg, t);
      out.set(`lora.${loraKey(b, t, "a")}`, [r.rank, i]);
      out.set(`lora.${loraKey(b, t, "b")}`, [o, r.rank]);
    }
  }
  return out;
}

const LORA_KEY = /(^|\.)lora\.blocks\.\d+\.(q|k|v|proj|mlp1|mlp2)\.(a|b)$/;

export function isLoraKey(key: string): boolean {
  return LORA_KEY.test(key);
}

/**
 * A fresh adapter weight, for ParamStore's `defaults`: A ([r, in]) Kaiming-uniform with
 * a = sqrt(5) as nn.Linear initialises its weight, i.e. U(-1/sqrt(in), 1/sqrt(in)); B zero.
 * The random stream is derived from the key and `seed`, so values do not depend on the order in
 * which keys are asked for. Undefined for keys that are not LoRA keys.
 */
export function loraDefaults(key: string, shape: readonly number[], seed = 0): HostTensor | undefined {
  const m = LORA_KEY.exec(key);
  if (!m || shape.length !== 2) return undefined;
  if (m[3] === "b") return HostTensor.zeros(shape);
  const bound = 1 / Math.sqrt(shape[1]!);
  const random = rng(hashKey(key, seed));
  const data = new Float32Array(shape[0]! * shape[1]!);
  for (let i = 0; i < data.length; i++) data[i] = (2 * random() - 1) * bound;
  return new HostTensor("float32", shape, data);
}

/** FNV-1a of the key, mixed with the seed: a per-weight random stream independent of order. */
export function hashKey(key: string, seed: number): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** One low-rank update of a linear's output slice [offset, offset + B.rows). */
export interface LoraUpdate {
  a: Tensor;
  b: Tensor;
  offset: number;
}

/**
 * y = x W^T + bias + scale * sum_t (x A_t^T B_t^T placed at its output slice), with all updates
 * of one linear stacked into a single pair of products: A_cat [sum r, in] and B_full
 * [out, sum r] (each B_t zero-padded to its slice).
 *
 * When the adapter is not trained (its weights are graph constants) or the base weight itself is
 * trained, the update is merged into the weight (W + scale B_full A_cat: weight-sized work that
 * onnxruntime constant-folds when everything is frozen). When only the adapter trains, the
 * unmerged form keeps the backward pass free of a full weight-gradient product.
 */
export function loraLinear(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  updates: readonly LoraUpdate[],
  scale: number,
): Tensor {
  if (updates.length === 0) return linear(x, weight, bias);
  const out = weight.shape[0]!;
  const aCat = concat(
    updates.map((u) => u.a),
    0,
  );
  let bFull = concat(
    updates.map((u) =>
      pad(u.b, [
        [u.offset, out - u.offset - u.b.shape[0]!],
        [0, 0],
      ]),
    ),
    1,
  );
  if (scale !== 1) bFull = mul(bFull, scale);
  const adapterTrains = updates.some((u) => u.a.kind !== "constant" || u.b.kind !== "constant");
  if (!adapterTrains || weight.kind !== "constant") return linear(x, add(weight, matmul(bFull, aCat)), bias);
  return add(linear(x, weight, bias), matmul(matmul(x, transposeLast2(aCat)), transposeLast2(bFull)));
}

/** The adapter weights of one block, fetched from `scope` ("lora."), per target. */
export function blockLoraUpdates(
  scope: ParamScope,
  lora: ResolvedLora,
  cfg: SamConfig,
  block: number,
): Partial<Record<LoraTarget, { a: Tensor; b: Tensor }>> {
  const out: Partial<Record<LoraTarget, { a: Tensor; b: Tensor }>> = {};
  if (!lora.blocks.has(block)) return out;
  for (const t of LORA_TARGETS) {
    if (!lora.targets.has(t)) continue;
    const [i, o] = loraTargetDims(cfg, t);
    out[t] = {
      a: scope.get(loraKey(block, t, "a"), [lora.rank, i]),
      b: scope.get(loraKey(block, t, "b"), [o, lora.rank]),
    };
  }
  return out;
}
