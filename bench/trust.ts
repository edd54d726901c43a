// The trust flag's measurement (`npm run bench -- trust`, issue 28): which per-image score tells
// an image unlike the training data from one like it. For each of the seven real sets and the
// ITK brain slices, udeg is trained as the quality benchmark trains it (seed 0, the same subset
// and image-steps), then every set's test images (at most --per-set of each) go through that
// model, and candidate scores are computed from what `udeg predict` already runs (no extra pass):
//   mean_u      mean evidential uncertainty u = K/S over the image
//   mask_u      mean u inside the predicted mask (mean_u where the mask is empty)
//   embed_diag  the image embedding's distance to the training images' (per channel z-scores,
//               mean of squares: a diagonal Mahalanobis distance)
//   embed_knn   1 - cosine similarity to the nearest training image's embedding (kNN, k = 1)
// For each score and each pair (model's set, other set): the AUROC of telling the other set's
// test images from the model's own; and per image the Dice on the own set, so that which images a
// threshold flags can be weighed against how well they were segmented. Every image's features
// are kept in bench/results/trust-features.json to choose a calibration without retraining.
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

export const CANDIDATES = ["mean_u", "mask_u", "embed_diag", "embed_knn"] as const;
type Candidate = (typeof CANDIDATES)[number];

interface ImageFeatures {
  set: string;
  id: string;
  dice: number | null;
  scores: Record<Candidate, number>;
}

/** Per channel mean and variance of reference embeddings (rows). */
export function embeddingStats(rows: Float32Array[]): { mean: Float64Array; variance: Float64Array } {
  const c = rows[0]!.length;
  const mean = new Float64Array(c);
  const variance = new Float64Array(c);
  for (const r of rows) for (let i = 0; i < c; i++) mean[i]! += r[i]! / rows.length;
  for (const r of rows) for (let i = 0; i < c; i++) variance[i]! += (r[i]! - mean[i]!) ** 2 / rows.length;
  return { mean, variance };
}

/** Mean squared per-channel z-score of `e` against `stats` (a floor keeps dead channels finite). */
export function diagonalDistance(
  e: Float32Array,
  stats: { mean: Float64Array; variance: Float64Array },
): number {
  let floor = 0;
  for (const v of stats.variance) floor += v / stats.variance.length;
  floor = Math.max(floor * 1e-2, 1e-12);
  let d = 0;
  for (let i = 0; i < e.length; i++) d += (e[i]! - stats.mean[i]!) ** 2 / (stats.variance[i]! + floor);
  return d / e.length;
}

/** 1 - the largest cosine similarity of `e` to a reference row. */
export function nearestCosineDistance(e: Float32Array, rows: Float32Array[]): number {
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((a, x) => a + x * x, 0)) || 1;
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
      const predictor = await UdegPredictor.load(out);
      const ownDs = await openDataset(own.data);
      const reference: Float32Array[] = [];
      for (const ref of ownDs.part("train")) {
        const p = await predictor.predict((await ownDs.load(ref)).image);
        reference.push(p.embedding!);
      }
      const stats = embeddingStats(reference);
      const rows: ImageFeatures[] = [];
      for (const other of subsets) {
        const ds = await openDataset(other.data);
        const parts = other.slug === own.slug ? (["val", "test"] as const) : (["test"] as const);
        for (const part of parts)
          for (const ref of ds
            .part(part)
            .slice(0, part === "test" && other.slug !== own.slug ? perSet : undefined)) {
            const sample = await ds.load(ref);
            const p = await predictor.predict(sample.image);
            const u = uncertaintyMeans(p.labels, p.uncertainty);
            rows.push({
              set: part === "val" ? `${other.slug}:val` : other.slug,
              id: sample.name,
              dice:
                other.slug === own.slug
                  ? dice(
                      p.labels.map((v) => Number(v > 0)),
                      sample.mask.data.map((v) => Number(v > 0)),
                    )
                  : null,
              scores: {
                mean_u: u.mean,
                mask_u: u.meanInMask ?? u.mean,
                embed_diag: diagonalDistance(p.embedding!, stats),
                embed_knn: nearestCosineDistance(p.embedding!, reference),
              },
            });
          }
      }
      await predictor.release();
      features[own.slug] = rows;
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
        const scores = [...inDomain, ...ood];
        const labels = [...inDomain.map(() => 0), ...ood.map(() => 1)];
        const a = auroc(scores, labels);
        matrix[c][own]![other] = Number.isNaN(a) ? null : a;
      }
    }
  const summary = CANDIDATES.map((c) => {
    const all = Object.values(matrix[c]).flatMap((r) =>
      Object.values(r).filter((v): v is number => v !== null),
    );
    return { candidate: c, mean: all.reduce((a, v) => a + v, 0) / all.length, min: Math.min(...all) };
  });
  const file = {
    matrix,
    summary,
    features,
    minutes: round(minutes, 1),
    machine: machine(),
    date: new Date().toISOString(),
  };
  writeResults("bench/results/trust-features.json", file);
  const best = [...summary].sort((a, b) => b.mean - a.mean)[0]!;
  const head = `| model trained on | ${sets.join(" | ")} |\n|---|${sets.map(() => "---").join("|")}|`;
  const lines = sets.map(
    (own) =>
      `| ${own} | ${sets.map((o) => (o === own ? "-" : (matrix[best.candidate][own]![o]?.toFixed(3) ?? "n/a"))).join(" | ")} |`,
  );
  updateBenchmarksMd(
    "trust",
    `## Trust: telling other sets' images from the training set's (\`npm run bench -- trust\`)

${file.machine}. udeg trained on each set as the real-image quality benchmark trains it (seed 0); AUROC of each candidate score
at telling another set's test images (at most 40 each) from the model's own set's test images. ${file.minutes} min.

| score | mean AUROC over the pairs | lowest pair |
|---|---|---|
${summary.map((s) => `| ${s.candidate} | ${s.mean.toFixed(3)} | ${s.min.toFixed(3)} |`).join("\n")}

The best, ${best.candidate}, per pair (rows: the model's set; columns: the other set):

${head}
${lines.join("\n")}

Date: ${file.date}.`,
  );
}
