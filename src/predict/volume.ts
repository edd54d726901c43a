// A NIfTI volume through the 2-D model, slice by slice along the third voxel axis (as nnU-Net's
// 2-D configuration and MedSAM do), each slice windowed with the one window of the whole file
// (the run's input rule: by default its 0.5 / 99.5 percentiles, as training read it). 4-D and up (fMRI, DWI, time series): every
// volume is predicted and the outputs keep the input's extra dimensions. Used by `udeg predict`
// and by the MONAI Label server.
import { inputPlanes, volumeWindow } from "../data/input-rule.js";
import { getSlice, type NiftiVolume, sliceCount } from "../io/nifti/nifti.js";
import type { UdegPredictor } from "../udeg/predictor.js";
import type { TrustVerdict } from "../udeg/trust.js";

export interface VolumePrediction {
  /** [nx, ny, nz] (or the input's shape where it has more dimensions), voxel order as the input. */
  shape: number[];
  /** Class labels. */
  mask: Uint8Array;
  /** Foreground probability (1 - p(background)). */
  prob: Float32Array;
  uncertainty: Float32Array;
  /** Each slice's trust verdict (trust.ts), in slice order (volume after volume); null entries for runs without one. */
  trust: (TrustVerdict | null)[];
}

export async function predictNiftiVolume(
  predictor: UdegPredictor,
  vol: NiftiVolume,
  progress: (done: number, total: number) => void = () => {},
): Promise<VolumePrediction> {
  const axis = 2;
  const n = sliceCount(vol, axis);
  const volumes = vol.shape.slice(3).reduce((a, b) => a * b, 1);
  const rule = predictor.config.input;
  const window = volumeWindow(vol, rule);
  const [nx, ny] = vol.shape as [number, number];
  const total = nx * ny * n * volumes;
  const mask = new Uint8Array(total);
  const prob = new Float32Array(total);
  const uncertainty = new Float32Array(total);
  const trust: (TrustVerdict | null)[] = [];
  for (let t = 0; t < volumes; t++) {
    for (let z = 0; z < n; z++) {
      const slice = getSlice(vol, axis, z, t);
      const p = await predictor.predict(inputPlanes({ kind: "slice", ...slice, window }, rule));
      trust.push(p.trust ?? null);
      // Slices along axis 2 are [i, j] with rows = i: voxel (i, j, z, t) lives at
      // i + nx * (j + ny * (z + n * t)).
      for (let i = 0; i < slice.rows; i++) {
        for (let j = 0; j < slice.cols; j++) {
          const v = i + nx * (j + ny * (z + n * t));
          const q = i * slice.cols + j;
          mask[v] = p.labels[q]!;
          prob[v] = 1 - p.prob[q]!;
          uncertainty[v] = p.uncertainty[q]!;
        }
      }
      progress(t * n + z + 1, n * volumes);
    }
  }
  return { shape: volumes > 1 ? vol.shape : [nx, ny, n], mask, prob, uncertainty, trust };
}
