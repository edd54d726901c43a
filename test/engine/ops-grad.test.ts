// Finite-difference gradient checks of every differentiable op in src/engine/ops.
//
// Shapes are drawn from a seeded PRNG where that makes sense, and every binary op is checked on
// broadcasting operands. Ops with kinks (Abs, Relu, Max, Min, Clip, ReduceMax) get data that stays
// further than the difference step (h = 1e-2) from the kink, so the central differences are exact.
import assert from "node:assert/strict";
import {
  abs,
  add,
  cast,
  clip,
  compile,
  concat,
  conv,
  convTranspose,
  cos,
  detach,
  div,
  erf,
  exp,
  expand,
  flatten,
  type GradCheckOptions,
  type GradInputSpec,
  Graph,
  gather,
  gelu,
  grad,
  gradCheck,
  greater,
  HostTensor,
  identity,
  layerNorm,
  linear,
  log,
  logSoftmax,
  matmul,
  maximum,
  minimum,
  mul,
  narrow,
  neg,
  pad,
  pow,
  randomTensor,
  reciprocal,
  reduceMax,
  reduceMean,
  reduceSum,
  relu,
  reshape,
  resizeBilinear,
  rng,
  sigmoid,
  sin,
  slice,
  softmax,
  softplus,
  split,
  sqrt,
  square,
  squeeze,
  sub,
  type Tensor,
  tanh,
  transpose,
  transposeLast2,
  unsqueeze,
  where,
} from "../../src/engine/index.js";
import { DEVICE, RUNTIME, SOFTWARE_GPU, test } from "./test-device.js";

type Fn = (...inputs: Tensor[]) => Tensor;

const random = rng(20240611);

async function expectGrad(fn: Fn, specs: readonly GradInputSpec[], options: GradCheckOptions = {}) {
  const r = await gradCheck(fn, specs, { ...options, runtime: RUNTIME });
  assert.ok(r.checked > 0, "no element was checked");
  const list = r.mismatches
    .slice(0, 10)
    .map((m) => `input ${m.input}[${m.index}]: analytic ${m.analytic} vs numeric ${m.numeric}`)
    .join("; ");
  assert.ok(
    r.ok,
    `${r.mismatches.length} of ${r.checked} mismatches (max abs error ${r.maxAbsError}): ${list}`,
  );
}

/** Register one gradient-check test. */
function gc(name: string, fn: Fn, specs: readonly GradInputSpec[], options: GradCheckOptions = {}): void {
  test(name, () => expectGrad(fn, specs, options));
}

const fmt = (s: readonly number[]) => `[${s.join(",")}]`;
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));

function randomShape(minRank: number, maxRank: number, maxDim = 4): number[] {
  return Array.from({ length: int(minRank, maxRank) }, () => int(1, maxDim));
}

/** A shape that broadcasts to `full`: some leading axes dropped and some axes set to 1. */
function broadcastableTo(full: readonly number[]): number[] {
  const drop = int(0, full.length - 1);
  return full.slice(drop).map((d) => (random() < 0.5 ? 1 : d));
}

function floats(shape: readonly number[], f: (i: number) => number): HostTensor {
  return HostTensor.float32(
    Array.from({ length: size(shape) }, (_, i) => f(i)),
    shape,
  );
}

/** Values with |x| in [lo, hi] and a random sign: away from the kinks of Abs/Relu/Div at 0. */
function awayFromZero(shape: readonly number[], lo = 0.1, hi = 1): HostTensor {
  return floats(shape, () => (random() < 0.5 ? -1 : 1) * (lo + (hi - lo) * random()));
}

/** Odd multiples of 0.1 in (-1, 1); `evenTenths` gives even ones: the two never come within 0.1. */
function oddTenths(shape: readonly number[]): HostTensor {
  return floats(shape, () => (2 * int(-5, 4) + 1) / 10);
}
function evenTenths(shape: readonly number[]): HostTensor {
  return floats(shape, () => (2 * int(-4, 4)) / 10);
}

/** Distinct values 0.05 apart in random order (no near-ties for ReduceMax). */
function distinct(shape: readonly number[]): HostTensor {
  const n = size(shape);
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  return floats(shape, (i) => (perm[i]! - n / 2) * 0.05);
}

function bools(shape: readonly number[]): HostTensor {
  return new HostTensor(
    "bool",
    shape,
    Uint8Array.from({ length: size(shape) }, () => (random() < 0.5 ? 1 : 0)),
  );
}

