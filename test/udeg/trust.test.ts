// The trust flag's score (src/udeg/trust.ts) against hand-computed values.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  calibrateTrust,
  parseTrustCalibration,
  TrustJudge,
  trustFeature,
  trustFeatureOfGrid,
} from "../../src/udeg/trust.js";

const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) < 1e-6, `${what}: ${a} vs ${b}`);

test("the feature is the embedding's grid mean, then its standard deviation", () => {
  // Channel 0 over a 2x2 grid: 1, 3, 1, 3 (mean 2, sd 1); channel 1: 5 everywhere (sd 0).
  const f = trustFeatureOfGrid(Float32Array.of(1, 3, 1, 3, 5, 5, 5, 5), 2);
  assert.deepEqual([...f], [2, 5, 1, 0]);
  // From the graph's outputs (mean, mean of squares): E[x^2] = 5 for channel 0.
  assert.deepEqual([...trustFeature([2, 5], [5, 25])], [2, 5, 1, 0]);
  // A mean of squares a rounding below the squared mean gives sd 0, not NaN.
  assert.deepEqual([...trustFeature([3], [8.999999])], [3, 0]);
});

test("distance is the mean squared z-score to the nearest reference image; trust a conformal p-value", () => {
  // Training features (0, 0), (2, 0), (4, 0) and a val image (1, 0): the reference is all four,
  // x = 0, 1, 2, 4: center 7/4, spread sqrt(mean of squared deviations) = sqrt(8.75 / 4); y: 0.
  const cal = calibrateTrust(
    [Float32Array.of(0, 0), Float32Array.of(2, 0), Float32Array.of(4, 0)],
    [Float32Array.of(1, 0)],
    0.3,
  );
  const s = Math.sqrt(8.75 / 4);
  const floor = 1e-6 * (s / 2) + 1e-12;
  const z = (dx: number) => (dx / (s + floor)) ** 2 / 2; // dimension 2 adds 0
  assert.deepEqual(cal.images, { train: 3, val: 1 });
  close(cal.center[0]!, 7 / 4, "center");
  close(cal.spread[0]!, s, "spread");
  // Leave one out: 0, 1 and 2 are 1 from their nearest other, 4 is 2 from 2.
  assert.equal(cal.calibration.length, 4);
  for (const [i, v] of [z(1), z(1), z(1), z(2)].entries()) close(cal.calibration[i]!, v, `calibration ${i}`);
  const judge = new TrustJudge(cal);
  const at = (x: number) => judge.judge(Float32Array.of(x, 0));
  // On a reference image: distance 0; all 4 calibration distances are >= 0: trust (1 + 4) / 5.
  assert.equal(at(2).distance, 0);
  assert.equal(at(2).trust, 1);
  // 1.5 from the nearest (x = 5.5): 1 of 4 is >= z(1.5): trust 2/5, not flagged.
  close(at(5.5).distance, z(1.5), "distance at 5.5");
  close(at(5.5).trust, 2 / 5, "trust at 5.5");
  close(at(6).trust, 2 / 5, "as far as the farthest: 1 of 4 at least as far");
  assert.equal(at(5.5).flagged, false);
  // Farther than every calibration distance: 1/5 x z(2) / z(3) at x = 7, below alpha: flagged.
  close(at(7).trust, (1 / 5) * (z(2) / z(3)), "trust at 7");
  assert.equal(at(7).flagged, true);
});

test("a calibration survives JSON and a broken one is refused with the fix", () => {
  const cal = calibrateTrust([Float32Array.of(0.1, 0.2), Float32Array.of(0.3, 0.5)], []);
  const back = parseTrustCalibration(JSON.parse(JSON.stringify(cal)), "trust.json");
  assert.deepEqual(new TrustJudge(back).judge([0.1, 0.2]), new TrustJudge(cal).judge([0.1, 0.2]));
  assert.throws(
    () => parseTrustCalibration({ ...cal, format: "x" }, "run/trust.json"),
    /run\/trust\.json: not a trust calibration.*delete it/,
  );
  assert.throws(() => parseTrustCalibration({ ...cal, dims: 3 }, "t.json"), /center and spread must hold 3/);
  assert.throws(() => parseTrustCalibration({ ...cal, alpha: 2 }, "t.json"), /alpha/);
  assert.throws(() => new TrustJudge(cal).judge([1, 2, 3]), /3 numbers; the calibration 2/);
  assert.throws(() => calibrateTrust([Float32Array.of(1)], []), /at least 2 images/);
});
