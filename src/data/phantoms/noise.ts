// Texture for the phantoms: seeded value noise, fractal sums of it, a separable Gaussian blur,
// and correlated Rayleigh speckle.
import type { Rng } from "../../engine/random.js";
import { TAU } from "./helpers.js";

/** A periodic lattice (side a power of two) of uniform values in [-1, 1], smooth (Hermite) interpolation. */
export class ValueNoise {
  private readonly grid: Float32Array;

  constructor(
    rng: Rng,
    private readonly n = 64,
  ) {
    this.grid = new Float32Array(n * n);
    for (let i = 0; i < this.grid.length; i++) this.grid[i] = rng.uniform(-1, 1);
  }

  at(x: number, y: number): number {
    const n = this.n;
    const xi = Math.floor(x);
    const yi = Math.floor(y);
    let fx = x - xi;
    let fy = y - yi;
    fx = fx * fx * (3 - 2 * fx);
    fy = fy * fy * (3 - 2 * fy);
    const m = n - 1; // n is a power of two
    const x0 = xi & m;
    const y0 = (yi & m) * n;
    const x1 = (xi + 1) & m;
    const y1 = ((yi + 1) & m) * n;
    const g = this.grid;
    const a = g[y0 + x0]!;
    const b = g[y0 + x1]!;
    const c = g[y1 + x0]!;
    const d = g[y1 + x1]!;
    return a + (b - a) * fx + (c - a) * fy + (a - b - c + d) * fx * fy;
  }
}

/**
 * Fractal value noise sampled at per-pixel coordinates u, v (in lattice cells of the first
 * octave), normalised to mean 0 and standard deviation 1 over the samples.
 */
export function fractalAt(
  rng: Rng,
  u: Float32Array,
  v: Float32Array,
  octaves: number,
  gain = 0.5,
): Float32Array {
  const n = u.length;
  const out = new Float32Array(n);
  let amp = 1;
  let freq = 1;
  for (let o = 0; o < octaves; o++) {
    const noise = new ValueNoise(rng);
    // A rotation and offset per octave so that lattice axes do not line up across octaves.
    const ang = rng.uniform(0, TAU);
    const ca = Math.cos(ang) * freq;
    const sa = Math.sin(ang) * freq;
    const ox = rng.uniform(0, 64);
    const oy = rng.uniform(0, 64);
    for (let i = 0; i < n; i++) {
      const x = u[i]!;
      const y = v[i]!;
      out[i]! += amp * noise.at(ca * x - sa * y + ox, sa * x + ca * y + oy);
    }
    amp *= gain;
    freq *= 2;
  }
  return standardise(out);
}

export function standardise(a: Float32Array): Float32Array {
  let mean = 0;
  for (let i = 0; i < a.length; i++) mean += a[i]!;
  mean /= a.length;
  let vr = 0;
  for (let i = 0; i < a.length; i++) vr += (a[i]! - mean) ** 2;
  const inv = 1 / Math.sqrt(vr / a.length + 1e-12);
  for (let i = 0; i < a.length; i++) a[i] = (a[i]! - mean) * inv;
  return a;
}

/** Fractal noise over a w x h pixel grid; `cell` is the first octave's cell size in pixels. */
export function fractalImage(
  rng: Rng,
  w: number,
  h: number,
  cell: number,
  octaves: number,
  gain = 0.5,
  stretchX = 1,
): Float32Array {
  const u = new Float32Array(w * h);
  const v = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      u[y * w + x] = x / (cell * stretchX);
      v[y * w + x] = y / cell;
    }
  }
  return fractalAt(rng, u, v, octaves, gain);
}

export function gaussKernel(sigma: number): Float32Array {
  if (sigma <= 0.05) return new Float32Array([1]);
  const r = Math.max(1, Math.ceil(2.5 * sigma));
  const k = new Float32Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) {
    const v = Math.exp(-(i * i) / (2 * sigma * sigma));
    k[i + r] = v;
    s += v;
  }
  for (let i = 0; i < k.length; i++) k[i]! /= s;
  return k;
}

/** Separable Gaussian blur with edge clamping (sigmas in pixels; 0 skips that axis). */
export function blur(src: Float32Array, w: number, h: number, sx: number, sy: number): Float32Array {
  let cur = src;
  const kx = gaussKernel(sx);
  if (kx.length > 1) {
    const r = (kx.length - 1) / 2;
    const out = new Float32Array(w * h);
    for (let y = 0; y < h; y++) {
      const row = y * w;
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let i = -r; i <= r; i++) {
          const xx = x + i < 0 ? 0 : x + i >= w ? w - 1 : x + i;
          s += kx[i + r]! * cur[row + xx]!;
        }
        out[row + x] = s;
      }
    }
    cur = out;
  }
  const ky = gaussKernel(sy);
  if (ky.length > 1) {
    const r = (ky.length - 1) / 2;
    const out = new Float32Array(w * h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let i = -r; i <= r; i++) {
          const yy = y + i < 0 ? 0 : y + i >= h ? h - 1 : y + i;
          s += ky[i + r]! * cur[yy * w + x]!;
        }
        out[y * w + x] = s;
      }
    }
    cur = out;
  }
  return cur === src ? Float32Array.from(src) : cur;
}

/**
 * Correlated Rayleigh speckle (coherent imaging): the magnitude of a complex Gaussian field, one
 * normal pair per pixel, blurred by a point spread function of sigmas psfX, psfY px. Returns the
 * magnitude, its mean, and the field's unblurred real parts (white noise, for a noise floor).
 */
export function rayleighSpeckle(
  rng: Rng,
  w: number,
  h: number,
  psfX: number,
  psfY: number,
): { magnitude: Float32Array; mean: number; white: Float32Array } {
  const n = w * h;
  const re = new Float32Array(n);
  const im = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    re[i] = rng.normal();
    im[i] = rng.normal();
  }
  const reB = blur(re, w, h, psfX, psfY);
  const imB = blur(im, w, h, psfX, psfY);
  const magnitude = new Float32Array(n);
  let mean = 0;
  for (let i = 0; i < n; i++) {
    const a = Math.sqrt(reB[i]! ** 2 + imB[i]! ** 2);
    magnitude[i] = a;
    mean += a;
  }
  return { magnitude, mean: mean / n, white: re };
}