// ---- binary arithmetic with broadcasting -----------------------------------------------------

const binaryOps: [
  string,
  (a: Tensor, b: Tensor) => Tensor,
  GradInputSpec["range"],
  GradInputSpec["range"],
][] = [
  ["Add", add, undefined, undefined],
  ["Sub", sub, undefined, undefined],
  ["Mul", mul, undefined, undefined],
  ["Div", div, undefined, [0.5, 1.5]],
  ["Pow", pow, [0.5, 1.5], [-1.5, 1.5]],
];

const fixedBroadcasts: [number[], number[]][] = [
  [
    [2, 3, 4],
    [3, 1],
  ],
  [
    [3, 1],
    [2, 3, 4],
  ],
  [[2, 3, 4], [1]],
  [[2, 3, 4], []],
  [
    [2, 1, 4],
    [3, 1],
  ],
  [
    [4, 1, 3],
    [1, 5, 1],
  ],
];

for (const [name, op, rangeA, rangeB] of binaryOps) {
  const shapes = [...fixedBroadcasts];
  for (let k = 0; k < 2; k++) {
    const full = randomShape(1, 4);
    shapes.push(k === 0 ? [full, broadcastableTo(full)] : [broadcastableTo(full), full]);
  }
  for (const [sa, sb] of shapes) {
    gc(`${name} ${fmt(sa)} with ${fmt(sb)}`, op, [
      { shape: sa, range: rangeA },
      { shape: sb, range: rangeB },
    ]);
  }
}

gc("Add/Sub/Mul/Div with scalar numbers on either side", (x) => div(sub(3, mul(add(x, 2.5), -2)), 1.5), [
  { shape: [2, 3] },
]);
gc("Div of a number by a tensor", (x) => div(2, x), [
  { shape: [3, 4], data: awayFromZero([3, 4], 0.5, 1.5) },
]);
gc("Sub of a tensor from a number and Mul by itself", (x) => mul(sub(1, x), x), [{ shape: [5] }]);
gc("Pow with constant exponents 2 and 3 (negative bases)", (x) => add(pow(x, 2), pow(x, 3)), [
  { shape: [2, 5], data: awayFromZero([2, 5], 0.2, 1.2) },
]);
gc("Pow of a number to a tensor power", (x) => pow(1.7, x), [{ shape: [4, 2] }]);
gc("Pow with fractional exponent", (x) => pow(x, -0.5), [{ shape: [6], range: [0.5, 2] }]);
gc("Mul of a tensor with itself (gradient accumulation)", (x) => mul(x, x), [{ shape: [3, 3] }]);

// Max/Min: odd against even tenths never tie or come within the step.
for (const [name, op] of [
  ["Max", maximum],
  ["Min", minimum],
] as const) {
  for (const [sa, sb] of [
    [
      [2, 3, 4],
      [3, 1],
    ],
    [[4], [2, 3, 4]],
    [
      [3, 4],
      [3, 4],
    ],
    [[2, 3, 4], []],
  ] as [number[], number[]][]) {
    gc(`${name} ${fmt(sa)} with ${fmt(sb)}`, op, [
      { shape: sa, data: oddTenths(sa) },
      { shape: sb, data: evenTenths(sb) },
    ]);
  }
  gc(`${name} with a scalar number`, (x) => op(x, 0.2), [{ shape: [3, 5], data: oddTenths([3, 5]) }]);
}

// ---- unary maths ---------------------------------------------------------------------------

const unaryOps: [string, (x: Tensor) => Tensor, GradInputSpec["range"]][] = [
  ["Neg", neg, undefined],
  ["Exp", exp, undefined],
  ["Log", log, [0.3, 2]],
  ["Sqrt", sqrt, [0.3, 2]],
  ["Erf", erf, [-2, 2]],
  ["Tanh", tanh, [-2, 2]],
  ["Sigmoid", sigmoid, [-3, 3]],
  ["Softplus", softplus, [-3, 3]],
  ["Sin", sin, [-3, 3]],
  ["Cos", cos, [-3, 3]],
  ["gelu", gelu, [-3, 3]],
  ["square", square, undefined],
  ["Identity", identity, undefined],
];
for (const [name, op, range] of unaryOps) {
  const shape = randomShape(1, 4);
  gc(`${name} ${fmt(shape)}`, op, [{ shape, range }]);
}
{
  const shape = randomShape(1, 4);
  gc(`Reciprocal ${fmt(shape)}`, reciprocal, [{ shape, data: awayFromZero(shape, 0.4, 1.5) }]);
  gc(`Abs ${fmt(shape)}`, abs, [{ shape, data: awayFromZero(shape) }]);
  gc(`Relu ${fmt(shape)}`, relu, [{ shape, data: awayFromZero(shape) }]);
}

