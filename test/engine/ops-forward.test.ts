// Forward values of the engine's ops against independent references: plain-JS loops written
// here, hand-computed values, and (for bilinear resize) numbers printed once by PyTorch.
import assert from "node:assert/strict";
import {
  compile,
  conv,
  convTranspose,
  Graph,
  gather,
  grad,
  HostTensor,
  layerNorm,
  linear,
  logSoftmax,
  matmul,
  maximum,
  minimum,
  pad,
  randomTensor,
  reduceMax,
  reduceMean,
  reduceSum,
  resizeBilinear,
  rng,
  slice,
  softmax,
  type Tensor,
} from "../../src/engine/index.js";
import { DEVICE, RUNTIME, test } from "./test-device.js";

const random = rng(7);
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Build fn over graph inputs shaped like `feeds`, compile, run. */
async function evaluate(fn: (...xs: Tensor[]) => Tensor | Tensor[], feeds: readonly HostTensor[]) {
  const g = new Graph();
  const inputs = feeds.map((f, i) => g.input(`x${i}`, f.shape, f.dtype));
  const out = fn(...inputs);
  const f = await compile(inputs, Array.isArray(out) ? out : [out], RUNTIME);
  return Object.values(await f.run(Object.fromEntries(feeds.map((v, i) => [`x${i}`, v]))));
}

function assertClose(
  got: HostTensor,
  want: ArrayLike<number>,
  shape: readonly number[],
  what: string,
  tol = 1e-5,
): void {
  assert.deepEqual([...got.shape], [...shape], `${what}: shape`);
  const g = got.toFloat32();
  assert.equal(g.length, want.length, `${what}: length`);
  for (let i = 0; i < g.length; i++) {
    const w = want[i]!;
    assert.ok(
      Math.abs(g[i]! - w) <= tol * Math.max(1, Math.abs(w)),
      `${what}: element ${i} is ${g[i]}, expected ${w}`,
    );
  }
}

const arange = (shape: readonly number[]) =>
  HostTensor.float32(
    Array.from({ length: size(shape) }, (_, i) => i),
    shape,
  );

// ---- convolution -----------------------------------------------------------------------------

interface Geo2d {
  stride: [number, number];
  pads: [number, number, number, number]; // top, left, bottom, right (ONNX order)
  dilation: [number, number];
  groups: number;
}

/** Direct 2-D convolution: out[n,o,y,x] = b[o] + sum_{c,ky,kx} x[n, g*Cg+c, y*s-p+ky*d, ...] w[o,c,ky,kx]. */
function convRef(
  x: Float32Array,
  [n, c, h, w]: readonly number[],
  wt: Float32Array,
  [o, cg, kh, kw]: readonly number[],
  bias: Float32Array | null,
  geo: Geo2d,
) {
  const [sh, sw] = geo.stride;
  const [pt, pl, pb, pr] = geo.pads;
  const [dh, dw] = geo.dilation;
  const oh = Math.floor((h + pt + pb - dh * (kh! - 1) - 1) / sh) + 1;
  const ow = Math.floor((w! + pl + pr - dw * (kw! - 1) - 1) / sw) + 1;
  const og = o! / geo.groups;
  assert.equal(cg! * geo.groups, c);
  const out = new Float64Array(n! * o! * oh * ow);
  for (let b = 0; b < n!; b++)
    for (let oc = 0; oc < o!; oc++) {
      const grp = Math.floor(oc / og);
      for (let y = 0; y < oh; y++)
        for (let xo = 0; xo < ow; xo++) {
          let s = bias ? bias[oc]! : 0;
          for (let ci = 0; ci < cg!; ci++)
            for (let ky = 0; ky < kh!; ky++)
              for (let kx = 0; kx < kw!; kx++) {
                const iy = y * sh - pt + ky * dh;
                const ix = xo * sw - pl + kx * dw;
                if (iy < 0 || iy >= h! || ix < 0 || ix >= w!) continue;
                const xi = ((b * c! + grp * cg! + ci) * h! + iy) * w! + ix;
                s += x[xi]! * wt[((oc * cg! + ci) * kh! + ky) * kw! + kx]!;
              }
          out[((b * o! + oc) * oh + y) * ow + xo] = s;
        }
    }
  return { data: out, shape: [n!, o!, oh, ow] };
}

