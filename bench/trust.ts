// The trust flag's measurement (`npm run bench -- trust`, issue 28). For each of the seven real
// sets and the ITK brain slices, udeg is trained as the quality benchmark trains it (seed 0, the
// same subset and image-steps; training ends by calibrating the flag, train/run-end.ts), then
// every set's test images (at most --per-set of each) go through that model as `udeg predict`
// runs it. Reported:
//  - the AUROC of telling each other set's test images from the model's own set's test images,
//    for the product's score (udeg/trust.ts: the distance that ranks `trust`) and for the
//    candidates it was chosen over (same pass, no extra inference):
//      mean_u     mean evidential uncertainty u = K/S over the image
//      mask_u     mean u inside the predicted mask (mean_u where the mask is empty)
//      mean_cos   1 - cosine similarity of the grid-mean embedding to the nearest training image's
//  - the flag itself: the share of in-domain test images flagged (false alarms), of the other
//    sets' images flagged, and the Dice of flagged against unflagged in-domain images.
// Every image's scores are kept in bench/results/trust-features.json.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { openDataset } from "../src/data/index.js";
import { bundledBrainData } from "../src/demo/demo.js";
import { auroc, dice } from "../src/eval/metrics/index.js";
import { train } from "../src/train/trainer.js";
import { resolveConfig } from "../src/udeg/config.js";
import { uncertaintyMeans } from "../src/udeg/prediction.js";
import { UdegPredictor } from "../src/udeg/predictor.js";
import { machine, round, updateBenchmarksMd, writeResults } from "./common.js";
import { epochsFor, REAL_SETS, RECIPE, stringFlag, writeSubset } from "./quality-real.js";

export const CANDIDATES = ["trust", "mean_u", "mask_u", "mean_cos"] as const;
type Candidate = (typeof CANDIDATES)[number];

interface ImageFeatures {
  set: string;
  id: string;
  dice: number | null;
  flagged: boolean;
  /** Higher = less like the training images, for every candidate. */
  scores: Record<Candidate, number>;
}

/** 1 - the largest cosine similarity of `e` to a reference row. */
export function nearestCosineDistance(e: ArrayLike<number>, rows: readonly ArrayLike<number>[]): number {
  const norm = (v: ArrayLike<number>) => {
    let s = 0;
    for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
    return Math.sqrt(s) || 1;
  };
  const ne = norm(e);
  let best = -1;
  for (const r of rows) {
    let dot = 0;
    for (let i = 0; i < e.length; i++) dot += e[i]! * r[i]!;
    best = Math.max(best, dot / (ne * norm(r)));
  }
  return 1 - best;
}

export async function benchTrust(args: string[]): Promise<void> {
  const value = (name: string, dflt: string) => stringFlag(args, name, dflt);
  const root = resolve(value("real", "../shared/data/real"));
  const perSet = Number(value("per-set", "40"));
  const work = mkdtempSync(join(tmpdir(), "udeg-trust-"));
  const t0 = performance.now();
  try {
    const sets = [...REAL_SETS.map((s) => ({ slug: s.slug as string, dir: join(root, s.slug) }))];
    sets.push({ slug: "ITK-brain", dir: bundledBrainData() });
    const subsets = sets.map((s) => {
      const dir = join(work, "data", s.slug);
      const split = writeSubset(s.dir, dir, RECIPE);
      return { ...s, data: dir, epochs: epochsFor(RECIPE, split.train.length) };
    });
    const features: Record<string, ImageFeatures[]> = {};
    for (const own of subsets) {
      console.error(`trust: udeg on ${own.slug} (${own.epochs} epochs), then every set's test images ...`);
      const out = join(work, "runs", own.slug);
      const config = resolveConfig({
        overrides: {
          model: { base: RECIPE.base, imageSize: RECIPE.imageSize },
          train: { epochs: own.epochs, seed: 0 },
        },
      });
      await train({ data: own.data, out, config, progress: false, log: () => {} });
      features[own.slug] = await scoreSets(out, own.slug, subsets, perSet);
      rmSync(out, { recursive: true, force: true });
    }
    report(
      features,
      sets.map((s) => s.slug),
      (performance.now() - t0) / 60000,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Every set's test images (the own set's val too) through the run, as `udeg predict` runs it. */
async function scoreSets(
  run: string,
  own: string,
  subsets: readonly { slug: string; data: string }[],
  perSet: number,
): Promise<ImageFeatures[]> {
  const predictor = await UdegPredictor.load(run);
  try {
    if (!predictor.trust) throw new Error(`${run}: training wrote no trust calibration`);
    const c = predictor.trust.calibration.dims / 2;
    const ownDs = await openDataset(subsets.find((s) => s.slug === own)!.data);
    const reference: Float32Array[] = [];
    for (const ref of ownDs.part("train")) {
      const p = await predictor.predict((await ownDs.load(ref)).image);
      reference.push(p.trustFeature!.subarray(0, c));
    }
    const rows: ImageFeatures[] = [];
    for (const other of subsets) {
      const ds = await openDataset(other.data);
      const parts = other.slug === own ? (["val", "test"] as const) : (["test"] as const);
      for (const part of parts)
        for (const ref of ds
          .part(part)
          .slice(0, part === "test" && other.slug !== own ? perSet : undefined)) {
          const sample = await ds.load(ref);
          const p = await predictor.predict(sample.image);
          const u = uncertaintyMeans(p.labels, p.uncertainty);
          const binary = (a: ArrayLike<number>) => Array.from(a, (v) => Number(v > 0));
          rows.push({
            set: part === "val" ? `${other.slug}:val` : other.slug,
            id: sample.name,
            dice: other.slug === own ? digits(dice(binary(p.labels), binary(sample.mask.data))) : null,
            flagged: p.trust!.flagged,
            scores: {
              trust: digits(p.trust!.distance),
              mean_u: digits(u.mean),
              mask_u: digits(u.meanInMask ?? u.mean),
              mean_cos: digits(nearestCosineDistance(p.trustFeature!.subarray(0, c), reference)),
            },
          });
        }
    }
    return rows;
  } finally {
    await predictor.release();
  }
}

/** Six significant digits: the per-image file stays small, the AUROCs do not move. */
const digits = (v: number) => Number(v.toPrecision(6));

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, v) => a + v, 0) / xs.length : Number.NaN);

