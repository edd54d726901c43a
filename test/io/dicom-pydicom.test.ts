// DICOM pixel decoding against pydicom (Debian python3-pydicom) on every file of its test corpus
// (pydicom/data/test_files: GE, Siemens, dcmtk and gdcm files). For each file pydicom decodes with
// its own handlers (numpy; no optional codec packages), udeg must give the same modality values
// (pydicom's apply_modality_lut), frame by frame; for the rest (compressed syntaxes pydicom needs
// plugins for, non-images), udeg must refuse with a DicomError naming the file, never crash.
// RLE Lossless is decoded (udeg's own decoder); the JPEG family (JPEG, JPEG-LS, JPEG 2000) is
// counted here and must be refused cleanly until its codecs come.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { inflateRawSync } from "node:zlib";
import { DicomError, decodeDicom } from "../../src/io/dicom.js";

const CORPUS = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

/** Files whose pixels pydicom 2.3 itself fails on (not a udeg question), with why. */
const PYDICOM_FAILS: Record<string, string> = {
  "badVR.dcm": "an IS value '1A' makes pydicom's pixel_array raise a TypeError",
};

const ORACLE = `
import json, os, sys, numpy as np, pydicom
from pydicom.pixel_data_handlers.util import apply_modality_lut
out = {}
for name in sorted(os.listdir(sys.argv[1])):
    if not name.endswith(".dcm"):
        continue
    try:
        ds = pydicom.dcmread(os.path.join(sys.argv[1], name))
        arr = apply_modality_lut(ds.pixel_array, ds).astype(np.float32)
    except Exception as e:
        out[name] = {"error": type(e).__name__}
        continue
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    arr.tofile(os.path.join(sys.argv[2], name + ".f32"))
    out[name] = {"frames": frames, "size": int(arr.size), "photometric": str(ds.PhotometricInterpretation)}
print(json.dumps(out))
`;

test("every corpus file pydicom decodes, udeg decodes to the same modality values; the rest are refused cleanly", () => {
  const dir = mkdtempSync(join(tmpdir(), "udeg-pydicom-"));
  const r = spawnSync("/usr/bin/python3", ["-c", ORACLE, CORPUS, dir], { encoding: "utf8" });
  assert.equal(r.status, 0, `pydicom oracle failed (apt-get install -y python3-pydicom): ${r.stderr}`);
  const want = JSON.parse(r.stdout) as Record<
    string,
    { error?: string; frames?: number; photometric?: string }
  >;
  const names = readdirSync(CORPUS).filter((f) => f.endsWith(".dcm"));
  assert.ok(names.length >= 60, `the corpus has ${names.length} .dcm files`);
  const agreed: string[] = [];
  const refused: string[] = [];
  for (const name of names) {
    const path = join(CORPUS, name);
    let img: ReturnType<typeof decodeDicom>;
    try {
      img = decodeDicom(readFileSync(path), path, { inflate: (d) => inflateRawSync(d) });
    } catch (err) {
      assert.ok(err instanceof DicomError, `${name}: ${(err as Error).stack}`);
      assert.ok(err.message.includes(path), `${name}: the error names the file: ${err.message}`);
      refused.push(name);
      continue;
    }
    const ref = want[name]!;
    if (ref.error && PYDICOM_FAILS[name]) continue;
    assert.ok(!ref.error, `${name}: udeg decodes it, pydicom does not (${ref.error})`);
    if (ref.photometric !== "MONOCHROME1" && ref.photometric !== "MONOCHROME2" && ref.photometric !== "RGB")
      assert.fail(`${name}: decoded a ${ref.photometric} file`);
    const bytes = readFileSync(join(dir, `${name}.f32`));
    const values = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    assert.equal(img.frames, ref.frames, `${name}: frames`);
    const perFrame = values.length / img.frames;
    for (let f = 0; f < img.frames; f++) {
      const got = img.frameData[f]!;
      assert.equal(got.length, perFrame, `${name}: frame ${f} size`);
      for (let i = 0; i < perFrame; i++) {
        const w = values[f * perFrame + i]!;
        if (Math.abs(got[i]! - w) > 1e-4 * Math.max(1, Math.abs(w)))
          assert.fail(`${name}: frame ${f}, value ${i}: udeg ${got[i]}, pydicom ${w}`);
      }
    }
    agreed.push(name);
  }
  // What udeg reads today (uncompressed, incl. deflated and big endian, and RLE): at least these.
  for (const name of [
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_bigendian.dcm",
    "image_dfl.dcm",
    "rtdose.dcm",
    "MR_small_RLE.dcm",
    "SC_rgb_rle.dcm",
    "SC_rgb_rle_16bit_2frame.dcm",
    "rtdose_rle.dcm",
  ])
    assert.ok(agreed.includes(name), `${name} agrees with pydicom (agreed: ${agreed.join(", ")})`);
  console.log(`pydicom corpus: ${agreed.length} agree, ${refused.length} refused with a DicomError`);
});
