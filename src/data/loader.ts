// Batches for training and evaluation, read lazily.
//
// Samples are read when a batch needs them (the next batch is read while the caller works on
// the current one) and resized (longest side to the model size) once: the resized samples are
// kept in an LRU cache with a byte budget, so later epochs skip decoding. Augmentation runs on
// the resized, unpadded sample, then the sample is padded bottom/right to S x S: the padding
// stays where SAM puts it whatever the flips and rotations did.
//
// Determinism: the epoch's order comes from (seed, epoch) and a sample's augmentation from
// (seed, epoch, sample index), never from timing, concurrency or batch size.

import { hashSeed, Rng } from "../engine/random.js";
import type { LabelMap, PlanarImage } from "../io/planar-image.js";
import { type AugmentOptions, augmentPair } from "./augment.js";
import {
  type PreprocessOptions,
  padImage,
  padLabels,
  type ResizeInfo,
  resizeLongestSide,
} from "./preprocess.js";
import type { LoadedSample } from "./types.js";

/** Anything that can load samples by reference (a Dataset). */
export interface SampleSource<R> {
  load(ref: R): Promise<LoadedSample>;
}

export interface LoaderOptions extends PreprocessOptions {
  /** Samples per batch. */
  batchSize: number;
  /** Model input size S (square). */
  imageSize: number;
  /** Shuffle every epoch (default true when augmenting, else false). */
  shuffle?: boolean;
  /** Seed for the order and the augmentations. Default 0. */
  seed?: number;
  /** Augmentation options, or false / left out for none (evaluation). */
  augment?: AugmentOptions | false;
  /** Drop the last, smaller batch. Default false. */
  dropLast?: boolean;
  /** Bytes of resized samples to keep. Default 256 MiB; 0 disables the cache. */
  cacheBytes?: number;
  /** Samples read at once within a batch. Default 4. */
  concurrency?: number;
  /** Read the next batch while the current one is in use. Default true. */
  prefetch?: boolean;
}

export interface Batch {
  /** [B, 3, S, S] float32, values 0..255 (not normalised; padding per padValue). */
  images: Float32Array;
  /** [B, S, S] class indices (padding per maskPadValue, default background 0). */
  masks: Uint8Array;
  names: string[];
  /** B: batchSize, or fewer in a last batch. */
  size: number;
  imageSize: number;
  /** Per sample: how to map a prediction back to the original size (restoreMaps/restoreLabels). */
  info: ResizeInfo[];
  /** What augmentation did, per sample (empty lists without augmentation). */
  applied: string[][];
  epoch: number;
  /** Batch number within the epoch. */
  index: number;
}

interface Resized {
  name: string;
  image: PlanarImage;
  mask: LabelMap;
  info: ResizeInfo;
  bytes: number;
}

/** Least-recently-used cache of resized samples with a byte budget. */
class SampleCache {
  private map = new Map<number, Resized>();
  bytes = 0;
  hits = 0;
  misses = 0;

  constructor(readonly budget: number) {}

  get(key: number): Resized | undefined {
    const v = this.map.get(key);
    if (v) {
      this.map.delete(key);
      this.map.set(key, v);
      this.hits++;
    } else this.misses++;
    return v;
  }

  set(key: number, v: Resized): void {
    if (v.bytes > this.budget || this.map.has(key)) return;
    this.map.set(key, v);
    this.bytes += v.bytes;
    for (const [k, old] of this.map) {
      if (this.bytes <= this.budget) break;
      this.map.delete(k);
      this.bytes -= old.bytes;
    }
  }

  get size(): number {
    return this.map.size;
  }
}

export class DataLoader<R = unknown> {
  private readonly cache: SampleCache;
  private readonly opts: Required<Omit<LoaderOptions, "padValue" | "maskPadValue" | "augment">> &
    LoaderOptions;

