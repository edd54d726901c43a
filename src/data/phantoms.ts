// Seeded phantoms: medical-looking 2-D images with exact masks, made from nothing but a seed.
// They pretrain the small SAM-architecture base (`udeg pretrain`: shapes + endoscopy) and are
// the demo's unseen domain (ultrasound). Three kinds:
// - ultrasound: B-mode-like grey image in a convex (fan) or linear field of view: layered tissue,
//   correlated Rayleigh speckle after log compression, depth attenuation, a hypoechoic lesion with
//   a smooth irregular boundary, partly faded edges, posterior shadowing or enhancement;
// - endoscopy: colonoscopy-like RGB frame: mucosa on an oblique tube wall lit from the lens, dark
//   lumen, folds, vessels, a raised polyp with a low-contrast border, specular highlights, round
//   black border;
// - shapes: ellipses, rotated rectangles and blobs on textured backgrounds.
// Every generator takes { seed, size, difficulty } plus its own knobs and is deterministic: the
// same options give the same bytes (only the seeded Rng is used; Math.sin/exp/pow come from V8's
// own fdlibm port, so a different Node version could in principle move a pixel by one level). The random draws do not depend on difficulty, so one seed at two difficulties is the same
// scene with different contrast, noise, missing edges and shadow strength.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodePng } from "../io/images.js";
import { DatasetError } from "./errors.js";
import { hashSeed, Rng } from "./rng.js";
import { makeSplit, type Split, type SplitFractions } from "./split.js";
import type { LabelMap, PlanarImage } from "./types.js";

export const PHANTOM_KINDS = ["ultrasound", "endoscopy", "shapes"] as const;
export type PhantomKind = (typeof PHANTOM_KINDS)[number];

export interface PhantomOptions {
  seed: number;
  /** Side of the square image in pixels. Default 128 (at least 16). */
  size?: number;
  /** 0 (easy) .. 1 (hard): lowers contrast, raises noise, blur, missing edges and shadows. Default 0.5. */
  difficulty?: number;
}

export interface Phantom<M> {
  /** 3 planes, integers 0..255 (quantized: true); ultrasound has three identical planes. */
  image: PlanarImage;
  /** 0 = background, 1 = the object (lesion, polyp, shapes). */
  mask: LabelMap;
  meta: M;
}

interface CommonMeta {
  seed: number;
  size: number;
  difficulty: number;
  /** Fraction of pixels in the mask. */
  maskFraction: number;
}

export interface UltrasoundOptions extends PhantomOptions {
  /** Field of view: "convex" (fan/sector, default) or "linear" (rectangle). */
  probe?: "convex" | "linear";
  /** Below the lesion: "auto" (default: random, shadow 45 %, enhancement 35 %, none 20 %). */
  posterior?: "auto" | "shadow" | "enhancement" | "none";
  /** Mean lesion radius as a fraction of the size. Default random in 0.08..0.16. */
  lesionSize?: number;
}

export interface UltrasoundMeta extends CommonMeta {
  kind: "ultrasound";
  probe: "convex" | "linear";
  /** Convex: apex (may lie above the image), near/far radii in px, half-angle in radians. */
  fieldOfView:
    | { probe: "convex"; apexX: number; apexY: number; near: number; far: number; halfAngle: number }
    | { probe: "linear"; left: number; right: number; top: number; bottom: number };
  lesion: {
    cx: number;
    cy: number;
    rx: number;
    ry: number;
    rotation: number;
    irregularity: number;
    /** Relative echo loss inside the lesion, 0..1. */
    contrast: number;
  };
  /** Fraction of the boundary whose contrast is faded out. */
  missingEdgeFraction: number;
  posterior: "shadow" | "enhancement" | "none";
  posteriorStrength: number;
  /** Hypoechoic fat lobules (distractors, not in the mask). */
  lobules: number;
  tissueLayers: number;
  /** Speckle exponent (1 = fully developed Rayleigh speckle) and display dynamic range. */
  speckle: number;
  dynamicRangeDb: number;
}

export interface EndoscopyOptions extends PhantomOptions {
  /** Mean polyp radius as a fraction of the size. Default random in 0.1..0.2. */
  polypSize?: number;
  /** Scales the number of specular highlights. Default 1. */
  highlights?: number;
  /** Scales the number of vessels. Default 1. */
  vessels?: number;
}

export interface EndoscopyMeta extends CommonMeta {
  kind: "endoscopy";
  /** The round field of view (black outside). */
  fieldOfView: { cx: number; cy: number; radius: number };
  polyp: {
    cx: number;
    cy: number;
    rx: number;
    ry: number;
    rotation: number;
    irregularity: number;
    height: number;
    /** Colour change relative to the mucosa, 0..1. */
    colourContrast: number;
    tint: "pale" | "red" | "yellow";
  };
  /** Lumen centre and darkening strength (0 = no lumen in view). */
  lumen: { x: number; y: number; strength: number };
  folds: number;
  vessels: number;
  /** Small saturated highlight spots placed explicitly (more come from the shading). */
  highlightSpots: number;
  noise: number;
}

export type ShapeKind = "ellipse" | "rectangle" | "blob";

export interface ShapesOptions extends PhantomOptions {
  /** At most this many shapes (at least 1). Default 3. */
  maxShapes?: number;
  /** Which shapes to draw. Default all three kinds. */
  kinds?: readonly ShapeKind[];
}

export interface ShapesMeta extends CommonMeta {
  kind: "shapes";
  background: "noise" | "gradient" | "stripes" | "patches";
  shapes: { kind: ShapeKind; cx: number; cy: number; rx: number; ry: number; rotation: number }[];
  /** Colour distance scale between shapes and background, 0..1. */
  contrast: number;
  noise: number;
  /** Faint background lines (not in the mask). */
  clutter: number;
}

export type PhantomMeta = UltrasoundMeta | EndoscopyMeta | ShapesMeta;

export interface PhantomOptionsByKind {
  ultrasound: UltrasoundOptions;
  endoscopy: EndoscopyOptions;
  shapes: ShapesOptions;
}

export interface PhantomMetaByKind {
  ultrasound: UltrasoundMeta;
  endoscopy: EndoscopyMeta;
  shapes: ShapesMeta;
}

// ---------------------------------------------------------------------------------------------
// Small numeric helpers

const TAU = 2 * Math.PI;

function clamp01(x: number): number {
  return x < 0 ? 0 : Math.min(x, 1);
}

function lerp(a: number, b: number, t: number): number {
  return a + (b - a) * t;
}

function smoothstep(e0: number, e1: number, x: number): number {
  const t = clamp01((x - e0) / (e1 - e0));
  return t * t * (3 - 2 * t);
}

/** Signed angle difference a - b wrapped to (-pi, pi]. */
function angleDiff(a: number, b: number): number {
  let d = (a - b) % TAU;
  if (d > Math.PI) d -= TAU;
  else if (d <= -Math.PI) d += TAU;
  return d;
}

