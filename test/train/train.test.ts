import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { deviceName } from "../../src/cli/parse.js";
import { HostTensor, probeDevice } from "../../src/engine/index.js";
import { evaluateRun } from "../../src/eval/evaluate-run.js";
import { readSafetensors, toFloat32 } from "../../src/io/checkpoints/index.js";
import { decodeDicom } from "../../src/io/dicom/dicom.js";
import { dicomToPlanar } from "../../src/io/dicom/dicom-display.js";
import { readImage } from "../../src/io/images/images.js";
import { makeNiftiHeader, readNifti, writeNifti } from "../../src/io/nifti/nifti.js";
import { predictFiles } from "../../src/predict/files.js";
import { schedulePosition, train, trainingDataset } from "../../src/train/trainer.js";
import { partDice } from "../../src/train/validation.js";
import { resolveConfig } from "../../src/udeg/config.js";
import { buildInference } from "../../src/udeg/inference.js";
import { loadRun, UdegPredictor } from "../../src/udeg/predictor.js";
import { RUN_FILES, type RunFile, runPath } from "../../src/udeg/run-folder.js";
import { ITK, sliceDataset, smallConfig } from "./helpers.js";

const quiet = () => {};
const runDir = () => join(mkdtempSync(join(tmpdir(), "udeg-run-")), "run");
const FOUR = ["slice_020", "slice_030", "slice_040", "slice_050"];