/** Direct 2-D transposed convolution: scatter x[n,c,y,x] * w[c,o,ky,kx] to out[n, g*Og+o, y*s-p+ky*d, ...]. */
function convTransposeRef(
  x: Float32Array,
  [n, c, h, w]: readonly number[],
  wt: Float32Array,
  [cw, og, kh, kw]: readonly number[],
  bias: Float32Array | null,
  geo: Geo2d & { outputPadding: [number, number] },
) {
  assert.equal(cw, c);
  const [sh, sw] = geo.stride;
  const [pt, pl, pb, pr] = geo.pads;
  const [dh, dw] = geo.dilation;
  const oh = (h! - 1) * sh - pt - pb + dh * (kh! - 1) + geo.outputPadding[0] + 1;
  const ow = (w! - 1) * sw - pl - pr + dw * (kw! - 1) + geo.outputPadding[1] + 1;
  const cg = c! / geo.groups;
  const o = og! * geo.groups;
  const out = new Float64Array(n! * o * oh * ow);
  for (let b = 0; b < n!; b++)
    for (let ci = 0; ci < c!; ci++) {
      const grp = Math.floor(ci / cg);
      for (let y = 0; y < h!; y++)
        for (let xi = 0; xi < w!; xi++) {
          const v = x[((b * c! + ci) * h! + y) * w! + xi]!;
          for (let oc = 0; oc < og!; oc++)
            for (let ky = 0; ky < kh!; ky++)
              for (let kx = 0; kx < kw!; kx++) {
                const oy = y * sh - pt + ky * dh;
                const ox = xi * sw - pl + kx * dw;
                if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) continue;
                out[((b * o + grp * og! + oc) * oh + oy) * ow + ox] +=
                  v * wt[((ci * og! + oc) * kh! + ky) * kw! + kx]!;
              }
        }
    }
  if (bias) for (let i = 0; i < out.length; i++) out[i]! += bias[Math.floor(i / (oh * ow)) % o]!;
  return { data: out, shape: [n!, o, oh, ow] };
}

const conv2dCases: { name: string; x: number[]; w: number[]; bias: boolean; geo: Geo2d }[] = [
  {
    name: "groups 2, stride [2,1], pads [1,0,2,1], dilation [1,2], bias",
    x: [2, 4, 9, 8],
    w: [6, 2, 3, 3],
    bias: true,
    geo: { stride: [2, 1], pads: [1, 0, 2, 1], dilation: [1, 2], groups: 2 },
  },
  {
    name: "depthwise 3x3 pad 1",
    x: [1, 3, 6, 6],
    w: [3, 1, 3, 3],
    bias: false,
    geo: { stride: [1, 1], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 3 },
  },
  {
    name: "7x8 kernel, stride 3, dilation [1,2]",
    x: [1, 2, 15, 20],
    w: [3, 2, 7, 8],
    bias: true,
    geo: { stride: [3, 3], pads: [2, 0, 0, 3], dilation: [1, 2], groups: 1 },
  },
  {
    name: "2x2 stride 2 patches",
    x: [2, 3, 4, 6],
    w: [5, 3, 2, 2],
    bias: true,
    geo: { stride: [2, 2], pads: [0, 0, 0, 0], dilation: [1, 1], groups: 1 },
  },
];

for (const c of conv2dCases) {
  test(`Conv 2-D matches a direct loop: ${c.name}`, async () => {
    const x = randomTensor(c.x, random);
    const w = randomTensor(c.w, random);
    const b = c.bias ? randomTensor([c.w[0]!], random) : null;
    const opts = {
      stride: c.geo.stride,
      padding: c.geo.pads,
      dilation: c.geo.dilation,
      groups: c.geo.groups,
    };
    const [y] = await evaluate((xi, wi, bi) => conv(xi!, wi!, bi ?? null, opts), b ? [x, w, b] : [x, w]);
    const ref = convRef(x.toFloat32(), c.x, w.toFloat32(), c.w, b?.toFloat32() ?? null, c.geo);
    assertClose(y!, ref.data, ref.shape, c.name, 1e-5);
  });
}

