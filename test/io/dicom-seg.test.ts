// DICOM SEG writing, judged by the reference tools: dicom3tools' dciodvfy (the IOD validator) must
// report no error, and pydicom must read back the frames we meant (segment by segment, frame by
// frame), with the references, study and frame of reference of the source. Sources from pydicom's
// corpus: a CT and an MR slice, a deflated file, a 15-frame RT dose (positions from
// GridFrameOffsetVector) and a secondary capture without patient geometry.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  dicomLab,
  probabilitySegmentation,
  readDicomDataset,
  SEGMENTATION_STORAGE,
  segmentationFromLabels,
} from "../../src/io/dicom/dicom-seg.js";
import { segTrustText } from "../../src/predict/dicom.js";
import { makeCtSeries } from "./dicom-series.js";

const CORPUS = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
const dir = mkdtempSync(join(tmpdir(), "udeg-seg-"));

const READBACK = `
import json, sys, numpy as np, pydicom
seg = pydicom.dcmread(sys.argv[1]); src = pydicom.dcmread(sys.argv[2])
seg.pixel_array.astype(np.uint8).tofile(sys.argv[3])
pf = seg.PerFrameFunctionalGroupsSequence
print(json.dumps({
  "sop_class": seg.SOPClassUID, "frames": int(seg.NumberOfFrames), "rows": seg.Rows, "cols": seg.Columns,
  "study": seg.StudyInstanceUID == src.StudyInstanceUID,
  "new_series": seg.SeriesInstanceUID != src.SeriesInstanceUID,
  "frame_of_reference": str(seg.get("FrameOfReferenceUID", "")) == str(src.get("FrameOfReferenceUID", "")),
  "labels": [s.SegmentLabel for s in seg.SegmentSequence],
  "segment_of_frame": [int(f.SegmentIdentificationSequence[0].ReferencedSegmentNumber) for f in pf],
  "source_of_frame": [f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID for f in pf],
  "series_ref": seg.ReferencedSeriesSequence[0].SeriesInstanceUID == src.SeriesInstanceUID,
}))
`;

for (const name of ["CT_small.dcm", "MR_small.dcm", "image_dfl.dcm", "rtdose.dcm", "SC_rgb_small_odd.dcm"]) {
  test(`SEG over ${name}: dciodvfy finds no error; pydicom reads back the masks and references`, () => {
    const source = join(CORPUS, name);
    const src = readDicomDataset(readFileSync(source));
    const [rows, cols] = [Number(src.Rows), Number(src.Columns)];
    const frames = Number(src.NumberOfFrames ?? 1) || 1;
    // Two classes; a pattern that differs per frame so that frame order matters.
    const labels = Array.from({ length: frames }, (_, f) =>
      Uint8Array.from({ length: rows * cols }, (_, i) =>
        (i + 3 * f) % 5 === 0 ? 1 : (i + f) % 7 === 0 ? 2 : 0,
      ),
    );
    const bytes = segmentationFromLabels(src, labels, {
      segments: [
        { label: "brain", rgb: [230, 60, 60] },
        { label: "lesion", rgb: [60, 160, 230] },
      ],
      softwareVersion: "test",
      // What `udeg predict` writes when a frame is flagged by the trust flag (issue 28).
      ...segTrustText([
        { input: name, trust: 0.61, flagged: false },
        { input: name, trust: 0.0123, flagged: true },
      ]),
    });
    const segPath = join(dir, `${name}.seg.dcm`);
    writeFileSync(segPath, bytes);
    const written = readDicomDataset(bytes);
    assert.equal(written.SeriesDescription, "UDEG-Net segmentation - CHECK: 1 of 2 unlike training");
    assert.equal(written.ContentDescription, "Automatic segmentation (UDEG-Net), lowest trust 0.01");

    const v = spawnSync("dciodvfy", [segPath], { encoding: "utf8" });
    assert.ok(v.status !== null, "dciodvfy runs (apt-get install -y dicom3tools)");
    const report = `${v.stdout}${v.stderr}`;
    assert.match(report, /Segmentation/, "dciodvfy recognises the Segmentation IOD");
    const errors = report.split("\n").filter((l) => l.startsWith("Error"));
    assert.deepEqual(errors, [], `dciodvfy errors:\n${report}`);

    const raw = join(dir, `${name}.u8`);
    const r = spawnSync("/usr/bin/python3", ["-c", READBACK, segPath, source, raw], { encoding: "utf8" });
    assert.equal(r.status, 0, `pydicom read-back failed: ${r.stderr}`);
    const got = JSON.parse(r.stdout);
    assert.equal(got.sop_class, SEGMENTATION_STORAGE);
    assert.deepEqual([got.frames, got.rows, got.cols], [2 * frames, rows, cols]);
    assert.deepEqual(got.labels, ["brain", "lesion"]);
    assert.ok(got.study && got.new_series && got.frame_of_reference && got.series_ref, JSON.stringify(got));
    assert.deepEqual(got.segment_of_frame, [...Array(frames).fill(1), ...Array(frames).fill(2)]);
    assert.ok(got.source_of_frame.every(Boolean), "every frame derives from the source instance");
    const pixels = readFileSync(raw);
    for (let s = 1; s <= 2; s++)
      for (let f = 0; f < frames; f++) {
        const frame = pixels.subarray(
          ((s - 1) * frames + f) * rows * cols,
          ((s - 1) * frames + f + 1) * rows * cols,
        );
        const want = labels[f]!.map((l) => (l === s ? 1 : 0));
        assert.ok(
          frame.every((p, i) => p === want[i]),
          `segment ${s}, frame ${f}: pydicom's pixels differ`,
        );
      }
  });
}

