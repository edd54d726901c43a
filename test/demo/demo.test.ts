import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { probability } from "../../src/cli/parse.js";
import { DEFAULT_DEMO, runDemo, unetReference } from "../../src/demo/demo.js";
import { readSafetensors, toFloat32 } from "../../src/io/checkpoints/index.js";
import { DEFAULT_PRETRAIN, pretrain } from "../../src/train/pretrain.js";
import { train } from "../../src/train/trainer.js";
import { resolveConfig } from "../../src/udeg/config.js";
import { BASE_FILES, type BaseFile, basePath } from "../../src/udeg/run-folder.js";
import { sliceDataset } from "../train/helpers.js";

test("udeg demo (shortened) trains on its three real sets and writes a self-contained report", async () => {
  const out = join(mkdtempSync(join(tmpdir(), "udeg-demo-")), "demo");
  const lines: string[] = [];
  const path = await runDemo({
    ...DEFAULT_DEMO,
    out,
    epochs: 1,
    presets: ["udeg", "samed"],
    examples: 2,
    progress: false,
    log: (l) => lines.push(l),
  });
  assert.equal(path, join(out, "report.html"));
  const html = readFileSync(path, "utf8");
  assert.match(html, /Fetal head ultrasound \(HC18\)/);
  assert.match(html, /Colonoscopy polyps \(Kvasir-SEG\)/);
  assert.match(html, /ITK brain MRI/);
  assert.doesNotMatch(html, /phantoms\b.*domain/i);
  // What the base saw in pretraining is said, from its manifest.
  assert.match(
    html,
    /What the bundled &quot;real&quot; base saw in pretraining \(its manifest\): phantoms: 1200 each.*real sets, train parts only.*HC18 train/s,
  );
  assert.ok((html.match(/<img /g) ?? []).length >= 3 * 2 * 5, "image grid for two examples per domain");
  assert.ok(html.includes("samed"), "ablation row");
  assert.ok(!/https?:\/\//.test(html), "no external resources");
  // The kept epoch (the run's summary) reaches the report: ringed for both presets in both domains.
  const rings = html.match(/class="mark-symbol role-mark marked_marks"[^>]*>.*?<\/g>/gs) ?? [];
  assert.equal(rings.length, 3, "one ring layer per domain's val plot");
  for (const r of rings)
    assert.equal(r.match(/aria-label="epoch: 1; Dice: [\d.]+; series: (udeg|samed)"/g)?.length, 2, r);
  assert.ok(
    lines.some((l) => l.includes("[6/6]")),
    "progress lines",
  );
  // A second run reuses the finished trainings instead of training again.
  const again: string[] = [];
  await runDemo({
    ...DEFAULT_DEMO,
    out,
    epochs: 1,
    presets: ["udeg", "samed"],
    examples: 2,
    progress: false,
    log: (l) => again.push(l),
  });
  assert.equal(again.filter((l) => l.includes("already trained")).length, 6);
});

test("udeg pretrain writes a base (weights, config, manifest) that --base can adapt", async () => {
  const dir = join(mkdtempSync(join(tmpdir(), "udeg-base-")), "base");
  const manifest = await pretrain({
    ...DEFAULT_PRETRAIN,
    out: dir,
    seed: 3,
    count: 12,
    epochs: 1,
    rims: 0.5,
    speckle: 0.25,
    progress: false,
    log: () => {},
  });
  for (const f of Object.keys(BASE_FILES) as BaseFile[]) assert.ok(existsSync(basePath(dir, f)), f);
  assert.match(manifest.command, /udeg pretrain --seed 3 --count 12 --epochs 1 .*--rims 0.5 --speckle 0.25 /);
  assert.match(manifest.data, /shapes with labelled rims p 0.5, shapes speckled p 0.25/);
  assert.throws(() => probability("--rims")("1.5"), /--rims must be a number in \[0, 1\], got "1.5"/);
  assert.throws(() => probability("--rims")(""), /--rims/);
  assert.equal(probability("--rims")("0"), 0);
  assert.equal(manifest.sha256.length, 64);
  const data = sliceDataset({ train: ["slice_020", "slice_030"], val: ["slice_040"] });
  const config = resolveConfig({
    overrides: { model: { base: dir, imageSize: 128 }, train: { epochs: 1, batchSize: 2, augment: false } },
  });
  const s = await train({ data, out: join(dir, "..", "run"), config, progress: false, log: () => {} });
  assert.equal(s.steps, 1);

  // A second sitting continues from the first (same architecture, not re-initialised) and records both.
  const next = join(dir, "..", "base2");
  const continued = await pretrain({
    ...DEFAULT_PRETRAIN,
    out: next,
    seed: 4,
    count: 12,
    epochs: 1,
    width: 32, // ignored: the init base's architecture wins
    init: dir,
    progress: false,
    log: () => {},
  });
  assert.match(continued.command, /--seed 3 .*; then udeg pretrain --seed 4 .*--init /);
  assert.match(continued.command, /; then udeg pretrain --seed 4 .*--rims 0 /);
  assert.doesNotMatch(
    continued.data.split("; then ")[1]!,
    /rims|speckle/,
    "a sitting without rims or speckle says none",
  );
  assert.equal(continued.steps, manifest.steps + 6, "36 phantoms, 70 % train, batch 4: 6 more steps");
  assert.deepEqual(
    readFileSync(basePath(next, "samConfig"), "utf8"),
    readFileSync(basePath(dir, "samConfig"), "utf8"),
  );
  const first = readSafetensors(basePath(dir, "model")).tensors.get("mask_decoder.iou_token.weight")!;
  const second = readSafetensors(basePath(next, "model")).tensors.get("mask_decoder.iou_token.weight")!;
  const a = toFloat32(first);
  const b = toFloat32(second);
  const drift = Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
  assert.ok(drift > 0 && drift < 0.05, `continued, not restarted: weights moved by ${drift}`);
});

test("the report's U-Net row comes from the quality benchmark's results, only for the same epochs", () => {
  const dir = mkdtempSync(join(tmpdir(), "udeg-q-"));
  const path = join(dir, "quality.json");
  writeFileSync(
    path,
    JSON.stringify({
      "itk-brain": { unet: { dice: 0.87, hd95: 5.5, bf1: 0.71, train_seconds: 1000 } },
      epochs: 30,
      machine: "AMD EPYC, 2 cores",
      date: "2026-12-06T08:00:00.000Z",
    }),
  );
  const row = unetReference("itk-brain", 30, path);
  assert.ok(row);
  assert.equal(row.metrics.dice, 0.87);
  assert.equal(row.metrics.bf1, 0.71);
  assert.equal(row.metrics.ece, null, "what the benchmark did not record is missing, not invented");
  assert.match(
    row.reference!,
    /npm run bench -- quality-smoke.*AMD EPYC, 2 cores, 2026-12-06.*not trained by this demo/,
  );
  assert.equal(unetReference("itk-brain", 12, path), null, "other epochs: not comparable");
  assert.equal(unetReference("ultrasound", 30, path), null, "no row for that set");
  assert.equal(unetReference("itk-brain", 30, join(dir, "missing.json")), null);
});
