import assert from "node:assert/strict";
import { test } from "node:test";
import { HostTensor } from "../../src/engine/index.js";
import { readSafetensors, toFloat32 } from "../../src/io/checkpoints/index.js";
import { WeightMismatchError } from "../../src/sam/checkpoint.js";
import { loadConfigFile, SAM_PRESETS } from "../../src/sam/config.js";
import { loadSam, SamPredictor } from "../../src/sam/model.js";
import { runParity } from "../../src/sam/parity.js";

const TINY = "test/fixtures/sam/tiny";
const SECOND = "test/fixtures/sam/second";

for (const dir of [TINY, SECOND]) {
  test(`parity with the reference implementation: ${dir}`, async () => {
    const rows = await runParity(dir);
    const bad = rows.filter((r) => !r.ok);
    assert.equal(
      bad.length,
      0,
      bad.map((r) => `${r.source} ${r.tensor}: abs ${r.maxAbs} rel ${r.rel}`).join("\n"),
    );
    // every weight file present was checked, plus gradients and transforms
    assert.ok(rows.some((r) => r.tensor.startsWith("grad.lora.")));
    assert.ok(rows.some((r) => r.tensor === "input_nchw"));
  });
}

function maxAbs(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

for (const dir of [TINY, SECOND]) {
  test(`SamPredictor: embedding once, prompt-free and point prompts in original pixels (${dir})`, async () => {
    const cfg = loadConfigFile(`${dir}/config.json`);
    const weights = loadSam(`${dir}/weights.safetensors`, cfg);
    const io = readSafetensors(`${dir}/io.safetensors`).tensors;
    const img = io.get("image_u8_hwc")!;
    const [h, w] = img.shape as [number, number];
    const predictor = new SamPredictor(cfg, weights);
    const emb = await predictor.setImage(img.data as Uint8Array, h, w);
    assert.ok(maxAbs(emb.data as Float32Array, toFloat32(io.get("image_embeddings")!)) < 1e-4);

    const free = await predictor.predict({ multimask: true });
    assert.equal(free.count, 3);
    assert.ok(maxAbs(free.masks, toFloat32(io.get("noprompt_multi_masks_original_size")!)) < 1e-4);
    assert.ok(maxAbs(free.iou, toFloat32(io.get("noprompt_multi_iou")!)) < 1e-4);

    // The fixture's points are in model-input pixels; the predictor takes original pixels.
    const scale = cfg.imageSize / Math.max(h, w);
    const coords = toFloat32(io.get("point_coords")!);
    const labels = Array.from(io.get("point_labels")!.data as BigInt64Array, Number);
    const points = labels.map((label, i) => ({
      x: coords[2 * i]! / scale,
      y: coords[2 * i + 1]! / scale,
      label: label as 0 | 1,
    }));
    const withPoints = await predictor.predict({ points, multimask: true });
    assert.ok(
      maxAbs(withPoints.lowResLogits.data as Float32Array, toFloat32(io.get("points_multi_masks")!)) < 1e-3,
    );

    await assert.rejects(predictor.predict({ points: [{ x: w + 5, y: 1, label: 1 }] }), /outside the/);
    await assert.rejects(predictor.predict({ box: [10, 10, 5, 5] }), /not inside/);
    await assert.rejects(
      predictor.predict({ maskInput: HostTensor.zeros([1, 1, 3, 3]) }),
      /mask input must be/,
    );
  });
}

test("a checkpoint for another model size fails with every mismatch listed", () => {
  assert.throws(
    () => loadSam(`${TINY}/weights.pth`, SAM_PRESETS.vit_b),
    (e: unknown) => {
      assert.ok(e instanceof WeightMismatchError);
      assert.match(e.message, /weights\.pth does not fit/);
      assert.match(e.message, /missing key: image_encoder\.blocks\.11\.attn\.qkv\.weight/);
      assert.match(e.message, /shape mismatch: image_encoder\.patch_embed\.proj\.weight/);
      assert.match(e.message, /--model/);
      return true;
    },
  );
});

test("a 128 checkpoint runs at image size 64 (pos_embed and global rel-pos interpolated)", async () => {
  const cfg = { ...loadConfigFile(`${TINY}/config.json`), imageSize: 64 };
  const weights = loadSam(`${TINY}/weights.safetensors`, cfg);
  assert.deepEqual(weights.get("image_encoder.pos_embed")!.shape, [1, 4, 4, 64]);
  const predictor = new SamPredictor(cfg, weights);
  const rgb = new Uint8Array(50 * 40 * 3).map((_, i) => (i * 37) % 256);
  await predictor.setImage(rgb, 50, 40);
  const p = await predictor.predict({});
  assert.equal(p.masks.length, 3 * 50 * 40);
  assert.ok(p.masks.every(Number.isFinite));
});
