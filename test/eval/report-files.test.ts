import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { type Shape2D, SplitEvaluator } from "../../src/eval/metrics/index.js";
import { metricsCsv, writeMetrics } from "../../src/eval/report-files.js";

function rect(shape: Shape2D, y0: number, x0: number, y1: number, x1: number): Uint8Array {
  const m = new Uint8Array(shape[0] * shape[1]);
  for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) m[y * shape[1] + x] = 1;
  return m;
}

function splitSummary() {
  const s: Shape2D = [12, 12];
  const ev = new SplitEvaluator({ spacing: [0.5, 0.5] });
  const gt = rect(s, 2, 2, 5, 5);
  const pred = rect(s, 2, 4, 5, 7);
  const prob = Float64Array.from(pred, (v) => (v ? 0.9 : 0.2));
  const u = Float32Array.from(pred, (v, i) => (v !== gt[i] ? 0.8 : 0.1));
  ev.add({
    id: "case, one",
    shape: s,
    pred,
    gt,
    prob,
    uncertainty: u,
    trust: { trust: 0.75, flagged: false },
  });
  ev.add({
    id: 'quote"d|pipe',
    shape: s,
    pred: new Uint8Array(144),
    gt,
    trust: { trust: 0.01, flagged: true },
  });
  ev.add({ shape: s, pred: new Uint8Array(144), gt: new Uint8Array(144) });
  return ev.summary();
}

describe("writeMetrics", () => {
  test("writes metrics.json, metrics.csv and metrics.md, and leaves no temporary file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "udeg-metrics-"));
    try {
      const summary = splitSummary();
      const out = join(dir, "nested", "eval");
      const paths = await writeMetrics(out, summary);
      assert.deepEqual(readdirSync(out).sort(), ["metrics.csv", "metrics.json", "metrics.md"]);

      const json = JSON.parse(readFileSync(paths.json, "utf8"));
      assert.deepEqual(Object.keys(json.mean), [
        "dice",
        "iou",
        "sensitivity",
        "precision",
        "hd95",
        "assd",
        "bf1",
        "bf2",
        "ece",
        "auroc_u",
        "ueo",
      ]);
      assert.equal(json.per_image.length, 3);
      // shifted squares, spacing 0.5: hd95 = 2 px * 0.5 = 1; the one-empty image is null and skipped
      assert.equal(json.per_image[0].hd95, 1);
      assert.equal(json.per_image[1].hd95, null);
      assert.ok(json.per_image[1].flags.includes("distance_undefined"));
      assert.equal(json.mean.hd95, 0.5); // (1 + 0) / 2, both-empty image counts 0
      assert.equal(json.skipped.hd95, 1);
      assert.equal(json.per_image[0].auroc_u, 1); // u is high exactly on the errors
      assert.equal(json.pooled.auroc_u, 1);
      assert.equal(json.conventions.spacing[0], 0.5);
      // squares shifted by half their width: half of each found; the empty prediction finds none
      // and has no precision, the both-empty image neither ratio
      assert.equal(json.per_image[0].sensitivity, 0.5);
      assert.equal(json.per_image[0].precision, 0.5);
      assert.equal(json.mean.sensitivity, 0.25);
      assert.equal(json.mean.precision, 0.5);
      assert.equal(json.skipped.sensitivity, 1);
      assert.equal(json.skipped.precision, 2);

      const csv = readFileSync(paths.csv, "utf8").trimEnd().split("\n");
      assert.equal(csv.length, 1 + 3 + 1);
      assert.equal(
        csv[0],
        "id,dice,iou,sensitivity,precision,hd95,assd,bf1,bf2,ece,auroc_u,ueo,ueo_tau,trust,flags",
      );
      // The trust flag's score per image, and the flagged image's "untrusted" flag.
      assert.match(csv[1]!, /,0\.75,$/);
      assert.match(csv[2]!, /,0\.01,[a-z_;]*;untrusted$/);
      assert.match(csv[3]!, /,,both_empty;no_prob;no_uncertainty$/, "not judged: an empty trust field");
      assert.equal(json.per_image[1].trust, 0.01);
      assert.equal(json.per_image[2].trust, null);
      assert.equal(json.flag_counts.untrusted, 1);
      assert.ok(csv[1]!.startsWith('"case, one",0.5,'));
      assert.ok(csv[2]!.startsWith('"quote""d|pipe",0,0,0,,,,'));
      assert.ok(csv[3]!.startsWith("image_2,1,1,,,0,0,"));
      assert.ok(csv[4]!.startsWith("mean,0.5,"));
      assert.ok(csv[4]!.includes("skipped_hd95=1"));
      assert.equal(metricsCsv(summary), readFileSync(paths.csv, "utf8"));

      const md = readFileSync(paths.md, "utf8");
      assert.match(md, /\| hd95 \| 0\.5000 \| 0\.5000 \| 2 \| 1 \|/);
      assert.match(md, /quote"d\\\|pipe/);
      assert.match(md, /Pooled over all pixels/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("overwrites existing reports", async () => {
    const dir = mkdtempSync(join(tmpdir(), "udeg-metrics-"));
    try {
      const summary = splitSummary();
      await writeMetrics(dir, summary);
      summary.per_image = summary.per_image.slice(0, 1);
      await writeMetrics(dir, summary);
      assert.equal(JSON.parse(readFileSync(join(dir, "metrics.json"), "utf8")).per_image.length, 1);
      assert.equal(readdirSync(dir).length, 3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
