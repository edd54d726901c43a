// SAM image encoder, LoRA and input-size adaptation: against the tiny golden fixture
// (test/fixtures/sam/tiny), against PyTorch reference values at other sizes (window
// attention with padding; test/sam/encoder-refs.ts), and finite-difference gradients.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  compile,
  Graph,
  gradCheck,
  HostTensor,
  randomTensor,
  reshape,
  rng,
  type Tensor,
  transpose,
} from "../../src/engine/index.js";
import { readSafetensors, toFloat32 } from "../../src/io/checkpoints/safetensors.js";
import { loadConfigFile, type SamConfig } from "../../src/sam/config.js";
import {
  getRelPos,
  imageEncoder,
  imageEncoderFeatures,
  imageEncoderWeightShapes,
  permute,
  relativeIndices,
} from "../../src/sam/image-encoder.js";
import {
  isLoraKey,
  type LoraOptions,
  loraDefaults,
  loraWeightShapes,
  resolveLora,
} from "../../src/sam/lora.js";
import { ParamStore, type ParamStoreOptions } from "../../src/sam/params.js";
import { resizeEncoderWeights, resizePosEmbed, resizeRelPos } from "../../src/sam/resize-weights.js";
import { ENCODER_REFS } from "./encoder-refs.js";

const TINY = new URL("../fixtures/sam/tiny/", import.meta.url).pathname;

function readHost(path: string): Map<string, HostTensor> {
  const { tensors } = readSafetensors(path);
  return new Map([...tensors].map(([k, t]) => [k, new HostTensor("float32", t.shape, toFloat32(t))]));
}

const cfg = loadConfigFile(`${TINY}config.json`);
const weights = readHost(`${TINY}weights.safetensors`);
const io = readHost(`${TINY}io.safetensors`);
const loraFromFixture = new Map([...io].filter(([k]) => k.startsWith("lora.")));

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

interface RunOptions {
  lora?: LoraOptions;
  store?: ParamStoreOptions;
}

/** Build, compile and run the encoder on `x`; returns the output and the store. */
async function runEncoder(source: Map<string, HostTensor>, c: SamConfig, x: HostTensor, o: RunOptions = {}) {
  const g = new Graph();
  const xin = g.input("x", x.shape);
  const store = new ParamStore(g, source, o.store);
  const y = imageEncoder(xin, store.scope("image_encoder."), c, o.lora ? { lora: o.lora } : {});
  const f = await compile([xin, ...store.trainable.map((t) => t.tensor)], [y]);
  const feeds = Object.fromEntries(store.trainable.map((t) => [t.tensor.name!, t.initial]));
  const { out0: out } = await f.run({ x, ...feeds });
  return { out: out!, store, y };
}

/** input_nchw[:, :, :s, :s] and, for batch 2, input_nchw[:, :, -s:, -s:] flipped left-right. */
function cropInput(s: number, batch: 1 | 2): HostTensor {
  const src = io.get("input_nchw")!;
  const full = src.shape[2]!;
  const data = src.data as Float32Array;
  const out = new Float32Array(batch * 3 * s * s);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < s; i++) {
        for (let j = 0; j < s; j++) {
          const [si, sj] = b === 0 ? [i, j] : [full - s + i, full - 1 - j];
          out[((b * 3 + c) * s + i) * s + j] = data[(c * full + si) * full + sj]!;
        }
      }
    }
  }
  return new HostTensor("float32", [batch, 3, s, s], out);
}

interface Summary {
  shape: readonly number[];
  sum: number;
  checksum: number;
  index: readonly number[];
  values: readonly number[];
}

function assertMatchesSummary(actual: HostTensor, ref: Summary, tol: number, what: string): void {
  assert.deepEqual(actual.shape, ref.shape, `${what}: shape`);
  const d = actual.toFloat32();
  const picked = ref.index.map((i) => d[i]!);
  const err = maxAbsDiff(picked, ref.values);
  assert.ok(err <= tol, `${what}: sampled values differ by ${err}`);
  let sum = 0;
  let check = 0;
  for (let i = 0; i < d.length; i++) {
    sum += d[i]!;
    check += d[i]! * Math.cos(i);
  }
  assert.ok(Math.abs(sum - ref.sum) <= tol * 20, `${what}: sum ${sum} vs ${ref.sum}`);
  assert.ok(Math.abs(check - ref.checksum) <= tol * 20, `${what}: checksum ${check} vs ${ref.checksum}`);
}

