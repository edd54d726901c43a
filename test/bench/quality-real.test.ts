// The real-image quality benchmark's plan (bench/quality-real.ts): which images each model trains
// on, how many epochs a set gets, the order of the cells (every set's seed 0 first, so a run cut
// short by the end of a session still has one whole table), and which sets count as unseen.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { cellOrder, epochsFor, RECIPE, seenByBase, writeSubset } from "../../bench/quality-real.js";

function fakeSet(train: number, val: number, testCount: number): string {
  const dir = mkdtempSync(join(tmpdir(), "udeg-real-"));
  mkdirSync(join(dir, "images"));
  mkdirSync(join(dir, "masks"));
  writeFileSync(join(dir, "images", "a.png"), "x");
  const names = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}${i}.png`);
  writeFileSync(
    join(dir, "split.json"),
    JSON.stringify({ train: names("tr", train), val: names("va", val), test: names("te", testCount) }),
  );
  return dir;
}

test("a subset: a seeded choice of train and val, the whole test part, images linked", () => {
  const src = fakeSet(300, 50, 40);
  const recipe = { ...RECIPE, train: 120, val: 30 };
  const a = writeSubset(src, join(mkdtempSync(join(tmpdir(), "udeg-sub-")), "s"), recipe);
  const bDir = join(mkdtempSync(join(tmpdir(), "udeg-sub-")), "s");
  const b = writeSubset(src, bDir, recipe);
  assert.equal(a.train.length, 120);
  assert.equal(new Set(a.train).size, 120);
  assert.equal(a.val.length, 30);
  assert.equal(a.test.length, 40);
  assert.deepEqual(a, b, "same seed, same subset");
  assert.ok(a.val.every((n) => n.startsWith("va")) && a.train.every((n) => n.startsWith("tr")));
  assert.notDeepEqual(a.train, JSON.parse(readFileSync(join(src, "split.json"), "utf8")).train.slice(0, 120));
  assert.deepEqual(readdirSync(join(bDir, "images")), ["a.png"], "images/ is the set's own, linked");
  assert.deepEqual(JSON.parse(readFileSync(join(bDir, "split.json"), "utf8")), b);
  const small = writeSubset(fakeSet(18, 2, 20), join(mkdtempSync(join(tmpdir(), "udeg-sub-")), "s"), recipe);
  assert.equal(small.train.length, 18, "a smaller train part is taken whole");
  assert.equal(small.val.length, 2);
});

test("epochs: the same image-steps for every set, a small set trains more epochs", () => {
  const recipe = { ...RECIPE, steps: 960 };
  assert.equal(epochsFor(recipe, 120), 8);
  assert.equal(epochsFor(recipe, 18), 53);
  assert.equal(epochsFor(recipe, 46), 21);
  assert.equal(epochsFor(recipe, 5000), 1);
});

test("cells: every set's seed 0 (udeg, U-Net, samed, no-edge) before seeds 1-2 (udeg and U-Net)", () => {
  const order = cellOrder(["A", "B"], 3);
  assert.equal(order.length, 2 * 4 + 2 * 2 * 2);
  assert.deepEqual(
    order.slice(0, 8).map((c) => `${c.set}/${c.model}/${c.seed}`),
    ["A/udeg/0", "A/unet/0", "A/samed/0", "A/no-edge/0", "B/udeg/0", "B/unet/0", "B/samed/0", "B/no-edge/0"],
  );
  assert.ok(order.slice(8).every((c) => c.seed > 0 && (c.model === "udeg" || c.model === "unet")));
});

test("seen and unseen sets come from the base's manifest", () => {
  assert.deepEqual([...seenByBase("real")].sort(), ["DSB2018-stage1test", "HC18", "Kvasir-SEG"]);
  assert.deepEqual([...seenByBase("tiny")], []);
});

test("a cached cell is reused only under what it depends on: the U-Net's not on the base or udeg's pipeline", async () => {
  const { cellKey } = await import("../../bench/quality-real.js");
  const other = { ...RECIPE, base: "tiny", pipeline: "another" };
  assert.deepEqual(cellKey("unet", RECIPE, "a"), cellKey("unet", other, "b"));
  assert.notDeepEqual(cellKey("udeg", RECIPE, "a"), cellKey("udeg", other, "a"));
  assert.notDeepEqual(cellKey("udeg", RECIPE, "a"), cellKey("udeg", RECIPE, "b"), "another base file");
  assert.notDeepEqual(cellKey("unet", RECIPE, "a"), cellKey("unet", { ...RECIPE, steps: 1 }, "a"));
});

test("the targets: udeg's seed means against the U-Net's and the ablations' (by hand)", async () => {
  const { judge } = await import("../../bench/quality-real.js");
  const cell = (model: string, seed: number, dice: number, hd95: number, bf1: number, auroc_u: number) =>
    ({ set: "S", model, seed, metrics: { dice, hd95, bf1, auroc_u } }) as never;
  const cells = [
    cell("udeg", 0, 0.8, 10, 0.3, 0.95),
    cell("udeg", 1, 0.7, 20, 0.2, 0.85), // means: Dice 0.75, HD95 15, BF 0.25, AUROC 0.90
    cell("unet", 0, 0.73, 15, 0.26, 0.8), // U-Net + 0.02 = 0.75: met (equal); HD95 15 <= 15: met; BF 0.25 < 0.26
    cell("samed", 0, 0.74, 0, 0, 0),
    cell("no-edge", 0, 0.76, 0, 0, 0), // udeg's mean 0.75 is below no-edge's 0.76
  ];
  assert.deepEqual(judge(cells, ["S"]), {
    "S: Dice >= U-Net + 0.02": true,
    "S: HD95 <= U-Net's": true,
    "S: BF@1px >= U-Net's": false,
    "S: >= samed and no-edge": false,
    "S: AUROC(u) >= 0.90": true,
  });
  assert.ok(
    Object.values(judge([], ["S"])).every((v) => v === false),
    "no cells: nothing met",
  );
});