test("Conv 1-D matches a direct loop (groups 2, stride 2, pads [2,1], dilation 2, bias)", async () => {
  const x = randomTensor([2, 4, 10], random);
  const w = randomTensor([4, 2, 3], random);
  const b = randomTensor([4], random);
  const [y] = await evaluate(
    (xi, wi, bi) => conv(xi!, wi!, bi!, { stride: 2, padding: [2, 1], dilation: 2, groups: 2 }),
    [x, w, b],
  );
  // The 1-D convolution is the 2-D one over a height-1 image.
  const ref = convRef(x.toFloat32(), [2, 4, 1, 10], w.toFloat32(), [4, 2, 1, 3], b.toFloat32(), {
    stride: [1, 2],
    pads: [0, 2, 0, 1],
    dilation: [1, 2],
    groups: 2,
  });
  assertClose(y!, ref.data, [2, 4, ref.shape[3]!], "conv1d");
});

test("Conv by hand: 1x1 input channel, 2x2 kernel of ones sums each window", async () => {
  const [y] = await evaluate(
    (x, w) => conv(x!, w!),
    [arange([1, 1, 3, 3]), HostTensor.float32([1, 1, 1, 1], [1, 1, 2, 2])],
  );
  assertClose(y!, [0 + 1 + 3 + 4, 1 + 2 + 4 + 5, 3 + 4 + 6 + 7, 4 + 5 + 7 + 8], [1, 1, 2, 2], "box sum");
});

const convTransposeCases: {
  name: string;
  x: number[];
  w: number[];
  bias: boolean;
  geo: Geo2d & { outputPadding: [number, number] };
}[] = [
  {
    name: "groups 2, stride 2, pads [1,0,0,1], output padding 1, dilation [1,2], bias",
    x: [2, 4, 3, 4],
    w: [4, 3, 3, 3],
    bias: true,
    geo: { stride: [2, 2], pads: [1, 0, 0, 1], dilation: [1, 2], groups: 2, outputPadding: [1, 1] },
  },
  {
    name: "2x2 stride 2 (SAM decoder upscaling)",
    x: [1, 4, 3, 3],
    w: [4, 2, 2, 2],
    bias: true,
    geo: { stride: [2, 2], pads: [0, 0, 0, 0], dilation: [1, 1], groups: 1, outputPadding: [0, 0] },
  },
  {
    name: "depthwise stride [3,2], output padding [2,1]",
    x: [1, 3, 3, 4],
    w: [3, 1, 3, 3],
    bias: false,
    geo: { stride: [3, 2], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 3, outputPadding: [2, 1] },
  },
];

for (const c of convTransposeCases) {
  test(`ConvTranspose 2-D matches a direct scatter loop: ${c.name}`, async () => {
    const x = randomTensor(c.x, random);
    const w = randomTensor(c.w, random);
    const b = c.bias ? randomTensor([c.w[1]! * c.geo.groups], random) : null;
    const opts = {
      stride: c.geo.stride,
      padding: c.geo.pads,
      dilation: c.geo.dilation,
      groups: c.geo.groups,
      outputPadding: c.geo.outputPadding,
    };
    const [y] = await evaluate(
      (xi, wi, bi) => convTranspose(xi!, wi!, bi ?? null, opts),
      b ? [x, w, b] : [x, w],
    );
    const ref = convTransposeRef(x.toFloat32(), c.x, w.toFloat32(), c.w, b?.toFloat32() ?? null, c.geo);
    assertClose(y!, ref.data, ref.shape, c.name, 1e-5);
  });
}