function checkOptions(what: string, o: PhantomOptions): { seed: number; size: number; difficulty: number } {
  const size = o.size ?? 128;
  const difficulty = o.difficulty ?? 0.5;
  const where = `(phantoms: ${what})`;
  if (typeof o.seed !== "number" || !Number.isFinite(o.seed)) {
    throw new DatasetError(where, "bad-argument", `seed must be a finite number, got ${o.seed}`);
  }
  if (!Number.isInteger(size) || size < 16 || size > 8192) {
    throw new DatasetError(where, "bad-argument", `size must be an integer 16..8192, got ${size}`);
  }
  if (!(difficulty >= 0 && difficulty <= 1)) {
    throw new DatasetError(where, "bad-argument", `difficulty must be in 0..1, got ${difficulty}`);
  }
  return { seed: o.seed, size, difficulty };
}

/** A periodic lattice (side a power of two) of uniform values in [-1, 1], smooth (Hermite) interpolation. */
class ValueNoise {
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
function fractalAt(rng: Rng, u: Float32Array, v: Float32Array, octaves: number, gain = 0.5): Float32Array {
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

function standardise(a: Float32Array): Float32Array {
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
function fractalImage(
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

function gaussKernel(sigma: number): Float32Array {
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
function blur(src: Float32Array, w: number, h: number, sx: number, sy: number): Float32Array {
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
 * A smooth irregular closed shape: an ellipse (semi-axes a, b, rotated) whose radius is modulated
 * by a few low Fourier harmonics, R(phi) = 1 + sum amp_k cos(k phi + phase_k).
 */
interface Blob {
  cx: number;
  cy: number;
  a: number;
  b: number;
  rot: number;
  harmonics: { k: number; amp: number; phase: number }[];
}

const RADIUS_BINS = 1024;

/** R(phi) tabulated over [-pi, pi] (RADIUS_BINS + 1 entries) for the per-pixel loops. */
function radiusTable(blob: Blob): Float32Array {
  const t = new Float32Array(RADIUS_BINS + 1);
  for (let j = 0; j <= RADIUS_BINS; j++) t[j] = blobRadius(blob, -Math.PI + (TAU * j) / RADIUS_BINS);
  return t;
}

function tableAt(t: Float32Array, phi: number): number {
  const f = ((phi + Math.PI) / TAU) * RADIUS_BINS;
  const j = Math.max(0, Math.min(RADIUS_BINS - 1, Math.floor(f)));
  return t[j]! + (t[j + 1]! - t[j]!) * (f - j);
}

function randomBlob(
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

function blobRadius(blob: Blob, phi: number): number {
  let r = 1;
  for (const h of blob.harmonics) r += h.amp * Math.cos(h.k * phi + h.phase);
  return r;
}

/** The largest distance of the outline from the centre, in pixels (for placement). */
function blobMaxRadius(blob: Blob): number {
  let m = 0;
  for (let i = 0; i < 64; i++) m = Math.max(m, blobRadius(blob, (i / 64) * TAU));
  return m * Math.max(blob.a, blob.b);
}

/** Points on the outline (for cheap containment tests). */
function blobOutline(blob: Blob, count = 64): [number, number][] {
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

interface BlobRaster {
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
function rasterBlob(blob: Blob, w: number, h: number, margin = 8): BlobRaster {
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
function rectSd(
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

/** Rounds planes to integers 0..255 and packs the phantom. */
function finish<M>(planes: Float32Array, size: number, mask: Uint8Array, meta: M): Phantom<M> {
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

function fraction(mask: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < mask.length; i++) s += mask[i]!;
  return s / mask.length;
}

// ---------------------------------------------------------------------------------------------
// Ultrasound

/**
 * A B-mode ultrasound-like image with a hypoechoic lesion (class 1). Grey, three identical planes.
 * Echo amplitude = tissue echogenicity x lesion x posterior effect x depth gain x speckle, then
 * log-compressed to the display range; black outside the field of view.
 */
export function ultrasoundLesion(options: UltrasoundOptions): Phantom<UltrasoundMeta> {
  const { seed, size: S, difficulty: d } = checkOptions("ultrasound", options);
  const rng = new Rng(seed, "ultrasound");
  const n = S * S;
  const px = S / 128; // pixel scale relative to the 128 px design size
  const probe = options.probe ?? "convex";

  // --- Field of view: per pixel depth (0 at the transducer .. 1 at the far edge) and lateral
  // position (-1 .. 1 across the beam fan), both smooth beyond the field of view.
  const topY = S * rng.uniform(0.02, 0.07);
  const bottomY = S * rng.uniform(0.92, 0.99);
  const rNear = S * rng.uniform(0.22, 0.55);
  const apexX = S * (0.5 + rng.uniform(-0.03, 0.03));
  const apexY = topY - rNear;
  const rFar = bottomY - apexY;
  const halfAngle = Math.asin(Math.min(0.8, (S * 0.5 * rng.uniform(0.9, 1.15)) / rFar));
  const margin = S * rng.uniform(0.02, 0.1);
  const fieldOfView: UltrasoundMeta["fieldOfView"] =
    probe === "convex"
      ? { probe, apexX, apexY, near: rNear, far: rFar, halfAngle }
      : { probe, left: margin, right: S - margin, top: topY, bottom: bottomY };
  const depthA = new Float32Array(n);
  const latA = new Float32Array(n);
  const inFov = new Uint8Array(n);
  const depthPx = probe === "convex" ? rFar - rNear : bottomY - topY; // px per unit depth
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const i = y * S + x;
      let depth: number;
      let lat: number;
      if (probe === "convex") {
        const dx = x + 0.5 - apexX;
        const dy = y + 0.5 - apexY;
        depth = (Math.sqrt(dx * dx + dy * dy) - rNear) / depthPx;
        lat = Math.atan2(dx, dy) / halfAngle;
      } else {
        depth = (y + 0.5 - topY) / depthPx;
        lat = (x + 0.5 - S / 2) / (S / 2 - margin);
      }
      depthA[i] = depth;
      latA[i] = lat;
      inFov[i] = depth >= 0 && depth <= 1 && lat >= -1 && lat <= 1 ? 1 : 0;
    }
  }
  const toXY = (lat: number, depth: number): [number, number] => {
    if (probe === "convex") {
      const r = rNear + depth * depthPx;
      const th = lat * halfAngle;
      return [apexX + r * Math.sin(th), apexY + r * Math.cos(th)];
    }
    return [S / 2 + lat * (S / 2 - margin), topY + depth * depthPx];
  };
  // Lateral pixels per unit of `lat` at mid depth (for isotropic-looking texture).
  const latPx = probe === "convex" ? (rNear + 0.5 * depthPx) * halfAngle : S / 2 - margin;

  // --- Tissue: layers parallel to the transducer, each with its own echogenicity and texture,
  // bright interface lines between them.
  const nLayers = 3 + rng.int(3);
  const bounds: number[] = [rng.uniform(0.03, 0.08)];
  for (let k = 1; k < nLayers; k++) {
    const prev = bounds[k - 1]!;
    bounds.push(prev + rng.uniform(0.08, 0.3) * (1 - prev));
  }
  const echo = [rng.uniform(0.7, 1.0)]; // skin: bright
  const texAmp = [rng.uniform(0.2, 0.4)];
  for (let k = 0; k < nLayers; k++) {
    echo.push(rng.uniform(0.15, 1.0));
    texAmp.push(rng.uniform(0.2, 0.6));
  }
  const lineAmp = bounds.map(() => rng.uniform(0.4, 2.2));
  // Boundary wiggle, tabulated over lat in [-1.5, 1.5].
  const NB = 256;
  const boundTable = bounds.map((b0) => {
    const terms = [1, 2, 3].map((j) => ({
      amp: (rng.normal() * 0.025) / j,
      freq: j * rng.uniform(0.5, 1.5),
      phase: rng.uniform(0, TAU),
    }));
    const t = new Float32Array(NB);
    for (let j = 0; j < NB; j++) {
      const lat = -1.5 + (3 * j) / (NB - 1);
      let v = b0;
      for (const term of terms) v += term.amp * Math.sin(term.freq * Math.PI * lat + term.phase);
      t[j] = v;
    }
    return t;
  });
  const lookup = (table: Float32Array, lat: number) => {
    const f = ((Math.max(-1.5, Math.min(1.5, lat)) + 1.5) / 3) * (NB - 1);
    const j = Math.min(NB - 2, Math.floor(f));
    return table[j]! + (table[j + 1]! - table[j]!) * (f - j);
  };
  // Texture coordinates follow the beam geometry: streaks run parallel to the layers.
  const stretch = rng.uniform(1.5, 4);
  const cell = rng.uniform(6, 12) * px;
  const tu = new Float32Array(n);
  const tv = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    tu[i] = (latA[i]! * latPx) / (cell * stretch);
    tv[i] = (depthA[i]! * depthPx) / cell;
  }
  const texture = fractalAt(rng, tu, tv, 4, 0.55);
  const lineNoise = fractalAt(rng, tu, tv, 2, 0.5);
  const tissue = new Float32Array(n);
  const layerEcho = new Float32Array(n);
  const lineW = 0.8 * px;
  for (let i = 0; i < n; i++) {
    const depth = depthA[i]!;
    const lat = latA[i]!;
    let e = echo[0]!;
    let ta = texAmp[0]!;
    let lines = 0;
    for (let k = 0; k < nLayers; k++) {
      const b = lookup(boundTable[k]!, lat);
      const dpx = (depth - b) * depthPx;
      const s = smoothstep(-1.5 * px, 1.5 * px, dpx);
      e += (echo[k + 1]! - echo[k]!) * s;
      ta += (texAmp[k + 1]! - texAmp[k]!) * s;
      // Interfaces are specular reflectors: bright where the line noise says so (intermittent).
      if (dpx > -4 * lineW && dpx < 4 * lineW) {
        lines += lineAmp[k]! * Math.exp(-((dpx / lineW) ** 2)) * clamp01(0.6 + 0.6 * lineNoise[i]!);
      }
    }
    tissue[i] = Math.max(0.04, e * (1 + ta * texture[i]!)) + lines;
    layerEcho[i] = e;
  }

  // Hypoechoic fat lobules: elongated dark ellipses in the upper layers (distractors).
  const nLobules = rng.int(4);
  const lobuleDark = lerp(0.25, 0.55, d);
  const lobules: Blob[] = [];
  for (let k = 0; k < nLobules; k++) {
    const [lx, ly] = toXY(rng.uniform(-0.8, 0.8), rng.uniform(0.1, 0.45));
    const a = S * rng.uniform(0.04, 0.09);
    lobules.push(randomBlob(rng, lx, ly, a, a * rng.uniform(0.35, 0.6), rng.normal() * 0.2, 0.3));
  }

  // --- Lesion.
  const lesionSize = options.lesionSize ?? rng.uniform(0.08, 0.16);
  const inView = (x: number, y: number) => {
    const xi = Math.floor(x);
    const yi = Math.floor(y);
    return xi >= 0 && yi >= 0 && xi < S && yi < S && inFov[yi * S + xi] === 1;
  };
  let lesion!: Blob;
  for (let attempt = 0; ; attempt++) {
    const a = S * lesionSize * rng.uniform(0.85, 1.2);
    const b = a * rng.uniform(0.55, 1.05);
    const [cx, cy] = toXY(rng.uniform(-0.4, 0.4), rng.uniform(0.3, 0.62));
    lesion = randomBlob(rng, cx, cy, a, b, rng.normal() * 0.3, rng.uniform(0.1, 1));
    if (blobOutline(lesion).every(([x, y]) => inView(x, y)) || attempt >= 30) break;
  }
  const raster = rasterBlob(lesion, S, S, 8 * px);
  const mask = new Uint8Array(n);
  for (let i = 0; i < n; i++) mask[i] = raster.sd[i]! < 0 && inFov[i] ? 1 : 0;
  const irregularity = lesion.harmonics.reduce((s, h) => s + Math.abs(h.amp), 0);

  const posteriorDraw = rng.next();
  const posterior: UltrasoundMeta["posterior"] =
    options.posterior === undefined || options.posterior === "auto"
      ? posteriorDraw < 0.45
        ? "shadow"
        : posteriorDraw < 0.8
          ? "enhancement"
          : "none"
      : options.posterior;
  // Cysts (enhancement) are anechoic; solid lesions keep some internal echoes.
  const contrast = Math.min(
    0.97,
    Math.max(0.15, lerp(0.9, 0.38, d) + 0.06 * rng.normal() + (posterior === "enhancement" ? 0.05 : 0)),
  );
  const internalTexture = (posterior === "enhancement" ? 0.15 : 0.45) * rng.uniform(0.6, 1.2);
  const internal = fractalImage(rng, S, S, rng.uniform(3, 7) * px, 3);

  // Missing edges: arcs of the outline where the lesion fades in slowly instead of stepping.
  const missingEdgeFraction = Math.min(0.8, lerp(0.0, 0.5, d) * rng.uniform(0.7, 1.3));
  const nArcs = 1 + rng.int(3);
  const arcWeights = Array.from({ length: nArcs }, () => rng.uniform(0.5, 1.5));
  const arcTotal = arcWeights.reduce((s, v) => s + v, 0);
  const arcCentre = new Float64Array(nArcs);
  const arcHalf = new Float64Array(nArcs);
  arcWeights.forEach((wgt, k) => {
    arcCentre[k] = rng.uniform(-Math.PI, Math.PI);
    arcHalf[k] = (Math.PI * missingEdgeFraction * wgt) / arcTotal;
  });
  const edgeBlur = lerp(0.7, 2.0, d) * px;
  const rEff = 0.5 * (lesion.a + lesion.b);
  // The lesion replaces the tissue (interfaces and texture included) by its own low echo level.
  for (let i = 0; i < n; i++) {
    const sd = raster.sd[i]!;
    if (sd > 3 * edgeBlur) continue;
    let missing = 0;
    for (let k = 0; k < nArcs; k++) {
      const off = Math.abs(angleDiff(raster.phi[i]!, arcCentre[k]!));
      missing = Math.max(missing, 1 - smoothstep(arcHalf[k]! - 0.25, arcHalf[k]! + 0.25, off));
    }
    const ramp = edgeBlur + missing * 0.8 * rEff;
    const wIn = smoothstep(-edgeBlur, ramp, -sd);
    const inner = Math.max(0.05, 1 + internalTexture * internal[i]!);
    tissue[i] = tissue[i]! * (1 - wIn) + wIn * (1 - contrast) * layerEcho[i]! * inner;
  }
  const lobuleFactor = new Float32Array(n).fill(1);
  for (const lob of lobules) {
    const r = rasterBlob(lob, S, S, 3 * px);
    for (let i = 0; i < n; i++) {
      const w = smoothstep(1.5 * px, -2 * px, r.sd[i]!);
      if (w > 0) lobuleFactor[i]! *= 1 - lobuleDark * w;
    }
  }

  // --- Posterior shadowing / enhancement along the beams through the lesion.
  const bins = 2 * S;
  const present = new Float32Array(bins);
  const backWall = new Float32Array(bins).fill(-1);
  const binOf = (lat: number) => Math.max(0, Math.min(bins - 1, Math.floor(((lat + 1) / 2) * bins)));
  for (let i = 0; i < n; i++) {
    if (!mask[i]) continue;
    const b = binOf(latA[i]!);
    present[b] = 1;
    backWall[b] = Math.max(backWall[b]!, depthA[i]!);
  }
  // Fill gaps between hit bins, then soften the shadow's sides.
  const fillR = 3;
  const wall = new Float32Array(bins).fill(-1);
  for (let b = 0; b < bins; b++) {
    for (let j = Math.max(0, b - fillR); j <= Math.min(bins - 1, b + fillR); j++) {
      wall[b] = Math.max(wall[b]!, backWall[j]!);
    }
  }
  const presentS = blur(present, bins, 1, 1.5 * px, 0);
  const strengthDraw = rng.uniform(0.8, 1.15);
  const posteriorStrength =
    posterior === "shadow"
      ? Math.min(0.9, lerp(0.35, 0.8, d) * strengthDraw)
      : posterior === "enhancement"
        ? lerp(0.5, 1.1, d) * strengthDraw
        : 0;
  // Refraction ("edge") shadows: thin dark streaks below the lesion's lateral edges.
  const edgeShadows = posterior !== "enhancement" && rng.chance(0.5);
  const edgeStreak = new Float32Array(bins);
  if (edgeShadows) {
    for (let b = 2; b < bins - 2; b++) edgeStreak[b] = Math.abs(present[b + 2]! - present[b - 2]!);
  }
  const edgeStreakS = blur(edgeStreak, bins, 1, 0.8 * px, 0);
  const trans = (2 * px) / depthPx;
  const posteriorF = new Float32Array(n).fill(1);
  for (let i = 0; i < n; i++) {
    const b = binOf(latA[i]!);
    const wb = wall[b]!;
    if (wb < 0) continue;
    const below = depthA[i]! - wb;
    const ramp = smoothstep(-trans, trans, below);
    if (ramp <= 0) continue;
    let f = 1;
    if (posterior === "shadow") f -= posteriorStrength * presentS[b]! * ramp * (1 - 0.3 * clamp01(below));
    else if (posterior === "enhancement")
      f += posteriorStrength * presentS[b]! * ramp * Math.exp(-below / 0.3);
    if (edgeShadows) f *= 1 - 0.55 * edgeStreakS[b]! * ramp;
    posteriorF[i] = Math.max(0.02, f);
  }

  // --- Depth gain (attenuation with imperfect time-gain compensation) and lateral beam falloff.
  const att = rng.uniform(0.3, 1.3);
  const tgcAmp = rng.uniform(0, 0.25);
  const tgcPhase = rng.uniform(0, TAU);
  const gain0 = rng.uniform(0.85, 1.2);
  const nearBright = rng.uniform(0.2, 0.8);

  // --- Speckle: complex Gaussian scattering, correlated by the point spread function (wider
  // laterally), magnitude = Rayleigh.
  const re = new Float32Array(n);
  const im = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    re[i] = rng.normal();
    im[i] = rng.normal();
  }
  const psfX = 1.1 * px;
  const psfY = 0.7 * px;
  const reB = blur(re, S, S, psfX, psfY);
  const imB = blur(im, S, S, psfX, psfY);
  const speckle = new Float32Array(n);
  let sMean = 0;
  for (let i = 0; i < n; i++) {
    const a = Math.sqrt(reB[i]! ** 2 + imB[i]! ** 2);
    speckle[i] = a;
    sMean += a;
  }
  sMean /= n;
  const speckleExp = lerp(0.45, 0.8, d) * rng.uniform(0.9, 1.1);
  const noiseFloor = lerp(0.004, 0.02, d) * rng.uniform(0.7, 1.3);
  const dynamicRangeDb = rng.uniform(45, 60);
  const ref = rng.uniform(135, 170);
  const ticks = rng.chance(0.5);

  const planes = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    if (!inFov[i]) continue;
    const depth = depthA[i]!;
    const lat = latA[i]!;
    const g =
      gain0 *
      Math.exp(-att * depth) *
      (1 + tgcAmp * Math.sin(3 * depth + tgcPhase)) *
      (1 - 0.3 * lat ** 4) *
      (1 + nearBright * Math.exp(-depth / 0.04));
    const amp = tissue[i]! * lobuleFactor[i]! * posteriorF[i]! * g;
    const s = (speckle[i]! / sMean) ** speckleExp;
    const v = amp * s + noiseFloor * Math.abs(re[i]!);
    const db = 20 * Math.log10(Math.max(v, 1e-5));
    planes[i] = ref + (255 * db) / dynamicRangeDb;
  }
  // Display smoothing (scanner speckle reduction), black outside the field of view.
  const smoothed = blur(planes.subarray(0, n), S, S, 0.5 * px, 0.5 * px);
  for (let i = 0; i < n; i++) planes[i] = inFov[i] ? smoothed[i]! : 0;
  // Depth ticks at the right border, outside the field of view (as on scanner screens).
  if (ticks) {
    const x = S - Math.max(2, Math.round(2 * px));
    for (let k = 1; k < 10; k++) {
      const y = Math.round(topY + (k * depthPx) / 8);
      if (y >= S - 1) break;
      for (let dy = 0; dy < Math.max(1, Math.round(px)); dy++) {
        const i = (y + dy) * S + x;
        if (!inFov[i]) planes[i] = 200;
      }
    }
  }
  planes.copyWithin(n, 0, n);
  planes.copyWithin(2 * n, 0, n);

  const meta: UltrasoundMeta = {
    kind: "ultrasound",
    seed,
    size: S,
    difficulty: d,
    maskFraction: fraction(mask),
    probe,
    fieldOfView,
    lesion: {
      cx: lesion.cx,
      cy: lesion.cy,
      rx: lesion.a,
      ry: lesion.b,
      rotation: lesion.rot,
      irregularity,
      contrast,
    },
    missingEdgeFraction,
    posterior,
    posteriorStrength,
    lobules: nLobules,
    tissueLayers: nLayers,
    speckle: speckleExp,
    dynamicRangeDb,
  };
  return finish(planes, S, mask, meta);
}

// ---------------------------------------------------------------------------------------------
// Endoscopy

/**
 * A colonoscopy-like RGB frame with a raised polyp (class 1). The scene is a height field (the
 * tube wall rising towards the camera away from the lumen, folds, small bumps, the polyp dome)
 * lit from the lens: Lambert shading, Blinn-Phong highlights on wet spots, distance darkening
 * towards the lumen, vignetting, a round black border.
 */
export function endoscopyPolyp(options: EndoscopyOptions): Phantom<EndoscopyMeta> {
  const { seed, size: S, difficulty: d } = checkOptions("endoscopy", options);
  const rng = new Rng(seed, "endoscopy");
  const n = S * S;
  const px = S / 128;

  // --- Field of view.
  const fcx = S * (0.5 + rng.uniform(-0.02, 0.02));
  const fcy = S * (0.5 + rng.uniform(-0.02, 0.02));
  const fr = S * rng.uniform(0.52, 0.66);

  // --- Polyp placement: fully inside the field of view and the image.
  const polypSize = options.polypSize ?? rng.uniform(0.1, 0.2);
  let polyp!: Blob;
  for (let attempt = 0; ; attempt++) {
    const a = S * polypSize * rng.uniform(0.8, 1.2);
    const b = a * rng.uniform(0.65, 1);
    const ang = rng.uniform(0, TAU);
    const dist = fr * Math.sqrt(rng.next()) * 0.6;
    const cx = fcx + dist * Math.cos(ang);
    const cy = fcy + dist * Math.sin(ang);
    polyp = randomBlob(rng, cx, cy, a, b, rng.uniform(0, Math.PI), rng.uniform(0.1, 0.8));
    const rmax = blobMaxRadius(polyp) + 2 * px;
    const fits =
      Math.hypot(cx - fcx, cy - fcy) + rmax < fr - 2 * px &&
      cx - rmax > 0 &&
      cy - rmax > 0 &&
      cx + rmax < S &&
      cy + rmax < S;
    if (fits || attempt >= 30) break;
  }
  const pr = rasterBlob(polyp, S, S, 4 * px);

  // --- Lumen: away from the polyp, sometimes out of view (close-up of the wall).
  const lumenVisible = rng.chance(0.8);
  const lumenAng = Math.atan2(polyp.cy - fcy, polyp.cx - fcx) + Math.PI + rng.uniform(-1.2, 1.2);
  const lumenDist = lumenVisible ? fr * rng.uniform(0.15, 0.65) : fr * rng.uniform(1.4, 2.2);
  const lx = fcx + lumenDist * Math.cos(lumenAng);
  const ly = fcy + lumenDist * Math.sin(lumenAng);
  const lumenSigma = S * rng.uniform(0.07, 0.14);
  const lumenStrength = lumenVisible ? rng.uniform(0.8, 0.97) : 0;

  // --- Height field (pixels).
  const tilt = rng.uniform(0.6, 1.3);
  const H = new Float32Array(n);
  const rhoL = new Float32Array(n);
  const phiL = new Float32Array(n);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const i = y * S + x;
      const dx = x + 0.5 - lx;
      const dy = y + 0.5 - ly;
      rhoL[i] = Math.sqrt(dx * dx + dy * dy);
      phiL[i] = Math.atan2(dy, dx);
      H[i] = tilt * Math.sqrt(rhoL[i]! ** 2 + (0.1 * S) ** 2);
    }
  }
  // Folds: ridges around the lumen, each over part of the circle.
  const nFolds = 1 + rng.int(4);
  for (let k = 0; k < nFolds; k++) {
    const r0 = S * rng.uniform(0.15, 0.75) + (lumenVisible ? 0 : lumenDist * 0.8);
    const width = S * rng.uniform(0.02, 0.045);
    const height = S * rng.uniform(0.015, 0.04);
    const arcC = rng.uniform(-Math.PI, Math.PI);
    const arcHalf = rng.uniform(0.4, 1.6);
    const wig = [1, 2, 3].map((j) => ({
      amp: (rng.normal() * 0.08) / j,
      k: j + rng.int(2),
      ph: rng.uniform(0, TAU),
    }));
    const foldR = new Float32Array(RADIUS_BINS + 1);
    for (let j = 0; j <= RADIUS_BINS; j++) {
      const p = -Math.PI + (TAU * j) / RADIUS_BINS;
      foldR[j] = r0;
      for (const w of wig) foldR[j]! += r0 * w.amp * Math.sin(w.k * p + w.ph);
    }
    for (let i = 0; i < n; i++) {
      const p = phiL[i]!;
      const off = Math.abs(angleDiff(p, arcC));
      if (off > arcHalf + 0.5) continue;
      const t = (rhoL[i]! - tableAt(foldR, p)) / width;
      if (t < -3 || t > 5) continue;
      // Asymmetric ridge: steep on the lumen side, gentle towards the camera.
      const prof = t < 0 ? Math.exp(-t * t * 2) : Math.exp(-t * t * 0.5);
      H[i]! += height * prof * (1 - smoothstep(arcHalf - 0.5, arcHalf + 0.5, off));
    }
  }
  const bumps = fractalImage(rng, S, S, 14 * px, 3, 0.45);
  for (let i = 0; i < n; i++) H[i]! += 0.35 * px * bumps[i]!;
  // Polyp dome; flatter (sessile) at higher difficulty.
  const polypHeight = Math.max(polyp.a, polyp.b) * lerp(0.6, 0.25, d) * rng.uniform(0.8, 1.2);
  const domeExp = rng.uniform(1.0, 1.6);
  const pits = fractalImage(rng, S, S, 2.5 * px, 2, 0.5);
  for (let i = 0; i < n; i++) {
    const q = pr.q[i]!;
    if (q < 1) H[i]! += polypHeight * (1 - q * q) ** domeExp + 0.4 * px * pits[i]! * (1 - q);
  }
  const Hs = blur(H, S, S, 0.8 * px, 0.8 * px);

  // --- Vessels: smooth random walks with branches, splatted as soft lines.
  const vesselMap = new Float32Array(n);
  const nVessels = Math.round(rng.uniform(3, 9) * (options.vessels ?? 1));
  const walk = (
    x: number,
    y: number,
    ang: number,
    len: number,
    width: number,
    strength: number,
    depth: number,
  ) => {
    let curv = rng.normal() * 0.03;
    for (let s = 0; s < len; s += 0.5) {
      curv = 0.93 * curv + 0.02 * rng.normal();
      ang += curv;
      x += 0.5 * Math.cos(ang);
      y += 0.5 * Math.sin(ang);
      const r = Math.ceil(width + 1);
      const xi = Math.floor(x);
      const yi = Math.floor(y);
      for (let yy = yi - r; yy <= yi + r; yy++) {
        if (yy < 0 || yy >= S) continue;
        for (let xx = xi - r; xx <= xi + r; xx++) {
          if (xx < 0 || xx >= S) continue;
          const dist = Math.sqrt((xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2);
          const v = strength * clamp01(width + 0.5 - dist);
          const i = yy * S + xx;
          if (v > vesselMap[i]!) vesselMap[i] = v;
        }
      }
      if (depth < 2 && rng.chance(0.012)) {
        walk(
          x,
          y,
          ang + (rng.chance(0.5) ? 1 : -1) * rng.uniform(0.4, 1.2),
          len * 0.4,
          width * 0.7,
          strength * 0.8,
          depth + 1,
        );
      }
    }
  };
  for (let k = 0; k < nVessels; k++) {
    const ang = rng.uniform(0, TAU);
    const dist = fr * Math.sqrt(rng.next());
    walk(
      fcx + dist * Math.cos(ang),
      fcy + dist * Math.sin(ang),
      rng.uniform(0, TAU),
      S * rng.uniform(0.2, 0.7),
      rng.uniform(0.35, 1.0) * px,
      rng.uniform(0.3, 0.8),
      0,
    );
  }
  const vessels = blur(vesselMap, S, S, 0.5 * px, 0.5 * px);

  // --- Colours.
  const baseR = rng.uniform(190, 235);
  const baseG = baseR * rng.uniform(0.38, 0.55);
  const base = [baseR, baseG, baseG * rng.uniform(0.75, 1.0)] as const;
  const tints = {
    pale: [25, 40, 35],
    red: [15, -25, -20],
    yellow: [15, 35, -5],
  } as const;
  const tintDraw = rng.next();
  const tint: EndoscopyMeta["polyp"]["tint"] = tintDraw < 0.45 ? "pale" : tintDraw < 0.75 ? "red" : "yellow";
  const colourContrast = clamp01(lerp(1.0, 0.2, d) * rng.uniform(0.75, 1.2));
  const border = lerp(0.08, 0.35, d);
  const mottle = [fractalImage(rng, S, S, 24 * px, 3), fractalImage(rng, S, S, 24 * px, 3)];
  const grain = fractalImage(rng, S, S, 1.5 * px, 1);

  // --- Lighting.
  const light = [rng.uniform(-0.35, 0.35), rng.uniform(-0.35, 0.35), 1];
  const ln = Math.hypot(light[0]!, light[1]!, light[2]!);
  const L = light.map((v) => v / ln) as [number, number, number];
  const hv = [L[0], L[1], L[2] + 1];
  const hn = Math.hypot(hv[0]!, hv[1]!, hv[2]!);
  const Hh = hv.map((v) => v / hn) as [number, number, number];
  const shininess = rng.uniform(40, 120);
  const wet = fractalImage(rng, S, S, 3 * px, 2, 0.6);
  const vignette = rng.uniform(0.3, 0.6);
  const specGain = rng.uniform(0.8, 1.4) * (options.highlights ?? 1);

  const lum = new Float32Array(n);
  const rgb = new Float32Array(3 * n);
  const spec = new Float32Array(n);
  const fov = new Float32Array(n);
  const far = new Float32Array(n); // darkening towards the lumen (distance from the light)
  let lumSum = 0;
  let lumCount = 0;
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const i = y * S + x;
      const rr = Math.sqrt((x + 0.5 - fcx) ** 2 + (y + 0.5 - fcy) ** 2);
      fov[i] = smoothstep(fr + 0.7, fr - 0.7, rr);
      const xm = Math.max(0, x - 1);
      const xp = Math.min(S - 1, x + 1);
      const ym = Math.max(0, y - 1);
      const yp = Math.min(S - 1, y + 1);
      const gx = (Hs[y * S + xp]! - Hs[y * S + xm]!) / (xp - xm);
      const gy = (Hs[yp * S + x]! - Hs[ym * S + x]!) / (yp - ym);
      const nz = 1 / Math.sqrt(gx * gx + gy * gy + 1);
      const nx = -gx * nz;
      const ny = -gy * nz;
      const diffuse = Math.max(0, nx * L[0] + ny * L[1] + nz * L[2]);
      const nh = Math.max(0, nx * Hh[0] + ny * Hh[1] + nz * Hh[2]);
      spec[i] = nh < 0.8 ? 0 : specGain * nh ** shininess * clamp01(0.5 + 0.6 * wet[i]!);
      const q = pr.q[i]!;
      const wP = smoothstep(1 + 0.02, 1 - border, q);
      far[i] = lumenStrength * Math.exp(-(rhoL[i]! ** 2) / (2 * lumenSigma ** 2)) * (1 - 0.6 * wP);
      const illum = (1 - vignette * (rr / fr) ** 2) * (1 - far[i]!) * (0.25 + 0.95 * diffuse);
      const v = vessels[i]! * (1 - 0.75 * wP);
      const mot = 1 + 0.07 * mottle[0]![i]! + 0.025 * grain[i]!;
      const t = tints[tint];
      const c0 = (base[0] + colourContrast * wP * t[0] + 8 * mottle[1]![i]!) * mot * (1 - 0.22 * v);
      const c1 = (base[1] + colourContrast * wP * t[1] - 6 * mottle[1]![i]!) * mot * (1 - 0.5 * v);
      const c2 = (base[2] + colourContrast * wP * t[2]) * mot * (1 - 0.38 * v);
      rgb[i] = c0 * illum;
      rgb[n + i] = c1 * illum;
      rgb[2 * n + i] = c2 * illum;
      lum[i] = 0.3 * rgb[i]! + 0.59 * rgb[n + i]! + 0.11 * rgb[2 * n + i]!;
      if (fov[i]! > 0.5) {
        lumSum += lum[i]!;
        lumCount++;
      }
    }
  }

  // Explicit small highlight spots (wet mucosa), a few of them on the polyp.
  const nSpots = Math.round(rng.uniform(3, 12) * (options.highlights ?? 1));
  for (let k = 0; k < nSpots; k++) {
    const onPolyp = rng.chance(0.35);
    let x: number;
    let y: number;
    const ang = rng.uniform(0, TAU);
    const rad = Math.sqrt(rng.next());
    if (onPolyp) {
      x = polyp.cx + 0.6 * polyp.a * rad * Math.cos(ang);
      y = polyp.cy + 0.6 * polyp.b * rad * Math.sin(ang);
    } else {
      x = fcx + 0.9 * fr * rad * Math.cos(ang);
      y = fcy + 0.9 * fr * rad * Math.sin(ang);
    }
    const sr = rng.uniform(0.4, 1.6) * px;
    const elong = rng.uniform(1, 2.5);
    const rot = rng.uniform(0, Math.PI);
    const c = Math.cos(rot);
    const s = Math.sin(rot);
    const R = Math.ceil(3 * sr * elong);
    for (let yy = Math.floor(y) - R; yy <= Math.floor(y) + R; yy++) {
      if (yy < 0 || yy >= S) continue;
      for (let xx = Math.floor(x) - R; xx <= Math.floor(x) + R; xx++) {
        if (xx < 0 || xx >= S) continue;
        const dx = xx + 0.5 - x;
        const dy = yy + 0.5 - y;
        const u = (dx * c + dy * s) / elong;
        const v = -dx * s + dy * c;
        const i = yy * S + xx;
        spec[i]! += 2.5 * Math.exp(-(u * u + v * v) / (2 * sr * sr));
      }
    }
  }
  // No highlights deep in the lumen: too far from the light.
  for (let i = 0; i < n; i++) spec[i]! *= (1 - far[i]!) ** 2;
  const specB = blur(spec, S, S, 0.6 * px, 0.6 * px);

  // Auto-exposure to a target brightness, then highlights (saturating white), optics blur, noise.
  const target = rng.uniform(105, 145);
  const expo = target / Math.max(1, lumSum / Math.max(1, lumCount));
  const noise = lerp(1.5, 7, d) * rng.uniform(0.8, 1.2);
  const optics = lerp(0.3, 1.0, d) * px;
  for (let c = 0; c < 3; c++) {
    const plane = rgb.subarray(c * n, (c + 1) * n);
    for (let i = 0; i < n; i++) {
      const sp = clamp01(specB[i]!);
      plane[i] = plane[i]! * expo * (1 - sp) + 255 * sp + 120 * Math.max(0, specB[i]! - 1);
    }
    plane.set(blur(plane, S, S, optics, optics));
    for (let i = 0; i < n; i++) plane[i] = (plane[i]! + noise * rng.normal()) * fov[i]!;
  }

  const mask = new Uint8Array(n);
  for (let i = 0; i < n; i++) mask[i] = pr.q[i]! < 1 && fov[i]! > 0.5 ? 1 : 0;
  const meta: EndoscopyMeta = {
    kind: "endoscopy",
    seed,
    size: S,
    difficulty: d,
    maskFraction: fraction(mask),
    fieldOfView: { cx: fcx, cy: fcy, radius: fr },
    polyp: {
      cx: polyp.cx,
      cy: polyp.cy,
      rx: polyp.a,
      ry: polyp.b,
      rotation: polyp.rot,
      irregularity: polyp.harmonics.reduce((s, h) => s + Math.abs(h.amp), 0),
      height: polypHeight,
      colourContrast,
      tint,
    },
    lumen: { x: lx, y: ly, strength: lumenStrength },
    folds: nFolds,
    vessels: nVessels,
    highlightSpots: nSpots,
    noise,
  };
  return finish(rgb, S, mask, meta);
}

// ---------------------------------------------------------------------------------------------
// Shapes

/** Ellipses, rotated rectangles and blobs (all class 1) on a textured background. */
export function shapes(options: ShapesOptions): Phantom<ShapesMeta> {
  const { seed, size: S, difficulty: d } = checkOptions("shapes", options);
  const maxShapes = options.maxShapes ?? 3;
  const kinds = options.kinds ?? (["ellipse", "rectangle", "blob"] as const);
  if (!Number.isInteger(maxShapes) || maxShapes < 1) {
    throw new DatasetError(
      "(phantoms: shapes)",
      "bad-argument",
      `maxShapes must be an integer >= 1, got ${maxShapes}`,
    );
  }
  if (kinds.length === 0) {
    throw new DatasetError("(phantoms: shapes)", "bad-argument", "kinds must name at least one shape kind");
  }
  const rng = new Rng(seed, "shapes");
  const n = S * S;
  const px = S / 128;

  // --- Background: two colours mixed by a pattern.
  const colour = () => [rng.uniform(20, 235), rng.uniform(20, 235), rng.uniform(20, 235)];
  const c0 = colour();
  const c1 = c0.map((v) => Math.max(0, Math.min(255, v + rng.normal() * 45)));
  const bgKinds = ["noise", "gradient", "stripes", "patches"] as const;
  const background = bgKinds[rng.int(bgKinds.length)]!;
  const noiseField = fractalImage(rng, S, S, rng.uniform(8, 40) * px, 4, 0.55);
  const ga = rng.uniform(0, TAU);
  const freq = rng.uniform(0.08, 0.4) / px;
  const mix = new Float32Array(n);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const i = y * S + x;
      const along = ((x - S / 2) * Math.cos(ga) + (y - S / 2) * Math.sin(ga)) / S;
      const nz = noiseField[i]!;
      let m: number;
      if (background === "noise") m = 0.5 + 0.3 * nz;
      else if (background === "gradient") m = 0.5 + along + 0.12 * nz;
      else if (background === "stripes") m = 0.5 + 0.4 * Math.sin(freq * along * S + 1.5 * nz);
      else m = smoothstep(-0.25, 0.25, nz);
      mix[i] = clamp01(m);
    }
  }
  const fine = fractalImage(rng, S, S, 2 * px, 2);
  const fineAmp = rng.uniform(3, 12);
  const rgb = new Float32Array(3 * n);
  const bgMean = [0, 0, 0];
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < n; i++) {
      const v = c0[c]! + (c1[c]! - c0[c]!) * mix[i]! + fineAmp * fine[i]!;
      rgb[c * n + i] = v;
      bgMean[c]! += v / n;
    }
  }

  // --- Clutter: faint lines that are not objects.
  const clutter = rng.int(4);
  const contrast = clamp01(lerp(1, 0.22, d) * rng.uniform(0.85, 1.15));
  for (let k = 0; k < clutter; k++) {
    const x0 = rng.uniform(0, S);
    const y0 = rng.uniform(0, S);
    const ang = rng.uniform(0, Math.PI);
    const wdt = rng.uniform(0.5, 1.5) * px;
    const delta = rng.normal() * 35 * contrast;
    const c = Math.cos(ang);
    const s = Math.sin(ang);
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const dist = Math.abs(-(x + 0.5 - x0) * s + (y + 0.5 - y0) * c);
        const w = clamp01(wdt + 0.5 - dist);
        if (w > 0) for (let ch = 0; ch < 3; ch++) rgb[ch * n + y * S + x]! += delta * w;
      }
    }
  }

  // --- Shapes.
  const count = 1 + rng.int(maxShapes);
  const edge = lerp(0.6, 2.2, d) * px;
  const mask = new Uint8Array(n);
  const placed: ShapesMeta["shapes"] = [];
  for (let k = 0; k < count; k++) {
    const kind = kinds[rng.int(kinds.length)]!;
    const rx = S * rng.uniform(0.07, 0.26);
    const ry = rx * rng.uniform(0.5, 1);
    const cx = S * rng.uniform(0.2, 0.8);
    const cy = S * rng.uniform(0.2, 0.8);
    const rot = rng.uniform(0, Math.PI);
    const irregular = rng.uniform(0.3, 1);
    placed.push({ kind, cx, cy, rx, ry, rotation: rot });
    // Fill: a colour away from the background mean, with its own texture and shading.
    let dir = [rng.normal(), rng.normal(), rng.normal()];
    const dn = Math.hypot(dir[0]!, dir[1]!, dir[2]!) || 1;
    dir = dir.map((v) => v / dn);
    // Brighter or darker than the background, with odds by the room there is on each side.
    const bgLum = (bgMean[0]! + bgMean[1]! + bgMean[2]!) / 3;
    const lumSign = rng.next() < (255 - bgLum) / 255 ? 1 : -1;
    const mag = rng.uniform(70, 130);
    // The full-contrast colour, kept in range (the other way round when clipping ate most of the
    // distance), then moved towards the background by the difficulty's contrast.
    const target = (sign: number) =>
      bgMean.map((m, c) => Math.max(5, Math.min(250, m + mag * (0.6 * dir[c]! + 0.6 * sign))));
    const dist = (f: number[]) => Math.sqrt(f.reduce((acc, v, c) => acc + (v - bgMean[c]!) ** 2, 0));
    let full = target(lumSign);
    if (dist(full) < 0.6 * mag) {
      const other = target(-lumSign);
      if (dist(other) > dist(full)) full = other;
    }
    const fill = full.map((v, c) => bgMean[c]! + contrast * (v - bgMean[c]!));
    const texture = fractalImage(rng, S, S, rng.uniform(2, 10) * px, 2);
    const texAmp = rng.uniform(2, 15);
    const shade = rng.uniform(0, 0.25);
    const shadeAng = rng.uniform(0, TAU);
    let sd: Float32Array;
    if (kind === "rectangle") {
      sd = new Float32Array(n);
      const c = Math.cos(rot);
      const s = Math.sin(rot);
      for (let y = 0; y < S; y++) {
        for (let x = 0; x < S; x++) sd[y * S + x] = rectSd(x + 0.5, y + 0.5, cx, cy, rx, ry, c, s);
      }
    } else {
      sd = rasterBlob(
        randomBlob(rng, cx, cy, rx, ry, rot, kind === "blob" ? irregular : 0),
        S,
        S,
        edge + 2,
      ).sd;
    }
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const i = y * S + x;
        const s = sd[i]!;
        if (s < 0) mask[i] = 1;
        const alpha = smoothstep(edge, -edge, s);
        if (alpha <= 0) continue;
        const lit =
          1 + shade * (((x - cx) * Math.cos(shadeAng) + (y - cy) * Math.sin(shadeAng)) / Math.max(rx, ry));
        for (let c = 0; c < 3; c++) {
          const j = c * n + i;
          const v = fill[c]! * lit + texAmp * texture[i]!;
          rgb[j] = rgb[j]! * (1 - alpha) + v * alpha;
        }
      }
    }
  }

  // --- Blur and noise.
  const noise = lerp(2, 22, d) * rng.uniform(0.8, 1.2);
  const sigma = lerp(0.2, 1.2, d) * px;
  for (let c = 0; c < 3; c++) {
    const plane = rgb.subarray(c * n, (c + 1) * n);
    plane.set(blur(plane, S, S, sigma, sigma));
    for (let i = 0; i < n; i++) plane[i]! += noise * rng.normal();
  }

  const meta: ShapesMeta = {
    kind: "shapes",
    seed,
    size: S,
    difficulty: d,
    maskFraction: fraction(mask),
    background,
    shapes: placed,
    contrast,
    noise,
    clutter,
  };
  return finish(rgb, S, mask, meta);
}

