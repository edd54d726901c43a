// The page's own modules that need no DOM, in Node: file opening for NIfTI/DICOM/16-bit PNG and the
// refusals, the mask PNG writer, the single-graph post-processing.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { DEFAULT_INPUT_RULE, inputPlanes, volumeWindow } from "../../src/data/input-rule.js";
import { resizeInfo, restoreMaps } from "../../src/data/preprocess.js";
import { encodePng, readImage } from "../../src/io/images/images.js";
import { getSlice, makeNiftiHeader, parseNifti, serializeNifti } from "../../src/io/nifti/nifti.js";
import { maskPngValues } from "../../src/udeg/colour-maps.js";
import { restorePrediction } from "../../src/udeg/prediction.js";
import { FileError, openBytes, sniff } from "../../web/src/decode.js";
import { labelCounts } from "../../web/src/pipeline.js";
import { decodePng16, encodeGreyPng, pngHeader } from "../../web/src/png.js";
import { ITK } from "../train/helpers.js";
import { writeDicom } from "./dicom-writer.js";

test("encodeGreyPng writes an 8-bit grey PNG that reads back exactly (as udeg predict's mask)", async () => {
  const w = 37;
  const h = 23;
  const values = Uint8Array.from({ length: w * h }, (_, i) => ((i * 7919) % 3 === 0 ? 255 : i % 5));
  const png = await encodeGreyPng(values, w, h);
  assert.deepEqual(pngHeader(png), { width: w, height: h, bitDepth: 8, colorType: 0, interlace: 0 });
  const path = join(mkdtempSync(join(tmpdir(), "udeg-grey-")), "mask.png");
  writeFileSync(path, png);
  const back = await readImage(path);
  assert.equal(back.channels, 1);
  assert.equal(back.bitDepth, 8);
  assert.deepEqual(Array.from(back.data), Array.from(values));
  assert.deepEqual(Array.from(maskPngValues(Uint8Array.of(0, 1, 1, 0), 1)), [0, 255, 255, 0]);
  assert.deepEqual(Array.from(maskPngValues(Uint8Array.of(0, 1, 2, 3), 3)), [0, 1, 2, 3]);
  assert.deepEqual(labelCounts(Uint8Array.of(0, 1, 2, 2, 0), 2), [2, 1, 2]);
});

test("16-bit PNGs open at full precision, through the model's input rule (min-max by default)", async () => {
  const w = 5;
  const h = 3;
  const grey = Uint16Array.from({ length: w * h }, (_, i) => i * 4000 + 7);
  const png = encodePng({ width: w, height: h, channels: 1, data: grey, bitDepth: 16 });
  const raw = await decodePng16(png, "g16.png");
  assert.equal(raw.channels, 1);
  assert.deepEqual(Array.from(raw.data), Array.from(grey));
  const rgba = Uint16Array.from({ length: w * h * 4 }, (_, i) => (i * 1237) % 65536);
  const png4 = encodePng({ width: w, height: h, channels: 4, data: rgba, bitDepth: 16 });
  const raw4 = await decodePng16(png4, "rgba16.png");
  assert.equal(raw4.channels, 3);
  for (let p = 0; p < w * h; p++)
    for (let c = 0; c < 3; c++) assert.equal(raw4.data[p * 3 + c], rgba[p * 4 + c]);
  const opened = await openBytes(png, "g16.png");
  assert.equal(opened.kind, "image");
  const img = opened.image(0);
  assert.equal(img.quantized, false);
  assert.equal(img.channels, 3);
  // Values 7 .. 56007: min-max maps 4007 to (4007 - 7) * 255 / 56000, in all three planes.
  for (const c of [0, 1, 2]) assert.ok(Math.abs(img.data[c * w * h + 1]! - (4000 * 255) / 56000) < 1e-3);
  const full = (
    await openBytes(png, "g16.png", undefined, { ...DEFAULT_INPUT_RULE, intensity16: "full-range" })
  ).image(0);
  assert.ok(Math.abs(full.data[1]! - (4007 * 255) / 65535) < 1e-3);
  await assert.rejects(decodePng16(png.subarray(0, png.length - 20), "cut.png"), /cut\.png/);
});

