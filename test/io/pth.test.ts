import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { toFloat32 } from "../../src/io/checkpoints/dtypes.js";
import { CheckpointError, UnsupportedGlobalError } from "../../src/io/checkpoints/errors.js";
import { readCheckpoint } from "../../src/io/checkpoints/index.js";
import { unpickle } from "../../src/io/checkpoints/pickle.js";
import { openPth, parsePth, readPth } from "../../src/io/checkpoints/pth.js";
import { readSafetensors } from "../../src/io/checkpoints/safetensors.js";
import { memorySource } from "../../src/io/checkpoints/source.js";
import { readZipDirectory, readZipEntry } from "../../src/io/checkpoints/zip.js";
import { PTH_FIXTURES, SAM_TINY, sameBits } from "./fixtures.js";
import { buildZip, type ZipFileInput } from "./zip-writer.js";

const MIXED = join(PTH_FIXTURES, "mixed.pth");

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

/** The archive's entries, uncompressed, in directory order. */
function entriesOf(bytes: Uint8Array): ZipFileInput[] {
  const src = memorySource(bytes, "fixture");
  return [...readZipDirectory(src).values()].map((e) => ({ name: e.name, data: readZipEntry(src, e) }));
}

/** A .pth-shaped archive around hand-written pickle bytes. */
function archiveWithPickle(pickle: number[] | Uint8Array, extra: ZipFileInput[] = []): Uint8Array {
  return buildZip([{ name: "archive/data.pkl", data: Uint8Array.from(pickle) }, ...extra]);
}

const bytesOfText = (s: string) => [...new TextEncoder().encode(s)];

describe("pth: the tiny SAM checkpoint", () => {
  test("weights.pth and weights.safetensors hold the same tensors, bit for bit", () => {
    const pth = readPth(join(SAM_TINY, "weights.pth"));
    const st = readSafetensors(join(SAM_TINY, "weights.safetensors"));
    assert.equal(pth.unwrappedFrom, null);
    assert.deepEqual(pth.skipped, []);
    assert.deepEqual([...pth.tensors.keys()].sort(), [...st.tensors.keys()].sort());
    for (const [name, t] of pth.tensors) {
      const s = st.tensors.get(name)!;
      assert.equal(t.dtype, s.dtype, name);
      assert.deepEqual(t.shape, s.shape, name);
      assert.ok(sameBits(t.data, s.data), name);
    }
  });

  test("readCheckpoint picks the reader by content, whatever the extension", () => {
    const pth = readCheckpoint(join(SAM_TINY, "weights.pth"));
    const st = readCheckpoint(join(SAM_TINY, "weights.safetensors"));
    assert.equal(pth.tensors.size, 202);
    assert.equal(st.tensors.size, 202);
    expectError(() => readCheckpoint(join(SAM_TINY, "missing.bin")), "io");
  });

  test("the lazy reader reads each tensor the same as readPth", () => {
    const all = readPth(MIXED).tensors;
    const reader = openPth(MIXED);
    try {
      for (const name of reader.keys())
        assert.ok(sameBits(reader.read(name).data, all.get(name)!.data), name);
    } finally {
      reader.close();
    }
  });

  test("known shapes of the tiny config", () => {
    const reader = openPth(join(SAM_TINY, "weights.pth"));
    try {
      assert.equal(reader.keys().length, 202);
      assert.deepEqual(reader.info("image_encoder.patch_embed.proj.weight")?.shape, [64, 3, 16, 16]);
      assert.deepEqual(reader.info("image_encoder.pos_embed")?.shape, [1, 8, 8, 64]);
      assert.deepEqual(reader.info("image_encoder.blocks.1.attn.rel_pos_h")?.shape, [15, 16]);
      assert.deepEqual(reader.read("mask_decoder.mask_tokens.weight").shape, [4, 32]);
    } finally {
      reader.close();
    }
  });
});

