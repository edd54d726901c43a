// Shape and dtype mistakes throw while the graph is built (not when it runs), naming the op and
// the shapes involved, and leave no half-built node behind.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  add,
  buildModel,
  compile,
  concat,
  conv,
  convTranspose,
  expand,
  Graph,
  gather,
  grad,
  HostTensor,
  layerNorm,
  linear,
  matmul,
  mul,
  pad,
  reshape,
  slice,
  split,
  transpose,
  where,
} from "../../src/engine/index.js";

/** `build` must throw synchronously, matching every pattern, without adding a node. */
function throwsWhileBuilding(g: Graph, build: () => unknown, ...patterns: RegExp[]): void {
  const before = g.nodes.length;
  let message = "";
  assert.throws(build, (e: unknown) => {
    message = e instanceof Error ? e.message : String(e);
    return true;
  });
  for (const p of patterns) assert.match(message, p);
  assert.equal(g.nodes.length, before, `a failed build left nodes behind: ${message}`);
}

const esc = (s: string) => new RegExp(s.replace(/[[\]().*+?^$|\\]/g, "\\$&"));

test("Add of [2,3] and [4] names the op and both shapes", () => {
  const g = new Graph();
  const a = g.input("a", [2, 3]);
  const b = g.input("b", [4]);
  throwsWhileBuilding(g, () => add(a, b), /^Add:/, esc("[2, 3]"), esc("[4]"));
  throwsWhileBuilding(g, () => mul(b, a), /^Mul:/, esc("[4]"), esc("[2, 3]"));
});

test("MatMul with different inner dimensions", () => {
  const g = new Graph();
  const a = g.input("a", [2, 3, 4]);
  const b = g.input("b", [5, 6]);
  throwsWhileBuilding(g, () => matmul(a, b), /^MatMul:/, /inner/, esc("[2, 3, 4]"), esc("[5, 6]"));
});

test("MatMul with batch axes that do not broadcast", () => {
  const g = new Graph();
  const a = g.input("a", [2, 3, 4]);
  const b = g.input("b", [3, 4, 5]);
  throwsWhileBuilding(g, () => matmul(a, b), /^MatMul:/, esc("[2]"), esc("[3]"));
});

test("MatMul of a vector is refused", () => {
  const g = new Graph();
  const a = g.input("a", [4]);
  const b = g.input("b", [4, 5]);
  throwsWhileBuilding(g, () => matmul(a, b), /^MatMul:/, /rank/);
});

test("linear with a weight that does not fit the input", () => {
  const g = new Graph();
  const x = g.input("x", [2, 3]);
  const w = g.input("w", [4, 5]);
  throwsWhileBuilding(g, () => linear(x, w), /^linear:/, esc("[2, 3]"), esc("[4, 5]"));
});

test("Conv with an input channel count that does not fit the weight", () => {
  const g = new Graph();
  const x = g.input("x", [1, 3, 8, 8]);
  const w = g.input("w", [4, 2, 3, 3]);
  throwsWhileBuilding(g, () => conv(x, w), /^Conv:/, esc("[1, 3, 8, 8]"), esc("[4, 2, 3, 3]"));
  // Grouping that does not divide the channels, a wrong bias, a kernel larger than the input.
  const x4 = g.input("x4", [1, 4, 8, 8]);
  throwsWhileBuilding(g, () => conv(x4, w, null, { groups: 3 }), /^Conv:/, /groups=3/);
  const b = g.input("b", [3]);
  throwsWhileBuilding(g, () => conv(x4, w, b, { groups: 2 }), /^Conv:/, /bias/);
  const big = g.input("big", [4, 4, 9, 9]);
  throwsWhileBuilding(g, () => conv(x4, big), /^Conv:/, /smaller than the kernel/);
  const w1 = g.input("w1", [4, 3, 3]);
  throwsWhileBuilding(g, () => conv(x, w1), /^Conv:/, /ranks/);
});

test("ConvTranspose with an input channel count that does not fit the weight", () => {
  const g = new Graph();
  const x = g.input("x", [1, 3, 4, 4]);
  const w = g.input("w", [4, 2, 2, 2]);
  throwsWhileBuilding(
    g,
    () => convTranspose(x, w),
    /^ConvTranspose:/,
    esc("[1, 3, 4, 4]"),
    esc("[4, 2, 2, 2]"),
  );
});

