// `udeg predict --dicomweb` against a real PACS (Debian Orthanc + its DICOMweb plugin): a 3-slice
// CT series goes in over REST, udeg finds it with QIDO-RS, fetches it with WADO-RS, predicts,
// and stores one SEG with STOW-RS; the SEG then comes back from the PACS and pydicom reads it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { readDicomDataset } from "../../src/io/dicom/dicom-seg.js";
import { qidoSeries, wadoSeries } from "../../src/io/dicom/dicomweb.js";
import { buildMultipart, parseMultipart } from "../../src/io/dicom/multipart.js";
import { predictDicomweb } from "../../src/predict/dicomweb.js";
import { makeCtSeries } from "../io/dicom-series.js";
import { type Orthanc, startOrthanc } from "../orthanc.js";
import { twoStepRun } from "../train/helpers.js";

let pacs: Orthanc;
let run: string;
let study: string;
let series: string;
let sources: Uint8Array[];
const dir = mkdtempSync(join(tmpdir(), "udeg-dicomweb-"));

before(async () => {
  pacs = await startOrthanc();
  series = makeCtSeries(join(dir, "series"), 3);
  sources = readdirSync(join(dir, "series")).map((f) => readFileSync(join(dir, "series", f)));
  for (const s of sources) await pacs.upload(s);
  study = String(readDicomDataset(sources[0]!).StudyInstanceUID);
  run = join(dir, "run");
  await twoStepRun(run);
});

after(async () => {
  await pacs?.stop();
});

test("multipart/related: what buildMultipart frames, parseMultipart takes apart", () => {
  const parts = [
    Uint8Array.from([1, 2, 13, 10, 45, 45]),
    new Uint8Array(0),
    Uint8Array.from({ length: 300 }, (_, i) => i % 256),
  ];
  const body = buildMultipart(
    parts.map((b, k) => ({
      headers: { "Content-Disposition": `form-data; name="p${k}"; filename="f${k}.bin"` },
      body: b,
    })),
    "b0undary",
  );
  const back = parseMultipart(body, 'multipart/related; type="application/dicom"; boundary=b0undary');
  assert.deepEqual(
    back.map((p) => p.body),
    parts,
  );
  assert.deepEqual(
    back.map((p) => [p.name, p.filename]),
    [
      ["p0", "f0.bin"],
      ["p1", "f1.bin"],
      ["p2", "f2.bin"],
    ],
  );
  assert.throws(() => parseMultipart(body, "application/dicom"), /not a multipart body/);
  assert.throws(
    () => parseMultipart(body.subarray(0, body.length - 30), "multipart/form-data; boundary=b0undary"),
    /truncated|closing/,
  );
});

test("QIDO-RS finds the series, WADO-RS returns its instances byte for byte", async () => {
  const list = await qidoSeries({ url: pacs.dicomweb }, study);
  assert.deepEqual(
    list.map((s) => [s.seriesInstanceUID, s.modality]),
    [[series, "CT"]],
  );
  const got = await wadoSeries({ url: pacs.dicomweb }, study, series);
  assert.equal(got.length, 3);
  const uid = (b: Uint8Array) => String(readDicomDataset(b).SOPInstanceUID);
  assert.deepEqual(got.map(uid).sort(), sources.map(uid).sort());
});

test("udeg predict --dicomweb: the SEG is stored in the study, references the 3 instances in slice order", async () => {
  const out = join(dir, "out");
  const logs: string[] = [];
  const r = await predictDicomweb({ model: run, dicomweb: pacs.dicomweb, study, out, quiet: true }, (l) =>
    logs.push(l),
  );
  assert.deepEqual(r.series, [series]);
  assert.equal(r.stored, 1);
  assert.ok(existsSync(join(out, `${series}.seg.dcm`)));
  assert.ok(existsSync(join(out, `${series}_0001_mask.png`)));

  const after = await qidoSeries({ url: pacs.dicomweb }, study);
  const seg = after.find((s) => s.modality === "SEG");
  assert.ok(seg, `a SEG series in the study: ${JSON.stringify(after)}`);
  assert.ok(
    after.some((s) => s.modality === "RWV"),
    `the uncertainty map (Parametric Map, RWV) is in the study too: ${JSON.stringify(after)}`,
  );
  assert.ok(existsSync(join(out, `${series}.uncertainty.dcm`)));
  const [segBytes] = await wadoSeries({ url: pacs.dicomweb }, study, seg.seriesInstanceUID);
  const segPath = join(dir, "from-pacs.seg.dcm");
  writeFileSync(segPath, segBytes!);
  const check = `
import sys, json, pydicom
seg = pydicom.dcmread(sys.argv[1])
print(json.dumps({"frames": int(seg.NumberOfFrames), "study": seg.StudyInstanceUID,
  "z": [float(f.PlanePositionSequence[0].ImagePositionPatient[2]) for f in seg.PerFrameFunctionalGroupsSequence],
  "refs": len(seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence)}))`;
  const p = spawnSync("/usr/bin/python3", ["-c", check, segPath], { encoding: "utf8" });
  assert.equal(p.status, 0, p.stderr);
  const info = JSON.parse(p.stdout);
  assert.equal(info.study, study);
  assert.equal(info.frames, 3);
  assert.equal(info.refs, 3);
  assert.ok(info.z[0] < info.z[1] && info.z[1] < info.z[2], `frames in slice order: ${info.z}`);

  // The SEG and RWV series are not taken for images on a second run; --no-store stores nothing.
  const again = await predictDicomweb(
    { model: run, dicomweb: pacs.dicomweb, study, store: false, quiet: true },
    () => {},
  );
  assert.deepEqual(again.series, [series]);
  assert.equal(again.stored, 0);
  assert.equal(
    (await qidoSeries({ url: pacs.dicomweb }, study)).filter((s) => s.modality === "SEG").length,
    1,
  );
});

test("bad requests: an unknown study, a SEG series given as images, a server that is not there", async () => {
  await assert.rejects(
    predictDicomweb({ model: run, dicomweb: pacs.dicomweb, study: "1.2.3.4", quiet: true }, () => {}),
    /no image series|HTTP 404/,
  );
  const segSeries = (await qidoSeries({ url: pacs.dicomweb }, study)).find((s) => s.modality === "SEG")!;
  await assert.rejects(
    predictDicomweb(
      { model: run, dicomweb: pacs.dicomweb, study, series: segSeries.seriesInstanceUID, quiet: true },
      () => {},
    ),
    /is a SEG series, not images/,
  );
  await assert.rejects(
    predictDicomweb({ model: run, dicomweb: "http://127.0.0.1:9/dicom-web", study, quiet: true }, () => {}),
    /no answer .* Check --dicomweb/,
  );
});