describe("pth: dtypes, views and wrappers (fixtures from make_fixtures.py)", () => {
  test("every tensor of mixed.pth has the values torch saved", () => {
    const ck = readPth(MIXED);
    assert.equal(ck.unwrappedFrom, "model");
    const values = (name: string) => {
      const t = ck.tensors.get(name);
      assert.ok(t, name);
      return [...(t.dtype === "float16" || t.dtype === "bfloat16" ? toFloat32(t) : t.data)];
    };
    const shape = (name: string) => ck.tensors.get(name)!.shape;
    assert.deepEqual(values("f32"), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    assert.deepEqual(shape("f32_t"), [4, 3]);
    assert.deepEqual(values("f32_t"), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    assert.deepEqual(values("f32_offset"), [5, 6, 7, 8, 9, 10]);
    assert.deepEqual(values("f32_strided"), [1, 4, 7, 10, 13, 16, 19]);
    assert.deepEqual(values("expand"), [7, 8, 9, 7, 8, 9]);
    assert.deepEqual(shape("scalar"), []);
    assert.deepEqual(values("scalar"), [3.5]);
    assert.deepEqual(shape("empty"), [0, 4]);
    assert.deepEqual(values("empty"), []);
    assert.deepEqual(values("f16"), [1, -2, 65504, 2 ** -24, Number.POSITIVE_INFINITY, 0.5]);
    assert.deepEqual(values("f16_t"), [1, 2 ** -24, -2, Number.POSITIVE_INFINITY, 65504, 0.5]);
    assert.deepEqual(values("bf16"), [
      1,
      -2,
      3.5,
      toFloat32({ dtype: "bfloat16", data: Uint16Array.of(0x714a) })[0],
    ]);
    assert.deepEqual(values("f64_t"), [1 / 3, 2, -1e300, 5e-324]);
    assert.deepEqual(values("i64"), [0n, -1n, 2n ** 40n, -(2n ** 62n)]);
    assert.deepEqual(values("i32"), [1, -2, 3, 2 ** 31 - 1]);
    assert.deepEqual(values("u8"), [0, 1, 255]);
    assert.equal(ck.tensors.get("bool")!.dtype, "bool");
    assert.deepEqual(values("bool"), [1, 0, 1]);
    assert.deepEqual(values("param"), [0.25, 0.25, 0.25, 0.25]);
  });

  test("pickle protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL) reads the same", () => {
    const p2 = readPth(MIXED).tensors;
    const p4 = readPth(join(PTH_FIXTURES, "mixed_p4.pth")).tensors;
    assert.deepEqual([...p4.keys()], [...p2.keys()]);
    for (const [name, t] of p2) assert.ok(sameBits(p4.get(name)!.data, t.data), name);
  });

  test("the lazy reader reports strides, offsets and shared storages before reading", () => {
    const reader = openPth(MIXED);
    try {
      assert.equal(reader.unwrappedFrom, "model");
      const t = reader.info("f32_t")!;
      assert.deepEqual([t.stride, t.contiguous], [[1, 4], false]);
      assert.equal(t.storageKey, reader.info("f32")!.storageKey, "a transpose shares its storage");
      assert.deepEqual(
        [reader.info("f32_offset")!.storageOffset, reader.info("f32_offset")!.contiguous],
        [5, true],
      );
      assert.deepEqual(reader.info("expand")!.stride, [0, 1]);
      assert.equal(reader.info("nope"), undefined);
      expectError(() => reader.read("nope"), "missing-tensor");
    } finally {
      reader.close();
    }
  });

  test("deflated entries and zip64 records read the same as torch's stored zip", () => {
    const original = readFileSync(MIXED);
    const files = entriesOf(original).map((f, i) => ({ ...f, deflate: i % 2 === 0 }));
    const reference = readPth(MIXED).tensors;
    for (const zip64 of [false, true]) {
      const repacked = parsePth(buildZip(files, { zip64 }), "repacked.pth").tensors;
      assert.deepEqual([...repacked.keys()], [...reference.keys()]);
      for (const [name, t] of reference)
        assert.ok(sameBits(repacked.get(name)!.data, t.data), `${name} zip64=${zip64}`);
    }
  });

  test("a buffer at an odd byte offset parses (strided gathers included)", () => {
    const file = readFileSync(MIXED);
    const shifted = Buffer.alloc(file.length + 1);
    file.copy(shifted, 1);
    const odd = parsePth(shifted.subarray(1), "mixed.pth").tensors;
    for (const [name, t] of readPth(MIXED).tensors) assert.ok(sameBits(odd.get(name)!.data, t.data), name);
  });

  test("a plain top-level dict without tensors and without a wrapper key is refused", () => {
    // {"epoch": 3}
    const pickle = [0x80, 2, 0x7d, 0x58, 5, 0, 0, 0, ...bytesOfText("epoch"), 0x4b, 3, 0x73, 0x2e];
    expectError(() => parsePth(archiveWithPickle(pickle), "x.pth"), "unsupported", /epoch/);
  });
});

describe("pth: refusing what it must not read", () => {
  test("a global outside the whitelist is an UnsupportedGlobalError naming it", () => {
    const pickle = [0x80, 2, 0x63, ...bytesOfText("os\nsystem\n"), 0x2e];
    const err = expectError(
      () => parsePth(archiveWithPickle(pickle), "evil.pth"),
      "unsupported-global",
      /"os\.system"/,
    );
    assert.ok(err instanceof UnsupportedGlobalError);
    assert.equal(err.global, "os.system");
  });

  test("legacy, non-zip and TorchScript files get their own messages", () => {
    expectError(() => parsePth(Uint8Array.from([0x80, 2, 0x8a, 10]), "old.pth"), "unsupported", /legacy/);
    expectError(() => parsePth(new TextEncoder().encode("hello world, not a zip file"), "x.pth"), "bad-zip");
    const scripted = archiveWithPickle(
      [0x80, 2, 0x7d, 0x2e],
      [{ name: "archive/constants.pkl", data: Uint8Array.of(0) }],
    );
    expectError(() => parsePth(scripted, "jit.pth"), "unsupported", /TorchScript/);
    expectError(
      () => parsePth(buildZip([{ name: "a/other", data: Uint8Array.of(1) }]), "x.pth"),
      "bad-zip",
      /data\.pkl/,
    );
  });

  test("big-endian archives are refused", () => {
    const files = [
      ...entriesOf(readFileSync(MIXED)),
      { name: "mixed/byteorder", data: Uint8Array.from(bytesOfText("big")) },
    ];
    expectError(() => parsePth(buildZip(files), "be.pth"), "unsupported", /byte order/);
  });

  test("missing or short storages and corrupt bytes are caught", () => {
    const files = entriesOf(readFileSync(MIXED));
    const without = files.filter((f) => f.name !== "mixed/data/0");
    expectError(() => parsePth(buildZip(without), "x.pth"), "bad-zip", /storage "0"/);
    const short = files.map((f) => (f.name === "mixed/data/0" ? { ...f, data: f.data.subarray(4) } : f));
    expectError(() => parsePth(buildZip(short), "x.pth"), "out-of-bounds", /storage "0"/);
    // Flip one byte of the first storage's data in place: the CRC no longer matches.
    const zip = buildZip(files);
    const dataEntry = readZipDirectory(memorySource(zip, "x")).get("mixed/data/0")!;
    zip[dataEntry.localHeaderOffset + 30 + "mixed/data/0".length + 1]! ^= 0xff;
    expectError(() => parsePth(zip, "x.pth"), "checksum", /mixed\/data\/0/);
    assert.doesNotThrow(() => parsePth(zip, "x.pth", { verifyCrc: false }));
  });

  test("a missing file is an io error", () => {
    expectError(() => readPth(join(PTH_FIXTURES, "nope.pth")), "io", /no such file/);
  });
});

/** Enough pickle assembly to write hostile state dicts by hand (protocol 2 opcodes). */
const pk = {
  str: (s: string) => {
    const b = new TextEncoder().encode(s);
    return [0x58, b.length & 0xff, (b.length >> 8) & 0xff, 0, 0, ...b];
  },
  int: (n: number) => [0x4a, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff],
  /** LONG1 with 8 bytes, for values past 2^31. */
  long: (n: bigint) => [0x8a, 8, ...new Uint8Array(BigInt64Array.of(n).buffer)],
  global: (module: string, name: string) => [0x63, ...bytesOfText(`${module}\n${name}\n`)],
  /** _rebuild_tensor_v2(("storage", torch.FloatStorage, "0", "cpu", numel), 0, size, stride) */
  tensor: (numel: number, size: number[][], stride: number[][]) => [
    ...pk.global("torch._utils", "_rebuild_tensor_v2"),
    0x28,
    ...[0x28, ...pk.str("storage"), ...pk.global("torch", "FloatStorage"), ...pk.str("0"), ...pk.str("cpu")],
    ...[...pk.int(numel), 0x74, 0x51],
    ...pk.int(0),
    ...[0x28, ...size.flat(), 0x74],
    ...[0x28, ...stride.flat(), 0x74],
    ...[0x74, 0x52],
  ],
};

describe("pth: hostile pickles", () => {
  const storage = { name: "archive/data/0", data: new Uint8Array(4) };

  test("a stride-0 view too large to materialise is a CheckpointError, not a RangeError", () => {
    const pickle = [
      0x80,
      2,
      0x7d,
      ...pk.str("t"),
      ...pk.tensor(1, [pk.long(2n ** 40n)], [pk.int(0)]),
      0x73,
      0x2e,
    ];
    // 4 TiB: past Node 20's buffer limit (2^32), refused before allocating ("unsupported"); Node 22
    // and later allow buffers up to 2^53 bytes, so there the allocation itself fails ("io").
    const big = Number(process.versions.node.split(".")[0]) >= 22;
    expectError(
      () => parsePth(archiveWithPickle(pickle, [storage]), "x.pth"),
      big ? "io" : "unsupported",
      big ? /cannot allocate 4398046511104 bytes/ : /needs 4398046511104 bytes/,
    );
  });

  test("a view reaching past its storage is refused", () => {
    const pickle = [0x80, 2, 0x7d, ...pk.str("t"), ...pk.tensor(1, [pk.int(2)], [pk.int(1)]), 0x73, 0x2e];
    expectError(() => parsePth(archiveWithPickle(pickle, [storage]), "x.pth"), "bad-tensor", /past the end/);
  });

  test("a key nested 100000 tuples deep does not overflow the stack", () => {
    const deep = [0x5d, ...new Array(100_000).fill(0x85)]; // [] wrapped in 100000 1-tuples
    const withTensor = [
      0x80,
      2,
      0x7d,
      ...deep,
      0x4b,
      1,
      0x73,
      ...pk.str("t"),
      ...pk.tensor(1, [], []),
      0x73,
      0x2e,
    ];
    const ck = parsePth(archiveWithPickle(withTensor, [storage]), "x.pth");
    assert.deepEqual([...ck.tensors.keys()], ["t"]);
    assert.deepEqual(ck.skipped, ["<list or tuple>"]);
    const noTensor = [0x80, 2, 0x7d, ...deep, 0x4b, 1, 0x73, 0x2e];
    expectError(() => parsePth(archiveWithPickle(noTensor), "x.pth"), "unsupported", /<list or tuple>/);
  });
});

describe("pickle", () => {
  const hooks = {
    findGlobal: (m: string, n: string) => {
      throw new Error(`unexpected global ${m}.${n}`);
    },
    persistentLoad: () => null,
  };
  const run = (hex: string) => unpickle(Buffer.from(hex, "hex"), hooks, "test");
  // pickle.dumps(obj, protocol) for this obj, by CPython 3:
  //   x = [1]; [None, True, False, 2**40, -2**70, -5, 255, 300, 70000, -70000, b'ab', 'é☃',
  //             1.5, -0.0, (), (1,), (1,2), (1,2,3), (1,2,3,4), {'a': [1, 2, 3]}, [[]], x, x]
  const P3 =
    "80035d7100284e88898a060000000000018a090000000000000000c04afbffffff4bff4d2c014a701101004a90eefeff430261627101" +
    "5805000000c3a9e298837102473ff8000000000000478000000000000000294b018571034b014b028671044b014b024b038771052" +
    "84b014b024b034b047471067d710758010000006171085d7109284b014b024b0365735d710a5d710b615d710c4b0161680c652e";
  const P4 =
    "80049589000000000000005d94284e88898a060000000000018a090000000000000000c04afbffffff4bff4d2c014a701101004a90" +
    "eefeff43026162948c05c3a9e2988394473ff8000000000000478000000000000000294b0185944b014b0286944b014b024b038794" +
    "284b014b024b034b0474947d948c0161945d94284b014b024b0365735d945d94615d944b0161680c652e";

  for (const [proto, hex] of [
    ["3", P3],
    ["4", P4],
  ] as const) {
    test(`protocol ${proto} values map to JS values`, () => {
      const out = run(hex) as unknown[];
      assert.deepEqual(out.slice(0, 10), [
        null,
        true,
        false,
        2 ** 40,
        -(2n ** 70n),
        -5,
        255,
        300,
        70000,
        -70000,
      ]);
      assert.deepEqual(out[10], Uint8Array.from([0x61, 0x62]));
      assert.equal(out[11], "é☃");
      assert.equal(out[12], 1.5);
      assert.ok(Object.is(out[13], -0));
      assert.deepEqual(out.slice(14, 19), [[], [1], [1, 2], [1, 2, 3], [1, 2, 3, 4]]);
      assert.deepEqual(out[19], new Map([["a", [1, 2, 3]]]));
      assert.deepEqual(out[20], [[]]);
      assert.equal(out[21], out[22], "memo references keep identity");
    });
  }

  test("LONG_BINPUT / LONG_BINGET", () => {
    // EMPTY_LIST, LONG_BINPUT 256, LONG_BINGET 256, TUPLE2, STOP
    const out = run("80025d72000100006a00010000862e") as unknown[];
    assert.equal(out.length, 2);
    assert.equal(out[0], out[1]);
  });

  test("malformed pickles are bad-pickle errors with the byte position", () => {
    expectError(() => run("8002ff2e"), "bad-pickle", /byte 2: unknown or unsupported opcode 0xff/);
    expectError(() => run("80024b01"), "bad-pickle", /without a STOP/);
    expectError(() => run("80022e"), "bad-pickle", /underflow/);
    expectError(() => run("8002680a2e"), "bad-pickle", /memo entry 10/);
    expectError(() => run("800258ffffff7f2e"), "bad-pickle", /runs past the end/);
    expectError(() => run("8002284b01732e"), "bad-pickle");
    expectError(() => run("8006"), "bad-pickle", /protocol 6/);
  });
});
