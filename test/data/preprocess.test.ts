import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  padImage,
  padLabels,
  preprocessPair,
  resizeImage,
  resizeInfo,
  resizeLabels,
  restoreLabels,
  restoreMaps,
  SAM_PIXEL_MEAN,
  toPlanar,
} from "../../src/data/preprocess.js";
import { Rng } from "../../src/engine/random.js";
import type { PlanarImage } from "../../src/io/planar-image.js";
import { preprocessShape, resizePilBilinear } from "../../src/sam/transforms.js";

function randomImage(h: number, w: number, seed: number): { hwc: Uint8Array; planar: PlanarImage } {
  const rng = new Rng(seed);
  const hwc = new Uint8Array(h * w * 3).map(() => rng.int(256));
  return { hwc, planar: { data: toPlanar(hwc, h, w, 3), channels: 3, height: h, width: w, quantized: true } };
}

describe("SAM-style resize", () => {
  test("resizeInfo follows ResizeLongestSide.get_preprocess_shape", () => {
    for (const [h, w, s] of [
      [480, 640, 1024],
      [577, 333, 1024],
      [128, 128, 256],
      [1000, 7, 512],
      [3, 1000, 1024],
    ] as const) {
      const info = resizeInfo(h, w, s);
      assert.deepEqual([info.resizedHeight, info.resizedWidth], preprocessShape(h, w, s));
      assert.equal(info.padBottom, s - info.resizedHeight);
      assert.equal(info.padRight, s - info.resizedWidth);
    }
  });

  test("8-bit images: bit-identical to the PIL BILINEAR port in sam/transforms (up and down)", () => {
    for (const [h, w, oh, ow, seed] of [
      [37, 53, 74, 106, 1],
      [64, 48, 29, 22, 2],
      [30, 90, 100, 300, 3],
      [17, 17, 17, 40, 4],
    ] as const) {
      const { hwc, planar } = randomImage(h, w, seed);
      const ref = toPlanar(resizePilBilinear(hwc, h, w, 3, oh, ow), oh, ow, 3);
      const out = resizeImage(planar, oh, ow);
      assert.deepEqual(out.data, ref, `${h}x${w} -> ${oh}x${ow}`);
    }
  });

  test("float images: the same filter unrounded (constant stays constant, close to the uint8 result)", () => {
    const { planar } = randomImage(40, 30, 5);
    const f = resizeImage({ ...planar, quantized: false }, 70, 55);
    const q = resizeImage(planar, 70, 55);
    let worst = 0;
    for (let i = 0; i < f.data.length; i++) worst = Math.max(worst, Math.abs(f.data[i]! - q.data[i]!));
    assert.ok(worst <= 1, `float vs uint8 differ by ${worst}`);
    const flat: PlanarImage = {
      data: new Float32Array(3 * 20 * 10).fill(77.25),
      channels: 3,
      height: 20,
      width: 10,
    };
    assert.ok(resizeImage(flat, 7, 31).data.every((v) => Math.abs(v - 77.25) < 1e-4));
  });

  test("nearest resize of labels keeps the label set; integer upscale then restore is the identity", () => {
    const labels = new Uint8Array(13 * 9).map((_, i) => (i * 7) % 4);
    const up = resizeLabels({ data: labels, height: 13, width: 9 }, 50, 33);
    assert.ok(up.data.every((v) => v < 4));
    const mask = {
      data: new Uint8Array(64 * 32).map((_, i) => (i % 5 === 0 ? 2 : i % 3 === 0 ? 1 : 0)),
      height: 64,
      width: 32,
    };
    const image: PlanarImage = {
      data: new Float32Array(3 * 64 * 32).fill(9),
      channels: 3,
      height: 64,
      width: 32,
      quantized: true,
    };
    const p = preprocessPair(image, mask, 128);
    assert.deepEqual(
      [p.info.resizedHeight, p.info.resizedWidth, p.info.padBottom, p.info.padRight],
      [128, 64, 0, 64],
    );
    assert.deepEqual(restoreLabels(p.mask.data, p.info), mask.data);
  });

  test("padding: bottom/right, SAM's pixel mean by default, labels 0", () => {
    const image: PlanarImage = {
      data: new Float32Array(3 * 2 * 3).fill(5),
      channels: 3,
      height: 2,
      width: 3,
    };
    const p = padImage(image, 4);
    assert.equal(p.data[0], 5);
    assert.equal(p.data[3], Math.fround(SAM_PIXEL_MEAN[0]!)); // column 3 of row 0
    assert.equal(p.data[16 + 8], Math.fround(SAM_PIXEL_MEAN[1]!)); // row 2 of plane 1
    assert.equal(padImage(image, 4, 0).data[3], 0);
    const l = padLabels({ data: new Uint8Array(6).fill(1), height: 2, width: 3 }, 4);
    assert.deepEqual([...l.data], [1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  test("restoreMaps crops the padding and resizes back", () => {
    const info = resizeInfo(30, 60, 64); // resized 32 x 64, pad 32 rows
    const maps = new Float32Array(2 * 64 * 64);
    for (let c = 0; c < 2; c++)
      for (let y = 0; y < 64; y++)
        for (let x = 0; x < 64; x++) maps[(c * 64 + y) * 64 + x] = y < 32 ? c + 0.5 : 99;
    const back = restoreMaps(maps, 2, info);
    assert.equal(back.length, 2 * 30 * 60);
    assert.ok(back.subarray(0, 1800).every((v) => Math.abs(v - 0.5) < 1e-6));
    assert.ok(back.subarray(1800).every((v) => Math.abs(v - 1.5) < 1e-6));
  });
});
