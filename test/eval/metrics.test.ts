// Metrics on hand-made cases whose expected values are worked out in the comments, and against
// brute-force O(n^2) references on random data.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { rng } from "../../src/engine/random.js";
import {
  assd,
  auroc,
  aurocSorted,
  calibrationBins,
  classCase,
  dice,
  directedSurfaceDistances,
  distanceTransform,
  eceFromBins,
  errorMap,
  evaluateCase,
  evaluateClasses,
  expectedCalibrationError,
  hd95,
  imageDiagonal,
  iou,
  percentile,
  reliabilityDiagram,
  type Shape2D,
  type Spacing2D,
  SplitEvaluator,
  squaredDistanceTransform,
  summarize,
  surfaceDistanceMetrics,
  surfaceMask,
  ueo,
} from "../../src/eval/metrics/index.js";

// ---------------------------------------------------------------------------------------------
// helpers

/** Mask with the rectangle rows [y0, y1], cols [x0, x1] (inclusive) set. */
function rect(shape: Shape2D, y0: number, x0: number, y1: number, x1: number): Uint8Array {
  const [h, w] = shape;
  const m = new Uint8Array(h * w);
  for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) m[y * w + x] = 1;
  return m;
}

/** Random blob: union of a few random discs, optionally sprinkled with single pixels. */
function blob(shape: Shape2D, r: () => number, discs: number, speckle = 0): Uint8Array {
  const [h, w] = shape;
  const m = new Uint8Array(h * w);
  for (let k = 0; k < discs; k++) {
    const cy = r() * h;
    const cx = r() * w;
    const rad = 1 + r() * Math.min(h, w) * 0.3;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) if ((y - cy) ** 2 + (x - cx) ** 2 <= rad * rad) m[y * w + x] = 1;
  }
  for (let i = 0; i < m.length; i++) if (r() < speckle) m[i] = 1;
  return m;
}

function close(actual: number | null, expected: number, tol = 1e-12, msg = ""): void {
  assert.ok(actual !== null, `${msg} expected ${expected}, got null`);
  assert.ok(
    Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)),
    `${msg} expected ${expected}, got ${actual}`,
  );
}

/** Reference surface: erode explicitly (structuring element, outside = 0), then XOR. */
function bruteSurface(mask: Uint8Array, shape: Shape2D, conn: 1 | 2): Uint8Array {
  const [h, w] = shape;
  const offs =
    conn === 1
      ? [
          [-1, 0],
          [1, 0],
          [0, -1],
          [0, 1],
        ]
      : [
          [-1, -1],
          [-1, 0],
          [-1, 1],
          [0, -1],
          [0, 1],
          [1, -1],
          [1, 0],
          [1, 1],
        ];
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let eroded = mask[y * w + x] === 1;
      for (const [dy, dx] of offs) {
        const yy = y + dy!;
        const xx = x + dx!;
        if (yy < 0 || xx < 0 || yy >= h || xx >= w || mask[yy * w + xx] === 0) eroded = false;
      }
      out[y * w + x] = mask[y * w + x]! ^ (eroded ? 1 : 0);
    }
  }
  return out;
}

/** Reference squared EDT: minimum over all sites, O(n^2). */
function bruteSquaredEdt(sites: Uint8Array, shape: Shape2D, [sy, sx]: Spacing2D): Float64Array {
  const [h, w] = shape;
  const out = new Float64Array(h * w).fill(Number.POSITIVE_INFINITY);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let yy = 0; yy < h; yy++) {
        for (let xx = 0; xx < w; xx++) {
          if (sites[yy * w + xx] === 0) continue;
          const a = (x - xx) * sx;
          const b = (y - yy) * sy;
          const d = a * a + b * b;
          if (d < out[y * w + x]!) out[y * w + x] = d;
        }
      }
    }
  }
  return out;
}

/** Reference directed surface distances: nearest pair by brute force. */
function bruteDirected(
  from: Uint8Array,
  to: Uint8Array,
  shape: Shape2D,
  sp: Spacing2D,
  conn: 1 | 2,
): number[] {
  const d2 = bruteSquaredEdt(bruteSurface(to, shape, conn), shape, sp);
  const bf = bruteSurface(from, shape, conn);
  const out: number[] = [];
  for (let i = 0; i < bf.length; i++) if (bf[i]) out.push(Math.sqrt(d2[i]!));
  return out;
}

/** numpy.percentile(values, q), "linear", textbook form. */
function brutePercentile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  const idx = ((s.length - 1) * q) / 100;
  const lo = Math.floor(idx);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (idx - lo);
}

/** AUROC by counting every (positive, negative) pair; ties count 1/2. */
function bruteAuroc(score: ArrayLike<number>, label: ArrayLike<number>): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < score.length; i++) {
    if (!label[i]) continue;
    for (let j = 0; j < score.length; j++) {
      if (label[j]) continue;
      pairs++;
      if (score[i]! > score[j]!) wins += 1;
      else if (score[i] === score[j]) wins += 0.5;
    }
  }
  return wins / pairs;
}

