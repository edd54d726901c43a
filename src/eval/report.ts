// The demo report: ONE self-contained HTML file a newcomer opens to see what UDEG-Net does.
//
// Everything is inline: pictures are PNG data: URIs, plots are inline SVG (Vega-Lite rendered
// headlessly, see plots.ts), the CSS is in a <style> element, there is no script and no font or
// file from anywhere else, so the page works offline and from any folder. Every piece of text that
// comes from the caller is HTML-escaped.
//
// Per domain: an image grid (rows = examples; columns = image, ground truth, prediction, edge map,
// uncertainty map with its colour bar), a metrics table (rows = presets, best value per column in
// bold; the ablations are simply the other presets' rows), training curves (loss vs step for every
// preset, validation Dice vs epoch) and the reliability diagram of the udeg preset.

import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { writeFileAtomic } from "../io/atomic.js";
import { dice, type MetricName } from "./metrics/index.js";
import {
  colourBarSvg,
  eceOfBins,
  FONT_STACK,
  inlineSvg,
  type LineSeries,
  lineChartSvg,
  reliabilitySvg,
} from "./plots.js";
import {
  type ExampleTiles,
  exampleTiles,
  GT_COLOUR,
  greyColour,
  heatColour,
  niceMax,
  PRED_COLOUR,
} from "./report-images.js";

export { svgToPng } from "./plots.js";

/** One example of the test split, as predicted by the udeg preset. Arrays are row-major [H, W]. */
export interface ReportExample {
  name: string;
  width: number;
  height: number;
  /** RGB interleaved, 8-bit (length H W 3). */
  image: Uint8Array | ArrayLike<number>;
  /** Ground-truth mask, non-zero = foreground. */
  gt: Uint8Array | ArrayLike<number>;
  /** Predicted mask, non-zero = foreground. */
  pred: Uint8Array | ArrayLike<number>;
  /** Edge probability, 0..1. */
  edge: Float32Array | ArrayLike<number>;
  /** Uncertainty, 0..1 (evidential u = K / S). */
  uncertainty: Float32Array | ArrayLike<number>;
}

export interface ReportRun {
  /** "udeg" | "samed" | "no-edge" | "no-evidential" | ... */
  preset: string;
  /** Every metric of `udeg eval` (METRIC_NAMES), null where not computed. */
  metrics: Record<MetricName, number | null>;
  lossCurve: { step: number; loss: number }[];
  valCurve: { epoch: number; dice: number }[];
  /** The epoch whose model the run kept (RunSummary.bestEpoch), ringed on its val curve. */
  keptEpoch?: number | null;
  /** Training time. */
  seconds: number;
  /**
   * A row measured elsewhere for reference (the U-Net peer of `npm run bench -- quality`): where
   * and how, shown under its name. Such rows have no curves.
   */
  reference?: string;
}

export interface ReportDomain {
  name: string;
  description: string;
  runs: ReportRun[];
  /** Examples from the udeg preset. */
  examples: ReportExample[];
  /** Reliability bins of the udeg preset, pooled over the test split; empty bins (count 0) are skipped. */
  reliability: {
    lower: number;
    upper: number;
    confidence: number | null;
    accuracy: number | null;
    count: number;
  }[];
}

export interface DemoReport {
  title: string;
  /** ISO 8601 time. */
  createdAt: string;
  machine: string;
  command: string;
  totalSeconds: number;
  /** Short paragraphs; `code` in backticks is shown as code. */
  notes: string[];
  domains: ReportDomain[];
}

// ----------------------------------------------------------------------------------------------
// text

