// The quality benchmark's spread over seeds (`npm run bench -- quality --seeds=N`): the targets are
// judged on these means, so they are checked by hand here; the table of the images both models
// find hardest; and the benchmarks' count flags.
import assert from "node:assert/strict";
import { test } from "node:test";
import { flag } from "../../bench/common.js";
import { hardestImages, meanOf, sdOf } from "../../bench/quality.js";
import type { CaseResult } from "../../src/eval/metrics/index.js";

test("the mean and the population sd over seeds skip missing values (by hand)", () => {
  const rows = [{ dice: 0.8 }, { dice: 0.9 }, { dice: null }, { dice: 0.7 }, { dice: Number.NaN }];
  assert.ok(Math.abs(meanOf(rows, "dice")! - 0.8) < 1e-12);
  // sqrt(((0)^2 + 0.1^2 + 0.1^2) / 3), the population sd (ddof 0), as numpy.std.
  assert.ok(Math.abs(sdOf(rows, "dice")! - Math.sqrt(0.02 / 3)) < 1e-12);
  assert.equal(sdOf([{ dice: 0.5 }], "dice"), 0);
  assert.equal(meanOf([{ dice: null }], "dice"), null);
  assert.equal(sdOf([], "dice"), null);
});

test("a benchmark's count flag stops on a value that is not a whole number", () => {
  assert.equal(flag(["--seeds=3"], "seeds", 1), 3);
  assert.equal(flag([], "seeds", 1), 1);
  assert.throws(() => flag(["--seeds=abc"], "seeds", 1), /--seeds=abc: give a whole number/);
  assert.throws(() => flag(["--seeds=-1"], "seeds", 1), /whole number/);
  assert.throws(() => flag(["--seeds=1.5"], "seeds", 1), /whole number/);
});

test("the hardest images: lowest Dice of the two models together, with each one's sensitivity and precision", () => {
  const c = (id: string, dice: number, sensitivity: number | null, precision: number | null) =>
    ({ id, dice, sensitivity, precision }) as CaseResult;
  const udeg = [c("a", 0.9, 0.85, 0.95), c("b", 0, 0, null), c("c", 0.7, 0.6, 0.9), c("d", 0.95, 0.95, 0.95)];
  const unet = [c("d", 0.2, 0.9, 0.1), c("c", 0.8, 0.8, 0.8), c("b", 0.1, 0.5, 0.07), c("a", 0.9, 0.9, 0.9)];
  const rows = hardestImages({ brain: { udeg, unet }, other: { udeg } }, 2)
    .split("\n")
    .filter((l) => l.startsWith("| brain") || l.startsWith("| other"));
  // sums: b 0.1, d 1.15, c 1.5, a 1.8; matched by id, not by position; a set without the U-Net is left out
  assert.deepEqual(rows, [
    "| brain | b | 0.000 | 0.000 | n/a | 0.100 | 0.500 | 0.070 |",
    "| brain | d | 0.950 | 0.950 | 0.950 | 0.200 | 0.900 | 0.100 |",
  ]);
  assert.equal(hardestImages({ other: { udeg } }, 2), "");
});
