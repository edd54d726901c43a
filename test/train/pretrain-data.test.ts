// The pretraining mix: real sets contribute their train parts only (a seeded tenth held out as
// pretraining's val, the rest repeated up to minPerSet), never their val or test parts; phantoms
// join with their own split.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { openDataset } from "../../src/data/dataset.js";
import { writePretrainMix } from "../../src/train/pretrain-data.js";
import { sliceDataset } from "./helpers.js";

test("a real set's train part joins the mix (a tenth held out for val, the rest repeated); its val and test parts never do", async () => {
  const real = sliceDataset({
    train: ["slice_020", "slice_025", "slice_030", "slice_035"],
    val: ["slice_040"],
    test: ["slice_050", "slice_051"],
  });
  const dir = join(mkdtempSync(join(tmpdir(), "udeg-mix-")), "data");
  const mix = await writePretrainMix(dir, {
    kinds: ["shapes"],
    count: 10,
    seed: 1,
    shapes: { rims: 0, speckle: 0 },
    real: [real],
    minPerSet: 7,
  });
  const split = JSON.parse(readFileSync(join(dir, "split.json"), "utf8"));
  const realTrain = split.train.filter((n: string) => n.includes("__"));
  // Of 4 train images one is held out as val (a tenth, at least one); 3 repeated ceil(7 / 3) = 3 times.
  const realVal = split.val.filter((n: string) => n.includes("__")).map((n: string) => n.split("__")[1]);
  assert.equal(realVal.length, 1);
  assert.ok(["slice_020", "slice_025", "slice_030", "slice_035"].includes(realVal[0]));
  assert.equal(realTrain.length, 9);
  assert.ok(
    !realTrain.some((n: string) => n.split("__")[1] === realVal[0]),
    "the held-out image is not trained on",
  );
  const kept = realTrain.find((n: string) => !n.includes("__r"))!;
  assert.ok(realTrain.includes(`${kept}__r2`));
  assert.deepEqual(split.test, []);
  const files = readdirSync(join(dir, "images"));
  assert.ok(!files.some((f) => f.includes("slice_05")), "no test image is linked");
  assert.ok(!files.some((f) => f.includes("slice_040")), "no val image is linked");
  assert.ok(
    files.some((f) => f.startsWith("shapes")),
    "phantoms are in the mix",
  );
  const linked = files.find((f) => f.includes("slice_020") && !f.includes("__r"))!;
  assert.equal(
    realpathSync(join(dir, "images", linked)),
    realpathSync(join(real, "images", "slice_020.png")),
  );
  assert.equal(mix.train, split.train.length);
  assert.match(mix.sources.at(-1)!, /train 3 \(x3\), val 1 \(held out of its train part\)$/);
  // The mix opens as a dataset and loads a real sample through the links.
  // The held-out image does not depend on the chunk's seed: chunks compare on the same images.
  const other = join(mkdtempSync(join(tmpdir(), "udeg-mix-")), "data");
  await writePretrainMix(other, {
    kinds: [],
    count: 0,
    seed: 4,
    shapes: { rims: 0, speckle: 0 },
    real: [real],
    minPerSet: 0,
  });
  const otherVal = JSON.parse(readFileSync(join(other, "split.json"), "utf8")).val.map(
    (n: string) => n.split("__")[1],
  );
  assert.deepEqual(otherVal, realVal);
  const ds = await openDataset(dir);
  const s = await ds.load(realTrain[0]);
  assert.equal(s.image.width, 128);
  assert.ok(existsSync(join(dir, "masks", `${realTrain[0]}.png`)));
});