/** HTML-escapes text for element content and (double-quoted) attribute values. */
export function escapeHtml(s: string): string {
  return String(s)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** Escaped text in which `backticked` spans become <code>. */
function richText(s: string): string {
  return escapeHtml(s).replace(/`([^`]+)`/g, "<code>$1</code>");
}

/** "45 s", "3 min 05 s", "1 h 02 min". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "n/a";
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

function formatDate(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

// ----------------------------------------------------------------------------------------------
// presets and metrics

/** What the known presets are, for the metrics table. */
export const PRESET_INFO: Record<string, string> = {
  udeg: "full UDEG-Net: LoRA, edge prompts, evidential outputs, uncertainty-driven losses",
  samed: "SAMed baseline: LoRA + cross-entropy + Dice, no edge prompts, softmax outputs",
  "no-edge": "UDEG-Net without the edge prompt generator",
  "no-fine": "UDEG-Net without the pixel-precise decoding path (masks from SAM's 4x token grid)",
  "no-evidential": "UDEG-Net with softmax instead of Dirichlet (evidential) outputs",
  "no-progressive": "UDEG-Net without the progressive uncertainty-driven edge loss",
  "no-calibration": "UDEG-Net without the accuracy-versus-uncertainty calibration loss",
};

const PALETTE = [
  "#4c78a8",
  "#f58518",
  "#54a24b",
  "#b279a2",
  "#72b7b2",
  "#9d755d",
  "#eeca3b",
  "#ff9da6",
  "#79706e",
];
const FIXED_COLOURS: Record<string, string> = {
  udeg: "#e45756",
  samed: "#4c78a8",
  "no-edge": "#f58518",
  "no-evidential": "#54a24b",
};

/** One colour per preset name, stable across a report (udeg is always red). */
function presetColours(presets: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const taken = new Set<string>();
  for (const p of presets) {
    const fixed = FIXED_COLOURS[p];
    if (fixed !== undefined && !out.has(p)) {
      out.set(p, fixed);
      taken.add(fixed);
    }
  }
  let k = 0;
  for (const p of presets) {
    if (out.has(p)) continue;
    while (k < PALETTE.length - 1 && taken.has(PALETTE[k]!)) k++;
    out.set(p, PALETTE[k % PALETTE.length]!);
    taken.add(PALETTE[k % PALETTE.length]!);
    k++;
  }
  return out;
}

type MetricKey = keyof ReportRun["metrics"];

interface Column {
  key: MetricKey | "seconds";
  label: string;
  better: "higher" | "lower";
  digits: number;
  help: string;
}

const COLUMNS: Column[] = [
  { key: "dice", label: "Dice", better: "higher", digits: 3, help: "overlap with the ground truth, 0..1" },
  { key: "iou", label: "IoU", better: "higher", digits: 3, help: "intersection over union, 0..1" },
  {
    key: "sensitivity",
    label: "Sensitivity",
    better: "higher",
    digits: 3,
    help: "share of the true foreground found, 0..1 (low: under-segmented)",
  },
  {
    key: "precision",
    label: "Precision",
    better: "higher",
    digits: 3,
    help: "share of the predicted foreground that is right, 0..1 (low: over-segmented)",
  },
  {
    key: "hd95",
    label: "HD95",
    better: "lower",
    digits: 2,
    help: "95th-percentile boundary distance (pixels unless the data set gives a spacing)",
  },
  { key: "assd", label: "ASSD", better: "lower", digits: 2, help: "average symmetric boundary distance" },
  {
    key: "bf1",
    label: "BF@1px",
    better: "higher",
    digits: 3,
    help: "boundary F-score: share of each contour within 1 pixel of the other, 0..1",
  },
  {
    key: "bf2",
    label: "BF@2px",
    better: "higher",
    digits: 3,
    help: "boundary F-score at 2 pixels tolerance, 0..1",
  },
  {
    key: "ece",
    label: "ECE",
    better: "lower",
    digits: 4,
    help: "expected calibration error: confidence vs accuracy gap",
  },
  {
    key: "auroc_u",
    label: "AUROC(u)",
    better: "higher",
    digits: 3,
    help: "how well the uncertainty finds the wrong pixels (0.5 = chance)",
  },
  {
    key: "ueo",
    label: "UEO",
    better: "higher",
    digits: 3,
    help: "overlap between uncertain and wrong pixels",
  },
  { key: "seconds", label: "Training time", better: "lower", digits: 0, help: "wall-clock training time" },
];

function cellValue(run: ReportRun, key: Column["key"]): number | null {
  const v = key === "seconds" ? run.seconds : run.metrics[key];
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function metricsTable(domain: ReportDomain, colours: Map<string, string>): string {
  const best = new Map<Column["key"], number>();
  for (const c of COLUMNS) {
    const vals = domain.runs.map((r) => cellValue(r, c.key)).filter((v): v is number => v !== null);
    if (domain.runs.length > 1 && vals.length > 0)
      best.set(c.key, c.better === "higher" ? Math.max(...vals) : Math.min(...vals));
  }
  const head = COLUMNS.map(
    (c) =>
      `<th scope="col" title="${escapeHtml(`${c.help}; ${c.better} is better`)}">${escapeHtml(c.label)}` +
      `<span class="dir" aria-label="${c.better} is better">${c.better === "higher" ? "↑" : "↓"}</span></th>`,
  ).join("");
  const rows = domain.runs.map((r) => {
    const info = r.reference ?? PRESET_INFO[r.preset];
    const cells = COLUMNS.map((c) => {
      const v = cellValue(r, c.key);
      if (v === null) return '<td class="na" title="not defined for this run">–</td>';
      const text = c.key === "seconds" ? formatDuration(v) : v.toFixed(c.digits);
      const isBest = best.get(c.key) === v;
      return isBest
        ? `<td class="best"><strong>${escapeHtml(text)}</strong></td>`
        : `<td>${escapeHtml(text)}</td>`;
    }).join("");
    const swatch = `<span class="swatch" style="background:${colours.get(r.preset) ?? "#999"}"></span>`;
    const tag = r.preset === "udeg" ? ' <span class="tag">full model</span>' : "";
    const sub = info ? `<span class="sub">${escapeHtml(info)}</span>` : "";
    return `<tr${r.preset === "udeg" ? ' class="main"' : ""}><th scope="row">${swatch}<span class="preset">${escapeHtml(r.preset)}</span>${tag}${sub}</th>${cells}</tr>`;
  });
  return (
    `<div class="table-wrap"><table class="metrics">` +
    `<caption>Test-split metrics, mean over the test images; hover a column title for what it measures. Best value per column in <strong>bold</strong>; ↑ higher is better, ↓ lower is better.</caption>` +
    `<thead><tr><th scope="col">Preset</th>${head}</tr></thead><tbody>${rows.join("")}</tbody></table></div>`
  );
}