gc("Clip with both bounds", (x) => clip(x, -0.6, 0.4), [{ shape: [4, 5], data: oddTenths([4, 5]) }]);
gc("Clip with a lower bound only", (x) => clip(x, -0.2), [{ shape: [4, 5], data: oddTenths([4, 5]) }]);
gc("Clip with an upper bound only", (x) => clip(x, undefined, 0.2), [
  { shape: [4, 5], data: oddTenths([4, 5]) },
]);

// Where: the condition is a bool graph input (not checked); both branches broadcast.
gc("Where [2,3,4] cond with [2,3,4] and [2,3,4]", where as Fn, [
  { shape: [2, 3, 4], dtype: "bool", data: bools([2, 3, 4]) },
  { shape: [2, 3, 4] },
  { shape: [2, 3, 4] },
]);
gc("Where [3,1] cond with [2,3,4] and [4]", where as Fn, [
  { shape: [3, 1], dtype: "bool", data: bools([3, 1]) },
  { shape: [2, 3, 4] },
  { shape: [4] },
]);
gc(
  "Where with a scalar number branch and a computed condition",
  (x) => where(greater(x, 0), mul(x, 3), 0.5),
  [{ shape: [3, 4], data: awayFromZero([3, 4]) }],
);

const castHalf: [Fn, GradInputSpec[], GradCheckOptions] = [
  (x) => cast(cast(x, "float16"), "float32"),
  // Multiples of 1/64 and a step of 1/16 are exact in float16, so the differences are too.
  [{ shape: [3, 4], data: floats([3, 4], () => int(-64, 64) / 64) }],
  { h: 1 / 16 },
];
if (SOFTWARE_GPU) {
  // SwiftShader has no f16 shaders: onnxruntime says so instead of computing something else.
  test("Cast float32 -> float16 is refused by a device without f16, with the reason", async () => {
    await assert.rejects(expectGrad(...castHalf), /requires f16 but the device does not support it/);
  });
} else gc("Cast float32 -> float16 -> float32", ...castHalf);
gc("Cast float32 -> float32 is the identity", (x) => mul(cast(x, "float32"), 2), [{ shape: [2, 3] }]);

test("detach stops the gradient", async () => {
  const g = new Graph();
  const x = g.input("x", [2, 3]);
  // d/dx sum(x * detach(x)) = detach(x) = x (not 2x); d/dx sum(3 * detach(x)) = 0.
  const [dx1] = grad(reduceSum(mul(x, detach(x))), [x]);
  const [dx2] = grad(reduceSum(mul(detach(x), 3)), [x]);
  const f = await compile([x], [dx1!, dx2!], RUNTIME);
  const xv = randomTensor([2, 3], random);
  const [a, b] = Object.values(await f.run({ x: xv }));
  assert.deepEqual(Array.from(a!.data as Float32Array), Array.from(xv.data as Float32Array));
  assert.deepEqual(Array.from(b!.data as Float32Array), [0, 0, 0, 0, 0, 0]);
});
gc("detach on one path leaves the other path's gradient", (x, y) => mul(detach(x), y), [
  { shape: [2, 3], check: false },
  { shape: [2, 3] },
]);
test("gradient through an integer Cast is zero", async () => {
  const g = new Graph();
  const x = g.input("x", [4]);
  const y = add(cast(cast(x, "int64"), "float32"), mul(x, 0));
  const [dx] = grad(reduceSum(y), [x]);
  const f = await compile([x], [dx!], RUNTIME);
  const [d] = Object.values(await f.run({ x: HostTensor.float32([0.5, 1.5, -2.5, 3], [4]) }));
  assert.deepEqual(Array.from(d!.data as Float32Array), [0, 0, 0, 0]);
});

// ---- matrix products -----------------------------------------------------------------------

