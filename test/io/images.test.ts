import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { deflateSync } from "node:zlib";
import {
  decodeBmp,
  decodeImage,
  encodeBmp,
  encodeImage,
  encodePng,
  ImageError,
  type RasterImage,
  readImage,
  readImageInfo,
  sniffFormat,
  toGrey,
  toRgb,
  writePng,
} from "../../src/io/images/images.js";

const tmp = mkdtempSync(join(tmpdir(), "udeg-images-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function ramp8(width: number, height: number, channels: number): RasterImage {
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + (i >> 3)) & 0xff;
  return { width, height, channels, data, bitDepth: 8 };
}

function ramp16(width: number, height: number, channels: number): RasterImage {
  const data = new Uint16Array(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + 13) & 0xffff;
  data[0] = 0;
  data[1] = 65535;
  return { width, height, channels, data, bitDepth: 16 };
}

/** Asserts that `fn` rejects with an ImageError of `code` whose message names `file` and matches `re`. */
async function rejectsWith(
  fn: () => Promise<unknown>,
  code: string,
  file: string,
  re?: RegExp,
): Promise<void> {
  await assert.rejects(fn, (err: unknown) => {
    assert.ok(err instanceof ImageError, `expected ImageError, got ${err}`);
    assert.equal(err.code, code, err.message);
    assert.ok(err.message.includes(file), `message should name ${file}: ${err.message}`);
    if (re) assert.match(err.message, re);
    return true;
  });
}

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, body: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])), 0);
  return Buffer.concat([head, body, crc]);
}

/** A hand-made 8-bit palette PNG (colour type 3). */
function palettePng(width: number, height: number, palette: number[][], indices: number[]): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 3;
  const raw = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) raw[y * (width + 1) + 1 + x] = indices[y * width + x]!;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("PLTE", Buffer.from(palette.flat())),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

describe("PNG", () => {
  test("8-bit grey, RGB round trip exactly; grey stays one channel", async () => {
    for (const channels of [1, 3]) {
      const img = ramp8(13, 7, channels);
      const path = join(tmp, `r8_${channels}.png`);
      await writePng(path, img);
      const back = await readImage(path);
      assert.equal(back.format, "png");
      assert.equal(back.channels, channels);
      assert.equal(back.bitDepth, 8);
      assert.deepEqual([back.width, back.height], [13, 7]);
      assert.deepEqual(back.data, img.data);
    }
  });

  test("16-bit grey and RGB round trip exactly as Uint16Array", async () => {
    for (const channels of [1, 3]) {
      const img = ramp16(9, 5, channels);
      const path = join(tmp, `r16_${channels}.png`);
      await writePng(path, img);
      const back = await readImage(path);
      assert.equal(back.bitDepth, 16);
      assert.ok(back.data instanceof Uint16Array);
      assert.equal(back.channels, channels);
      assert.deepEqual(back.data, img.data);
      const info = await readImageInfo(path);
      assert.deepEqual(info, { format: "png", width: 9, height: 5, channels, bitDepth: 16 });
    }
  });

  test("alpha is dropped on reading (grey+alpha -> 1, RGBA -> 3)", async () => {
    const ga = await decodeImage(
      encodePng({ width: 2, height: 1, channels: 2, data: new Uint8Array([5, 255, 9, 0]), bitDepth: 8 }),
      "ga",
    );
    assert.equal(ga.channels, 1);
    assert.deepEqual([...ga.data], [5, 9]);
    const rgba = await decodeImage(
      encodePng({
        width: 2,
        height: 1,
        channels: 4,
        data: new Uint8Array([5, 6, 7, 255, 9, 10, 11, 0]),
        bitDepth: 8,
      }),
      "rgba",
    );
    assert.equal(rgba.channels, 3);
    assert.deepEqual([...rgba.data], [5, 6, 7, 9, 10, 11]);
  });

  test("palette PNG: RGB by default, palette indices on request", async () => {
    const palette = [
      [0, 0, 0],
      [128, 0, 0],
      [0, 128, 0],
      [0, 0, 0], // a repeated colour: the lowest index wins
    ];
    const indices = [0, 1, 2, 1, 0, 2];
    const bytes = palettePng(3, 2, palette, indices);
    const rgb = await decodeImage(bytes, "pal.png");
    assert.equal(rgb.palette, true);
    assert.equal(rgb.channels, 3);
    assert.deepEqual([...rgb.data.subarray(3, 6)], [128, 0, 0]);
    const idx = await decodeImage(bytes, "pal.png", { palette: "indices" });
    assert.equal(idx.channels, 1);
    assert.deepEqual([...idx.data], indices);
  });

  test("writer rejects inconsistent images", () => {
    assert.throws(
      () => encodePng({ width: 2, height: 2, channels: 1, data: new Uint8Array(3), bitDepth: 8 }),
      ImageError,
    );
    assert.throws(
      () => encodePng({ width: 1, height: 1, channels: 1, data: new Uint8Array(1), bitDepth: 16 }),
      /bitDepth 16/,
    );
    assert.throws(
      () => encodePng({ width: 1, height: 1, channels: 5, data: new Uint8Array(5), bitDepth: 8 }),
      /channel/,
    );
  });
});

