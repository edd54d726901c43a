// Largest-component post-processing (src/udeg/postprocess.ts), by hand.
import assert from "node:assert/strict";
import { test } from "node:test";
import { dice } from "../../src/eval/metrics/index.js";
import { choosePostprocess, keepLargestComponent, postprocessLabels } from "../../src/udeg/postprocess.js";

const grid = (rows: string[]) => Uint8Array.from(rows.join("").split("").map(Number));
const width = 6;
const height = 5;

test("each class keeps its largest 4-connected component; diagonal neighbours are apart", () => {
  const labels = grid([
    "110000", //
    "110010", // class 1: a 2x2 block (4 px) and a 2 px bar; (4,1)-(4,2)
    "000010",
    "000100", // (3,3) touches the bar only diagonally: its own component (1 px)
    "220002", // class 2: 2 px at the left, 1 px at the right
  ]);
  const out = keepLargestComponent(labels, width, height);
  assert.deepEqual([...out], [...grid(["110000", "110000", "000000", "000000", "220000"])]);
  assert.equal(postprocessLabels(labels, width, height, { largestComponent: false }), labels);
  assert.deepEqual(keepLargestComponent(new Uint8Array(30), width, height), new Uint8Array(30));
});

test("ties keep the component met first in raster order", () => {
  const labels = grid(["110011", "000000", "000000", "000000", "000000"]);
  assert.deepEqual(
    [...keepLargestComponent(labels, width, height)],
    [...grid(["110000", "000000", "000000", "000000", "000000"])],
  );
});

test("the val part decides: kept where it raises the mean Dice, not where objects are many", () => {
  const score = (p: Uint8Array, t: ArrayLike<number>) =>
    dice(
      Array.from(p, (v) => Number(v > 0)),
      Array.from(t, (v) => Number(v > 0)),
    );
  // One object and a stray false positive: removing the stray raises Dice (8/9 -> 1).
  const one = {
    labels: grid(["110000", "110000", "000000", "000001", "000000"]),
    truth: grid(["110000", "110000", "000000", "000000", "000000"]),
    width,
    height,
  };
  const chosen = choosePostprocess([one], score);
  assert.equal(chosen.postprocess.largestComponent, true);
  assert.ok(Math.abs(chosen.diceWithout - 8 / 9) < 1e-12);
  assert.equal(chosen.diceWith, 1);
  // Two true objects: keeping one loses the other (Dice 1 -> 2 x 4 / (4 + 6) = 0.8).
  const two = {
    labels: grid(["110000", "110000", "000000", "000011", "000000"]),
    truth: grid(["110000", "110000", "000000", "000011", "000000"]),
    width,
    height,
  };
  assert.equal(choosePostprocess([two], score).postprocess.largestComponent, false);
  assert.equal(choosePostprocess([], score).postprocess.largestComponent, false);
});
