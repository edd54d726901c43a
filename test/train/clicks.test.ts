import assert from "node:assert/strict";
import { test } from "node:test";
import { sampleClicks } from "../../src/train/clicks.js";

// Two 8 x 8 masks in a 10 x 10 model input (rows/cols 8, 9 are padding): a square object, and
// an image with no foreground at all.
const S = 10;
function masks(): Uint8Array {
  const m = new Uint8Array(2 * S * S);
  for (let y = 2; y < 5; y++) for (let x = 3; x < 7; x++) m[y * S + x] = 1;
  return m;
}
const info = [0, 1].map(() => ({ resizedHeight: 8, resizedWidth: 8 }));

test("clicks land on the object (positive) or the image's background (negative), never on padding", () => {
  const m = masks();
  let positives = 0;
  let negatives = 0;
  for (let index = 0; index < 200; index++) {
    const c = sampleClicks(m, info, S, { probability: 1, max: 3 }, { seed: 1, epoch: 0, index });
    for (let b = 0; b < 2; b++) {
      let seenEmpty = false;
      let clicks = 0;
      for (let k = 0; k < 3; k++) {
        const label = c.labels[b * 3 + k]!;
        if (label === -1) {
          seenEmpty = true;
          continue;
        }
        assert.ok(!seenEmpty, "clicks fill the first slots");
        clicks++;
        const [x, y] = [c.coords[(b * 3 + k) * 2]!, c.coords[(b * 3 + k) * 2 + 1]!];
        assert.ok(x < 8 && y < 8, `click (${x}, ${y}) on padding`);
        assert.equal(m[b * S * S + y * S + x], label, `label ${label} at (${x}, ${y})`);
        if (label === 1) positives++;
        else negatives++;
      }
      assert.ok(clicks >= 1, "probability 1: every image gets a click");
      if (b === 1)
        assert.ok(
          c.labels.subarray(3, 6).every((l) => l !== 1),
          "no object, no positive click",
        );
    }
  }
  assert.ok(positives > 100 && negatives > 100, `${positives} positive, ${negatives} negative`);
});

test("clicks are a function of (seed, epoch, batch); probability 0 leaves every slot empty", () => {
  const m = masks();
  const key = { seed: 3, epoch: 2, index: 5 };
  const a = sampleClicks(m, info, S, { probability: 0.5, max: 3 }, key);
  const b = sampleClicks(m, info, S, { probability: 0.5, max: 3 }, key);
  assert.deepEqual(a, b);
  const other = sampleClicks(m, info, S, { probability: 1, max: 3 }, { ...key, epoch: 3 });
  assert.notDeepEqual(a, other);
  const none = sampleClicks(m, info, S, { probability: 0, max: 3 }, key);
  assert.ok(none.labels.every((l) => l === -1));
  // About a quarter of images clicked at probability 0.25.
  let clicked = 0;
  for (let index = 0; index < 400; index++) {
    const c = sampleClicks(m, info, S, { probability: 0.25, max: 2 }, { seed: 0, epoch: 0, index });
    clicked += Number(c.labels[0] !== -1) + Number(c.labels[2] !== -1);
  }
  assert.ok(clicked > 150 && clicked < 250, `${clicked} of 800 images clicked`);
});
