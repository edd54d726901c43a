// Training-step benchmark: one AdamW step of the `udeg` preset trained from scratch (the default
// scratch architecture; fine path off and edge loss unbalanced, the step the peer implements) on
// a small config, udeg's compiled TrainStep (loss + gradients + clipping
// + AdamW in one onnxruntime session) against the same step in PyTorch
// (bench/peer/udeg_step.py) in the same run. Both start from the same weights and batch; the
// peer's parameter set and its first-step loss and gradient norm must match ours. The two are
// timed in alternating blocks of steps (the peer stays up, driven over stdin), so that load from
// other work on a shared machine falls on both alike.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { type CompiledFunction, HostTensor, type RuntimeOptions, rng } from "../src/engine/index.js";
import { writeSafetensors } from "../src/io/checkpoints/index.js";
import { configToJson } from "../src/sam/config.js";
import { buildTrainGraph, lossWeightInput, type TrainFeeds, type TrainGraph } from "../src/train/graph.js";
import { edgeTargets, oneHot } from "../src/train/trainer.js";
import { lossConfigOf, resolveConfig } from "../src/udeg/config.js";
import { scheduledWeights } from "../src/udeg/losses.js";
import { edgeResolution } from "../src/udeg/model.js";
import { resolveModel } from "../src/udeg/setup.js";
import {
  f32Entry,
  flag,
  machine,
  PeerProcess,
  peakRssMb,
  round,
  type Timing,
  updateBenchmarksMd,
  writeResults,
} from "./common.js";

const IMAGE_SIZE = 128;
const BATCH = 4;
const CLASSES = 1;
const THREADS = 2;
/** Training progress at which the scheduled loss weights are taken: every term is on. */
const PROGRESS = 0.5;
/** First-step loss and gradient norm must agree this closely (relative) with the peer's. */
const PARITY_RTOL = 1e-3;
/** Profiled steps left out of the op summary (the first runs grow the arena). */
const PROFILE_WARMUP = 2;

/** Class indices [B, S, S]: a disc per image, a little different in each. */
export function discLabels(batch: number, s: number): Uint8Array {
  const labels = new Uint8Array(batch * s * s);
  for (let b = 0; b < batch; b++) {
    const [cy, cx, r] = [s * (0.4 + 0.05 * b), s * (0.5 - 0.03 * b), s * (0.2 + 0.02 * b)];
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++)
        labels[(b * s + y) * s + x] = (y - cy) ** 2 + (x - cx) ** 2 <= r * r ? 1 : 0;
    }
  }
  return labels;
}

export function randomImage(batch: number, s: number, seed: number): HostTensor {
  const random = rng(seed);
  const data = new Float32Array(batch * 3 * s * s);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(random() * 256);
  return new HostTensor("float32", [batch, 3, s, s], data);
}

function summarise(runs: number[]): Timing {
  const sorted = [...runs].sort((a, b) => a - b);
  return { median: round(sorted[Math.floor(sorted.length / 2)]!), min: round(sorted[0]!), runs };
}

export function relDiff(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-12);
}

/** Same model on both sides, or the comparison means nothing: fail loudly otherwise. */
function checkParity(
  ours: { params: number; tensors: number; loss: number; gradNorm: number; terms: Record<string, number> },
  info: Record<string, unknown>,
): { lossDiff: number; normDiff: number } {
  if (info.torch_param_count !== ours.params || info.torch_param_tensors !== ours.tensors) {
    throw new Error(
      `train bench: parameter count differs: udeg ${ours.params} in ${ours.tensors} tensors, ` +
        `PyTorch ${String(info.torch_param_count)} in ${String(info.torch_param_tensors)}`,
    );
  }
  const lossDiff = relDiff(ours.loss, info.torch_first_loss as number);
  const normDiff = relDiff(ours.gradNorm, info.torch_first_grad_norm as number);
  if (!(lossDiff <= PARITY_RTOL && normDiff <= PARITY_RTOL)) {
    throw new Error(
      `train bench: the peer computes a different step: first loss ${ours.loss} vs ${String(info.torch_first_loss)}, ` +
        `gradient norm ${ours.gradNorm} vs ${String(info.torch_first_grad_norm)} ` +
        `(terms: udeg ${JSON.stringify(ours.terms)}, PyTorch ${JSON.stringify(info.torch_first_terms)})`,
    );
  }
  return { lossDiff, normDiff };
}

