// Number-for-number comparison of the port with a folder of golden outputs from the reference
// PyTorch implementation (format: test/fixtures/sam/README.md). Used by `npm run parity`
// and by the tests.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { add, compile, Graph, grad, HostTensor, mul, reduceSum, type Tensor } from "../engine/index.js";
import { readSafetensors, toFloat32 } from "../io/checkpoints/index.js";
import { loadSamWeights } from "./checkpoint.js";
import { loadConfigFile, type SamConfig } from "./config.js";
import { imageEncoderFeatures } from "./image-encoder.js";
import { maskDecoder } from "./mask-decoder.js";
import { ParamStore } from "./params.js";
import { densePositionalEncoding, type Prompts, promptEncoder } from "./prompt-encoder.js";
import { postprocessMasks, prepareImage } from "./transforms.js";

export interface ParityRow {
  source: string;
  tensor: string;
  maxAbs: number;
  /** ||got - want|| / ||want|| (gradients are judged by this). */
  rel: number;
  ok: boolean;
}

export const OUTPUT_ABS_TOL = 1e-4;
export const GRAD_REL_TOL = 1e-3;

function compare(
  source: string,
  tensor: string,
  got: Float32Array,
  want: Float32Array,
  kind: "output" | "grad",
): ParityRow {
  if (got.length !== want.length)
    return { source, tensor, maxAbs: Number.POSITIVE_INFINITY, rel: Number.POSITIVE_INFINITY, ok: false };
  let maxAbs = 0;
  let diff2 = 0;
  let ref2 = 0;
  for (let i = 0; i < got.length; i++) {
    const d = got[i]! - want[i]!;
    maxAbs = Math.max(maxAbs, Math.abs(d));
    diff2 += d * d;
    ref2 += want[i]! * want[i]!;
  }
  const rel = ref2 > 0 ? Math.sqrt(diff2 / ref2) : Math.sqrt(diff2);
  // A gradient that is zero in exact arithmetic (a key bias under softmax, an unselected mask
  // head) has no meaningful relative error: judge it by its absolute size.
  const ok = kind === "output" ? maxAbs <= OUTPUT_ABS_TOL : rel <= GRAD_REL_TOL || maxAbs <= 1e-5;
  return { source, tensor, maxAbs, rel, ok };
}

type Io = Map<string, HostTensor>;

function loadIo(dir: string): Io {
  const io = new Map<string, HostTensor>();
  for (const [k, t] of readSafetensors(join(dir, "io.safetensors")).tensors) {
    io.set(k, new HostTensor("float32", t.shape, toFloat32(t)));
  }
  return io;
}

function need(io: Io, key: string): HostTensor {
  const t = io.get(key);
  if (!t) throw new Error(`io.safetensors has no tensor "${key}"`);
  return t;
}

/** The fixture's LoRA: q and v of every block, rank from the tensors, no scaling. */
function loraOf(io: Io, cfg: SamConfig) {
  const a = need(io, "lora.blocks.0.q.a");
  const rank = a.shape[0]!;
  return {
    rank,
    alpha: rank,
    targets: ["q", "v"] as const,
    blocks: Array.from({ length: cfg.encoderDepth }, (_, i) => i),
  };
}

/** All prompt-conditioned outputs from one weight file. */
async function outputsFor(
  label: string,
  weights: Map<string, HostTensor>,
  cfg: SamConfig,
  io: Io,
): Promise<ParityRow[]> {
  const store = new ParamStore(
    new Graph(),
    new Map([...weights, ...[...io].filter(([k]) => k.startsWith("lora."))]),
  );
  const g = store.graph;
  const s = cfg.imageSize;
  const x = g.input("input_nchw", [1, 3, s, s]);
  const pe = store.scope("prompt_encoder.");
  const ie = store.scope("image_encoder.");
  const emb = imageEncoderFeatures(x, ie, cfg).embeddings;
  const lora = loraOf(io, cfg);
  const loraEmb = imageEncoderFeatures(x, ie, cfg, { lora }).embeddings;
  const densePe = densePositionalEncoding(pe, cfg);
  const constant = (k: string) => g.constant(need(io, k));
  const run = (e: Tensor, prompts: Prompts, multimask: boolean) => {
    const { sparse, dense } = promptEncoder(pe, cfg, prompts);
    return maskDecoder(store.scope("mask_decoder."), cfg, {
      imageEmbeddings: e,
      imagePe: densePe,
      sparse,
      dense,
      multimask,
    });
  };
  const noMulti = run(emb, {}, true);
  const noSingle = run(emb, {}, false);
  const points = run(
    emb,
    { points: { coords: constant("point_coords"), labels: constant("point_labels") } },
    true,
  );
  const box = run(emb, { boxes: constant("box_xyxy") }, false);
  const masked = run(emb, { masks: constant("mask_input") }, true);
  const loraMulti = run(loraEmb, {}, true);
  const named: [string, Tensor][] = [
    ["image_embeddings", emb],
    ["dense_pe", densePe],
    ["no_mask_embed", promptEncoder(pe, cfg, {}).dense],
    ["noprompt_multi_masks", noMulti.masks],
    ["noprompt_multi_iou", noMulti.iou],
    ["noprompt_single_masks", noSingle.masks],
    ["noprompt_single_iou", noSingle.iou],
    ["points_multi_masks", points.masks],
    ["points_multi_iou", points.iou],
    ["box_single_masks", box.masks],
    ["box_single_iou", box.iou],
    ["maskprompt_multi_masks", masked.masks],
    ["maskprompt_multi_iou", masked.iou],
    ["lora_image_embeddings", loraEmb],
    ["lora_noprompt_multi_masks", loraMulti.masks],
    ["lora_noprompt_multi_iou", loraMulti.iou],
  ];
  const fn = await compile(
    [x],
    named.map(([, t]) => t),
    { outputNames: named.map(([name]) => name) },
  );
  const outs = await fn.run({ input_nchw: need(io, "input_nchw") });
  const rows = named.map(([name]) =>
    compare(label, name, outs[name]!.data as Float32Array, need(io, name).data as Float32Array, "output"),
  );
  return rows;
}

