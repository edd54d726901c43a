// A bundled base adapts at any --image-size: its position embedding and the global blocks'
// relative position tables are resized to the new token grid, as a SAM checkpoint's are.
import assert from "node:assert/strict";
import { test } from "node:test";
import { HostTensor } from "../../src/engine/index.js";
import { DEFAULT_BASE, resolveConfig } from "../../src/udeg/config.js";
import { buildInference } from "../../src/udeg/inference.js";
import { resolveModel } from "../../src/udeg/setup.js";

test("the default base at 192 px: a 24 x 24 token grid, and the model runs", async () => {
  const config = resolveConfig({ overrides: { model: { base: DEFAULT_BASE, imageSize: 192 } } });
  const resolved = resolveModel(config, 1);
  const cfg = resolved.model.cfg;
  const grid = 192 / cfg.patchSize;
  assert.deepEqual(resolved.weights.get("image_encoder.pos_embed")!.shape, [
    1,
    grid,
    grid,
    cfg.encoderEmbedDim,
  ]);
  for (const i of cfg.encoderGlobalAttnIndexes)
    assert.equal(resolved.weights.get(`image_encoder.blocks.${i}.attn.rel_pos_h`)!.shape[0], 2 * grid - 1);
  const infer = await buildInference(resolved.model, resolved.weights, 1);
  const out = await infer.fn.run({ image: HostTensor.zeros([1, 3, 192, 192]) });
  assert.deepEqual(out.probability!.shape, [1, 2, 192, 192]);
  assert.ok((out.probability!.data as Float32Array).every(Number.isFinite));
});
