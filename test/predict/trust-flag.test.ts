// The trust flag end to end (issue 28): training ends with trust.json; `udeg predict` writes
// OUT/summary.json with every image's trust and flag, says how many are flagged, and exits 3 with
// --fail-on-flag; `udeg eval` carries the trust per image; the SEG's descriptions say it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { writePng } from "../../src/io/images/images.js";
import { segTrustText } from "../../src/predict/dicom.js";
import { readRunTrust, runPath } from "../../src/udeg/run-folder.js";
import { ITK, twoStepRun } from "../train/helpers.js";

const udeg = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "test/cli/udeg-cli.ts", ...args], { encoding: "utf8" });

test("predict: summary.json judges every image; a training image is trusted, a stripe pattern is flagged", async () => {
  const dir = mkdtempSync(join(tmpdir(), "udeg-trust-"));
  const run = await twoStepRun(join(dir, "run"));
  const cal = readRunTrust(run);
  assert.ok(cal, `${runPath(run, "trust")} written when training ended`);
  assert.deepEqual(cal.images, { train: 2, val: 1 });

  const input = join(dir, "in");
  mkdirSync(input);
  copyFileSync(join(ITK, "images", "slice_020.png"), join(input, "a_train_slice.png"));
  // Not a brain: bright vertical stripes.
  const [w, h] = [96, 96];
  const stripes = new Uint8Array(w * h).map((_, i) => ((i % w) % 8 < 4 ? 255 : 0));
  await writePng(join(input, "b_stripes.png"), {
    width: w,
    height: h,
    channels: 1,
    data: stripes,
    bitDepth: 8,
  });

  const out = join(dir, "out");
  const r = udeg("predict", "--model", run, "--input", input, "--out", out, "--quiet");
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
  assert.equal(summary.images.length, 2);
  const [train, stripe] = summary.images;
  assert.deepEqual([train.input, train.trust, train.flagged], ["a_train_slice.png", 1, false]);
  assert.equal(stripe.input, "b_stripes.png");
  assert.equal(stripe.flagged, true, `stripes trusted at ${stripe.trust}`);
  assert.ok(stripe.trust < 0.05);
  assert.equal(summary.flagged, 1);
  assert.match(r.stderr, /trust: 1 of 2 image\(s\) FLAGGED as unlike the training data \(b_stripes\.png\)/);

  const failing = udeg(
    "predict",
    "--model",
    run,
    "--input",
    input,
    "--out",
    join(dir, "o2"),
    "--quiet",
    "--fail-on-flag",
  );
  assert.equal(failing.status, 3, "--fail-on-flag: exit 3 when an image is flagged");
  const clean = join(dir, "clean");
  mkdirSync(clean);
  copyFileSync(join(ITK, "images", "slice_020.png"), join(clean, "x.png"));
  const passing = udeg(
    "predict",
    "--model",
    run,
    "--input",
    clean,
    "--out",
    join(dir, "o3"),
    "--quiet",
    "--fail-on-flag",
  );
  assert.equal(passing.status, 0, passing.stderr);
  assert.match(passing.stderr, /trust: none of 1 image\(s\) flagged/);
  assert.ok(existsSync(join(dir, "o3", "summary.json")));
});

test("the SEG's descriptions carry the lowest trust and warn when a frame is flagged (LO: 64 characters)", () => {
  assert.deepEqual(segTrustText([{ input: "a", trust: null, flagged: null }]), {});
  const ok = segTrustText([
    { input: "a", trust: 0.8, flagged: false },
    { input: "b", trust: 0.4, flagged: false },
  ]);
  assert.deepEqual(ok, {
    seriesDescription: "UDEG-Net segmentation",
    contentDescription: "Automatic segmentation (UDEG-Net), lowest trust 0.40",
  });
  const bad = segTrustText([
    { input: "a", trust: 0.8, flagged: false },
    { input: "b", trust: 0.004, flagged: true },
  ]);
  assert.equal(bad.seriesDescription, "UDEG-Net segmentation - CHECK: 1 of 2 unlike training");
  assert.equal(bad.contentDescription, "Automatic segmentation (UDEG-Net), lowest trust 0.00");
  for (const v of Object.values(bad)) assert.ok(v.length <= 64);
});