// ---------------------------------------------------------------------------------------------

describe("dice and iou", () => {
  test("two overlapping 3x3 squares", () => {
    // A = rows 0-2 x cols 0-2 (9 px), B = rows 1-3 x cols 1-3 (9 px); A and B = rows 1-2 x cols 1-2 = 4 px.
    // dice = 2*4 / (9+9) = 8/18 = 4/9; iou = 4 / (9+9-4) = 4/14 = 2/7.
    const s: Shape2D = [6, 6];
    const a = rect(s, 0, 0, 2, 2);
    const b = rect(s, 1, 1, 3, 3);
    close(dice(a, b), 4 / 9);
    close(iou(a, b), 2 / 7);
    // non-zero is foreground: 0/255 masks give the same
    close(
      dice(
        a.map((v) => v * 255),
        b,
      ),
      4 / 9,
    );
  });

  test("sensitivity and precision say which side lost the Dice", () => {
    // pred = rows 0-1 x cols 0-2 (6 px) inside gt = rows 0-2 x cols 0-3 (12 px): every predicted
    // pixel is right (precision 6/6) and half the foreground is missed (sensitivity 6/12).
    const s: Shape2D = [5, 5];
    const under = evaluateCase({ shape: s, pred: rect(s, 0, 0, 1, 2), gt: rect(s, 0, 0, 2, 3) });
    close(under.sensitivity!, 1 / 2);
    close(under.precision!, 1);
    // gt = rows 1-3 x cols 1-3 (9 px) inside pred = rows 0-3 x cols 0-3 (16 px): nothing missed,
    // 9 of the 16 predicted pixels right.
    const over = evaluateCase({ shape: s, pred: rect(s, 0, 0, 3, 3), gt: rect(s, 1, 1, 3, 3) });
    close(over.sensitivity!, 1);
    close(over.precision!, 9 / 16);
  });

  test("disjoint and identical", () => {
    const s: Shape2D = [4, 4];
    assert.equal(dice(rect(s, 0, 0, 0, 0), rect(s, 3, 3, 3, 3)), 0);
    assert.equal(iou(rect(s, 0, 0, 1, 1), rect(s, 0, 0, 1, 1)), 1);
  });
});

describe("surfaces", () => {
  test("4x4 square: the 12-pixel ring (connectivity 1), image-border pixels are surface", () => {
    const s: Shape2D = [6, 6];
    const sq = rect(s, 1, 1, 4, 4);
    const b = surfaceMask(sq, s);
    // 16 pixels minus the 2x2 interior
    assert.equal(
      b.reduce((x, y) => x + y, 0),
      12,
    );
    assert.equal(b[2 * 6 + 2], 0);
    // a full image: erosion with outside = 0 leaves only the interior (medpy: scipy border_value 0)
    const full = surfaceMask(new Uint8Array(9).fill(1), [3, 3]);
    assert.deepEqual([...full], [1, 1, 1, 1, 0, 1, 1, 1, 1]);
  });

  test("medpy's asd docstring: cross vs 3x3 cube, 0 with connectivity 1 and 0.2 with 2", () => {
    // cross surface with connectivity 1 = its 4 arms (the centre has 4 foreground neighbours), all
    // on the cube's ring -> mean distance 0. With connectivity 2 the centre (diagonal neighbours
    // are 0) is surface too, at distance 1 from the ring -> (0*4 + 1) / 5 = 0.2.
    const cross = Uint8Array.from([0, 1, 0, 1, 1, 1, 0, 1, 0]);
    const cube = new Uint8Array(9).fill(1);
    const mean = (a: Float64Array) => a.reduce((x, y) => x + y, 0) / a.length;
    assert.equal(mean(directedSurfaceDistances(cross, cube, [3, 3], { connectivity: 1 })), 0);
    close(mean(directedSurfaceDistances(cross, cube, [3, 3], { connectivity: 2 })), 0.2);
  });

  test("matches the erosion-XOR definition on random blobs, both connectivities", () => {
    const r = rng(7);
    for (let k = 0; k < 30; k++) {
      const s: Shape2D = [1 + Math.floor(r() * 14), 1 + Math.floor(r() * 14)];
      const m = blob(s, r, 1 + Math.floor(r() * 3), 0.05);
      for (const c of [1, 2] as const) assert.deepEqual(surfaceMask(m, s, c), bruteSurface(m, s, c));
    }
  });
});

