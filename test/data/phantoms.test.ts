import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  DatasetError,
  endoscopyPolyp,
  generatePhantom,
  openDataset,
  PHANTOM_KINDS,
  type Phantom,
  type PhantomKind,
  shapes,
  smallStructures,
  ultrasoundLesion,
  writePhantomDataset,
} from "../../src/data/index.js";
import { hashSeed } from "../../src/engine/random.js";
import { readImage } from "../../src/io/images/images.js";
import { tempDir } from "./helpers.js";

const root = tempDir("phantoms");
after(() => rmSync(root, { recursive: true, force: true }));

function bytesOf(p: Phantom<unknown>): Buffer {
  return Buffer.concat([Buffer.from(p.image.data.buffer), Buffer.from(p.mask.data)]);
}

/** Mean of plane 0 (grey) or of the luminance over the pixels where `where` is true. */
function meanWhere(p: Phantom<unknown>, where: (i: number) => boolean): number {
  const n = p.image.width * p.image.height;
  const d = p.image.data;
  let s = 0;
  let c = 0;
  for (let i = 0; i < n; i++) {
    if (!where(i)) continue;
    s += (d[i]! + d[n + i]! + d[2 * n + i]!) / 3;
    c++;
  }
  return c ? s / c : Number.NaN;
}

/** Background pixels within r pixels (square neighbourhood) of the mask. */
function ring(mask: Uint8Array, size: number, r: number): Uint8Array {
  const out = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (!mask[y * size + x]) continue;
      for (let yy = Math.max(0, y - r); yy <= Math.min(size - 1, y + r); yy++) {
        for (let xx = Math.max(0, x - r); xx <= Math.min(size - 1, x + r); xx++) {
          if (!mask[yy * size + xx]) out[yy * size + xx] = 1;
        }
      }
    }
  }
  return out;
}

/** Relative darkening of the mask against a ring around it (inside the field of view). */
function lesionContrast(p: Phantom<unknown>): number {
  const size = p.image.width;
  const around = ring(p.mask.data, size, Math.round(size / 16));
  const inside = meanWhere(p, (i) => p.mask.data[i] === 1);
  const outside = meanWhere(p, (i) => around[i] === 1 && p.image.data[i]! > 0);
  return (outside - inside) / outside;
}

/** Mean colour distance between the mask and a ring around it. */
function colourContrast(p: Phantom<unknown>): number {
  const size = p.image.width;
  const n = size * size;
  const around = ring(p.mask.data, size, Math.round(size / 20));
  let diff = 0;
  for (let c = 0; c < 3; c++) {
    const plane = (i: number) => p.image.data[c * n + i]!;
    let si = 0;
    let ni = 0;
    let so = 0;
    let no = 0;
    for (let i = 0; i < n; i++) {
      if (p.mask.data[i]) {
        si += plane(i);
        ni++;
      } else if (around[i]) {
        so += plane(i);
        no++;
      }
    }
    diff += (si / ni - so / no) ** 2;
  }
  return Math.sqrt(diff);
}

