import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  type Dataset,
  DatasetError,
  type LoadedSample,
  openDataset,
  validateDataset,
} from "../../src/data/index.js";
import { dicomToPlanar } from "../../src/io/dicom/dicom-display.js";
import { decodeDicomFile } from "../../src/io/dicom/dicom-node.js";
import { makeNiftiHeader, writeNifti } from "../../src/io/nifti/nifti.js";
import { writeDicom } from "../serve/dicom-writer.js";
import { discImage, maskImage, tempDir, writeImage } from "./helpers.js";

const root = tempDir("datasets");
after(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
function dir(name: string): string {
  const d = join(root, `${counter++}_${name}`);
  mkdirSync(d, { recursive: true });
  return d;
}

async function rejectsWith(
  fn: () => Promise<unknown>,
  code: string,
  ...parts: (string | RegExp)[]
): Promise<void> {
  await assert.rejects(fn, (err: unknown) => {
    assert.ok(err instanceof DatasetError, `expected DatasetError, got ${err}`);
    assert.equal(err.code, code, err.message);
    for (const p of parts) {
      if (typeof p === "string")
        assert.ok(err.message.includes(p), `message should contain ${p}: ${err.message}`);
      else assert.match(err.message, p);
    }
    return true;
  });
}

function agreement(s: LoadedSample, expected: Uint8Array): number {
  let same = 0;
  for (let i = 0; i < expected.length; i++) if (s.mask.data[i] === expected[i]) same++;
  return same / expected.length;
}

/** images/NAME.ext + masks/NAME.png with the disc mask stored with foreground value `fg`. */
async function generic(
  d: string,
  names: string[],
  fg: number,
  exts: string[] = [".png"],
): Promise<Map<string, Uint8Array>> {
  const masks = new Map<string, Uint8Array>();
  for (const [i, name] of names.entries()) {
    const { image, mask } = discImage(24 + 2 * i, 20, i % 2 ? 3 : 1, i);
    await writeImage(join(d, "images", `${name}${exts[i % exts.length]}`), image);
    await writeImage(join(d, "masks", `${name}.png`), maskImage(image.width, image.height, mask, fg));
    masks.set(name, mask);
  }
  return masks;
}

describe("generic layout", () => {
  test("PNG/BMP/TIFF images, 0/255 masks, generated split returned (not written)", async () => {
    const d = dir("generic");
    const names = Array.from({ length: 10 }, (_, i) => `case${i}`);
    const masks = await generic(d, names, 255, [".png", ".bmp", ".tif"]);
    writeFileSync(join(d, "images", "README.txt"), "not an image");
    const ds = await openDataset(d, { seed: 3 });
    assert.equal(ds.layout, "generic");
    assert.equal(ds.samples.length, 10);
    assert.deepEqual(ds.masks.convention, { kind: "binary", foreground: 255 });
    assert.match(ds.masks.description, /0\/255 binary/);
    assert.equal(ds.numClasses, 2);
    assert.equal(ds.splitSource, "generated");
    assert.deepEqual([ds.split.train.length, ds.split.val.length, ds.split.test.length], [8, 1, 1]);
    assert.ok(!existsSync(join(d, "split.json")), "a generated split must not be written into the dataset");
    assert.ok(ds.warnings.some((w) => w.includes("README.txt")));
    assert.match(ds.describe(), /generic layout, 10 images; split \(generated\): train 8, val 1, test 1/);
    // Same seed, same split; another seed, another split.
    assert.deepEqual((await openDataset(d, { seed: 3 })).split, ds.split);
    assert.notDeepEqual((await openDataset(d, { seed: 4 })).split, ds.split);
    for (const name of ["case0", "case1", "case2"]) {
      const s = await ds.load(name);
      assert.equal(s.image.channels, 3);
      assert.equal(s.image.quantized, true);
      assert.deepEqual(s.mask.data, masks.get(name));
    }
    // Grey images are replicated to 3 identical planes.
    const g = await ds.load("case0");
    const n = g.image.width * g.image.height;
    assert.deepEqual(g.image.data.subarray(0, n), g.image.data.subarray(2 * n, 3 * n));
    assert.deepEqual(await validateDataset(ds), []);
  });

  test("DICOM images (16-bit windowed, 8-bit, JPEG 2000) load as udeg predict sees them; multi-frame refused", async () => {
    const d = dir("dicom");
    mkdirSync(join(d, "images"));
    mkdirSync(join(d, "masks"));
    const size = 16;
    const mask = new Uint8Array(size * size).map((_, i) => (i % size > 7 ? 255 : 0));
    const ramp = Array.from({ length: size * size }, (_, i) => 1000 + 7 * i);
    const files: Record<string, Uint8Array> = {
      ct: writeDicom({ rows: size, columns: size, pixels: ramp, window: { center: 1800, width: 1000 } }),
      plain8: writeDicom({ rows: size, columns: size, pixels: ramp.map((v) => v % 256), bitsAllocated: 8 }),
    };
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(d, "images", `${name}.dcm`), bytes);
    const corpus = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
    writeFileSync(join(d, "images", "mr.dcm"), readFileSync(join(corpus, "MR_small_jp2klossless.dcm")));
    const grey = (data: Uint8Array, side: number) => ({
      data,
      width: side,
      height: side,
      channels: 1,
      bitDepth: 8 as const,
    });
    for (const name of ["ct", "plain8"]) await writeImage(join(d, "masks", `${name}.png`), grey(mask, size));
    await writeImage(join(d, "masks", "mr.png"), grey(new Uint8Array(64 * 64).fill(255), 64));
    const ds = await openDataset(d, { seed: 1 });
    assert.equal(ds.samples.length, 3);
    assert.deepEqual(await validateDataset(ds), []);
    for (const name of ["ct", "plain8", "mr"]) {
      const path = join(d, "images", `${name}.dcm`);
      const want = dicomToPlanar(await decodeDicomFile(readFileSync(path), path));
      const got = (await ds.load(name)).image;
      const n = want.width * want.height;
      assert.equal(got.width, want.width);
      for (const plane of [0, 2])
        for (let i = 0; i < n; i++)
          assert.ok(
            Math.abs(got.data[plane * n + i]! - want.data[i]!) <= 0.5 / 257,
            `${name}: pixel ${i}: dataset ${got.data[plane * n + i]}, predict ${want.data[i]}`,
          );
    }
    writeFileSync(
      join(d, "images", "cine.dcm"),
      writeDicom({ rows: size, columns: size, frames: 2, pixels: [...ramp, ...ramp] }),
    );
    await writeImage(join(d, "masks", "cine.png"), grey(mask, size));
    const withCine = await openDataset(d, { seed: 1 });
    await assert.rejects(withCine.load("cine"), /cine\.dcm.*2 frames is a volume.*udeg convert/s);
  });

  test("split.json with and without extensions; 0/1 and label masks detected", async () => {
    const d = dir("split");
    await generic(d, ["a", "b", "c", "d"], 1);
    writeFileSync(join(d, "split.json"), JSON.stringify({ train: ["a.png", "b"], test: ["c.jpg"] }));
    const ds = await openDataset(d);
    assert.equal(ds.splitSource, "split.json");
    assert.deepEqual(ds.split, { train: ["a", "b"], val: [], test: ["c"] });
    assert.deepEqual(ds.masks.convention, { kind: "binary", foreground: 1 });
    assert.ok(ds.warnings.some((w) => /1 sample\(s\) are in no part/.test(w)));
    assert.deepEqual(
      ds.part("train").map((s) => s.name),
      ["a", "b"],
    );

    const l = dir("labels");
    for (let i = 0; i < 3; i++) {
      const { image, mask } = discImage(16, 16, 1, i);
      const m = maskImage(16, 16, mask, 1 + i); // classes 1, 2, 3
      await writeImage(join(l, "images", `x${i}.png`), image);
      await writeImage(join(l, "masks", `x${i}.png`), m);
    }
    const ls = await openDataset(l);
    assert.deepEqual(ls.masks.convention, { kind: "labels", numClasses: 4 });
    assert.equal(ls.numClasses, 4);
    assert.equal(Math.max(...(await ls.load("x2")).mask.data), 3);
  });

  test("errors: missing masks/, image without mask, size mismatch, unreadable file, bad split", async () => {
    const noMasks = dir("nomasks");
    await writeImage(join(noMasks, "images", "a.png"), discImage(8, 8, 1).image);
    await rejectsWith(
      () => openDataset(noMasks),
      "missing-masks-dir",
      "masks",
      "found images/ but no masks/",
    );

    const missing = dir("missing");
    await generic(missing, ["a", "b"], 255);
    await writeImage(join(missing, "images", "lonely.png"), discImage(8, 8, 1).image);
    await rejectsWith(() => openDataset(missing), "missing-mask", "lonely.png", "without a mask");

    const sizes = dir("sizes");
    await generic(sizes, ["a", "b"], 255);
    const { mask } = discImage(10, 10, 1);
    await writeImage(join(sizes, "masks", "b.png"), maskImage(10, 10, mask, 255));
    const ds = await openDataset(sizes);
    await rejectsWith(
      () => ds.load("b"),
      "size-mismatch",
      join(sizes, "masks", "b.png"),
      join(sizes, "images", "b.png"),
      "10x10",
      "26x20",
      /nearest-neighbour/,
    );
    const problems = await validateDataset(ds);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.code, "size-mismatch");

    const corrupt = dir("corrupt");
    await generic(corrupt, ["a", "b"], 255);
    writeFileSync(
      join(corrupt, "images", "b.png"),
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]),
    );
    const cs = await openDataset(corrupt);
    await rejectsWith(
      () => cs.load("b"),
      "unreadable",
      join(corrupt, "images", "b.png"),
      'image of sample "b"',
    );

    const badSplit = dir("badsplit");
    await generic(badSplit, ["a", "b"], 255);
    writeFileSync(join(badSplit, "split.json"), JSON.stringify({ train: ["a", "zzz.png"] }));
    await rejectsWith(() => openDataset(badSplit), "bad-split", "split.json", '"zzz.png"');
    writeFileSync(join(badSplit, "split.json"), JSON.stringify({ train: ["a"], test: ["a.png"] }));
    await rejectsWith(() => openDataset(badSplit), "bad-split", /both "train" and "test"/);
    writeFileSync(join(badSplit, "split.json"), "{ not json");
    await rejectsWith(() => openDataset(badSplit), "bad-split", "cannot read split.json");

    await rejectsWith(() => openDataset(join(root, "does-not-exist")), "not-found");
    const empty = dir("unknown");
    writeFileSync(join(empty, "notes.txt"), "x");
    mkdirSync(join(empty, "a"));
    mkdirSync(join(empty, "b"));
    await rejectsWith(() => openDataset(empty), "unknown-layout", "no dataset layout found", "notes.txt");
  });
});

