// A B-mode ultrasound-like phantom with a hypoechoic lesion: the demo's unseen domain. Each
// stage of the image formation is one function below, called in order by `ultrasoundLesion`;
// every stage draws from the one seeded Rng in that order, so the same options give the same
// bytes.
import { Rng } from "../../engine/random.js";
import { type Blob, type BlobRaster, blobOutline, randomBlob, rasterBlob } from "./blobs.js";
import { angleDiff, checkOptions, clamp01, finish, fraction, lerp, smoothstep, TAU } from "./helpers.js";
import { blur, fractalAt, fractalImage, rayleighSpeckle } from "./noise.js";
import type { Phantom, UltrasoundMeta, UltrasoundOptions } from "./types.js";

/** The scan geometry: per pixel depth (0 at the transducer .. 1 at the far edge) and lateral position. */
interface ScanGeometry {
  S: number;
  n: number;
  /** Pixel scale relative to the 128 px design size. */
  px: number;
  probe: "convex" | "linear";
  fieldOfView: UltrasoundMeta["fieldOfView"];
  topY: number;
  /** Pixels per unit of depth. */
  depthPx: number;
  /** Lateral pixels per unit of `lat` at mid depth (for isotropic-looking texture). */
  latPx: number;
  depth: Float32Array;
  lat: Float32Array;
  inFov: Uint8Array;
  /** (lat, depth) -> pixel (x, y). */
  toXY: (lat: number, depth: number) => [number, number];
}

/** Field of view: a convex fan or a linear rectangle; depth and lateral position smooth beyond it. */
function scanGeometry(rng: Rng, S: number, probe: "convex" | "linear"): ScanGeometry {
  const n = S * S;
  const px = S / 128;
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
  const depthPx = probe === "convex" ? rFar - rNear : bottomY - topY;
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
  const latPx = probe === "convex" ? (rNear + 0.5 * depthPx) * halfAngle : S / 2 - margin;
  return { S, n, px, probe, fieldOfView, topY, depthPx, latPx, depth: depthA, lat: latA, inFov, toXY };
}

/** Echo level per pixel (texture and interfaces included) and the layer's plain echogenicity. */
interface Tissue {
  tissue: Float32Array;
  layerEcho: Float32Array;
  layers: number;
}

/**
 * Layers parallel to the transducer, each with its own echogenicity and texture, bright
 * (intermittent, specular) interface lines between them.
 */
function tissueLayers(rng: Rng, geo: ScanGeometry): Tissue {
  const { n, px, depthPx, latPx } = geo;
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
    tu[i] = (geo.lat[i]! * latPx) / (cell * stretch);
    tv[i] = (geo.depth[i]! * depthPx) / cell;
  }
  const texture = fractalAt(rng, tu, tv, 4, 0.55);
  const lineNoise = fractalAt(rng, tu, tv, 2, 0.5);
  const tissue = new Float32Array(n);
  const layerEcho = new Float32Array(n);
  const lineW = 0.8 * px;
  for (let i = 0; i < n; i++) {
    const depth = geo.depth[i]!;
    const lat = geo.lat[i]!;
    let level = echo[0]!;
    let ta = texAmp[0]!;
    let lines = 0;
    for (let k = 0; k < nLayers; k++) {
      const b = lookup(boundTable[k]!, lat);
      const dpx = (depth - b) * depthPx;
      const s = smoothstep(-1.5 * px, 1.5 * px, dpx);
      level += (echo[k + 1]! - echo[k]!) * s;
      ta += (texAmp[k + 1]! - texAmp[k]!) * s;
      // Interfaces are specular reflectors: bright where the line noise says so (intermittent).
      if (dpx > -4 * lineW && dpx < 4 * lineW) {
        lines += lineAmp[k]! * Math.exp(-((dpx / lineW) ** 2)) * clamp01(0.6 + 0.6 * lineNoise[i]!);
      }
    }
    tissue[i] = Math.max(0.04, level * (1 + ta * texture[i]!)) + lines;
    layerEcho[i] = level;
  }
  return { tissue, layerEcho, layers: nLayers };
}

/** Hypoechoic fat lobules: elongated dark ellipses in the upper layers (distractors, not in the mask). */
function fatLobules(rng: Rng, geo: ScanGeometry): Blob[] {
  const count = rng.int(4);
  const lobules: Blob[] = [];
  for (let k = 0; k < count; k++) {
    const [lx, ly] = geo.toXY(rng.uniform(-0.8, 0.8), rng.uniform(0.1, 0.45));
    const a = geo.S * rng.uniform(0.04, 0.09);
    lobules.push(randomBlob(rng, lx, ly, a, a * rng.uniform(0.35, 0.6), rng.normal() * 0.2, 0.3));
  }
  return lobules;
}

interface Lesion {
  blob: Blob;
  raster: BlobRaster;
  mask: Uint8Array;
}

