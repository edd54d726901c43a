// UDEG-Net on onnxruntime's WebGPU provider (SwiftShader where there is no GPU): five training
// steps give the CPU's loss and gradient norm, inference gives its outputs, and no node of either
// graph falls back to the CPU. A small model keeps it to a minute or two on a software device.
import "../webgpu-env.js";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { openDataset } from "../../src/data/index.js";
import { fallbackNodes } from "../../src/engine/index.js";
import { graphPlacements } from "../../src/train/placement.js";
import { train } from "../../src/train/trainer.js";
import { resolveConfig } from "../../src/udeg/config.js";
import { UdegPredictor } from "../../src/udeg/predictor.js";
import { runPath } from "../../src/udeg/run-folder.js";
import { sliceDataset, smallConfig } from "./helpers.js";

const data = sliceDataset({
  train: ["slice_020", "slice_030", "slice_040", "slice_050"],
  val: ["slice_035"],
});

async function fiveSteps(device: "cpu" | "webgpu") {
  const out = join(mkdtempSync(join(tmpdir(), `udeg-${device}-`)), "run");
  const config = resolveConfig({ overrides: smallConfig({ maxSteps: 5, epochs: 5, device }) });
  const lines: string[] = [];
  await train({ data, out, config, progress: false, log: (l) => lines.push(l) });
  assert.ok(!lines.some((l) => /fall back/.test(l)), `no fallback warning: ${lines.join(" | ")}`);
  const steps = readFileSync(runPath(out, "log"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((r) => r.type === "step");
  return {
    out,
    steps: steps.map((s) => ({
      loss: s.loss as number,
      norm: s.grad_norm as number,
      bytes: s.host_bytes as number,
    })),
  };
}

test("[webgpu] five UDEG-Net training steps give the CPU's loss and gradient norm (1e-4 relative)", async () => {
  const cpu = await fiveSteps("cpu");
  const gpu = await fiveSteps("webgpu");
  assert.equal(gpu.steps.length, 5);
  const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
  gpu.steps.forEach((s, i) => {
    const c = cpu.steps[i]!;
    assert.ok(rel(s.loss, c.loss) < 1e-4, `step ${i + 1}: loss ${s.loss} vs ${c.loss}`);
    assert.ok(rel(s.norm, c.norm) < 1e-4, `step ${i + 1}: grad norm ${s.norm} vs ${c.norm}`);
  });

  // On the GPU the parameters and AdamW moments stay there between steps: only the batch goes up
  // and the loss terms come down. On the CPU provider every step carries all of them both ways.
  const batch = 2 * 3 * 64 * 64 * 4 + 2 * 2 * 64 * 64 * 4 * 2; // images, one-hot mask and edge targets
  for (const s of gpu.steps.slice(1)) {
    assert.ok(s.bytes < 1.2 * batch + 100_000, `webgpu step moved ${s.bytes} bytes (batch ${batch})`);
    assert.ok(s.bytes < cpu.steps[1]!.bytes / 4, `webgpu ${s.bytes} vs cpu ${cpu.steps[1]!.bytes} bytes`);
  }

  // Inference of the trained run: the same outputs on both providers.
  const ds = await openDataset(data);
  const sample = await ds.load("slice_035");
  const [a, b] = await Promise.all([
    UdegPredictor.load(cpu.out).then((p) => p.predict(sample.image)),
    UdegPredictor.load(cpu.out, { ep: "webgpu", cpuFallback: false }).then((p) => p.predict(sample.image)),
  ]);
  for (const key of ["prob", "uncertainty", "edge"] as const) {
    let m = 0;
    for (let i = 0; i < a[key].length; i++) m = Math.max(m, Math.abs(a[key][i]! - b[key][i]!));
    assert.ok(m < 1e-4, `${key} differs by ${m}`);
  }

  // Nothing falls back, node by node (what `udeg doctor` reports; the sessions above ran with
  // CPU fallback forbidden: the trainer tries that first and says when it has to allow it).
  for (const g of await graphPlacements(cpu.out)) {
    const p = await fallbackNodes(g.outputs, "webgpu");
    assert.equal(p.fallbackNodes, 0, `${g.name}: ${JSON.stringify(p.fallback)}`);
    assert.ok(p.nodes > 100);
  }
});