describe("JPEG and TIFF", () => {
  test("JPEG decodes to the right size, values close to the source", async () => {
    for (const channels of [1, 3]) {
      const w = 32;
      const h = 24;
      const data = new Uint8Array(w * h * channels);
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++)
          for (let c = 0; c < channels; c++) data[(y * w + x) * channels + c] = 40 + 4 * x + c * 10;
      const bytes = await encodeImage({ width: w, height: h, channels, data, bitDepth: 8 }, "jpeg", {
        quality: 95,
      });
      assert.equal(sniffFormat(bytes), "jpeg");
      const path = join(tmp, `j${channels}.jpg`);
      writeFileSync(path, bytes);
      const back = await readImage(path);
      assert.equal(back.format, "jpeg");
      assert.equal(back.channels, channels);
      assert.deepEqual([back.width, back.height], [w, h]);
      let worst = 0;
      for (let i = 0; i < data.length; i++) worst = Math.max(worst, Math.abs(back.data[i]! - data[i]!));
      assert.ok(worst <= 6, `JPEG error ${worst}`);
    }
  });

  test("TIFF 8- and 16-bit round trip exactly", async () => {
    for (const img of [ramp8(11, 6, 3), ramp8(11, 6, 1), ramp16(7, 4, 1), ramp16(7, 4, 3)]) {
      const bytes = await encodeImage(img, "tiff");
      assert.equal(sniffFormat(bytes), "tiff");
      const back = await decodeImage(bytes, "t.tif");
      assert.equal(back.format, "tiff");
      assert.equal(back.channels, img.channels);
      assert.equal(back.bitDepth, img.bitDepth);
      assert.deepEqual(back.data, img.data);
    }
  });
});

describe("BMP", () => {
  test("8-bit grey, 24-bit and 32-bit round trip through encodeBmp/decodeBmp", async () => {
    for (const channels of [1, 3, 4]) {
      const img = ramp8(5, 3, channels); // odd width: rows are padded to 4 bytes
      const path = join(tmp, `b${channels}.bmp`);
      writeFileSync(path, encodeBmp(img));
      const back = await readImage(path);
      assert.equal(back.format, "bmp");
      const expected = channels === 4 ? toRgb(img) : img;
      assert.equal(back.channels, expected.channels);
      assert.deepEqual(back.data, expected.data);
    }
  });

  /** Hand-built BMP: 40-byte header, optional palette, rows as given (bottom-up unless height < 0). */
  function bmp(
    width: number,
    height: number,
    bpp: number,
    palette: number[][],
    rows: number[][],
    compression = 0,
  ): Uint8Array {
    const pal = palette.length * 4;
    const stride = Math.ceil((width * bpp) / 32) * 4;
    const offset = 54 + pal;
    const out = new Uint8Array(offset + stride * rows.length);
    const v = new DataView(out.buffer);
    out.set([0x42, 0x4d]);
    v.setUint32(2, out.length, true);
    v.setUint32(10, offset, true);
    v.setUint32(14, 40, true);
    v.setInt32(18, width, true);
    v.setInt32(22, height, true);
    v.setUint16(26, 1, true);
    v.setUint16(28, bpp, true);
    v.setUint32(30, compression, true);
    v.setUint32(46, palette.length, true);
    palette.forEach(([r, g, b], k) => {
      out.set([b!, g!, r!, 0], 54 + 4 * k);
    });
    rows.forEach((row, i) => {
      out.set(row, offset + i * stride);
    });
    return out;
  }

  test("1-bit and 4-bit palette, top-down rows, colour palette", () => {
    // 1-bit, 10 pixels wide, bottom-up: file row 0 is the image's last row.
    const one = bmp(
      10,
      2,
      1,
      [
        [0, 0, 0],
        [255, 255, 255],
      ],
      [
        [0b10100000, 0b01000000],
        [0b11110000, 0b00000000],
      ],
    );
    const a = decodeBmp(one, "one.bmp");
    assert.equal(a.channels, 1);
    assert.deepEqual(
      [...a.data],
      [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1].map((b) => b * 255),
    );
    const ind = decodeBmp(one, "one.bmp", { palette: "indices" });
    assert.deepEqual([...ind.data.subarray(0, 4)], [1, 1, 1, 1]);
    // 4-bit colour palette, top-down (negative height).
    const four = bmp(
      3,
      -1,
      4,
      [
        [10, 20, 30],
        [40, 50, 60],
        [70, 80, 90],
      ],
      [[0x12, 0x00]],
    );
    const b = decodeBmp(four, "four.bmp");
    assert.equal(b.channels, 3);
    assert.deepEqual([...b.data], [40, 50, 60, 70, 80, 90, 10, 20, 30]);
  });

  test("32-bit with bit-field masks", () => {
    const out = new Uint8Array(54 + 12 + 8);
    const v = new DataView(out.buffer);
    out.set([0x42, 0x4d]);
    v.setUint32(10, 66, true);
    v.setUint32(14, 40, true);
    v.setInt32(18, 2, true);
    v.setInt32(22, 1, true);
    v.setUint16(28, 32, true);
    v.setUint32(30, 3, true);
    v.setUint32(54, 0x0000ff00, true); // red in the second byte
    v.setUint32(58, 0x00ff0000, true);
    v.setUint32(62, 0xff000000, true);
    v.setUint32(66, 0x332211ff, true);
    v.setUint32(70, 0x00ff0000, true);
    const img = decodeBmp(out, "bf.bmp");
    assert.deepEqual([...img.data], [0x11, 0x22, 0x33, 0, 255, 0]);
  });

  test("RLE, 16-bit and truncated BMPs give clear errors", async () => {
    const rle = bmp(2, 1, 8, [[0, 0, 0]], [[0, 0]], 1);
    assert.throws(
      () => decodeBmp(rle, "rle.bmp"),
      (e: unknown) =>
        e instanceof ImageError &&
        e.code === "unsupported" &&
        /RLE/.test(e.message) &&
        e.message.startsWith("rle.bmp:"),
    );
    const b16 = bmp(2, 1, 16, [], [[0, 0, 0, 0]]);
    assert.throws(() => decodeBmp(b16, "b16.bmp"), /16-bit BMP .* not supported/);
    const good = encodeBmp(ramp8(8, 8, 3));
    const path = join(tmp, "cut.bmp");
    writeFileSync(path, good.subarray(0, good.length - 30));
    await rejectsWith(() => readImage(path), "corrupt", path, /truncated/);
  });
});

