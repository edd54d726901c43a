// `udeg demo`: what UDEG-Net does, on a laptop, in minutes, with nothing downloaded. LoRA-adapts
// the bundled base on three small real sets it never saw (fetal head ultrasound from HC18,
// colonoscopy polyps from Kvasir-SEG, brain MRI slices from the ITK examples; assets/data, each
// with its SOURCE.txt), trains the ablations beside it, evaluates everything and writes one
// self-contained report.html that also says what the base was pretrained on.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { openDataset } from "../data/dataset.js";
import { evaluateRun } from "../eval/evaluate-run.js";
import { METRIC_NAMES } from "../eval/metrics/index.js";
import type { DemoReport, ReportDomain, ReportExample, ReportRun } from "../eval/report.js";
import { writeReport } from "../eval/report.js";
import { packageAsset, packageRoot } from "../io/package-files.js";
import { readBaseManifest } from "../train/base.js";
import { train } from "../train/trainer.js";
import { ConfigError, DEFAULT_BASE, type PresetName, resolveConfig } from "../udeg/config.js";
import { UdegPredictor } from "../udeg/predictor.js";
import { isStartedRun, readRunLog, readRunSummary } from "../udeg/run-folder.js";

export interface DemoOptions {
  /** Output folder (default ./demo). */
  out: string;
  /** Epochs per training run (default 12). */
  epochs: number;
  /** Presets to train per domain; the first is the one whose images are shown. */
  presets: PresetName[];
  /** Test images shown per domain. */
  examples: number;
  log: (line: string) => void;
  progress: boolean;
}

export const DEFAULT_DEMO: Omit<DemoOptions, "log"> = {
  out: "demo",
  epochs: 30,
  presets: ["udeg", "samed", "no-edge", "no-fine"],
  examples: 3,
  progress: true,
};

/** A data set bundled with the package (assets/data/NAME, with its split.json and SOURCE.txt). */
export function bundledData(name: string): string {
  const dir = packageAsset(["data", name], "split.json");
  if (dir) return dir;
  throw new Error(`the bundled data set assets/data/${name} is missing from the package: reinstall it`);
}

/** The ITK brain slices bundled with the package (assets/data). */
export function bundledBrainData(): string {
  return bundledData("itk-t1-brain");
}

export interface DemoDataset {
  /** Folder name of its runs. */
  slug: string;
  name: string;
  description: string;
  data: string;
}

/**
 * The demo's data, all bundled and all real: small subsets of HC18 and Kvasir-SEG (CC BY 4.0,
 * taken from their test parts by scripts/demo-data.ts) and the ITK brain slices.
 */
export function demoDatasets(): DemoDataset[] {
  return [
    {
      slug: "hc18",
      name: "Fetal head ultrasound (HC18)",
      description:
        "40 images of the HC18 challenge (Radboud UMC; van den Heuvel et al., PLoS ONE 2018; CC BY 4.0): the fetal skull's blurred, partly missing outline in speckle.",
      data: bundledData("hc18-demo"),
    },
    {
      slug: "kvasir",
      name: "Colonoscopy polyps (Kvasir-SEG)",
      description:
        "40 images of Kvasir-SEG (Vestre Viken; Jha et al., MMM 2020; CC BY 4.0 in HyperKvasir): polyps whose edges fade into the mucosa, in colour.",
      data: bundledData("kvasir-demo"),
    },
    {
      slug: "itk-brain",
      name: "ITK brain MRI",
      description: "Real T1-weighted MRI slices with brain masks (Insight Toolkit example data, Apache-2.0).",
      data: bundledBrainData(),
    },
  ];
}

/** What the bundled base was pretrained on (its manifest), for the report. */
function baseProvenance(): string {
  const dir = packageAsset(["bases", DEFAULT_BASE], "manifest.json");
  if (!dir) return "The bundled base's manifest is missing.";
  const m = readBaseManifest(dir);
  return (
    `What the bundled "${DEFAULT_BASE}" base saw in pretraining (its manifest): ${m.data}. ` +
    "The demo's HC18 and Kvasir-SEG images come from those sets' test parts (scripts/demo-data.ts), which pretraining never reads."
  );
}

function curves(runDir: string): { lossCurve: ReportRun["lossCurve"]; valCurve: ReportRun["valCurve"] } {
  const lines = readRunLog(runDir);
  const valCurve: ReportRun["valCurve"] = [];
  for (const r of lines)
    if (r.type === "epoch" && typeof r.val_dice === "number")
      valCurve.push({ epoch: r.epoch + 1, dice: r.val_dice });
  return {
    lossCurve: lines.filter((r) => r.type === "step").map((r) => ({ step: r.step, loss: r.loss })),
    valCurve,
  };
}

async function examplesOf(runDir: string, data: string, count: number): Promise<ReportExample[]> {
  const predictor = await UdegPredictor.load(runDir);
  const ds = await openDataset(data, { seed: predictor.config.train.seed, input: predictor.config.input });
  const test = ds.part("test");
  // Spread the examples over the test split (first, middle, last, ...).
  const picks = Array.from(
    { length: Math.min(count, test.length) },
    (_, i) => test[Math.floor((i * (test.length - 1)) / Math.max(1, count - 1))]!,
  );
  const out: ReportExample[] = [];
  for (const ref of picks) {
    const s = await ds.load(ref);
    const p = await predictor.predict(s.image);
    const n = p.width * p.height;
    const rgb = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++)
      for (let c = 0; c < 3; c++) rgb[i * 3 + c] = Math.round(s.image.data[c * n + i]!);
    out.push({
      name: s.name,
      width: p.width,
      height: p.height,
      image: rgb,
      gt: s.mask.data.map((v) => (v > 0 ? 1 : 0)),
      pred: p.labels.map((v) => (v > 0 ? 1 : 0)),
      edge: p.edge,
      uncertainty: p.uncertainty,
    });
  }
  return out;
}

