// The data layer end to end on real data: assets/data/itk-t1-brain (59 MRI slices, 128 x 128
// 8-bit PNG, 0/255 brain masks, split.json with train 42 / test 17).
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import {
  type Batch,
  DataLoader,
  type Dataset,
  openDataset,
  preprocessPair,
  type SampleRef,
} from "../../src/data/index.js";
import { ITK_BRAIN } from "./helpers.js";

let ds: Dataset;
before(async () => {
  ds = await openDataset(ITK_BRAIN);
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe("itk-t1-brain", () => {
  test("opens: generic layout, split.json 42/0/17, 0/255 binary masks", async () => {
    assert.equal(ds.layout, "generic");
    assert.equal(ds.samples.length, 59);
    assert.equal(ds.splitSource, "split.json");
    assert.deepEqual([ds.split.train.length, ds.split.val.length, ds.split.test.length], [42, 0, 17]);
    assert.equal(ds.part("train").length, 42);
    assert.equal(ds.part("test").length, 17);
    assert.deepEqual(ds.masks.convention, { kind: "binary", foreground: 255 });
    assert.equal(ds.numClasses, 2);
    assert.deepEqual(ds.warnings, []);
    const s = await ds.load(ds.part("test")[5]!);
    assert.deepEqual([s.image.channels, s.image.height, s.image.width], [3, 128, 128]);
    assert.ok(s.mask.data.every((v) => v === 0 || v === 1));
    assert.ok(s.mask.data.some((v) => v === 1));
  });

  test("evaluation batches: shapes, order, padding, equal to preprocessPair", async () => {
    const test_ = ds.part("test");
    const loader = new DataLoader(ds, test_, { batchSize: 5, imageSize: 160, padValue: 0 });
    assert.equal(loader.length, 4);
    const batches = await collect(loader.batches());
    assert.deepEqual(
      batches.map((b) => b.size),
      [5, 5, 5, 2],
    );
    const S = 160;
    for (const b of batches) {
      assert.equal(b.images.length, b.size * 3 * S * S);
      assert.equal(b.masks.length, b.size * S * S);
      assert.ok(b.masks.every((v) => v <= 1));
      assert.deepEqual(b.info[0], {
        size: 160,
        originalHeight: 128,
        originalWidth: 128,
        resizedHeight: 160,
        resizedWidth: 160,
        scale: 1.25,
        padBottom: 0,
        padRight: 0,
      });
    }
    assert.deepEqual(
      batches.flatMap((b) => b.names),
      test_.map((s) => s.name),
    );
    const first = await ds.load(test_[0]!);
    const ref = preprocessPair(first.image, first.mask, S, { padValue: 0 });
    assert.deepEqual(batches[0]!.images.subarray(0, 3 * S * S), ref.image.data);
    assert.deepEqual(batches[0]!.masks.subarray(0, S * S), ref.mask.data);
  });

  test("training batches: shuffled per epoch with the seed, each sample once, augmentation deterministic", async () => {
    const train = ds.part("train");
    const opts = { batchSize: 8, imageSize: 96, seed: 11, augment: {}, dropLast: true } as const;
    const a = new DataLoader<SampleRef>(ds, train, opts);
    assert.equal(a.length, 5);
    const e0 = await collect(a.batches(0));
    const names0 = e0.flatMap((b) => b.names);
    assert.equal(names0.length, 40);
    assert.equal(new Set(names0).size, 40);
    assert.notDeepEqual(
      names0,
      train.slice(0, 40).map((s) => s.name),
    );
    assert.notDeepEqual(a.order(1), a.order(0));
    assert.deepEqual(a.order(0), new DataLoader(ds, train, opts).order(0));
    const e1 = await collect(a.batches(1));
    assert.ok(a.cacheStats().hits >= 38, `cache hits ${a.cacheStats().hits}`);
    assert.ok(e1.some((b) => b.applied.some((ops) => ops.length > 0)));
    // The same sample in the same epoch is augmented the same way whatever the batch size,
    // concurrency or cache: per-sample seeds.
    const b = new DataLoader<SampleRef>(ds, train, {
      ...opts,
      batchSize: 3,
      concurrency: 1,
      cacheBytes: 0,
      prefetch: false,
    });
    const e0b = await collect(b.batches(0));
    const S = 96;
    const find = (batches: Batch[], name: string) => {
      for (const x of batches) {
        const j = x.names.indexOf(name);
        if (j >= 0)
          return {
            image: x.images.subarray(j * 3 * S * S, (j + 1) * 3 * S * S),
            mask: x.masks.subarray(j * S * S, (j + 1) * S * S),
            ops: x.applied[j],
          };
      }
      throw new Error(`${name} not found`);
    };
    for (const name of names0.slice(0, 6)) {
      const x = find(e0, name);
      const y = find(e0b, name);
      assert.deepEqual(x.ops, y.ops);
      assert.deepEqual(x.image, y.image);
      assert.deepEqual(x.mask, y.mask);
    }
    // Masks stay binary through augmentation; images stay in 0..255.
    for (const batch of e0) {
      assert.ok(batch.masks.every((v) => v <= 1));
      assert.ok(batch.images.every((v) => v >= 0 && v <= 255));
    }
  });
});
