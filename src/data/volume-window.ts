// NIfTI intensities to the model's 0..255: the volume's percentile window, and one slice mapped
// through it as `udeg predict` does. Pure (no Node.js built-ins): the web viewer uses it too.
import { type NiftiVolume, scaledVolume, type VolumeSlice } from "../io/nifti-format.js";

/** Intensity window of a volume: its lower and upper percentiles (sampled), mapped to 0 and 255. */
export function percentileWindow(vol: NiftiVolume, lower: number, upper: number): [number, number] {
  const all = scaledVolume(vol);
  const step = Math.max(1, Math.floor(all.length / 1_000_000));
  const sample = new Float32Array(Math.ceil(all.length / step));
  let n = 0;
  for (let i = 0; i < all.length; i += step) if (Number.isFinite(all[i]!)) sample[n++] = all[i]!;
  const sorted = sample.subarray(0, n).sort();
  if (n === 0) return [0, 1];
  const at = (p: number) => sorted[Math.min(n - 1, Math.max(0, Math.round((p / 100) * (n - 1))))]!;
  return [at(lower), at(upper)];
}

/** The window `udeg predict` uses for a volume: percentiles 0.5 and 99.5. */
export function predictWindow(vol: NiftiVolume): [number, number] {
  return percentileWindow(vol, 0.5, 99.5);
}

/** One slice's values through the window [lo, hi] to 0..255 (clamped), as `udeg predict` feeds it. */
export function windowSlice(slice: Pick<VolumeSlice, "data">, lo: number, hi: number): Float32Array {
  const plane = new Float32Array(slice.data.length);
  const range = Math.max(hi - lo, 1e-6);
  for (let i = 0; i < plane.length; i++)
    plane[i] = Math.min(255, Math.max(0, ((slice.data[i]! - lo) / range) * 255));
  return plane;
}