describe("SAM image encoder vs the tiny fixture", () => {
  test("image_embeddings from input_nchw within 1e-4, every encoder weight used", async (t) => {
    const { out, store } = await runEncoder(weights, cfg, io.get("input_nchw")!);
    const err = maxAbsDiff(out.toFloat32(), io.get("image_embeddings")!.toFloat32());
    t.diagnostic(`image_embeddings max abs error ${err.toExponential(2)}`);
    assert.deepEqual(out.shape, [1, cfg.promptEmbedDim, 8, 8]);
    assert.ok(err < 1e-4, `max abs error ${err}`);
    assert.deepEqual(
      store.unusedKeys().filter((k) => k.startsWith("image_encoder.")),
      [],
    );
    assert.deepEqual(
      [...imageEncoderWeightShapes(cfg).keys()].map((k) => `image_encoder.${k}`).sort(),
      [...weights.keys()].filter((k) => k.startsWith("image_encoder.")).sort(),
    );
  });

  test("lora_image_embeddings with the fixture's q/v adapters, frozen (merged) and trainable", async (t) => {
    const source = new Map([...weights, ...loraFromFixture]);
    const ref = io.get("lora_image_embeddings")!.toFloat32();
    const frozen = await runEncoder(source, cfg, io.get("input_nchw")!, { lora: { rank: 4 } });
    const trained = await runEncoder(source, cfg, io.get("input_nchw")!, {
      lora: { rank: 4 },
      store: { trainable: isLoraKey },
    });
    assert.equal(trained.store.trainable.length, 16);
    assert.equal(frozen.store.trainable.length, 0);
    for (const [name, r] of [
      ["frozen", frozen],
      ["trainable", trained],
    ] as const) {
      const err = maxAbsDiff(r.out.toFloat32(), ref);
      t.diagnostic(`lora_image_embeddings (${name}) max abs error ${err.toExponential(2)}`);
      assert.ok(err < 1e-4, `${name}: max abs error ${err}`);
    }
    // Frozen adapters are merged into the qkv weight ([3C, 2r] x [2r, C]); trained ones are not.
    const merged = (y: Tensor) =>
      y.graph.nodes.some((n) => n.op === "MatMul" && n.outputs[0]!.shape.join() === "192,64");
    assert.ok(merged(frozen.y));
    assert.ok(!merged(trained.y));
    assert.deepEqual(
      frozen.store.unusedKeys().filter((k) => k.startsWith("lora.") || k.startsWith("image_encoder.")),
      [],
    );
  });

  test("a fresh adapter (loraDefaults: B = 0) leaves the embeddings unchanged", async () => {
    const opts: LoraOptions = { rank: 3, targets: ["q", "k", "v", "proj", "mlp1", "mlp2"], blocks: [0, 3] };
    const r = await runEncoder(weights, cfg, io.get("input_nchw")!, {
      lora: opts,
      store: { trainable: isLoraKey, defaults: (k, s) => loraDefaults(k, s, 7) },
    });
    assert.deepEqual(
      r.store.trainable.map((t) => t.key),
      [...loraWeightShapes(cfg, opts).keys()],
    );
    const err = maxAbsDiff(r.out.toFloat32(), io.get("image_embeddings")!.toFloat32());
    assert.ok(err < 1e-4, `max abs error ${err}`);
  });

  test("block outputs are exposed channels-last", () => {
    const g = new Graph();
    const x = g.input("x", [2, 3, 128, 128]);
    const f = imageEncoderFeatures(x, new ParamStore(g, weights).scope("image_encoder."), cfg);
    assert.equal(f.blockOutputs.length, cfg.encoderDepth);
    for (const b of f.blockOutputs) assert.deepEqual(b.shape, [2, 8, 8, cfg.encoderEmbedDim]);
    assert.deepEqual(f.embeddings.shape, [2, cfg.promptEmbedDim, 8, 8]);
  });

  test("rejects an input of the wrong size", () => {
    const g = new Graph();
    const x = g.input("x", [1, 3, 96, 96]);
    assert.throws(
      () => imageEncoder(x, new ParamStore(g, weights).scope("image_encoder."), cfg),
      /\[B, 3, 128, 128\]/,
    );
  });
});