const matmulCases: [number[], number[]][] = [
  [
    [3, 4],
    [4, 5],
  ],
  [
    [2, 3, 4],
    [2, 4, 5],
  ],
  [
    [2, 1, 3, 4],
    [5, 4, 2],
  ],
  [
    [1, 3, 4],
    [2, 4, 5],
  ],
  [
    [3, 4],
    [2, 4, 5],
  ],
  [
    [2, 3, 4],
    [4, 5],
  ],
  [
    [2, 2, 3, 4],
    [4, 3],
  ],
];
for (const [sa, sb] of matmulCases)
  gc(`MatMul ${fmt(sa)} x ${fmt(sb)}`, matmul, [{ shape: sa }, { shape: sb }]);
{
  const [b, m, k, n] = [int(1, 3), int(1, 4), int(1, 5), int(1, 4)];
  gc(`MatMul random [${b},${m},${k}] x [${k},${n}]`, matmul, [{ shape: [b, m, k] }, { shape: [k, n] }]);
}
gc("linear rank-3 input with bias", (x, w, b) => linear(x, w, b), [
  { shape: [2, 3, 4] },
  { shape: [5, 4] },
  { shape: [5] },
]);
gc("linear rank-4 input without bias", (x, w) => linear(x, w), [{ shape: [2, 2, 3, 4] }, { shape: [3, 4] }]);
gc("linear rank-2 input", (x, w, b) => linear(x, w, b), [
  { shape: [3, 4] },
  { shape: [2, 4] },
  { shape: [2] },
]);

// ---- shape ops -----------------------------------------------------------------------------

gc("Reshape with -1", (x) => reshape(x, [3, -1, 2]), [{ shape: [2, 3, 4] }]);
gc("flatten, unsqueeze and squeeze", (x) => squeeze(unsqueeze(flatten(x, 1), 0), 0), [{ shape: [2, 3, 2] }]);
{
  const shape = [int(1, 3), int(2, 3), int(1, 3), int(2, 4)];
  const perm = [2, 0, 3, 1];
  gc(`Transpose ${fmt(shape)} perm ${fmt(perm)}`, (x) => transpose(x, perm), [{ shape }]);
}
gc("transposeLast2", transposeLast2, [{ shape: [2, 3, 4] }]);
gc("Expand [3,1] to [2,3,4]", (x) => expand(x, [2, 3, 4]), [{ shape: [3, 1] }]);
gc("Expand [1,4] to [3,1,4] (leading and unit axes)", (x) => expand(x, [3, 1, 4]), [{ shape: [1, 4] }]);

const sliceCases: [string, number[], Parameters<typeof slice>[1]][] = [
  ["unit step", [4, 6], [{ axis: 1, start: 1, end: 4 }]],
  ["step 2", [3, 7], [{ axis: 1, start: 0, end: 7, step: 2 }]],
  ["step 3 with start offset", [8, 3], [{ axis: 0, start: 1, end: 8, step: 3 }]],
  ["negative step -1 (reverse)", [3, 5], [{ axis: 1, start: -1, end: -1000, step: -1 }]],
  ["negative step -2", [3, 6], [{ axis: 1, start: 4, end: 0, step: -2 }]],
  ["negative step -3 with clamped start", [9, 2], [{ axis: 0, start: 100, end: -100, step: -3 }]],
  [
    "several axes with mixed steps",
    [4, 5, 6],
    [
      { axis: 0, start: 1, end: 3 },
      { axis: 2, start: 5, end: 0, step: -2 },
      { axis: -2, start: 0, end: 5, step: 3 },
    ],
  ],
  ["clamped ends", [3, 4], [{ axis: 0, start: -2, end: 1000 }]],
  ["negative start and end", [5, 4], [{ axis: 0, start: -4, end: -1 }]],
];
for (const [name, shape, specs] of sliceCases) {
  gc(`Slice ${name} ${fmt(shape)}`, (x) => slice(x, specs), [{ shape }]);
}
gc("narrow", (x) => narrow(x, 1, 2, 3), [{ shape: [2, 6] }]);

gc("Concat of three along axis 1", (a, b, c) => concat([a, b, c], 1), [
  { shape: [2, 1, 3] },
  { shape: [2, 4, 3] },
  { shape: [2, 2, 3] },
]);
gc("Concat along a negative axis", (a, b) => concat([a, b], -1), [{ shape: [3, 2] }, { shape: [3, 3] }]);
gc("Concat of a tensor with itself", (a) => concat([a, mul(a, 2)], 0), [{ shape: [2, 3] }]);