test("Reshape to a different number of elements", () => {
  const g = new Graph();
  const x = g.input("x", [2, 3]);
  throwsWhileBuilding(g, () => reshape(x, [4, 2]), /^Reshape:/, /x:float32\[2,3\]/, esc("[4, 2]"));
  throwsWhileBuilding(g, () => reshape(x, [4, -1]), /^Reshape:/, esc("[4, -1]"));
  throwsWhileBuilding(g, () => reshape(x, [-1, -1]), /^Reshape:/, /-1/);
});

test("Concat of tensors that differ outside the axis", () => {
  const g = new Graph();
  const a = g.input("a", [2, 3]);
  const b = g.input("b", [2, 4]);
  throwsWhileBuilding(g, () => concat([a, b], 0), /^Concat:/, /\[2,3\]/, /\[2,4\]/);
  const c = g.input("c", [2, 3], "int64");
  throwsWhileBuilding(g, () => concat([a, c], 0), /^Concat:/, /int64/);
});

test("float32 + int64 is a dtype mismatch", () => {
  const g = new Graph();
  const a = g.input("a", [2, 3]);
  const b = g.input("b", [2, 3], "int64");
  throwsWhileBuilding(g, () => add(a, b), /^Add:/, /dtype mismatch/, /float32\[2, 3\]/, /int64\[2, 3\]/);
  const b2 = reshape(b, [3, 2]);
  throwsWhileBuilding(g, () => matmul(a, b2), /^MatMul:/, /dtype mismatch/);
});

test("Where with a non-bool condition", () => {
  const g = new Graph();
  const c = g.input("c", [2, 3]);
  const a = g.input("a", [2, 3]);
  throwsWhileBuilding(g, () => where(c, a, 0), /^Where:/, /bool/, /c:float32\[2,3\]/);
  const cb = g.input("cb", [2, 3], "bool");
  const wrong = g.input("wrong", [4]);
  throwsWhileBuilding(g, () => where(cb, a, wrong), /^Where:/, esc("[2, 3]"), esc("[4]"));
});

test("other shape checks: transpose, expand, slice, split, pad, gather, layerNorm", () => {
  const g = new Graph();
  const x = g.input("x", [2, 3, 4]);
  throwsWhileBuilding(g, () => transpose(x, [0, 0, 1]), /^Transpose:/);
  throwsWhileBuilding(g, () => expand(x, [5, 4]), /^Expand:/, esc("[2, 3, 4]"), esc("[5, 4]"));
  throwsWhileBuilding(g, () => slice(x, [{ axis: 3, start: 0, end: 1 }]), /^Slice:/, /axis 3/);
  throwsWhileBuilding(g, () => slice(x, [{ axis: 0, start: 0, end: 1, step: 0 }]), /^Slice:/, /step/);
  throwsWhileBuilding(g, () => split(x, [1, 1], 1), /^Split:/);
  throwsWhileBuilding(g, () => pad(x, [[-2, -1]]), /^Pad:/);
  throwsWhileBuilding(g, () => gather(x, g.input("fi", [2]), 0), /^Gather:/, /int64/);
  throwsWhileBuilding(g, () => layerNorm(x, g.input("w", [3]), null), /^LayerNormalization:/, esc("[4]"));
});

test("graph and autodiff misuse", () => {
  const g = new Graph();
  const x = g.input("x", [2]);
  assert.throws(() => g.input("x", [3]), /already has a tensor named "x"/);
  assert.throws(() => g.input("t5", [3]), /reserved/);
  assert.throws(() => g.input("bad", [2, -1]), /invalid shape/);
  const other = new Graph().input("y", [2]);
  assert.throws(() => add(x, other), /another graph/);
  const i = g.input("i", [2], "int64");
  assert.throws(() => grad(i, [x]), /not a float/);
  assert.throws(() => grad(x, [i]), /non-float/);
  assert.throws(() => grad(mul(x, 2), [x], g.constant(HostTensor.float32([1, 2, 3], [3]))), /seed/);
});

test("export and run refuse missing inputs and wrongly shaped feeds", async () => {
  const g = new Graph();
  const x = g.input("x", [2]);
  const y = g.input("y", [2]);
  assert.throws(() => buildModel([x], [add(x, y)]), /need input "y"/);
  const f = await compile([x], [mul(x, 2)]);
  await assert.rejects(f.run({ x: HostTensor.float32([1, 2, 3], [3]) }), /input "x" must be float32\[2\]/);
  await assert.rejects(f.run({}), /run: missing x \(the graph takes: x; given: nothing\)/);
  await assert.rejects(
    f.run({ x: HostTensor.float32([1, 2], [2]), z: HostTensor.float32([1, 2], [2]) }),
    /run: unknown z \(the graph takes: x; given: x, z\)/,
  );
});
