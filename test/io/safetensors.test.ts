import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { CheckpointTensor } from "../../src/io/checkpoints/dtypes.js";
import { CheckpointError } from "../../src/io/checkpoints/errors.js";
import {
  openSafetensors,
  parseSafetensors,
  readSafetensors,
  serializeSafetensors,
  toFloat32,
  writeSafetensors,
} from "../../src/io/checkpoints/safetensors.js";
import { SAM_TINY, sameBits } from "./fixtures.js";

const WEIGHTS = join(SAM_TINY, "weights.safetensors");
const tmp = mkdtempSync(join(tmpdir(), "udeg-io-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A file from a header object and a data section of `dataBytes` zero bytes, no validation. */
function rawFile(header: unknown, dataBytes: number, headerText = JSON.stringify(header)): Uint8Array {
  const json = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

function expectError(fn: () => unknown, code: string, mentions?: RegExp): CheckpointError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof CheckpointError, `expected a CheckpointError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (mentions) assert.match(caught.message, mentions);
  return caught;
}

describe("safetensors: reading the tiny SAM fixtures", () => {
  test("weights.safetensors holds 202 float32 tensors with the tiny config's shapes", () => {
    const { metadata, tensors } = readSafetensors(WEIGHTS);
    assert.deepEqual(metadata, {});
    assert.equal(tensors.size, 202);
    const shape = (k: string) => tensors.get(k)?.shape;
    // embed dim 64, patch 16, 128 px image -> 8x8 grid; window 4 -> rel_pos 2*4-1; global -> 2*8-1.
    assert.deepEqual(shape("image_encoder.patch_embed.proj.weight"), [64, 3, 16, 16]);
    assert.deepEqual(shape("image_encoder.pos_embed"), [1, 8, 8, 64]);
    assert.deepEqual(shape("image_encoder.blocks.0.attn.rel_pos_h"), [7, 16]);
    assert.deepEqual(shape("image_encoder.blocks.1.attn.rel_pos_h"), [15, 16]);
    assert.deepEqual(shape("image_encoder.neck.0.weight"), [32, 64, 1, 1]);
    assert.deepEqual(shape("mask_decoder.mask_tokens.weight"), [4, 32]);
    for (const t of tensors.values()) {
      assert.equal(t.dtype, "float32");
      assert.ok(t.data instanceof Float32Array);
      assert.equal(
        t.data.length,
        t.shape.reduce((a, b) => a * b, 1),
      );
    }
  });

  test("the lazy reader's keys, info and read agree with readSafetensors", () => {
    const all = readSafetensors(WEIGHTS).tensors;
    const reader = openSafetensors(WEIGHTS);
    try {
      assert.deepEqual(new Set(reader.keys()), new Set(all.keys()));
      const info = reader.info("image_encoder.pos_embed")!;
      assert.deepEqual(info.shape, [1, 8, 8, 64]);
      assert.equal(info.byteLength, 64 * 64 * 4);
      assert.equal(reader.info("no.such.tensor"), undefined);
      for (const name of reader.keys())
        assert.ok(sameBits(reader.read(name).data, all.get(name)!.data), name);
      expectError(() => reader.read("no.such.tensor"), "missing-tensor", /no\.such\.tensor/);
    } finally {
      reader.close();
    }
  });

  test("parseSafetensors on a buffer gives the same tensors, as views of the buffer", () => {
    const buf = new Uint8Array(readFileSync(WEIGHTS));
    const parsed = parseSafetensors(buf, "weights.safetensors");
    const read = readSafetensors(WEIGHTS);
    for (const [name, t] of read.tensors) {
      const p = parsed.tensors.get(name)!;
      assert.ok(sameBits(p.data, t.data), name);
      assert.equal(p.data.buffer, buf.buffer, "aligned tensors should not be copied");
    }
  });

  test("a Node Buffer at an odd byte offset parses (misaligned tensors are copied)", () => {
    const file = readFileSync(join(SAM_TINY, "io.safetensors"));
    const shifted = Buffer.alloc(file.length + 1);
    file.copy(shifted, 1);
    const odd = parseSafetensors(shifted.subarray(1), "io.safetensors");
    const plain = readSafetensors(join(SAM_TINY, "io.safetensors"));
    for (const [name, t] of plain.tensors) assert.ok(sameBits(odd.tensors.get(name)!.data, t.data), name);
  });

  test("io.safetensors: uint8 and an int64 at an offset that is not 8-aligned", () => {
    const { tensors } = readSafetensors(join(SAM_TINY, "io.safetensors"));
    assert.equal(tensors.size, 179);
    const labels = tensors.get("point_labels")!;
    assert.equal(labels.dtype, "int64");
    assert.deepEqual([...(labels.data as BigInt64Array)], [1n, 0n, 1n]);
    const image = tensors.get("image_u8_hwc")!;
    assert.equal(image.dtype, "uint8");
    assert.deepEqual(image.shape, [128, 96, 3]);
    assert.deepEqual([...image.data.subarray(0, 6)], [60, 175, 13, 185, 22, 0]);
  });

  test("weights_hf.safetensors: __metadata__ is returned and not taken for a tensor", () => {
    const { metadata, tensors } = readSafetensors(join(SAM_TINY, "weights_hf.safetensors"));
    assert.equal(tensors.size, 202);
    assert.equal(
      metadata["shared_image_embedding.positional_embedding"],
      "prompt_encoder.shared_embedding.positional_embedding",
    );
  });
});

describe("safetensors: writing", () => {
  test("re-serialising reference-written files reproduces them byte for byte", () => {
    for (const name of ["weights.safetensors", "weights_hf.safetensors"]) {
      const path = join(SAM_TINY, name);
      const { metadata, tensors } = readSafetensors(path);
      const bytes = serializeSafetensors(tensors, metadata);
      assert.ok(Buffer.from(bytes).equals(readFileSync(path)), name);
    }
  });

  test("every dtype, metadata, scalars and empty tensors round-trip through a file", () => {
    const tensors = new Map<string, CheckpointTensor>([
      [
        "f32",
        { dtype: "float32", shape: [2, 3], data: Float32Array.from([1, -2, 3.5, Number.NaN, -0, 1e-40]) },
      ],
      // Raw half patterns: 1, -2, 65504, smallest subnormal, +inf, a NaN with payload.
      [
        "f16",
        {
          dtype: "float16",
          shape: [6],
          data: Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x7e01]),
        },
      ],
      ["bf16", { dtype: "bfloat16", shape: [2], data: Uint16Array.from([0x3f80, 0xc000]) }],
      ["f64", { dtype: "float64", shape: [2], data: Float64Array.from([1 / 3, -1e300]) }],
      ["i64", { dtype: "int64", shape: [3], data: BigInt64Array.from([0n, -1n, -(2n ** 62n)]) }],
      ["i32", { dtype: "int32", shape: [1, 2], data: Int32Array.from([-7, 2 ** 31 - 1]) }],
      ["u8", { dtype: "uint8", shape: [3], data: Uint8Array.from([0, 128, 255]) }],
      ["mask", { dtype: "bool", shape: [2], data: Uint8Array.from([1, 0]) }],
      ["scalar", { dtype: "float32", shape: [], data: Float32Array.from([42]) }],
      ["empty", { dtype: "int64", shape: [0, 5], data: new BigInt64Array(0) }],
    ]);
    const metadata = { format: "pt", base_checkpoint: "sam_vit_b_01ec64.pth", 'odd "key"\n': "é ☃" };
    const path = join(tmp, "roundtrip.safetensors");
    writeFileSync(path, "old contents"); // the write must replace it
    writeSafetensors(path, tensors, metadata);
    assert.deepEqual(
      readdirSync(tmp).filter((f) => f.includes(".tmp-")),
      [],
      "no temporary file is left behind",
    );
    const back = readSafetensors(path);
    assert.deepEqual(back.metadata, metadata);
    assert.deepEqual(new Set(back.tensors.keys()), new Set(tensors.keys()));
    for (const [name, t] of tensors) {
      const b = back.tensors.get(name)!;
      assert.equal(b.dtype, t.dtype, name);
      assert.deepEqual(b.shape, t.shape, name);
      assert.ok(sameBits(b.data, t.data), name);
    }
  });

  test("the header is padded with spaces to a multiple of 8 and larger dtypes come first", () => {
    const bytes = serializeSafetensors({
      a: { dtype: "uint8", shape: [1], data: Uint8Array.from([1]) },
      b: { dtype: "int64", shape: [1], data: BigInt64Array.from([2n]) },
    });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(n % 8, 0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    assert.match(text, /^\{"b":\{"dtype":"I64","shape":\[1\],"data_offsets":\[0,8\]\},"a":.*\} *$/);
  });

  test("a plain object of tensors is accepted as well as a Map", () => {
    const path = join(tmp, "record.safetensors");
    writeSafetensors(path, { x: { dtype: "float32", shape: [1], data: Float32Array.from([5]) } });
    assert.deepEqual([...readSafetensors(path).tensors.get("x")!.data], [5]);
  });

  test("invalid tensors are refused before anything is written", () => {
    const path = join(tmp, "refused.safetensors");
    const write =
      (t: CheckpointTensor, name = "t") =>
      () =>
        writeSafetensors(path, new Map([[name, t]]));
    expectError(write({ dtype: "float16", shape: [2], data: Float32Array.from([1, 2]) }), "bad-tensor");
    expectError(write({ dtype: "float32", shape: [3], data: Float32Array.from([1, 2]) }), "bad-tensor");
    expectError(write({ dtype: "float32", shape: [-1], data: Float32Array.from([]) }), "bad-tensor");
    expectError(
      write({ dtype: "float32", shape: [1], data: Float32Array.from([1]) }, "__metadata__"),
      "bad-tensor",
    );
    assert.equal(existsSync(path), false);
  });
});

describe("safetensors: damaged and invalid files", () => {
  const tensor = { dtype: "F32", shape: [2], data_offsets: [0, 8] };

  test("a missing file is an io error naming the path", () => {
    expectError(
      () => readSafetensors(join(tmp, "nope.safetensors")),
      "io",
      /nope\.safetensors: no such file/,
    );
  });

  test("length field problems", () => {
    expectError(() => parseSafetensors(new Uint8Array(5), "short"), "truncated", /^short: /);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 60n, true);
    expectError(() => parseSafetensors(huge, "huge"), "bad-header", /100 MB/);
    const past = new Uint8Array(16);
    new DataView(past.buffer).setBigUint64(0, 9n, true);
    expectError(() => parseSafetensors(past, "past"), "truncated");
  });

  test("header content problems", () => {
    const parse = (bytes: Uint8Array) => () => parseSafetensors(bytes, "f.safetensors");
    expectError(parse(rawFile(null, 0, "{not json")), "bad-header", /not valid JSON/);
    expectError(parse(rawFile(null, 0, "[1]")), "bad-header", /start with/);
    expectError(parse(rawFile(null, 0, '"x"')), "bad-header");
    expectError(parse(rawFile({ t: { ...tensor, dtype: "I8", shape: [8] } }, 8)), "unsupported", /I8/);
    expectError(parse(rawFile({ t: { ...tensor, shape: [3] } }, 8)), "bad-header", /needs 12/);
    expectError(parse(rawFile({ t: { ...tensor, shape: [1.5] } }, 8)), "bad-header", /invalid shape/);
    expectError(parse(rawFile({ t: { ...tensor, data_offsets: [8, 0] } }, 8)), "bad-header");
    expectError(parse(rawFile({ t: tensor, __metadata__: { a: 1 } }, 8)), "bad-header", /__metadata__/);
    expectError(parse(rawFile({ t: { ...tensor, dtype: "constructor" } }, 8)), "unsupported");
  });

  test("arrays nested 100000 deep in the header do not overflow the stack", () => {
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    const text = (field: string) => `{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8],${field}}}`;
    const parse = (header: string) => () => parseSafetensors(rawFile(null, 8, header), "deep.safetensors");
    expectError(parse(text(`"shape":${deep}`)), "bad-header", /invalid shape/);
    expectError(parse(text(`"data_offsets":[${deep},8]`)), "bad-header", /invalid data_offsets/);
  });

  test("data offsets must tile the data section exactly", () => {
    const parse = (bytes: Uint8Array) => () => parseSafetensors(bytes, "f.safetensors");
    expectError(parse(rawFile({ t: tensor }, 4)), "truncated", /ends at byte/);
    expectError(parse(rawFile({ t: tensor }, 12)), "bad-header", /4 bytes after the last tensor/);
    const u = { ...tensor, data_offsets: [4, 12] };
    expectError(parse(rawFile({ t: tensor, u }, 12)), "bad-header", /overlaps/);
    const v = { ...tensor, data_offsets: [12, 20] };
    expectError(parse(rawFile({ t: tensor, v }, 20)), "bad-header", /gap/);
  });

  test("messages say what to do", () => {
    const err = expectError(() => parseSafetensors(rawFile({ t: tensor }, 4), "w.safetensors"), "truncated");
    assert.equal(err.file, "w.safetensors");
    assert.match(err.message, /re-download/);
  });
});

describe("toFloat32", () => {
  test("float16 (subnormal, inf, NaN), bfloat16 and float64 widen exactly", () => {
    const half = toFloat32({
      dtype: "float16",
      data: Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x7c00, 0x8000]),
    });
    assert.deepEqual([...half], [1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, Number.POSITIVE_INFINITY, -0]);
    assert.ok(Number.isNaN(toFloat32({ dtype: "float16", data: Uint16Array.from([0x7e00]) })[0]));
    const bf = toFloat32({ dtype: "bfloat16", data: Uint16Array.from([0x3f80, 0xc060, 0x7f80]) });
    assert.deepEqual([...bf], [1, -3.5, Number.POSITIVE_INFINITY]);
    assert.deepEqual(
      [...toFloat32({ dtype: "float64", data: Float64Array.from([0.5, 1e300]) })],
      [0.5, Infinity],
    );
    assert.deepEqual([...toFloat32({ dtype: "int64", data: BigInt64Array.from([-3n]) })], [-3]);
  });

  test("float32 data is returned without a copy", () => {
    const data = Float32Array.from([1, 2]);
    assert.equal(toFloat32({ dtype: "float32", data }), data);
  });

  test("every finite half matches a reference decoder", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const f = toFloat32({ dtype: "float16", data: all });
    for (let h = 0; h < 65536; h++) {
      const exp = (h >> 10) & 0x1f;
      if (exp === 0x1f) continue;
      const mant = h & 0x3ff;
      const magnitude = exp === 0 ? mant * 2 ** -24 : (1 + mant / 1024) * 2 ** (exp - 15);
      assert.equal(f[h], h & 0x8000 ? -magnitude : magnitude, `0x${h.toString(16)}`);
    }
  });
});