function report(features: Record<string, ImageFeatures[]>, sets: string[], minutes: number): void {
  const matrix: Record<Candidate, Record<string, Record<string, number | null>>> = Object.fromEntries(
    CANDIDATES.map((c) => [c, {}]),
  ) as never;
  for (const c of CANDIDATES)
    for (const own of sets) {
      matrix[c][own] = {};
      const rows = features[own] ?? [];
      const inDomain = rows.filter((r) => r.set === own).map((r) => r.scores[c]);
      for (const other of sets) {
        if (other === own) continue;
        const ood = rows.filter((r) => r.set === other).map((r) => r.scores[c]);
        const a = auroc([...inDomain, ...ood], [...inDomain.map(() => 0), ...ood.map(() => 1)]);
        matrix[c][own]![other] = Number.isNaN(a) ? null : a;
      }
    }
  const summary = CANDIDATES.map((c) => {
    const all = Object.values(matrix[c]).flatMap((r) =>
      Object.values(r).filter((v): v is number => v !== null),
    );
    return { candidate: c, mean: mean(all), min: Math.min(...all) };
  });
  const flags = sets.map((own) => {
    const rows = features[own] ?? [];
    const inDomain = rows.filter((r) => r.set === own);
    const ood = rows.filter((r) => !r.set.includes(":") && r.set !== own);
    const flagged = inDomain.filter((r) => r.flagged);
    return {
      set: own,
      inDomain: inDomain.length,
      falseAlarms: flagged.length,
      oodFlagged: ood.filter((r) => r.flagged).length,
      ood: ood.length,
      diceFlagged: flagged.length ? mean(flagged.map((r) => r.dice!)) : null,
      diceOthers: mean(inDomain.filter((r) => !r.flagged).map((r) => r.dice!)),
    };
  });
  const sum = (k: "inDomain" | "falseAlarms" | "oodFlagged" | "ood") => flags.reduce((a, f) => a + f[k], 0);
  const pooled = {
    falseAlarmRate: sum("falseAlarms") / sum("inDomain"),
    oodFlaggedRate: sum("oodFlagged") / sum("ood"),
  };
  const file = {
    matrix,
    summary,
    flags,
    pooled,
    features,
    minutes: round(minutes, 1),
    machine: machine(),
    date: new Date().toISOString(),
  };
  writeResults("bench/results/trust-features.json", file);
  const head = `| model trained on | ${sets.join(" | ")} |\n|---|${sets.map(() => "---").join("|")}|`;
  const lines = sets.map(
    (own) =>
      `| ${own} | ${sets.map((o) => (o === own ? "-" : (matrix.trust[own]![o]?.toFixed(3) ?? "n/a"))).join(" | ")} |`,
  );
  const f3 = (v: number | null) => (v === null ? "-" : v.toFixed(3));
  updateBenchmarksMd(
    "trust",
    `## Trust flag: telling other sets' images from the training set's (\`npm run bench -- trust\`)

${file.machine}. udeg trained on each set as the real-image quality benchmark trains it (seed 0; the
flag calibrated when training ends), then the own set's test images and at most 40 test images of
each other set predicted as \`udeg predict\` does. ${file.minutes} min.

| score | mean AUROC over the pairs | lowest pair |
|---|---|---|
${summary.map((s) => `| ${s.candidate === "trust" ? "**trust (udeg's flag)**" : s.candidate} | ${s.mean.toFixed(3)} | ${s.min.toFixed(3)} |`).join("\n")}

The flag (trust < 0.05): in-domain test images flagged (false alarms) and the Dice of flagged
against unflagged ones; other sets' images flagged.

| model trained on | in-domain flagged | Dice flagged / not | other sets flagged |
|---|---|---|---|
${flags.map((f) => `| ${f.set} | ${f.falseAlarms} of ${f.inDomain} | ${f3(f.diceFlagged)} / ${f3(f.diceOthers)} | ${f.oodFlagged} of ${f.ood} |`).join("\n")}
| **all** | **${(100 * pooled.falseAlarmRate).toFixed(1)} %** | | **${(100 * pooled.oodFlaggedRate).toFixed(1)} %** |

AUROC of the trust score per pair (rows: the model's set; columns: the other set):

${head}
${lines.join("\n")}

Date: ${file.date}.`,
  );
}
