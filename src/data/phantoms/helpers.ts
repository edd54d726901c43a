// Small numeric helpers of the phantom generators, their option check and the final packing.
import { DatasetError } from "../errors.js";
import type { Phantom, PhantomOptions } from "./types.js";

export const TAU = 2 * Math.PI;

export function clamp01(x: number): number {
  return x < 0 ? 0 : Math.min(x, 1);
}

export function lerp(a: number, b: number, t: number): number {
  return a + (b - a) * t;
}

export function smoothstep(e0: number, e1: number, x: number): number {
  const t = clamp01((x - e0) / (e1 - e0));
  return t * t * (3 - 2 * t);
}

/** Signed angle difference a - b wrapped to (-pi, pi]. */
export function angleDiff(a: number, b: number): number {
  let d = (a - b) % TAU;
  if (d > Math.PI) d -= TAU;
  else if (d <= -Math.PI) d += TAU;
  return d;
}

/** A generator option that must lie in 0..1 (a difficulty, a probability). */
export function checkUnit(where: string, name: string, value: number): void {
  if (!(value >= 0 && value <= 1)) {
    throw new DatasetError(where, "bad-argument", `${name} must be in 0..1, got ${value}`);
  }
}

export function checkOptions(
  what: string,
  o: PhantomOptions,
): { seed: number; size: number; difficulty: number } {
  const size = o.size ?? 128;
  const difficulty = o.difficulty ?? 0.5;
  const where = `(phantoms: ${what})`;
  if (typeof o.seed !== "number" || !Number.isFinite(o.seed)) {
    throw new DatasetError(where, "bad-argument", `seed must be a finite number, got ${o.seed}`);
  }
  if (!Number.isInteger(size) || size < 16 || size > 8192) {
    throw new DatasetError(where, "bad-argument", `size must be an integer 16..8192, got ${size}`);
  }
  checkUnit(where, "difficulty", difficulty);
  return { seed: o.seed, size, difficulty };
}

/** Rounds planes to integers 0..255 and packs the phantom. */
export function finish<M>(planes: Float32Array, size: number, mask: Uint8Array, meta: M): Phantom<M> {
  for (let i = 0; i < planes.length; i++) {
    const v = Math.round(planes[i]!);
    planes[i] = v <= 0 ? 0 : Math.min(v, 255); // no -0
  }
  return {
    image: { data: planes, channels: 3, height: size, width: size, quantized: true },
    mask: { data: mask, height: size, width: size },
    meta,
  };
}

export function fraction(mask: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < mask.length; i++) s += mask[i]!;
  return s / mask.length;
}
