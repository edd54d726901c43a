import assert from "node:assert/strict";
import { test } from "node:test";
import { readSafetensors, toFloat32 } from "../../src/io/checkpoints/index.js";
import { loadConfigFile } from "../../src/sam/config.js";
import { postprocessMasks, prepareImage, resizePilBilinear } from "../../src/sam/transforms.js";

const fixtures = ["test/fixtures/sam/tiny", "test/fixtures/sam/second"];

function maxAbs(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

for (const dir of fixtures) {
  test(`prepareImage reproduces input_nchw of ${dir} (PIL resize, normalise, pad)`, () => {
    const cfg = loadConfigFile(`${dir}/config.json`);
    const io = readSafetensors(`${dir}/io.safetensors`).tensors;
    const img = io.get("image_u8_hwc")!;
    const [h, w] = img.shape as [number, number];
    const prepared = prepareImage(img.data as Uint8Array, h, w, cfg);
    const err = maxAbs(prepared.data, toFloat32(io.get("input_nchw")!));
    assert.ok(err < 1e-5, `max abs error ${err}`);
  });

  test(`postprocessMasks reproduces noprompt_multi_masks_original_size of ${dir}`, () => {
    const cfg = loadConfigFile(`${dir}/config.json`);
    const io = readSafetensors(`${dir}/io.safetensors`).tensors;
    const img = io.get("image_u8_hwc")!;
    const [h, w] = img.shape as [number, number];
    const low = io.get("noprompt_multi_masks")!;
    const [, n, lh, lw] = low.shape as [number, number, number, number];
    const prepared = prepareImage(img.data as Uint8Array, h, w, cfg);
    const out = postprocessMasks(toFloat32(low), n, [lh, lw], prepared.inputSize, [h, w], cfg.imageSize);
    const err = maxAbs(out, toFloat32(io.get("noprompt_multi_masks_original_size")!));
    assert.ok(err < 1e-4, `max abs error ${err}`);
  });
}

test("PIL bilinear: identity size copies, downscale averages (antialiasing)", () => {
  const src = Uint8Array.from([0, 100, 200, 50]);
  assert.deepEqual([...resizePilBilinear(src, 1, 4, 1, 1, 4)], [0, 100, 200, 50]);
  // 4 -> 2: the triangle filter widens to support 2, so output 0 (centre 1.0) takes inputs 0..2
  // with weights (0.75, 0.75, 0.25) / 1.75: (0 * 0.75 + 100 * 0.75 + 200 * 0.25) / 1.75 = 71.4 -> 71.
  // PIL 9.4: Image.fromarray(np.uint8([[0, 100, 200, 50]])).resize((2, 1), BILINEAR) -> [71, 121].
  assert.deepEqual([...resizePilBilinear(src, 1, 4, 1, 1, 2)], [71, 121]);
});
