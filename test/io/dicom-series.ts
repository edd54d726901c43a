// A small CT series for the tests: pydicom's CT_small.dcm, N instances with new instance UIDs,
// 5 mm apart along the slice normal, written in shuffled order (so that readers must sort), each
// with its pixels shifted so that the slices differ. Made by pydicom (test oracle, Debian
// python3-pydicom), never by the code under test.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

export const PYDICOM_CORPUS = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

const MAKE = `
import sys, numpy as np, pydicom
from pydicom.uid import generate_uid
out, n = sys.argv[1], int(sys.argv[2])
series = generate_uid()
for k in reversed(range(n)):
    ds = pydicom.dcmread(sys.argv[3])
    ds.SeriesInstanceUID = series
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.InstanceNumber = k + 1
    row, col = np.array(ds.ImageOrientationPatient[:3], float), np.array(ds.ImageOrientationPatient[3:], float)
    ds.ImagePositionPatient = [float(v) for v in np.array(ds.ImagePositionPatient, float) + 5.0 * k * np.cross(row, col)]
    ds.SliceLocation = float(ds.get("SliceLocation", 0)) + 5.0 * k
    ds.PixelData = np.roll(ds.pixel_array, 7 * k, axis=1).tobytes()
    ds.save_as(f"{out}/slice_{(k * 7) % n:02d}.dcm")
print(series)
`;

/** Writes the series into `dir` and returns its SeriesInstanceUID. */
export function makeCtSeries(dir: string, n = 3): string {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync(
    "/usr/bin/python3",
    ["-c", MAKE, dir, String(n), join(PYDICOM_CORPUS, "CT_small.dcm")],
    {
      encoding: "utf8",
    },
  );
  assert.equal(r.status, 0, `pydicom could not make the series: ${r.stderr}`);
  return r.stdout.trim();
}
