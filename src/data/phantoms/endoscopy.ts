// A colonoscopy-like RGB phantom with a raised polyp (pretraining data of the bundled base). Each
// stage of the scene is one function below, called in order by `endoscopyPolyp`; every stage
// draws from the one seeded Rng in that order, so the same options give the same bytes.
import { Rng } from "../../engine/random.js";
import {
  type Blob,
  type BlobRaster,
  blobMaxRadius,
  RADIUS_BINS,
  randomBlob,
  rasterBlob,
  tableAt,
} from "./blobs.js";
import { angleDiff, checkOptions, clamp01, finish, fraction, lerp, smoothstep, TAU } from "./helpers.js";
import { blur, fractalImage } from "./noise.js";
import type { EndoscopyMeta, EndoscopyOptions, Phantom } from "./types.js";

/** The round field of view (black outside). */
interface Scope {
  S: number;
  n: number;
  px: number;
  cx: number;
  cy: number;
  radius: number;
}

/** The polyp: fully inside the field of view and the image (when a placement fits in 30 tries). */
function placePolyp(rng: Rng, scope: Scope, size: number | undefined): { polyp: Blob; raster: BlobRaster } {
  const { S, px } = scope;
  const polypSize = size ?? rng.uniform(0.1, 0.2);
  let polyp!: Blob;
  for (let attempt = 0; ; attempt++) {
    const a = S * polypSize * rng.uniform(0.8, 1.2);
    const b = a * rng.uniform(0.65, 1);
    const ang = rng.uniform(0, TAU);
    const dist = scope.radius * Math.sqrt(rng.next()) * 0.6;
    const cx = scope.cx + dist * Math.cos(ang);
    const cy = scope.cy + dist * Math.sin(ang);
    polyp = randomBlob(rng, cx, cy, a, b, rng.uniform(0, Math.PI), rng.uniform(0.1, 0.8));
    const rmax = blobMaxRadius(polyp) + 2 * px;
    const fits =
      Math.hypot(cx - scope.cx, cy - scope.cy) + rmax < scope.radius - 2 * px &&
      cx - rmax > 0 &&
      cy - rmax > 0 &&
      cx + rmax < S &&
      cy + rmax < S;
    if (fits || attempt >= 30) break;
  }
  return { polyp, raster: rasterBlob(polyp, S, S, 4 * px) };
}

interface Lumen {
  visible: boolean;
  x: number;
  y: number;
  /** Distance of the lumen centre from the scope's centre. */
  distance: number;
  sigma: number;
  strength: number;
}

/** The lumen: away from the polyp, sometimes out of view (a close-up of the wall). */
function placeLumen(rng: Rng, scope: Scope, polyp: Blob): Lumen {
  const visible = rng.chance(0.8);
  const ang = Math.atan2(polyp.cy - scope.cy, polyp.cx - scope.cx) + Math.PI + rng.uniform(-1.2, 1.2);
  const distance = visible ? scope.radius * rng.uniform(0.15, 0.65) : scope.radius * rng.uniform(1.4, 2.2);
  return {
    visible,
    x: scope.cx + distance * Math.cos(ang),
    y: scope.cy + distance * Math.sin(ang),
    distance,
    sigma: scope.S * rng.uniform(0.07, 0.14),
    strength: visible ? rng.uniform(0.8, 0.97) : 0,
  };
}

interface Relief {
  /** The smoothed height field (pixels). */
  height: Float32Array;
  /** Distance from the lumen centre per pixel. */
  rhoL: Float32Array;
  folds: number;
  polypHeight: number;
}

/**
 * The height field: the tube wall rising towards the camera away from the lumen, ridges (folds)
 * around the lumen over part of the circle, small bumps, and the polyp dome (flatter, sessile, at
 * higher difficulty).
 */
function wallRelief(rng: Rng, scope: Scope, lumen: Lumen, polyp: Blob, pr: BlobRaster, d: number): Relief {
  const { S, n, px } = scope;
  const tilt = rng.uniform(0.6, 1.3);
  const H = new Float32Array(n);
  const rhoL = new Float32Array(n);
  const phiL = new Float32Array(n);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const i = y * S + x;
      const dx = x + 0.5 - lumen.x;
      const dy = y + 0.5 - lumen.y;
      rhoL[i] = Math.sqrt(dx * dx + dy * dy);
      phiL[i] = Math.atan2(dy, dx);
      H[i] = tilt * Math.sqrt(rhoL[i]! ** 2 + (0.1 * S) ** 2);
    }
  }
  const nFolds = 1 + rng.int(4);
  for (let k = 0; k < nFolds; k++) {
    const r0 = S * rng.uniform(0.15, 0.75) + (lumen.visible ? 0 : lumen.distance * 0.8);
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
  const polypHeight = Math.max(polyp.a, polyp.b) * lerp(0.6, 0.25, d) * rng.uniform(0.8, 1.2);
  const domeExp = rng.uniform(1.0, 1.6);
  const pits = fractalImage(rng, S, S, 2.5 * px, 2, 0.5);
  for (let i = 0; i < n; i++) {
    const q = pr.q[i]!;
    if (q < 1) H[i]! += polypHeight * (1 - q * q) ** domeExp + 0.4 * px * pits[i]! * (1 - q);
  }
  return { height: blur(H, S, S, 0.8 * px, 0.8 * px), rhoL, folds: nFolds, polypHeight };
}