test("ConvTranspose 1-D matches a direct scatter loop (stride 3, padding 1, output padding 2)", async () => {
  const x = randomTensor([1, 2, 4], random);
  const w = randomTensor([2, 3, 3], random);
  const [y] = await evaluate(
    (xi, wi) => convTranspose(xi!, wi!, null, { stride: 3, padding: 1, outputPadding: 2 }),
    [x, w],
  );
  const ref = convTransposeRef(x.toFloat32(), [1, 2, 1, 4], w.toFloat32(), [2, 3, 1, 3], null, {
    stride: [1, 3],
    pads: [0, 1, 0, 1],
    dilation: [1, 1],
    groups: 1,
    outputPadding: [0, 2],
  });
  assertClose(y!, ref.data, [1, 3, ref.shape[3]!], "convTranspose1d");
});

// ---- bilinear resize against PyTorch -------------------------------------------------------

// F.interpolate(x, size, mode="bilinear", align_corners=ac) in float64, PyTorch 1.13, for
// x = [[0.5, -1, 2, 3.5], [1.25, 0, -2.5, 4], [3, -0.75, 1.5, 2.25]] as [1, 1, 3, 4].
const resizeInput = [0.5, -1.0, 2.0, 3.5, 1.25, 0.0, -2.5, 4.0, 3.0, -0.75, 1.5, 2.25];
const torchResize: [[number, number], boolean, number[]][] = [
  [
    [5, 7],
    false,
    [
      0.5, -0.035714286, -0.892857143, 0.5, 2.107142857, 2.964285714, 3.5, 0.8, 0.3, -0.5, -0.2, 0.45, 2.45,
      3.7, 1.25, 0.803571429, 0.089285714, -1.25, -2.035714286, 1.678571429, 4.0, 2.3, 1.317857143,
      -0.253571429, -0.275, 0.117857143, 1.860714286, 2.95, 3.0, 1.660714286, -0.482142857, 0.375,
      1.553571429, 1.982142857, 2.25,
    ],
  ],
  [
    [5, 7],
    true,
    [
      0.5, -0.25, -1.0, 0.5, 2.0, 2.75, 3.5, 0.875, 0.1875, -0.5, -0.375, -0.25, 1.75, 3.75, 1.25, 0.625, 0.0,
      -1.25, -2.5, 0.75, 4.0, 2.125, 0.875, -0.375, -0.4375, -0.5, 1.3125, 3.125, 3.0, 1.125, -0.75, 0.375,
      1.5, 1.875, 2.25,
    ],
  ],
  [[2, 3], false, [0.447916667, 0.0625, 3.166666667, 2.041666667, -0.03125, 2.322916667]],
  [[2, 3], true, [0.5, 0.5, 3.5, 3.0, 0.375, 2.25]],
  [
    [2, 6],
    false,
    [
      0.6875, -0.03125, -0.479166667, 0.604166667, 2.25, 3.625, 2.5625, 1.0, -0.385416667, 0.322916667,
      1.59375, 2.6875,
    ],
  ],
  [[2, 6], true, [0.5, -0.4, -0.4, 1.4, 2.6, 3.5, 3.0, 0.75, -0.3, 1.05, 1.8, 2.25]],
  [
    [7, 3],
    false,
    [
      0.25, 0.5, 3.25, 0.363095238, 0.25, 3.202380952, 0.702380952, -0.5, 3.05952381, 1.041666667, -1.25,
      2.916666667, 1.613095238, -0.553571429, 2.577380952, 2.18452381, 0.142857143, 2.238095238, 2.375, 0.375,
      2.125,
    ],
  ],
  [
    [7, 3],
    true,
    [
      0.5, 0.5, 3.5, 0.75, -0.083333333, 3.666666667, 1.0, -0.666666667, 3.833333333, 1.25, -1.25, 4.0,
      1.833333333, -0.708333333, 3.416666667, 2.416666667, -0.166666667, 2.833333333, 3.0, 0.375, 2.25,
    ],
  ],
  [[1, 2], false, [0.625, 0.75]],
  [[1, 2], true, [0.5, 3.5]],
  [
    [3, 8],
    false,
    [
      0.5, 0.125, -0.625, -0.25, 1.25, 2.375, 3.125, 3.5, 1.25, 0.9375, 0.3125, -0.625, -1.875, -0.875, 2.375,
      4.0, 3.0, 2.0625, 0.1875, -0.1875, 0.9375, 1.6875, 2.0625, 2.25,
    ],
  ],
  [
    [3, 8],
    true,
    [
      0.5, -0.142857143, -0.785714286, -0.142857143, 1.142857143, 2.214285714, 2.857142857, 3.5, 1.25,
      0.714285714, 0.178571429, -0.714285714, -1.785714286, -1.571428571, 1.214285714, 4.0, 3.0, 1.392857143,
      -0.214285714, -0.107142857, 0.857142857, 1.607142857, 1.928571429, 2.25,
    ],
  ],
];

