// In-browser inference against onnxruntime-node, same model files: a UDEG-Net run from the
// bundled tiny base at 128 px (what the demo trains), exported as the web viewer's encoder and
// decoder. The browser is Debian's Chromium, headless, driving the real page served by
// `udeg serve` (onnxruntime-web on wasm, threads as the page sets them); Node runs the same
// files through InteractiveModel. Both get the same brain slice.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { toPlanar } from "../src/data/preprocess.js";
import { bundledBrainData, demoOverrides } from "../src/demo/demo.js";
import { readImage } from "../src/io/images.js";
import { modelFromRun } from "../src/serve/model-files.js";
import { startViewerServer } from "../src/serve/server.js";
import { train } from "../src/train/trainer.js";
import { resolveConfig } from "../src/udeg/config.js";
import { InteractiveModel } from "../src/udeg/interactive.js";
import { launchChromium } from "../test/browser.js";
import { flag, machine, round, stats, updateBenchmarksMd, writeResults } from "./common.js";

interface Timings {
  encoderMs: number[];
  decoderMs: number[];
}

export async function benchWeb(args: string[]): Promise<void> {
  const runs = flag(args, "runs", 20);
  const data = bundledBrainData();
  const slice = join(data, "images", "slice_030.png");
  const run = join(mkdtempSync(join(tmpdir(), "udeg-bench-web-")), "run");
  console.error("web: a short run from the tiny base (the weights do not matter for timing) ...");
  const overrides = demoOverrides("udeg", 1) as { train: Record<string, unknown> };
  overrides.train.maxSteps = 2;
  await train({ data, out: run, config: resolveConfig({ overrides }), progress: false, log: () => {} });
  const served = modelFromRun(run);

  // onnxruntime-node on the same files.
  const dir = join(run, "web");
  const session = (f: string) => ort.InferenceSession.create(join(dir, f));
  const meta = served.meta as { files: { encoder: string; decoder: string } } & ConstructorParameters<
    typeof InteractiveModel
  >[3];
  const model = new InteractiveModel(
    ort,
    await session(meta.files.encoder),
    await session(meta.files.decoder),
    meta,
  );
  const src = await readImage(slice);
  const image = {
    data: toPlanar(src.data, src.height, src.width, src.channels),
    channels: src.channels,
    height: src.height,
    width: src.width,
    quantized: true,
  };
  const node: Timings = { encoderMs: [], decoderMs: [] };
  let encoded = await model.encode(image); // warm-up
  await model.decode(encoded);
  for (let i = 0; i < runs; i++) {
    encoded = await model.encode(image);
    node.encoderMs.push(encoded.encoderMs);
    node.decoderMs.push((await model.decode(encoded)).decoderMs);
  }

  // The page in Chromium, wasm backend.
  const server = await startViewerServer({ model: served, port: 0 });
  const browser = await launchChromium("the web benchmark");
  let web: Timings & { backend: string; threads: number };
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}?backend=wasm`);
    await page.waitForFunction(() => window.udegViewer.state().modelLoaded, undefined, { timeout: 120000 });
    await page.setInputFiles("input[type=file]", slice);
    await page.waitForFunction(() => window.udegViewer.state().hasResult, undefined, { timeout: 120000 });
    web = await page.evaluate((n) => window.udegViewer.benchmark(n), runs);
  } finally {
    await browser.close();
    await server.close();
  }

  const s = (xs: number[]) => stats(xs);
  const file = {
    model: "UDEG-Net from the tiny base, 128 px (encoder + decoder of the split export)",
    runs,
    node: { encoder: s(node.encoderMs), decoder: s(node.decoderMs), threads: "intra-op = cores" },
    browser: {
      encoder: s(web.encoderMs),
      decoder: s(web.decoderMs),
      backend: web.backend,
      threads: web.threads,
    },
    machine: machine(),
    date: new Date().toISOString(),
  };
  writeResults("bench/results/web.json", file);
  const ratio = (a: number, b: number) => `${round(a / b, 2)}x`;
  const row = (name: string, b: { median: number; min: number }, n: { median: number; min: number }) =>
    `| ${name} | ${round(b.median, 1)} (min ${round(b.min, 1)}) | ${round(n.median, 1)} (min ${round(n.min, 1)}) | ${ratio(b.median, n.median)} |`;
  updateBenchmarksMd(
    "web",
    `## Web viewer: browser (wasm) against onnxruntime-node (\`npm run bench -- web\`)

${file.machine}. ${file.model}; one 128 x 128 brain slice; ${runs} runs each after a warm-up, milliseconds.
Browser: Debian Chromium headless, the page served by \`udeg serve\`, onnxruntime-web ${web.backend} with ${web.threads} thread(s).
Node: onnxruntime-node (CPU EP) through the same InteractiveModel code, in the same run.

| part | browser median | Node median | browser / Node |
|---|---|---|---|
${row("encoder (once per image)", file.browser.encoder, file.node.encoder)}
${row("decoder (per click)", file.browser.decoder, file.node.decoder)}

Date: ${file.date}.`,
  );
  console.log(JSON.stringify(file, null, 2));
}
