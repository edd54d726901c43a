// GPU benchmark (`npm run bench -- gpu`): SAM ViT-B adapted with LoRA, UDEG-Net's training step
// and inference on onnxruntime's WebGPU provider, beside the same step in PyTorch on CUDA
// (bench/peer/udeg_step.py --device cuda --lora-rank 8), at 256, 512 and 1024 px, batch 1, fp32
// and (PyTorch only) fp16 autocast. Both sides start from the same random weights and batch and
// must agree on the first step's loss and gradient norm (1e-3 relative) before anything is timed.
//
// The step both sides implement is UDEG-Net without the fine path and with the unbalanced edge
// loss (the peer's model, bench/peer/udeg_step.py, predates them); the ViT-B encoder, where the
// time goes at these sizes, is the real one. Random weights: no checkpoint is needed, and speed
// does not depend on the values.
//
// udeg has no fp16 training: its graph trains in fp32 (SwiftShader has no f16 shaders to test an
// fp16 graph against, so none ships untested). The fp16 column is PyTorch's, for reference.
//
// `--smoke` runs the whole path on a tiny configuration (the default scratch ViT, 64 px, PyTorch
// on the CPU): what CI runs on SwiftShader (test/bench/gpu-smoke.test.ts). On a GPU machine
// without Node or network, bench/gpu/pack.sh and bench/gpu/run.sh carry and run it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ExecutionProvider, HostTensor, probeDevice } from "../src/engine/index.js";
import { writeSafetensors } from "../src/io/checkpoints/index.js";
import { SAM_PRESETS, type SamConfig } from "../src/sam/config.js";
import { buildTrainGraph, lossWeightInput, type TrainFeeds } from "../src/train/graph.js";
import { edgeTargets, oneHot } from "../src/train/trainer.js";
import { lossConfigOf, resolveConfig } from "../src/udeg/config.js";
import { buildInference } from "../src/udeg/inference.js";
import { completeWeights, udegWeightShapes } from "../src/udeg/init.js";
import { scheduledWeights } from "../src/udeg/losses.js";
import { edgeResolution } from "../src/udeg/model.js";
import { modelOptions, scratchArch } from "../src/udeg/setup.js";
import {
  f32Entry,
  flag,
  machine,
  round,
  runPeer,
  stats,
  type Timing,
  updateBenchmarksMd,
  writeResults,
} from "./common.js";
import { discLabels, peerStepArgs, randomImage, relDiff } from "./train.js";

export interface GpuBenchOptions {
  /** "vit_b": SAM ViT-B (the benchmark); "tiny": the default scratch ViT (the smoke run). */
  arch: "vit_b" | "tiny";
  sizes: number[];
  ep: ExecutionProvider;
  /** Where the PyTorch peer runs. */
  peerDevice: "cuda" | "cpu";
  repeats: number;
  warmup: number;
  /** PyTorch's fp16 autocast too (CUDA only). */
  fp16: boolean;
  log: (line: string) => void;
}

export interface GpuSizeResult {
  image_size: number;
  trainable_params: number;
  compile_s: number;
  step_ms: Timing;
  images_per_s: number;
  infer_ms: Timing;
  first_loss: number;
  first_grad_norm: number;
  torch: {
    fp32: {
      step_ms: number;
      images_per_s: number;
      infer_ms: number;
      first_loss: number;
      first_grad_norm: number;
    };
    fp16: { step_ms: number; images_per_s: number; infer_ms: number } | null;
    device: string;
    version: string;
    cuda_peak_mb: number | null;
  };
  /** udeg images/s over PyTorch fp32's (the goal: at least 0.5). */
  ratio_fp32: number;
  loss_rel_diff: number;
  grad_norm_rel_diff: number;
}

/** First-step loss and gradient norm agree this closely with PyTorch's, or nothing is timed. */
const PARITY_RTOL = 1e-3;
const LORA_RANK = 8;

/** The step both sides implement (see the header). */
function stepConfig(size: number) {
  return resolveConfig({
    preset: "udeg",
    overrides: {
      model: { imageSize: size, classes: 1, fine: { enabled: false }, lora: { rank: LORA_RANK } },
      loss: { edgeBalance: false },
      train: { batchSize: 1, clicks: { probability: 0 } },
    },
  });
}

async function timed(fn: () => Promise<unknown>, repeats: number, warmup: number): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn();
  const runs: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    runs.push(round(performance.now() - t0, 2));
  }
  return stats(runs);
}

