// The uncertainty map as a DICOM Parametric Map, judged by the reference tools: dciodvfy finds no
// error, and pydicom reads back the frames (value / 65535 = the uncertainty), the real world value
// mapping, the references and the geometry of the source. Sources from pydicom's corpus (a CT
// slice, a 15-frame RT dose) and a 3-slice CT series; a secondary capture without patient
// geometry is refused with the reason.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  PARAMETRIC_MAP_STORAGE,
  UNCERTAINTY_SCALE,
  uncertaintyParametricMap,
} from "../../src/io/dicom/dicom-pmap.js";
import { readDicomDataset } from "../../src/io/dicom/dicom-seg.js";
import { sliceOrder } from "../../src/io/dicom/dicom-series.js";
import { makeCtSeries } from "./dicom-series.js";

const CORPUS = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
const dir = mkdtempSync(join(tmpdir(), "udeg-pmap-"));

const READBACK = `
import json, sys, numpy as np, pydicom
pm = pydicom.dcmread(sys.argv[1]); srcs = [pydicom.dcmread(p) for p in sys.argv[3:]]
pm.pixel_array.astype(np.uint16).tofile(sys.argv[2])
sh = pm.SharedFunctionalGroupsSequence[0]; rwv = sh.RealWorldValueMappingSequence[0]
pf = pm.PerFrameFunctionalGroupsSequence
print(json.dumps({
  "sop_class": pm.SOPClassUID, "modality": pm.Modality, "frames": int(pm.NumberOfFrames),
  "study": all(pm.StudyInstanceUID == s.StudyInstanceUID for s in srcs),
  "frame_of_reference": pm.FrameOfReferenceUID == srcs[0].FrameOfReferenceUID,
  "slope": float(rwv.RealWorldValueSlope), "intercept": float(rwv.RealWorldValueIntercept),
  "sources": [f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID for f in pf],
  "z": [float(f.PlanePositionSequence[0].ImagePositionPatient[2]) for f in pf],
  "src_uids": [s.SOPInstanceUID for s in srcs],
}))
`;

function check(name: string, sourcePaths: string[]): void {
  const sources = sourcePaths.map((p) => readDicomDataset(readFileSync(p)));
  const rows = Number(sources[0]!.Rows);
  const cols = Number(sources[0]!.Columns);
  const frames = sources.reduce((a, s) => a + (Number(s.NumberOfFrames ?? 1) || 1), 0);
  // A pattern that differs per frame, so that frame order matters; values outside [0, 1] clamp.
  const maps = Array.from({ length: frames }, (_, f) =>
    Float32Array.from({ length: rows * cols }, (_, i) => (((i * 7 + f * 13) % 101) - 1) / 99),
  );
  const path = join(dir, `${name}.uncertainty.dcm`);
  writeFileSync(
    path,
    uncertaintyParametricMap(sources.length === 1 ? sources[0]! : sources, maps, { softwareVersion: "test" }),
  );

  const v = spawnSync("dciodvfy", [path], { encoding: "utf8" });
  assert.ok(v.status !== null, "dciodvfy runs (apt-get install -y dicom3tools)");
  const report = `${v.stdout}${v.stderr}`;
  assert.match(report, /ParametricMap/, "dciodvfy recognises the Parametric Map IOD");
  assert.deepEqual(
    report.split("\n").filter((l) => l.startsWith("Error")),
    [],
    `dciodvfy errors:\n${report}`,
  );

  const raw = join(dir, `${name}.u16`);
  const r = spawnSync("/usr/bin/python3", ["-c", READBACK, path, raw, ...sourcePaths], { encoding: "utf8" });
  assert.equal(r.status, 0, `pydicom read-back failed: ${r.stderr}`);
  const got = JSON.parse(r.stdout);
  assert.equal(got.sop_class, PARAMETRIC_MAP_STORAGE);
  assert.equal(got.modality, "RWV");
  assert.equal(got.frames, frames);
  assert.ok(got.study && got.frame_of_reference, JSON.stringify(got));
  assert.ok(Math.abs(got.slope - 1 / UNCERTAINTY_SCALE) < 1e-12 && got.intercept === 0);
  const bytes = readFileSync(raw);
  const pixels = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  for (let f = 0; f < frames; f++)
    for (let i = 0; i < rows * cols; i++) {
      const want = Math.round(UNCERTAINTY_SCALE * Math.min(1, Math.max(0, maps[f]![i]!)));
      if (pixels[f * rows * cols + i] !== want)
        assert.fail(`${name}: frame ${f}, pixel ${i}: ${pixels[f * rows * cols + i]} != ${want}`);
    }
  // Every frame derives from its source instance, in the sources' order.
  if (sources.length > 1) {
    assert.deepEqual(got.sources, got.src_uids);
    assert.ok(
      got.z.every((z: number, k: number) => k === 0 || z > got.z[k - 1]),
      `slice order: ${got.z}`,
    );
  } else assert.ok(got.sources.every((u: string) => u === got.src_uids[0]));
}

test("uncertainty Parametric Map over a CT slice and a 15-frame RT dose: dciodvfy clean, pydicom reads it back", () => {
  check("CT_small", [join(CORPUS, "CT_small.dcm")]);
  check("rtdose", [join(CORPUS, "rtdose.dcm")]);
});

test("uncertainty Parametric Map over a 3-slice series: one frame per instance, in slice order", () => {
  const folder = join(dir, "series");
  makeCtSeries(folder);
  // The files' names are not in slice order: sliceOrder (what predict uses) orders them.
  const files = sliceOrder(
    readdirSync(folder).map((f) => ({
      name: f,
      path: join(folder, f),
      bytes: readFileSync(join(folder, f)),
    })),
  ).map((i) => i.path);
  check("series", files);
});

test("a source without patient geometry gets no Parametric Map, and says why", () => {
  const src = readDicomDataset(readFileSync(join(CORPUS, "SC_rgb_small_odd.dcm")));
  const n = Number(src.Rows) * Number(src.Columns);
  assert.throws(
    () => uncertaintyParametricMap(src, [new Float32Array(n)], { softwareVersion: "test" }),
    /no patient geometry.*Parametric Map needs/,
  );
});
