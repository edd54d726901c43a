// The trust benchmark's embedding distances (bench/trust.ts), by hand.
import assert from "node:assert/strict";
import { test } from "node:test";
import { diagonalDistance, embeddingStats, nearestCosineDistance } from "../../bench/trust.js";

test("the diagonal distance is the mean squared per-channel z-score against the reference", () => {
  const rows = [new Float32Array([0, 10]), new Float32Array([2, 10]), new Float32Array([4, 10])];
  const stats = embeddingStats(rows);
  assert.deepEqual([...stats.mean], [2, 10]);
  // variance (population) of 0, 2, 4 is 8/3; channel 2 is constant (variance 0).
  assert.ok(Math.abs(stats.variance[0]! - 8 / 3) < 1e-12);
  assert.equal(stats.variance[1], 0);
  // floor = mean variance x 1e-2 = (8/3 / 2) x 1e-2; e = [6, 10]: ((6-2)^2 / (8/3 + floor) + 0) / 2.
  const floor = (8 / 3 / 2) * 1e-2;
  assert.ok(Math.abs(diagonalDistance(new Float32Array([6, 10]), stats) - 16 / (8 / 3 + floor) / 2) < 1e-9);
  assert.ok(diagonalDistance(new Float32Array([2, 10]), stats) < 1e-12, "the mean itself is at distance 0");
});

test("the kNN distance is 1 - the best cosine similarity to a reference embedding", () => {
  const rows = [new Float32Array([1, 0]), new Float32Array([0, 1])];
  assert.ok(Math.abs(nearestCosineDistance(new Float32Array([3, 0]), rows)) < 1e-12);
  assert.ok(Math.abs(nearestCosineDistance(new Float32Array([1, 1]), rows) - (1 - Math.SQRT1_2)) < 1e-7);
  assert.ok(Math.abs(nearestCosineDistance(new Float32Array([-1, -1]), rows) - (1 + Math.SQRT1_2)) < 1e-7);
});
