import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import sharp from "sharp";
import {
  type DemoReport,
  escapeHtml,
  formatDuration,
  type ReportDomain,
  type ReportExample,
  type ReportRun,
  renderReport,
  svgToPng,
  writeReport,
} from "../../src/eval/report.js";
import { displaySize, niceMax } from "../../src/eval/report-images.js";
import { ARTIFACTS, launchChromium } from "../browser.js";

/** Deterministic pseudo-random numbers in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A disc phantom: image, gt, a shifted prediction, a ring edge map and uncertainty on the boundary. */
function example(name: string, w: number, h: number, seed: number): ReportExample {
  const r = rng(seed);
  const n = w * h;
  const image = new Uint8Array(n * 3);
  const gt = new Uint8Array(n);
  const pred = new Uint8Array(n);
  const edge = new Float32Array(n);
  const uncertainty = new Float32Array(n);
  const cx = w * (0.4 + 0.2 * r());
  const cy = h * (0.4 + 0.2 * r());
  const rad = Math.min(w, h) * 0.28;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const d = Math.hypot(x - cx, y - cy);
      const dp = Math.hypot(x - cx - 2, y - cy + 1);
      gt[i] = d < rad ? 1 : 0;
      pred[i] = dp < rad * 0.95 ? 1 : 0;
      const base = gt[i] ? 170 : 60;
      const v = Math.max(0, Math.min(255, base + 40 * (r() - 0.5)));
      image[i * 3] = v;
      image[i * 3 + 1] = v * 0.9;
      image[i * 3 + 2] = v * 0.8;
      edge[i] = Math.exp(-((d - rad) ** 2) / 4);
      uncertainty[i] = 0.8 * Math.exp(-((d - rad) ** 2) / 9) + 0.02 * r();
    }
  }
  return { name, width: w, height: h, image, gt, pred, edge, uncertainty };
}

function run(preset: string, dice: number, seconds: number, seed: number): ReportRun {
  const r = rng(seed);
  return {
    preset,
    metrics: {
      dice,
      iou: dice / (2 - dice),
      sensitivity: dice - 0.02,
      precision: dice + 0.01,
      hd95: 10 * (1 - dice),
      assd: 3 * (1 - dice),
      bf1: dice - 0.3,
      bf2: dice - 0.1,
      ece: preset === "udeg" ? 0.0123 : 0.0456,
      auroc_u: preset === "udeg" ? 0.912 : null,
      ueo: 0.4 + 0.1 * dice,
    },
    lossCurve: Array.from({ length: 120 }, (_, s) => ({
      step: s,
      loss: 1.5 * Math.exp(-s / 30) + 0.1 + 0.1 * r(),
    })),
    valCurve: Array.from({ length: 6 }, (_, e) => ({ epoch: e + 1, dice: dice - 0.3 * Math.exp(-e) })),
    // udeg kept epoch 4; samed says nothing (a run folder from before bestEpoch was recorded).
    keptEpoch: preset === "udeg" ? 4 : undefined,
    seconds,
  };
}

function reliabilityBins(): ReportDomain["reliability"] {
  return Array.from({ length: 15 }, (_, b) => {
    const lower = b / 15;
    const upper = (b + 1) / 15;
    if (upper <= 0.45) return { lower, upper, confidence: null, accuracy: null, count: 0 };
    const confidence = (lower + upper) / 2;
    return { lower, upper, confidence, accuracy: Math.max(0, confidence - 0.05), count: 10 * 3 ** (b - 6) };
  });
}

function makeReport(): DemoReport {
  return {
    title: 'UDEG <demo> & "friends"',
    createdAt: "2025-06-01T12:34:56.000Z",
    machine: "Test CPU <2 cores>",
    command: "udeg demo --out demo",
    totalSeconds: 754.2,
    notes: ["Each run adapts the `tiny` base.", "<script>alert(1)</script> must stay text"],
    domains: [
      {
        name: "Phantoms <A&B>",
        description: "Synthetic discs with speckle.",
        runs: [run("udeg", 0.8734, 61.2, 1), run("samed", 0.8412, 48.9, 2)],
        examples: [
          example("case_01", 48, 40, 11),
          example("case_02", 48, 40, 12),
          example("case_03", 48, 40, 13),
        ],
        reliability: reliabilityBins(),
      },
      {
        name: "Second domain",
        description: "Larger images.",
        runs: [run("udeg", 0.7011, 90, 3), run("samed", 0.7245, 70.5, 4)],
        examples: [example("mri_a", 64, 64, 21), example("mri_b", 64, 64, 22), example("mri_c", 64, 64, 23)],
        reliability: reliabilityBins(),
      },
    ],
  };
}