describe("distance transform", () => {
  test("hand case: one site in a 3x4 image, spacing [2, 1]", () => {
    // site at (1, 1); d^2 = (2 dy)^2 + dx^2. Row 0: (4+1, 4, 4+1, 4+4); row 1: (1, 0, 1, 4); row 2 = row 0.
    const s: Shape2D = [3, 4];
    const sites = new Uint8Array(12);
    sites[1 * 4 + 1] = 1;
    assert.deepEqual([...squaredDistanceTransform(sites, s, [2, 1])], [5, 4, 5, 8, 1, 0, 1, 4, 5, 4, 5, 8]);
    close(distanceTransform(sites, s, [2, 1])[3]!, Math.sqrt(8));
  });

  test("no site -> Infinity everywhere", () => {
    assert.ok(
      squaredDistanceTransform(new Uint8Array(6), [2, 3]).every((v) => v === Number.POSITIVE_INFINITY),
    );
  });

  test("equals brute force on random sites, random shapes and anisotropic spacings", () => {
    const r = rng(11);
    const spacings: Spacing2D[] = [
      [1, 1],
      [0.7, 1.3],
      [3, 0.25],
      [1e-3, 2.5],
    ];
    for (let k = 0; k < 60; k++) {
      const s: Shape2D = [1 + Math.floor(r() * 20), 1 + Math.floor(r() * 20)];
      const density = [0.01, 0.05, 0.3, 0.9][k % 4]!;
      const sites = new Uint8Array(s[0] * s[1]);
      for (let i = 0; i < sites.length; i++) sites[i] = r() < density ? 1 : 0;
      const sp = spacings[k % spacings.length]!;
      const got = squaredDistanceTransform(sites, s, sp);
      const want = bruteSquaredEdt(sites, s, sp);
      for (let i = 0; i < got.length; i++) {
        if (want[i] === Number.POSITIVE_INFINITY) assert.equal(got[i], want[i]);
        else close(got[i]!, want[i]!, 1e-12, `case ${k} pixel ${i}`);
      }
    }
  });
});

describe("percentile (numpy linear)", () => {
  test("hand values", () => {
    // n = 10 values 0..9: virtual index 9 * 0.95 = 8.55 -> 8 + 0.55 * (9 - 8) = 8.55
    close(
      percentile(
        Float64Array.from({ length: 10 }, (_, i) => i),
        95,
      ),
      8.55,
    );
    // n = 4 values 1, 2, 10, 20: index 3 * 0.95 = 2.85 -> 10 + 0.85 * 10 = 18.5
    close(percentile([20, 1, 10, 2], 95), 18.5);
    assert.equal(percentile([5], 95), 5);
    assert.ok(Number.isNaN(percentile([], 95)));
  });
});

