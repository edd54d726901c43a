// The pure decoders the web viewer runs in the browser, tested in Node on generated files:
// DICOM (src/io/dicom/), NIfTI without node:zlib (src/io/nifti/nifti-format.ts), the volume window.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { gzipSync, inflateRawSync } from "node:zlib";
import {
  DEFAULT_INPUT_RULE,
  inputPlanes,
  percentileWindow,
  volumeWindow,
} from "../../src/data/input-rule.js";
import {
  DicomError,
  decodeDicom,
  decodeDicomAsync,
  sniffDicom,
  TRANSFER_SYNTAXES,
} from "../../src/io/dicom/dicom.js";
import { dicomDisplayMapping, dicomToPlanar } from "../../src/io/dicom/dicom-display.js";
import { readImage } from "../../src/io/images/images.js";
import { getSlice, makeNiftiHeader, parseNifti, serializeNifti } from "../../src/io/nifti/nifti.js";
import { isGzip, parseNiftiUncompressed } from "../../src/io/nifti/nifti-format.js";
import { ITK } from "../train/helpers.js";
import { writeDicom } from "./dicom-writer.js";

function ramp(rows: number, cols: number, f: (r: number, c: number) => number): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out.push(f(r, c));
  return out;
}

describe("DICOM", () => {
  test("8-bit MONOCHROME2 keeps the stored values (quantized, like a grey PNG)", async () => {
    const png = await readImage(join(ITK, "images", "slice_030.png"));
    const bytes = writeDicom({
      rows: png.height,
      columns: png.width,
      pixels: png.data,
      bitsAllocated: 8,
      spacing: [0.9, 0.8],
    });
    assert.ok(sniffDicom(bytes));
    const img = decodeDicom(bytes, "slice.dcm");
    assert.equal(img.rows, 128);
    assert.deepEqual(img.spacing, [0.9, 0.8]);
    assert.equal(dicomDisplayMapping(img).kind, "stored");
    const planar = dicomToPlanar(img);
    assert.equal(planar.quantized, true);
    assert.equal(planar.channels, 1);
    assert.deepEqual(Array.from(planar.data), Array.from(png.data));
  });

  test("16-bit signed with rescale slope/intercept gives modality values; the VOI window maps them", () => {
    const stored = ramp(4, 5, (r, c) => (r * 5 + c) * 100 - 1000); // -1000 .. 900
    const bytes = writeDicom({
      rows: 4,
      columns: 5,
      pixels: stored,
      signed: true,
      rescaleSlope: 2,
      rescaleIntercept: -24,
      window: { center: 0, width: 1001 },
    });
    const img = decodeDicom(bytes, "ct.dcm");
    assert.equal(img.signed, true);
    assert.deepEqual(
      Array.from(img.frameData[0]!),
      stored.map((v) => v * 2 - 24),
    );
    const p = dicomToPlanar(img);
    assert.equal(p.quantized, false);
    // Linear VOI: below c - 0.5 - (w-1)/2 = -500.5 -> 0, above c - 0.5 + (w-1)/2 = 499.5 -> 255.
    const hu = stored.map((v) => v * 2 - 24);
    for (let i = 0; i < hu.length; i++) {
      const x = hu[i]!;
      const want = x <= -500.5 ? 0 : x > 499.5 ? 255 : ((x + 0.5) / 1000 + 0.5) * 255;
      assert.ok(Math.abs(p.data[i]! - want) < 1e-3, `${x}: ${p.data[i]} vs ${want}`);
    }
  });

  test("12 bits stored in 16: the high bits are masked; without a window the percentiles are used", () => {
    const stored = ramp(8, 8, (r, c) => (r * 8 + c) * 64); // 0 .. 4032
    const withJunk = stored.map((v) => v | 0xf000); // garbage above BitsStored
    const img = decodeDicom(writeDicom({ rows: 8, columns: 8, pixels: withJunk, bitsStored: 12 }), "x.dcm");
    assert.deepEqual(Array.from(img.frameData[0]!), stored);
    const m = dicomDisplayMapping(img);
    assert.equal(m.kind, "percentile");
    const p = dicomToPlanar(img, 0, m);
    assert.equal(p.data[0], 0);
    assert.equal(p.data[63], 255);
  });

  test("MONOCHROME1 is inverted", () => {
    const stored = ramp(2, 3, (r, c) => r * 3 + c); // 0..5
    const m2 = dicomToPlanar(
      decodeDicom(writeDicom({ rows: 2, columns: 3, pixels: stored, bitsAllocated: 8 })),
    );
    const m1 = dicomToPlanar(
      decodeDicom(
        writeDicom({ rows: 2, columns: 3, pixels: stored, bitsAllocated: 8, photometric: "MONOCHROME1" }),
      ),
    );
    assert.deepEqual(
      Array.from(m1.data),
      Array.from(m2.data).map((v) => 255 - v),
    );
    // 16-bit MONOCHROME1 through a window: high values dark.
    const w = dicomToPlanar(
      decodeDicom(
        writeDicom({
          rows: 1,
          columns: 2,
          pixels: [0, 1000],
          photometric: "MONOCHROME1",
          window: { center: 500, width: 1000 },
        }),
      ),
    );
    assert.equal(w.data[0], 255);
    assert.equal(w.data[1], 0);
  });

  test("implicit VR, big endian, bare data sets, deflated (sync and async) and multi-frame read the same", async () => {
    const stored = ramp(6, 7, (r, c) => r * 700 + c * 11);
    const frames = [...stored, ...stored.map((v) => v + 5)];
    const want = decodeDicom(writeDicom({ rows: 6, columns: 7, pixels: stored }));
    for (const ts of [TRANSFER_SYNTAXES.implicitLittle, TRANSFER_SYNTAXES.explicitBig]) {
      const img = decodeDicom(writeDicom({ rows: 6, columns: 7, pixels: stored, transferSyntax: ts }), ts);
      assert.deepEqual(Array.from(img.frameData[0]!), Array.from(want.frameData[0]!), ts);
    }
    const bare = writeDicom({ rows: 6, columns: 7, pixels: stored, bare: true });
    assert.ok(sniffDicom(bare));
    assert.deepEqual(Array.from(decodeDicom(bare).frameData[0]!), stored);
    const deflated = writeDicom({
      rows: 6,
      columns: 7,
      pixels: stored,
      transferSyntax: TRANSFER_SYNTAXES.deflatedExplicitLittle,
    });
    assert.deepEqual(
      Array.from(decodeDicom(deflated, "d.dcm", { inflate: inflateRawSync }).frameData[0]!),
      stored,
    );
    const viaAsync = await decodeDicomAsync(deflated, "d.dcm", async (b) => inflateRawSync(b));
    assert.deepEqual(Array.from(viaAsync.frameData[0]!), stored);
    // A plain (not deflated) file never calls the async inflater.
    const plain = await decodeDicomAsync(writeDicom({ rows: 6, columns: 7, pixels: stored }), "p.dcm", () => {
      throw new Error("must not inflate");
    });
    assert.equal(plain.rows, 6);
    const multi = decodeDicom(writeDicom({ rows: 6, columns: 7, pixels: frames, frames: 2 }));
    assert.equal(multi.frames, 2);
    assert.deepEqual(
      Array.from(multi.frameData[1]!),
      stored.map((v) => v + 5),
    );
    // One window for all frames, so a frame's brightness does not jump when the slider moves.
    const m = dicomDisplayMapping(multi);
    assert.ok(dicomToPlanar(multi, 1, m).data[0]! > dicomToPlanar(multi, 0, m).data[0]!);
  });

  test("RGB, interleaved and planar", () => {
    const px = ramp(3, 4, (r, c) => r * 4 + c).flatMap((v) => [v, 100 + v, 200 + v]);
    for (const planar of [false, true]) {
      const img = decodeDicom(
        writeDicom({ rows: 3, columns: 4, pixels: px, samplesPerPixel: 3, bitsAllocated: 8, planar }),
      );
      const p = dicomToPlanar(img);
      assert.equal(p.channels, 3);
      assert.equal(p.quantized, true);
      assert.equal(p.data[0], 0);
      assert.equal(p.data[12 + 5], 105);
      assert.equal(p.data[24 + 11], 211);
    }
  });

  test("compressed transfer syntaxes, palettes and broken files are refused with clear messages", async () => {
    const px = ramp(4, 4, (r, c) => r + c);
    const jpeg = writeDicom({ rows: 4, columns: 4, pixels: px, transferSyntax: "1.2.840.10008.1.2.4.50" });
    assert.throws(
      () => decodeDicom(jpeg, "scan.dcm"),
      (e: unknown) =>
        e instanceof DicomError &&
        e.code === "unsupported" &&
        /scan\.dcm: compressed DICOM \(JPEG Baseline, transfer syntax 1\.2\.840\.10008\.1\.2\.4\.50\) is not supported/.test(
          e.message,
        ) &&
        /gdcmconv --raw/.test(e.message),
    );
    const j2k = writeDicom({ rows: 4, columns: 4, pixels: px, transferSyntax: "1.2.840.10008.1.2.4.90" });
    assert.throws(() => decodeDicom(j2k, "a.dcm"), /JPEG 2000 Lossless/);
    // RLE is read; a file that says RLE but holds raw pixels is refused as damaged.
    const rle = writeDicom({ rows: 4, columns: 4, pixels: px, transferSyntax: "1.2.840.10008.1.2.5" });
    await assert.rejects(
      decodeDicomAsync(rle, "r.dcm", async (b) => b),
      (e: unknown) => e instanceof DicomError && e.code === "corrupt" && /r\.dcm.*RLE/.test(e.message),
    );
    const palette = writeDicom({
      rows: 4,
      columns: 4,
      pixels: px,
      photometric: "PALETTE COLOR",
      bitsAllocated: 8,
    });
    assert.throws(() => decodeDicom(palette, "p.dcm"), /PALETTE COLOR .* is not supported/);
    const good = writeDicom({ rows: 16, columns: 16, pixels: ramp(16, 16, (r, c) => r * c) });
    assert.throws(
      () => decodeDicom(good.subarray(0, good.length - 100), "cut.dcm"),
      (e: unknown) => e instanceof DicomError && /cut\.dcm/.test(e.message) && e.code !== "unsupported",
    );
    assert.throws(
      () => decodeDicom(new TextEncoder().encode("hello, not a DICOM file"), "x.txt"),
      /not a DICOM file/,
    );
    assert.throws(() => decodeDicom(new Uint8Array(0), "e.dcm"), /empty/);
    assert.ok(!sniffDicom(new Uint8Array(300)));
  });
});

