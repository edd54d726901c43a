// `udeg predict --input FOLDER` on DICOM series: one SEG per series over its instances in slice
// order; and the bad series of issue 13 refused with the files named: a duplicate instance,
// two instances at one position, a missing slice, a SEG given as an image.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, test } from "node:test";
import { predictFiles } from "../../src/predict/files.js";
import { makeCtSeries } from "../io/dicom-series.js";
import { twoStepRun } from "../train/helpers.js";

const dir = mkdtempSync(join(tmpdir(), "udeg-series-"));
let run: string;
const quiet = () => {};

before(async () => {
  run = join(dir, "run");
  await twoStepRun(run);
});

test("a series folder: one SEG over its 4 instances, frames in slice order; per-slice outputs by file name", async () => {
  const input = join(dir, "ct");
  const series = makeCtSeries(input, 4);
  const out = join(dir, "out");
  await predictFiles({ model: run, input, out, quiet: true }, quiet);
  const seg = join(out, `${series}.seg.dcm`);
  assert.ok(existsSync(seg), `${readdirSync(out).join(", ")}`);
  for (const f of readdirSync(input)) assert.ok(existsSync(join(out, f.replace(".dcm", "_mask.png"))), f);
  const check = `
import sys, json, pydicom
seg = pydicom.dcmread(sys.argv[1])
print(json.dumps([float(f.PlanePositionSequence[0].ImagePositionPatient[2]) for f in seg.PerFrameFunctionalGroupsSequence]))`;
  const r = spawnSync("/usr/bin/python3", ["-c", check, seg], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const z = JSON.parse(r.stdout) as number[];
  assert.equal(z.length, 4);
  assert.ok(
    z.every((v, i) => i === 0 || v > z[i - 1]!),
    `slice order: ${z}`,
  );
});

test("bad series: a duplicate instance, a missing slice, a SEG given as an image: clear errors, nothing half written", async () => {
  const dup = join(dir, "dup");
  makeCtSeries(dup, 3);
  const [first] = readdirSync(dup);
  copyFileSync(join(dup, first!), join(dup, "zz_copy.dcm"));
  const outDup = join(dir, "out-dup");
  await assert.rejects(
    predictFiles({ model: run, input: dup, out: outDup, quiet: true }, quiet),
    /are the same instance/,
  );
  assert.ok(
    !existsSync(outDup) || readdirSync(outDup).every((f) => !f.endsWith(".seg.dcm")),
    "no SEG written",
  );

  const gap = join(dir, "gap");
  makeCtSeries(gap, 5);
  // slice_NN names are (k * 7) % 5 for instance k: remove instance 2 (the middle) -> slice_04
  rmSync(join(gap, "slice_04.dcm"));
  await assert.rejects(
    predictFiles({ model: run, input: gap, out: join(dir, "out-gap"), quiet: true }, quiet),
    /missing slices/,
  );

  const segIn = join(dir, "segin");
  const firstSeg = readdirSync(join(dir, "out")).find((f) => f.endsWith(".seg.dcm"))!;
  makeCtSeries(segIn, 1);
  copyFileSync(join(dir, "out", firstSeg), join(segIn, "result.dcm"));
  await assert.rejects(
    predictFiles(
      { model: run, input: join(segIn, "result.dcm"), out: join(dir, "out-seg"), quiet: true },
      quiet,
    ),
    /result: a DICOM SEG \(a segmentation\), not an image/,
  );
});