describe("hd95 and assd", () => {
  // A = rows 2-5 x cols 2-5 in a 12x12 image, B = A shifted right by k = 2 (cols 4-7). Both
  // surfaces are 12-pixel rings. Directed distances A -> B (spacing 1):
  //   A's left column (col 2, 4 px): nearest is B's left column (col 4) -> 2, 2, 2, 2
  //   A's right column (col 5): rows 2 and 5 lie on B's top/bottom rows -> 0, 0; rows 3, 4 -> 1, 1
  //   A's top row cols 3, 4: (2,3) -> (2,4) = 1; (2,4) is on B -> 0; bottom row likewise 1, 0
  //   => {0 x4, 1 x4, 2 x4}; B -> A is the mirror image, the same multiset.
  // medpy hd95: 24 pooled values, index 23 * 0.95 = 21.85 between sorted[21] = 2 and sorted[22] = 2 -> 2.
  // assd = (12/12 + 12/12) / 2 = 1. HD = 2. MONAI's variants give the same here (symmetric case).
  const s: Shape2D = [12, 12];
  const a = rect(s, 2, 2, 5, 5);
  const b = rect(s, 2, 4, 5, 7);

  test("two 4x4 squares shifted by 2 pixels", () => {
    const m = surfaceDistanceMetrics(a, b, s);
    assert.deepEqual(m, { hd95: 2, assd: 1, hd: 2, empty: "none", imputed: false });
    assert.equal(hd95(a, b, s, { surfaceConvention: "monai" }), 2);
    assert.equal(assd(b, a, s, { surfaceConvention: "monai" }), 1);
  });

  test("the same squares with anisotropic spacing", () => {
    // spacing [sy, sx] = [1, 0.5]: every nearest partner above stays nearest and horizontal
    // steps cost 0.5 -> {0 x4, 0.5 x4, 1 x4}: hd95 = 1, assd = 6/12 = 0.5.
    assert.equal(hd95(a, b, s, { spacing: [1, 0.5] }), 1);
    assert.equal(assd(a, b, s, { spacing: [1, 0.5] }), 0.5);
    // spacing [0.5, 3]: vertical steps are cheap now. A -> B:
    //   left column: to B's left column 2 * 3 = 6 (anything else is farther) -> 6 x4
    //   right column rows 2, 5 -> 0; rows 3, 4: up/down to B's top/bottom row 0.5 (< 3 sideways) -> 0.5 x2
    //   top row (2,3) -> (2,4) = 3, (2,4) -> 0; bottom row likewise 3, 0
    //   => {0 x4, 0.5 x2, 3 x2, 6 x4}, sum 31, mean 31/12; B -> A mirrors it.
    // assd = 31/12; pooled hd95: sorted 24 values: 0 x8, 0.5 x4, 3 x4, 6 x8; index 21.85 -> 6.
    const m = surfaceDistanceMetrics(a, b, s, { spacing: [0.5, 3] });
    close(m.assd, 31 / 12);
    assert.equal(m.hd95, 6);
    assert.equal(m.hd, 6);
  });

  test("medpy pools the two directions, MONAI takes the max of the directed percentiles", () => {
    // 1 x 10 image: pred = all 10 pixels, gt = pixel 0. Every foreground pixel of a one-row image
    // is surface. pred -> gt: 0, 1, ..., 9; gt -> pred: 0.
    // medpy: pooled [0, 0, 1, ..., 9] (n = 11): index 10 * 0.95 = 9.5 -> 8 + 0.5 * (9 - 8) = 8.5;
    //        assd = (45/10 + 0) / 2 = 2.25.
    // monai: max(percentile(0..9) = 8.55, percentile([0]) = 0) = 8.55; assd = 45 / 11.
    const sh: Shape2D = [1, 10];
    const pred = new Uint8Array(10).fill(1);
    const gt = new Uint8Array(10);
    gt[0] = 1;
    const medpy = surfaceDistanceMetrics(pred, gt, sh);
    close(medpy.hd95, 8.5);
    close(medpy.assd, 2.25);
    assert.equal(medpy.hd, 9);
    const monai = surfaceDistanceMetrics(pred, gt, sh, { surfaceConvention: "monai" });
    close(monai.hd95, 8.55);
    close(monai.assd, 45 / 11);
    // spacing [1, 2] doubles every distance
    close(hd95(pred, gt, sh, { spacing: [1, 2] }), 17);
    close(hd95(pred, gt, sh, { spacing: [1, 2], surfaceConvention: "monai" }), 17.1);
  });

  test("agrees with scipy/medpy on a fixed case", () => {
    // Produced with numpy 2.4 / scipy 1.17 and medpy's __surface_distances logic:
    //   p = zeros((8, 9)); p[1:6, 2:7] = 1; p[6, 4] = 1
    //   g = zeros((8, 9)); g[2:7, 1:5] = 1; g[0, 8] = 1
    //   border = m ^ binary_erosion(m, generate_binary_structure(2, 1))
    //   d = lambda a, b: distance_transform_edt(~border(b), sampling=(1.5, 0.5))[border(a)]
    //   h1, h2 = d(p, g), d(g, p)
    //   percentile(hstack((h1, h2)), 95) = 1.6919572339080922; mean((h1.mean(), h2.mean())) = 0.8095898483769888
    //   max(percentile(h1, 95), percentile(h2, 95)) = 1.636548031996141; concatenate((h1, h2)).mean() = 0.8124738743725219
    const sh: Shape2D = [8, 9];
    const p = new Uint8Array(72);
    const g = new Uint8Array(72);
    for (let y = 1; y < 6; y++) for (let x = 2; x < 7; x++) p[y * 9 + x] = 1;
    p[6 * 9 + 4] = 1;
    for (let y = 2; y < 7; y++) for (let x = 1; x < 5; x++) g[y * 9 + x] = 1;
    g[0 * 9 + 8] = 1;
    const m = surfaceDistanceMetrics(p, g, sh, { spacing: [1.5, 0.5] });
    close(m.hd95, 1.6919572339080922, 1e-14);
    close(m.assd, 0.8095898483769888, 1e-14);
    const mo = surfaceDistanceMetrics(p, g, sh, { spacing: [1.5, 0.5], surfaceConvention: "monai" });
    close(mo.hd95, 1.636548031996141, 1e-14);
    close(mo.assd, 0.8124738743725219, 1e-14);
  });

  test("equal brute force on random blobs (both conventions, both connectivities, anisotropic)", () => {
    const r = rng(2024);
    const spacings: Spacing2D[] = [
      [1, 1],
      [0.8, 1.7],
      [2.5, 0.4],
    ];
    for (let k = 0; k < 40; k++) {
      const s2: Shape2D = [4 + Math.floor(r() * 18), 4 + Math.floor(r() * 18)];
      const p = blob(s2, r, 1 + Math.floor(r() * 3), k % 3 === 0 ? 0.02 : 0);
      const g = blob(s2, r, 1 + Math.floor(r() * 3));
      if (!p.includes(1) || !g.includes(1)) continue;
      const sp = spacings[k % 3]!;
      const conn = (k % 2 === 0 ? 1 : 2) as 1 | 2;
      const dpg = bruteDirected(p, g, s2, sp, conn);
      const dgp = bruteDirected(g, p, s2, sp, conn);
      const avg = (v: number[]) => v.reduce((x, y) => x + y, 0) / v.length;
      const medpy = surfaceDistanceMetrics(p, g, s2, { spacing: sp, connectivity: conn });
      close(medpy.hd95, brutePercentile([...dpg, ...dgp], 95), 1e-9, `medpy hd95 case ${k}`);
      close(medpy.assd, (avg(dpg) + avg(dgp)) / 2, 1e-9, `medpy assd case ${k}`);
      close(medpy.hd, Math.max(...dpg, ...dgp), 1e-9, `hd case ${k}`);
      const monai = surfaceDistanceMetrics(p, g, s2, {
        spacing: sp,
        connectivity: conn,
        surfaceConvention: "monai",
      });
      const want = Math.max(brutePercentile(dpg, 95), brutePercentile(dgp, 95));
      close(monai.hd95, want, 1e-9, `monai hd95 case ${k}`);
      close(monai.assd, avg([...dpg, ...dgp]), 1e-9, `monai assd case ${k}`);
    }
  });
});

