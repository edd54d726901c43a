// DICOM pixel decoding against pydicom (Debian python3-pydicom, with python3-gdcm for compressed
// syntaxes) on every file of its test corpus (pydicom/data/test_files: GE, Siemens, dcmtk and gdcm
// files). For each file pydicom decodes, udeg must give the same modality values, frame by frame:
// exactly for uncompressed and lossless syntaxes; for lossy JPEG within the rounding of two
// decoders (libjpeg-turbo here, GDCM's libjpeg there). Where GDCM hands back YCbCr (a YBR_FULL
// JPEG), pydicom's own convert_color_space makes it RGB first. For the rest (12-bit JPEG, files
// dicom-parser cannot parse, non-images) udeg must refuse with a DicomError naming the file.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DicomError, type DicomImage } from "../../src/io/dicom/dicom.js";
import { CODEC_OF } from "../../src/io/dicom/dicom-codecs.js";
import { decodeDicomFile } from "../../src/io/dicom/dicom-node.js";

const CORPUS = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

/** Files whose pixels pydicom itself fails on (not a udeg question), with why. */
const PYDICOM_FAILS: Record<string, string> = {
  "badVR.dcm": "an IS value '1A' makes pydicom's pixel_array raise a TypeError",
};

/**
 * Files whose header says RGB over a JPEG that is YCbCr (GDCM warns "Wrong
 * PhotometricInterpretation" and returns the YCbCr): compared with their uncompressed twin.
 */
const TWIN: Record<string, string> = { "SC_rgb_jpeg_lossy_gdcm.dcm": "SC_rgb_rle.dcm" };

const ORACLE = `
import json, os, sys, numpy as np, pydicom
from pydicom.pixel_data_handlers import gdcm_handler
from pydicom.pixel_data_handlers.util import apply_modality_lut, convert_color_space
if not gdcm_handler.is_available():
    sys.exit("pydicom has no GDCM handler: apt-get install -y python3-gdcm")
out = {}
for name in sorted(os.listdir(sys.argv[1])):
    if not name.endswith(".dcm"):
        continue
    try:
        ds = pydicom.dcmread(os.path.join(sys.argv[1], name))
        arr = ds.pixel_array
        pi = str(ds.PhotometricInterpretation)
        ybr = False
        if pi in ("YBR_FULL", "YBR_FULL_422") and not str(ds.file_meta.TransferSyntaxUID).startswith("1.2.840.10008.1.2.4.9"):
            arr = convert_color_space(arr, pi, "RGB")
            pi = "RGB"
            ybr = True
        arr = apply_modality_lut(arr, ds).astype(np.float32)
    except Exception as e:
        out[name] = {"error": type(e).__name__}
        continue
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    arr.tofile(os.path.join(sys.argv[2], name + ".f32"))
    out[name] = {"frames": frames, "photometric": pi, "ybr": ybr, "ts": str(ds.file_meta.TransferSyntaxUID)}
print(json.dumps(out))
`;

const LOSSY = new Set(["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.91"]);

/** Largest and mean absolute difference. */
function difference(got: Float32Array[], want: Float32Array): { max: number; mean: number } {
  let max = 0;
  let sum = 0;
  let i = 0;
  for (const frame of got)
    for (const v of frame) {
      const d = Math.abs(v - want[i++]!);
      max = Math.max(max, d);
      sum += d;
    }
  assert.equal(i, want.length, "same number of values");
  return { max, mean: sum / want.length };
}

test("every corpus file pydicom decodes, udeg decodes to the same modality values; the rest are refused cleanly", async () => {
  const dir = mkdtempSync(join(tmpdir(), "udeg-pydicom-"));
  const r = spawnSync("/usr/bin/python3", ["-c", ORACLE, CORPUS, dir], { encoding: "utf8" });
  assert.equal(
    r.status,
    0,
    `pydicom oracle failed (apt-get install -y python3-pydicom python3-gdcm): ${r.stderr}`,
  );
  const want = JSON.parse(r.stdout) as Record<
    string,
    { error?: string; frames?: number; photometric?: string; ybr?: boolean; ts?: string }
  >;
  const reference = (name: string) => {
    const bytes = readFileSync(join(dir, `${name}.f32`));
    return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  };
  const names = readdirSync(CORPUS).filter((f) => f.endsWith(".dcm"));
  assert.ok(names.length >= 60, `the corpus has ${names.length} .dcm files`);
  const agreed: string[] = [];
  const refused: string[] = [];
  for (const name of names) {
    const path = join(CORPUS, name);
    let img: DicomImage;
    try {
      img = await decodeDicomFile(readFileSync(path), path);
    } catch (err) {
      assert.ok(err instanceof DicomError, `${name}: ${(err as Error).stack}`);
      assert.ok(err.message.includes(path), `${name}: the error names the file: ${err.message}`);
      refused.push(name);
      continue;
    }
    const ref = want[name]!;
    if (ref.error && PYDICOM_FAILS[name]) continue;
    assert.ok(!ref.error, `${name}: udeg decodes it, pydicom does not (${ref.error})`);
    assert.equal(img.frames, ref.frames, `${name}: frames`);
    const twin = TWIN[name];
    // Stored YCbCr made RGB by both sides: float rounding may differ by one level.
    const { max, mean } = difference(img.frameData, reference(twin ?? name));
    if (LOSSY.has(ref.ts!) || ref.ybr) {
      // Lossy JPEG: two decoders' rounding (and, for the twin, the compression itself).
      const bound = twin ? 4 : 1;
      assert.ok(mean <= bound, `${name}: mean difference ${mean.toFixed(3)} > ${bound} (max ${max})`);
    } else {
      assert.equal(max, 0, `${name}: lossless or uncompressed, yet values differ by up to ${max}`);
      if (!["MONOCHROME1", "MONOCHROME2", "RGB"].includes(ref.photometric!))
        assert.ok(CODEC_OF[ref.ts!], `${name}: decoded a ${ref.photometric} file`);
    }
    agreed.push(name);
  }
  const need = [
    // uncompressed, deflated, big endian, RLE
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_bigendian.dcm",
    "image_dfl.dcm",
    "rtdose.dcm",
    "MR_small_RLE.dcm",
    "SC_rgb_rle.dcm",
    "SC_rgb_rle_16bit_2frame.dcm",
    "rtdose_rle.dcm",
    // the JPEG family: baseline (RGB, YBR_FULL, YBR_FULL_422, no colour transform), lossless,
    // JPEG-LS, JPEG 2000 (grey 16-bit signed, RGB, YBR_RCT)
    "SC_ybr_full_422_uncompressed.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "SC_rgb_dcmtk_+eb+cy+np.dcm",
    "SC_jpeg_no_color_transform.dcm",
    "SC_rgb_jpeg_lossy_gdcm.dcm",
    "SC_rgb_jpeg_gdcm.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_jp2klossless.dcm",
    "693_J2KI.dcm",
    "SC_rgb_gdcm_KY.dcm",
    "GDCMJ2K_TextGBR.dcm",
  ];
  for (const name of need)
    assert.ok(agreed.includes(name), `${name} agrees with pydicom (agreed: ${agreed.join(", ")})`);
  console.log(
    `pydicom corpus: ${agreed.length} agree, ${refused.length} refused with a DicomError: ${refused.join(", ")}`,
  );
});