/** The <tr> of the metrics table whose row header holds `preset`, within the given domain's section. */
function rowOf(section: string, preset: string): string {
  const rows = section.match(/<tr[^>]*>.*?<\/tr>/gs) ?? [];
  const row = rows.find((r) => r.includes(`<span class="preset">${preset}</span>`));
  assert.ok(row, `no metrics row for ${preset}`);
  return row;
}

function sections(html: string): string[] {
  return html.split('<section class="domain"').slice(1);
}

describe("report", () => {
  let html = "";
  let dir = "";
  let renderMs = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "udeg-report-"));
    const t0 = performance.now();
    html = await renderReport(makeReport());
    renderMs = performance.now() - t0;
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("renders in reasonable time", () => {
    assert.ok(renderMs < 15000, `render took ${renderMs.toFixed(0)} ms`);
  });

  test("every example's five pictures are inline PNG data: URIs", async () => {
    const report = makeReport();
    const imgs = [...html.matchAll(/<img src="data:image\/png;base64,([A-Za-z0-9+/=]+)"[^>]*alt="([^"]*)"/g)];
    assert.equal(imgs.length, 2 * 3 * 5);
    for (const d of report.domains) {
      for (const ex of d.examples) {
        for (const what of ["image", "ground truth", "prediction", "edge map", "uncertainty map"]) {
          assert.ok(
            imgs.some((m) => m[2] === `${ex.name}: ${what}`),
            `missing ${what} of ${ex.name}`,
          );
        }
      }
    }
    // Decode one: a 48 x 40 image is shown 4x larger with nearest neighbour.
    const first = imgs[0]!;
    const meta = await sharp(Buffer.from(first[1]!, "base64")).metadata();
    assert.equal(meta.format, "png");
    assert.deepEqual({ width: meta.width, height: meta.height }, { width: 192, height: 160 });
    assert.deepEqual(displaySize(48, 40), { width: 192, height: 160 });
    assert.deepEqual(displaySize(64, 64), { width: 192, height: 192 });
    assert.deepEqual(displaySize(1024, 512), { width: 384, height: 192 });
    // The image tile is the image itself, enlarged: pixel (0, 0) equals the source's.
    const src = report.domains[0]!.examples[0]!;
    const { data } = await sharp(Buffer.from(first[1]!, "base64"))
      .raw()
      .toBuffer({ resolveWithObject: true });
    assert.deepEqual([data[0], data[1], data[2]], [src.image[0], src.image[1], src.image[2]]);
    assert.deepEqual([data[3 * 3], data[3 * 3 + 1]], [src.image[0], src.image[1]]);
  });

  test("metrics table: one row per preset with its numbers, best per column in bold", () => {
    const [a, b] = sections(html);
    const udeg = rowOf(a!, "udeg");
    // Dice 0.873: sensitivity 0.853, precision 0.883
    for (const s of [
      "0.873",
      "0.775",
      "0.853",
      "0.883",
      "1.27",
      "0.38",
      "0.0123",
      "0.912",
      "0.487",
      "1 min 01 s",
    ]) {
      assert.ok(udeg.includes(s), `udeg row lacks ${s}: ${udeg}`);
    }
    assert.ok(udeg.includes("<strong>0.873</strong>"), "best Dice should be bold");
    assert.ok(udeg.includes("<strong>0.0123</strong>"), "best ECE (lower) should be bold");
    const samed = rowOf(a!, "samed");
    assert.ok(samed.includes(">0.841<") && !samed.includes("<strong>0.841"), samed);
    assert.ok(samed.includes("<strong>48.9 s</strong>") || samed.includes("<strong>49 s</strong>"), samed);
    assert.ok(samed.includes('class="na"'), "a null AUROC shows as not available");
    assert.ok(udeg.includes("<strong>0.912</strong>"), "the only AUROC is the best one");
    // Second domain: samed wins on Dice there.
    assert.ok(rowOf(b!, "samed").includes("<strong>0.725</strong>"));
    assert.ok(rowOf(b!, "udeg").includes(">0.701<"));
  });

  test("inline SVG plots: curves for every preset and the reliability diagram", () => {
    for (const [i, s] of sections(html).entries()) {
      for (const cls of ["plot curve-loss", "plot curve-val", "plot reliability"]) {
        const m = new RegExp(`<svg role="img" aria-label="[^"]*" class="${cls}"[^>]*>(.*?)</svg>`, "s").exec(
          s,
        );
        assert.ok(m, `missing ${cls}`);
        assert.ok(/<path /.test(m[1]!), `${cls} draws nothing`);
        if (cls !== "plot reliability") {
          assert.ok(m[1]!.includes(">udeg<") && m[1]!.includes(">samed<"), `${cls} legend lacks a preset`);
        }
      }
      // The kept epoch is ringed on its own curve, and only where a run says which it kept.
      const val = /class="plot curve-val"[^>]*>(.*?)<\/svg>/s.exec(s)![1]!;
      const rings = /class="mark-symbol role-mark marked_marks"[^>]*>(.*?)<\/g>/s.exec(val);
      assert.ok(rings, "the val curve rings the kept epoch");
      const ringed = [...rings[1]!.matchAll(/aria-label="([^"]*)"/g)].map((m) => m[1]);
      assert.equal(ringed.length, 1, ringed.join(" | "));
      const [, epoch, dice] = /^epoch: (\d+); Dice: ([\d.]+); series: udeg$/.exec(ringed[0]!) ?? [];
      assert.equal(epoch, "4", ringed[0]);
      const udeg = makeReport().domains[i]!.runs.find((r) => r.preset === "udeg")!;
      const atEpoch4 = udeg.valCurve.find((p) => p.epoch === 4)!.dice;
      assert.ok(Math.abs(Number(dice) - atEpoch4) < 1e-6, `ring at the curve's epoch-4 value: ${dice}`);
      assert.match(s, /ringed: the epoch whose model each preset kept/);
      assert.match(s, /class="colourbar"/);
      assert.ok(s.includes("ECE <strong>0.0500</strong>"), "ECE of the reliability bins");
    }
  });

  test("text is escaped, nothing external, no script", () => {
    assert.ok(html.includes("<title>UDEG &lt;demo&gt; &amp; &quot;friends&quot;</title>"));
    assert.ok(html.includes("Phantoms &lt;A&amp;B&gt;"));
    assert.ok(html.includes("Test CPU &lt;2 cores&gt;"));
    assert.ok(html.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert.ok(html.includes("<code>tiny</code>"));
    assert.ok(!/<script/i.test(html), "the page must hold no script");
    assert.ok(!/https?:\/\//i.test(html), "the page must not reference any http(s) address");
    assert.ok(
      !/<link\b/i.test(html) && !/@import|url\((?!#)/i.test(html),
      "no external stylesheets, fonts or urls",
    );
    assert.equal(escapeHtml(`<a href='x'>&"`), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;");
    assert.equal(formatDuration(754.2), "12 min 34 s");
    assert.equal(formatDuration(3.14), "3.1 s");
    assert.equal(niceMax(0.83), 1);
    assert.equal(niceMax(0.17), 0.2);
    assert.equal(niceMax(0), 1);
  });

  test("writeReport writes atomically and svgToPng rasterises", async () => {
    const path = join(dir, "sub", "report.html");
    await writeReport(path, makeReport());
    assert.deepEqual(await readdir(join(dir, "sub")), ["report.html"]);
    const text = await readFile(path, "utf8");
    assert.ok(text.startsWith("<!DOCTYPE html>"));
    const svg = /<svg role="img"[^>]*class="plot reliability".*?<\/svg>/s.exec(text)![0];
    const png = await svgToPng(svg, 300);
    const meta = await sharp(png).metadata();
    assert.equal(meta.format, "png");
    assert.equal(meta.width, 300);
    assert.ok(meta.height! > 100);
  });

  test("a real browser shows every picture, table and plot (headless Chromium)", async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    const path = join(ARTIFACTS, "report.html");
    await writeReport(path, makeReport());
    const browser = await launchChromium("the report's browser check");
    try {
      const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
      const requests: string[] = [];
      page.on("request", (r) => requests.push(r.url()));
      await page.goto(pathToFileURL(path).href, { waitUntil: "load" });
      const imgs = await page.evaluate(() =>
        Array.from(document.images).map((i) => ({
          alt: i.alt,
          w: i.naturalWidth,
          h: i.naturalHeight,
          ok: i.complete,
        })),
      );
      assert.equal(imgs.length, 30);
      for (const i of imgs) assert.ok(i.ok && i.w > 0 && i.h > 0, `image not decoded: ${i.alt}`);
      const tables = page.locator("table.metrics");
      assert.equal(await tables.count(), 2);
      for (let k = 0; k < 2; k++) assert.ok(await tables.nth(k).isVisible());
      const plots = page.locator("svg.plot");
      assert.equal(await plots.count(), 6);
      for (let k = 0; k < 6; k++) {
        const box = await plots.nth(k).boundingBox();
        assert.ok(
          box && box.width > 200 && box.height > 150,
          `plot ${k} is not visible: ${JSON.stringify(box)}`,
        );
      }
      const external = requests.filter((u) => !u.startsWith("file:") && !u.startsWith("data:"));
      assert.deepEqual(external, [], "the page must not load anything from the network");
      await page.screenshot({ path: join(ARTIFACTS, "report.png"), fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
