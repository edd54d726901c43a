import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import * as ort from "onnxruntime-node";
import { resizeImage, toPlanar } from "../../src/data/preprocess.js";
import { floatToHalf, halfToFloat } from "../../src/engine/half.js";
import {
  compile,
  concat,
  decodeModel,
  Graph,
  HostTensor,
  reshape,
  resizeBilinear,
} from "../../src/engine/index.js";
import { readImage } from "../../src/io/images/images.js";
import type { PlanarImage } from "../../src/io/planar-image.js";
import { predictMasks } from "../../src/sam/mask-decoder.js";
import { ParamStore } from "../../src/sam/params.js";
import { densePositionalEncoding, promptEncoder } from "../../src/sam/prompt-encoder.js";
import { exportRun, exportWebModels, MAX_POINTS } from "../../src/udeg/export.js";
import { fineDecode } from "../../src/udeg/fine-path.js";
import { loadRun, UdegPredictor } from "../../src/udeg/predictor.js";
import { FINE_DETAIL_NAMES } from "../../src/udeg/web-meta.js";
import { ITK } from "../train/helpers.js";
import { trainedRun } from "./helpers.js";

test("floatToHalf rounds to the nearest half and round-trips exact values", () => {
  for (const v of [0, 1, -2, 0.5, 65504, 2 ** -14, 2 ** -24, -0.333251953125])
    assert.equal(halfToFloat(floatToHalf(v)), v);
  assert.equal(halfToFloat(floatToHalf(1e6)), Number.POSITIVE_INFINITY);
  assert.ok(Math.abs(halfToFloat(floatToHalf(0.1)) - 0.1) < 1e-4);
});

/**
 * A 40 x 64 image (rows 40..63 of the model input are padding): predict pads with the pixel mean,
 * the exported graph is given garbage there and must replace it itself.
 */