describe("downloaded layouts", () => {
  test("Kvasir-SEG: JPEG images and JPEG RGB masks, thresholded at 127", async () => {
    const top = dir("kvasir");
    const d = join(top, "Kvasir-SEG");
    const truth = new Map<string, Uint8Array>();
    for (let i = 0; i < 3; i++) {
      const name = `cju${i}ddda5xf0010v4fhhckj4m`;
      const { image, mask } = discImage(40, 32, 3, i);
      await writeImage(join(d, "images", `${name}.jpg`), image);
      const m = maskImage(40, 32, mask, 255);
      const rgb = {
        ...m,
        channels: 3,
        data: new Uint8Array(m.data.length * 3).map((_, k) => m.data[Math.floor(k / 3)]!),
      };
      await writeImage(join(d, "masks", `${name}.jpg`), rgb);
      truth.set(name, mask);
    }
    writeFileSync(join(d, "kavsir_bboxes.json"), "{}");
    const ds = await openDataset(top);
    assert.equal(ds.layout, "kvasir-seg");
    assert.equal(ds.root, d);
    assert.deepEqual(ds.masks.convention, { kind: "threshold", threshold: 127 });
    assert.match(ds.masks.description, /JPEG/);
    for (const [name, mask] of truth) {
      const s = await ds.load(name);
      assert.ok(agreement(s, mask) > 0.98, `${name}: ${agreement(s, mask)}`);
      assert.ok(s.mask.data.every((v) => v <= 1));
    }
  });

  test("ISIC 2018: Training input + ground truth, Validation folders give the val split", async () => {
    const d = dir("isic");
    const put = async (part: string, id: string, i: number) => {
      const { image, mask } = discImage(30, 24, 3, i);
      await writeImage(join(d, `ISIC2018_Task1-2_${part}_Input`, `${id}.jpg`), image);
      await writeImage(
        join(d, `ISIC2018_Task1_${part}_GroundTruth`, `${id}_segmentation.png`),
        maskImage(30, 24, mask, 255),
      );
      return mask;
    };
    const m0 = await put("Training", "ISIC_0000000", 0);
    await put("Training", "ISIC_0000001", 1);
    await put("Training", "ISIC_0000003", 2);
    await put("Validation", "ISIC_0012255", 3);
    writeFileSync(join(d, "ISIC2018_Task1-2_Training_Input", "ATTRIBUTION.txt"), "x");
    writeFileSync(join(d, "ISIC2018_Task1-2_Training_Input", "LICENSE.txt"), "x");
    const ds = await openDataset(d);
    assert.equal(ds.layout, "isic2018");
    assert.equal(ds.splitSource, "layout");
    assert.deepEqual(ds.split, {
      train: ["ISIC_0000000", "ISIC_0000001", "ISIC_0000003"],
      val: ["ISIC_0012255"],
      test: [],
    });
    assert.deepEqual(ds.masks.convention, { kind: "binary", foreground: 255 });
    assert.deepEqual((await ds.load("ISIC_0000000")).mask.data, m0);

    rmSync(join(d, "ISIC2018_Task1_Training_GroundTruth"), { recursive: true });
    await rejectsWith(() => openDataset(d), "missing-masks-dir", "ISIC2018_Task1_Training_GroundTruth");
  });

  test("BUSI: benign/malignant/normal, extra masks merged by OR, empty normal masks", async () => {
    const top = dir("busi");
    const d = join(top, "Dataset_BUSI_with_GT");
    const w = 20;
    const h = 16;
    const left = new Uint8Array(w * h).map((_, i) => (i % w < 5 ? 1 : 0));
    const right = new Uint8Array(w * h).map((_, i) => (i % w >= 15 ? 1 : 0));
    const img = discImage(w, h, 1).image;
    await writeImage(join(d, "benign", "benign (1).png"), img);
    await writeImage(join(d, "benign", "benign (1)_mask.png"), maskImage(w, h, left, 255));
    await writeImage(join(d, "benign", "benign (1)_mask_1.png"), maskImage(w, h, right, 255));
    await writeImage(join(d, "benign", "benign (10).png"), img);
    await writeImage(join(d, "benign", "benign (10)_mask.png"), maskImage(w, h, left, 255));
    await writeImage(join(d, "malignant", "malignant (1).png"), {
      ...img,
      channels: 3,
      data: new Uint8Array(w * h * 3).fill(90),
    });
    await writeImage(join(d, "malignant", "malignant (1)_mask.png"), maskImage(w, h, right, 255));
    await writeImage(join(d, "normal", "normal (1).png"), img);
    await writeImage(join(d, "normal", "normal (1)_mask.png"), maskImage(w, h, new Uint8Array(w * h), 255));
    const ds = await openDataset(top);
    assert.equal(ds.layout, "busi");
    assert.equal(ds.root, d);
    assert.deepEqual(
      ds.samples.map((s) => [s.name, s.category, s.masks.length]),
      [
        ["benign (1)", "benign", 2],
        ["benign (10)", "benign", 1],
        ["malignant (1)", "malignant", 1],
        ["normal (1)", "normal", 1],
      ],
    );
    const merged = (await ds.load("benign (1)")).mask.data;
    assert.deepEqual(
      merged,
      left.map((v, i) => v | right[i]!),
    );
    assert.ok((await ds.load("normal (1)")).mask.data.every((v) => v === 0));
    rmSync(join(d, "malignant", "malignant (1)_mask.png"));
    await rejectsWith(() => openDataset(top), "missing-mask", "malignant (1).png");
  });
});

