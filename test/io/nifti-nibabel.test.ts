// NIfTI reading against nibabel (Debian python3-nibabel) on the files of its own test corpus: a
// NIfTI-2 file and a 4-D NIfTI-1 file. nibabel writes every value (scaled, float32, voxel order as
// on disk) and the header fields udeg keeps; udeg must read the same.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { readNifti, readNiftiHeader, scaledVolume } from "../../src/io/nifti/nifti.js";

const CORPUS = "/usr/lib/python3/dist-packages/nibabel/tests/data";

const ORACLE = `
import json, sys, numpy as np, nibabel as nib
img = nib.load(sys.argv[1])
h = img.header
np.asfortranarray(img.get_fdata(dtype=np.float32)).ravel(order="F").tofile(sys.argv[2])
print(json.dumps({
  "version": 2 if isinstance(img, nib.Nifti2Image) else 1,
  "shape": list(img.shape),
  "pixdim": [float(x) for x in h["pixdim"]],
  "srow": [[float(x) for x in h[k]] for k in ("srow_x", "srow_y", "srow_z")],
  "sform_code": int(h["sform_code"]), "qform_code": int(h["qform_code"]),
  "quatern": [float(h[k]) for k in ("quatern_b", "quatern_c", "quatern_d", "qoffset_x", "qoffset_y", "qoffset_z")],
  "descrip": h["descrip"].item().split(b"\\0")[0].decode("latin1"),
}))
`;

function nibabel(file: string) {
  const raw = join(mkdtempSync(join(tmpdir(), "udeg-nib-")), "data.f32");
  const r = spawnSync("/usr/bin/python3", ["-c", ORACLE, file, raw], { encoding: "utf8" });
  assert.equal(r.status, 0, `nibabel oracle failed (apt-get install -y python3-nibabel): ${r.stderr}`);
  const bytes = readFileSync(raw);
  return {
    ...JSON.parse(r.stdout),
    data: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4),
  };
}

const close = (a: number, b: number, tol = 1e-5) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

for (const [file, version] of [
  ["example_nifti2.nii.gz", 2],
  ["example4d.nii.gz", 1],
] as const) {
  test(`${file}: values and geometry as nibabel reads them`, async () => {
    const path = join(CORPUS, file);
    const want = nibabel(path);
    assert.equal(want.version, version);
    const vol = await readNifti(path);
    assert.deepEqual(vol.shape.slice(0, want.shape.length), want.shape);
    const got = scaledVolume(vol);
    assert.equal(got.length, want.data.length);
    let bad = 0;
    for (let i = 0; i < got.length; i++) if (!close(got[i]!, want.data[i]!)) bad++;
    assert.equal(bad, 0, `${bad} of ${got.length} values differ from nibabel's`);
    const h = vol.header;
    for (const [k, p] of (want.pixdim as number[]).entries())
      assert.ok(close(h.pixdim[k]!, p), `pixdim[${k}]`);
    for (const [r, row] of [h.srowX, h.srowY, h.srowZ].entries())
      for (const [k, x] of row.entries()) assert.ok(close(x, want.srow[r][k]), `srow ${r} ${k}: ${x}`);
    assert.equal(h.sformCode, want.sform_code);
    assert.equal(h.qformCode, want.qform_code);
    const q = [h.quaternB, h.quaternC, h.quaternD, h.qoffsetX, h.qoffsetY, h.qoffsetZ];
    for (const [k, x] of q.entries()) assert.ok(close(x, want.quatern[k]), `quatern/qoffset ${k}`);
    assert.equal(h.descrip, want.descrip);
    // The header alone (what dataset listing reads) agrees.
    assert.deepEqual((await readNiftiHeader(path)).dim, h.dim);
  });
}