describe("phantoms: every kind", () => {
  for (const kind of PHANTOM_KINDS) {
    test(`${kind}: deterministic per seed, different across seeds`, () => {
      const a = generatePhantom(kind, { seed: 7 });
      const b = generatePhantom(kind, { seed: 7 });
      const c = generatePhantom(kind, { seed: 8 });
      assert.ok(bytesOf(a).equals(bytesOf(b)), "same seed, same bytes");
      assert.deepEqual(a.meta, b.meta);
      assert.ok(!bytesOf(a).equals(bytesOf(c)), "another seed, another image");
      // Difficulty changes the image but, by design, not the scene's random draws.
      const hard = generatePhantom(kind, { seed: 7, difficulty: 0.9 });
      assert.ok(!bytesOf(a).equals(bytesOf(hard)), "difficulty changes the image");
    });

    test(`${kind}: 3 integer planes 0..255, a mask that is neither empty nor everything`, () => {
      for (const [seed, size, difficulty] of [
        [1, 128, 0.5],
        [2, 64, 0],
        [3, 96, 1],
        [4, 128, 1],
        [5, 48, 0.3],
        [6, 128, 0],
      ] as const) {
        const p = generatePhantom(kind, { seed, size, difficulty });
        assert.equal(p.image.channels, 3);
        assert.equal(p.image.width, size);
        assert.equal(p.image.height, size);
        assert.equal(p.image.quantized, true);
        assert.equal(p.image.data.length, 3 * size * size);
        for (const v of p.image.data) assert.ok(Number.isInteger(v) && v >= 0 && v <= 255, `value ${v}`);
        assert.equal(p.mask.width, size);
        assert.equal(p.mask.height, size);
        let fg = 0;
        for (const v of p.mask.data) {
          assert.ok(v === 0 || v === 1);
          fg += v;
        }
        const frac = fg / (size * size);
        // Small structures can be a single 3 px lesion: about 7 pixels of 128 x 128.
        const least = kind === "small-structures" ? 2 / (size * size) : 0.003;
        assert.ok(frac >= least && frac < 0.6, `${kind} seed ${seed}: mask fraction ${frac}`);
        assert.ok(Math.abs(frac - p.meta.maskFraction) < 1e-12);
        assert.equal(p.meta.seed, seed);
        assert.equal(p.meta.size, size);
        assert.equal(p.meta.difficulty, difficulty);
      }
    });
  }

  test("defaults: size 128, difficulty 0.5", () => {
    const p = shapes({ seed: 1 });
    assert.equal(p.image.width, 128);
    assert.equal(p.meta.difficulty, 0.5);
  });

  test("bad options are DatasetErrors that name the option", () => {
    const bad: [PhantomKind, object, RegExp][] = [
      ["ultrasound", { seed: 1, difficulty: 1.5 }, /difficulty/],
      ["endoscopy", { seed: 1, size: 8 }, /size/],
      ["shapes", { seed: Number.NaN }, /seed/],
      ["shapes", { seed: 1, maxShapes: 0 }, /maxShapes/],
      ["shapes", { seed: 1, rims: 1.5 }, /rims/],
      ["shapes", { seed: 1, speckle: -0.1 }, /speckle/],
    ];
    for (const [kind, opts, re] of bad) {
      assert.throws(
        () => generatePhantom(kind, opts as never),
        (e: unknown) => e instanceof DatasetError && e.code === "bad-argument" && re.test(e.message),
      );
    }
  });

  test("fast: 128 px in under 20 ms once V8 has optimised (generous bound for shared machines)", (t) => {
    // Optimisation runs on background threads, so warm-up takes longer on a busy machine: keep
    // generating (at most 30 images or 2.5 s per kind) until one takes under 20 ms.
    for (const kind of PHANTOM_KINDS) {
      let best = Number.POSITIVE_INFINITY;
      let calls = 0;
      const start = performance.now();
      while (best >= 20 && calls < 30 && performance.now() - start < 2500) {
        const t0 = performance.now();
        generatePhantom(kind, { seed: calls++ });
        best = Math.min(best, performance.now() - t0);
      }
      t.diagnostic(`${kind}: best ${best.toFixed(1)} ms per 128 px image (${calls} generated)`);
      assert.ok(best < 50, `${kind}: ${best.toFixed(1)} ms per image`);
    }
  });
});

describe("phantoms: ultrasound", () => {
  test("grey (three identical planes), black outside the fan", () => {
    const p = ultrasoundLesion({ seed: 3 });
    const n = 128 * 128;
    const d = p.image.data;
    for (let i = 0; i < n; i++) assert.ok(d[i] === d[n + i] && d[i] === d[2 * n + i]);
    assert.equal(p.meta.probe, "convex");
    // The top corners are outside a convex probe's field of view.
    assert.equal(d[0], 0);
    assert.equal(d[127], 0);
    assert.ok(meanWhere(p, () => true) > 30, "the fan is not black");
  });

  test("the lesion is darker than its surroundings", () => {
    const contrasts: number[] = [];
    for (let seed = 0; seed < 10; seed++) contrasts.push(lesionContrast(ultrasoundLesion({ seed })));
    const darker = contrasts.filter((c) => c > 0.05).length;
    const mean = contrasts.reduce((a, b) => a + b, 0) / contrasts.length;
    assert.ok(darker >= 9, `lesion darker in ${darker}/10: ${contrasts.map((c) => c.toFixed(2))}`);
    assert.ok(mean > 0.2, `mean contrast ${mean}`);
  });

  test("higher difficulty, lower lesion contrast; more missing edge and shadow", () => {
    let easy = 0;
    let hard = 0;
    let lower = 0;
    for (let seed = 0; seed < 8; seed++) {
      const e = ultrasoundLesion({ seed, difficulty: 0.1 });
      const h = ultrasoundLesion({ seed, difficulty: 0.9 });
      const ce = lesionContrast(e);
      const ch = lesionContrast(h);
      easy += ce / 8;
      hard += ch / 8;
      if (ch < ce) lower++;
      assert.ok(h.meta.lesion.contrast < e.meta.lesion.contrast);
      assert.ok(h.meta.missingEdgeFraction > e.meta.missingEdgeFraction);
      assert.ok(h.meta.posteriorStrength >= e.meta.posteriorStrength);
      // Same scene: the mask does not depend on difficulty.
      assert.ok(Buffer.from(e.mask.data).equals(Buffer.from(h.mask.data)));
    }
    assert.ok(lower >= 7, `contrast lower at high difficulty for ${lower}/8 seeds`);
    assert.ok(hard < easy - 0.1, `mean contrast easy ${easy.toFixed(3)}, hard ${hard.toFixed(3)}`);
  });

  test("knobs: linear probe, forced posterior, lesion size", () => {
    const p = ultrasoundLesion({ seed: 5, probe: "linear", posterior: "enhancement", lesionSize: 0.15 });
    assert.equal(p.meta.probe, "linear");
    assert.equal(p.meta.posterior, "enhancement");
    assert.ok(p.meta.lesion.rx >= 0.15 * 128 * 0.8 && p.meta.lesion.rx <= 0.15 * 128 * 1.25);
    const none = ultrasoundLesion({ seed: 5, posterior: "none" });
    assert.equal(none.meta.posterior, "none");
    assert.equal(none.meta.posteriorStrength, 0);
  });
});