gc("Split, one output used", (x) => split(x, [2, 3, 1], 1)[1]!, [{ shape: [2, 6, 2] }]);
gc(
  "Split, two outputs combined and one unused",
  (x) => {
    const [a, , c] = split(x, [2, 1, 2], 0);
    return sub(mul(a!, 2), c!);
  },
  [{ shape: [5, 3] }],
);
gc(
  "Split, all outputs used",
  (x) => {
    const parts = split(x, [1, 2], -1);
    return concat([parts[1]!, mul(parts[0]!, 3)], -1);
  },
  [{ shape: [2, 3] }],
);

gc(
  "Pad positive",
  (x) =>
    pad(x, [
      [1, 2],
      [0, 3],
    ]),
  [{ shape: [2, 3] }],
);
gc("Pad with a value, leading axes only", (x) => pad(x, [[2, 1]], 0.5), [{ shape: [2, 3, 2] }]);
gc(
  "Pad negative (crop) and mixed",
  (x) =>
    pad(x, [
      [-1, 2],
      [1, -2],
      [0, 0],
    ]),
  [{ shape: [4, 5, 2] }],
);

const gatherCases: [string, number[], number[], number[], number][] = [
  ["axis 0, vector of indices", [5, 3], [4, 0, 2], [3], 0],
  ["axis 1, 2-D indices with repeats", [3, 5, 2], [0, 4, 4, 1, 2, 0], [2, 3], 1],
  ["axis 2 (last)", [2, 3, 4], [3, 3, 1], [3], 2],
  ["axis -1, scalar-like [1] index", [3, 4], [2], [1], -1],
  ["axis 0, 2-D indices, every row twice", [3, 2], [0, 1, 2, 2, 1, 0], [3, 2], 0],
  ["axis 1, negative indices (counted from the end)", [2, 4, 2], [-1, 0, -4, 2, -1], [5], 1],
];
// int64 and int32 indices on the CPU; int32 on the GPU, whose provider has no int64 arithmetic.
for (const dtype of DEVICE === "webgpu" ? (["int32"] as const) : (["int64", "int32"] as const)) {
  for (const [name, xShape, idx, idxShape, axis] of gatherCases) {
    gc(`Gather ${name}, ${dtype} indices as a graph input`, (x, i) => gather(x, i, axis), [
      { shape: xShape },
      {
        shape: idxShape,
        dtype,
        data: dtype === "int64" ? HostTensor.int64(idx, idxShape) : HostTensor.int32(idx, idxShape),
      },
    ]);
  }
}
gc("Gather with constant indices, one negative", (x) => gather(x, [1, 1, 0, -1], 1), [{ shape: [2, 4, 3] }]);

// ---- reductions and softmax ---------------------------------------------------------------

const reduceCases: [number[], number[] | undefined, boolean][] = [
  [[3, 4], [1], false],
  [[2, 3, 4], [0, 2], true],
  [[2, 3, 4], [0, 2], false],
  [[2, 3, 4], [-1], true],
  [[2, 3, 4], undefined, false],
  [[2, 3, 4], undefined, true],
  [[2, 3, 2, 3], [1, 3], false],
];
for (const [name, op] of [
  ["ReduceSum", reduceSum],
  ["ReduceMean", reduceMean],
  ["ReduceMax", reduceMax],
] as const) {
  for (const [shape, axes, keep] of reduceCases) {
    gc(`${name} ${fmt(shape)} axes ${axes ? fmt(axes) : "all"} keepdims=${keep}`, (x) => op(x, axes, keep), [
      { shape, data: distinct(shape) },
    ]);
  }
}

for (const axis of [0, 1, -1]) {
  gc(`Softmax [3,4,5] axis ${axis}`, (x) => softmax(x, axis), [{ shape: [3, 4, 5], range: [-2, 2] }]);
  gc(`LogSoftmax [3,4,5] axis ${axis}`, (x) => logSoftmax(x, axis), [{ shape: [3, 4, 5], range: [-2, 2] }]);
}

// ---- layers --------------------------------------------------------------------------------

