// Small and thin structures on MRI/CT-like grey tissue: a few lesions 3-15 px across and thin
// curvilinear structures (vessels, ducts) 1-3 px wide, all class 1. This is where a model whose
// masks follow a coarse token grid fails: a 5 px lesion is smaller than one 8 px patch. The
// quality benchmark measures it, and `udeg pretrain` learns from it.
import { Rng } from "../../engine/random.js";
import { type Blob, randomBlob, rasterBlob } from "./blobs.js";
import { checkOptions, clamp01, finish, fraction, lerp, smoothstep, TAU } from "./helpers.js";
import { blur, fractalImage } from "./noise.js";
import type { Phantom, SmallStructuresMeta, SmallStructuresOptions } from "./types.js";

interface Tissue {
  level: Float32Array;
  /** Inside the body outline (a soft ellipse), 0..1. */
  body: Float32Array;
}

/** The body: a large soft ellipse of textured tissue with a darker rim, dark background around it. */
function tissue(rng: Rng, S: number, px: number): Tissue {
  const n = S * S;
  const cx = S * rng.uniform(0.45, 0.55);
  const cy = S * rng.uniform(0.45, 0.55);
  const rx = S * rng.uniform(0.4, 0.5);
  const ry = S * rng.uniform(0.36, 0.48);
  const base = rng.uniform(70, 140);
  const texture = fractalImage(rng, S, S, rng.uniform(10, 30) * px, 4, 0.55);
  const texAmp = rng.uniform(8, 22);
  const level = new Float32Array(n);
  const body = new Float32Array(n);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const i = y * S + x;
      const r = Math.hypot((x + 0.5 - cx) / rx, (y + 0.5 - cy) / ry);
      const inside = smoothstep(1.02, 0.96, r);
      body[i] = inside;
      const rim = 1 - 0.25 * smoothstep(0.8, 0.97, r);
      level[i] = inside * (base * rim + texAmp * texture[i]!);
    }
  }
  return { level, body };
}

/** A thin structure: a smooth random walk of a few segments, `width` px wide. */
interface Strand {
  points: [number, number][];
  width: number;
}

function randomStrand(rng: Rng, S: number, px: number): Strand {
  let x = S * rng.uniform(0.25, 0.75);
  let y = S * rng.uniform(0.25, 0.75);
  let ang = rng.uniform(0, TAU);
  let curv = rng.normal() * 0.02;
  const len = S * rng.uniform(0.25, 0.6);
  const points: [number, number][] = [[x, y]];
  for (let s = 0; s < len; s += 0.5 * px) {
    curv = 0.95 * curv + 0.015 * rng.normal();
    ang += curv;
    x += 0.5 * px * Math.cos(ang);
    y += 0.5 * px * Math.sin(ang);
    points.push([x, y]);
  }
  return { points, width: rng.uniform(1, 3) * px };
}

/** Distance from every pixel centre to the strand's polyline, within reach of it (else 1e6). */
function strandDistance(strand: Strand, S: number): Float32Array {
  const d = new Float32Array(S * S).fill(1e6);
  const reach = strand.width + 2;
  const pts = strand.points;
  for (let k = 0; k + 1 < pts.length; k++) {
    const [ax, ay] = pts[k]!;
    const [bx, by] = pts[k + 1]!;
    const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - reach));
    const x1 = Math.min(S - 1, Math.ceil(Math.max(ax, bx) + reach));
    const y0 = Math.max(0, Math.floor(Math.min(ay, by) - reach));
    const y1 = Math.min(S - 1, Math.ceil(Math.max(ay, by) + reach));
    const dx = bx - ax;
    const dy = by - ay;
    const l2 = dx * dx + dy * dy || 1e-9;
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const px = x + 0.5 - ax;
        const py = y + 0.5 - ay;
        const t = Math.max(0, Math.min(1, (px * dx + py * dy) / l2));
        const dist = Math.hypot(px - t * dx, py - t * dy);
        const i = y * S + x;
        if (dist < d[i]!) d[i] = dist;
      }
    }
  }
  return d;
}

/**
 * MRI/CT-like grey tissue with 1-4 small lesions (3-15 px across, brighter or darker than the
 * tissue) and 0-2 thin strands (1-3 px wide), all class 1; noise and a little blur on top.
 */
export function smallStructures(options: SmallStructuresOptions): Phantom<SmallStructuresMeta> {
  const { seed, size: S, difficulty: d } = checkOptions("small-structures", options);
  const rng = new Rng(seed, "small-structures");
  const n = S * S;
  const px = S / 128;
  const t = tissue(rng, S, px);
  const image = Float32Array.from(t.level);
  const mask = new Uint8Array(n);
  const contrast = lerp(1, 0.3, d) * rng.uniform(0.8, 1.2);

  const nLesions = 1 + rng.int(4);
  const lesions: Blob[] = [];
  for (let k = 0; k < nLesions; k++) {
    const diameter = rng.uniform(3, 15) * px;
    const a = diameter / 2;
    const b = a * rng.uniform(0.7, 1);
    const ang = rng.uniform(0, TAU);
    const dist = rng.uniform(0, 0.7);
    const cx = S * (0.5 + 0.35 * dist * Math.cos(ang));
    const cy = S * (0.5 + 0.3 * dist * Math.sin(ang));
    lesions.push(randomBlob(rng, cx, cy, a, b, rng.uniform(0, Math.PI), rng.uniform(0, 0.6)));
  }
  const edgeSoft = lerp(0.3, 1.2, d) * px;
  for (const lesion of lesions) {
    const sign = rng.chance(0.6) ? 1 : -1;
    const delta = sign * contrast * rng.uniform(35, 70);
    const r = rasterBlob(lesion, S, S, 3 * px);
    for (let i = 0; i < n; i++) {
      const sd = r.sd[i]!;
      if (sd < 0 && t.body[i]! > 0.5) mask[i] = 1;
      const w = smoothstep(edgeSoft, -edgeSoft, sd);
      if (w > 0) image[i]! += delta * w * t.body[i]!;
    }
  }

  const nStrands = rng.int(3);
  for (let k = 0; k < nStrands; k++) {
    const strand = randomStrand(rng, S, px);
    const delta = (rng.chance(0.7) ? 1 : -1) * contrast * rng.uniform(30, 60);
    const dist = strandDistance(strand, S);
    const half = strand.width / 2;
    for (let i = 0; i < n; i++) {
      const di = dist[i]!;
      if (di <= half && t.body[i]! > 0.5) mask[i] = 1;
      const w = clamp01(half + 0.5 - di);
      if (w > 0) image[i]! += delta * w * t.body[i]!;
    }
  }

  const noise = lerp(2, 12, d) * rng.uniform(0.8, 1.2);
  const blurred = blur(image, S, S, lerp(0.3, 0.9, d) * px, lerp(0.3, 0.9, d) * px);
  const planes = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) planes[i] = blurred[i]! + noise * rng.normal() * (0.3 + 0.7 * t.body[i]!);
  planes.copyWithin(n, 0, n);
  planes.copyWithin(2 * n, 0, n);
  const meta: SmallStructuresMeta = {
    kind: "small-structures",
    seed,
    size: S,
    difficulty: d,
    maskFraction: fraction(mask),
    lesions: lesions.map((l) => ({ cx: l.cx, cy: l.cy, diameter: l.a + l.b })),
    strands: nStrands,
    contrast,
    noise,
  };
  return finish(planes, S, mask, meta);
}
