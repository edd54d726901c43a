// SAM benchmark: prompt-free ViT-B inference (random weights) at 1024 and 512, udeg vs. the
// PyTorch reference implementation (bench/peer/sam_bench.py) in the same run.
import { compile, Graph, type HostTensor, randomTensor, rng } from "../src/engine/index.js";
import { SAM_PRESETS, type SamConfig } from "../src/sam/config.js";
import { samForward, samWeightShapes } from "../src/sam/model.js";
import { ParamStore } from "../src/sam/params.js";
import { flag, machine, peakRssMb, runPeer, time, updateBenchmarksMd, writeResults } from "./common.js";

/** Random weights of the right shapes: LayerNorm scales near 1, everything else small. */
export function randomSamWeights(cfg: SamConfig, seed: number): Map<string, HostTensor> {
  const random = rng(seed);
  const out = new Map<string, HostTensor>();
  for (const [key, shape] of samWeightShapes(cfg)) {
    const isNormScale =
      /norm\d?\.weight$|neck\.[13]\.weight$|output_upscaling\.1\.weight$|mask_downscaling\.[14]\.weight$/.test(
        key,
      );
    const t = randomTensor(shape, random, [-0.02, 0.02]);
    if (isNormScale) (t.data as Float32Array).fill(1);
    out.set(key, t);
  }
  return out;
}

async function inferenceTime(size: number, repeats: number, warmup: number) {
  const cfg = { ...SAM_PRESETS.vit_b, imageSize: size };
  const store = new ParamStore(new Graph(), randomSamWeights(cfg, 1));
  const x = store.graph.input("image", [1, 3, size, size]);
  const out = samForward(store, cfg, x, {}, { multimask: true });
  const fn = await compile([x], [out.masks, out.iou]);
  const image = randomTensor([1, 3, size, size], rng(2), [-2, 2]);
  return time(() => fn.run({ image }), repeats, warmup);
}

export async function benchSam(args: string[]): Promise<void> {
  const repeats = flag(args, "repeats", 3);
  const warmup = flag(args, "warmup", 1);
  console.error(
    `sam: ViT-B prompt-free inference at 512 and 1024, ${repeats} runs after ${warmup} warm-up...`,
  );
  const t512 = await inferenceTime(512, repeats, warmup);
  const t1024 = await inferenceTime(1024, repeats, warmup);
  const ours = {
    infer_1024_ms: t1024.median,
    infer_512_ms: t512.median,
    infer_1024_min_ms: t1024.min,
    infer_512_min_ms: t512.min,
    peak_rss_mb: peakRssMb(),
  };
  console.error("sam: PyTorch peer...");
  const peer = runPeer("bench/peer/sam_bench.py", [`--repeats=${repeats}`, `--warmup=${warmup}`]);
  const results = { ...ours, ...peer, machine: machine(), threads: 2, date: new Date().toISOString() };
  writeResults("bench/results/sam.json", results);
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  const t = (k: string) => peer[k] as number;
  updateBenchmarksMd(
    "sam",
    `## SAM ViT-B inference (\`npm run bench -- sam\`)

${results.machine}; onnxruntime-node CPU EP, 2 intra-op threads; peer: our PyTorch port of segment-anything (bench/peer/sam_torch.py), PyTorch ${String(peer.torch_version)}, 2 threads, OpenBLAS.
Random ViT-B weights, one image, prompt-free (SAMed) decoding with 3 masks: image encoder + prompt encoder + mask decoder. Medians of ${repeats} runs after ${warmup} warm-up.

| input | udeg (ms) | PyTorch (ms) | udeg / PyTorch |
|---|---|---|---|
| 1024 x 1024 | ${ours.infer_1024_ms} | ${t("torch_infer_1024_ms")} | ${ratio(ours.infer_1024_ms, t("torch_infer_1024_ms"))} |
| 512 x 512 | ${ours.infer_512_ms} | ${t("torch_infer_512_ms")} | ${ratio(ours.infer_512_ms, t("torch_infer_512_ms"))} |

Peak RSS (whole benchmark process, both sizes): udeg ${ours.peak_rss_mb} MB, PyTorch ${String(peer.torch_peak_rss_mb)} MB. Date: ${results.date}.`,
  );
  console.log(JSON.stringify(results, null, 2));
}