gc("LayerNormalization over the last axis", (x, w, b) => layerNorm(x, w, b, 1e-5), [
  { shape: [2, 3, 6] },
  { shape: [6], range: [0.5, 1.5] },
  { shape: [6] },
]);
gc("LayerNormalization over the last two axes", (x, w, b) => layerNorm(x, w, b, 1e-6, -2), [
  { shape: [2, 3, 4] },
  { shape: [3, 4], range: [0.5, 1.5] },
  { shape: [3, 4] },
]);
gc("LayerNormalization without bias", (x, w) => layerNorm(x, w, null), [{ shape: [4, 5] }, { shape: [5] }]);

interface ConvCase {
  name: string;
  x: number[];
  w: number[];
  bias: boolean;
  opts: Parameters<typeof conv>[3];
}
const convCases: ConvCase[] = [
  {
    name: "1-D stride 2, pads [1,2], dilation 2, groups 2",
    x: [2, 4, 11],
    w: [6, 2, 3],
    bias: true,
    opts: {
      stride: 2,
      padding: [1, 2],
      dilation: 2,
      groups: 2,
    },
  },
  { name: "1-D plain", x: [1, 3, 6], w: [2, 3, 4], bias: false, opts: {} },
  { name: "2-D 3x3 pad 1", x: [2, 3, 6, 5], w: [4, 3, 3, 3], bias: true, opts: { padding: 1 } },
  {
    name: "2-D stride [2,3], asymmetric pads, dilation [2,1]",
    x: [1, 3, 9, 10],
    w: [2, 3, 3, 2],
    bias: false,
    opts: { stride: [2, 3], padding: [1, 0, 2, 1], dilation: [2, 1] },
  },
  {
    name: "2-D groups 2, stride 2",
    x: [2, 4, 7, 6],
    w: [6, 2, 3, 3],
    bias: true,
    opts: {
      stride: 2,
      padding: 1,
      groups: 2,
    },
  },
  {
    name: "2-D depthwise",
    x: [2, 4, 7, 7],
    w: [4, 1, 3, 3],
    bias: true,
    opts: {
      stride: 2,
      padding: 1,
      groups: 4,
    },
  },
  {
    name: "2-D depthwise with channel multiplier 2",
    x: [1, 3, 5, 5],
    w: [6, 1, 3, 3],
    bias: false,
    opts: {
      groups: 3,
      dilation: 2,
      padding: 2,
    },
  },
  { name: "2-D 1x1", x: [2, 3, 4, 4], w: [5, 3, 1, 1], bias: true, opts: {} },
  { name: "2-D 2x2 stride 2 (patches)", x: [1, 3, 6, 4], w: [4, 3, 2, 2], bias: true, opts: { stride: 2 } },
  {
    name: "2-D stride 3 > kernel 2 (skipped inputs)",
    x: [1, 2, 8, 9],
    w: [3, 2, 2, 2],
    bias: false,
    opts: {
      stride: 3,
    },
  },
  // Stride 1: the weight gradient takes the shifted-operands path (the cases above with stride 1 too).
  { name: "2-D 3x3 unpadded, batch 3", x: [3, 2, 5, 6], w: [3, 2, 3, 3], bias: true, opts: {} },
  {
    name: "2-D 2x3 stride 1, asymmetric pads, dilation [1,2], groups 2",
    x: [2, 4, 5, 6],
    w: [4, 2, 2, 3],
    bias: false,
    opts: { padding: [0, 2, 1, 0], dilation: [1, 2], groups: 2 },
  },
  {
    // (ungrouped: onnxruntime's WebGPU Conv3D refuses groups)
    name: "3-D 3x3x2 stride 1, asymmetric pads, dilation [1,2,1]",
    x: [1, 2, 4, 5, 4],
    w: [2, 2, 3, 3, 2],
    bias: true,
    opts: { padding: [1, 0, 1, 0, 2, 0], dilation: [1, 2, 1] },
  },
  // More than 49 taps: the weight gradient takes the swapped-convolution path.
  {
    name: "2-D 7x8 kernel (swapped weight gradient), groups 2, stride 2, asymmetric pads",
    x: [2, 4, 12, 11],
    w: [4, 2, 7, 8],
    bias: true,
    opts: { stride: 2, groups: 2, padding: [3, 2, 1, 4] },
  },
  {
    name: "2-D 8x7 kernel (swapped weight gradient), dilation [2,1], stride [1,3]",
    x: [1, 2, 18, 12],
    w: [2, 2, 8, 7],
    bias: false,
    opts: { dilation: [2, 1], stride: [1, 3], padding: [0, 1, 1, 0] },
  },
];
for (const c of convCases) {
  const specs: GradInputSpec[] = [{ shape: c.x }, { shape: c.w }];
  if (c.bias) specs.push({ shape: [c.w[0]!] });
  gc(`Conv ${c.name}`, (x, w, b) => conv(x, w, b ?? null, c.opts), specs);
}

