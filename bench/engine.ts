// Engine benchmark: a pre-LayerNorm ViT block and a 3x3 conv, forward and forward + backward,
// beside the same in PyTorch (bench/peer/engine.py) in the same run.
import {
  add,
  compile,
  conv,
  Graph,
  gelu,
  grad,
  type HostTensor,
  layerNorm,
  linear,
  matmul,
  mul,
  randomTensor,
  reduceSum,
  reshape,
  rng,
  softmax,
  split,
  type Tensor,
  TrainStep,
  transpose,
} from "../src/engine/index.js";
import {
  flag,
  machine,
  peakRssMb,
  round,
  runPeer,
  type Timing,
  time,
  updateBenchmarksMd,
  writeResults,
} from "./common.js";

const [B, T, C, HEADS, MLP] = [2, 1024, 256, 8, 1024];

const vitWeightShapes: Record<string, number[]> = {
  ln1_w: [C],
  ln1_b: [C],
  qkv_w: [3 * C, C],
  qkv_b: [3 * C],
  proj_w: [C, C],
  proj_b: [C],
  ln2_w: [C],
  ln2_b: [C],
  fc1_w: [MLP, C],
  fc1_b: [MLP],
  fc2_w: [C, MLP],
  fc2_b: [C],
};

function vitBlock(x: Tensor, w: Record<string, Tensor>): Tensor {
  const hd = C / HEADS;
  const h = layerNorm(x, w.ln1_w!, w.ln1_b!, 1e-6);
  const qkv = transpose(reshape(linear(h, w.qkv_w!, w.qkv_b!), [B, T, 3, HEADS, hd]), [2, 0, 3, 1, 4]);
  const [q, k, v] = split(qkv, [1, 1, 1], 0).map((t) => reshape(t, [B, HEADS, T, hd])) as [
    Tensor,
    Tensor,
    Tensor,
  ];
  const attn = softmax(matmul(mul(q, 1 / Math.sqrt(hd)), transpose(k, [0, 1, 3, 2])), -1);
  const o = reshape(transpose(matmul(attn, v), [0, 2, 1, 3]), [B, T, C]);
  const x1 = add(x, linear(o, w.proj_w!, w.proj_b!));
  const m = linear(
    gelu(linear(layerNorm(x1, w.ln2_w!, w.ln2_b!, 1e-6), w.fc1_w!, w.fc1_b!)),
    w.fc2_w!,
    w.fc2_b!,
  );
  return add(x1, m);
}

function randomWeights(shapes: Record<string, number[]>, seed: number): Record<string, HostTensor> {
  const random = rng(seed);
  return Object.fromEntries(
    Object.entries(shapes).map(([name, shape]) => [name, randomTensor(shape, random, [-0.05, 0.05])]),
  );
}

async function benchVit(repeats: number, warmup: number): Promise<{ fwd: Timing; fwdbwd: Timing }> {
  const random = rng(1);
  const xData = randomTensor([B, T, C], random);
  const weights = randomWeights(vitWeightShapes, 2);

  // Forward: weights are frozen initializers, as in inference.
  const gf = new Graph();
  const xf = gf.input("x", [B, T, C]);
  const wf = Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, gf.constant(v)]));
  const fwd = await compile([xf], [vitBlock(xf, wf)]);

  // Forward + backward: weights are inputs (trainable), loss = sum(y * g) for a fixed g.
  const gb = new Graph();
  const xb = gb.input("x", [B, T, C]);
  const wb = Object.fromEntries(Object.entries(vitWeightShapes).map(([k, s]) => [k, gb.input(k, s)]));
  const probe = gb.constant(randomTensor([B, T, C], random));
  const loss = reduceSum(mul(vitBlock(xb, wb), probe));
  const params = Object.values(wb);
  const fwdbwd = await compile([xb, ...params], [loss, ...grad(loss, params)]);
  const feeds = { x: xData, ...weights };

  return {
    fwd: await time(() => fwd.run({ x: xData }), repeats, warmup),
    fwdbwd: await time(() => fwdbwd.run(feeds), repeats, warmup),
  };
}

/** One AdamW step of the ViT block with the update in the graph vs. on the host. */
async function benchUpdate(repeats: number, warmup: number): Promise<Record<"graph" | "host", Timing>> {
  const random = rng(4);
  const xData = randomTensor([B, T, C], random);
  const weights = randomWeights(vitWeightShapes, 2);
  const out = {} as Record<"graph" | "host", Timing>;
  for (const update of ["graph", "host"] as const) {
    const g = new Graph();
    const x = g.input("x", [B, T, C]);
    const w = Object.fromEntries(Object.entries(vitWeightShapes).map(([k, s]) => [k, g.input(k, s)]));
    const loss = reduceSum(mul(vitBlock(x, w), g.constant(randomTensor([B, T, C], random, [-1e-3, 1e-3]))));
    const names = Object.keys(vitWeightShapes);
    const step = await TrainStep.create(
      { loss, params: names.map((k) => w[k]!), inputs: [x] },
      names.map((k) => weights[k]!),
      { update, clipNorm: 1 },
    );
    out[update] = await time(() => step.step({ x: xData }, 1e-4), repeats, warmup);
  }
  return out;
}