describe("SAM image encoder at other input sizes (PyTorch reference after SAMed's resize)", () => {
  const cases = [
    // 96 -> 6x6 grid, window 4: windows padded to 8x8; two images in the batch.
    { size: 96, batch: 2 as const, lora: false, ref: ENCODER_REFS.s96_b2 },
    { size: 96, batch: 1 as const, lora: true, ref: ENCODER_REFS.s96_b1_lora },
    // 80 -> 5x5 grid: windows padded to 8x8 with 3 rows and columns of padding.
    { size: 80, batch: 1 as const, lora: false, ref: ENCODER_REFS.s80_b1 },
    // 64 -> 4x4 grid: one window, no padding.
    { size: 64, batch: 1 as const, lora: false, ref: ENCODER_REFS.s64_b1 },
  ];
  for (const c of cases) {
    test(`image_size ${c.size}, batch ${c.batch}${c.lora ? ", LoRA" : ""}`, async () => {
      const sized = { ...cfg, imageSize: c.size };
      const { weights: w, resized } = resizeEncoderWeights(weights, sized);
      assert.equal(resized.length, 5);
      const source = c.lora ? new Map([...w, ...loraFromFixture]) : w;
      const { out } = await runEncoder(source, sized, cropInput(c.size, c.batch), c.lora ? { lora: {} } : {});
      assertMatchesSummary(out, c.ref, 1e-4, `size ${c.size}`);
    });
  }

  test("image_size 64: without resizing, the checkpoint's shapes are refused", () => {
    const g = new Graph();
    const x = g.input("x", [1, 3, 64, 64]);
    assert.throws(
      () => imageEncoder(x, new ParamStore(g, weights).scope("image_encoder."), { ...cfg, imageSize: 64 }),
      /pos_embed has shape \[1, 8, 8, 64\], the model needs \[1, 4, 4, 64\]/,
    );
  });
});

describe("resize-weights (SAMed load_from)", () => {
  test("pos_embed: bilinear, align_corners=False, up and down", () => {
    const data = Float32Array.from({ length: 24 }, (_, i) => i ** 1.5 / 7);
    const pos = new HostTensor("float32", [1, 3, 4, 2], data);
    const up = resizePosEmbed(pos, 5);
    assert.deepEqual(up.shape, [1, 5, 5, 2]);
    assert.ok(maxAbsDiff(up.toFloat32(), ENCODER_REFS.pos_5) < 2e-6);
    const down = resizePosEmbed(pos, [2, 2]);
    assert.ok(maxAbsDiff(down.toFloat32(), ENCODER_REFS.pos_2) < 2e-6);
    assert.equal(resizePosEmbed(pos, [3, 4]), pos);
  });

  test("rel_pos tables: bilinear on [1, 1, L, C] = linear along L", () => {
    const data = Float32Array.from({ length: 10 }, (_, i) => i ** 1.3 / 3);
    const table = new HostTensor("float32", [5, 2], data);
    assert.ok(maxAbsDiff(resizeRelPos(table, 9).toFloat32(), ENCODER_REFS.relpos_9) < 2e-6);
    assert.ok(maxAbsDiff(resizeRelPos(table, 3).toFloat32(), ENCODER_REFS.relpos_3) < 2e-6);
    // Hand check: L 5 -> 3 samples rows 1/6*... at src = (o + 0.5) * 5/3 - 0.5 = 1/3, 2, 11/3.
    const r = resizeRelPos(table, 3).toFloat32();
    assert.ok(Math.abs(r[2]! - data[4]!) < 1e-6 && Math.abs(r[3]! - data[5]!) < 1e-6);
    assert.ok(Math.abs(r[0]! - ((2 / 3) * data[0]! + (1 / 3) * data[2]!)) < 1e-6);
  });

  test("the tiny checkpoint at image_size 64: pos_embed and global tables resized, window tables kept", () => {
    const sized = { ...cfg, imageSize: 64 };
    const { weights: w, resized } = resizeEncoderWeights(weights, sized);
    assert.deepEqual(resized, [
      "image_encoder.pos_embed",
      "image_encoder.blocks.1.attn.rel_pos_h",
      "image_encoder.blocks.1.attn.rel_pos_w",
      "image_encoder.blocks.3.attn.rel_pos_h",
      "image_encoder.blocks.3.attn.rel_pos_w",
    ]);
    assertMatchesSummary(w.get("image_encoder.pos_embed")!, ENCODER_REFS.s64_b1.pos_embed, 1e-6, "pos_embed");
    assertMatchesSummary(
      w.get("image_encoder.blocks.1.attn.rel_pos_h")!,
      ENCODER_REFS.s64_b1.rel_pos_h_1,
      1e-6,
      "rel_pos_h",
    );
    assert.equal(
      w.get("image_encoder.blocks.0.attn.rel_pos_h"),
      weights.get("image_encoder.blocks.0.attn.rel_pos_h"),
    );
    assert.equal(w.get("image_encoder.neck.2.weight"), weights.get("image_encoder.neck.2.weight"));
    // Same size: nothing to do.
    assert.deepEqual(resizeEncoderWeights(weights, cfg).resized, []);
  });
});

