// Smooth irregular closed shapes (lesions, polyps, lobules) and their rasterisation to signed
// distances; the rotated-rectangle distance of the shapes phantom.
import type { Rng } from "../../engine/random.js";
import { TAU } from "./helpers.js";

/**
 * A smooth irregular closed shape: an ellipse (semi-axes a, b, rotated) whose radius is modulated
 * by a few low Fourier harmonics, R(phi) = 1 + sum amp_k cos(k phi + phase_k).
 */
export interface Blob {
  cx: number;
  cy: number;
  a: number;
  b: number;
  rot: number;
  harmonics: { k: number; amp: number; phase: number }[];
}

export const RADIUS_BINS = 1024;

/** R(phi) tabulated over [-pi, pi] (RADIUS_BINS + 1 entries) for the per-pixel loops. */
export function radiusTable(blob: Blob): Float32Array {
  const t = new Float32Array(RADIUS_BINS + 1);
  for (let j = 0; j <= RADIUS_BINS; j++) t[j] = blobRadius(blob, -Math.PI + (TAU * j) / RADIUS_BINS);
  return t;
}

export function tableAt(t: Float32Array, phi: number): number {
  const f = ((phi + Math.PI) / TAU) * RADIUS_BINS;
  const j = Math.max(0, Math.min(RADIUS_BINS - 1, Math.floor(f)));
  return t[j]! + (t[j + 1]! - t[j]!) * (f - j);
}

export function randomBlob(
  rng: Rng,
  cx: number,
  cy: number,
  a: number,
  b: number,
  rot: number,
  irregularity: number,
): Blob {
  const harmonics: Blob["harmonics"] = [];
  let total = 0;
  for (let k = 2; k <= 7; k++) {
    const amp = (0.22 * irregularity * rng.normal()) / k ** 1.1;
    harmonics.push({ k, amp, phase: rng.uniform(0, TAU) });
    total += Math.abs(amp);
  }
  // Keep the radius positive and the outline star-shaped and smooth.
  if (total > 0.45) for (const h of harmonics) h.amp *= 0.45 / total;
  return { cx, cy, a, b, rot, harmonics };
}

export function blobRadius(blob: Blob, phi: number): number {
  let r = 1;
  for (const h of blob.harmonics) r += h.amp * Math.cos(h.k * phi + h.phase);
  return r;
}

/** The largest distance of the outline from the centre, in pixels (for placement). */
export function blobMaxRadius(blob: Blob): number {
  let m = 0;
  for (let i = 0; i < 64; i++) m = Math.max(m, blobRadius(blob, (i / 64) * TAU));
  return m * Math.max(blob.a, blob.b);
}

/** Points on the outline (for cheap containment tests). */
export function blobOutline(blob: Blob, count = 64): [number, number][] {
  const c = Math.cos(blob.rot);
  const s = Math.sin(blob.rot);
  const pts: [number, number][] = [];
  for (let i = 0; i < count; i++) {
    const phi = -Math.PI + (TAU * i) / count;
    const r = blobRadius(blob, phi);
    const u = blob.a * r * Math.cos(phi);
    const v = blob.b * r * Math.sin(phi);
    pts.push([blob.cx + u * c - v * s, blob.cy + u * s + v * c]);
  }
  return pts;
}

export interface BlobRaster {
  /** Approximate signed distance to the outline in pixels (negative inside). */
  sd: Float32Array;
  /** Polar angle in the blob's own frame. */
  phi: Float32Array;
  /** Normalised radius rho / R(phi): < 1 inside. */
  q: Float32Array;
}

/**
 * Rasterises a blob. Only pixels within `margin` of its bounding circle are computed; the others
 * read as far outside (sd and q huge, phi 0).
 */
export function rasterBlob(blob: Blob, w: number, h: number, margin = 8): BlobRaster {
  const n = w * h;
  const sd = new Float32Array(n).fill(1e6);
  const phi = new Float32Array(n);
  const q = new Float32Array(n).fill(1e6);
  const c = Math.cos(blob.rot);
  const s = Math.sin(blob.rot);
  const table = radiusTable(blob);
  const reach = blobMaxRadius(blob) + margin;
  const x0 = Math.max(0, Math.floor(blob.cx - reach));
  const x1 = Math.min(w - 1, Math.ceil(blob.cx + reach));
  const y0 = Math.max(0, Math.floor(blob.cy - reach));
  const y1 = Math.min(h - 1, Math.ceil(blob.cy + reach));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x + 0.5 - blob.cx;
      const dy = y + 0.5 - blob.cy;
      const u = (dx * c + dy * s) / blob.a;
      const v = (-dx * s + dy * c) / blob.b;
      const rho = Math.sqrt(u * u + v * v);
      const p = Math.atan2(v, u);
      const r = tableAt(table, p);
      // Pixels per unit of rho along the ray at this angle.
      const scale = rho > 1e-9 ? Math.sqrt((blob.a * u) ** 2 + (blob.b * v) ** 2) / rho : blob.a;
      const i = y * w + x;
      sd[i] = (rho - r) * scale;
      phi[i] = p;
      q[i] = rho / r;
    }
  }
  return { sd, phi, q };
}

/** Signed distance (pixels, negative inside) of a rectangle, half sides a, b, rotated by (cos c, sin s). */
export function rectSd(
  x: number,
  y: number,
  cx: number,
  cy: number,
  a: number,
  b: number,
  c: number,
  s: number,
): number {
  const dx = x - cx;
  const dy = y - cy;
  const qx = Math.abs(dx * c + dy * s) - a;
  const qy = Math.abs(-dx * s + dy * c) - b;
  const ox = Math.max(qx, 0);
  const oy = Math.max(qy, 0);
  return Math.sqrt(ox * ox + oy * oy) + Math.min(Math.max(qx, qy), 0);
}