async function landscapeSlice(): Promise<{ planes: PlanarImage; hwc: Uint8Array }> {
  const src = await readImage(join(ITK, "images", "slice_030.png"));
  const full = resizeImage(
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
  const planes: PlanarImage = { ...full, height: 40, data: full.data.slice(0, 40 * 64) };
  const hwc = new Uint8Array(64 * 64 * 3).fill(255);
  for (let i = 0; i < 40 * 64; i++) hwc.fill(planes.data[i]!, i * 3, i * 3 + 3);
  return { planes, hwc };
}

const imageFeeds = (hwc: Uint8Array) => ({
  image: new ort.Tensor("uint8", hwc, [64, 64, 3]),
  image_size: new ort.Tensor("float32", Float32Array.from([40, 64]), [2]),
});

/** Largest difference over the 40 x 64 valid region of [1, 1, 64, 64] maps. */
function maxDiffValid(a: ArrayLike<number>, b: (i: number) => number): number {
  let err = 0;
  for (let y = 0; y < 40; y++)
    for (let x = 0; x < 64; x++) err = Math.max(err, Math.abs(a[y * 64 + x]! - b(y * 64 + x)));
  return err;
}

test("the exported ONNX file reproduces udeg predict, padding included (fp32 to 1e-4; fp16 close)", async () => {
  const run = await trainedRun();
  const onnxPath = join(run, "exports", "new folder", "model.onnx"); // folders are created
  const info = exportRun(run, onnxPath);
  assert.ok(existsSync(onnxPath));
  assert.deepEqual(info.inputs, ["image", "image_size"]);
  const model = decodeModel(readFileSync(onnxPath));
  const meta = Object.fromEntries(model.metadataProps!.map((p) => [p.key, p.value]));
  assert.equal(meta.model_size, "64");
  assert.equal(meta.classes, "1");
  assert.deepEqual(JSON.parse(meta.pixel_mean!), [123.675, 116.28, 103.53]);

  const { planes, hwc } = await landscapeSlice();
  const p = await (await UdegPredictor.load(run)).predict(planes);
  assert.equal(p.height, 40);
  for (const fp16 of [false, true]) {
    const path = fp16 ? join(run, "model-fp16.onnx") : onnxPath;
    if (fp16) {
      const half = exportRun(run, path, { fp16: true });
      assert.ok(half.bytes < info.bytes * 0.7, `fp16 file ${half.bytes} vs ${info.bytes}`);
    }
    const session = await ort.InferenceSession.create(path);
    const out = await session.run(imageFeeds(hwc));
    const errP = maxDiffValid(out.foreground_probability!.data as Float32Array, (i) => 1 - p.prob[i]!);
    const errU = maxDiffValid(out.uncertainty!.data as Float32Array, (i) => p.uncertainty[i]!);
    const tol = fp16 ? 5e-2 : 1e-4;
    assert.ok(
      errP < tol && errU < tol,
      `${fp16 ? "fp16" : "fp32"}: probability ${errP}, uncertainty ${errU}`,
    );
    assert.deepEqual(out.mask_logits!.dims, [1, 2, 64, 64]);
  }
});

/** A click: point slot, x, y (model-input pixels), label (1 positive, 0 negative). */
type Click = [number, number, number, number];

/** Runs the split export: encoder once, decoder with the given points (the rest empty slots). */
async function runSplit(dir: string, hwc: Uint8Array, points: Click[]) {
  const enc = await ort.InferenceSession.create(join(dir, "encoder.onnx"));
  const dec = await ort.InferenceSession.create(join(dir, "decoder.onnx"));
  const e = await enc.run(imageFeeds(hwc));
  const coords = new Float32Array(MAX_POINTS * 2);
  const labels = new Float32Array(MAX_POINTS).fill(-1);
  points.forEach(([slot, x, y, label]) => {
    coords.set([x, y], slot * 2);
    labels[slot] = label;
  });
  const detail = Object.fromEntries(FINE_DETAIL_NAMES.filter((n) => e[n]).map((n) => [n, e[n]!]));
  const d = await dec.run({
    image_embeddings: e.image_embeddings!,
    dense_prompt: e.dense_prompt!,
    ...detail,
    point_coords: new ort.Tensor("float32", coords, [1, MAX_POINTS, 2]),
    point_labels: new ort.Tensor("float32", labels, [1, MAX_POINTS]),
  });
  return { enc: e, dec: d };
}

/**
 * The reference for clicks: SAM's decoder given exactly these points (plus SAM's padding point),
 * no empty slots and no masking, on the encoder's outputs (with the fine path where the run has it).
 */
async function decodeReference(
  run: string,
  encoded: ort.InferenceSession.OnnxValueMapType,
  points: Click[],
): Promise<Float32Array> {
  const embeddings = encoded.image_embeddings!;
  const dense = encoded.dense_prompt!;
  const { resolved } = loadRun(run);
  const o = resolved.model;
  const cfg = { ...o.cfg, numMultimaskOutputs: o.classes };
  const g = new Graph();
  const store = new ParamStore(g, resolved.weights);
  const emb = g.input("e", embeddings.dims as number[], "float32");
  const den = g.input("d", dense.dims as number[], "float32");
  const pe = store.scope("prompt_encoder.");
  const n = points.length;
  let sparse = promptEncoder(pe, cfg, {
    points: {
      coords: g.constant(
        HostTensor.float32(
          points.flatMap(([, x, y]) => [x, y]),
          [1, n, 2],
        ),
      ),
      labels: g.constant(
        HostTensor.float32(
          points.map(([, , , l]) => l),
          [1, n],
        ),
      ),
    },
  }).sparse;
  if (o.edge.sparseTokens > 0) {
    const k = o.edge.sparseTokens;
    sparse = concat(
      [reshape(store.get("udeg.sparse_tokens", [k, cfg.promptEmbedDim]), [1, k, cfg.promptEmbedDim]), sparse],
      1,
    );
  }
  const out = predictMasks(store.scope("mask_decoder."), cfg, {
    imageEmbeddings: emb,
    imagePe: densePositionalEncoding(pe, cfg),
    sparse,
    dense: den,
  });
  const host = (t: ort.Tensor) => new HostTensor("float32", t.dims as number[], t.data as Float32Array);
  const feeds = { [emb.name!]: host(embeddings), [den.name!]: host(dense) };
  let logits = resizeBilinear(out.masks, [cfg.imageSize, cfg.imageSize]);
  const inputs = [emb, den];
  if (encoded.fine_full) {
    const [full, half] = FINE_DETAIL_NAMES.map((n) => g.input(n, encoded[n]!.dims as number[], "float32"));
    inputs.push(full!, half!);
    feeds.fine_full = host(encoded.fine_full);
    feeds.fine_half = host(encoded.fine_half!);
    logits = fineDecode(
      store.scope("udeg.fine."),
      o.fine,
      { full: full!, half: half! },
      out.upscaled,
      out.hyperIn,
    );
  }
  const fn = await compile(inputs, [logits]);
  return (await fn.run(feeds)).out0!.data as Float32Array;
}

for (const sparseTokens of [0, 2]) {
  test(`split export (${sparseTokens} learned tokens): no clicks = udeg predict; clicks = SAM's decoder with exactly those points`, async () => {
    const run = await trainedRun(sparseTokens ? { edge: { sparseTokens } } : {});
    const dir = join(run, "web");
    const meta = exportWebModels(run, dir);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")).files, {
      encoder: "encoder.onnx",
      decoder: "decoder.onnx",
    });
    assert.equal(meta.maxPoints, MAX_POINTS);
    assert.equal(meta.modelSize, 64);

    const { planes, hwc } = await landscapeSlice();
    const p = await (await UdegPredictor.load(run)).predict(planes);
    const none = await runSplit(dir, hwc, []);
    const fg = none.dec.foreground_probability!.data as Float32Array;
    assert.ok(maxDiffValid(fg, (i) => 1 - p.prob[i]!) < 1e-4, "no clicks vs predict");
    assert.ok(maxDiffValid(none.dec.uncertainty!.data as Float32Array, (i) => p.uncertainty[i]!) < 1e-4);
    assert.ok(maxDiffValid(none.enc.edge!.data as Float32Array, (i) => p.edge[i]!) < 1e-4, "edge map");

    // Two clicks in slots 0 and 5, the other 14 slots empty.
    const clicks: Click[] = [
      [0, 30.5, 18, 1],
      [5, 8, 33, 0],
    ];
    const clicked = await runSplit(dir, hwc, clicks);
    const logits = clicked.dec.mask_logits!.data as Float32Array;
    const ref = await decodeReference(run, clicked.enc, clicks);
    let err = 0;
    let moved = 0;
    const before = none.dec.mask_logits!.data as Float32Array;
    for (let i = 0; i < ref.length; i++) {
      err = Math.max(err, Math.abs(logits[i]! - ref[i]!));
      moved = Math.max(moved, Math.abs(logits[i]! - before[i]!));
    }
    assert.ok(err < 1e-4, `clicked decoder vs reference: ${err}`);
    assert.ok(moved > 1e-3, `the clicks changed nothing (${moved})`);
  });
}