describe("empty-mask conventions", () => {
  const s: Shape2D = [3, 4];
  const none = new Uint8Array(12);
  const some = rect(s, 0, 0, 1, 1);

  test("both empty: dice 1, iou 1, hd95 0, assd 0", () => {
    const r = evaluateCase({ shape: s, pred: none, gt: none });
    assert.equal(r.dice, 1);
    assert.equal(r.iou, 1);
    assert.equal(r.hd95, 0);
    assert.equal(r.assd, 0);
    assert.equal(r.sensitivity, null);
    assert.equal(r.precision, null);
    assert.ok(r.flags.includes("both_empty"));
  });

  test("one empty: dice 0, iou 0, hd95/assd null with a flag (default)", () => {
    for (const [pred, gt, flag] of [
      [none, some, "pred_empty"],
      [some, none, "gt_empty"],
    ] as const) {
      const r = evaluateCase({ shape: s, pred, gt });
      assert.equal(r.dice, 0);
      assert.equal(r.iou, 0);
      assert.equal(r.hd95, null);
      assert.equal(r.assd, null);
      // a ratio over the empty mask does not exist; the other one is 0
      assert.equal(flag === "gt_empty" ? r.sensitivity : r.precision, null);
      assert.equal(flag === "gt_empty" ? r.precision : r.sensitivity, 0);
      assert.ok(r.flags.includes(flag));
      assert.ok(r.flags.includes("distance_undefined"));
      assert.ok(Number.isNaN(hd95(pred, gt, s)));
      // JSON carries null, not NaN (which JSON cannot hold)
      assert.equal(JSON.parse(JSON.stringify(r)).hd95, null);
    }
  });

  test("one empty with emptyDistance 'diagonal': the physical image diagonal", () => {
    // 3 x 4 image, spacing 1: sqrt(3^2 + 4^2) = 5. Spacing [2, 1.5]: sqrt(6^2 + 6^2) = 6 sqrt(2).
    const r = evaluateCase({ shape: s, pred: none, gt: some }, { emptyDistance: "diagonal" });
    assert.equal(r.hd95, 5);
    assert.equal(r.assd, 5);
    assert.ok(r.flags.includes("distance_imputed"));
    close(imageDiagonal(s, [2, 1.5]), 6 * Math.SQRT2);
    close(hd95(some, none, s, { emptyDistance: "diagonal", spacing: [2, 1.5] }), 6 * Math.SQRT2);
  });

  test("means skip nulls and count them", () => {
    // images: both empty (hd95 0), one empty (null), shifted squares (hd95 2 from above)
    const sq: Shape2D = [12, 12];
    const cases = [
      evaluateCase({ id: "a", shape: s, pred: none, gt: none }),
      evaluateCase({ id: "b", shape: s, pred: none, gt: some }),
      evaluateCase({ id: "c", shape: sq, pred: rect(sq, 2, 2, 5, 5), gt: rect(sq, 2, 4, 5, 7) }),
    ];
    const sum = summarize(cases);
    // hd95: (0 + 2) / 2 = 1 over 2 images, 1 skipped. dice: squares share 4 x 2 = 8 of 16 + 16
    // pixels -> 16/32 = 0.5; mean (1 + 0 + 0.5) / 3 = 0.5.
    assert.equal(sum.mean.hd95, 1);
    assert.equal(sum.n_valid.hd95, 2);
    assert.equal(sum.skipped.hd95, 1);
    close(sum.mean.dice, 0.5);
    assert.equal(sum.skipped.dice, 0);
    // std of hd95 over {0, 2} (ddof 0) = 1
    assert.equal(sum.std.hd95, 1);
    // no uncertainty anywhere: every image skipped, mean null
    assert.equal(sum.mean.auroc_u, null);
    assert.equal(sum.skipped.auroc_u, 3);
    assert.equal(sum.flag_counts.distance_undefined, 1);
    assert.equal(sum.flag_counts.no_uncertainty, 3);
  });
});