describe("relative positions", () => {
  const table = new HostTensor(
    "float32",
    [5, 2],
    Float32Array.from({ length: 10 }, (_, i) => i ** 1.3 / 3),
  );
  const cases = [
    [4, 4, ENCODER_REFS.get_rel_pos_4_4],
    [2, 4, ENCODER_REFS.get_rel_pos_2_4],
    [3, 2, ENCODER_REFS.get_rel_pos_3_2],
  ] as const;
  for (const [q, k, ref] of cases) {
    test(`get_rel_pos(${q}, ${k}) from a 5-row table (resampled to ${2 * Math.max(q, k) - 1})`, async () => {
      const g = new Graph();
      const t = g.input("t", [5, 2]);
      const f = await compile([t], [getRelPos(q, k, t)]);
      const { out0: out } = await f.run({ t: table });
      assert.deepEqual(out!.shape, [q, k, 2]);
      assert.ok(maxAbsDiff(out!.toFloat32(), ref) < 2e-6);
    });
  }

  test("relativeIndices: q - k + (k - 1), scaled when sizes differ", () => {
    assert.deepEqual(relativeIndices(3, 3), [2, 1, 0, 3, 2, 1, 4, 3, 2]);
    assert.deepEqual(relativeIndices(2, 4), [3, 2, 1, 0, 5, 4, 3, 2]);
  });
});

test("permute: reduced-rank Transpose equals the plain one", async () => {
  const shape = [2, 1, 3, 4, 1, 5];
  const perm = [3, 5, 0, 1, 2, 4];
  const g = new Graph();
  const x = g.input("x", [120]);
  const outShape = perm.map((p) => shape[p]!);
  const a = permute(x, shape, perm, outShape);
  const plain = transpose(reshape(x, shape), perm);
  const f = await compile([x], [a, plain]);
  const data = randomTensor([120], rng(3));
  const { out0: ya, out1: yb } = await f.run({ x: data });
  assert.deepEqual(Array.from(ya!.toFloat32()), Array.from(yb!.toFloat32()));
  // Dropping the ones and merging (3, 5) and (0, 2) leaves a 2-axis transpose.
  const node = g.nodes.find((n) => n.op === "Transpose" && n.outputs[0]!.id === a.producer!.inputs[0]!.id);
  assert.equal(node?.outputs[0]?.rank, 2);
});