interface ConvTransposeCase {
  name: string;
  x: number[];
  w: number[];
  bias: boolean;
  opts: Parameters<typeof convTranspose>[3];
}
const convTransposeCases: ConvTransposeCase[] = [
  {
    name: "1-D stride 2, padding 1, output padding 1",
    x: [2, 4, 5],
    w: [4, 3, 3],
    bias: true,
    opts: { stride: 2, padding: 1, outputPadding: 1 },
  },
  {
    name: "2-D 2x2 stride 2 (SAM decoder upscaling)",
    x: [1, 4, 3, 3],
    w: [4, 2, 2, 2],
    bias: true,
    opts: {
      stride: 2,
    },
  },
  {
    name: "2-D groups 2, stride 2, padding 1, output padding 1",
    x: [2, 4, 3, 4],
    w: [4, 3, 3, 3],
    bias: true,
    opts: { stride: 2, padding: 1, groups: 2, outputPadding: 1 },
  },
  {
    name: "2-D dilation 2, stride [2,3], asymmetric pads, output padding [1,2]",
    x: [1, 2, 3, 4],
    w: [2, 3, 3, 2],
    bias: false,
    opts: { stride: [2, 3], dilation: 2, padding: [1, 0, 0, 2], outputPadding: [1, 2] },
  },
  {
    name: "2-D depthwise stride 2",
    x: [1, 3, 4, 4],
    w: [3, 1, 3, 3],
    bias: true,
    opts: {
      stride: 2,
      groups: 3,
      padding: 1,
    },
  },
  {
    // (ungrouped: a grouped, dilated one is wrong on onnxruntime's WebGPU, webgpu-bugs.test.ts)
    name: "2-D stride 1, padding 1, dilation 2",
    x: [1, 3, 4, 5],
    w: [3, 2, 3, 3],
    bias: true,
    opts: { padding: 1, dilation: 2 },
  },
  {
    name: "2-D 8x7 kernel (swapped weight gradient), stride 2",
    x: [1, 2, 4, 4],
    w: [2, 3, 8, 7],
    bias: true,
    opts: { stride: 2, padding: [1, 2, 3, 0] },
  },
];
for (const c of convTransposeCases) {
  const specs: GradInputSpec[] = [{ shape: c.x }, { shape: c.w }];
  const groups = c.opts?.groups ?? 1;
  if (c.bias) specs.push({ shape: [c.w[1]! * groups] });
  gc(`ConvTranspose ${c.name}`, (x, w, b) => convTranspose(x, w, b ?? null, c.opts), specs);
}

const resizeCases: [number[], [number, number]][] = [
  [
    [1, 2, 3, 4],
    [5, 7],
  ],
  [
    [2, 1, 7, 9],
    [3, 4],
  ],
  [
    [1, 1, 4, 3],
    [2, 6],
  ],
  [
    [3, 5, 4],
    [5, 4],
  ],
];
for (const [shape, out] of resizeCases) {
  for (const ac of [false, true]) {
    gc(`resizeBilinear ${fmt(shape)} -> ${fmt(out)} align_corners=${ac}`, (x) => resizeBilinear(x, out, ac), [
      { shape },
    ]);
  }
}

// ---- a composite: the pieces of attention together -----------------------------------------

gc(
  "attention block (matmul, softmax, reshape, transpose, layerNorm, gelu)",
  (x, wq, wk, ln) => {
    const q = reshape(linear(x, wq), [2, 3, 2, 2]);
    const k = reshape(linear(x, wk), [2, 3, 2, 2]);
    const qh = transpose(q, [0, 2, 1, 3]);
    const kh = transpose(k, [0, 2, 3, 1]);
    const attn = softmax(mul(matmul(qh, kh), 0.5), -1);
    const out = reshape(transpose(matmul(attn, transpose(k, [0, 2, 1, 3])), [0, 2, 1, 3]), [2, 3, 4]);
    return gelu(layerNorm(add(out, x), ln, null));
  },
  [{ shape: [2, 3, 4] }, { shape: [4, 4] }, { shape: [4, 4] }, { shape: [4], range: [0.5, 1.5] }],
);