describe("ECE and reliability diagram", () => {
  test("binary hand case", () => {
    // 15 bins (b/15, (b+1)/15]. Pixels (p, gt):
    //   p = 0.9 x4, gt 1, 1, 0, 1: predicted 1, conf 0.9 in bin 13 (0.867, 0.933]; acc 3/4 -> |0.75 - 0.9| = 0.15
    //   p = 0.3 x2, gt 0, 1:       predicted 0, conf 0.7 in bin 10 (0.667, 0.733]; acc 1/2 -> |0.5 - 0.7| = 0.2
    //   p = 0.55 x2, gt 1, 0:      predicted 1, conf 0.55 in bin 8 (0.533, 0.6];  acc 1/2 -> |0.5 - 0.55| = 0.05
    // ECE = (4 * 0.15 + 2 * 0.2 + 2 * 0.05) / 8 = 1.1 / 8 = 0.1375
    const prob = Float32Array.from([0.9, 0.9, 0.9, 0.9, 0.3, 0.3, 0.55, 0.55]);
    const gt = Uint8Array.from([1, 1, 0, 1, 0, 1, 1, 0]);
    close(expectedCalibrationError(prob, gt), 0.1375, 1e-7); // float32 probabilities
    close(
      expectedCalibrationError(Float64Array.from([0.9, 0.9, 0.9, 0.9, 0.3, 0.3, 0.55, 0.55]), gt),
      0.1375,
    );
    const diagram = reliabilityDiagram(
      calibrationBins(Float64Array.from([0.9, 0.9, 0.9, 0.9, 0.3, 0.3, 0.55, 0.55]), gt),
    );
    assert.equal(diagram.length, 15);
    assert.deepEqual(
      diagram.map((b) => b.count),
      [0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 0, 4, 0],
    );
    close(diagram[13]!.confidence, 0.9);
    close(diagram[13]!.accuracy, 0.75);
    close(diagram[10]!.confidence, 0.7);
    assert.equal(diagram[10]!.accuracy, 0.5);
    assert.equal(diagram[0]!.confidence, null);
    close(diagram[8]!.lower, 8 / 15);
  });

  test("bin edges: a confidence on an edge b/15 belongs to the lower bin", () => {
    // p = 0.8 -> conf 0.8 = 12/15 -> bin 11; p = 1 -> bin 14; p = 0.5 -> predicted 0, conf 0.5 = 7.5/15 -> bin 7
    const c = calibrationBins(Float64Array.from([0.8, 1, 0.5]), Uint8Array.from([1, 1, 0]));
    assert.equal(c.count[11], 1);
    assert.equal(c.count[14], 1);
    assert.equal(c.count[7], 1);
    // all three correct: ECE = (|1 - 0.8| + |1 - 1| + |1 - 0.5|) / 3 = 0.7 / 3
    close(eceFromBins(c), 0.7 / 3);
    // the double just above 11/15 (0.7333333333333333) is in bin 11, although
    // ceil(0.7333333333333334 * 15) - 1 = 10 after rounding: binning compares against b / 15 itself
    assert.ok(0.7333333333333334 > 11 / 15);
    const edge = calibrationBins(Float64Array.from([0.7333333333333334]), Uint8Array.from([1]));
    assert.equal(edge.count[11], 1);
  });

  test("K class planes: top-label confidence", () => {
    // 3 classes, 2 pixels, class-first planes.
    //   pixel 0: p = (0.2, 0.5, 0.3): predicted 1, conf 0.5, gt 1 -> correct
    //   pixel 1: p = (0.05, 0.1, 0.85): predicted 2, conf 0.85, gt 0 -> wrong
    // in different bins: ECE = (|1 - 0.5| + |0 - 0.85|) / 2 = 0.675
    const prob = Float64Array.from([0.2, 0.05, 0.5, 0.1, 0.3, 0.85]);
    close(expectedCalibrationError(prob, Uint8Array.from([1, 0])), 0.675);
    // tie (0.4, 0.4, 0.2): the first maximum (class 0) is the prediction, as numpy.argmax
    close(expectedCalibrationError(Float64Array.from([0.4, 0.4, 0.2]), Uint8Array.from([0])), 0.6);
  });

  test("evaluateCase computes ece from prob; null and flagged without it", () => {
    const s: Shape2D = [2, 4];
    const gt = Uint8Array.from([1, 1, 0, 1, 0, 1, 1, 0]);
    const prob = Float64Array.from([0.9, 0.9, 0.9, 0.9, 0.3, 0.3, 0.55, 0.55]);
    const pred = prob.map((p) => (p > 0.5 ? 1 : 0));
    close(evaluateCase({ shape: s, pred, gt, prob }).ece, 0.1375);
    const r = evaluateCase({ shape: s, pred, gt });
    assert.equal(r.ece, null);
    assert.ok(r.flags.includes("no_prob"));
  });
});