export async function benchOneSize(size: number, o: GpuBenchOptions): Promise<GpuSizeResult> {
  const config = stepConfig(size);
  const cfg: SamConfig = o.arch === "vit_b" ? { ...SAM_PRESETS.vit_b, imageSize: size } : scratchArch(config);
  const model = modelOptions(config, cfg, 1, true);
  const weights = completeWeights(new Map(), udegWeightShapes(model), config.train.seed);
  const trainable = (k: string) => !k.startsWith("image_encoder.");
  const lossCfg = lossConfigOf(config);
  const w = scheduledWeights(lossCfg, 0.5);
  const lr = config.train.lr;
  const clipNorm = config.train.clipNorm ?? undefined;

  o.log(`gpu: ${o.arch} ${size} px: compiling the training step on ${o.ep} ...`);
  const t0 = performance.now();
  const graph = await buildTrainGraph({
    model,
    loss: lossCfg,
    weights,
    trainable,
    batch: 1,
    adamw: { weightDecay: config.train.weightDecay, clipNorm },
    runtime: { ep: o.ep, cpuFallback: false },
  });
  const compileS = round((performance.now() - t0) / 1000, 1);
  const step = graph.step;
  const trainableParams = step.state.params.reduce((a, p) => a + p.size, 0);

  const labels = discLabels(1, size);
  const image = randomImage(1, size, 7);
  const segY = oneHot(labels, 1, 2, size, size);
  const edgeY = edgeTargets(labels, 1, size, edgeResolution(model), config.model.edge.width);
  const feeds: TrainFeeds = { image, seg_target: segY, edge_target: edgeY };
  for (const [name, value] of Object.entries(w))
    feeds[lossWeightInput(name as keyof typeof w)] = HostTensor.float32([value], []);

  // The peer's inputs: our initial trainable and frozen weights and the batch, before any step.
  const dir = mkdtempSync(join(tmpdir(), "udeg-bench-gpu-"));
  const inputs = join(dir, "inputs.safetensors");
  const trainableKeys = new Set(graph.keys);
  writeSafetensors(inputs, {
    ...Object.fromEntries(graph.keys.map((k, i) => [`param.${k}`, f32Entry(step.state.params[i]!)])),
    ...Object.fromEntries(
      [...weights].filter(([k]) => !trainableKeys.has(k)).map(([k, t]) => [`frozen.${k}`, f32Entry(t)]),
    ),
    "input.image": f32Entry(image),
    "input.seg_target": f32Entry(segY),
    "input.edge_target": f32Entry(edgeY),
  });

  const first = await step.step(feeds, lr);
  const stepMs = await timed(() => step.step(feeds, lr), o.repeats, Math.max(0, o.warmup - 1));
  o.log(`gpu: ${size} px: udeg step median ${stepMs.median} ms (compile ${compileS} s)`);
  const inference = await buildInference(model, weights, 1, { ep: o.ep, cpuFallback: false });
  const inferMs = await timed(() => inference.fn.run({ image }), o.repeats, o.warmup);
  o.log(`gpu: ${size} px: udeg inference median ${inferMs.median} ms`);

  const peerArgs = (amp: boolean) => [
    `--device=${o.peerDevice}`,
    `--lora-rank=${LORA_RANK}`,
    `--image-size=${size}`,
    "--batch=1",
    "--classes=1",
    ...peerStepArgs({
      cfg,
      lossCfg,
      weights: w,
      inputs,
      lr,
      weightDecay: config.train.weightDecay,
      clipNorm,
    }),
    `--repeats=${o.repeats}`,
    `--warmup=${o.warmup}`,
    "--infer",
    ...(amp ? ["--amp"] : []),
  ];
  let fp32: Record<string, unknown>;
  let fp16: Record<string, unknown> | null = null;
  try {
    fp32 = runPeer("bench/peer/udeg_step.py", peerArgs(false));
    if (o.fp16) fp16 = runPeer("bench/peer/udeg_step.py", peerArgs(true));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const lossDiff = relDiff(first.loss, fp32.torch_first_loss as number);
  const normDiff = relDiff(first.gradNorm!, fp32.torch_first_grad_norm as number);
  if (fp32.torch_param_count !== trainableParams || !(lossDiff <= PARITY_RTOL && normDiff <= PARITY_RTOL))
    throw new Error(
      `gpu bench at ${size} px: PyTorch computes a different step: trainable parameters ${trainableParams} vs ` +
        `${String(fp32.torch_param_count)}, first loss ${first.loss} vs ${String(fp32.torch_first_loss)}, ` +
        `gradient norm ${first.gradNorm} vs ${String(fp32.torch_first_grad_norm)}`,
    );
  const ips = (ms: number) => round(1000 / ms, 2);
  const torchStep = fp32.torch_step_ms as number;
  return {
    image_size: size,
    trainable_params: trainableParams,
    compile_s: compileS,
    step_ms: stepMs,
    images_per_s: ips(stepMs.median),
    infer_ms: inferMs,
    first_loss: first.loss,
    first_grad_norm: first.gradNorm!,
    torch: {
      fp32: {
        step_ms: torchStep,
        images_per_s: ips(torchStep),
        infer_ms: fp32.torch_infer_ms as number,
        first_loss: fp32.torch_first_loss as number,
        first_grad_norm: fp32.torch_first_grad_norm as number,
      },
      fp16: fp16
        ? {
            step_ms: fp16.torch_step_ms as number,
            images_per_s: ips(fp16.torch_step_ms as number),
            infer_ms: fp16.torch_infer_ms as number,
          }
        : null,
      device: String(fp32.torch_device),
      version: String(fp32.torch_version),
      cuda_peak_mb: (fp32.torch_cuda_peak_mb as number | undefined) ?? null,
    },
    ratio_fp32: round(ips(stepMs.median) / ips(torchStep), 2),
    loss_rel_diff: lossDiff,
    grad_norm_rel_diff: normDiff,
  };
}

export async function runGpuBench(o: GpuBenchOptions) {
  const device = await probeDevice(o.ep);
  if (!device.available) throw new Error(`gpu bench: --device ${o.ep} is not available: ${device.detail}`);
  o.log(`gpu: ${o.ep}: ${device.detail}${device.warning ? ` (warning: ${device.warning})` : ""}`);
  const sizes: GpuSizeResult[] = [];
  for (const size of o.sizes) sizes.push(await benchOneSize(size, o));
  return {
    arch: o.arch,
    ep: o.ep,
    adapter: device.detail,
    software_adapter: !!device.warning,
    peer_device: o.peerDevice,
    lora_rank: LORA_RANK,
    sizes,
    machine: machine(),
    date: new Date().toISOString(),
  };
}

export async function benchGpu(args: string[]): Promise<void> {
  const smoke = args.includes("--smoke");
  const results = await runGpuBench({
    arch: smoke ? "tiny" : "vit_b",
    sizes: smoke ? [64] : [256, 512, 1024],
    ep: "webgpu",
    peerDevice: smoke ? "cpu" : "cuda",
    repeats: flag(args, "repeats", smoke ? 1 : 10),
    warmup: flag(args, "warmup", smoke ? 1 : 3),
    fp16: !smoke,
    log: (l) => console.error(l),
  });
  const path = smoke ? join(tmpdir(), "udeg-gpu-smoke.json") : "bench/results/gpu.json";
  writeResults(path, results);
  if (!smoke) {
    const rows = results.sizes.map(
      (r) =>
        `| ${r.image_size} | ${r.images_per_s} | ${r.torch.fp32.images_per_s} | ${r.torch.fp16?.images_per_s ?? "-"} | ${r.ratio_fp32} | ${r.infer_ms.median} | ${r.torch.fp32.infer_ms} | ${r.torch.fp16?.infer_ms ?? "-"} |`,
    );
    updateBenchmarksMd(
      "gpu",
      `## GPU: ViT-B LoRA on WebGPU vs PyTorch CUDA (\`npm run bench -- gpu\`)

${results.machine}; udeg on onnxruntime-node's WebGPU provider (${results.adapter}${results.software_adapter ? ", a SOFTWARE device: these are not GPU numbers" : ""}); PyTorch ${results.sizes[0]?.torch.version} on ${results.sizes[0]?.torch.device}.
SAM ViT-B (random weights), LoRA rank ${LORA_RANK} on every encoder linear, UDEG-Net's step without the fine path (what the peer implements), batch 1; first-step loss and gradient norm agree within ${PARITY_RTOL} relative at every size. udeg trains in fp32 only; the fp16 columns are PyTorch's autocast.

| px | udeg img/s (fp32) | PyTorch img/s fp32 | PyTorch img/s fp16 | udeg / PyTorch fp32 | udeg infer ms | PyTorch infer ms fp32 | fp16 |
|---|---|---|---|---|---|---|---|
${rows.join("\n")}

Date: ${results.date}.`,
    );
  }
  console.log(JSON.stringify(results, null, 2));
}