// ----------------------------------------------------------------------------------------------
// sections

function imageGrid(domain: ReportDomain, index: number): string {
  if (domain.examples.length === 0) return '<p class="empty">No examples were recorded for this domain.</p>';
  let uMax = 0;
  for (const ex of domain.examples) {
    for (let i = 0; i < ex.uncertainty.length; i++) {
      const v = ex.uncertainty[i]!;
      if (Number.isFinite(v) && v > uMax) uMax = v;
    }
  }
  const vmax = niceMax(uMax);
  const tiles: ExampleTiles[] = domain.examples.map((ex) => exampleTiles(ex, vmax));
  const rgb = (c: readonly number[]) => `rgb(${c.join(",")})`;
  const header =
    `<div class="col-head">Image</div>` +
    `<div class="col-head">Ground truth <span class="key" style="background:${rgb(GT_COLOUR)}"></span></div>` +
    `<div class="col-head">Prediction <span class="key" style="background:${rgb(PRED_COLOUR)}"></span></div>` +
    `<div class="col-head">Edge map${colourBarSvg(greyColour, { min: 0, max: 1, label: "edge probability 0 to 1", digits: 1, id: `edge-bar-${index}` })}</div>` +
    `<div class="col-head">Uncertainty${colourBarSvg(heatColour, { min: 0, max: vmax, label: `uncertainty 0 to ${vmax}`, digits: vmax < 0.1 ? 3 : 2, id: `u-bar-${index}` })}</div>`;
  const rows = domain.examples.map((ex, i) => {
    const t = tiles[i]!;
    const d = dice(ex.pred, ex.gt);
    const alt = (what: string) => escapeHtml(`${ex.name}: ${what}`);
    const img = (src: string, what: string) =>
      `<img src="${src}" width="${t.width}" height="${t.height}" alt="${alt(what)}" title="${alt(what)}">`;
    return (
      `<div class="ex-name"><span>${escapeHtml(ex.name)}</span><span class="ex-score">${ex.width} × ${ex.height} px · Dice ${d.toFixed(3)}</span></div>` +
      img(t.image, "image") +
      img(t.gt, "ground truth") +
      img(t.pred, "prediction") +
      img(t.edge, "edge map") +
      img(t.uncertainty, "uncertainty map")
    );
  });
  return `<div class="grid">${header}${rows.join("")}</div>`;
}

