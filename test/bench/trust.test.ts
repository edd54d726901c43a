// The trust benchmark's comparison score (bench/trust.ts), by hand.
import assert from "node:assert/strict";
import { test } from "node:test";
import { nearestCosineDistance } from "../../bench/trust.js";

test("the kNN distance is 1 - the best cosine similarity to a reference embedding", () => {
  const rows = [new Float32Array([1, 0]), new Float32Array([0, 1])];
  assert.ok(Math.abs(nearestCosineDistance(new Float32Array([3, 0]), rows)) < 1e-12);
  assert.ok(Math.abs(nearestCosineDistance(new Float32Array([1, 1]), rows) - (1 - Math.SQRT1_2)) < 1e-7);
  assert.ok(Math.abs(nearestCosineDistance(new Float32Array([-1, -1]), rows) - (1 + Math.SQRT1_2)) < 1e-7);
});