test("a small from-scratch run overfits four slices to Dice >= 0.9; predict and eval work on its output", async () => {
  const data = sliceDataset({ train: FOUR, val: ["slice_035"] });
  const out = runDir();
  const config = resolveConfig({
    overrides: smallConfig({ lr: 5e-3, epochs: 100, maxSteps: 150, validateEvery: 25 }),
  });
  const summary = await train({ data, out, config, progress: false, log: quiet });
  assert.equal(summary.steps, 150);
  for (const f of Object.keys(RUN_FILES) as RunFile[]) assert.ok(existsSync(runPath(out, f)), `${f} written`);
  const log = readFileSync(runPath(out, "log"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  const steps = log.filter((r) => r.type === "step");
  assert.equal(steps.length, 150);
  for (const key of ["ce", "dice", "kl", "au", "edge"]) assert.ok(key in steps[0], `log has ${key}`);
  assert.ok(steps.at(-1).loss < steps[0].loss / 2, `loss ${steps[0].loss} -> ${steps.at(-1).loss}`);

  const r = await evaluateRun({ model: out, data, split: "train", quiet: true }, quiet);
  assert.ok(r.summary.mean.dice! >= 0.9, `train Dice ${r.summary.mean.dice}`);
  assert.ok(r.summary.mean.auroc_u! > 0.5, `uncertainty AUROC ${r.summary.mean.auroc_u}`);
  for (const f of Object.values(r.files)) assert.ok(existsSync(f));
  const metrics = JSON.parse(readFileSync(r.files.json, "utf8"));
  assert.deepEqual(
    Object.keys(metrics.mean)
      .filter((k) => ["dice", "iou", "hd95", "assd", "ece", "auroc_u", "ueo"].includes(k))
      .sort(),
    ["assd", "auroc_u", "dice", "ece", "hd95", "iou", "ueo"],
  );
  assert.equal(metrics.per_image.length, 4);

  // predict on a file: every output, at the image's own size, mask agreeing with the ground truth
  const pred = join(out, "pred");
  await predictFiles(
    { model: out, input: join(ITK, "images", "slice_030.png"), out: pred, quiet: true },
    quiet,
  );
  for (const suffix of [
    "_mask.png",
    "_prob.png",
    "_uncertainty.png",
    "_edge.png",
    "_overlay.png",
    ".safetensors",
  ]) {
    assert.ok(existsSync(join(pred, `slice_030${suffix}`)), suffix);
  }
  const mask = await readImage(join(pred, "slice_030_mask.png"));
  const gt = await readImage(join(ITK, "masks", "slice_030.png"));
  assert.equal(mask.width, gt.width);
  let inter = 0;
  let sum = 0;
  for (let i = 0; i < gt.data.length; i++) {
    const a = mask.data[i]! > 0 ? 1 : 0;
    const b = gt.data[i]! > 0 ? 1 : 0;
    inter += a * b;
    sum += a + b;
  }
  assert.ok((2 * inter) / sum > 0.9, `Dice of the written mask ${(2 * inter) / sum}`);
  assert.equal((await readImage(join(pred, "slice_030_prob.png"))).bitDepth, 16);
  const tensors = readSafetensors(join(pred, "slice_030.safetensors")).tensors;
  assert.deepEqual(tensors.get("probability")!.shape, [2, 128, 128]);
  const u = toFloat32(tensors.get("uncertainty")!);
  assert.ok(
    u.every((v) => v > 0 && v <= 1),
    "uncertainty in (0, 1]",
  );

  // predict on a NIfTI volume: NIfTI out with the input's geometry
  const volDir = mkdtempSync(join(tmpdir(), "udeg-vol-"));
  const slices = await Promise.all(FOUR.slice(0, 3).map((n) => readImage(join(ITK, "images", `${n}.png`))));
  const [h, w] = [slices[0]!.height, slices[0]!.width];
  // Voxel (i, j, z) with i the row: the slice is [i, j] (see getSlice).
  const vol = new Uint8Array(h * w * 3);
  slices.forEach((s, z) => {
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) vol[i + h * (j + w * z)] = s.data[i * w + j]!;
  });
  const volPath = join(volDir, "brain.nii.gz");
  await writeNifti(volPath, makeNiftiHeader([h, w, 3], "uint8", [0.9, 0.9, 3]), vol);
  const volOut = join(volDir, "out");
  await predictFiles({ model: out, input: volPath, out: volOut, quiet: true }, quiet);
  const maskVol = await readNifti(join(volOut, "brain_mask.nii.gz"));
  assert.deepEqual(maskVol.shape.slice(0, 3), [h, w, 3]);
  assert.ok(Math.abs(maskVol.header.pixdim[3]! - 3) < 1e-6, "spacing kept");
  const uncVol = await readNifti(join(volOut, "brain_uncertainty.nii.gz"));
  assert.equal(uncVol.header.datatype, "float32");

  // A 4-D volume: every volume is predicted. Volume 1 holds volume 0's slices in reverse order
  // (same values, so the same window): its masks are volume 0's, reversed.
  const plane = h * w;
  const vol4 = new Uint8Array(plane * 6);
  vol4.set(vol, 0);
  for (let z = 0; z < 3; z++) vol4.set(vol.subarray((2 - z) * plane, (3 - z) * plane), (3 + z) * plane);
  const vol4Path = join(volDir, "brain4d.nii.gz");
  await writeNifti(vol4Path, makeNiftiHeader([h, w, 3, 2], "uint8", [0.9, 0.9, 3, 2]), vol4);
  await predictFiles({ model: out, input: vol4Path, out: volOut, quiet: true }, quiet);
  const mask4 = await readNifti(join(volOut, "brain4d_mask.nii.gz"));
  assert.deepEqual(mask4.shape.slice(0, 4), [h, w, 3, 2]);
  const m3 = maskVol.data as Uint8Array;
  const m4 = mask4.data as Uint8Array;
  assert.ok(
    m3.some((v) => v === 1),
    "the 3-D masks are not empty",
  );
  assert.deepEqual(m4.subarray(0, 3 * plane), m3, "volume 0 as the 3-D volume");
  for (let z = 0; z < 3; z++)
    assert.deepEqual(
      m4.subarray((3 + z) * plane, (4 + z) * plane),
      m3.subarray((2 - z) * plane, (3 - z) * plane),
      `volume 1, slice ${z}`,
    );

  // DICOM in (pydicom's corpus, Debian python3-pydicom): a CT slice and a 15-frame RT dose file;
  // each frame predicted as the model sees dicomToPlanar's mapping of it.
  const dcmIn = mkdtempSync(join(tmpdir(), "udeg-dcm-"));
  const corpus = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
  const twins = ["MR_small.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm"];
  for (const f of ["CT_small.dcm", "rtdose.dcm"]) copyFileSync(join(corpus, f), join(dcmIn, f));
  const dcmOut = join(dcmIn, "out");
  await predictFiles({ model: out, input: dcmIn, out: dcmOut, quiet: true }, quiet);
  for (let f = 1; f <= 15; f++)
    assert.ok(
      existsSync(join(dcmOut, `rtdose_f${String(f).padStart(4, "0")}_mask.png`)),
      `rtdose frame ${f}`,
    );
  // Compressed input (JPEG 2000 and JPEG-LS, lossless): the same mask as its uncompressed twin.
  const twinMask = async (f: string) => {
    const twinOut = join(dcmIn, "twins", f);
    await predictFiles({ model: out, input: join(corpus, f), out: twinOut, quiet: true }, quiet);
    return readFileSync(join(twinOut, f.replace(".dcm", "_mask.png")));
  };
  const plain = await twinMask(twins[0]!);
  for (const f of twins.slice(1)) assert.deepEqual(await twinMask(f), plain, f);
  const ct = decodeDicom(readFileSync(join(dcmIn, "CT_small.dcm")), "CT_small.dcm");
  const ctWant = await (await UdegPredictor.load(out)).predict(dicomToPlanar(ct));
  const ctMask = await readImage(join(dcmOut, "CT_small_mask.png"));
  assert.deepEqual([ctMask.height, ctMask.width], [128, 128]);
  assert.ok(
    ctMask.data.every((v, i) => (v > 0 ? 1 : 0) === (ctWant.labels[i]! > 0 ? 1 : 0)),
    "CT_small_mask.png is the prediction of the decoded, windowed frame",
  );
  // ... and NAME.seg.dcm holds the same mask as DICOM SEG (pydicom reads it back).
  const segRead = spawnSync(
    "/usr/bin/python3",
    [
      "-c",
      "import sys, pydicom; print(int(pydicom.dcmread(sys.argv[1]).pixel_array.sum()))",
      join(dcmOut, "CT_small.seg.dcm"),
    ],
    { encoding: "utf8" },
  );
  assert.equal(segRead.status, 0, segRead.stderr);
  assert.equal(
    Number(segRead.stdout),
    ctWant.labels.reduce((a, v) => a + (v > 0 ? 1 : 0), 0),
    "SEG pixels = mask pixels",
  );
  assert.ok(existsSync(join(dcmOut, "rtdose.seg.dcm")));
  // ... and NAME.prob.seg.dcm the foreground probability as a FRACTIONAL SEG (255 = 1).
  const probRead = spawnSync(
    "/usr/bin/python3",
    [
      "-c",
      "import sys, pydicom; d = pydicom.dcmread(sys.argv[1]); print(d.SegmentationType, int(d.pixel_array.astype(int).sum()))",
      join(dcmOut, "CT_small.prob.seg.dcm"),
    ],
    { encoding: "utf8" },
  );
  assert.equal(probRead.status, 0, probRead.stderr);
  const ctPlane = 128 * 128;
  const want255 = Array.from(ctWant.prob.subarray(ctPlane, 2 * ctPlane)).reduce(
    (a, p) => a + Math.round(255 * p),
    0,
  );
  assert.equal(probRead.stdout.trim(), `FRACTIONAL ${want255}`);
  // ... and NAME.uncertainty.dcm the uncertainty map as a Parametric Map (value / 65535).
  const uRead = spawnSync(
    "/usr/bin/python3",
    [
      "-c",
      "import sys, pydicom; d = pydicom.dcmread(sys.argv[1]); print(d.Modality, int(d.pixel_array.astype(int).sum()))",
      join(dcmOut, "CT_small.uncertainty.dcm"),
    ],
    { encoding: "utf8" },
  );
  assert.equal(uRead.status, 0, uRead.stderr);
  const wantU = Array.from(ctWant.uncertainty).reduce((a, u) => a + Math.round(65535 * u), 0);
  assert.equal(uRead.stdout.trim(), `RWV ${wantU}`);
  assert.ok(wantU > 0, "the uncertainty map is not blank");

  // --device: a provider this machine lacks is refused up front, naming it and why.
  if (!(await probeDevice("cuda")).available) {
    const noCuda = /--device cuda is not available/;
    await assert.rejects(predictFiles({ model: out, input: volPath, out: volOut, device: "cuda" }), noCuda);
    await assert.rejects(evaluateRun({ model: out, data, split: "train", device: "cuda" }), noCuda);
  }
  assert.throws(() => deviceName("--device")("tpu"), /--device must be cpu, webgpu, cuda, got "tpu"/);
});

test("without a val part, 10 % of train is held out; the best val epoch is kept; patience stops the run", async () => {
  const data = sliceDataset({ train: FOUR.concat(["slice_025", "slice_035"]), test: ["slice_045"] });
  const out = runDir();
  const config = resolveConfig({ overrides: smallConfig({ lr: 5e-3, epochs: 12, patience: 2 }) });
  const lines: string[] = [];
  const summary = await train({ data, out, config, progress: false, log: (l) => lines.push(l) });
  const split = JSON.parse(readFileSync(runPath(out, "split"), "utf8"));
  assert.equal(split.val.length, 1, "round(6 * 0.1) = 1 held out, written to the run");
  assert.equal(split.train.length, 5);
  assert.deepEqual(split.test, ["slice_045"]);
  const epochs = readFileSync(runPath(out, "log"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((r) => r.type === "epoch");
  const best = epochs.reduce((b, r) => (r.val_dice > b.val_dice ? r : b));
  assert.equal(summary.bestDice, best.val_dice, "summary holds the best val Dice");
  assert.equal(summary.bestEpoch, best.epoch + 1, "summary names the kept epoch, 1-based");
  assert.match(lines.at(-1)!, new RegExp(`\\(epoch ${best.epoch + 1} of ${summary.epochs}, kept\\)`));
  const meta = readSafetensors(runPath(out, "model")).metadata;
  assert.equal(Number(meta.step), best.step, "model.safetensors is the best epoch's");
  assert.equal(Number(meta.val_dice), best.val_dice);
  // Validation feeds each epoch's weights to one session; the kept model with its weights baked
  // in (as predict compiles it) scores the same val Dice.
  const { resolved } = loadRun(out);
  const baked = await buildInference(resolved.model, resolved.weights, 1);
  try {
    const ds = await trainingDataset(data, out, config, true, quiet);
    const s = resolved.model.cfg.imageSize;
    const dice = await partDice(ds, "val", s, 2, async (images) => {
      const r = await baked.fn.run({ image: new HostTensor("float32", [1, 3, s, s], images) });
      return r.probability!.data as Float32Array;
    });
    assert.ok(Math.abs(dice! - best.val_dice) < 1e-6, `baked ${dice} vs logged ${best.val_dice}`);
  } finally {
    await baked.fn.release();
  }
  const bestIndex = epochs.indexOf(best);
  assert.ok(
    epochs.length <= bestIndex + 1 + 2,
    `stopped within patience of the best (${epochs.length} epochs)`,
  );
  if (epochs.length < 12)
    assert.equal(epochs.length, bestIndex + 1 + 2, "an early stop waited exactly 2 epochs");
});

test("resume after a kill gives the same result as an unbroken run", async () => {
  const data = sliceDataset({ train: FOUR, val: ["slice_035"] });
  const config = resolveConfig({ overrides: smallConfig({ epochs: 3, augment: true, lr: 3e-3 }) });
  const unbroken = runDir();
  const whole = await train({ data, out: unbroken, config, progress: false, log: quiet });

  const broken = runDir();
  const kill = (step: number) => {
    if (step === 3) throw new Error("killed");
  };
  await assert.rejects(
    train({ data, out: broken, config, progress: false, log: quiet, afterStep: kill }),
    /killed/,
  );
  // Killed in epoch 2: the state on disk names epoch 1 as the best so far, for the resumed run.
  assert.equal(readSafetensors(runPath(broken, "last")).metadata.best_epoch, "1");
  await assert.rejects(train({ data, out: broken, config, progress: false, log: quiet }), /--resume/);
  const summary = await train({ data, out: broken, config, resume: true, progress: false, log: quiet });
  assert.equal(summary.steps, 6);
  assert.equal(summary.bestEpoch, whole.bestEpoch, "the kept epoch survives the kill (checkpoint metadata)");
  assert.ok(summary.bestEpoch !== null);

  const a = readSafetensors(runPath(unbroken, "last"));
  const b = readSafetensors(runPath(broken, "last"));
  assert.equal(b.metadata.step, "6");
  assert.deepEqual([...a.tensors.keys()].sort(), [...b.tensors.keys()].sort());
  for (const [k, t] of a.tensors) {
    const x = toFloat32(t);
    const y = toFloat32(b.tensors.get(k)!);
    let m = 0;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
    assert.ok(m < 1e-5, `${k} differs by ${m}`);
  }
});

test("a diverging run stops with the step and the cause, keeping the last good state", async () => {
  const data = sliceDataset({ train: FOUR });
  const config = resolveConfig({
    overrides: smallConfig({ epochs: 50, lr: 1e8, clipNorm: null, warmupFraction: 0 }),
  });
  await assert.rejects(train({ data, out: runDir(), config, progress: false, log: quiet }), (e: Error) => {
    assert.match(
      e.message,
      /training stopped at step \d+ \(epoch \d+\): the loss is (NaN|Infinity|-Infinity)/,
    );
    assert.match(e.message, /ce=/);
    assert.match(e.message, /Lower --lr/);
    return true;
  });
});

test("bad data gets a clear error naming the file", async () => {
  const { writeFileSync } = await import("node:fs");
  const data = sliceDataset({ train: FOUR });
  writeFileSync(join(data, "masks", "slice_020.png"), "not a png");
  const config = resolveConfig({ overrides: smallConfig({ epochs: 1 }) });
  await assert.rejects(train({ data, out: runDir(), config, progress: false, log: quiet }), /slice_020\.png/);
});

test("a time budget that ends the run first moves the schedules by its spent share", () => {
  assert.equal(schedulePosition(30, 1000, 5, null), 30, "no budget: the step count");
  assert.equal(schedulePosition(30, 1000, 5, 0), 30, "0 means no budget");
  assert.equal(schedulePosition(30, 1000, 5, 10), 500, "half the budget spent: half way");
  assert.equal(schedulePosition(900, 1000, 5, 10), 900, "never behind the steps");
  assert.equal(schedulePosition(30, 1000, 12, 10), 1000, "never past the end");
});