async function curves(domain: ReportDomain, colours: Map<string, string>): Promise<string> {
  const trained = domain.runs.filter((r) => !r.reference);
  const loss: LineSeries[] = trained.map((r) => ({
    name: r.preset,
    colour: colours.get(r.preset)!,
    points: r.lossCurve.map((p) => ({ x: p.step, y: p.loss })),
  }));
  const val: LineSeries[] = trained.map((r) => {
    const points = r.valCurve.map((p) => ({ x: p.epoch, y: p.dice }));
    return {
      name: r.preset,
      colour: colours.get(r.preset)!,
      points,
      marked: points.find((p) => p.x === r.keptEpoch),
    };
  });
  const ys = loss.flatMap((s) => s.points.map((p) => p.y)).filter((y) => Number.isFinite(y));
  const positive = ys.length > 0 && ys.every((y) => y > 0);
  const spread = positive ? Math.max(...ys) / Math.min(...ys) : 1;
  const lossSvg = await lineChartSvg({
    title: "Training loss",
    xTitle: "step",
    yTitle: spread > 20 ? "loss (log scale)" : "loss",
    series: loss,
    smoothed: true,
    yScale: spread > 20 ? "log" : "linear",
  });
  const valSvg = await lineChartSvg({
    title: "Validation Dice (val part, held out of train)",
    xTitle: "epoch",
    yTitle: "Dice",
    series: val,
    points: true,
    xInteger: true,
  });
  return (
    `<figure class="plot-card">${inlineSvg(lossSvg, `${domain.name}: training loss against step for every preset`, "plot curve-loss")}` +
    `<figcaption>Per-step loss; faint: raw, solid: smoothed. Presets have different loss terms, so compare shapes, not heights.</figcaption></figure>` +
    `<figure class="plot-card">${inlineSvg(valSvg, `${domain.name}: validation Dice against epoch for every preset`, "plot curve-val")}` +
    `<figcaption>Dice on the validation split after each epoch; ringed: the epoch whose model each preset kept (and was tested).</figcaption></figure>`
  );
}

async function reliability(domain: ReportDomain): Promise<string> {
  const bins = domain.reliability.filter((b) => b.count > 0);
  if (bins.length === 0) return '<p class="empty">No reliability data were recorded for this domain.</p>';
  const ece = eceOfBins(bins);
  const svg = await reliabilitySvg(bins, { title: "Reliability diagram (udeg)" });
  const pixels = bins.reduce((s, b) => s + b.count, 0);
  return (
    `<figure class="plot-card wide">${inlineSvg(svg, `${domain.name}: reliability diagram of the udeg preset`, "plot reliability")}` +
    `<figcaption>` +
    (ece === null ? "" : `<p class="big">ECE <strong>${ece.toFixed(4)}</strong></p>`) +
    `<p>Is the model's confidence honest? All ${escapeHtml(pixels.toLocaleString("en-US"))} test pixels of the udeg preset are pooled and grouped by the confidence of the predicted class.</p>` +
    `<p><span class="key" style="background:#4c78a8"></span>Blue bars: how often the predicted class is right in each group.</p>` +
    `<p><span class="key" style="background:#f1a19c;outline:1.2px solid #d1372f"></span>Red boxes: the gap between that and the group's mean confidence.</p>` +
    `<p>Bars that reach the dashed diagonal mean "90% sure" is right 90% of the time. ECE is the pixel-weighted mean gap. The grey histogram counts the pixels per group (most pixels of a segmentation are confidently right).</p>` +
    `</figcaption></figure>`
  );
}

function slug(s: string, i: number): string {
  const base = s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return `d${i + 1}${base ? `-${base}` : ""}`;
}

async function domainSection(domain: ReportDomain, i: number): Promise<string> {
  const colours = presetColours(domain.runs.map((r) => r.preset));
  const id = slug(domain.name, i);
  const runs = domain.runs.length;
  return (
    `<section class="domain" id="${escapeHtml(id)}" aria-labelledby="${escapeHtml(id)}-h">` +
    `<h2 id="${escapeHtml(id)}-h">${escapeHtml(domain.name)}</h2>` +
    `<p class="lead">${richText(domain.description)}</p>` +
    `<h3>What the model sees and says</h3>` +
    `<p class="hint">Test images segmented by the full model (udeg preset). Prediction: the model's mask, drawn as a contour over the image. Edge map: the edge prompt generator's output. Uncertainty: bright = the model is unsure; it should light up where the prediction is wrong.</p>` +
    imageGrid(domain, i) +
    `<h3>How the presets compare</h3>` +
    (runs > 0
      ? metricsTable(domain, colours)
      : '<p class="empty">No runs were recorded for this domain.</p>') +
    `<h3>Training and calibration</h3>` +
    `<div class="plots">${runs > 0 ? await curves(domain, colours) : ""}${await reliability(domain)}</div>` +
    `</section>`
  );
}

// ----------------------------------------------------------------------------------------------
// page

