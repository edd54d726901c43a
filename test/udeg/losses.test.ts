import assert from "node:assert/strict";
import { test } from "node:test";
import { compile, Graph, HostTensor } from "../../src/engine/index.js";
import { headOutputs } from "../../src/udeg/heads.js";
import { DEFAULT_LOSS, scheduledWeights, udegLoss } from "../../src/udeg/losses.js";

const close = (got: number, want: number, what = "") =>
  assert.ok(Math.abs(got - want) < 1e-5, `${what}: ${got} vs ${want}`);

test("scheduled weights: KL anneals, edge ramps, AU goes from lambda_0 to 1", () => {
  const cfg = {
    ...DEFAULT_LOSS,
    klWeight: 2,
    klAnnealFraction: 0.5,
    edgeWeight: 0.8,
    edgeGamma: 4,
    edgeRampStart: 0.2,
    edgeRampEnd: 0.6,
    auLambda0: 0.01,
  };
  const at0 = scheduledWeights(cfg, 0);
  close(at0.kl, 0, "kl(0)");
  close(at0.edge, 0, "edge(0)");
  close(at0.au, 0.01, "au(0)");
  const mid = scheduledWeights(cfg, 0.4);
  close(mid.kl, 2 * 0.8, "kl(0.4)"); // min(1, 0.4 / 0.5) * 2
  close(mid.edge, 0.8 * 0.5, "edge(0.4)"); // (0.4 - 0.2) / (0.6 - 0.2) = 0.5
  close(mid.gamma, 4 * 0.5, "gamma(0.4)");
  close(mid.au, 0.01 ** 0.6, "au(0.4)");
  const end = scheduledWeights(cfg, 1);
  close(end.kl, 2);
  close(end.edge, 0.8);
  close(end.au, 1);
  const samed = scheduledWeights({ ...cfg, evidential: false }, 1);
  close(samed.kl, 0);
  close(samed.au, 0);
});

test("progressive edge loss weighs pixels by 1 + gamma * u_seg (by hand)", async () => {
  // Same two-pixel example as evidential.test.ts: CE per pixel [0.45, 13/12], u = [2/6, 2/5],
  // foreground Dice 1 - (2 * 16/15 + 1) / (16/15 + 3).
  const logitOf = (e: number) => Math.log(Math.expm1(e));
  const logits = HostTensor.float32([logitOf(1), logitOf(2), logitOf(3), logitOf(1)], [1, 2, 1, 2]);
  const onehot = HostTensor.float32([0, 0, 1, 1], [1, 2, 1, 2]);
  const g = new Graph();
  const l = g.input("l", [1, 2, 1, 2]);
  const y = g.input("y", [1, 2, 1, 2]);
  const weights = {
    kl: g.input("kl", []),
    edge: g.input("edge", []),
    gamma: g.input("gamma", []),
    au: g.input("au", []),
  };
  const cfg = { ...DEFAULT_LOSS, klWeight: 0, auLambda0: 0, edgeWeight: 1, edgeBalance: false };
  const seg = headOutputs(l, true);
  const { total, terms } = udegLoss(cfg, weights, seg, y, {
    head: seg,
    target: y,
    segUncertainty: seg.uncertainty,
  });
  const f = await compile([l, y, weights.kl, weights.edge, weights.gamma, weights.au], [total, terms.edge!]);
  const s = (v: number) => HostTensor.float32([v], []);
  const { out0: tot, out1: edge } = await f.run({
    l: logits,
    y: onehot,
    kl: s(0),
    edge: s(0.5),
    gamma: s(3),
    au: s(0),
  });
  const inter = 4 / 6 + 2 / 5;
  const dice = 1 - (2 * inter + 1) / (inter + 3);
  const ce = (0.45 + 13 / 12) / 2;
  const weightedCe = (0.45 * (1 + 3 * (2 / 6)) + (13 / 12) * (1 + 3 * (2 / 5))) / 2;
  close(edge!.data[0] as number, 0.5 * (weightedCe + dice), "edge term");
  close(tot!.data[0] as number, ce + dice + 0.5 * (weightedCe + dice), "total");
});

test("no-evidential head: softmax probabilities and normalised entropy", async () => {
  const g = new Graph();
  const l = g.input("l", [1, 2, 1, 1]);
  const h = headOutputs(l, false);
  const f = await compile([l], [h.prob, h.uncertainty]);
  const { out0: p, out1: u } = await f.run({ l: HostTensor.float32([0, Math.log(3)], [1, 2, 1, 1]) });
  close((p!.data as Float32Array)[1]!, 0.75);
  const ent = -(0.25 * Math.log(0.25) + 0.75 * Math.log(0.75)) / Math.log(2);
  close((u!.data as Float32Array)[0]!, ent);
});
