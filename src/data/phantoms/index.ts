// Seeded phantoms: medical-looking 2-D images with exact masks, made from nothing but a seed.
// They pretrain the small SAM-architecture base (`udeg pretrain`: shapes, endoscopy and small
// structures) and are the demo's unseen domain (ultrasound). Four kinds, one module each:
// - ultrasound.ts: B-mode-like grey image in a convex (fan) or linear field of view: layered
//   tissue, correlated Rayleigh speckle after log compression, depth attenuation, a hypoechoic
//   lesion with a smooth irregular boundary, partly faded edges, posterior shadowing or enhancement;
// - endoscopy.ts: colonoscopy-like RGB frame: mucosa on an oblique tube wall lit from the lens,
//   dark lumen, folds, vessels, a raised polyp with a low-contrast border, specular highlights,
//   round black border;
// - shapes.ts: ellipses, rotated rectangles and blobs on textured backgrounds, optionally with
//   labelled rims or speckled (grey, faded in patches, multiplicative Rayleigh speckle);
// - small-structures.ts: lesions 3-15 px across and 1-3 px thin strands on grey tissue.
// Every generator takes { seed, size, difficulty } plus its own knobs and is deterministic: the
// same options give the same bytes (only the seeded Rng is used; Math.sin/exp/pow come from V8's
// own fdlibm port, so a different Node version could in principle move a pixel by one level).
// The random draws do not depend on difficulty, so one seed at two difficulties is the same
// scene with different contrast, noise, missing edges and shadow strength.
// This file dispatches by kind and writes phantom datasets.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hashSeed, Rng } from "../../engine/random.js";
import { encodePng } from "../../io/images/images.js";
import type { PlanarImage } from "../../io/planar-image.js";
import { DatasetError } from "../errors.js";
import { makeSplit, type Split, type SplitFractions } from "../split.js";
import { endoscopyPolyp } from "./endoscopy.js";
import { shapes } from "./shapes.js";
import { smallStructures } from "./small-structures.js";
import {
  type EndoscopyOptions,
  PHANTOM_KINDS,
  type Phantom,
  type PhantomKind,
  type PhantomMetaByKind,
  type PhantomOptionsByKind,
  type ShapesOptions,
  type SmallStructuresOptions,
  type UltrasoundOptions,
} from "./types.js";
import { ultrasoundLesion } from "./ultrasound.js";

export * from "./types.js";
export { endoscopyPolyp, shapes, smallStructures, ultrasoundLesion };

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
    case "small-structures":
      return smallStructures(options as SmallStructuresOptions) as Phantom<PhantomMetaByKind[K]>;
    default:
      throw new DatasetError(
        "(phantoms)",
        "bad-argument",
        `unknown phantom kind ${JSON.stringify(kind)}`,
        `Use one of ${PHANTOM_KINDS.join(", ")}.`,
      );
  }
}

export interface PhantomDatasetOptions<K extends PhantomKind = PhantomKind> {
  count: number;
  /** The kind's own knobs (e.g. shapes' rims), passed to every sample's generator. */
  generator?: Omit<PhantomOptionsByKind[K], "seed" | "size" | "difficulty">;
  /** Default 128. */
  size?: number;
  /** Default 0. Sample i uses seed hashSeed(seed, kind, i); the split uses `seed`. */
  seed?: number;
  /** Default 0.5; [lo, hi]: each sample's drawn uniformly (seeded) from the range. */
  difficulty?: number | readonly [number, number];
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
export function writePhantomDataset<K extends PhantomKind>(
  dir: string,
  kind: K,
  options: PhantomDatasetOptions<K>,
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
    const sampleSeed = hashSeed(seed, kind, i);
    const d =
      typeof difficulty === "number"
        ? difficulty
        : difficulty[0] + (difficulty[1] - difficulty[0]) * new Rng(sampleSeed, "difficulty").next();
    const p = generatePhantom(kind, {
      ...options.generator,
      seed: sampleSeed,
      size,
      difficulty: d,
    } as PhantomOptionsByKind[K]);
    const png = encodePhantomPngs(p);
    writeFileSync(join(dir, "images", `${name}.png`), png.image);
    writeFileSync(join(dir, "masks", `${name}.png`), png.mask);
  });
  writeFileSync(join(dir, "split.json"), `${JSON.stringify(split, null, 1)}\n`);
  writeFileSync(
    join(dir, "phantoms.json"),
    `${JSON.stringify({ generator: "udeg src/data/phantoms", kind, count, size, seed, difficulty, options: options.generator ?? {}, split: fractions, names }, null, 1)}\n`,
  );
  return names;
}