test("segment colours: sRGB to DICOM's scaled CIELab (white, black, pure red by hand)", () => {
  assert.deepEqual(dicomLab([255, 255, 255]), [65535, 32896, 32896]); // L 100, a 0, b 0
  assert.deepEqual(dicomLab([0, 0, 0]), [0, 32896, 32896]);
  // sRGB red: L* 53.24, a* 80.09, b* 67.20
  const [L, a, b] = dicomLab([255, 0, 0]);
  assert.ok(Math.abs((L * 100) / 65535 - 53.24) < 0.1, `L ${(L * 100) / 65535}`);
  assert.ok(Math.abs((a * 255) / 65535 - 128 - 80.09) < 0.2, `a ${(a * 255) / 65535 - 128}`);
  assert.ok(Math.abs((b * 255) / 65535 - 128 - 67.2) < 0.2, `b ${(b * 255) / 65535 - 128}`);
});

test("label maps that do not fit the source are refused", () => {
  const src = readDicomDataset(readFileSync(join(CORPUS, "CT_small.dcm")));
  const opts = { segments: [{ label: "x", rgb: [1, 2, 3] as const }], softwareVersion: "t" };
  assert.throws(() => segmentationFromLabels(src, [], opts), /0 label maps for a source of 1 frame/);
  assert.throws(() => segmentationFromLabels(src, [new Uint8Array(5)], opts), /label map 0 has 5 values/);
});

test("SEG over a 3-instance series: one frame per instance and segment, positions and references per instance", () => {
  const seriesDir = join(dir, "series");
  makeCtSeries(seriesDir, 3);
  const files = readdirSync(seriesDir).map((f) => join(seriesDir, f));
  const sources = files.map((f) => readDicomDataset(readFileSync(f)));
  const labels = sources.map((_, k) =>
    Uint8Array.from({ length: 128 * 128 }, (_, i) => (i % (k + 2) === 0 ? 1 : 0)),
  );
  const segPath = join(dir, "series.seg.dcm");
  writeFileSync(
    segPath,
    segmentationFromLabels(sources, labels, {
      segments: [{ label: "x", rgb: [9, 9, 9] }],
      softwareVersion: "t",
    }),
  );
  const v = spawnSync("dciodvfy", [segPath], { encoding: "utf8" });
  const errors = `${v.stdout}${v.stderr}`.split("\n").filter((l) => l.startsWith("Error"));
  assert.deepEqual(errors, []);
  const check = `
import sys, json, pydicom
seg = pydicom.dcmread(sys.argv[1])
srcs = {d.SOPInstanceUID: d for d in (pydicom.dcmread(f) for f in sys.argv[2:])}
out = []
for i, f in enumerate(seg.PerFrameFunctionalGroupsSequence):
    uid = f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
    pos = [float(x) for x in f.PlanePositionSequence[0].ImagePositionPatient]
    out.append({"pos_ok": max(abs(a - float(b)) for a, b in zip(pos, srcs[uid].ImagePositionPatient)) < 1e-3,
                "sum": int(seg.pixel_array[i].sum()), "uid": uid})
refs = [r.ReferencedSOPInstanceUID for r in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence]
print(json.dumps({"frames": out, "refs": refs}))
`;
  const r = spawnSync("/usr/bin/python3", ["-c", check, segPath, ...files], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout);
  assert.deepEqual(
    got.refs,
    sources.map((s) => s.SOPInstanceUID),
  );
  assert.equal(got.frames.length, 3);
  got.frames.forEach((f: { pos_ok: boolean; sum: number; uid: string }, k: number) => {
    assert.equal(f.uid, sources[k]!.SOPInstanceUID, `frame ${k} derives from instance ${k}`);
    assert.ok(f.pos_ok, `frame ${k} has its instance's position`);
    assert.equal(
      f.sum,
      labels[k]!.reduce((a, v) => a + v, 0),
      `frame ${k} pixels`,
    );
  });
});

test("FRACTIONAL SEG of class probabilities: dciodvfy finds no error; pydicom reads 255 x p back", () => {
  const source = join(CORPUS, "CT_small.dcm");
  const src = readDicomDataset(readFileSync(source));
  const p1 = Float32Array.from({ length: 128 * 128 }, (_, i) => (i % 128) / 127);
  const p2 = Float32Array.from({ length: 128 * 128 }, (_, i) => 1 - (i % 128) / 127);
  const segPath = join(dir, "prob.seg.dcm");
  writeFileSync(
    segPath,
    probabilitySegmentation(src, [[p1, p2]], {
      segments: [
        { label: "a", rgb: [255, 0, 0] },
        { label: "b", rgb: [0, 0, 255] },
      ],
      softwareVersion: "t",
    }),
  );
  const v = spawnSync("dciodvfy", [segPath], { encoding: "utf8" });
  const errors = `${v.stdout}${v.stderr}`.split("\n").filter((l) => l.startsWith("Error"));
  assert.deepEqual(errors, [], `${v.stdout}${v.stderr}`);
  const raw = join(dir, "prob.u8");
  const check = `
import sys, json, numpy as np, pydicom
seg = pydicom.dcmread(sys.argv[1])
seg.pixel_array.astype(np.uint8).tofile(sys.argv[2])
print(json.dumps([seg.SegmentationType, seg.SegmentationFractionalType, int(seg.MaximumFractionalValue), int(seg.NumberOfFrames)]))`;
  const r = spawnSync("/usr/bin/python3", ["-c", check, segPath, raw], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), ["FRACTIONAL", "PROBABILITY", 255, 2]);
  const px = readFileSync(raw);
  const want = [...p1, ...p2].map((p) => Math.round(255 * p));
  assert.ok(
    px.every((v, i) => v === want[i]),
    "pixels = round(255 p), segment a then b",
  );
});
