// The pixel-precise decoding path (src/udeg/fine-path.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  add,
  Graph,
  grad,
  type HostTensor,
  mul,
  randomTensor,
  reduceSum,
  rng,
} from "../../src/engine/index.js";
import { compile } from "../../src/engine/runtime.js";
import { ParamStore } from "../../src/sam/params.js";
import { resolveConfig } from "../../src/udeg/config.js";
import { completeWeights, udegWeightShapes } from "../../src/udeg/init.js";
import { edgeResolution, type UdegModelOptions, udegForward } from "../../src/udeg/model.js";
import { scratchArch } from "../../src/udeg/setup.js";
import { smallConfig } from "../train/helpers.js";

function options(fine: boolean): UdegModelOptions {
  const config = resolveConfig({ overrides: smallConfig({}, { fine: { enabled: fine } }) });
  return {
    cfg: scratchArch(config),
    classes: 1,
    lora: null,
    edge: { enabled: true, maskPrompt: false, sparseTokens: 0 },
    fine: { enabled: fine, channels: [8, 16] },
    evidential: true,
  };
}

async function logitsOf(o: UdegModelOptions, weights: Map<string, HostTensor>, image: HostTensor) {
  const store = new ParamStore(new Graph(), weights);
  const x = store.graph.input("image", image.shape);
  const out = udegForward(store, o, x);
  const fn = await compile([x], [out.seg.logits, out.edge!.logits], { outputNames: ["logits", "edge"] });
  return fn.run({ image });
}

test("an untrained fine path gives the plain decoder's masks exactly (its last conv starts at zero)", async () => {
  const fine = options(true);
  const plain = options(false);
  const weights = completeWeights(new Map(), udegWeightShapes(fine), 3);
  const image = randomTensor([1, 3, 64, 64], rng(5), [0, 255]);
  const a = await logitsOf(fine, weights, image);
  const b = await logitsOf(plain, completeWeights(weights, udegWeightShapes(plain), 3), image);
  const la = a.logits!.data as Float32Array;
  const lb = b.logits!.data as Float32Array;
  assert.deepEqual(a.logits!.shape, [1, 2, 64, 64]);
  let m = 0;
  for (let i = 0; i < la.length; i++) m = Math.max(m, Math.abs(la[i]! - lb[i]!));
  assert.ok(m < 1e-4, `max difference ${m}`);
  // The edge head is at full resolution with the path, at 4x the token grid without it.
  assert.deepEqual(a.edge!.shape, [1, 2, 64, 64]);
  assert.deepEqual(b.edge!.shape, [1, 2, 32, 32]);
  assert.equal(edgeResolution(fine), 64);
  assert.equal(edgeResolution(plain), 32);
});

test("the fine path's weights learn: a loss on the logits reaches every one of them", async () => {
  const o = options(true);
  const weights = completeWeights(new Map(), udegWeightShapes(o), 3);
  // Its last conv starts at zero, which stops the gradient to the convs before it; after the
  // first steps it is not zero, and then every weight learns.
  const last = weights.get("udeg.fine.out.weight")!;
  weights.set("udeg.fine.out.weight", randomTensor(last.shape, rng(9), [-0.1, 0.1]));
  const store = new ParamStore(new Graph(), weights, { trainable: (k) => k.startsWith("udeg.fine.") });
  const g = store.graph;
  const x = g.input("image", [1, 3, 64, 64]);
  const out = udegForward(store, o, x);
  const probe = g.constant(randomTensor([1, 2, 64, 64], rng(2)));
  const loss = add(reduceSum(mul(out.seg.logits, probe)), reduceSum(out.edge!.logits));
  const params = store.trainable;
  assert.ok(params.length >= 10, `${params.length} fine-path tensors`);
  const grads = grad(
    loss,
    params.map((p) => p.tensor),
  );
  const fn = await compile([x, ...params.map((p) => p.tensor)], grads);
  const feeds = Object.fromEntries(params.map((p) => [p.tensor.name!, p.initial]));
  const got = Object.values(
    await fn.run({ image: randomTensor([1, 3, 64, 64], rng(4), [0, 255]), ...feeds }),
  );
  params.forEach((p, i) => {
    const d = got[i]!.data as Float32Array;
    assert.ok(
      d.some((v) => v !== 0),
      `${p.key} gets a gradient`,
    );
  });
});