/** The lesion's outline: a blob in mid depth, fully inside the field of view when it can be. */
function lesionOutline(rng: Rng, geo: ScanGeometry, size: number | undefined): Lesion {
  const { S, n, px, inFov } = geo;
  const lesionSize = size ?? rng.uniform(0.08, 0.16);
  const inView = (x: number, y: number) => {
    const xi = Math.floor(x);
    const yi = Math.floor(y);
    return xi >= 0 && yi >= 0 && xi < S && yi < S && inFov[yi * S + xi] === 1;
  };
  let blob!: Blob;
  for (let attempt = 0; ; attempt++) {
    const a = S * lesionSize * rng.uniform(0.85, 1.2);
    const b = a * rng.uniform(0.55, 1.05);
    const [cx, cy] = geo.toXY(rng.uniform(-0.4, 0.4), rng.uniform(0.3, 0.62));
    blob = randomBlob(rng, cx, cy, a, b, rng.normal() * 0.3, rng.uniform(0.1, 1));
    if (blobOutline(blob).every(([x, y]) => inView(x, y)) || attempt >= 30) break;
  }
  const raster = rasterBlob(blob, S, S, 8 * px);
  const mask = new Uint8Array(n);
  for (let i = 0; i < n; i++) mask[i] = raster.sd[i]! < 0 && inFov[i] ? 1 : 0;
  return { blob, raster, mask };
}

interface LesionEcho {
  posterior: UltrasoundMeta["posterior"];
  contrast: number;
  missingEdgeFraction: number;
}

/**
 * The lesion replaces the tissue (interfaces and texture included) by its own low echo level,
 * with arcs of the outline where it fades in slowly instead of stepping (missing edges).
 * Writes into `tissue`.
 */
function lesionEcho(
  rng: Rng,
  geo: ScanGeometry,
  d: number,
  lesion: Lesion,
  tissue: Tissue,
  requested: UltrasoundOptions["posterior"],
): LesionEcho {
  const { S, n, px } = geo;
  const posteriorDraw = rng.next();
  const posterior: UltrasoundMeta["posterior"] =
    requested === undefined || requested === "auto"
      ? posteriorDraw < 0.45
        ? "shadow"
        : posteriorDraw < 0.8
          ? "enhancement"
          : "none"
      : requested;
  // Cysts (enhancement) are anechoic; solid lesions keep some internal echoes.
  const contrast = Math.min(
    0.97,
    Math.max(0.15, lerp(0.9, 0.38, d) + 0.06 * rng.normal() + (posterior === "enhancement" ? 0.05 : 0)),
  );
  const internalTexture = (posterior === "enhancement" ? 0.15 : 0.45) * rng.uniform(0.6, 1.2);
  const internal = fractalImage(rng, S, S, rng.uniform(3, 7) * px, 3);

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
  const rEff = 0.5 * (lesion.blob.a + lesion.blob.b);
  const { raster } = lesion;
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
    tissue.tissue[i] = tissue.tissue[i]! * (1 - wIn) + wIn * (1 - contrast) * tissue.layerEcho[i]! * inner;
  }
  return { posterior, contrast, missingEdgeFraction };
}

/** The lobules' darkening, a factor per pixel. */
function lobuleShading(geo: ScanGeometry, lobules: readonly Blob[], d: number): Float32Array {
  const { S, n, px } = geo;
  const lobuleDark = lerp(0.25, 0.55, d);
  const factor = new Float32Array(n).fill(1);
  for (const lob of lobules) {
    const r = rasterBlob(lob, S, S, 3 * px);
    for (let i = 0; i < n; i++) {
      const w = smoothstep(1.5 * px, -2 * px, r.sd[i]!);
      if (w > 0) factor[i]! *= 1 - lobuleDark * w;
    }
  }
  return factor;
}

/**
 * Posterior shadowing or enhancement along the beams through the lesion, and refraction ("edge")
 * shadows: thin dark streaks below the lesion's lateral edges. A factor per pixel.
 */