/** Gradients of the fixture's probe loss w.r.t. LoRA and every prompt encoder / decoder weight. */
async function gradientsFor(
  label: string,
  weights: Map<string, HostTensor>,
  cfg: SamConfig,
  io: Io,
): Promise<ParityRow[]> {
  const gradKeys = [...io.keys()]
    .filter((k) => k.startsWith("grad.") && k !== "grad_probe_loss")
    .map((k) => k.slice(5));
  const wanted = new Set(gradKeys);
  const source = new Map([...weights, ...[...io].filter(([k]) => k.startsWith("lora."))]);
  const store = new ParamStore(new Graph(), source, { trainable: (k) => wanted.has(k) });
  const g = store.graph;
  const s = cfg.imageSize;
  const x = g.input("input_nchw", [1, 3, s, s]);
  const lora = loraOf(io, cfg);
  const emb = imageEncoderFeatures(x, store.scope("image_encoder."), cfg, { lora }).embeddings;
  const pe = store.scope("prompt_encoder.");
  const { sparse, dense } = promptEncoder(pe, cfg, {});
  const out = maskDecoder(store.scope("mask_decoder."), cfg, {
    imageEmbeddings: emb,
    imagePe: densePositionalEncoding(pe, cfg),
    sparse,
    dense,
    multimask: true,
  });
  const loss = add(
    reduceSum(mul(out.masks, g.constant(need(io, "grad_probe_masks")))),
    reduceSum(mul(out.iou, g.constant(need(io, "grad_probe_iou")))),
  );
  const params = store.trainable;
  const missing = gradKeys.filter((k) => !params.some((p) => p.key === k));
  if (missing.length) throw new Error(`the port never reads ${missing.join(", ")}`);
  const grads = grad(
    loss,
    params.map((p) => p.tensor),
  );
  const fn = await compile([x, ...params.map((p) => p.tensor)], [loss, ...grads]);
  const outs = Object.values(
    await fn.run({
      input_nchw: need(io, "input_nchw"),
      ...Object.fromEntries(params.map((p) => [p.tensor.name!, p.initial])),
    }),
  );
  const rows = [
    compare(
      label,
      "grad_probe_loss",
      outs[0]!.data as Float32Array,
      need(io, "grad_probe_loss").data as Float32Array,
      "grad",
    ),
  ];
  for (const [i, p] of params.entries()) {
    const got = outs[1 + i]!.data as Float32Array;
    rows.push(compare(label, `grad.${p.key}`, got, need(io, `grad.${p.key}`).data as Float32Array, "grad"));
  }
  return rows;
}

/** Check every tensor of a fixture folder; returns one row per (weight file, tensor). */
export async function runParity(dir: string): Promise<ParityRow[]> {
  const cfg = loadConfigFile(join(dir, "config.json"));
  const io = loadIo(dir);
  const rows: ParityRow[] = [];
  // Pre- and post-processing, independent of the weights.
  const img = readSafetensors(join(dir, "io.safetensors")).tensors.get("image_u8_hwc")!;
  const [h, w] = img.shape as [number, number];
  const prepared = prepareImage(img.data as Uint8Array, h, w, cfg);
  rows.push(
    compare("transforms", "input_nchw", prepared.data, need(io, "input_nchw").data as Float32Array, "output"),
  );
  const low = need(io, "noprompt_multi_masks");
  const [, k, lh, lw] = low.shape as [number, number, number, number];
  const post = postprocessMasks(
    low.data as Float32Array,
    k,
    [lh, lw],
    prepared.inputSize,
    [h, w],
    cfg.imageSize,
  );
  rows.push(
    compare(
      "transforms",
      "noprompt_multi_masks_original_size",
      post,
      need(io, "noprompt_multi_masks_original_size").data as Float32Array,
      "output",
    ),
  );

  const files = ["weights.pth", "weights.safetensors", "weights_hf.safetensors"].filter((f) =>
    existsSync(join(dir, f)),
  );
  for (const [i, file] of files.entries()) {
    const { weights } = loadSamWeights(join(dir, file));
    rows.push(...(await outputsFor(file, weights, cfg, io)));
    // Gradients once (the weight files hold the same numbers, checked by the outputs above).
    if (i === 0) rows.push(...(await gradientsFor(file, weights, cfg, io)));
  }
  return rows;
}
