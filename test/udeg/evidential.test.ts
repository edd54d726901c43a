import assert from "node:assert/strict";
import { test } from "node:test";
import { compile, Graph, gradCheck, HostTensor, type Tensor } from "../../src/engine/index.js";
import { edgeTarget } from "../../src/udeg/edge-target.js";
import {
  accuracyUncertaintyLoss,
  classBalance,
  digammaCrossEntropy,
  evidentialOutputs,
  klToUniform,
  softDice,
} from "../../src/udeg/evidential.js";

// Two pixels, K = 2, logits chosen so that the evidence is a whole number (logit = ln(e^k - 1)),
// which makes psi and ln Gamma exact: psi(n) = H(n-1) - gamma, ln Gamma(n) = ln (n-1)!.
//   pixel 1: evidence [1, 3] -> alpha [2, 4], S = 6, label 1 (right)
//   pixel 2: evidence [2, 1] -> alpha [3, 2], S = 5, label 1 (wrong)
const logitOf = (e: number) => Math.log(Math.expm1(e));
const logits = HostTensor.float32([logitOf(1), logitOf(2), logitOf(3), logitOf(1)], [1, 2, 1, 2]); // [B,K,H,W]
const onehot = HostTensor.float32([0, 0, 1, 1], [1, 2, 1, 2]);

async function value(term: (l: Tensor, y: Tensor) => Tensor): Promise<number> {
  const g = new Graph();
  const l = g.input("logits", [1, 2, 1, 2]);
  const y = g.input("y", [1, 2, 1, 2]);
  const f = await compile([l, y], [term(l, y)]);
  const { out0: out } = await f.run({ logits, y: onehot });
  return out!.data[0] as number;
}

const close = (got: number, want: number) => assert.ok(Math.abs(got - want) < 1e-5, `${got} vs ${want}`);

test("digamma cross-entropy by hand", async () => {
  // pixel 1: psi(6) - psi(4) = (1 + 1/2 + 1/3 + 1/4 + 1/5) - (1 + 1/2 + 1/3) = 0.45
  // pixel 2: psi(5) - psi(2) = (1 + 1/2 + 1/3 + 1/4) - 1 = 1.083333
  close(await value((l, y) => digammaCrossEntropy(evidentialOutputs(l), y)), (0.45 + 13 / 12) / 2);
});

test("KL to the uniform Dirichlet by hand", async () => {
  // pixel 1: alpha~ = [2, 1], S~ = 3: lnG(3) - lnG(2) - lnG(2) - lnG(1) + 1 (psi(2) - psi(3)) = ln 2 - 1/2
  // pixel 2: alpha~ = [3, 1], S~ = 4: lnG(4) - lnG(2) - lnG(3) - lnG(1) + 2 (psi(3) - psi(4)) = ln 3 - 2/3
  close(
    await value((l, y) => klToUniform(evidentialOutputs(l), y)),
    (Math.log(2) - 0.5 + Math.log(3) - 2 / 3) / 2,
  );
});

test("soft Dice on the foreground class by hand", async () => {
  // p_fg = [4/6, 2/5], y_fg = [1, 1]: 1 - (2 * 16/15 + 1) / (16/15 + 2 + 1)
  const inter = 4 / 6 + 2 / 5;
  close(await value((l, y) => softDice(evidentialOutputs(l).prob, y)), 1 - (2 * inter + 1) / (inter + 2 + 1));
  // with background: p_bg = [2/6, 3/5], y_bg = [0, 0] -> 1 - 1 / (2/6 + 3/5 + 1)
  const bg = 1 - 1 / (2 / 6 + 3 / 5 + 1);
  const both = await value((l, y) => softDice(evidentialOutputs(l).prob, y, { includeBackground: true }));
  close(both, (bg + 1 - (2 * inter + 1) / (inter + 2 + 1)) / 2);
});

test("soft Dice per image weighs a small structure like a large one", async () => {
  // Two images of 4 pixels, foreground only (K = 1). Image 1: y = [1, 1, 1, 0], p = [1, 1, 1, 0]
  // (perfect); image 2: y = [1, 0, 0, 0], p = [0, 0, 0, 0] (its one pixel missed). Smooth 0.
  const p = HostTensor.float32([1, 1, 1, 0, 0, 0, 0, 0], [2, 1, 1, 4]);
  const y = HostTensor.float32([1, 1, 1, 0, 1, 0, 0, 0], [2, 1, 1, 4]);
  const dice = async (perImage: boolean) => {
    const g = new Graph();
    const pi = g.input("p", [2, 1, 1, 4]);
    const yi = g.input("y", [2, 1, 1, 4]);
    const f = await compile([pi, yi], [softDice(pi, yi, { perImage, smooth: 0 })]);
    return (await f.run({ p, y })).out0!.data[0] as number;
  };
  close(await dice(false), 1 - (2 * 3) / (3 + 4)); // the batch at once: 1 - 6/7
  close(await dice(true), (0 + 1) / 2); // per image: (1 - 1) and (1 - 0), averaged
});

