import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  affineImage,
  affineLabels,
  augmentPair,
  flipImage,
  flipLabels,
  rot90Image,
  rot90Labels,
} from "../../src/data/augment.js";
import { hashSeed, Rng } from "../../src/engine/random.js";
import type { LabelMap, PlanarImage } from "../../src/io/planar-image.js";

/** A 3-channel image whose value encodes the mask: 200 * label + 10 * channel, so geometry can be checked. */
function pair(h: number, w: number, seed = 1): { image: PlanarImage; mask: LabelMap } {
  const rng = new Rng(seed);
  const mask = new Uint8Array(h * w);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) mask[y * w + x] = (x - w / 3) ** 2 + (y - h / 2) ** 2 < (h / 3) ** 2 ? 1 : 0;
  mask[0] = 2; // a third label in a corner
  const data = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < h * w; i++)
      data[c * h * w + i] = mask[i] === 1 ? 200 + 10 * c : mask[i] === 2 ? 50 : rng.int(20);
  return {
    image: { data, channels: 3, height: h, width: w, quantized: true },
    mask: { data: mask, height: h, width: w },
  };
}

const GEOMETRY_ONLY = { brightness: false, contrast: false, gamma: false, noise: false } as const;

describe("PRNG", () => {
  test("same seed, same stream; keys give independent streams", () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 5 }, () => a.next());
    assert.deepEqual(
      xs,
      Array.from({ length: 5 }, () => b.next()),
    );
    assert.notDeepEqual(
      xs,
      Array.from({ length: 5 }, () => new Rng(43).next()),
    );
    assert.notEqual(hashSeed(1, "augment", 0, 5), hashSeed(1, "augment", 0, 6));
    assert.notEqual(hashSeed(1), hashSeed(2 ** 32 + 1));
    const r = new Rng(7);
    let mean = 0;
    let sq = 0;
    for (let i = 0; i < 20000; i++) {
      const z = r.normal();
      mean += z / 20000;
      sq += (z * z) / 20000;
    }
    assert.ok(Math.abs(mean) < 0.05 && Math.abs(sq - 1) < 0.05, `normal: mean ${mean}, var ${sq}`);
  });
});

describe("geometric transforms", () => {
  const { image, mask } = pair(9, 14);

  test("flip twice is the identity; rot90 four times is the identity; rot90(1) then rot90(3) too", () => {
    for (const h of [true, false]) {
      assert.deepEqual(flipImage(flipImage(image, h), h), image);
      assert.deepEqual(flipLabels(flipLabels(mask, h), h), mask);
    }
    let img = image;
    let m = mask;
    for (let k = 0; k < 4; k++) {
      img = rot90Image(img, 1);
      m = rot90Labels(m, 1);
      assert.deepEqual([img.height, img.width], k % 2 === 0 ? [14, 9] : [9, 14]);
    }
    assert.deepEqual(img, image);
    assert.deepEqual(m, mask);
    assert.deepEqual(rot90Labels(rot90Labels(mask, 1), 3), mask);
    assert.deepEqual(rot90Labels(mask, 2), flipLabels(flipLabels(mask, true), false));
  });

  test("rot90 follows numpy.rot90 (counter-clockwise)", () => {
    // [[1, 2], [3, 4], [5, 6]] -> np.rot90 -> [[2, 4, 6], [1, 3, 5]]
    const m = { data: new Uint8Array([1, 2, 3, 4, 5, 6]), height: 3, width: 2 };
    const r = rot90Labels(m, 1);
    assert.deepEqual([r.height, r.width, ...r.data], [2, 3, 2, 4, 6, 1, 3, 5]);
  });

  test("identity affine is the identity; an affine keeps mask values in the label set", () => {
    const id = { rotation: 0, scale: 1, tx: 0, ty: 0 };
    assert.deepEqual(affineImage(image, id).data, image.data);
    assert.deepEqual(affineLabels(mask, id), mask);
    const a = { rotation: 13, scale: 1.08, tx: 1.5, ty: -2 };
    const m = affineLabels(mask, a);
    assert.ok(m.data.every((v) => v === 0 || v === 1 || v === 2));
    assert.ok(m.data.some((v) => v === 1));
    // Rotating by 90 degrees about the centre of a square equals rot90 (counter-clockwise).
    const sq = pair(10, 10, 3);
    assert.deepEqual(
      affineLabels(sq.mask, { rotation: 90, scale: 1, tx: 0, ty: 0 }),
      rot90Labels(sq.mask, 1),
    );
    // A shift by whole pixels moves the mask by that many pixels (filling with 0).
    const shifted = affineLabels(sq.mask, { rotation: 0, scale: 1, tx: 2, ty: 1 });
    assert.equal(shifted.data[(1 + 4) * 10 + 2 + 4], sq.mask.data[4 * 10 + 4]);
    assert.equal(shifted.data[0], 0);
  });
});

