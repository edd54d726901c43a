// A run chooses its mask post-processing on its val part when training ends, and every reader
// applies it: udeg predict's predictor, the export's metadata and meta.json (the page).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { openDataset } from "../../src/data/index.js";
import { metaFromOnnx } from "../../src/serve/model-files.js";
import { meanClassDice } from "../../src/train/run-end.js";
import { exportRun, exportWebModels } from "../../src/udeg/export.js";
import { keepLargestComponent } from "../../src/udeg/postprocess.js";
import { UdegPredictor } from "../../src/udeg/predictor.js";
import { readRunPostprocess, runPath, writeRunPostprocess } from "../../src/udeg/run-folder.js";
import { ITK, twoStepRun } from "./helpers.js";

test("training ends by choosing the post-processing on val; predict and the exports carry it", async () => {
  const run = await twoStepRun(join(mkdtempSync(join(tmpdir(), "udeg-post-")), "run"));
  const written = JSON.parse(readFileSync(runPath(run, "postprocess"), "utf8"));
  assert.equal(written.val.images, 1, "the one val slice");
  assert.equal(typeof written.postprocess.largestComponent, "boolean");
  assert.equal(written.postprocess.largestComponent, written.val.diceWith > written.val.diceWithout);

  const image = (await (await openDataset(ITK)).load("slice_040")).image;
  writeRunPostprocess(run, { postprocess: { largestComponent: false }, val: written.val });
  const raw = await (await UdegPredictor.load(run)).predict(image);
  writeRunPostprocess(run, { postprocess: { largestComponent: true }, val: written.val });
  const kept = await (await UdegPredictor.load(run)).predict(image);
  assert.notDeepEqual(
    raw.labels,
    keepLargestComponent(raw.labels, raw.width, raw.height),
    "a two-step mask has strays",
  );
  assert.deepEqual(kept.labels, keepLargestComponent(raw.labels, raw.width, raw.height));
  assert.deepEqual(readRunPostprocess(run), { largestComponent: true });

  const onnx = join(mkdtempSync(join(tmpdir(), "udeg-post-")), "m.onnx");
  exportRun(run, onnx);
  assert.deepEqual(metaFromOnnx(onnx).postprocess, { largestComponent: true });
  const meta = exportWebModels(run, mkdtempSync(join(tmpdir(), "udeg-post-web-")));
  assert.deepEqual(meta.postprocess, { largestComponent: true });
});

test("a run's post-processing file that is not one is refused, naming the file and the fix", async () => {
  const run = mkdtempSync(join(tmpdir(), "udeg-post-"));
  assert.deepEqual(readRunPostprocess(run), { largestComponent: false }, "runs from before: none");
  writeRunPostprocess(run, {
    postprocess: { largestComponent: "yes" as never },
    val: { images: 0, diceWith: 0, diceWithout: 0 },
  });
  assert.throws(
    () => readRunPostprocess(run),
    /postprocess\.json: no postprocess\.largestComponent .*delete the file/,
  );
});

test("the val score of a label image is the mean Dice over its foreground classes (by hand)", () => {
  // class 1: pred {0,1}, truth {0} -> 2/3; class 2: pred {3}, truth {2,3} -> 2/3.
  assert.ok(Math.abs(meanClassDice(Uint8Array.of(1, 1, 0, 2), [1, 0, 2, 2], 2) - 2 / 3) < 1e-12);
});