describe("AUROC of uncertainty for errors", () => {
  test("hand case with ties, by average ranks", () => {
    // errors (positives) u = 0.8, 0.5, 0.5; correct (negatives) u = 0.5, 0.2, 0.1, 0.8.
    // ascending: 0.1 (r1), 0.2 (r2), 0.5 x3 (r3-5, average 4), 0.8 x2 (r6-7, average 6.5)
    // R_pos = 4 + 4 + 6.5 = 14.5; U = 14.5 - 3*4/2 = 8.5; AUROC = 8.5 / (3*4) = 17/24
    // pairwise check: 0.8 beats 0.5, 0.2, 0.1 and ties 0.8 -> 3.5; each 0.5 beats 0.2, 0.1, ties 0.5 -> 2.5
    const u = Float64Array.from([0.8, 0.5, 0.5, 0.5, 0.2, 0.1, 0.8]);
    const err = Uint8Array.from([1, 1, 1, 0, 0, 0, 0]);
    close(auroc(u, err), 17 / 24);
    close(aurocSorted([0.5, 0.5, 0.8], [0.1, 0.2, 0.5, 0.8]), 17 / 24);
  });

  test("through evaluateCase: errors are pred != gt; undefined when all right or all wrong", () => {
    const s: Shape2D = [1, 7];
    const gt = Uint8Array.from([0, 0, 0, 1, 1, 1, 1]);
    const pred = Uint8Array.from([1, 1, 1, 1, 1, 1, 1]); // wrong on pixels 0-2
    const u = Float32Array.from([0.8, 0.5, 0.5, 0.5, 0.2, 0.1, 0.8]);
    close(evaluateCase({ shape: s, pred, gt, uncertainty: u }).auroc_u, 17 / 24);
    const right = evaluateCase({ shape: s, pred: gt, gt, uncertainty: u });
    assert.equal(right.auroc_u, null);
    assert.ok(right.flags.includes("no_errors"));
    const wrong = evaluateCase({ shape: s, pred: gt.map((v) => 1 - v), gt, uncertainty: u });
    assert.equal(wrong.auroc_u, null);
    assert.ok(wrong.flags.includes("all_errors"));
    assert.ok(Number.isNaN(auroc(u, new Uint8Array(7))));
  });

  test("equals the brute-force pairwise count on random data (with many ties)", () => {
    const r = rng(99);
    for (let k = 0; k < 40; k++) {
      const n = 2 + Math.floor(r() * 300);
      const levels = [3, 10, 1000, 0][k % 4]!; // quantised scores give ties; 0 = continuous
      const u = k % 2 ? new Float32Array(n) : new Float64Array(n);
      const err = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        u[i] = levels ? Math.floor(r() * levels) / levels : r();
        err[i] = r() < 0.3 + 0.4 * u[i]! ? 1 : 0;
      }
      const want = bruteAuroc(u, err);
      if (Number.isNaN(want)) assert.ok(Number.isNaN(auroc(u, err)));
      else close(auroc(u, err), want, 1e-12, `case ${k}`);
    }
  });
});

describe("uncertainty-error overlap", () => {
  test("hand case", () => {
    // u = 0.9, 0.7, 0.3, 0.1, 0.6, 0.05; errors at pixels 0, 1, 5 (|E| = 3).
    //   tau 0.05: u > tau at 0-4 (5 px), overlap {0, 1} -> 2*2 / (5 + 3) = 0.5
    //   tau 0.10-0.25: {0, 1, 2, 4} -> 4/7;  tau 0.30-0.55: {0, 1, 4} -> 4/6
    //   tau 0.60-0.65: {0, 1} -> 2*2 / (2 + 3) = 0.8;  tau 0.70-0.85: {0} -> 2/4;  tau 0.90-0.95: {} -> 0
    // UEO = max = 0.8 at tau = 0.60
    const u = Float64Array.from([0.9, 0.7, 0.3, 0.1, 0.6, 0.05]);
    const err = Uint8Array.from([1, 1, 0, 0, 0, 1]);
    const r = ueo(u, err);
    close(r.ueo, 0.8);
    close(r.tau, 0.6);
    close(r.curve[0]!, 0.5);
    close(r.curve[1]!, 4 / 7);
    close(r.curve[5]!, 4 / 6);
    close(r.curve[13]!, 0.5);
    assert.equal(r.curve[18], 0);
    assert.equal(r.curve.length, 19);
  });

  test("no errors and no pixel above a threshold counts as perfect overlap", () => {
    const r = ueo(Float64Array.from([0.01, 0.02]), new Uint8Array(2));
    assert.equal(r.ueo, 1);
    assert.equal(r.tau, 0.05);
  });

  test("errorMap compares the values as given", () => {
    assert.deepEqual([...errorMap([0, 1, 2, 2], [0, 2, 2, 0])], [0, 1, 0, 1]);
  });
});