describe("augmentPair", () => {
  const { image, mask } = pair(32, 40);

  test("same seed, same augmentation; different seeds differ", () => {
    const a = augmentPair(image, mask, new Rng(5));
    const b = augmentPair(image, mask, new Rng(5));
    assert.deepEqual(a, b);
    const outs = new Set(
      Array.from({ length: 8 }, (_, s) => augmentPair(image, mask, new Rng(s)).applied.join()),
    );
    assert.ok(outs.size > 4, `only ${outs.size} distinct augmentations in 8 seeds`);
  });

  test("image and mask move together (flips, rot90, no affine: exact)", () => {
    for (let s = 0; s < 16; s++) {
      const r = augmentPair(image, mask, new Rng(s), { ...GEOMETRY_ONLY, affine: false, rot90: 0.7 });
      const n = r.mask.height * r.mask.width;
      assert.equal(r.image.height * r.image.width, n);
      for (let i = 0; i < n; i++) {
        const v = r.image.data[i]!;
        const l = r.mask.data[i]!;
        assert.ok(
          l === 1 ? v === 200 : l === 2 ? v === 50 : v < 20,
          `seed ${s} pixel ${i}: label ${l}, image ${v}`,
        );
      }
    }
  });

  test("with the affine: labels stay in the set and agree with the image away from edges", () => {
    const opts = {
      ...GEOMETRY_ONLY,
      affine: { p: 1, maxRotation: 15, scale: [0.9, 1.1] as const, maxTranslate: 0.05 },
    };
    for (let s = 0; s < 8; s++) {
      const r = augmentPair(image, mask, new Rng(s), opts);
      assert.ok(r.applied.some((x) => x.startsWith("affine")));
      let agree = 0;
      let clear = 0;
      for (let i = 0; i < r.mask.data.length; i++) {
        const l = r.mask.data[i]!;
        assert.ok(l <= 2);
        const v = r.image.data[i]!;
        if (v > 195 || v < 20) {
          clear++;
          if (v > 195 === (l === 1)) agree++;
        }
      }
      assert.ok(agree / clear > 0.98, `seed ${s}: ${agree}/${clear}`);
    }
  });

  test("intensity changes touch the image only and stay within 0..255", () => {
    const opts = {
      flipHorizontal: 0,
      flipVertical: 0,
      rot90: 0,
      affine: false,
      brightness: { p: 1, max: 0.3 },
      contrast: { p: 1, range: [0.5, 1.5] as const },
      gamma: { p: 1, range: [0.5, 2] as const },
      noise: { p: 1, std: 0.2 },
    } as const;
    const r = augmentPair(image, mask, new Rng(9), opts);
    assert.equal(r.applied.length, 4);
    assert.deepEqual(r.mask, mask);
    assert.ok(r.image.data.every((v) => v >= 0 && v <= 255));
    assert.notDeepEqual(r.image.data, image.data);
    assert.equal(image.data[1], pair(32, 40).image.data[1], "the input is not modified");
    // Noise is shared across channels: a grey image stays grey.
    const grey = { ...image, data: new Float32Array(image.data.length).fill(100) };
    const g = augmentPair(grey, mask, new Rng(3), opts);
    const n = 32 * 40;
    assert.deepEqual(g.image.data.subarray(0, n), g.image.data.subarray(2 * n));
  });
});