// ---------------------------------------------------------------------------------------------
// Dispatch and datasets

/** One phantom of the given kind. */
export function generatePhantom<K extends PhantomKind>(
  kind: K,
  options: PhantomOptionsByKind[K],
): Phantom<PhantomMetaByKind[K]> {
  switch (kind) {
    case "ultrasound":
      return ultrasoundLesion(options as UltrasoundOptions) as Phantom<PhantomMetaByKind[K]>;
    case "endoscopy":
      return endoscopyPolyp(options as EndoscopyOptions) as Phantom<PhantomMetaByKind[K]>;
    case "shapes":
      return shapes(options as ShapesOptions) as Phantom<PhantomMetaByKind[K]>;
    default:
      throw new DatasetError(
        "(phantoms)",
        "bad-argument",
        `unknown phantom kind ${JSON.stringify(kind)}`,
        `Use one of ${PHANTOM_KINDS.join(", ")}.`,
      );
  }
}

export interface PhantomDatasetOptions {
  count: number;
  /** Default 128. */
  size?: number;
  /** Default 0. Sample i uses seed hashSeed(seed, kind, i); the split uses `seed`. */
  seed?: number;
  /** Default 0.5. */
  difficulty?: number;
  /** [train, val, test] fractions. Default [0.7, 0.1, 0.2]. */
  split?: SplitFractions;
}

