// Metric reports on disk: metrics.json (the Summary as is; nulls stay null), metrics.csv (one row
// per image, then a "mean" row) and metrics.md (summary, pooled metrics, per-image table).
// Each file is written to a temporary name in the same directory, flushed, and renamed over the
// target, so a reader never sees a half-written file; the three renames happen only after all
// three temporary files are complete.

import { randomBytes } from "node:crypto";
import { mkdir, open, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { type CaseResult, METRIC_NAMES, type MetricName, type Summary } from "./metrics/index.js";

export interface MetricsPaths {
  json: string;
  csv: string;
  md: string;
}

const CSV_COLUMNS = ["id", ...METRIC_NAMES, "ueo_tau", "trust", "flags"] as const;

function caseId(c: CaseResult, i: number): string {
  return c.id ?? `image_${i}`;
}

/** RFC 4180 field: quoted when it holds a comma, quote, CR or LF; quotes doubled. */
function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Shortest round-trip decimal; null/NaN as an empty field. */
function csvNumber(v: number | null): string {
  return v === null || Number.isNaN(v) ? "" : String(v);
}

/** metrics.csv text: header, one row per image, a final "mean" row (its flags field lists skipped counts). */
export function metricsCsv(summary: Summary): string {
  const lines = [CSV_COLUMNS.join(",")];
  summary.per_image.forEach((c, i) => {
    const row = [
      csvField(caseId(c, i)),
      ...METRIC_NAMES.map((m) => csvNumber(c[m])),
      csvNumber(c.ueo_tau),
      csvNumber(c.trust ?? null),
    ];
    row.push(csvField(c.flags.join(";")));
    lines.push(row.join(","));
  });
  const skipped = METRIC_NAMES.filter((m) => summary.skipped[m] > 0).map(
    (m) => `skipped_${m}=${summary.skipped[m]}`,
  );
  lines.push(
    [
      "mean",
      ...METRIC_NAMES.map((m) => csvNumber(summary.mean[m])),
      "",
      "",
      csvField(skipped.join(";")),
    ].join(","),
  );
  return `${lines.join("\n")}\n`;
}

function fmt(v: number | null | undefined, digits = 4): string {
  return v === null || v === undefined || Number.isNaN(v) ? "n/a" : v.toFixed(digits);
}

function mdCell(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

/** metrics.md text. */
export function metricsMarkdown(summary: Summary): string {
  const out: string[] = ["# Metrics", "", `${summary.n_images} images.`, ""];
  out.push("| metric | mean | std | images | skipped (null) |", "|---|---|---|---|---|");
  for (const m of METRIC_NAMES) {
    out.push(
      `| ${m} | ${fmt(summary.mean[m])} | ${fmt(summary.std[m])} | ${summary.n_valid[m]} | ${summary.skipped[m]} |`,
    );
  }
  out.push("");
  const p = summary.pooled;
  if (p) {
    out.push("## Pooled over all pixels of the split", "");
    out.push(
      "| ece | auroc_u | ueo | ueo tau | pixels (calibration) | pixels (uncertainty) | error pixels |",
    );
    out.push("|---|---|---|---|---|---|---|");
    out.push(
      `| ${fmt(p.ece)} | ${fmt(p.auroc_u)} | ${fmt(p.ueo)} | ${fmt(p.ueo_tau, 2)} | ${p.pixels.calibration} | ${p.pixels.uncertainty} | ${p.pixels.errors} |`,
    );
    out.push("");
  }
  const flags = Object.entries(summary.flag_counts);
  if (flags.length > 0) {
    out.push(`Flags: ${flags.map(([f, n]) => `${f} ${n}`).join(", ")}.`, "");
  }
  const c = summary.conventions;
  if (c) {
    out.push(
      `Conventions: surface distances ${c.surface} (connectivity ${c.connectivity}, spacing [${c.spacing.join(", ")}]), ` +
        `one empty mask -> hd95/assd ${c.empty_distance === "nan" ? "null (skipped)" : "image diagonal"}, ` +
        `ECE ${c.ece_bins} bins, UEO max over ${c.ueo_thresholds.length} thresholds.`,
      "",
    );
  }
  out.push("## Per image", "");
  const cols: (MetricName | "ueo_tau")[] = [...METRIC_NAMES, "ueo_tau"];
  out.push(
    `| id | ${cols.join(" | ")} | trust | flags |`,
    `|---|${cols.map(() => "---").join("|")}|---|---|`,
  );
  summary.per_image.forEach((r, i) => {
    const cells = cols.map((m) => fmt(r[m], m === "ueo_tau" ? 2 : 4));
    out.push(
      `| ${mdCell(caseId(r, i))} | ${cells.join(" | ")} | ${fmt(r.trust, 3)} | ${mdCell(r.flags.join(", "))} |`,
    );
  });
  return `${out.join("\n")}\n`;
}

async function writeTemp(path: string, text: string): Promise<string> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(text, "utf8");
    await fh.sync();
  } finally {
    await fh.close();
  }
  return tmp;
}

/**
 * Writes metrics.json, metrics.csv and metrics.md into `dir` (created if missing), each atomically
 * (temporary file + rename). Returns the three paths.
 */
export async function writeMetrics(dir: string, summary: Summary): Promise<MetricsPaths> {
  await mkdir(dir, { recursive: true });
  const paths: MetricsPaths = {
    json: join(dir, "metrics.json"),
    csv: join(dir, "metrics.csv"),
    md: join(dir, "metrics.md"),
  };
  const texts: [string, string][] = [
    [paths.json, `${JSON.stringify(summary, null, 2)}\n`],
    [paths.csv, metricsCsv(summary)],
    [paths.md, metricsMarkdown(summary)],
  ];
  const temps: string[] = [];
  try {
    for (const [path, text] of texts) temps.push(await writeTemp(path, text));
    for (let i = 0; i < texts.length; i++) await rename(temps[i]!, texts[i]![0]);
  } catch (e) {
    await Promise.all(temps.map((t) => unlink(t).catch(() => {})));
    throw e;
  }
  return paths;
}