describe("phantoms: endoscopy", () => {
  test("the polyp lies inside the round field of view; corners are black", () => {
    for (let seed = 0; seed < 10; seed++) {
      const p = endoscopyPolyp({ seed });
      const { cx, cy, radius } = p.meta.fieldOfView;
      const n = 128 * 128;
      let fg = 0;
      let inView = 0;
      let lit = 0;
      for (let i = 0; i < n; i++) {
        if (!p.mask.data[i]) continue;
        fg++;
        const x = (i % 128) + 0.5;
        const y = Math.floor(i / 128) + 0.5;
        if (Math.hypot(x - cx, y - cy) < radius) inView++;
        if (p.image.data[i]! + p.image.data[n + i]! + p.image.data[2 * n + i]! > 30) lit++;
      }
      assert.equal(inView, fg, `seed ${seed}: mask outside the field of view`);
      assert.ok(lit >= 0.98 * fg, `seed ${seed}: ${fg - lit} polyp pixels are black`);
      for (const i of [0, 127, n - 128, n - 1]) assert.equal(p.image.data[i], 0, `seed ${seed}: corner ${i}`);
    }
    const p = endoscopyPolyp({ seed: 2 });
    const n = 128 * 128;
    let red = 0;
    let green = 0;
    for (let i = 0; i < n; i++) {
      red += p.image.data[i]!;
      green += p.image.data[n + i]!;
    }
    assert.ok(red > 1.3 * green, "mucosa is red");
  });

  test("higher difficulty, lower polyp colour contrast", () => {
    let easy = 0;
    let hard = 0;
    for (let seed = 0; seed < 8; seed++) {
      easy += colourContrast(endoscopyPolyp({ seed, difficulty: 0.1 }));
      hard += colourContrast(endoscopyPolyp({ seed, difficulty: 0.9 }));
    }
    assert.ok(hard < easy, `easy ${easy / 8}, hard ${hard / 8}`);
  });
});