/** The sample names writePhantomDataset uses: KIND_0000, KIND_0001, ... */
export function phantomNames(kind: PhantomKind, count: number): string[] {
  const digits = Math.max(4, String(Math.max(0, count - 1)).length);
  return Array.from({ length: count }, (_, i) => `${kind}_${String(i).padStart(digits, "0")}`);
}

/** Interleaved 8-bit RGB from 3 planes of integers 0..255. */
function planesToRgb(img: PlanarImage): Uint8Array {
  const n = img.height * img.width;
  const out = new Uint8Array(n * 3);
  for (let c = 0; c < 3; c++) for (let i = 0; i < n; i++) out[i * 3 + c] = img.data[c * n + i]!;
  return out;
}

/** Encodes a phantom as an 8-bit RGB image PNG and a 0/255 one-channel mask PNG. */
export function encodePhantomPngs(p: Phantom<unknown>): { image: Uint8Array; mask: Uint8Array } {
  const { width, height } = p.image;
  const maskData = new Uint8Array(width * height);
  for (let i = 0; i < maskData.length; i++) maskData[i] = p.mask.data[i] ? 255 : 0;
  return {
    image: encodePng({ width, height, channels: 3, data: planesToRgb(p.image), bitDepth: 8 }),
    mask: encodePng({ width, height, channels: 1, data: maskData, bitDepth: 8 }),
  };
}