test("NIfTI (.nii.gz) opens as slices windowed as udeg predict does, middle slice first", async () => {
  const shape = [6, 5, 4];
  const data = new Int16Array(120).map((_, i) => i * 10 - 300);
  const raw = serializeNifti(makeNiftiHeader(shape, "int16"), data);
  const gz = gzipSync(raw);
  assert.equal(sniff(gz, "v.nii.gz"), "gzip");
  const opened = await openBytes(gz, "v.nii.gz");
  assert.equal(opened.kind, "nifti");
  assert.equal(opened.count, 4);
  assert.equal(opened.initial, 2);
  assert.match(opened.description, /NIfTI 6x5x4 int16/);
  const vol = parseNifti(raw);
  const window = volumeWindow(vol, DEFAULT_INPUT_RULE);
  const img = opened.image(3);
  assert.equal(img.height, 6);
  assert.equal(img.width, 5);
  const expected = inputPlanes({ kind: "slice", ...getSlice(vol, 2, 3), window }, DEFAULT_INPUT_RULE);
  assert.deepEqual(Array.from(img.data), Array.from(expected.data));
  await assert.rejects(
    openBytes(gz.subarray(0, 40), "cut.nii.gz"),
    /cut\.nii\.gz: cannot decompress the gzip stream/,
  );
  await assert.rejects(openBytes(gzipSync(new Uint8Array(500)), "x.gz"), /does not hold a NIfTI volume/);
});

test("DICOM opens frame by frame; unreadable files get the page's messages", async () => {
  const png = await readImage(join(ITK, "images", "slice_030.png"));
  const dcm = writeDicom({ rows: 128, columns: 128, pixels: png.data, bitsAllocated: 8 });
  const opened = await openBytes(dcm, "s.dcm");
  assert.equal(opened.kind, "dicom");
  assert.match(opened.description, /DICOM 128x128, MONOCHROME2, 8-bit, stored values/);
  // Stored 8-bit values, grey replicated to the model's three planes.
  assert.deepEqual(Array.from(opened.image(0).data), [...png.data, ...png.data, ...png.data]);
  const jpegLs = writeDicom({
    rows: 4,
    columns: 4,
    pixels: new Array(16).fill(1),
    transferSyntax: "1.2.840.10008.1.2.4.80",
  });
  await assert.rejects(openBytes(jpegLs, "ls.dcm"), /ls\.dcm: compressed DICOM \(JPEG-LS Lossless/);
  const tiff = new Uint8Array([0x49, 0x49, 0x2a, 0, 8, 0, 0, 0]);
  await assert.rejects(
    openBytes(tiff, "a.tif"),
    (e: unknown) => e instanceof FileError && /TIFF/.test(e.message),
  );
  await assert.rejects(openBytes(new Uint8Array(0), "e.png"), /e\.png: the file is empty/);
  await assert.rejects(
    openBytes(new TextEncoder().encode("just text"), "t.txt"),
    /not a file this viewer reads/,
  );
});

test("restorePrediction maps single-graph outputs back as UdegPredictor does (crop, resize, argmax)", () => {
  const s = 8;
  const info = resizeInfo(4, 8, s); // resized 4 x 8, padded 4 rows
  const prob = new Float32Array(2 * s * s);
  const u = new Float32Array(s * s).fill(0.25);
  for (let i = 0; i < s * s; i++) {
    const fg = i % s < 4 ? 0.9 : 0.2;
    prob[i] = 1 - fg;
    prob[s * s + i] = fg;
  }
  const seg = restorePrediction(prob, u, null, 1, info);
  assert.equal(seg.width, 8);
  assert.equal(seg.height, 4);
  assert.deepEqual(Array.from(seg.labels.subarray(0, 8)), [1, 1, 1, 1, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(seg.prob), Array.from(restoreMaps(prob, 2, info)));
  assert.ok(seg.edge.every((v) => v === 0));
  assert.ok(seg.uncertainty.every((v) => Math.abs(v - 0.25) < 1e-6));
});