describe("NIfTI without node:zlib", () => {
  test("parseNiftiUncompressed reads what serializeNifti wrote; gzip is detected and refused", () => {
    const shape = [5, 4, 3];
    const data = new Int16Array(60).map((_, i) => i * 7 - 100);
    const header = makeNiftiHeader(shape, "int16", [0.5, 0.6, 2]);
    const raw = serializeNifti({ ...header, sclSlope: 2, sclInter: 10 }, data);
    const vol = parseNiftiUncompressed(raw, "v.nii");
    assert.deepEqual(vol.shape, shape);
    const s = getSlice(vol, 2, 1);
    assert.equal(s.rows, 5);
    assert.equal(s.cols, 4);
    assert.equal(s.data[0], (20 * 7 - 100) * 2 + 10);
    const gz = gzipSync(raw);
    assert.ok(isGzip(gz));
    assert.throws(() => parseNiftiUncompressed(gz, "v.nii.gz"), /gzip-compressed/);
    assert.deepEqual(Array.from(parseNifti(gz, "v.nii.gz").data), Array.from(data));
  });

  test("a slice through the input rule: the volume's 0.5 / 99.5 percentiles to 0 / 255, NaN to 0", () => {
    const shape = [10, 10, 10];
    const data = new Float32Array(1000).map((_, i) => i);
    data[7] = Number.NaN;
    const vol = parseNiftiUncompressed(serializeNifti(makeNiftiHeader(shape, "float32"), data));
    const window = volumeWindow(vol, DEFAULT_INPUT_RULE);
    assert.deepEqual(window, percentileWindow(vol, 0.5, 99.5));
    assert.deepEqual(window, [5, 994]); // 999 finite values: NaN is left out of the percentiles
    const slice = (z: number) =>
      inputPlanes({ kind: "slice", ...getSlice(vol, 2, z), window }, DEFAULT_INPUT_RULE);
    const plane = slice(0).data;
    assert.equal(plane.length, 3 * 100);
    assert.equal(plane[0], 0);
    assert.ok(Math.abs(plane[5]! - ((50 - 5) / 989) * 255) < 1e-4); // row i = 0, column j = 5: voxel 50
    assert.equal(plane[70], 0); // voxel 7 (row 7, column 0) is NaN
    assert.ok(Math.abs(plane[200 + 5]! - plane[5]!) === 0); // grey in all three planes
    assert.equal(slice(9).data[99], 255);
    const range = { ...DEFAULT_INPUT_RULE, window: { kind: "range" as const, min: 0, max: 255 } };
    assert.deepEqual(volumeWindow(vol, range), [0, 255]);
  });
});
