import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import * as ort from "onnxruntime-node";
import { resizeImage, toPlanar } from "../../src/data/preprocess.js";
import { decodeModel } from "../../src/engine/index.js";
import { halfToFloat } from "../../src/engine/tensor.js";
import { readImage } from "../../src/io/images.js";
import { train } from "../../src/train/trainer.js";
import { resolveConfig } from "../../src/udeg/config.js";
import { exportRun, floatToHalf } from "../../src/udeg/export.js";
import { UdegPredictor } from "../../src/udeg/predictor.js";
import { ITK, sliceDataset, smallConfig } from "../train/helpers.js";

test("floatToHalf rounds to the nearest half and round-trips exact values", () => {
  for (const v of [0, 1, -2, 0.5, 65504, 2 ** -14, 2 ** -24, -0.333251953125])
    assert.equal(halfToFloat(floatToHalf(v)), v);
  assert.equal(halfToFloat(floatToHalf(1e6)), Number.POSITIVE_INFINITY);
  assert.ok(Math.abs(halfToFloat(floatToHalf(0.1)) - 0.1) < 1e-4);
});

test("the exported ONNX file reproduces udeg predict (fp32 to 1e-4; fp16 weights close)", async () => {
  const data = sliceDataset({ train: ["slice_020", "slice_030", "slice_040", "slice_050"] });
  const run = join(mkdtempSync(join(tmpdir(), "udeg-export-")), "run");
  await train({
    data,
    out: run,
    config: resolveConfig({ overrides: smallConfig({ epochs: 2 }) }),
    progress: false,
    log: () => {},
  });
  const onnxPath = join(run, "model.onnx");
  const info = exportRun(run, onnxPath);
  assert.ok(existsSync(onnxPath));
  const model = decodeModel(readFileSync(onnxPath));
  const meta = Object.fromEntries(model.metadataProps!.map((p) => [p.key, p.value]));
  assert.equal(meta.model_size, "64");
  assert.equal(meta.classes, "1");
  assert.deepEqual(JSON.parse(meta.pixel_mean!), [123.675, 116.28, 103.53]);

  // A 64x64 image: the model size, so predict neither resizes nor pads and the maps compare 1:1.
  const src = await readImage(join(ITK, "images", "slice_030.png"));
  const planes = resizeImage(
    {
      data: toPlanar(src.data, src.height, src.width, 1),
      channels: 1,
      height: 128,
      width: 128,
      quantized: true,
    },
    64,
    64,
  );
  const predictor = await UdegPredictor.load(run);
  const p = await predictor.predict(planes);
  const hwc = new Uint8Array(64 * 64 * 3);
  for (let i = 0; i < 64 * 64; i++) hwc.fill(planes.data[i]!, i * 3, i * 3 + 3);
  for (const fp16 of [false, true]) {
    const path = fp16 ? join(run, "model-fp16.onnx") : onnxPath;
    if (fp16) {
      const half = exportRun(run, path, { fp16: true });
      assert.ok(half.bytes < info.bytes * 0.7, `fp16 file ${half.bytes} vs ${info.bytes}`);
    }
    const session = await ort.InferenceSession.create(path);
    const out = await session.run({ image: new ort.Tensor("uint8", hwc, [64, 64, 3]) });
    const fg = out.foreground_probability!.data as Float32Array;
    const u = out.uncertainty!.data as Float32Array;
    let errP = 0;
    let errU = 0;
    for (let i = 0; i < 64 * 64; i++) {
      errP = Math.max(errP, Math.abs(fg[i]! - (1 - p.prob[i]!)));
      errU = Math.max(errU, Math.abs(u[i]! - p.uncertainty[i]!));
    }
    const tol = fp16 ? 5e-2 : 1e-4;
    assert.ok(
      errP < tol && errU < tol,
      `${fp16 ? "fp16" : "fp32"}: probability ${errP}, uncertainty ${errU}`,
    );
    assert.deepEqual(out.mask_logits!.dims, [1, 2, 64, 64]);
  }
});
