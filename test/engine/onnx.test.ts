// ONNX export: the emitted bytes decode with onnx-proto as an opset-17 model with named inputs and
// outputs and initializers for constants; compiled functions run in onnxruntime; weights past
// the external-data threshold go to a side file and give the same numbers as inline ones.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import {
  add,
  buildModel,
  compile,
  decodeModel,
  encodeModel,
  exp,
  Graph,
  gather,
  HostTensor,
  matmul,
  mul,
  OPSET,
  randomTensor,
  relu,
  rng,
  type Tensor,
} from "../../src/engine/index.js";

const random = rng(3);
const T = onnxProto.onnx.TensorProto.DataType;
/** protobufjs decodes int64 fields as Long objects. */
const num = (v: unknown) => Number(String(v));

const dir = mkdtempSync(join(tmpdir(), "udeg-onnx-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** y = relu(x @ W + b) * 2 with named constants, plus a branch that the outputs do not use. */
function smallGraph() {
  const g = new Graph();
  const x = g.input("x", [2, 3]);
  const idx = g.input("idx", [2], "int64");
  const w = g.constant(HostTensor.float32([1, -2, 3, -4, 5, -6], [3, 2]), "weight");
  const b = g.constant(HostTensor.float32([0.5, -0.5], [2]), "bias");
  const unused = exp(mul(x, 3));
  const y = mul(relu(add(matmul(x, w), b)), 2);
  const z = gather(x, idx, 1);
  return { g, x, idx, y, z, unused };
}

test("emitted model decodes as opset 17 with named inputs, outputs and initializers", () => {
  const { x, idx, y, z } = smallGraph();
  const bytes = encodeModel(
    buildModel([x, idx], [y, z], { outputNames: ["y", "picked"], graphName: "g1", metadata: { k: "v" } }),
  );
  assert.ok(bytes instanceof Uint8Array && bytes.length > 0);
  const m = decodeModel(bytes);
  assert.equal(OPSET, 17);
  assert.deepEqual(
    m.opsetImport!.map((o) => [o.domain ?? "", num(o.version)]),
    [["", 17]],
  );
  assert.equal(num(m.irVersion), 8);
  assert.equal(m.producerName, "udeg");
  assert.deepEqual(
    m.metadataProps!.map((p) => [p.key, p.value]),
    [["k", "v"]],
  );
  const graph = m.graph!;
  assert.equal(graph.name, "g1");

  const io = (vs: typeof graph.input) =>
    vs!.map((v) => [
      v.name,
      v.type!.tensorType!.elemType,
      v.type!.tensorType!.shape!.dim!.map((d) => num(d.dimValue)),
    ]);
  assert.deepEqual(io(graph.input), [
    ["x", T.FLOAT, [2, 3]],
    ["idx", T.INT64, [2]],
  ]);
  assert.deepEqual(io(graph.output), [
    ["y", T.FLOAT, [2, 2]],
    ["picked", T.FLOAT, [2, 2]],
  ]);

  // Constants are initializers with their raw bytes; named ones keep their names.
  const inits = new Map(graph.initializer!.map((t) => [t.name!, t]));
  const weight = inits.get("weight")!;
  assert.ok(weight, "initializer 'weight'");
  assert.deepEqual(weight.dims!.map(num), [3, 2]);
  assert.equal(weight.dataType, T.FLOAT);
  const raw = weight.rawData!;
  assert.deepEqual(
    Array.from(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))),
    [1, -2, 3, -4, 5, -6],
  );
  assert.ok(inits.has("bias"));
  // Every node input is a graph input, an initializer or an earlier node's output.
  const known = new Set<string>([...graph.input!.map((v) => v.name!), ...inits.keys()]);
  for (const node of graph.node!) {
    for (const i of node.input!) assert.ok(i === "" || known.has(i), `${node.opType} reads unknown ${i}`);
    for (const o of node.output!) known.add(o);
  }
  for (const o of graph.output!) assert.ok(known.has(o.name!), `output ${o.name} is produced`);
  // The unused Exp branch is not exported.
  const ops = graph.node!.map((n) => n.opType);
  assert.ok(!ops.includes("Exp"), `unexpected Exp in ${ops}`);
  assert.deepEqual(ops.filter((o) => o !== "Identity").sort(), ["Add", "Gather", "MatMul", "Mul", "Relu"]);
});