/**
 * Writes a phantom dataset in the generic layout: DIR/images/NAME.png (8-bit RGB),
 * DIR/masks/NAME.png (0/255), DIR/split.json, plus DIR/phantoms.json recording how it was made.
 * Synchronous (a few ms per 128 px sample). Files of the same names are overwritten; other
 * files in DIR are left alone. Returns the sample names (without extension), in index order.
 */
export function writePhantomDataset(
  dir: string,
  kind: PhantomKind,
  options: PhantomDatasetOptions,
): string[] {
  const { count } = options;
  const size = options.size ?? 128;
  const seed = options.seed ?? 0;
  const difficulty = options.difficulty ?? 0.5;
  const fractions = options.split ?? [0.7, 0.1, 0.2];
  if (!PHANTOM_KINDS.includes(kind)) {
    throw new DatasetError(
      dir,
      "bad-argument",
      `unknown phantom kind ${JSON.stringify(kind)}`,
      `Use one of ${PHANTOM_KINDS.join(", ")}.`,
    );
  }
  if (!Number.isInteger(count) || count < 1) {
    throw new DatasetError(dir, "bad-argument", `count must be a positive integer, got ${count}`);
  }
  const names = phantomNames(kind, count);
  const split: Split = makeSplit(names, seed, fractions);
  mkdirSync(join(dir, "images"), { recursive: true });
  mkdirSync(join(dir, "masks"), { recursive: true });
  names.forEach((name, i) => {
    const p = generatePhantom(kind, { seed: hashSeed(seed, kind, i), size, difficulty });
    const png = encodePhantomPngs(p);
    writeFileSync(join(dir, "images", `${name}.png`), png.image);
    writeFileSync(join(dir, "masks", `${name}.png`), png.mask);
  });
  writeFileSync(join(dir, "split.json"), `${JSON.stringify(split, null, 1)}\n`);
  writeFileSync(
    join(dir, "phantoms.json"),
    `${JSON.stringify({ generator: "udeg src/data/phantoms.ts", kind, count, size, seed, difficulty, split: fractions, names }, null, 1)}\n`,
  );
  return names;
}