async function benchConv(repeats: number, warmup: number): Promise<{ fwd: Timing; fwdbwd: Timing }> {
  const random = rng(3);
  const xData = randomTensor([2, 64, 128, 128], random);
  const wData = randomTensor([64, 64, 3, 3], random, [-0.05, 0.05]);
  const bData = randomTensor([64], random, [-0.05, 0.05]);

  const gf = new Graph();
  const xf = gf.input("x", [2, 64, 128, 128]);
  const fwd = await compile([xf], [conv(xf, gf.constant(wData), gf.constant(bData), { padding: 1 })]);

  const gb = new Graph();
  const xb = gb.input("x", [2, 64, 128, 128]);
  const w = gb.input("w", [64, 64, 3, 3]);
  const b = gb.input("b", [64]);
  const loss = reduceSum(
    mul(conv(xb, w, b, { padding: 1 }), gb.constant(randomTensor([2, 64, 128, 128], random))),
  );
  const fwdbwd = await compile([xb, w, b], [loss, ...grad(loss, [w, b])]);

  return {
    fwd: await time(() => fwd.run({ x: xData }), repeats, warmup),
    fwdbwd: await time(() => fwdbwd.run({ x: xData, w: wData, b: bData }), repeats, warmup),
  };
}

export async function benchEngine(args: string[]): Promise<void> {
  const repeats = flag(args, "repeats", 20);
  const warmup = flag(args, "warmup", 5);
  console.error(`engine: ViT block and conv, ${repeats} runs after ${warmup} warm-up...`);
  const vit = await benchVit(repeats, warmup);
  const cv = await benchConv(repeats, warmup);
  const upd = await benchUpdate(repeats, warmup);
  const ours = {
    vit_fwd_ms: vit.fwd.median,
    vit_fwdbwd_ms: vit.fwdbwd.median,
    conv_fwd_ms: cv.fwd.median,
    conv_fwdbwd_ms: cv.fwdbwd.median,
    vit_fwd_min_ms: vit.fwd.min,
    vit_fwdbwd_min_ms: vit.fwdbwd.min,
    conv_fwd_min_ms: cv.fwd.min,
    conv_fwdbwd_min_ms: cv.fwdbwd.min,
    vit_adamw_step_graph_update_ms: upd.graph.median,
    vit_adamw_step_host_update_ms: upd.host.median,
    peak_rss_mb: peakRssMb(),
  };
  console.error("engine: PyTorch peer...");
  const peer = runPeer("bench/peer/engine.py", [`--repeats=${repeats}`, `--warmup=${warmup}`, "--threads=2"]);
  const results = {
    ...ours,
    ...peer,
    machine: machine(),
    threads: 2,
    date: new Date().toISOString(),
  };
  writeResults("bench/results/engine.json", results);
  const row = (name: string, key: string) => {
    const a = results[`${key}_ms` as keyof typeof results] as number;
    const t = results[`torch_${key}_ms` as keyof typeof results] as number;
    return `| ${name} | ${a} | ${t} | ${round(a / t, 2)} |`;
  };
  updateBenchmarksMd(
    "engine",
    `## Engine (\`npm run bench -- engine\`)

${results.machine}; onnxruntime-node CPU EP, 2 intra-op threads; peer: PyTorch ${String(peer.torch_version)} CPU, 2 threads, BLAS: ${String(peer.blas).split(";")[0]}.
Medians of ${repeats} runs after ${warmup} warm-up, fp32. ViT block: pre-LN, width 256, 8 heads, MLP 1024, batch 2 x 1024 tokens.
Conv: 3x3, 64->64, padding 1, on 2 x 64 x 128 x 128. Forward + backward = gradients w.r.t. all weights (not the input).

| case | udeg (ms) | PyTorch (ms) | udeg / PyTorch |
|---|---|---|---|
${row("ViT block forward", "vit_fwd")}
${row("ViT block forward + backward", "vit_fwdbwd")}
${row("conv 3x3 forward", "conv_fwd")}
${row("conv 3x3 forward + backward", "conv_fwdbwd")}

One AdamW step of the ViT block (loss, gradients, clipping, update): update in the graph ${results.vit_adamw_step_graph_update_ms} ms, on the host ${results.vit_adamw_step_host_update_ms} ms (the default is "graph").

Peak RSS: udeg ${results.peak_rss_mb} MB, PyTorch ${String(peer.torch_peak_rss_mb)} MB. Date: ${results.date}.`,
  );
  console.log(JSON.stringify(results, null, 2));
}