const CSS = `
:root { --ink:#1d2128; --muted:#5b6270; --line:#e3e6eb; --bg:#f5f6f8; --card:#ffffff; --accent:#c73a3a; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 15px/1.55 ${FONT_STACK}; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 28px 56px; }
header.top { background: #1f2430; color: #eef0f4; }
header.top .inner { max-width: 1180px; margin: 0 auto; padding: 28px 28px 24px; }
header.top h1 { margin: 0 0 8px; font-size: 28px; letter-spacing: -0.01em; }
header.top p.what { margin: 0 0 18px; max-width: 860px; color: #c9cedb; font-size: 16px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; font-size: 13.5px; }
dl.meta dt { color: #98a0b3; }
dl.meta dd { margin: 0; color: #eef0f4; overflow-wrap: anywhere; }
dl.meta code { background: #2d3443; color: #f3f4f7; }
nav.toc { margin-top: 16px; font-size: 14px; }
nav.toc a { color: #ffb4a8; margin-right: 18px; text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 0.92em; background: #eceef2; padding: 1px 5px; border-radius: 4px; }
.notes { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 20px; margin: 0 0 24px; }
.notes h2 { font-size: 15px; margin: 0 0 6px; }
.notes ul { margin: 0; padding-left: 20px; }
.notes li { margin: 3px 0; }
section.domain { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 22px 26px 26px; margin: 0 0 28px; box-shadow: 0 1px 2px rgba(16,24,40,.04); }
section.domain h2 { margin: 0 0 4px; font-size: 22px; }
section.domain h3 { margin: 26px 0 8px; font-size: 16px; color: #2b2f36; border-bottom: 1px solid var(--line); padding-bottom: 6px; }
p.lead { margin: 0 0 6px; color: var(--muted); }
p.hint { margin: 0 0 12px; color: var(--muted); font-size: 13.5px; }
p.empty { color: var(--muted); font-style: italic; }
.grid { display: grid; grid-template-columns: repeat(5, minmax(0, 1fr)); gap: 6px 8px; align-items: start; }
.grid .col-head { font-weight: 600; font-size: 13.5px; display: flex; flex-direction: column; gap: 4px; position: sticky; top: 0; background: var(--card); padding: 4px 0 6px; z-index: 1; }
.grid .col-head .key { display: inline-block; width: 22px; height: 4px; border-radius: 2px; vertical-align: middle; margin-left: 6px; }
.grid .col-head svg.colourbar { width: 100%; max-width: 180px; height: auto; }
.grid .ex-name { grid-column: 1 / -1; display: flex; justify-content: space-between; gap: 12px; font-size: 13px; margin-top: 8px; padding-top: 6px; border-top: 1px dashed var(--line); }
.grid .ex-name span:first-child { font-weight: 600; overflow-wrap: anywhere; }
.grid .ex-score { color: var(--muted); white-space: nowrap; }
.grid img { display: block; width: 100%; height: auto; image-rendering: pixelated; border-radius: 4px; background: #000; }
.table-wrap { overflow-x: auto; }
table.metrics { border-collapse: collapse; width: 100%; font-size: 14px; font-variant-numeric: tabular-nums; }
table.metrics caption { caption-side: bottom; text-align: left; color: var(--muted); font-size: 12.5px; padding-top: 8px; }
table.metrics th, table.metrics td { padding: 7px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
table.metrics thead th { font-size: 12.5px; color: var(--muted); font-weight: 600; border-bottom: 2px solid #cfd4dc; cursor: help; }
table.metrics thead th:first-child, table.metrics tbody th { text-align: left; }
table.metrics tbody th { font-weight: 500; white-space: normal; min-width: 220px; }
table.metrics tbody th .preset { font-weight: 600; font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; }
table.metrics tbody th .sub { display: block; color: var(--muted); font-size: 12px; font-weight: 400; line-height: 1.35; }
table.metrics tr.main { background: #fff6f4; }
table.metrics td.best strong { color: #000; }
table.metrics td.na { color: #a4aab4; }
.dir { margin-left: 3px; color: #8a919c; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 7px; vertical-align: 0; }
.tag { font-size: 11px; background: #fde1dc; color: #9c2b20; padding: 1px 6px; border-radius: 8px; margin-left: 4px; vertical-align: 1px; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(400px, 1fr)); gap: 18px 22px; }
figure.plot-card { margin: 0; }
figure.plot-card svg.plot { display: block; width: 100%; height: auto; max-width: 560px; }
figure.plot-card figcaption { color: var(--muted); font-size: 12.5px; margin-top: 4px; max-width: 560px; }
figure.plot-card.wide { grid-column: 1 / -1; display: grid; grid-template-columns: minmax(0, 560px) minmax(220px, 1fr); gap: 12px 28px; align-items: center; }
figure.plot-card.wide figcaption { font-size: 13.5px; max-width: 440px; }
figure.plot-card.wide figcaption p { margin: 0 0 10px; }
figure.plot-card.wide figcaption p.big { font-size: 20px; color: var(--ink); }
figure.plot-card.wide .key { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
@media (max-width: 900px) { figure.plot-card.wide { grid-template-columns: 1fr; } }
.howto { background: #fffaf0; border: 1px solid #f2e3c4; border-radius: 10px; padding: 12px 20px; margin: 0 0 24px; font-size: 14px; }
.howto h2 { font-size: 15px; margin: 0 0 6px; }
.howto ul { margin: 0; padding-left: 20px; }
footer { color: var(--muted); font-size: 12.5px; text-align: center; margin-top: 10px; }
@media (max-width: 760px) { main, header.top .inner { padding-left: 14px; padding-right: 14px; } .grid { gap: 4px; } .grid .col-head { font-size: 11.5px; } }
@media print { body { background: #fff; } section.domain { break-inside: avoid-page; box-shadow: none; } .grid .col-head { position: static; } }
`;