  constructor(
    private readonly source: SampleSource<R>,
    readonly samples: readonly R[],
    options: LoaderOptions,
  ) {
    if (!(Number.isInteger(options.batchSize) && options.batchSize > 0)) {
      throw new RangeError(`DataLoader: batchSize must be a positive integer, not ${options.batchSize}`);
    }
    if (!(Number.isInteger(options.imageSize) && options.imageSize > 0)) {
      throw new RangeError(`DataLoader: imageSize must be a positive integer, not ${options.imageSize}`);
    }
    this.opts = {
      ...options,
      shuffle: options.shuffle ?? Boolean(options.augment),
      seed: options.seed ?? 0,
      dropLast: options.dropLast ?? false,
      cacheBytes: options.cacheBytes ?? 256 * 2 ** 20,
      concurrency: Math.max(1, options.concurrency ?? 4),
      prefetch: options.prefetch ?? true,
    };
    this.cache = new SampleCache(this.opts.cacheBytes);
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.samples.length;
    const b = this.opts.batchSize;
    return this.opts.dropLast ? Math.floor(n / b) : Math.ceil(n / b);
  }

  /** The sample indices of an epoch, in batch order. */
  order(epoch: number): number[] {
    const idx = Array.from({ length: this.samples.length }, (_, i) => i);
    if (this.opts.shuffle) new Rng(this.opts.seed, "shuffle", epoch).shuffle(idx);
    return idx;
  }

  /** Cache statistics: entries, bytes, hits, misses. */
  cacheStats(): { entries: number; bytes: number; hits: number; misses: number } {
    return {
      entries: this.cache.size,
      bytes: this.cache.bytes,
      hits: this.cache.hits,
      misses: this.cache.misses,
    };
  }

  /** The batches of one epoch. */
  async *batches(epoch = 0): AsyncGenerator<Batch> {
    const order = this.order(epoch);
    const n = this.length;
    const b = this.opts.batchSize;
    const read = (k: number) => {
      const p = this.batch(order.slice(k * b, (k + 1) * b), epoch, k);
      p.catch(() => {}); // surfaced when awaited; avoids an unhandled rejection if the caller stops early
      return p;
    };
    let next = n > 0 ? read(0) : undefined;
    for (let k = 0; k < n; k++) {
      const current = next!;
      if (this.opts.prefetch && k + 1 < n) next = read(k + 1);
      const batch = await current;
      if (!this.opts.prefetch && k + 1 < n) next = read(k + 1);
      yield batch;
    }
  }

  /** One resized, unpadded sample (cached). */
  private async resized(index: number): Promise<Resized> {
    const hit = this.cache.get(index);
    if (hit) return hit;
    const s = await this.source.load(this.samples[index]!);
    const r = resizeLongestSide(s.image, s.mask, this.opts.imageSize);
    const out: Resized = {
      name: s.name,
      image: r.image,
      mask: r.mask,
      info: r.info,
      bytes: r.image.data.byteLength + r.mask.data.byteLength,
    };
    this.cache.set(index, out);
    return out;
  }

  private async batch(indices: number[], epoch: number, k: number): Promise<Batch> {
    const S = this.opts.imageSize;
    const B = indices.length;
    const images = new Float32Array(B * 3 * S * S);
    const masks = new Uint8Array(B * S * S);
    const names: string[] = new Array(B);
    const info: ResizeInfo[] = new Array(B);
    const applied: string[][] = new Array(B);
    let cursor = 0;
    const worker = async () => {
      for (let j = cursor++; j < B; j = cursor++) {
        const idx = indices[j]!;
        const r = await this.resized(idx);
        let image = r.image;
        let mask = r.mask;
        let ops: string[] = [];
        if (this.opts.augment) {
          const a = augmentPair(
            image,
            mask,
            new Rng(hashSeed(this.opts.seed, "augment", epoch, idx)),
            this.opts.augment,
          );
          image = a.image;
          mask = a.mask;
          ops = a.applied;
        }
        const img = padImage(image, S, this.opts.padValue);
        if (img.channels !== 3)
          throw new RangeError(`DataLoader: sample "${r.name}" has ${img.channels} channels, expected 3`);
        images.set(img.data, j * 3 * S * S);
        masks.set(padLabels(mask, S, this.opts.maskPadValue).data, j * S * S);
        names[j] = r.name;
        info[j] = r.info;
        applied[j] = ops;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, B) }, worker));
    return { images, masks, names, size: B, imageSize: S, info, applied, epoch, index: k };
  }
}
