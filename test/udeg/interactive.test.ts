import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import * as ort from "onnxruntime-node";
import { toPlanar } from "../../src/data/preprocess.js";
import { readImage } from "../../src/io/images/images.js";
import { exportWebModels } from "../../src/udeg/export.js";
import { InteractiveModel, nextClick } from "../../src/udeg/interactive.js";
import { UdegPredictor } from "../../src/udeg/predictor.js";
import { ITK } from "../train/helpers.js";
import { trainedRun } from "./helpers.js";

test("nextClick: the middle of the largest error, positive on a miss, negative on a false alarm", () => {
  const [w, h] = [12, 10];
  const truth = new Uint8Array(w * h);
  const pred = new Uint8Array(w * h);
  for (let y = 2; y < 7; y++) for (let x = 1; x < 6; x++) truth[y * w + x] = 1; // 5 x 5 object, missed
  pred[8 * w + 10] = 1; // one false-alarm pixel
  assert.deepEqual(nextClick(pred, truth, w, h), { x: 3, y: 4, positive: true });
  // Found the object, plus a 3 x 3 false alarm: the click goes to the false alarm's centre.
  pred.set(truth);
  for (let y = 6; y < 9; y++) for (let x = 8; x < 11; x++) pred[y * w + x] = 1;
  assert.deepEqual(nextClick(pred, truth, w, h), { x: 9, y: 7, positive: false });
  assert.equal(nextClick(truth, truth, w, h), null);
});

test("InteractiveModel (split ONNX, the web viewer's code) reproduces udeg predict on a resized image", async () => {
  const run = await trainedRun();
  const dir = join(run, "web");
  const meta = exportWebModels(run, dir);
  const model = new InteractiveModel(
    ort,
    await ort.InferenceSession.create(join(dir, meta.files.encoder)),
    await ort.InferenceSession.create(join(dir, meta.files.decoder)),
    meta,
  );
  // A 128 x 96 crop of a 128 x 128 slice: resized to 64 x 48 and padded, then restored.
  const src = await readImage(join(ITK, "images", "slice_030.png"));
  const full = toPlanar(src.data, src.height, src.width, 1);
  const data = new Float32Array(128 * 96);
  for (let y = 0; y < 128; y++) data.set(full.subarray(y * 128, y * 128 + 96), y * 96);
  const image = { data, channels: 1, height: 128, width: 96, quantized: true };
  const want = await (await UdegPredictor.load(run)).predict(image);
  const encoded = await model.encode(image);
  const got = await model.decode(encoded);
  assert.equal(got.height, 128);
  assert.equal(got.width, 96);
  let err = 0;
  for (let i = 0; i < want.prob.length; i++) err = Math.max(err, Math.abs(got.prob[i]! - want.prob[i]!));
  assert.ok(err < 1e-4, `probability differs by ${err}`);
  let differ = 0;
  for (let i = 0; i < want.labels.length; i++) differ += Number(got.labels[i] !== want.labels[i]);
  assert.ok(differ <= 2, `${differ} labels differ`);
  let edgeErr = 0;
  for (let i = 0; i < want.edge.length; i++)
    edgeErr = Math.max(edgeErr, Math.abs(encoded.edge[i]! - want.edge[i]!));
  assert.ok(edgeErr < 1e-4, `edge differs by ${edgeErr}`);

  // A click changes the decoder's answer; too many clicks is a clear error.
  const clicked = await model.decode(encoded, [{ x: 40, y: 60, positive: true }]);
  let moved = 0;
  for (let i = 0; i < want.prob.length; i++)
    moved = Math.max(moved, Math.abs(clicked.prob[i]! - got.prob[i]!));
  assert.ok(moved > 1e-3, `a click changed nothing (${moved})`);
  const many = Array.from({ length: meta.maxPoints + 1 }, () => ({ x: 1, y: 1, positive: false }));
  await assert.rejects(model.decode(encoded, many), /at most 16 clicks/);
});