for (const [out, ac, want] of torchResize) {
  test(`resizeBilinear [3,4] -> [${out}] align_corners=${ac} matches PyTorch`, async () => {
    const [y] = await evaluate(
      (x) => resizeBilinear(x!, out, ac),
      [HostTensor.float32(resizeInput, [1, 1, 3, 4])],
    );
    assertClose(y!, want, [1, 1, ...out], `resize ${out} ac=${ac}`, 2e-6);
  });
}

test("resizeBilinear resizes every leading slice the same way", async () => {
  // Channel k holds (k + 1) * x, so by linearity its result is (k + 1) * PyTorch's.
  const x = HostTensor.float32(
    Array.from({ length: 6 }, (_, k) => resizeInput.map((v) => v * ((k % 3) + 1))).flat(),
    [2, 3, 3, 4],
  );
  const [, ac, want] = torchResize[0]!;
  const [y] = await evaluate((t) => resizeBilinear(t!, [5, 7], ac), [x]);
  const expected = Array.from({ length: 6 }, (_, k) => want.map((v) => v * ((k % 3) + 1))).flat();
  assertClose(y!, expected, [2, 3, 5, 7], "batched resize", 2e-6);
});

// ---- data movement -----------------------------------------------------------------------

/** x[r, c] of a [4, 7] arange, for lists of rows and columns. */
const pick = (rows: number[], cols: number[]) => rows.flatMap((r) => cols.map((c) => r * 7 + c));

const sliceCases: [string, Parameters<typeof slice>[1], number[], number[]][] = [
  ["step -2 from 5 to 0", [{ axis: 1, start: 5, end: 0, step: -2 }], [0, 1, 2, 3], [5, 3, 1]],
  [
    "full reverse with clamped end",
    [{ axis: 0, start: -1, end: -100, step: -1 }],
    [3, 2, 1, 0],
    [0, 1, 2, 3, 4, 5, 6],
  ],
  ["step -3 with clamped start", [{ axis: 1, start: 100, end: -100, step: -3 }], [0, 1, 2, 3], [6, 3, 0]],
  ["step 3 with clamped end", [{ axis: 1, start: 0, end: 1000, step: 3 }], [0, 1, 2, 3], [0, 3, 6]],
  [
    "negative start and end, step -1",
    [{ axis: 0, start: -2, end: -5, step: -1 }],
    [2, 1, 0],
    [0, 1, 2, 3, 4, 5, 6],
  ],
  [
    "both axes, negative steps",
    [
      { axis: 0, start: 3, end: 0, step: -2 },
      { axis: -1, start: 5, end: -8, step: -2 },
    ],
    [3, 1],
    [5, 3, 1],
  ],
  ["unit step, negative indices", [{ axis: 1, start: -3, end: -1 }], [0, 1, 2, 3], [4, 5]],
];
for (const [name, specs, rows, cols] of sliceCases) {
  test(`Slice forward: ${name}`, async () => {
    const [y] = await evaluate((x) => slice(x!, specs), [arange([4, 7])]);
    assertClose(y!, pick(rows, cols), [rows.length, cols.length], name);
  });
}