describe("NIfTI volumes (imagesTr + labelsTr)", () => {
  async function volumes(d: string, nnunet: boolean): Promise<void> {
    for (const [c, id] of ["la_003", "la_007", "la_010"].entries()) {
      const shape = [12, 10, 4 + c];
      const n = shape[0]! * shape[1]! * shape[2]!;
      const img = new Float32Array(n).map((_, i) => (i % 97) * 10 - 300);
      const lab = new Uint8Array(n);
      // Label 1 on slice k = 1 (i < 6), label 2 on slice k = 2 (j < 3); slices 0 and 3+ empty.
      for (let j = 0; j < 10; j++) {
        for (let i = 0; i < 12; i++) {
          if (i < 6) lab[i + 12 * j + 120 * 1] = 1;
          if (j < 3) lab[i + 12 * j + 120 * 2] = 2;
        }
      }
      const name = nnunet ? `${id}_0000.nii.gz` : `${id}.nii.gz`;
      await writeNifti(join(d, "imagesTr", name), makeNiftiHeader(shape, "float32", [0.8, 0.9, 2.5]), img);
      await writeNifti(
        join(d, "labelsTr", `${id}.nii.gz`),
        makeNiftiHeader(shape, "uint8", [0.8, 0.9, 2.5]),
        lab,
      );
    }
  }

  test("nnU-Net naming: slices along an axis, split by case, label classes", async () => {
    const d = dir("nnunet");
    mkdirSync(join(d, "imagesTr"));
    mkdirSync(join(d, "labelsTr"));
    await volumes(d, true);
    writeFileSync(join(d, "imagesTr", "._la_003_0000.nii.gz"), "macOS fork"); // skipped: hidden
    const ds: Dataset = await openDataset(d, { seed: 1, fractions: [1, 1, 1] });
    assert.equal(ds.layout, "nifti");
    assert.deepEqual(ds.groups, ["la_003", "la_007", "la_010"]);
    assert.equal(ds.samples.length, 4 + 5 + 6);
    assert.equal(ds.samples[0]!.name, "la_003_z000");
    assert.equal(ds.numClasses, 3);
    assert.match(ds.masks.description, /3 classes/);
    // One case per part: slices of a case never straddle parts.
    for (const part of ["train", "val", "test"] as const) {
      const cases = new Set(ds.part(part).map((s) => s.group));
      assert.equal(cases.size, 1, part);
    }
    const s1 = await ds.load("la_007_z001");
    assert.deepEqual([s1.image.height, s1.image.width, s1.image.channels], [12, 10, 3]);
    assert.deepEqual(
      s1.spacing?.map((v) => Math.round(v * 10) / 10),
      [0.8, 0.9],
    );
    assert.equal(s1.mask.data[0], 1); // i = 0 -> row 0
    assert.equal(s1.mask.data[6 * 10], 0); // i = 6
    assert.ok(s1.image.data.every((v) => v >= 0 && v <= 255));
    const s2 = await ds.load("la_007_z002");
    assert.deepEqual([s2.mask.data[2], s2.mask.data[3]], [2, 0]); // j < 3 -> columns 0..2

    // Along axis 0: slices are [j, k] = 10 x (4 + c); only slices with foreground when asked.
    const ax = await openDataset(d, {
      axis: 0,
      slices: "foreground",
      input: { window: { kind: "range", min: -300, max: 660 } },
    });
    assert.equal(ax.samples[0]!.name, "la_003_x000");
    const a = await ax.load(ax.samples[0]!);
    assert.deepEqual([a.image.height, a.image.width], [10, 4]);
    assert.ok(ax.samples.length === 3 * 12);
    const z = await openDataset(d, { slices: "foreground" });
    assert.equal(z.samples.length, 3 * 2);
  });

  test("MSD 4-D images pick the modality; missing label named", async () => {
    const d = dir("msd");
    mkdirSync(join(d, "imagesTr"));
    mkdirSync(join(d, "labelsTr"));
    const shape = [6, 5, 3, 2];
    const img = new Int16Array(6 * 5 * 3 * 2).map((_, i) => (i < 90 ? 0 : 1000));
    await writeNifti(join(d, "imagesTr", "brain_001.nii.gz"), makeNiftiHeader(shape, "int16"), img);
    await writeNifti(
      join(d, "labelsTr", "brain_001.nii.gz"),
      makeNiftiHeader([6, 5, 3], "uint8"),
      new Uint8Array(90).fill(1),
    );
    const m0 = await openDataset(d, { input: { window: { kind: "range", min: 0, max: 1000 } } });
    assert.ok((await m0.load("brain_001_z000")).image.data.every((v) => v === 0));
    const m1 = await openDataset(d, { modality: 1, input: { window: { kind: "range", min: 0, max: 1000 } } });
    assert.ok((await m1.load("brain_001_z000")).image.data.every((v) => v === 255));
    await writeNifti(join(d, "imagesTr", "brain_002.nii.gz"), makeNiftiHeader(shape, "int16"), img);
    await rejectsWith(() => openDataset(d), "missing-mask", "brain_002.nii.gz", "labelsTr");
    await writeNifti(
      join(d, "labelsTr", "brain_002.nii.gz"),
      makeNiftiHeader([6, 5, 4], "uint8"),
      new Uint8Array(120),
    );
    await rejectsWith(() => openDataset(d), "size-mismatch", "6x5x4", "6x5x3");
  });
});