/**
 * The U-Net peer's row for a demo data set, from the package's last `npm run bench -- quality-smoke`
 * (bench/results/quality.json: the same data, split, epochs and batches; PyTorch cannot run in
 * the demo, which needs no Python), or null when that file lacks it or used other epochs.
 */
export function unetReference(
  slug: string,
  epochs: number,
  path = join(packageRoot(), "bench", "results", "quality.json"),
): ReportRun | null {
  if (!existsSync(path)) return null;
  const q = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown> & { epochs?: number };
  const r = (q[slug] as Record<string, Record<string, number | null>> | undefined)?.unet;
  if (!r || q.epochs !== epochs) return null;
  const metric = (k: string) => (typeof r[k] === "number" ? (r[k] as number) : null);
  return {
    preset: "U-Net (peer)",
    metrics: Object.fromEntries(METRIC_NAMES.map((k) => [k, metric(k)])) as ReportRun["metrics"],
    lossCurve: [],
    valCurve: [],
    seconds: metric("train_seconds") ?? Number.NaN,
    reference:
      `a plain 2-D U-Net in PyTorch on the same split, epochs and batches, from \`npm run bench -- quality-smoke\` ` +
      `(${String(q.machine ?? "")}, ${String(q.date ?? "").slice(0, 10)}); not trained by this demo`,
  };
}

/** The demo's settings: `udeg train`'s defaults on the bundled base; only the epochs vary. */
export function demoOverrides(preset: PresetName, epochs: number): Record<string, unknown> {
  return { preset, model: { base: DEFAULT_BASE }, train: { epochs } };
}

export async function runDemo(o: DemoOptions): Promise<string> {
  const t0 = performance.now();
  const log = o.log;
  // Every preset is checked before anything trains: a typo in the last one fails in a second,
  // not after the others have trained for minutes.
  if (o.presets.length === 0) throw new ConfigError("--presets: give at least one preset");
  for (const preset of o.presets) resolveConfig({ overrides: demoOverrides(preset, o.epochs) });
  mkdirSync(o.out, { recursive: true });
  const domains = demoDatasets();
  const total = domains.length * o.presets.length;
  let k = 0;
  const reportDomains: ReportDomain[] = [];
  for (const domain of domains) {
    const runs: ReportRun[] = [];
    let reliability: ReportDomain["reliability"] = [];
    let examples: ReportExample[] = [];
    for (const preset of o.presets) {
      k++;
      const runDir = join(o.out, "runs", domain.slug, preset);
      let summary = readRunSummary(runDir);
      if (summary) {
        log(`[${k}/${total}] ${domain.name} / ${preset}: already trained, reusing ${runDir}`);
      } else {
        log(
          `[${k}/${total}] ${domain.name} / ${preset}: LoRA-adapting the ${DEFAULT_BASE} base for ${o.epochs} epochs ...`,
        );
        const config = resolveConfig({ overrides: demoOverrides(preset, o.epochs) });
        summary = await train({
          data: domain.data,
          out: runDir,
          config,
          resume: isStartedRun(runDir),
          progress: o.progress,
          log: () => {},
        });
      }
      const ev = await evaluateRun(
        { model: runDir, data: domain.data, split: "test", quiet: true },
        () => {},
      );
      const m = ev.summary.mean;
      log(
        `    test Dice ${m.dice?.toFixed(4)}  HD95 ${m.hd95?.toFixed(2)} px  BF@1px ${m.bf1?.toFixed(3)}  AUROC(u) ${m.auroc_u?.toFixed(3) ?? "n/a"}  (${summary.seconds.toFixed(0)} s)`,
      );
      runs.push({
        preset,
        metrics: m,
        ...curves(runDir),
        keptEpoch: summary.bestEpoch ?? null,
        seconds: summary.seconds,
      });
      if (preset === o.presets[0]) {
        reliability =
          ev.summary.pooled?.reliability.map((b) => ({
            ...b,
            confidence: b.confidence ?? 0,
            accuracy: b.accuracy ?? 0,
          })) ?? [];
        examples = await examplesOf(runDir, domain.data, o.examples);
      }
    }
    const peer = unetReference(domain.slug, o.epochs);
    if (peer) runs.push(peer);
    reportDomains.push({ name: domain.name, description: domain.description, runs, examples, reliability });
  }
  const report: DemoReport = {
    title: "UDEG-Net demo",
    createdAt: new Date().toISOString(),
    machine: `${cpus()[0]?.model ?? "CPU"}, ${cpus().length} cores, Node ${process.version}`,
    command: "udeg demo",
    totalSeconds: (performance.now() - t0) / 1000,
    notes: [
      `Each run LoRA-adapts (all linears, rank 8: \`udeg train\`'s defaults) the bundled "${DEFAULT_BASE}" base (a small SAM-architecture model pretrained by \`udeg pretrain\` on phantoms and the train parts of real sets) for ${o.epochs} epochs at 128 px, keeping the epoch with the best Dice on the val part (held out of train).`,
      "samed = LoRA + cross-entropy + Dice only (SAM's own decoder); no-edge = without the edge prompt generator; no-fine = without the pixel-precise decoding path.",
      baseProvenance(),
    ],
    domains: reportDomains,
  };
  const path = join(o.out, "report.html");
  await writeReport(path, report);
  return path;
}