describe("errors", () => {
  test("missing file", async () => {
    const path = join(tmp, "nope.png");
    await rejectsWith(() => readImage(path), "io", path, /not found/);
  });

  test("truncated PNG and JPEG", async () => {
    const png = encodePng(ramp8(64, 64, 3));
    const p1 = join(tmp, "cut.png");
    writeFileSync(p1, png.subarray(0, png.length - 200));
    await rejectsWith(() => readImage(p1), "corrupt", p1, /cannot decode this PNG/);
    const jpg = await encodeImage(ramp8(64, 64, 3), "jpeg");
    const p2 = join(tmp, "cut.jpg");
    writeFileSync(p2, jpg.subarray(0, jpg.length >> 1));
    await rejectsWith(() => readImage(p2), "corrupt", p2, /JPEG/);
  });

  test("not an image, empty file, unsupported format", async () => {
    const p1 = join(tmp, "notes.png");
    writeFileSync(p1, "these are not pixels");
    await rejectsWith(() => readImage(p1), "unsupported", p1, /not a PNG, JPEG, TIFF or BMP/);
    const p2 = join(tmp, "empty.png");
    writeFileSync(p2, "");
    await rejectsWith(() => readImage(p2), "corrupt", p2, /empty/);
    const p3 = join(tmp, "anim.gif");
    writeFileSync(p3, Buffer.from("GIF89a\x01\x00\x01\x00\x00\x00\x00;", "latin1"));
    await rejectsWith(() => readImage(p3), "unsupported", p3);
  });

  test("a PNG file that is really a JPEG is read by content", async () => {
    const jpg = await encodeImage(ramp8(8, 8, 3), "jpeg");
    const path = join(tmp, "renamed.png");
    writeFileSync(path, jpg);
    assert.equal((await readImage(path)).format, "jpeg");
    assert.equal(readFileSync(path).length, jpg.length);
  });
});

describe("channel conversion", () => {
  test("toRgb replicates grey, toGrey uses 601 luma", () => {
    const g = { width: 2, height: 1, channels: 1, data: new Uint8Array([7, 200]), bitDepth: 8 as const };
    assert.deepEqual([...toRgb(g).data], [7, 7, 7, 200, 200, 200]);
    const g16 = { width: 1, height: 1, channels: 1, data: new Uint16Array([40000]), bitDepth: 16 as const };
    assert.ok(toRgb(g16).data instanceof Uint16Array);
    const rgb = { width: 1, height: 1, channels: 3, data: new Uint8Array([255, 0, 0]), bitDepth: 8 as const };
    assert.deepEqual([...toGrey(rgb).data], [76]);
  });
});