describe("LoRA", () => {
  test("loraDefaults: A Kaiming-uniform(a=sqrt(5)) in +-1/sqrt(in), B zero, deterministic per key", () => {
    const a = loraDefaults("lora.blocks.0.q.a", [4, 64], 1)!;
    const bound = 1 / 8;
    const d = a.toFloat32();
    assert.ok(d.every((v) => Math.abs(v) <= bound));
    assert.ok(Math.max(...d) > 0.8 * bound && Math.min(...d) < -0.8 * bound);
    assert.deepEqual(loraDefaults("lora.blocks.0.q.a", [4, 64], 1)!.data, a.data);
    assert.notDeepEqual(loraDefaults("lora.blocks.0.v.a", [4, 64], 1)!.data, a.data);
    assert.notDeepEqual(loraDefaults("lora.blocks.0.q.a", [4, 64], 2)!.data, a.data);
    assert.ok(
      loraDefaults("lora.blocks.3.mlp2.b", [64, 4], 1)!
        .toFloat32()
        .every((v) => v === 0),
    );
    assert.equal(loraDefaults("image_encoder.pos_embed", [1, 8, 8, 64], 1), undefined);
  });

  test("options: defaults, scale, validation, weight list", () => {
    const r = resolveLora({}, 12);
    assert.equal(r.rank, 4);
    assert.equal(r.scale, 1);
    assert.deepEqual([...r.targets], ["q", "v"]);
    assert.equal(r.blocks.size, 12);
    assert.equal(resolveLora({ rank: 8, alpha: 16 }, 12).scale, 2);
    assert.throws(() => resolveLora({ targets: ["qkv" as "q"] }, 12), /unknown LoRA target "qkv"/);
    assert.throws(() => resolveLora({ blocks: [12] }, 12), /outside 0\.\.11/);
    assert.throws(() => resolveLora({ rank: 0 }, 12), /positive integer/);
    const shapes = loraWeightShapes(cfg, { rank: 2, targets: ["v", "mlp1", "mlp2"], blocks: [2] });
    assert.deepEqual(
      [...shapes],
      [
        ["lora.blocks.2.v.a", [2, 64]],
        ["lora.blocks.2.v.b", [64, 2]],
        ["lora.blocks.2.mlp1.a", [2, 64]],
        ["lora.blocks.2.mlp1.b", [256, 2]],
        ["lora.blocks.2.mlp2.a", [2, 256]],
        ["lora.blocks.2.mlp2.b", [64, 2]],
      ],
    );
  });

  // A small random encoder whose 3x3 grid needs window padding (window 2), two images.
  const small: SamConfig = {
    ...cfg,
    imageSize: 48,
    encoderEmbedDim: 16,
    encoderDepth: 2,
    encoderNumHeads: 2,
    encoderGlobalAttnIndexes: [1],
    windowSize: 2,
    promptEmbedDim: 8,
    mlpRatio: 2,
  };
  const random = rng(11);
  const smallWeights = new Map(
    [...imageEncoderWeightShapes(small)].map(([k, s]) => [
      `image_encoder.${k}`,
      randomTensor(s, random, [-0.4, 0.4]),
    ]),
  );
  for (const [k, t] of smallWeights) {
    if (/norm\d?\.weight$|neck\.[13]\.weight$/.test(k)) {
      const d = t.toFloat32();
      for (let i = 0; i < d.length; i++) d[i]! += 1;
    }
  }
  const xSmall = randomTensor([2, 3, 48, 48], random);

  test("gradients w.r.t. A and B of every target match finite differences (padded windows, scale 1.5)", async () => {
    const opts = { rank: 2, alpha: 3, targets: ["q", "k", "v", "proj", "mlp1", "mlp2"] as const };
    const shapes = [...loraWeightShapes(small, { ...opts, targets: [...opts.targets] })];
    const result = await gradCheck(
      (x, ...params) => {
        const fixed = new Map(shapes.map(([k], i) => [k, params[i]!]));
        const store = new FixedParamStore(x.graph, smallWeights, fixed);
        return imageEncoder(x, store.scope("image_encoder."), small, {
          lora: { ...opts, targets: [...opts.targets] },
        });
      },
      [
        { shape: xSmall.shape, data: xSmall, check: false },
        ...shapes.map(([, s]) => ({ shape: s, range: [-0.5, 0.5] as const })),
      ],
      { h: 1e-2, rtol: 2e-2, atol: 2e-3, maxElements: 4, seed: 5 },
    );
    assert.ok(result.checked >= 24 * 4, `checked ${result.checked}`);
    assert.ok(result.ok, JSON.stringify(result.mismatches.slice(0, 5)));
  });
});

/** A ParamStore that hands out given tensors (gradCheck's inputs) for some keys. */
class FixedParamStore extends ParamStore {
  constructor(
    graph: Graph,
    source: Map<string, HostTensor>,
    private readonly fixed: Map<string, Tensor>,
  ) {
    super(graph, source);
  }
  override get(key: string, shape: readonly number[]): Tensor {
    const t = this.fixed.get(key);
    if (!t) return super.get(key, shape);
    assert.deepEqual(t.shape, shape, key);
    return t;
  }
}