/** onnxruntime's JSON trace -> kernel time per op type (ms per step), largest first, skipping the first runs. */
function opTimes(file: string, skip: number): { op: string; ms: number; share: number; nodes: number }[] {
  const events = JSON.parse(readFileSync(file, "utf8")) as {
    cat?: string;
    name?: string;
    ts?: number;
    dur?: number;
    args?: { op_name?: string };
  }[];
  const runs = events.filter((e) => e.name === "model_run").map((e) => e.ts ?? 0);
  runs.sort((a, b) => a - b);
  if (runs.length <= skip)
    throw new Error(`train bench: ${runs.length} profiled runs, need more than ${skip}`);
  const from = runs[skip]!;
  const steps = runs.length - skip;
  const total = new Map<string, number>();
  const nodes = new Map<string, Set<string>>();
  for (const e of events) {
    if (e.cat !== "Node" || !e.name?.endsWith("_kernel_time") || !e.args?.op_name || (e.ts ?? 0) < from)
      continue;
    const op = e.args.op_name;
    total.set(op, (total.get(op) ?? 0) + (e.dur ?? 0));
    if (!nodes.has(op)) nodes.set(op, new Set());
    nodes.get(op)!.add(e.name);
  }
  const sum = [...total.values()].reduce((a, b) => a + b, 0);
  return [...total.entries()]
    .map(([op, us]) => ({
      op,
      ms: round(us / 1000 / steps, 2),
      share: round(us / sum, 3),
      nodes: nodes.get(op)!.size,
    }))
    .sort((a, b) => b.ms - a.ms);
}

/**
 * The arguments of bench/peer/udeg_step.py that make its step ours: architecture, loss weights,
 * the safetensors of our initial weights and batch, and the optimiser (train and gpu benches).
 */
export function peerStepArgs(o: {
  cfg: Parameters<typeof configToJson>[0];
  lossCfg: { ceWeight: number; diceWeight: number };
  weights: Record<string, number>;
  inputs: string;
  lr: number;
  weightDecay: number;
  clipNorm: number | undefined;
}): string[] {
  return [
    `--config=${JSON.stringify(configToJson(o.cfg))}`,
    `--weights=${JSON.stringify({ ce: o.lossCfg.ceWeight, dice: o.lossCfg.diceWeight, ...o.weights })}`,
    `--inputs=${o.inputs}`,
    `--lr=${o.lr}`,
    `--weight-decay=${o.weightDecay}`,
    `--clip-norm=${o.clipNorm}`,
  ];
}

