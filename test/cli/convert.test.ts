// `udeg convert` against dcm2niix (Debian), compared with nibabel after both are brought to the
// closest canonical (RAS) orientation: same shape, same affine (to 1e-3 mm), same values. Inputs:
// a 4-instance CT series made from pydicom's CT_small (written in shuffled order) and pydicom's
// 15-frame RT dose (one multi-frame file).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { convertCommand } from "../../src/cli/convert.js";
import { makeCtSeries, PYDICOM_CORPUS } from "../io/dicom-series.js";

const dir = mkdtempSync(join(tmpdir(), "udeg-convert-"));

const COMPARE = `
import sys, json, numpy as np, nibabel as nib
a = nib.as_closest_canonical(nib.load(sys.argv[1])); b = nib.as_closest_canonical(nib.load(sys.argv[2]))
da, db = a.get_fdata().squeeze(), b.get_fdata().squeeze()
print(json.dumps({"shape": [list(da.shape), list(db.shape)],
  "affine": float(np.abs(a.affine - b.affine).max()),
  "in_plane": float(np.abs((a.affine - b.affine)[:, [0, 1, 3]]).max()),
  "slice_step": [float(np.linalg.norm(a.affine[:3, 2])), float(np.linalg.norm(b.affine[:3, 2]))],
  "values": float(np.abs(da - db).max()) if da.shape == db.shape else None}))
`;

function dcm2niix(input: string, name: string): string {
  const out = join(dir, `${name}-dcm2niix`);
  mkdirSync(out, { recursive: true });
  const r = spawnSync("dcm2niix", ["-z", "y", "-b", "n", "-f", name, "-o", out, input], { encoding: "utf8" });
  assert.equal(r.status, 0, `dcm2niix (apt-get install -y dcm2niix): ${r.stdout}${r.stderr}`);
  const files = readdirSync(out).filter((f) => f.endsWith(".nii.gz"));
  assert.equal(files.length, 1, `dcm2niix wrote ${files.join(", ")}`);
  return join(out, files[0]!);
}

function compare(ours: string, theirs: string) {
  const r = spawnSync("/usr/bin/python3", ["-c", COMPARE, ours, theirs], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as {
    shape: number[][];
    affine: number;
    in_plane: number;
    slice_step: number[];
    values: number | null;
  };
}

test("a CT series folder: udeg convert = dcm2niix (shape, RAS affine, Hounsfield values)", async () => {
  const series = join(dir, "ct");
  makeCtSeries(series, 4);
  const ours = join(dir, "ct.nii.gz");
  await convertCommand({ input: series, out: ours }, () => {});
  const c = compare(ours, dcm2niix(series, "ct"));
  assert.deepEqual(c.shape[0], c.shape[1]);
  assert.deepEqual(c.shape[0], [128, 128, 4]);
  assert.ok(c.affine < 1e-3, `affine differs by ${c.affine}`);
  assert.ok(c.values !== null && c.values < 1e-3, `values differ by ${c.values}`);
});

test("a multi-frame RT dose file: udeg convert = dcm2niix in plane; frames 5 mm apart from GridFrameOffsetVector", async () => {
  const src = join(dir, "dose");
  mkdirSync(src);
  copyFileSync(join(PYDICOM_CORPUS, "rtdose.dcm"), join(src, "rtdose.dcm"));
  const ours = join(dir, "dose.nii.gz");
  await convertCommand({ input: join(src, "rtdose.dcm"), out: ours }, () => {});
  const c = compare(ours, dcm2niix(src, "dose"));
  assert.deepEqual(c.shape[0], c.shape[1]);
  assert.ok(c.in_plane < 1e-3, `in-plane affine and origin differ by ${c.in_plane}`);
  // The file has no SliceThickness; its GridFrameOffsetVector is 0, 5, ..., 70 mm. dcm2niix 1.0
  // (v1.0.20220720, Debian 12) writes 1 mm between frames; udeg takes the offsets.
  assert.ok(Math.abs(c.slice_step[0]! - 5) < 1e-6, `udeg's frame step ${c.slice_step[0]}`);
  assert.ok(c.values !== null && c.values < 1e-3 * 1, `values differ by ${c.values}`);
});

test("several series in one folder: --series picks one, without it the error lists them", async () => {
  const mixed = join(dir, "mixed");
  const a = makeCtSeries(join(mixed, "a"), 2);
  makeCtSeries(join(mixed, "b"), 2);
  for (const sub of ["a", "b"])
    for (const f of readdirSync(join(mixed, sub)))
      copyFileSync(join(mixed, sub, f), join(mixed, `${sub}_${f}`));
  await assert.rejects(
    convertCommand({ input: mixed, out: join(dir, "m.nii.gz") }, () => {}),
    /holds 2 series: pick one with --series/,
  );
  await convertCommand({ input: mixed, out: join(dir, "m.nii.gz"), series: a }, () => {});
});
