// Boundary F-score against hand-counted contours.
import assert from "node:assert/strict";
import { test } from "node:test";
import { boundaryF, boundaryScore, evaluateCase } from "../../src/eval/metrics/index.js";

/** A w x h mask with the square rows r0..r1, cols c0..c1 (inclusive) set. */
function square(w: number, h: number, r0: number, r1: number, c0: number, c1: number): Uint8Array {
  const m = new Uint8Array(w * h);
  for (let y = r0; y <= r1; y++) for (let x = c0; x <= c1; x++) m[y * w + x] = 1;
  return m;
}

test("BF: identical masks 1; one empty 0; both empty 1", () => {
  const a = square(7, 5, 1, 3, 1, 3);
  assert.equal(boundaryF(a, a, [5, 7], 1), 1);
  assert.equal(boundaryF(new Uint8Array(35), a, [5, 7], 2), 0);
  assert.equal(boundaryF(a, new Uint8Array(35), [5, 7], 2), 0);
  assert.equal(boundaryF(new Uint8Array(35), new Uint8Array(35), [5, 7], 1), 1);
});

test("BF: a 3x3 square shifted by one and by two columns (contours of 8 pixels, counted by hand)", () => {
  const gt = square(7, 5, 1, 3, 1, 3);
  const by1 = square(7, 5, 1, 3, 2, 4);
  // every contour pixel of the shifted square is within 1 px of the other's: 8 / 8
  assert.equal(boundaryF(by1, gt, [5, 7], 1), 1);
  // at 0.5 px only the 4 shared contour pixels count: P = R = 4 / 8
  const half = boundaryScore(by1, gt, [5, 7], 0.5);
  assert.equal(half.precision, 0.5);
  assert.equal(half.recall, 0.5);
  assert.equal(half.f, 0.5);
  // shifted by two: distances 0,1,2 / 0,2 / 0,1,2 per row -> 5 of 8 within 1 px, all within 2
  const by2 = square(7, 5, 1, 3, 3, 5);
  const s = boundaryScore(by2, gt, [5, 7], 1);
  assert.equal(s.precision, 5 / 8);
  assert.equal(s.recall, 5 / 8);
  assert.equal(boundaryF(by2, gt, [5, 7], 2), 1);
});

test("evaluateCase reports bf1 and bf2", () => {
  const gt = square(7, 5, 1, 3, 1, 3);
  const r = evaluateCase({ shape: [5, 7], pred: square(7, 5, 1, 3, 3, 5), gt });
  assert.equal(r.bf1, 0.625);
  assert.equal(r.bf2, 1);
});