export async function benchTrain(args: string[]): Promise<void> {
  const repeats = flag(args, "repeats", 20);
  const block = Math.max(1, flag(args, "block", 5));
  const warmup = Math.max(1, flag(args, "warmup", 3));
  const profileSteps = flag(args, "profile", 0);
  const config = resolveConfig({
    preset: "udeg",
    // The peer implements UDEG-Net without the fine path and with the unbalanced edge loss (as
    // bench/gpu.ts): those two parts are switched off here so both sides run the same step.
    overrides: {
      model: { imageSize: IMAGE_SIZE, classes: CLASSES, fine: { enabled: false } },
      loss: { edgeBalance: false },
      train: { batchSize: BATCH },
    },
  });
  const resolved = resolveModel(config, CLASSES);
  const cfg = resolved.model.cfg;
  const s = cfg.imageSize;
  const k = CLASSES + 1;
  const edgeSize = edgeResolution(resolved.model);
  const lossCfg = lossConfigOf(config);
  const w = scheduledWeights(lossCfg, PROGRESS);
  const lr = config.train.lr;
  const clipNorm = config.train.clipNorm ?? undefined;
  const scratch = config.model.scratch;
  console.error(
    `train: udeg preset from scratch, ${s}x${s}, batch ${BATCH}, ${repeats} steps after ${warmup} warm-up, alternating blocks of ${block} with PyTorch...`,
  );
  const load0 = loadavg();

  const graphOf = (runtime: RuntimeOptions) =>
    buildTrainGraph({
      model: resolved.model,
      loss: lossCfg,
      weights: resolved.weights,
      trainable: resolved.trainable,
      batch: BATCH,
      adamw: { weightDecay: config.train.weightDecay, clipNorm },
      runtime,
    });
  const t0 = performance.now();
  const graph: TrainGraph = await graphOf({ threads: THREADS });
  const compileS = round((performance.now() - t0) / 1000, 2);
  const step = graph.step;
  const paramCount = step.state.params.reduce((a, p) => a + p.size, 0);

  const labels = discLabels(BATCH, s);
  const scalar = (v: number) => HostTensor.float32([v], []);
  const image = randomImage(BATCH, s, 7);
  const segY = oneHot(labels, BATCH, k, s, s);
  const edgeY = edgeTargets(labels, BATCH, s, edgeSize, config.model.edge.width);
  if (!graph.hasEdge) throw new Error("train bench: the udeg preset must have the edge head");
  const feeds: TrainFeeds = { image, seg_target: segY, edge_target: edgeY };
  for (const [name, value] of Object.entries(w))
    feeds[lossWeightInput(name as keyof typeof w)] = scalar(value);

  // The peer starts from exactly our initial weights and batch.
  const dir = mkdtempSync(join(tmpdir(), "udeg-bench-train-"));
  const inputs = join(dir, "inputs.safetensors");
  writeSafetensors(inputs, {
    ...Object.fromEntries(graph.keys.map((key, i) => [`param.${key}`, f32Entry(step.state.params[i]!)])),
    "input.image": f32Entry(image),
    "input.seg_target": f32Entry(segY),
    "input.edge_target": f32Entry(edgeY),
  });

  const peer = PeerProcess.start("bench/peer/udeg_step.py", [
    "--serve",
    `--threads=${THREADS}`,
    `--image-size=${s}`,
    `--batch=${BATCH}`,
    `--classes=${CLASSES}`,
    ...peerStepArgs({
      cfg,
      lossCfg,
      weights: w,
      inputs,
      lr,
      weightDecay: config.train.weightDecay,
      clipNorm,
    }),
  ]);
  let info: Record<string, unknown>;
  let first: Awaited<ReturnType<typeof step.step>>;
  const ours: number[] = [];
  const theirs: number[] = [];
  let torchRss: unknown;
  let firstTerms: Record<string, number>;
  let lossDiff: number;
  let normDiff: number;
  try {
    info = await peer.next(); // the peer's setup and first step (parity numbers)
    rmSync(dir, { recursive: true, force: true });
    first = await step.step(feeds, lr);
    firstTerms = Object.fromEntries(graph.terms.map((n) => [n, first.extras[n]!.data[0] as number]));
    const p = step.state.params;
    ({ lossDiff, normDiff } = checkParity(
      {
        params: paramCount,
        tensors: p.length,
        loss: first.loss,
        gradNorm: first.gradNorm!,
        terms: firstTerms,
      },
      info,
    ));
    for (let i = 1; i < warmup; i++) await step.step(feeds, lr);
    if (warmup > 1) await peer.request(`steps ${warmup - 1}`);
    for (let done = 0; done < repeats; done += block) {
      const n = Math.min(block, repeats - done);
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await step.step(feeds, lr);
        ours.push(performance.now() - t0);
      }
      theirs.push(...((await peer.request(`steps ${n}`)).ms as number[]));
    }
    torchRss = (await peer.request("done")).torch_peak_rss_mb;
  } finally {
    peer.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  const t = summarise(ours);
  const tt = summarise(theirs);
  const load1 = loadavg();
  console.error(`train: udeg step median ${t.median} ms, min ${t.min} ms (compile ${compileS} s)`);
  console.error(`train: PyTorch step median ${tt.median} ms, min ${tt.min} ms`);
  const ourRss = peakRssMb();

  let profile: ReturnType<typeof opTimes> | null = null;
  if (profileSteps > 0) {
    // A second session with onnxruntime's profiler on, run after the timed steps so the timing
    // above is unaffected. TrainStep keeps its session private; reach it for endProfiling().
    // Per-node profiling adds its own overhead: read the shares, not the absolute times.
    const pdir = mkdtempSync(join(tmpdir(), "udeg-bench-train-profile-"));
    try {
      const profiled = await graphOf({ threads: THREADS, profilePrefix: join(pdir, "ort-profile") });
      for (let i = 0; i < PROFILE_WARMUP + profileSteps; i++) await profiled.step.step(feeds, lr);
      (profiled.step as unknown as { fn: CompiledFunction }).fn.endProfiling();
      const file = readdirSync(pdir).find((f) => f.startsWith("ort-profile") && f.endsWith(".json"));
      if (!file) throw new Error(`train bench: no onnxruntime profile in ${pdir}`);
      profile = opTimes(join(pdir, file), PROFILE_WARMUP);
    } finally {
      rmSync(pdir, { recursive: true, force: true });
    }
    console.error("train: onnxruntime kernel time per op type (ms per step, profiler on):");
    for (const p of profile.slice(0, 15))
      console.error(
        `  ${p.op.padEnd(24)} ${String(p.ms).padStart(8)}  ${(p.share * 100).toFixed(1)}%  (${p.nodes} nodes)`,
      );
  }

  const torchMs = tt.median;
  const results = {
    step_ms: t.median,
    torch_step_ms: torchMs,
    step_min_ms: t.min,
    torch_step_min_ms: tt.min,
    ratio: round(t.median / torchMs, 2),
    config: {
      preset: config.preset,
      image_size: s,
      batch: BATCH,
      classes: CLASSES,
      param_count: paramCount,
      torch_param_count: info.torch_param_count,
      param_tensors: step.state.params.length,
      scratch,
      edge_hidden: resolved.model.edge.hidden ?? cfg.promptEmbedDim,
      loss_weights: { ce: lossCfg.ceWeight, dice: lossCfg.diceWeight, ...w },
      progress: PROGRESS,
      lr,
      weight_decay: config.train.weightDecay,
      clip_norm: clipNorm,
    },
    parity: {
      first_loss: first.loss,
      torch_first_loss: info.torch_first_loss,
      first_grad_norm: first.gradNorm,
      torch_first_grad_norm: info.torch_first_grad_norm,
      first_terms: firstTerms,
      torch_first_terms: info.torch_first_terms,
      loss_rel_diff: lossDiff,
      grad_norm_rel_diff: normDiff,
    },
    compile_s: compileS,
    peak_rss_mb: ourRss,
    torch_peak_rss_mb: torchRss,
    ...(profile ? { profile_ms_per_step_by_op: profile } : {}),
    torch_version: info.torch_version,
    blas: info.blas,
    threads: THREADS,
    repeats,
    warmup,
    block,
    step_runs_ms: t.runs.map((x) => round(x)),
    torch_step_runs_ms: tt.runs.map((x) => round(x)),
    load_average: { before: load0.map((x) => round(x, 2)), after: load1.map((x) => round(x, 2)) },
    /** The 1-minute load exceeded the cores before or after: other work competed for the CPU. */
    loaded: Math.max(load0[0]!, load1[0]!) > availableParallelism(),
    machine: machine(),
    date: new Date().toISOString(),
  };
  writeResults("bench/results/train.json", results);
  const la = (l: number[]) => l.map((x) => x.toFixed(2)).join(" / ");
  const busy = results.loaded
    ? ` The machine was busy (1-min load above its ${availableParallelism()} cores): both timings include contention, which hurts PyTorch's OpenBLAS threads more; rerun on a quiet machine for compute-bound numbers.`
    : "";
  updateBenchmarksMd(
    "train",
    `## UDEG-Net training step (\`npm run bench -- train\`)

${results.machine}; onnxruntime-node CPU EP, ${THREADS} intra-op threads; peer: our PyTorch implementation of the same step (bench/peer/udeg_step.py), PyTorch ${String(info.torch_version)}, ${THREADS} threads, OpenBLAS.
One training step of the \`udeg\` preset trained from scratch: forward, evidential loss (digamma CE + Dice + KL + accuracy-vs-uncertainty + progressive edge loss, weights at progress ${PROGRESS}), backward, global-norm clipping ${clipNorm}, AdamW (lr ${lr}, wd ${config.train.weightDecay}); udeg's is one onnxruntime session (TrainStep.step), PyTorch's is forward + backward + clip_grad_norm_ + optimizer.step().
Config: image ${s} x ${s}, batch ${BATCH}, ${CLASSES} class (K = ${k}); the default scratch architecture (patch ${scratch.patchSize}, ViT ${scratch.encoderEmbedDim} wide x ${scratch.encoderDepth} blocks, ${scratch.encoderNumHeads} heads, window ${scratch.windowSize}, global blocks ${scratch.encoderGlobalAttnIndexes.join(", ")}; prompt/decoder width ${scratch.promptEmbedDim}, decoder depth ${scratch.decoderDepth}, MLP ${scratch.decoderMlpDim}), edge generator width ${results.config.edge_hidden}; ${paramCount.toLocaleString("en-US")} trainable parameters on both sides.
Both start from the same weights and batch; first-step loss ${first.loss.toFixed(5)} (PyTorch ${(info.torch_first_loss as number).toFixed(5)}). Medians of ${repeats} steps after ${warmup} warm-up, timed in alternating blocks of ${block} (udeg, PyTorch, udeg, ...) so both see the same machine load.

| case | udeg (ms) | PyTorch (ms) | udeg / PyTorch |
|---|---|---|---|
| training step (median) | ${t.median} | ${torchMs} | ${results.ratio} |
| training step (min) | ${t.min} | ${tt.min} | ${round(t.min / tt.min, 2)} |

Load average (1 / 5 / 15 min) before: ${la(load0)}, after: ${la(load1)}.${busy} Peak RSS: udeg ${ourRss} MB, PyTorch ${String(torchRss)} MB. Train-step compile ${compileS} s. Date: ${results.date}.`,
  );
  console.log(JSON.stringify(results, null, 2));
}
