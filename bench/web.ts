// In-browser inference against onnxruntime-node, same model files: a UDEG-Net run from the
// bundled tiny base at 128 px (what the demo trains) and one on a ViT-B SAM (random weights,
// the size of SAM/MedSAM's) at 512 px, each exported as the web viewer's encoder and decoder.
// The browser is Debian's Chromium, headless, driving the real page served by `udeg serve`
// (onnxruntime-web on wasm, threads as the page sets them); Node runs the same files through
// InteractiveModel. Both get the same brain slice.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toPlanar } from "../src/data/preprocess.js";
import { bundledBrainData, demoOverrides } from "../src/demo/demo.js";
import { writeSafetensors } from "../src/io/checkpoints/index.js";
import { readImage } from "../src/io/images/images.js";
import { SAM_PRESETS } from "../src/sam/config.js";
import { modelFromRun } from "../src/serve/model-files.js";
import { startViewerServer } from "../src/serve/server.js";
import { train } from "../src/train/trainer.js";
import { resolveConfig } from "../src/udeg/config.js";
import { tensorsOf } from "../src/udeg/run-folder.js";
import type { WebModelMeta } from "../src/udeg/web-meta.js";
import { launchChromium } from "../test/browser.js";
import {
  flag,
  interactiveModel,
  machine,
  round,
  stats,
  type Timing,
  updateBenchmarksMd,
  writeResults,
} from "./common.js";
import { randomSamWeights } from "./sam.js";

interface Timings {
  encoderMs: number[];
  decoderMs: number[];
}

interface ModelCase {
  name: string;
  /** Trains a short run (the weights do not matter for timing) and returns its folder. */
  run: (data: string) => Promise<string>;
  runs: number;
}

/** A run of `overrides` for two steps on the brain slices. */
async function shortRun(data: string, overrides: Record<string, unknown>): Promise<string> {
  const run = join(mkdtempSync(join(tmpdir(), "udeg-bench-web-")), "run");
  const config = resolveConfig({ overrides });
  await train({ data, out: run, config, progress: false, log: () => {} });
  return run;
}

const CASES = (runs: number): ModelCase[] => [
  {
    name: "UDEG-Net, tiny base, 128 px",
    runs,
    run: (data) => {
      const o = demoOverrides("udeg", 1) as { train: Record<string, unknown> };
      return shortRun(data, { ...o, train: { ...o.train, maxSteps: 2 } });
    },
  },
  {
    name: "UDEG-Net, ViT-B SAM (random weights), 512 px",
    runs: Math.max(3, Math.round(runs / 10)),
    run: (data) => {
      const sam = join(mkdtempSync(join(tmpdir(), "udeg-bench-vitb-")), "sam_vit_b_random.safetensors");
      const weights = randomSamWeights(SAM_PRESETS.vit_b, 1);
      writeSafetensors(sam, tensorsOf([...weights.keys()], [...weights.values()]));
      return shortRun(data, {
        model: { sam, samArch: "vit_b", imageSize: 512 },
        train: { epochs: 1, maxSteps: 1, batchSize: 1, augment: false },
      });
    },
  },
];

/** Encoder and decoder times of the run's split export in onnxruntime-node. */
async function nodeTimings(dir: string, meta: WebModelMeta, slice: string, runs: number): Promise<Timings> {
  const model = await interactiveModel(dir, meta);
  const src = await readImage(slice);
  const image = {
    data: toPlanar(src.data, src.height, src.width, src.channels),
    channels: src.channels,
    height: src.height,
    width: src.width,
    quantized: true,
  };
  const out: Timings = { encoderMs: [], decoderMs: [] };
  let encoded = await model.encode(image); // warm-up
  await model.decode(encoded);
  for (let i = 0; i < runs; i++) {
    encoded = await model.encode(image);
    out.encoderMs.push(encoded.encoderMs);
    out.decoderMs.push((await model.decode(encoded)).decoderMs);
  }
  return out;
}

/** The same in the page, in Chromium, wasm backend. */
async function browserTimings(
  served: ReturnType<typeof modelFromRun>,
  slice: string,
  runs: number,
): Promise<Timings & { backend: string; threads: number }> {
  const server = await startViewerServer({ model: served, port: 0 });
  const browser = await launchChromium("the web benchmark");
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}?backend=wasm`);
    const wait = { timeout: 600000 };
    await page.waitForFunction(() => window.udegViewer.state().modelLoaded, undefined, wait);
    await page.setInputFiles("input[type=file]", slice);
    await page.waitForFunction(() => window.udegViewer.state().hasResult, undefined, wait);
    return await page.evaluate((n) => window.udegViewer.benchmark(n), runs);
  } finally {
    await browser.close();
    await server.close();
  }
}

export async function benchWeb(args: string[]): Promise<void> {
  const runs = flag(args, "runs", 20);
  const data = bundledBrainData();
  const slice = join(data, "images", "slice_030.png");
  const results: Record<string, unknown>[] = [];
  const rows: string[] = [];
  let threads = 0;
  const ratio = (a: number, b: number) => `${round(a / b, 2)}x`;
  const cell = (t: Timing) => `${round(t.median, 1)} (min ${round(t.min, 1)})`;
  for (const c of CASES(runs)) {
    console.error(`web: ${c.name}: a short run, then ${c.runs} runs in Node and in Chromium ...`);
    const run = await c.run(data);
    const served = modelFromRun(run);
    const meta = served.meta as unknown as WebModelMeta;
    const node = await nodeTimings(join(run, "web"), meta, slice, c.runs);
    const web = await browserTimings(served, slice, c.runs);
    threads = web.threads;
    const r = {
      model: c.name,
      runs: c.runs,
      node: { encoder: stats(node.encoderMs), decoder: stats(node.decoderMs) },
      browser: {
        encoder: stats(web.encoderMs),
        decoder: stats(web.decoderMs),
        backend: web.backend,
        threads: web.threads,
      },
    };
    results.push(r);
    console.error(`  browser encoder ${r.browser.encoder.median} ms, Node ${r.node.encoder.median} ms`);
    rows.push(
      `| ${c.name} | encoder (once per image) | ${c.runs} | ${cell(r.browser.encoder)} | ${cell(r.node.encoder)} | ${ratio(r.browser.encoder.median, r.node.encoder.median)} |`,
      `| | decoder (per click) | ${c.runs} | ${cell(r.browser.decoder)} | ${cell(r.node.decoder)} | ${ratio(r.browser.decoder.median, r.node.decoder.median)} |`,
    );
  }
  const file = { results, machine: machine(), date: new Date().toISOString() };
  writeResults("bench/results/web.json", file);
  updateBenchmarksMd(
    "web",
    `## Web viewer: browser (wasm) against onnxruntime-node (\`npm run bench -- web\`)

${file.machine}. The split export (encoder + decoder) of each model; one 128 x 128 brain slice (resized to the
model size); runs after a warm-up, milliseconds. Browser: Debian Chromium headless, the page served by
\`udeg serve\`, onnxruntime-web wasm with ${threads} thread(s). Node: onnxruntime-node (CPU EP, intra-op threads =
cores) through the same InteractiveModel code, in the same run.

| model | part | runs | browser median | Node median | browser / Node |
|---|---|---|---|---|---|
${rows.join("\n")}

Date: ${file.date}.`,
  );
  console.log(JSON.stringify(file, null, 2));
}
