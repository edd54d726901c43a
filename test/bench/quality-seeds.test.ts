// The quality benchmark's spread over seeds (`npm run bench -- quality --seeds=N`): the targets are
// judged on these means, so they are checked by hand here; and the benchmarks' count flags.
import assert from "node:assert/strict";
import { test } from "node:test";
import { flag } from "../../bench/common.js";
import { meanOf, sdOf } from "../../bench/quality.js";

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
