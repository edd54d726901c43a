import assert from "node:assert/strict";
import { test } from "node:test";
import {
  adamwHost,
  conv,
  Graph,
  gelu,
  HostTensor,
  linear,
  log,
  mul,
  NonFiniteLossError,
  randomTensor,
  reduceMean,
  relu,
  rng,
  sigmoid,
  square,
  sub,
  TrainStep,
  warmupCosine,
  warmupPoly,
} from "../../src/engine/index.js";

test("adamwHost matches torch.optim.AdamW over three steps", () => {
  // torch.optim.AdamW([p], lr=0.1, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.05), PyTorch 1.13.
  const p = Float32Array.from([0.5, -1.0, 2.0]);
  const m = new Float32Array(3);
  const v = new Float32Array(3);
  const grads = [
    [0.1, -0.2, 0.3],
    [0.5, 0.1, -1.0],
    [-0.3, 0.0, 0.2],
  ];
  grads.forEach((g, k) => {
    const t = k + 1;
    adamwHost(p, Float32Array.from(g), m, v, {
      lr: 0.1,
      b1: 0.9,
      b2: 0.99,
      eps: 1e-8,
      wd: 0.05,
      bc1: 1 - 0.9 ** t,
      bc2: 1 - 0.99 ** t,
    });
  });
  for (const [i, want] of [0.28311184, -0.838872969, 1.9503063].entries()) {
    assert.ok(Math.abs(p[i]! - want) < 1e-6, `${p[i]} vs ${want}`);
  }
});

/** A two-layer MLP on a fixed random regression problem. */
function mlpProblem(batch = 32) {
  const g = new Graph();
  const x = g.input("x", [batch, 4]);
  const y = g.input("y", [batch, 1]);
  const w1 = g.input("w1", [16, 4]);
  const b1 = g.input("b1", [16]);
  const w2 = g.input("w2", [1, 16]);
  const b2 = g.input("b2", [1]);
  const pred = linear(gelu(linear(x, w1, b1)), w2, b2);
  const loss = reduceMean(square(sub(pred, y)));
  const random = rng(7);
  const init = [
    randomTensor([16, 4], random, [-0.5, 0.5]),
    HostTensor.zeros([16]),
    randomTensor([1, 16], random, [-0.5, 0.5]),
    HostTensor.zeros([1]),
  ];
  const xs = randomTensor([batch, 4], random);
  const xd = xs.data as Float32Array;
  // target: a smooth nonlinear function of x
  const ys = HostTensor.float32(
    Array.from({ length: batch }, (_, i) => Math.sin(xd[i * 4]! * 2) + xd[i * 4 + 1]! * xd[i * 4 + 2]!),
    [batch, 1],
  );
  return { spec: { loss, params: [w1, b1, w2, b2], inputs: [x, y] }, init, feeds: { x: xs, y: ys } };
}

test("a tiny MLP learns a regression task (loss falls at least 10x)", async () => {
  const { spec, init, feeds } = mlpProblem();
  const step = await TrainStep.create(spec, init, { weightDecay: 0 });
  const first = (await step.step(feeds, 0.02)).loss;
  let last = first;
  for (let i = 0; i < 300; i++) last = (await step.step(feeds, 0.02)).loss;
  assert.ok(last < first / 10, `loss ${first} -> ${last}`);
});

test("in-graph and host AdamW updates agree, with clipping", async () => {
  const runs = [];
  for (const update of ["graph", "host"] as const) {
    const { spec, init, feeds } = mlpProblem();
    const step = await TrainStep.create(spec, init, { update, clipNorm: 0.5, weightDecay: 0.1 });
    const losses = [];
    for (let i = 0; i < 5; i++) losses.push((await step.step(feeds, 0.01)).loss);
    runs.push({ losses, params: step.state.params });
  }
  const [a, b] = runs as [(typeof runs)[0], (typeof runs)[0]];
  for (const [i, l] of a.losses.entries()) {
    assert.ok(Math.abs(l - b.losses[i]!) < 1e-5, `step ${i}: ${l} vs ${b.losses[i]}`);
  }
  a.params.forEach((p, i) => {
    const [pa, pb] = [p.data as Float32Array, b.params[i]!.data as Float32Array];
    for (let k = 0; k < pa.length; k++) assert.ok(Math.abs(pa[k]! - pb[k]!) < 1e-5, `param ${i}[${k}]`);
  });
});

