import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import {
  type Axis,
  getSlice,
  headerFor,
  makeNiftiHeader,
  type NiftiDatatype,
  NiftiError,
  parseNifti,
  readNifti,
  readNiftiHeader,
  scaledVolume,
  serializeNifti,
  volumeFromSlices,
  writeNifti,
} from "../../src/io/nifti/nifti.js";

const tmp = mkdtempSync(join(tmpdir(), "udeg-nifti-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * A NIfTI-1 file written field by field from the specification's offsets, independent of the
 * module's writer: 4 x 3 x 2 int16 volume, voxel value = 100 i + 10 j + k.
 */
function handBuilt(le = true): Uint8Array {
  const out = new Uint8Array(352 + 24 * 2);
  const v = new DataView(out.buffer);
  v.setInt32(0, 348, le);
  [3, 4, 3, 2, 1, 1, 1, 1].forEach((d, k) => {
    v.setInt16(40 + 2 * k, d, le);
  });
  v.setInt16(70, 4, le); // int16
  v.setInt16(72, 16, le);
  [-1, 0.5, 0.75, 2, 1, 1, 1, 1].forEach((p, k) => {
    v.setFloat32(76 + 4 * k, p, le);
  });
  v.setFloat32(108, 352, le);
  v.setFloat32(112, 2, le); // scl_slope
  v.setFloat32(116, -1, le); // scl_inter
  out[123] = 2; // mm
  out.set(Buffer.from("hand built"), 148);
  v.setInt16(252, 1, le); // qform_code
  v.setInt16(254, 2, le); // sform_code
  [0.1, 0.2, 0.3, -10, 20, 30].forEach((q, k) => {
    v.setFloat32(256 + 4 * k, q, le);
  });
  [0.5, 0, 0, -10, 0, 0.75, 0, 20, 0, 0, 2, 30].forEach((s, k) => {
    v.setFloat32(280 + 4 * k, s, le);
  });
  out.set(Buffer.from("n+1\0", "latin1"), 344);
  for (let k = 0; k < 2; k++)
    for (let j = 0; j < 3; j++)
      for (let i = 0; i < 4; i++) v.setInt16(352 + 2 * (i + 4 * j + 12 * k), 100 * i + 10 * j + k, le);
  return out;
}

async function rejectsWith(
  fn: () => Promise<unknown> | unknown,
  code: string,
  file: string,
  re?: RegExp,
): Promise<void> {
  await assert.rejects(
    async () => fn(),
    (err: unknown) => {
      assert.ok(err instanceof NiftiError, `expected NiftiError, got ${err}`);
      assert.equal(err.code, code, err.message);
      assert.ok(err.message.includes(file), `message should name ${file}: ${err.message}`);
      if (re) assert.match(err.message, re);
      return true;
    },
  );
}

describe("NIfTI-1 reading", () => {
  for (const le of [true, false]) {
    test(`hand-built ${le ? "little" : "big"}-endian header and volume`, () => {
      const vol = parseNifti(handBuilt(le), "hand.nii");
      const h = vol.header;
      assert.equal(h.littleEndian, le);
      assert.deepEqual(h.dim, [3, 4, 3, 2, 1, 1, 1, 1]);
      assert.deepEqual(vol.shape, [4, 3, 2]);
      assert.equal(h.datatype, "int16");
      assert.deepEqual(h.pixdim.slice(0, 4), [-1, 0.5, 0.75, 2]);
      assert.equal(h.sclSlope, 2);
      assert.equal(h.sclInter, -1);
      assert.equal(h.descrip, "hand built");
      assert.equal(h.qformCode, 1);
      assert.equal(h.sformCode, 2);
      assert.ok(Math.abs(h.quaternB - 0.1) < 1e-7);
      assert.deepEqual(h.srowY, [0, 0.75, 0, 20]);
      assert.ok(vol.data instanceof Int16Array);
      assert.equal(vol.data[1 + 4 * 2 + 12 * 1], 100 + 20 + 1);
      // Scaled: 2 x - 1.
      assert.equal(scaledVolume(vol)[1 + 4 * 2 + 12], 2 * 121 - 1);
    });
  }

  test("slices along each axis, with spacing, like numpy vol[i,:,:], vol[:,j,:], vol[:,:,k]", () => {
    const vol = parseNifti(handBuilt(), "hand.nii");
    const value = (i: number, j: number, k: number) => 2 * (100 * i + 10 * j + k) - 1;
    const s2 = getSlice(vol, 2, 1);
    assert.deepEqual([s2.rows, s2.cols, ...s2.spacing], [4, 3, 0.5, 0.75]);
    assert.equal(s2.data[2 * 3 + 1], value(2, 1, 1));
    const s1 = getSlice(vol, 1, 2);
    assert.deepEqual([s1.rows, s1.cols, ...s1.spacing], [4, 2, 0.5, 2]);
    assert.equal(s1.data[3 * 2 + 1], value(3, 2, 1));
    const s0 = getSlice(vol, 0, 3);
    assert.deepEqual([s0.rows, s0.cols, ...s0.spacing], [3, 2, 0.75, 2]);
    assert.equal(s0.data[1 * 2 + 0], value(3, 1, 0));
    assert.throws(() => getSlice(vol, 2, 2), /out of range/);
    assert.throws(() => getSlice(vol, 3 as Axis, 0), /axis/);
  });

  test("volumeFromSlices inverts getSlice on every axis", () => {
    const vol = parseNifti(handBuilt(), "hand.nii");
    const all = scaledVolume(vol);
    for (const axis of [0, 1, 2] as Axis[]) {
      const slices = Array.from({ length: vol.shape[axis]! }, (_, i) => getSlice(vol, axis, i).data);
      const back = volumeFromSlices([4, 3, 2], axis, slices);
      assert.deepEqual(back, all);
    }
    const sparse = volumeFromSlices([4, 3, 2], 2, new Map([[1, new Float32Array(12).fill(5)]]), "uint8");
    assert.ok(sparse instanceof Uint8Array);
    assert.equal(sparse[0], 0);
    assert.equal(sparse[12], 5);
  });

  test("4-D volumes: slices of a chosen 4th-dimension index", () => {
    const h = makeNiftiHeader([2, 2, 1, 3], "float32");
    const data = new Float32Array(12).map((_, i) => i);
    const vol = parseNifti(serializeNifti(h, data), "4d.nii");
    assert.deepEqual(vol.shape, [2, 2, 1, 3]);
    assert.deepEqual([...getSlice(vol, 2, 0, 2).data], [8, 10, 9, 11]);
  });
});

describe("NIfTI-1 writing", () => {
  test("re-serialising a parsed little-endian file gives the same bytes", () => {
    const bytes = handBuilt();
    const vol = parseNifti(bytes, "hand.nii");
    assert.deepEqual(serializeNifti(vol.header, vol.data), bytes);
  });

  test("big-endian files are written back little-endian with the same header and values", () => {
    const vol = parseNifti(handBuilt(false), "be.nii");
    const back = parseNifti(serializeNifti(vol.header, vol.data), "le.nii");
    assert.equal(back.header.littleEndian, true);
    assert.deepEqual({ ...back.header, littleEndian: false, legacy: null }, { ...vol.header, legacy: null });
    assert.deepEqual(back.data, vol.data);
  });

  test(".nii.gz round trip through files, gzip detected from the bytes", async () => {
    const vol = parseNifti(handBuilt(), "hand.nii");
    const path = join(tmp, "vol.nii.gz");
    await writeNifti(path, vol.header, vol.data);
    assert.equal(readFileSync(path)[0], 0x1f);
    const back = await readNifti(path);
    assert.deepEqual(back.header, vol.header);
    assert.deepEqual(back.data, vol.data);
    const header = await readNiftiHeader(path);
    assert.deepEqual(header, vol.header);
    // A gzip file named .nii is still read.
    const odd = join(tmp, "gz_named.nii");
    writeFileSync(odd, gzipSync(handBuilt()));
    assert.deepEqual((await readNifti(odd)).data, vol.data);
  });

  test("every datatype round trips", () => {
    const values = [0, 1, 2, 100, 127];
    const types: NiftiDatatype[] = [
      "uint8",
      "int8",
      "int16",
      "uint16",
      "int32",
      "uint32",
      "float32",
      "float64",
      "int64",
      "uint64",
    ];
    for (const dt of types) {
      const h = makeNiftiHeader([5, 1, 1], dt);
      const data = Float64Array.from(values);
      const vol = parseNifti(serializeNifti(h, data, { datatype: dt }), `${dt}.nii`);
      assert.equal(vol.header.datatype, dt);
      assert.deepEqual([...vol.data], values, dt);
    }
  });

  test("a prediction on the image's grid: same geometry, new datatype, no scaling", async () => {
    const img = parseNifti(handBuilt(), "img.nii");
    const pred = new Uint8Array(24).map((_, i) => i % 3);
    const header = headerFor(img.header, img.shape, "uint8");
    const path = join(tmp, "pred.nii.gz");
    await writeNifti(path, header, pred, { descrip: "udeg prediction" });
    const back = await readNifti(path);
    assert.equal(back.header.datatype, "uint8");
    assert.equal(back.header.bitpix, 8);
    assert.equal(back.header.sclSlope, 1);
    assert.equal(back.header.sclInter, 0);
    assert.equal(back.header.descrip, "udeg prediction");
    for (const key of [
      "pixdim",
      "qformCode",
      "sformCode",
      "quaternB",
      "quaternC",
      "quaternD",
      "qoffsetX",
      "srowX",
      "srowY",
      "srowZ",
      "xyztUnits",
    ] as const) {
      assert.deepEqual(back.header[key], img.header[key], key);
    }
    assert.deepEqual(back.data, pred);
    // Floats written as int16 round and clamp.
    const f = serializeNifti(img.header, new Float32Array(24).fill(1e6), { datatype: "int16" });
    assert.equal(parseNifti(f).data[0], 32767);
  });

  test("dimension mismatch is refused", () => {
    const h = makeNiftiHeader([2, 2, 2], "float32");
    assert.throws(() => serializeNifti(h, new Float32Array(7)), /holds 8 voxels, the data has 7/);
  });
});

describe("NIfTI errors", () => {
  test("missing file", async () => {
    const p = join(tmp, "none.nii.gz");
    await rejectsWith(() => readNifti(p), "io", p, /not found/);
  });

  test("truncated .nii and .nii.gz", async () => {
    const bytes = handBuilt();
    const p1 = join(tmp, "cut.nii");
    writeFileSync(p1, bytes.subarray(0, bytes.length - 5));
    await rejectsWith(
      () => readNifti(p1),
      "truncated",
      p1,
      /4x3x2 of int16 needs 400 bytes, the file has 395/,
    );
    const p2 = join(tmp, "cut.nii.gz");
    const gz = gzipSync(bytes);
    writeFileSync(p2, gz.subarray(0, gz.length - 20));
    await rejectsWith(() => readNifti(p2), "truncated", p2, /gzip stream ends early/);
    const p3 = join(tmp, "short.nii");
    writeFileSync(p3, bytes.subarray(0, 100));
    await rejectsWith(() => readNifti(p3), "truncated", p3, /348/);
  });

  test("garbage, NIfTI-2, two-file and unsupported datatypes", async () => {
    const p1 = join(tmp, "garbage.nii");
    writeFileSync(p1, Buffer.alloc(400, 7));
    await rejectsWith(() => readNifti(p1), "corrupt", p1, /not a NIfTI-1 file/);
    const n2 = handBuilt();
    new DataView(n2.buffer).setInt32(0, 540, true); // a NIfTI-2 size with a NIfTI-1 body
    await rejectsWith(() => parseNifti(n2, "n2.nii"), "truncated", "n2.nii", /a NIfTI-2 header needs 540/);
    const n2long = new Uint8Array(600);
    n2long.set(n2);
    await rejectsWith(() => parseNifti(n2long, "n2.nii"), "corrupt", "n2.nii", /bad NIfTI-2 magic/);
    const pair = handBuilt();
    pair.set(Buffer.from("ni1\0", "latin1"), 344);
    await rejectsWith(() => parseNifti(pair, "pair.hdr"), "unsupported", "pair.hdr", /two-file/);
    const rgb = handBuilt();
    new DataView(rgb.buffer).setInt16(70, 128, true);
    await rejectsWith(() => parseNifti(rgb, "rgb.nii"), "unsupported", "rgb.nii", /RGB24/);
    const bad = handBuilt();
    new DataView(bad.buffer).setInt16(42, 0, true);
    await rejectsWith(() => parseNifti(bad, "dim.nii"), "corrupt", "dim.nii", /dim\[1\]/);
  });
});
