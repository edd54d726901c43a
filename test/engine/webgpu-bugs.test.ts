// onnxruntime 1.30 WebGPU-provider bugs that udeg routes around, each reproduced with one raw
// ONNX node against the CPU provider's answer. When one of these starts to fail, onnxruntime has
// fixed that bug: the workaround named in the test can go.
import "../webgpu-env.js";
import assert from "node:assert/strict";
import { test } from "node:test";
import { compile, conv, Graph, HostTensor, type NamedTensors, type Tensor } from "../../src/engine/index.js";

async function onBoth(build: (g: Graph) => { inputs: Tensor[]; out: Tensor }, feeds: NamedTensors) {
  const results: Record<string, { data?: number[]; error?: string }> = {};
  for (const ep of ["cpu", "webgpu"] as const) {
    const g = new Graph();
    const { inputs, out } = build(g);
    try {
      const fn = await compile(inputs, [out], { ep, threads: 1, cpuFallback: ep === "cpu" });
      results[ep] = { data: Array.from((await fn.run(feeds)).out0!.data as Float32Array) };
    } catch (err) {
      results[ep] = { error: (err as Error).message };
    }
  }
  return results as { cpu: { data: number[] }; webgpu: { data?: number[]; error?: string } };
}

const int64s = (g: Graph, v: number[]) => g.constant(HostTensor.int64(v, [v.length]));

test("Slice with a negative step starts at the last element, whatever the start (engine slice() uses Gather)", async () => {
  const r = await onBoth(
    (g) => {
      const x = g.input("x", [8]);
      // elements 5, 3, 1
      const out = g.addNode(
        "Slice",
        [x, int64s(g, [5]), int64s(g, [-9]), int64s(g, [0]), int64s(g, [-2])],
        {},
        [{ shape: [3], dtype: "float32" }],
      )[0]!;
      return { inputs: [x], out };
    },
    { x: HostTensor.float32([0, 1, 2, 3, 4, 5, 6, 7], [8]) },
  );
  assert.deepEqual(r.cpu.data, [5, 3, 1]);
  assert.deepEqual(r.webgpu.data, [7, 5, 3], "the WebGPU kernel started at 7");
});

test("Pow with broadcasting operands fails (engine pow() expands them first)", async () => {
  const r = await onBoth(
    (g) => {
      const a = g.input("a", [2, 3, 4]);
      const b = g.input("b", [3, 1]);
      const out = g.addNode("Pow", [a, b], {}, [{ shape: [2, 3, 4], dtype: "float32" }])[0]!;
      return { inputs: [a, b], out };
    },
    {
      a: HostTensor.float32(
        Array.from({ length: 24 }, (_, i) => 1 + i / 10),
        [2, 3, 4],
      ),
      b: HostTensor.float32([1, 2, 0.5], [3, 1]),
    },
  );
  assert.ok(Math.abs(r.cpu.data[4]! - 1.4 ** 2) < 1e-5, "1.4 ** 2");
  assert.match(r.webgpu.error ?? "", /raw_hash_map/);
});

test("ConvTranspose of a depthwise convolution (groups 3, 2 outputs each, dilation 2) computes wrong numbers (the Conv input gradient is a Conv instead)", async () => {
  // The input gradient of a depthwise conv x [1, 3, 5, 5], w [6, 1, 3, 3], padding 2, dilation 2.
  const g0 = HostTensor.float32(
    Array.from({ length: 6 * 5 * 5 }, (_, i) => ((i * 7) % 11) / 11 - 0.5),
    [1, 6, 5, 5],
  );
  const w = HostTensor.float32(
    Array.from({ length: 6 * 9 }, (_, i) => ((i * 3) % 7) / 7 - 0.4),
    [6, 1, 3, 3],
  );
  const r = await onBoth(
    (g) => {
      const gi = g.input("g", [1, 6, 5, 5]);
      const wi = g.input("w", [6, 1, 3, 3]);
      const attrs = {
        group: { kind: "int" as const, value: 3 },
        pads: { kind: "ints" as const, value: [2, 2, 2, 2] },
        kernel_shape: { kind: "ints" as const, value: [3, 3] },
        strides: { kind: "ints" as const, value: [1, 1] },
        dilations: { kind: "ints" as const, value: [2, 2] },
        output_padding: { kind: "ints" as const, value: [0, 0] },
      };
      const out = g.addNode("ConvTranspose", [gi, wi], attrs, [
        { shape: [1, 3, 5, 5], dtype: "float32" },
      ])[0]!;
      return { inputs: [gi, wi], out };
    },
    { g: g0, w },
  );
  const err = Math.max(...r.cpu.data.map((v, i) => Math.abs(v - (r.webgpu.data?.[i] ?? Number.NaN))));
  assert.ok(!(err < 1e-3), `the WebGPU result is off by ${err} (${r.webgpu.error ?? "no error"})`);
});

test("Conv with a multiple of 3 (not of 4) input channels and a 3x3 kernel computes wrong numbers (engine conv() pads the channels to 4k)", async () => {
  const maxErr = (r: { cpu: { data: number[] }; webgpu: { data?: number[]; error?: string } }) =>
    Math.max(...r.cpu.data.map((v, i) => Math.abs(v - (r.webgpu.data?.[i] ?? Number.NaN))));
  // x [1, C, 8, 8], w [4, C, 3, 3], padding 1: the raw node is wrong for C = 6 and 9 (and 129,
  // UDEG-Net's edge conv), right for C = 8 and 5; the engine's conv() is right for all of them.
  for (const c of [5, 6, 8, 9]) {
    const x = HostTensor.float32(
      Array.from({ length: c * 64 }, (_, i) => Math.cos(i * 0.11)),
      [1, c, 8, 8],
    );
    const w = HostTensor.float32(
      Array.from({ length: 4 * c * 9 }, (_, i) => Math.sin(i * 0.37)),
      [4, c, 3, 3],
    );
    const raw = await onBoth(
      (g) => {
        const xi = g.input("x", [1, c, 8, 8]);
        const out = g.addNode(
          "Conv",
          [xi, g.constant(w)],
          {
            pads: { kind: "ints", value: [1, 1, 1, 1] },
            kernel_shape: { kind: "ints", value: [3, 3] },
          },
          [{ shape: [1, 4, 8, 8], dtype: "float32" }],
        )[0]!;
        return { inputs: [xi], out };
      },
      { x },
    );
    const buggy = c % 3 === 0 && c % 4 !== 0;
    const rawErr = maxErr(raw);
    if (buggy) assert.ok(!(rawErr < 1e-2), `C = ${c}: the raw WebGPU Conv is off by ${rawErr}`);
    else assert.ok(rawErr < 1e-4, `C = ${c}: the raw WebGPU Conv is off by ${rawErr}`);
    const engine = await onBoth(
      (g) => {
        const xi = g.input("x", [1, c, 8, 8]);
        return { inputs: [xi], out: conv(xi, g.constant(w), null, { padding: 1 }) };
      },
      { x },
    );
    assert.ok(maxErr(engine) < 1e-4, `C = ${c}: engine conv() on WebGPU is off by ${maxErr(engine)}`);
  }
});