/** Vessels: smooth random walks with branches, splatted as soft lines. */
function vesselMap(rng: Rng, scope: Scope, scale: number): { map: Float32Array; count: number } {
  const { S, n, px } = scope;
  const map = new Float32Array(n);
  const count = Math.round(rng.uniform(3, 9) * scale);
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
          if (v > map[i]!) map[i] = v;
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
  for (let k = 0; k < count; k++) {
    const ang = rng.uniform(0, TAU);
    const dist = scope.radius * Math.sqrt(rng.next());
    walk(
      scope.cx + dist * Math.cos(ang),
      scope.cy + dist * Math.sin(ang),
      rng.uniform(0, TAU),
      S * rng.uniform(0.2, 0.7),
      rng.uniform(0.35, 1.0) * px,
      rng.uniform(0.3, 0.8),
      0,
    );
  }
  return { map: blur(map, S, S, 0.5 * px, 0.5 * px), count };
}

interface Shaded {
  rgb: Float32Array;
  spec: Float32Array;
  fov: Float32Array;
  /** Darkening towards the lumen (distance from the light). */
  far: Float32Array;
  /** Mean luminance inside the field of view (for auto-exposure). */
  meanLum: number;
  tint: EndoscopyMeta["polyp"]["tint"];
  colourContrast: number;
}

/**
 * Colours (mucosa, a tinted polyp with a low-contrast border, mottling, vessels) lit from the
 * lens: Lambert shading, Blinn-Phong highlights on wet spots, distance darkening towards the
 * lumen, vignetting.
 */
function shade(
  rng: Rng,
  scope: Scope,
  d: number,
  relief: Relief,
  lumen: Lumen,
  pr: BlobRaster,
  vessels: Float32Array,
  highlights: number,
): Shaded {
  const { S, n, px } = scope;
  const Hs = relief.height;
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

  const light = [rng.uniform(-0.35, 0.35), rng.uniform(-0.35, 0.35), 1];
  const ln = Math.hypot(light[0]!, light[1]!, light[2]!);
  const L = light.map((v) => v / ln) as [number, number, number];
  const hv = [L[0], L[1], L[2] + 1];
  const hn = Math.hypot(hv[0]!, hv[1]!, hv[2]!);
  const Hh = hv.map((v) => v / hn) as [number, number, number];
  const shininess = rng.uniform(40, 120);
  const wet = fractalImage(rng, S, S, 3 * px, 2, 0.6);
  const vignette = rng.uniform(0.3, 0.6);
  const specGain = rng.uniform(0.8, 1.4) * highlights;

  const rgb = new Float32Array(3 * n);
  const spec = new Float32Array(n);
  const fov = new Float32Array(n);
  const far = new Float32Array(n);
  let lumSum = 0;
  let lumCount = 0;
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const i = y * S + x;
      const rr = Math.sqrt((x + 0.5 - scope.cx) ** 2 + (y + 0.5 - scope.cy) ** 2);
      fov[i] = smoothstep(scope.radius + 0.7, scope.radius - 0.7, rr);
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
      far[i] = lumen.strength * Math.exp(-(relief.rhoL[i]! ** 2) / (2 * lumen.sigma ** 2)) * (1 - 0.6 * wP);
      const illum = (1 - vignette * (rr / scope.radius) ** 2) * (1 - far[i]!) * (0.25 + 0.95 * diffuse);
      const v = vessels[i]! * (1 - 0.75 * wP);
      const mot = 1 + 0.07 * mottle[0]![i]! + 0.025 * grain[i]!;
      const t = tints[tint];
      const c0 = (base[0] + colourContrast * wP * t[0] + 8 * mottle[1]![i]!) * mot * (1 - 0.22 * v);
      const c1 = (base[1] + colourContrast * wP * t[1] - 6 * mottle[1]![i]!) * mot * (1 - 0.5 * v);
      const c2 = (base[2] + colourContrast * wP * t[2]) * mot * (1 - 0.38 * v);
      rgb[i] = c0 * illum;
      rgb[n + i] = c1 * illum;
      rgb[2 * n + i] = c2 * illum;
      if (fov[i]! > 0.5) {
        lumSum += Math.fround(0.3 * rgb[i]! + 0.59 * rgb[n + i]! + 0.11 * rgb[2 * n + i]!);
        lumCount++;
      }
    }
  }
  return { rgb, spec, fov, far, meanLum: lumSum / Math.max(1, lumCount), tint, colourContrast };
}