describe("phantoms: shapes", () => {
  test("higher difficulty, lower shape contrast; knobs", () => {
    let easy = 0;
    let hard = 0;
    for (let seed = 0; seed < 8; seed++) {
      easy += colourContrast(shapes({ seed, difficulty: 0.1 }));
      hard += colourContrast(shapes({ seed, difficulty: 0.9 }));
    }
    assert.ok(hard < 0.6 * easy, `easy ${easy / 8}, hard ${hard / 8}`);
    const one = shapes({ seed: 4, maxShapes: 1, kinds: ["rectangle"] });
    assert.equal(one.meta.shapes.length, 1);
    assert.equal(one.meta.shapes[0]!.kind, "rectangle");
  });

  test("speckle: grey, with fine multiplicative texture, over the same mask; 0 changes nothing", () => {
    const n = 128 * 128;
    // Mean absolute difference of horizontal neighbours (grey level) off the mask, and mean |R - G|.
    const texture = (p: ReturnType<typeof shapes>) => {
      const grey = (j: number) => (p.image.data[j]! + p.image.data[n + j]! + p.image.data[2 * n + j]!) / 3;
      let step = 0;
      let count = 0;
      let redGreen = 0;
      for (let i = 0; i < n; i++) {
        redGreen += Math.abs(p.image.data[i]! - p.image.data[n + i]!) / n;
        if (i % 128 < 127 && !p.mask.data[i] && !p.mask.data[i + 1]) {
          step += Math.abs(grey(i + 1) - grey(i));
          count++;
        }
      }
      return { step: step / count, redGreen };
    };
    for (let seed = 0; seed < 6; seed++) {
      const plain = shapes({ seed, difficulty: 0.2 });
      assert.deepEqual(shapes({ seed, difficulty: 0.2, speckle: 0 }), plain);
      assert.equal(plain.meta.speckled, false);
      const speckled = shapes({ seed, difficulty: 0.2, speckle: 1 });
      assert.equal(speckled.meta.speckled, true);
      assert.deepEqual(speckled.mask, plain.mask, "speckle changes the look, not the objects");
      const a = texture(plain);
      const b = texture(speckled);
      assert.ok(b.step > 1.3 * a.step, `seed ${seed}: neighbour step ${b.step} speckled vs ${a.step} plain`);
      // Grey: the channels differ only by the independent additive noise (E|N1 - N2| = 1.13 sd).
      assert.ok(b.redGreen < 1.4 * speckled.meta.noise, `seed ${seed}: mean |R - G| ${b.redGreen}`);
    }
  });

  test("rims: the mask ends 1-4 px past the shape's edge, over a band of its own colour; 0 changes nothing", () => {
    for (let seed = 0; seed < 6; seed++) {
      const plain = shapes({ seed, maxShapes: 1, kinds: ["ellipse"], difficulty: 0.2 });
      assert.deepEqual(shapes({ seed, maxShapes: 1, kinds: ["ellipse"], difficulty: 0.2, rims: 0 }), plain);
      const rimmed = shapes({ seed, maxShapes: 1, kinds: ["ellipse"], difficulty: 0.2, rims: 1 });
      const { rx, ry, rim } = rimmed.meta.shapes[0]!;
      assert.ok(rim >= 1 && rim <= 4, `rim ${rim}`);
      assert.equal(plain.meta.shapes[0]!.rim, 0);
      // The added mask is a ring of about the perimeter times the rim's width (Ramanujan's
      // perimeter; clipping at the border only shrinks it).
      let inPlain = 0;
      let added = 0;
      let changedOutsideMask = 0;
      let ringChange = 0;
      const n = plain.mask.data.length;
      for (let i = 0; i < n; i++) {
        inPlain += plain.mask.data[i]!;
        if (plain.mask.data[i]) assert.equal(rimmed.mask.data[i], 1, "the rim's mask holds the shape's");
        else if (rimmed.mask.data[i]) {
          added++;
          for (let c = 0; c < 3; c++)
            ringChange += Math.abs(rimmed.image.data[c * n + i]! - plain.image.data[c * n + i]!) / 3;
        }
      }
      const perimeter = Math.PI * (3 * (rx + ry) - Math.sqrt((3 * rx + ry) * (rx + 3 * ry)));
      assert.ok(
        added > 0.5 * perimeter * rim && added < 1.3 * perimeter * rim + 8,
        `seed ${seed}: ${added} px added, perimeter ${perimeter.toFixed(0)} x rim ${rim.toFixed(1)}`,
      );
      assert.ok(inPlain > 0);
      // The band is painted in its own colour, and nothing far outside it changes.
      assert.ok(ringChange / added > 3, `seed ${seed}: mean change on the rim ${ringChange / added}`);
      for (let i = 0; i < n; i++) {
        const y = Math.floor(i / 128);
        const x = i % 128;
        const { cx, cy } = rimmed.meta.shapes[0]!;
        const r = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
        if (r > Math.max(rx, ry) + rim + 6) {
          for (let c = 0; c < 3; c++)
            if (rimmed.image.data[c * n + i] !== plain.image.data[c * n + i]) changedOutsideMask++;
        }
      }
      assert.equal(changedOutsideMask, 0, `seed ${seed}`);
    }
  });
});