test("a tiny conv net learns to segment bright squares (BCE falls at least 5x)", async () => {
  const [n, s] = [4, 12];
  const g = new Graph();
  const x = g.input("x", [n, 1, s, s]);
  const y = g.input("y", [n, 1, s, s]);
  const w1 = g.input("w1", [8, 1, 3, 3]);
  const b1 = g.input("b1", [8]);
  const w2 = g.input("w2", [1, 8, 3, 3]);
  const b2 = g.input("b2", [1]);
  const p = sigmoid(conv(relu(conv(x, w1, b1, { padding: 1 })), w2, b2, { padding: 1 }));
  const eps = 1e-6;
  const bce = reduceMean(mul(-1, sub(mul(y, log(sub(p, -eps))), mul(sub(y, 1), log(sub(1 + eps, p))))));
  const random = rng(3);
  const img = new Float32Array(n * s * s);
  const mask = new Float32Array(n * s * s);
  for (let b = 0; b < n; b++) {
    const [r0, c0] = [1 + Math.floor(random() * 5), 1 + Math.floor(random() * 5)];
    for (let i = 0; i < s * s; i++) {
      const [r, c] = [Math.floor(i / s), i % s];
      const inside = r >= r0 && r < r0 + 5 && c >= c0 && c < c0 + 5;
      mask[b * s * s + i] = inside ? 1 : 0;
      img[b * s * s + i] = (inside ? 0.8 : 0.2) + 0.1 * (random() - 0.5);
    }
  }
  const init = [
    randomTensor([8, 1, 3, 3], random, [-0.3, 0.3]),
    HostTensor.zeros([8]),
    randomTensor([1, 8, 3, 3], random, [-0.3, 0.3]),
    HostTensor.zeros([1]),
  ];
  const step = await TrainStep.create({ loss: bce, params: [w1, b1, w2, b2], inputs: [x, y] }, init);
  const feeds = {
    x: new HostTensor("float32", [n, 1, s, s], img),
    y: new HostTensor("float32", [n, 1, s, s], mask),
  };
  const first = (await step.step(feeds, 0.05)).loss;
  let last = first;
  for (let i = 0; i < 150; i++) last = (await step.step(feeds, 0.05)).loss;
  assert.ok(last < first / 5, `BCE ${first} -> ${last}`);
});

test("a non-finite loss stops with the step number and leaves the parameters untouched", async () => {
  const g = new Graph();
  const w = g.input("w", [2]);
  const x = g.input("x", [2]);
  const loss = reduceMean(log(mul(w, x)));
  const step = await TrainStep.create({ loss, params: [w], inputs: [x] }, [HostTensor.float32([1, 1], [2])]);
  await step.step({ x: HostTensor.float32([1, 2], [2]) }, 0.1);
  const before = Float32Array.from(step.state.params[0]!.data as Float32Array);
  await assert.rejects(step.step({ x: HostTensor.float32([-1, 2], [2]) }, 0.1), (e: unknown) => {
    assert.ok(e instanceof NonFiniteLossError);
    assert.equal(e.step, 2);
    assert.match(e.message, /step 2/);
    return true;
  });
  assert.deepEqual(step.state.params[0]!.data, before);
  assert.equal(step.state.step, 1);
});

test("a train step takes its inputs by name: a missing or unknown one is refused with both lists", async () => {
  const { spec, init, feeds } = mlpProblem();
  const step = await TrainStep.create(spec, init);
  await assert.rejects(
    step.step({ x: feeds.x }, 0.01),
    /TrainStep\.step: missing y \(the graph takes: x, y; given: x\)/,
  );
  await assert.rejects(
    step.step({ ...feeds, target: feeds.y }, 0.01),
    /TrainStep\.step: unknown target \(the graph takes: x, y; given: x, y, target\)/,
  );
  // Same shapes, swapped names: each value goes where its name says (here x and y are both [B, 4]
  // and [B, 1], so a swap is a shape error rather than a silent mix-up).
  await assert.rejects(step.step({ x: feeds.y, y: feeds.x }, 0.01), /input "x" must be float32/);
  assert.equal(step.state.step, 0, "a refused step changes nothing");
});

test("schedules: linear warm-up, then poly or cosine decay to the floor", () => {
  const poly = warmupPoly({ lr: 1, totalSteps: 110, warmupSteps: 10, power: 1 });
  assert.ok(Math.abs(poly(0) - 0.1) < 1e-12);
  assert.ok(Math.abs(poly(9) - 1) < 1e-12);
  assert.ok(Math.abs(poly(10) - 1) < 1e-12);
  assert.ok(Math.abs(poly(60) - 0.5) < 1e-12);
  assert.ok(Math.abs(poly(110)) < 1e-12);
  const cos = warmupCosine({ lr: 2, totalSteps: 100, minLr: 0.2 });
  assert.ok(Math.abs(cos(0) - 2) < 1e-12);
  assert.ok(Math.abs(cos(50) - 1.1) < 1e-12);
  assert.ok(Math.abs(cos(100) - 0.2) < 1e-12);
  assert.ok(Math.abs(cos(500) - 0.2) < 1e-12);
});