describe("split evaluation", () => {
  test("pooled ECE / AUROC / UEO equal the metrics of the concatenated pixels", () => {
    const r = rng(5);
    const s: Shape2D = [9, 11];
    const ev = new SplitEvaluator();
    const all = { prob: [] as number[], gt: [] as number[], u: [] as number[], err: [] as number[] };
    for (let k = 0; k < 4; k++) {
      const gt = blob(s, r, 2);
      const prob = Float64Array.from(gt, (g) =>
        Math.min(1, Math.max(0, g ? 0.7 + 0.5 * r() - 0.25 : 0.3 * r())),
      );
      const pred = prob.map((p) => (p > 0.5 ? 1 : 0));
      const u = Float32Array.from(prob, (p) => Math.fround(1 - Math.abs(2 * p - 1) + 0.1 * r()));
      ev.add({ id: `img${k}`, shape: s, pred, gt, prob, uncertainty: u });
      all.prob.push(...prob);
      all.gt.push(...gt);
      all.u.push(...u);
      all.err.push(...errorMap(pred, gt));
    }
    const sum = ev.summary();
    assert.equal(sum.n_images, 4);
    assert.equal(sum.per_image.length, 4);
    const p = sum.pooled!;
    close(p.ece, expectedCalibrationError(all.prob, all.gt), 1e-12);
    close(p.auroc_u, bruteAuroc(all.u, all.err), 1e-12);
    close(p.ueo, ueo(all.u, all.err).ueo, 1e-12);
    assert.equal(p.pixels.calibration, 4 * 99);
    assert.equal(
      p.pixels.errors,
      all.err.reduce((a, b) => a + b, 0),
    );
    assert.equal(
      p.reliability.reduce((a, b) => a + b.count, 0),
      4 * 99,
    );
    // the per-image mean is a different statistic: the mean of the four per-image ECEs
    const perImage = sum.per_image.map((c) => c.ece!);
    close(sum.mean.ece, perImage.reduce((a, b) => a + b, 0) / 4);
    assert.equal(sum.conventions!.surface, "medpy");
    assert.equal(sum.conventions!.ece_bins, 15);
    // without pooled AUROC storage
    const ev2 = new SplitEvaluator({ poolAuroc: false });
    ev2.add({
      shape: s,
      pred: new Uint8Array(99),
      gt: new Uint8Array(99),
      uncertainty: new Float32Array(99),
    });
    assert.equal(ev2.pooled().auroc_u, null);
  });

  test("per-class evaluation of a label map (one-vs-rest)", () => {
    // 2 x 3 label maps: pred 0 1 1 / 2 2 0, gt 0 1 2 / 2 2 2.
    //   class 1: pred {1, 2}, gt {1} -> dice 2*1 / 3 = 2/3
    //   class 2: pred {3, 4}, gt {2, 3, 4, 5} -> dice 2*2 / 6 = 2/3, iou 2/4 = 0.5
    const input = {
      shape: [2, 3] as Shape2D,
      pred: Uint8Array.from([0, 1, 1, 2, 2, 0]),
      gt: Uint8Array.from([0, 1, 2, 2, 2, 2]),
      prob: new Float64Array(18).fill(1 / 3),
    };
    const res = evaluateClasses(input, [1, 2]);
    close(res["1"]!.dice, 2 / 3);
    close(res["2"]!.dice, 2 / 3);
    close(res["2"]!.iou, 0.5);
    // plane 2 of the probabilities is the class-2 probability
    const c2 = classCase(
      { ...input, prob: Float64Array.from({ length: 18 }, (_, i) => Math.floor(i / 6) / 10) },
      2,
    );
    assert.deepEqual(Array.from(c2.prob!), [0.2, 0.2, 0.2, 0.2, 0.2, 0.2]);
    assert.deepEqual(Array.from(c2.gt), [0, 0, 1, 1, 1, 1]);
  });

  test("input validation", () => {
    assert.throws(
      () => evaluateCase({ shape: [2, 2], pred: new Uint8Array(3), gt: new Uint8Array(4) }),
      RangeError,
    );
    assert.throws(() => hd95(new Uint8Array(4), new Uint8Array(4), [2, 2], { spacing: [0, 1] }), RangeError);
    assert.throws(() => auroc(Float64Array.from([Number.NaN]), Uint8Array.from([1])), RangeError);
    assert.throws(() => expectedCalibrationError(new Float64Array(3), new Uint8Array(2)), RangeError);
  });
});