describe("phantoms: small structures", () => {
  test("lesions 3-15 px across, strands 1-3 px wide: small objects, darker or brighter than tissue", () => {
    let lesions = 0;
    let strands = 0;
    for (let seed = 0; seed < 12; seed++) {
      const p = smallStructures({ seed, size: 128, difficulty: 0.3 });
      for (const l of p.meta.lesions) {
        assert.ok(l.diameter >= 3 * 0.7 && l.diameter <= 15, `lesion diameter ${l.diameter}`);
        lesions++;
      }
      strands += p.meta.strands;
      // Nothing the mask holds is large: under 4 % of the image.
      assert.ok(p.meta.maskFraction < 0.04, `mask fraction ${p.meta.maskFraction}`);
      // The structures differ from the tissue around them.
      const n = 128 * 128;
      let inside = 0;
      let ring = 0;
      let nIn = 0;
      let nRing = 0;
      for (let y = 2; y < 126; y++) {
        for (let x = 2; x < 126; x++) {
          const i = y * 128 + x;
          if (p.mask.data[i]) {
            inside += p.image.data[i]!;
            nIn++;
          } else if (
            p.mask.data[i - 2] ||
            p.mask.data[i + 2] ||
            p.mask.data[i - 256] ||
            p.mask.data[i + 256]
          ) {
            ring += p.image.data[i]!;
            nRing++;
          }
        }
      }
      assert.ok(Math.abs(inside / nIn - ring / nRing) > 3, `seed ${seed}: structure vs surroundings`);
      assert.equal(p.image.data.length, 3 * n);
    }
    assert.ok(lesions >= 12 && strands >= 6, `${lesions} lesions, ${strands} strands over 12 seeds`);
  });
});

describe("phantoms: writePhantomDataset", () => {
  for (const kind of ["ultrasound", "endoscopy"] as const) {
    test(`${kind}: the generic layout round-trips through openDataset`, async () => {
      const dir = join(root, kind);
      const names = writePhantomDataset(dir, kind, {
        count: 10,
        size: 48,
        seed: 3,
        difficulty: 0.4,
        split: [0.6, 0.2, 0.2],
      });
      assert.equal(names.length, 10);
      assert.equal(names[0], `${kind}_0000`);
      for (const name of names) {
        assert.ok(existsSync(join(dir, "images", `${name}.png`)));
        assert.ok(existsSync(join(dir, "masks", `${name}.png`)));
      }
      const split = JSON.parse(readFileSync(join(dir, "split.json"), "utf8"));
      assert.deepEqual(
        [split.train.length, split.val.length, split.test.length],
        [6, 2, 2],
        JSON.stringify(split),
      );
      assert.deepEqual([...split.train, ...split.val, ...split.test].sort(), names);

      const img = await readImage(join(dir, "images", `${names[0]}.png`));
      assert.equal(img.channels, 3);
      assert.equal(img.bitDepth, 8);
      const m = await readImage(join(dir, "masks", `${names[0]}.png`));
      assert.equal(m.channels, 1);
      assert.ok([...m.data].every((v) => v === 0 || v === 255));

      const ds = await openDataset(dir);
      assert.equal(ds.layout, "generic");
      assert.equal(ds.samples.length, 10);
      assert.deepEqual(ds.masks.convention, { kind: "binary", foreground: 255 });
      assert.equal(ds.numClasses, 2);
      assert.equal(ds.splitSource, "split.json");
      assert.deepEqual([...ds.split.train].sort(), [...split.train].sort());
      assert.deepEqual([...ds.split.val].sort(), [...split.val].sort());
      assert.deepEqual([...ds.split.test].sort(), [...split.test].sort());
      assert.deepEqual(ds.warnings, []);

      // The files hold exactly the generated phantom.
      for (const i of [0, 7]) {
        const sample = await ds.load(names[i]!);
        const p = generatePhantom(kind, { seed: hashSeed(3, kind, i), size: 48, difficulty: 0.4 });
        assert.deepEqual(sample.image.data, p.image.data);
        assert.deepEqual(sample.mask.data, p.mask.data);
      }

      // Same options, same bytes.
      const again = join(root, `${kind}-again`);
      writePhantomDataset(again, kind, {
        count: 10,
        size: 48,
        seed: 3,
        difficulty: 0.4,
        split: [0.6, 0.2, 0.2],
      });
      for (const sub of ["images", "masks"]) {
        const a = readFileSync(join(dir, sub, `${names[5]}.png`));
        const b = readFileSync(join(again, sub, `${names[5]}.png`));
        assert.ok(a.equals(b));
      }
      assert.equal(
        readFileSync(join(dir, "split.json"), "utf8"),
        readFileSync(join(again, "split.json"), "utf8"),
      );
    });
  }

  test("default split is 70/10/20; bad count is refused", () => {
    const dir = join(root, "shapes");
    writePhantomDataset(dir, "shapes", { count: 20, size: 32, seed: 1 });
    const split = JSON.parse(readFileSync(join(dir, "split.json"), "utf8"));
    assert.deepEqual([split.train.length, split.val.length, split.test.length], [14, 2, 4]);
    assert.throws(
      () => writePhantomDataset(join(root, "bad"), "shapes", { count: 0 }),
      (e: unknown) => e instanceof DatasetError && /count/.test(e.message),
    );
  });
});