test("Slice backward with negative steps scatters into the picked positions", async () => {
  const g = new Graph();
  const x = g.input("x", [4, 7]);
  const y = slice(x, [
    { axis: 0, start: 3, end: 0, step: -2 },
    { axis: 1, start: 100, end: -100, step: -3 },
  ]);
  const seed = g.constant(HostTensor.float32([1, 2, 3, 4, 5, 6], [2, 3]));
  const [dx] = grad(y, [x], seed);
  const f = await compile([x], [dx!], RUNTIME);
  const [d] = Object.values(await f.run({ x: arange([4, 7]) }));
  const want = new Array(28).fill(0);
  // rows [3, 1] x cols [6, 3, 0]
  [3, 1].forEach((r, i) => {
    [6, 3, 0].forEach((c, j) => {
      want[r * 7 + c] = 1 + i * 3 + j;
    });
  });
  assertClose(d!, want, [4, 7], "slice adjoint");
});

test("Gather forward: 2-D indices along axis 0 and repeated indices along axis 1", async () => {
  const x = arange([3, 4]);
  const idx = HostTensor.int64([2, 0, 2, 1], [2, 2]);
  const [a, b] = await evaluate((t, i) => [gather(t!, i!, 0), gather(t!, [3, 3, 0], 1)], [x, idx]);
  const row = (r: number) => [0, 1, 2, 3].map((c) => r * 4 + c);
  assertClose(a!, [...row(2), ...row(0), ...row(2), ...row(1)], [2, 2, 4], "gather axis 0");
  assertClose(b!, [3, 3, 0, 7, 7, 4, 11, 11, 8], [3, 3], "gather axis 1");
});

test("Gather gradient adds up repeated indices", async () => {
  const g = new Graph();
  const x = g.input("x", [3, 2]);
  const [dx] = grad(gather(x, [2, 0, 2, 2], 0), [x], g.constant(arange([4, 2])));
  const f = await compile([x], [dx!], RUNTIME);
  const [d] = Object.values(await f.run({ x: arange([3, 2]) }));
  // rows of the seed: [0,1] -> 2, [2,3] -> 0, [4,5] -> 2, [6,7] -> 2
  assertClose(d!, [2, 3, 0, 0, 10, 13], [3, 2], "gather adjoint");
});

// Indices fed at run time: int64 and int32 on the CPU; int32 only on the GPU, whose provider has
// no int64 arithmetic (its nodes would fall back to the CPU, which these tests forbid there).
for (const dtype of DEVICE === "webgpu" ? (["int32"] as const) : (["int64", "int32"] as const)) {
  test(`Gather with negative ${dtype} indices counts from the end, forward and backward`, async () => {
    const g = new Graph();
    const x = g.input("x", [2, 4]);
    const idx = g.input("idx", [3], dtype);
    const y = gather(x, idx, 1);
    const [dx] = grad(y, [x], g.constant(HostTensor.float32([1, 2, 3, 4, 5, 6], [2, 3])));
    const f = await compile([x, idx], [y, dx!], RUNTIME);
    const indices =
      dtype === "int64" ? HostTensor.int64([-1, 0, -1], [3]) : HostTensor.int32([-1, 0, -1], [3]);
    const [yv, d] = Object.values(await f.run({ x: arange([2, 4]), idx: indices }));
    assertClose(yv!, [3, 0, 3, 7, 4, 7], [2, 3], "gather forward");
    assertClose(d!, [2, 0, 0, 1 + 3, 5, 0, 0, 4 + 6], [2, 4], "gather adjoint");
  });
}

test("Pad forward: positive pads with a value, negative pads crop", async () => {
  const x = HostTensor.float32([1, 2, 3, 4, 5, 6], [2, 3]);
  const [a, b, c] = await evaluate(
    (t) => [
      pad(
        t!,
        [
          [1, 0],
          [2, 1],
        ],
        0.5,
      ),
      pad(t!, [
        [0, -1],
        [-1, 1],
      ]),
      pad(t!, [[-1, 2]]),
    ],
    [x],
  );
  const h = 0.5;
  assertClose(a!, [h, h, h, h, h, h, h, h, 1, 2, 3, h, h, h, 4, 5, 6, h], [3, 6], "pad positive");
  assertClose(b!, [2, 3, 0], [1, 3], "pad negative");
  assertClose(c!, [4, 5, 6, 0, 0, 0, 0, 0, 0], [3, 3], "pad mixed");
});

