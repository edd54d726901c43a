// Ellipses, rotated rectangles and blobs on textured backgrounds, optionally with labelled rims
// or speckled (pretraining data of the bundled base).
import { Rng } from "../../engine/random.js";
import { DatasetError } from "../errors.js";
import { randomBlob, rasterBlob, rectSd } from "./blobs.js";
import { checkOptions, checkUnit, clamp01, finish, fraction, lerp, smoothstep, TAU } from "./helpers.js";
import { blur, fractalImage, rayleighSpeckle } from "./noise.js";
import type { Phantom, ShapesMeta, ShapesOptions } from "./types.js";

/** Ellipses, rotated rectangles and blobs (all class 1) on a textured background. */
export function shapes(options: ShapesOptions): Phantom<ShapesMeta> {
  const { seed, size: S, difficulty: d } = checkOptions("shapes", options);
  const maxShapes = options.maxShapes ?? 3;
  const rims = options.rims ?? 0;
  const speckle = options.speckle ?? 0;
  const kinds = options.kinds ?? (["ellipse", "rectangle", "blob"] as const);
  if (!Number.isInteger(maxShapes) || maxShapes < 1) {
    throw new DatasetError(
      "(phantoms: shapes)",
      "bad-argument",
      `maxShapes must be an integer >= 1, got ${maxShapes}`,
    );
  }
  checkUnit("(phantoms: shapes)", "rims (a probability)", rims);
  checkUnit("(phantoms: shapes)", "speckle (a probability)", speckle);
  if (kinds.length === 0) {
    throw new DatasetError("(phantoms: shapes)", "bad-argument", "kinds must name at least one shape kind");
  }
  const rng = new Rng(seed, "shapes");
  // Rims draw from their own stream, so that rims: 0 leaves every other draw where it was.
  const rimRng = new Rng(seed, "shapes-rim");
  // So does speckle, for the same reason.
  const speckleRng = new Rng(seed, "shapes-speckle");
  const speckled = speckleRng.next() < speckle;
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
  const backdrop = speckled ? Float32Array.from(rgb) : null;
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
    const rim = rimRng.next() < rims ? rimRng.uniform(1, 4) * px : 0;
    placed.push({ kind, cx, cy, rx, ry, rotation: rot, rim });
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
    // The rim's colour: mostly on the far side of the background from the fill (a dark CSF rim
    // around bright tissue), so the inner edge, not the mask's, is the strong one.
    const fillLum = (fill[0]! + fill[1]! + fill[2]!) / 3;
    const rimSign = (fillLum >= bgLum ? -1 : 1) * (rimRng.next() < 0.7 ? 1 : -1);
    const rimMag = rimRng.uniform(30, 80);
    const rimColour = bgMean.map((m) => Math.max(5, Math.min(250, m + contrast * rimSign * rimMag)));
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
        edge + 2 + rim,
      ).sd;
    }
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const i = y * S + x;
        const s = sd[i]!;
        if (s < rim) mask[i] = 1;
        if (rim > 0) {
          const band = smoothstep(edge, -edge, s - rim);
          if (band > 0) {
            for (let c = 0; c < 3; c++) {
              const j = c * n + i;
              rgb[j] = rgb[j]! * (1 - band) + (rimColour[c]! + texAmp * texture[i]!) * band;
            }
          }
        }
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

  if (backdrop) speckleRender(rgb, backdrop, S, d, speckleRng);

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
    speckled,
  };
  return finish(rgb, S, mask, meta);
}

/**
 * The look of coherent imaging (ultrasound, OCT) on generic shapes: grey, patches where the
 * shapes fade back into the backdrop (so stretches of their edges go missing), and multiplicative
 * correlated Rayleigh speckle of unit mean. Deliberately none of the ultrasound phantom's scan
 * geometry, tissue layers or shadows: that kind stays held out of pretraining.
 */
function speckleRender(rgb: Float32Array, backdrop: Float32Array, S: number, d: number, rng: Rng): void {
  const n = S * S;
  const px = S / 128;
  const lum = (a: Float32Array, i: number) => (a[i]! + a[n + i]! + a[2 * n + i]!) / 3;
  const gate = fractalImage(rng, S, S, rng.uniform(12, 32) * px, 3);
  const fade = clamp01(lerp(0.3, 0.9, d) * rng.uniform(0.8, 1.2));
  // A point spread function wider on one axis.
  const psfX = rng.uniform(1, 2.5) * px;
  const psfY = rng.uniform(0.6, 1.5) * px;
  const { magnitude } = rayleighSpeckle(rng, S, S, psfX, psfY);
  const power = lerp(0.3, 0.7, d) * rng.uniform(0.9, 1.1);
  const amp = magnitude.map((a) => a ** power);
  const mean = amp.reduce((sum, a) => sum + a, 0) / n;
  for (let i = 0; i < n; i++) {
    const back = lum(backdrop, i);
    const keep = 1 - fade * smoothstep(0.3, -0.7, gate[i]!);
    const v = (back + keep * (lum(rgb, i) - back)) * (amp[i]! / mean);
    rgb[i] = v;
    rgb[n + i] = v;
    rgb[2 * n + i] = v;
  }
}

// ---------------------------------------------------------------------------------------------
