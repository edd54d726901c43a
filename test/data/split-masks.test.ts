import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { DatasetError } from "../../src/data/errors.js";
import { countValues, detectConvention, maskChannel, toClassIndices } from "../../src/data/masks.js";
import { makeSplit, resolveSplit, stripExtension, withValidation, writeSplit } from "../../src/data/split.js";
import { tempDir } from "./helpers.js";

const tmp = tempDir("split");
after(() => rmSync(tmp, { recursive: true, force: true }));

describe("splits", () => {
  const groups = Array.from({ length: 103 }, (_, i) => `img_${String(i).padStart(3, "0")}`);

  test("seeded 80/10/10: a partition, deterministic, seed-dependent, order-independent", () => {
    const s = makeSplit(groups, 7);
    assert.deepEqual([s.train.length, s.val.length, s.test.length], [83, 10, 10]);
    assert.deepEqual([...s.train, ...s.val, ...s.test].sort(), groups);
    assert.deepEqual(makeSplit([...groups].reverse(), 7), s);
    assert.notDeepEqual(makeSplit(groups, 8), s);
    assert.deepEqual(makeSplit(["a"], 0), { train: ["a"], val: [], test: [] });
    assert.deepEqual(makeSplit(["a", "b"], 0, [0.5, 0, 0.5]).train.length, 1);
    assert.throws(() => makeSplit(groups, 0, [0, 0, 0]), DatasetError);
  });

  test("withValidation: 10 % of train held out (seeded, at least one) only when there is no val part", () => {
    const split = { train: groups.slice(0, 42), val: [], test: groups.slice(42, 59) };
    const v = withValidation(split, 0);
    assert.equal(v.val.length, 4, "round(42 * 0.1)");
    assert.equal(v.train.length, 38);
    assert.deepEqual([...v.train, ...v.val].sort(), split.train, "a partition of train");
    assert.deepEqual(v.test, split.test, "test untouched");
    assert.deepEqual(withValidation(split, 0), v, "deterministic");
    assert.notDeepEqual(withValidation(split, 1).val, v.val, "seed-dependent");
    assert.deepEqual(
      withValidation({ train: ["a", "b"], val: [], test: [] }, 0).val.length,
      1,
      "at least one",
    );
    const has = { train: ["a", "b", "c"], val: ["d"], test: [] };
    assert.equal(withValidation(has, 0), has, "an existing val part is kept");
    const single = { train: ["a"], val: [], test: [] };
    assert.equal(withValidation(single, 0), single, "nothing to hold out from one sample");
  });

  test("resolveSplit: extensions optional, unknown names and overlaps are errors", () => {
    assert.equal(stripExtension("case.nii.gz"), "case");
    assert.equal(stripExtension("x.PNG"), "x");
    assert.deepEqual(resolveSplit({ train: ["img_000.png", "img_001"], val: [] }, groups), {
      train: ["img_000", "img_001"],
      val: [],
      test: [],
    });
    assert.throws(() => resolveSplit({ train: ["nope"] }, groups), /match no sample.*"nope"/);
    assert.throws(
      () => resolveSplit({ train: ["img_000"], val: ["img_000.jpg"] }, groups),
      /both "train" and "val"/,
    );
    assert.throws(() => resolveSplit({ training: [] }, groups), /unknown key/);
    assert.throws(() => resolveSplit({ train: "img_000" }, groups), /list of names/);
    assert.throws(() => resolveSplit([], groups), /expected an object/);
  });

  test("writeSplit writes JSON that resolves back", () => {
    const s = makeSplit(groups, 1);
    const path = join(tmp, "split.json");
    writeSplit(path, s);
    assert.deepEqual(resolveSplit(JSON.parse(readFileSync(path, "utf8")), groups), s);
  });
});

describe("mask conventions", () => {
  const u8 = (...v: number[]) => new Uint8Array(v);

  test("detection: 0/1, 0/255, labels, JPEG, soft masks", () => {
    const detect = (v: Uint8Array, lossy = false) =>
      detectConvention(countValues(v), { sampled: 1, lossy }).convention;
    assert.deepEqual(detect(u8(0, 1, 1)), { kind: "binary", foreground: 1 });
    assert.deepEqual(detect(u8(0, 0)), { kind: "binary", foreground: 1 });
    assert.deepEqual(detect(u8(0, 255)), { kind: "binary", foreground: 255 });
    assert.deepEqual(detect(u8(0, 1, 2, 5)), { kind: "labels", numClasses: 6 });
    assert.deepEqual(detect(u8(0, 3, 255), true), { kind: "threshold", threshold: 127 });
    assert.deepEqual(detect(new Uint8Array(256).map((_, i) => i)), { kind: "threshold", threshold: 127 });
    assert.deepEqual(
      detectConvention(countValues(new Uint16Array([0, 65535])), { sampled: 1, sixteenBit: true }).convention,
      { kind: "binary", foreground: 65535 },
    );
  });

  test("conversion to class indices", () => {
    assert.deepEqual(
      [...toClassIndices(u8(0, 255, 128, 127), 4, 1, { kind: "binary", foreground: 255 }, "m").data],
      [0, 1, 1, 0],
    );
    assert.deepEqual(
      [...toClassIndices(u8(0, 3, 200), 3, 1, { kind: "threshold", threshold: 127 }, "m").data],
      [0, 0, 1],
    );
    assert.deepEqual(
      [...toClassIndices(u8(0, 2, 1), 3, 1, { kind: "labels", numClasses: 3 }, "m").data],
      [0, 2, 1],
    );
    assert.throws(
      () => toClassIndices(u8(0, 7), 2, 1, { kind: "labels", numClasses: 3 }, "masks/x.png"),
      (e: unknown) =>
        e instanceof DatasetError &&
        e.code === "bad-mask" &&
        /masks\/x.png: value 7 at pixel \(1, 0\)/.test(e.message),
    );
  });

  test("RGB masks: grey in disguise is averaged, colour-coded masks are refused", () => {
    const grey = { width: 2, height: 1, channels: 3, data: u8(250, 255, 252, 0, 3, 1), bitDepth: 8 as const };
    assert.deepEqual([...maskChannel(grey, "g.jpg")], [252, 1]);
    const colour = { width: 2, height: 1, channels: 3, data: u8(0, 0, 0, 255, 0, 0), bitDepth: 8 as const };
    assert.throws(
      () => maskChannel(colour, "c.png"),
      /c.png: colour mask: pixel \(1, 0\) is RGB \(255, 0, 0\)/,
    );
  });
});