test("accuracy-versus-uncertainty term by hand", async () => {
  // pixel 1 right: u = 2/6, p_max = 4/6 -> p_max ln(1 - u); pixel 2 wrong: u = 2/5, p_max = 3/5 -> (1 - p_max) ln u
  const want = -((4 / 6) * Math.log(1 - 2 / 6) + (1 - 3 / 5) * Math.log(2 / 5)) / 2;
  close(await value((l, y) => accuracyUncertaintyLoss(evidentialOutputs(l), y)), want);
});

test("evidential outputs: p sums to one and u = K / S", async () => {
  const g = new Graph();
  const l = g.input("logits", [1, 2, 1, 2]);
  const ev = evidentialOutputs(l);
  const f = await compile([l], [ev.prob, ev.uncertainty]);
  const { out0: p, out1: u } = await f.run({ logits });
  const pd = p!.data as Float32Array;
  close(pd[0]! + pd[2]!, 1);
  close(pd[1]! + pd[3]!, 1);
  close((u!.data as Float32Array)[0]!, 2 / 6);
  close((u!.data as Float32Array)[1]!, 2 / 5);
});

test("every loss term passes the finite-difference gradient check", async () => {
  const y = HostTensor.float32([1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0], [1, 3, 2, 2]);
  const terms: [string, (l: Tensor, yy: Tensor) => Tensor][] = [
    ["ce", (l, yy) => digammaCrossEntropy(evidentialOutputs(l), yy)],
    ["kl", (l, yy) => klToUniform(evidentialOutputs(l), yy)],
    ["dice", (l, yy) => softDice(evidentialOutputs(l).prob, yy)],
    ["au", (l, yy) => accuracyUncertaintyLoss(evidentialOutputs(l), yy)],
  ];
  for (const [name, term] of terms) {
    const r = await gradCheck(
      term,
      [
        { shape: [1, 3, 2, 2], range: [-2, 2] },
        { shape: [1, 3, 2, 2], data: y, check: false },
      ],
      {
        h: 1e-2,
        rtol: 3e-2,
        atol: 1e-4,
      },
    );
    assert.ok(r.ok, `${name}: ${JSON.stringify(r.mismatches)}`);
  }
});

test("edge target: morphological gradient of a square, by hand", () => {
  // 6x6 with a 2x2 square at rows 2-3, cols 2-3; radius 1 marks every pixel whose 3x3
  // neighbourhood touches both labels: the 4x4 block rows 1-4, cols 1-4.
  const m = new Uint8Array(36);
  for (const [y, x] of [
    [2, 2],
    [2, 3],
    [3, 2],
    [3, 3],
  ] as const)
    m[y * 6 + x] = 1;
  const e = edgeTarget(m, 6, 6, 1);
  for (let y = 0; y < 6; y++) {
    for (let x = 0; x < 6; x++) {
      assert.equal(e[y * 6 + x], y >= 1 && y <= 4 && x >= 1 && x <= 4 ? 1 : 0, `(${y}, ${x})`);
    }
  }
  // An all-foreground image has no edge, even at the image border.
  assert.ok(edgeTarget(new Uint8Array(9).fill(1), 3, 3, 1).every((v) => v === 0));
});

test("classBalance: each class carries the same total weight and the weights average to 1", async () => {
  // one edge pixel among four: freq edge 1/4, background 3/4 -> weights 2 and 2/3
  const g = new Graph();
  const y = g.input("y", [1, 2, 1, 4]);
  const f = await compile([y], [classBalance(y)]);
  const { out0: w } = await f.run({ y: HostTensor.float32([1, 1, 0, 1, 0, 0, 1, 0], [1, 2, 1, 4]) });
  const got = Array.from(w!.data as Float32Array);
  for (const [i, want] of [2 / 3, 2 / 3, 2, 2 / 3].entries()) close(got[i]!, want);
  close(got.reduce((a, b) => a + b, 0) / 4, 1);
});
