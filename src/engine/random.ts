// The seeded random numbers of udeg: the same seed gives the same numbers on every machine and
// Node version (Math.random cannot be seeded). Rng (sfc32, seeded through splitmix32) drives data
// order, augmentation, phantoms, clicks and splits; its streams are derived by hashing keys
// (seed, epoch, sample index) rather than by drawing in sequence, so a sample's augmentation does
// not depend on batch order or concurrency.
import { HostTensor } from "./tensor.js";

/** A 32-bit hash of numbers and strings (FNV-1a over the parts, then a murmur3 finaliser). */
export function hashSeed(...parts: readonly (number | string)[]): number {
  let h = 0x811c9dc5;
  const mixWord = (w: number) => {
    for (let s = 0; s < 32; s += 8) {
      h ^= (w >>> s) & 0xff;
      h = Math.imul(h, 0x01000193);
    }
  };
  for (const p of parts) {
    if (typeof p === "number") {
      // Integers exactly (both halves of the 64-bit float), so 1 and 2^32 + 1 differ.
      const f = new Float64Array([p]);
      const u = new Uint32Array(f.buffer);
      mixWord(u[0]!);
      mixWord(u[1]!);
      mixWord(0x6e756d); // type tag
    } else {
      for (let i = 0; i < p.length; i++) mixWord(p.charCodeAt(i));
      mixWord(0x737472);
    }
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | undefined;

  /** Same seed (or same keys), same sequence. */
  constructor(seed: number | string = 0, ...keys: readonly (number | string)[]) {
    let s = hashSeed(seed, ...keys);
    const next = () => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fisher-Yates shuffle, in place; returns the array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i]!;
      items[i] = items[j]!;
      items[j] = t;
    }
    return items;
  }
}

/**
 * mulberry32: a uniform stream in [0, 1) from one 32-bit seed. Initial weights (udeg/init.ts) and
 * the engine's tests use it; everything else draws from Rng below.
 */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomTensor(
  shape: readonly number[],
  random: () => number,
  range: readonly [number, number] = [-1, 1],
) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = range[0] + (range[1] - range[0]) * random();
  return new HostTensor("float32", shape, data);
}