const WHAT =
  "UDEG-Net segments medical images automatically with the Segment Anything Model (SAM): a LoRA-tuned SAM " +
  "encoder feeds an edge prompt generator that replaces the clicks and boxes SAM normally needs. Its " +
  "evidential (Dirichlet) outputs give every pixel an uncertainty, and training concentrates on the " +
  "uncertain object edges.";

/** The whole page as an HTML string (async: the plots are rendered by Vega). */
export async function renderReport(report: DemoReport): Promise<string> {
  const sections: string[] = [];
  for (let i = 0; i < report.domains.length; i++) sections.push(await domainSection(report.domains[i]!, i));
  const toc =
    report.domains.length > 1
      ? `<nav class="toc" aria-label="Domains">${report.domains.map((d, i) => `<a href="#${escapeHtml(slug(d.name, i))}">${escapeHtml(d.name)}</a>`).join("")}</nav>`
      : "";
  const notes =
    report.notes.length > 0
      ? `<aside class="notes"><h2>About these runs</h2><ul>${report.notes.map((n) => `<li>${richText(n)}</li>`).join("")}</ul></aside>`
      : "";
  const howto =
    `<aside class="howto"><h2>How to read this page</h2><ul>` +
    `<li>Each section is one kind of image (a <em>domain</em>). The same small model was fine-tuned on it once per <em>preset</em>: <code>udeg</code> is the full method, the other presets switch parts of it off (ablations) or are the SAMed baseline.</li>` +
    `<li>The picture grid shows test images the model never trained on: ground truth in yellow, the model's prediction in green, its edge map and its per-pixel uncertainty.</li>` +
    `<li>The table scores every preset on the whole test split; the plots show how training went and whether the model's confidence matches how often it is right.</li>` +
    `</ul></aside>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="udeg">
<title>${escapeHtml(report.title)}</title>
<style>${CSS}</style>
</head>
<body>
<header class="top"><div class="inner">
<h1>${escapeHtml(report.title)}</h1>
<p class="what">${escapeHtml(WHAT)}</p>
<dl class="meta">
<dt>Created</dt><dd>${escapeHtml(formatDate(report.createdAt))}</dd>
<dt>Machine</dt><dd>${escapeHtml(report.machine)}</dd>
<dt>Command</dt><dd><code>${escapeHtml(report.command)}</code></dd>
<dt>Total time</dt><dd>${escapeHtml(formatDuration(report.totalSeconds))}</dd>
</dl>
${toc}
</div></header>
<main>
${howto}
${notes}
${sections.join("\n")}
<footer>Generated by udeg. This file is self-contained: every picture and plot is inside it, and it needs no network.</footer>
</main>
</body>
</html>
`;
}

/** Renders the report and writes it to `path` atomically (temporary file in the same folder, flushed, renamed). */
export async function writeReport(path: string, report: DemoReport): Promise<void> {
  const html = await renderReport(report);
  await mkdir(dirname(path), { recursive: true });
  writeFileAtomic(path, html);
}