test("a compiled function runs in onnxruntime and gives the expected numbers", async () => {
  const { x, idx, y, z } = smallGraph();
  const f = await compile([x, idx], [y, z], { outputNames: ["y", "picked"] });
  assert.deepEqual(f.outputNames, ["y", "picked"]);
  const xv = HostTensor.float32([1, 0, 2, -1, 1, 0.5], [2, 3]);
  const { y: yv, picked: zv } = await f.run({ x: xv, idx: HostTensor.int64([2, 0], [2]) });
  // 2 relu(x @ W + b): row 0 = 2 relu([1 + 10 + 0.5, -2 - 12 - 0.5]), row 1 = 2 relu([-1 + 3 + 2.5 + 0.5, 2 - 4 - 3 - 0.5])
  assert.deepEqual(Array.from(yv!.data as Float32Array), [23, 0, 10, 0]);
  assert.deepEqual(Array.from(zv!.data as Float32Array), [2, 1, 0.5, -1]);
  // Compiling the same graph again reuses the cached session and agrees.
  const again = await compile([x, idx], [y, z]);
  const { out0: y2 } = await again.run({ x: xv, idx: HostTensor.int64([2, 0], [2]) });
  assert.deepEqual(Array.from(y2!.data as Float32Array), [23, 0, 10, 0]);
});

test("the encoded bytes load in onnxruntime directly", async () => {
  const { x, idx, y } = smallGraph();
  const session = await ort.InferenceSession.create(
    encodeModel(buildModel([x, idx], [y], { outputNames: ["y"] })),
  );
  assert.deepEqual([...session.inputNames], ["x", "idx"]);
  assert.deepEqual([...session.outputNames], ["y"]);
  const out = await session.run({
    x: new ort.Tensor("float32", Float32Array.from([1, 0, 2, -1, 1, 0.5]), [2, 3]),
    idx: new ort.Tensor("int64", BigInt64Array.from([0n, 1n]), [2]),
  });
  assert.deepEqual(Array.from(out.y!.data as Float32Array), [23, 0, 10, 0]);
});

/** Two big constants (16 KB and 8 KB) and a small one (256 B). */
function bigGraph() {
  const g = new Graph();
  const x = g.input("x", [5, 64]);
  const w1 = g.constant(randomTensor([64, 64], random), "w1");
  const w2 = g.constant(randomTensor([64, 32], random), "w2");
  const b = g.constant(randomTensor([64], random), "b1");
  const y: Tensor = matmul(relu(add(matmul(x, w1), b)), w2);
  return { x, y, w1, w2 };
}

test("weights past externalThreshold go to external data and give the same numbers", async () => {
  const { x, y, w1, w2 } = bigGraph();
  const feed = randomTensor([5, 64], random);
  const inline = await compile([x], [y]);
  const { out0: want } = await inline.run({ x: feed });
  const external = await compile([x], [y], { externalThreshold: 1000 });
  const { out0: got } = await external.run({ x: feed });
  assert.deepEqual(got!.shape, [5, 32]);
  assert.deepEqual(Array.from(got!.data as Float32Array), Array.from(want!.data as Float32Array));

  // The same export by hand: what goes where in the side file.
  const model = buildModel([x], [y], { externalThreshold: 1000, externalData: { dir, file: "w.bin" } });
  const inits = new Map(model.graph!.initializer!.map((t) => [t.name!, t]));
  const side = readFileSync(join(dir, "w.bin"));
  for (const t of [w1, w2]) {
    const p = inits.get(t.name!)!;
    assert.equal(p.dataLocation, onnxProto.onnx.TensorProto.DataLocation.EXTERNAL, `${t.name} is EXTERNAL`);
    assert.equal(p.rawData?.length ?? 0, 0, `${t.name} has no inline bytes`);
    const kv = Object.fromEntries(p.externalData!.map((e) => [e.key, e.value]));
    assert.equal(kv.location, "w.bin");
    const [offset, length] = [Number(kv.offset), Number(kv.length)];
    assert.equal(offset % 64, 0, "offsets are 64-byte aligned");
    const data = t.value!.data as Float32Array;
    assert.equal(length, data.byteLength);
    assert.deepEqual(
      new Uint8Array(side.buffer, side.byteOffset + offset, length),
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
  }
  // Small constants stay inline.
  const b1 = inits.get("b1")!;
  assert.notEqual(b1.dataLocation, onnxProto.onnx.TensorProto.DataLocation.EXTERNAL);
  assert.equal(b1.rawData!.length, 64 * 4);
  assert.ok(statSync(join(dir, "w.bin")).size >= (64 * 64 + 64 * 32) * 4);

  // That model file, loaded by onnxruntime from its directory, agrees as well.
  const path = join(dir, "model.onnx");
  writeFileSync(path, encodeModel(model));
  const session = await ort.InferenceSession.create(path);
  const out = await session.run({ x: new ort.Tensor("float32", feed.data as Float32Array, [5, 64]) });
  const first = session.outputNames[0]!;
  assert.deepEqual(Array.from(out[first]!.data as Float32Array), Array.from(want!.data as Float32Array));
});

test("passing the external-data threshold without a place for the data is an error", () => {
  const { x, y } = bigGraph();
  assert.throws(() => buildModel([x], [y], { externalThreshold: 1000 }), /external data/);
  // Under the threshold everything is inline.
  const m = buildModel([x], [y], { externalThreshold: 1e9 });
  assert.ok(m.graph!.initializer!.every((t) => (t.externalData?.length ?? 0) === 0));
});