// ---- normalisation, softmax, reductions --------------------------------------------------

function layerNormRef(
  x: Float32Array,
  rows: number,
  n: number,
  w: Float32Array,
  b: Float32Array,
  eps: number,
) {
  const out = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += x[r * n + i]!;
    mean /= n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (x[r * n + i]! - mean) ** 2;
    v /= n;
    for (let i = 0; i < n; i++)
      out[r * n + i] = ((x[r * n + i]! - mean) / Math.sqrt(v + eps)) * w[i]! + b[i]!;
  }
  return out;
}

test("LayerNormalization over the last axis matches a direct loop", async () => {
  const x = randomTensor([2, 3, 5], random, [-2, 3]);
  const w = randomTensor([5], random);
  const b = randomTensor([5], random);
  const [y] = await evaluate((t, wi, bi) => layerNorm(t!, wi!, bi!, 1e-5), [x, w, b]);
  assertClose(
    y!,
    layerNormRef(x.toFloat32(), 6, 5, w.toFloat32(), b.toFloat32(), 1e-5),
    [2, 3, 5],
    "ln",
    1e-4,
  );
});

test("LayerNormalization over the last two axes matches a direct loop", async () => {
  const x = randomTensor([2, 3, 4], random, [-2, 3]);
  const w = randomTensor([3, 4], random);
  const b = randomTensor([3, 4], random);
  const [y] = await evaluate((t, wi, bi) => layerNorm(t!, wi!, bi!, 1e-6, -2), [x, w, b]);
  assertClose(
    y!,
    layerNormRef(x.toFloat32(), 2, 12, w.toFloat32(), b.toFloat32(), 1e-6),
    [2, 3, 4],
    "ln2",
    1e-4,
  );
});

test("LayerNormalization without bias", async () => {
  const [y] = await evaluate(
    (t, wi) => layerNorm(t!, wi!, null, 0),
    [HostTensor.float32([1, 2, 3, 4], [1, 4]), HostTensor.float32([1, 1, 2, 2], [4])],
  );
  const s = Math.sqrt(1.25);
  assertClose(y!, [-1.5 / s, -0.5 / s, 1 / s, 3 / s], [1, 4], "ln no bias", 1e-5);
});

test("Softmax and LogSoftmax match a direct loop (and stay finite for large inputs)", async () => {
  const x = randomTensor([2, 3, 4], random, [-3, 3]);
  const [s, ls, big] = await evaluate(
    (t, u) => [softmax(t!, 1), logSoftmax(t!, 0), softmax(u!, -1)],
    [x, HostTensor.float32([1000, 1001, 1002], [3])],
  );
  const xv = x.toFloat32();
  const at = (i: number, j: number, k: number) => xv[(i * 3 + j) * 4 + k]!;
  const sm: number[] = [];
  const lsm: number[] = [];
  for (let i = 0; i < 2; i++)
    for (let j = 0; j < 3; j++)
      for (let k = 0; k < 4; k++) {
        let z = 0;
        for (let q = 0; q < 3; q++) z += Math.exp(at(i, q, k));
        sm.push(Math.exp(at(i, j, k)) / z);
        lsm.push(at(i, j, k) - Math.log(Math.exp(at(0, j, k)) + Math.exp(at(1, j, k))));
      }
  assertClose(s!, sm, [2, 3, 4], "softmax axis 1");
  assertClose(ls!, lsm, [2, 3, 4], "logSoftmax axis 0");
  const e = [Math.exp(-2), Math.exp(-1), 1];
  const z = e[0]! + e[1]! + e[2]!;
  assertClose(
    big!,
    e.map((v) => v / z),
    [3],
    "softmax of large values",
  );
});

