// The pretraining mix: real sets contribute their train parts (repeated up to minPerSet) and val
// parts, never their test parts; phantoms join with their own split.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { openDataset } from "../../src/data/dataset.js";
import { writePretrainMix } from "../../src/train/pretrain-data.js";
import { sliceDataset } from "./helpers.js";

test("a real set's train part (repeated) and val part join the mix; its test part never does", async () => {
  const real = sliceDataset({
    train: ["slice_020", "slice_025", "slice_030"],
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
  // 3 images repeated ceil(7 / 3) = 3 times.
  assert.equal(realTrain.length, 9);
  assert.ok(realTrain.includes(`${realTrain[0].split("__")[0]}__slice_020__r2`));
  assert.deepEqual(
    split.val.filter((n: string) => n.includes("__")).map((n: string) => n.split("__")[1]),
    ["slice_040"],
  );
  assert.deepEqual(split.test, []);
  const files = readdirSync(join(dir, "images"));
  assert.ok(!files.some((f) => f.includes("slice_05")), "no test image is linked");
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
  assert.match(mix.sources.at(-1)!, /train 3 \(x3\), val 1$/);
  // The mix opens as a dataset and loads a real sample through the links.
  const ds = await openDataset(dir);
  const s = await ds.load(realTrain[0]);
  assert.equal(s.image.width, 128);
  assert.ok(existsSync(join(dir, "masks", `${realTrain[0]}.png`)));
});