function posteriorEffect(
  rng: Rng,
  geo: ScanGeometry,
  d: number,
  mask: Uint8Array,
  posterior: UltrasoundMeta["posterior"],
): { factor: Float32Array; strength: number } {
  const { S, n, px, depthPx } = geo;
  const bins = 2 * S;
  const present = new Float32Array(bins);
  const backWall = new Float32Array(bins).fill(-1);
  const binOf = (lat: number) => Math.max(0, Math.min(bins - 1, Math.floor(((lat + 1) / 2) * bins)));
  for (let i = 0; i < n; i++) {
    if (!mask[i]) continue;
    const b = binOf(geo.lat[i]!);
    present[b] = 1;
    backWall[b] = Math.max(backWall[b]!, geo.depth[i]!);
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
  const strength =
    posterior === "shadow"
      ? Math.min(0.9, lerp(0.35, 0.8, d) * strengthDraw)
      : posterior === "enhancement"
        ? lerp(0.5, 1.1, d) * strengthDraw
        : 0;
  const edgeShadows = posterior !== "enhancement" && rng.chance(0.5);
  const edgeStreak = new Float32Array(bins);
  if (edgeShadows) {
    for (let b = 2; b < bins - 2; b++) edgeStreak[b] = Math.abs(present[b + 2]! - present[b - 2]!);
  }
  const edgeStreakS = blur(edgeStreak, bins, 1, 0.8 * px, 0);
  const trans = (2 * px) / depthPx;
  const factor = new Float32Array(n).fill(1);
  for (let i = 0; i < n; i++) {
    const b = binOf(geo.lat[i]!);
    const wb = wall[b]!;
    if (wb < 0) continue;
    const below = geo.depth[i]! - wb;
    const ramp = smoothstep(-trans, trans, below);
    if (ramp <= 0) continue;
    let f = 1;
    if (posterior === "shadow") f -= strength * presentS[b]! * ramp * (1 - 0.3 * clamp01(below));
    else if (posterior === "enhancement") f += strength * presentS[b]! * ramp * Math.exp(-below / 0.3);
    if (edgeShadows) f *= 1 - 0.55 * edgeStreakS[b]! * ramp;
    factor[i] = Math.max(0.02, f);
  }
  return { factor, strength };
}

/** The scanner: depth gain, lateral beam falloff, correlated speckle, log compression, display. */
function scannerImage(
  rng: Rng,
  geo: ScanGeometry,
  d: number,
  echoes: Float64Array,
): { planes: Float32Array; speckle: number; dynamicRangeDb: number } {
  const { S, n, px, inFov, depthPx, topY } = geo;
  // Depth gain (attenuation with imperfect time-gain compensation) and lateral beam falloff.
  const att = rng.uniform(0.3, 1.3);
  const tgcAmp = rng.uniform(0, 0.25);
  const tgcPhase = rng.uniform(0, TAU);
  const gain0 = rng.uniform(0.85, 1.2);
  const nearBright = rng.uniform(0.2, 0.8);
  // Speckle, correlated by the point spread function (wider laterally).
  const { magnitude: speckle, mean: sMean, white: re } = rayleighSpeckle(rng, S, S, 1.1 * px, 0.7 * px);
  const speckleExp = lerp(0.45, 0.8, d) * rng.uniform(0.9, 1.1);
  const noiseFloor = lerp(0.004, 0.02, d) * rng.uniform(0.7, 1.3);
  const dynamicRangeDb = rng.uniform(45, 60);
  const ref = rng.uniform(135, 170);
  const ticks = rng.chance(0.5);

  const planes = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    if (!inFov[i]) continue;
    const depth = geo.depth[i]!;
    const lat = geo.lat[i]!;
    const g =
      gain0 *
      Math.exp(-att * depth) *
      (1 + tgcAmp * Math.sin(3 * depth + tgcPhase)) *
      (1 - 0.3 * lat ** 4) *
      (1 + nearBright * Math.exp(-depth / 0.04));
    const amp = echoes[i]! * g;
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
  return { planes, speckle: speckleExp, dynamicRangeDb };
}

/**
 * A B-mode ultrasound-like image with a hypoechoic lesion (class 1). Grey, three identical planes.
 * Echo amplitude = tissue echogenicity x lesion x posterior effect x depth gain x speckle, then
 * log-compressed to the display range; black outside the field of view.
 */
export function ultrasoundLesion(options: UltrasoundOptions): Phantom<UltrasoundMeta> {
  const { seed, size: S, difficulty: d } = checkOptions("ultrasound", options);
  const rng = new Rng(seed, "ultrasound");
  const probe = options.probe ?? "convex";
  const geo = scanGeometry(rng, S, probe);
  const tissue = tissueLayers(rng, geo);
  const lobules = fatLobules(rng, geo);
  const lesion = lesionOutline(rng, geo, options.lesionSize);
  const echo = lesionEcho(rng, geo, d, lesion, tissue, options.posterior);
  const lobuleFactor = lobuleShading(geo, lobules, d);
  const posterior = posteriorEffect(rng, geo, d, lesion.mask, echo.posterior);
  // float64, as one product with the gain: the bytes must not depend on how the stages are cut.
  const echoes = new Float64Array(geo.n);
  for (let i = 0; i < geo.n; i++) echoes[i] = tissue.tissue[i]! * lobuleFactor[i]! * posterior.factor[i]!;
  const image = scannerImage(rng, geo, d, echoes);
  const { blob } = lesion;
  const meta: UltrasoundMeta = {
    kind: "ultrasound",
    seed,
    size: S,
    difficulty: d,
    maskFraction: fraction(lesion.mask),
    probe,
    fieldOfView: geo.fieldOfView,
    lesion: {
      cx: blob.cx,
      cy: blob.cy,
      rx: blob.a,
      ry: blob.b,
      rotation: blob.rot,
      irregularity: blob.harmonics.reduce((s, h) => s + Math.abs(h.amp), 0),
      contrast: echo.contrast,
    },
    missingEdgeFraction: echo.missingEdgeFraction,
    posterior: echo.posterior,
    posteriorStrength: posterior.strength,
    lobules: lobules.length,
    tissueLayers: tissue.layers,
    speckle: image.speckle,
    dynamicRangeDb: image.dynamicRangeDb,
  };
  return finish(image.planes, S, lesion.mask, meta);
}