test("ReduceSum/Mean/Max forward over several axes", async () => {
  const x = arange([2, 3, 4]);
  const [s, m, mx] = await evaluate(
    (t) => [reduceSum(t!, [0, 2]), reduceMean(t!, [1], true), reduceMax(t!, [0, 1])],
    [x],
  );
  // sum over i,k of (12 i + 4 j + k) = 2*4*4j + (0+12)*4 + 2*(0+1+2+3)
  assertClose(
    s!,
    [0, 1, 2].map((j) => 32 * j + 48 + 12),
    [3],
    "sum",
  );
  assertClose(m!, [4, 5, 6, 7, 16, 17, 18, 19], [2, 1, 4], "mean");
  assertClose(mx!, [20, 21, 22, 23], [4], "max");
});

test("ReduceMax shares the gradient equally between ties", async () => {
  const g = new Graph();
  const x = g.input("x", [2, 3]);
  const rowMax = reduceMax(x, [1]);
  const allMax = reduceMax(x);
  const [d1] = grad(rowMax, [x], g.constant(HostTensor.float32([1, 6], [2])));
  const [d2] = grad(allMax, [x]);
  const f = await compile([x], [rowMax, d1!, d2!], RUNTIME);
  const [y, a, b] = Object.values(await f.run({ x: HostTensor.float32([1, 3, 3, 2, 2, 2], [2, 3]) }));
  assertClose(y!, [3, 2], [2], "row max");
  assertClose(a!, [0, 0.5, 0.5, 2, 2, 2], [2, 3], "row max gradient");
  assertClose(b!, [0, 0.5, 0.5, 0, 0, 0], [2, 3], "global max gradient");
});

test("Max/Min send the gradient of a tie to the first operand", async () => {
  const g = new Graph();
  const a = g.input("a", [3]);
  const b = g.input("b", [3]);
  const [da, db] = grad(maximum(a, b), [a, b]);
  const [ea, eb] = grad(minimum(a, b), [a, b]);
  const f = await compile([a, b], [da!, db!, ea!, eb!], RUNTIME);
  const out = Object.values(
    await f.run({ a: HostTensor.float32([1, 2, 3], [3]), b: HostTensor.float32([1, 5, 0], [3]) }),
  );
  assertClose(out[0]!, [1, 0, 1], [3], "max da");
  assertClose(out[1]!, [0, 1, 0], [3], "max db");
  assertClose(out[2]!, [1, 1, 0], [3], "min da");
  assertClose(out[3]!, [0, 0, 1], [3], "min db");
});

// ---- matrix products -----------------------------------------------------------------------

test("MatMul with broadcast batch axes and linear match direct loops", async () => {
  const a = randomTensor([2, 1, 3, 4], random);
  const b = randomTensor([5, 4, 2], random);
  const w = randomTensor([3, 4], random);
  const bias = randomTensor([3], random);
  const [y, l] = await evaluate(
    (ai, bi, wi, ci) => [matmul(ai!, bi!), linear(ai!, wi!, ci!)],
    [a, b, w, bias],
  );
  const [av, bv, wv, cv] = [a.toFloat32(), b.toFloat32(), w.toFloat32(), bias.toFloat32()];
  const want: number[] = [];
  for (let i = 0; i < 2; i++)
    for (let j = 0; j < 5; j++)
      for (let m = 0; m < 3; m++)
        for (let n = 0; n < 2; n++) {
          let s = 0;
          for (let k = 0; k < 4; k++) s += av[(i * 3 + m) * 4 + k]! * bv[(j * 4 + k) * 2 + n]!;
          want.push(s);
        }
  assertClose(y!, want, [2, 5, 3, 2], "matmul");
  const lin: number[] = [];
  for (let r = 0; r < 6; r++)
    for (let o = 0; o < 3; o++) {
      let s = cv[o]!;
      for (let k = 0; k < 4; k++) s += av[r * 4 + k]! * wv[o * 4 + k]!;
      lin.push(s);
    }
  assertClose(l!, lin, [2, 1, 3, 3], "linear");
});