/** Explicit small highlight spots (wet mucosa), a few of them on the polyp. Adds into `spec`. */
function highlightSpots(rng: Rng, scope: Scope, polyp: Blob, spec: Float32Array, scale: number): number {
  const { S, px } = scope;
  const count = Math.round(rng.uniform(3, 12) * scale);
  for (let k = 0; k < count; k++) {
    const onPolyp = rng.chance(0.35);
    let x: number;
    let y: number;
    const ang = rng.uniform(0, TAU);
    const rad = Math.sqrt(rng.next());
    if (onPolyp) {
      x = polyp.cx + 0.6 * polyp.a * rad * Math.cos(ang);
      y = polyp.cy + 0.6 * polyp.b * rad * Math.sin(ang);
    } else {
      x = scope.cx + 0.9 * scope.radius * rad * Math.cos(ang);
      y = scope.cy + 0.9 * scope.radius * rad * Math.sin(ang);
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
        spec[yy * S + xx]! += 2.5 * Math.exp(-(u * u + v * v) / (2 * sr * sr));
      }
    }
  }
  return count;
}

/** Auto-exposure to a target brightness, then highlights (saturating white), optics blur, noise. In place. */
function camera(rng: Rng, scope: Scope, d: number, shaded: Shaded): number {
  const { S, n, px } = scope;
  const { rgb, spec, far, fov } = shaded;
  // No highlights deep in the lumen: too far from the light.
  for (let i = 0; i < n; i++) spec[i]! *= (1 - far[i]!) ** 2;
  const specB = blur(spec, S, S, 0.6 * px, 0.6 * px);
  const target = rng.uniform(105, 145);
  const expo = target / Math.max(1, shaded.meanLum);
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
  return noise;
}

/**
 * A colonoscopy-like RGB frame with a raised polyp (class 1). The scene is a height field (the
 * tube wall rising towards the camera away from the lumen, folds, small bumps, the polyp dome)
 * lit from the lens: Lambert shading, Blinn-Phong highlights on wet spots, distance darkening
 * towards the lumen, vignetting, a round black border.
 */
export function endoscopyPolyp(options: EndoscopyOptions): Phantom<EndoscopyMeta> {
  const { seed, size: S, difficulty: d } = checkOptions("endoscopy", options);
  const rng = new Rng(seed, "endoscopy");
  const scope: Scope = {
    S,
    n: S * S,
    px: S / 128,
    cx: S * (0.5 + rng.uniform(-0.02, 0.02)),
    cy: S * (0.5 + rng.uniform(-0.02, 0.02)),
    radius: 0,
  };
  scope.radius = S * rng.uniform(0.52, 0.66);
  const { polyp, raster } = placePolyp(rng, scope, options.polypSize);
  const lumen = placeLumen(rng, scope, polyp);
  const relief = wallRelief(rng, scope, lumen, polyp, raster, d);
  const vessels = vesselMap(rng, scope, options.vessels ?? 1);
  const shaded = shade(rng, scope, d, relief, lumen, raster, vessels.map, options.highlights ?? 1);
  const spots = highlightSpots(rng, scope, polyp, shaded.spec, options.highlights ?? 1);
  const noise = camera(rng, scope, d, shaded);

  const mask = new Uint8Array(scope.n);
  for (let i = 0; i < scope.n; i++) mask[i] = raster.q[i]! < 1 && shaded.fov[i]! > 0.5 ? 1 : 0;
  const meta: EndoscopyMeta = {
    kind: "endoscopy",
    seed,
    size: S,
    difficulty: d,
    maskFraction: fraction(mask),
    fieldOfView: { cx: scope.cx, cy: scope.cy, radius: scope.radius },
    polyp: {
      cx: polyp.cx,
      cy: polyp.cy,
      rx: polyp.a,
      ry: polyp.b,
      rotation: polyp.rot,
      irregularity: polyp.harmonics.reduce((s, h) => s + Math.abs(h.amp), 0),
      height: relief.polypHeight,
      colourContrast: shaded.colourContrast,
      tint: shaded.tint,
    },
    lumen: { x: lumen.x, y: lumen.y, strength: lumen.strength },
    folds: relief.folds,
    vessels: vessels.count,
    highlightSpots: spots,
    noise,
  };
  return finish(shaded.rgb, S, mask, meta);
}
