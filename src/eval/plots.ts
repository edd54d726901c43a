// Plots as SVG without a canvas binary: Vega-Lite specs compiled to Vega and rendered headlessly
// (`renderer: "none"` + toSVG, which measures text by estimate instead of through node-canvas).
// Where a PNG is needed, svgToPng rasterises the SVG with sharp (librsvg).
//
// Charts here: line charts (training loss vs step, validation Dice vs epoch, one line per preset)
// and the reliability diagram (accuracy vs confidence bars with the diagonal, pixel-count
// histogram below). The colour bar of a heat map is plain hand-written SVG (a linear gradient).

import sharp from "sharp";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

/** The page's font stack; charts use it too so that they match the text around them. */
export const FONT_STACK =
  'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif';

const AXIS_COLOUR = "#5b6270";
const GRID_COLOUR = "#e6e8ec";

/** Shared Vega-Lite config: quiet axes, no frame, transparent background. */
const BASE_CONFIG = {
  background: null,
  font: FONT_STACK,
  view: { stroke: null },
  axis: {
    labelColor: AXIS_COLOUR,
    titleColor: "#2b2f36",
    titleFontWeight: 600,
    titleFontSize: 12,
    labelFontSize: 11,
    gridColor: GRID_COLOUR,
    domainColor: "#9aa1ad",
    tickColor: "#9aa1ad",
  },
  legend: {
    labelFontSize: 12,
    titleFontSize: 12,
    labelColor: "#2b2f36",
    symbolStrokeWidth: 3,
    symbolOpacity: 1,
  },
  title: { fontSize: 14, fontWeight: 600, color: "#1d2128", anchor: "start", offset: 10 },
} as const;

/** Renders a Vega-Lite spec to an SVG string, headlessly (no canvas, no DOM). */
export async function vegaLiteToSvg(spec: TopLevelSpec): Promise<string> {
  const withConfig = { ...spec, config: { ...BASE_CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec;
  const compiled = compile(withConfig).spec;
  // No loader access: every spec here carries its data inline.
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * An SVG string made fit for embedding in HTML: namespace declarations dropped (the HTML parser
 * puts <svg> in the SVG namespace itself, and the page then holds no http(s) address at all), an
 * accessible label and a class added, and a fixed size made scalable (width 100%, viewBox kept).
 */
export function inlineSvg(svg: string, label: string, className = "plot"): string {
  let s = svg
    .trim()
    .replace(/^<svg\b[^>]*>/, (open) =>
      open.replace(/\s+xmlns(:\w+)?="[^"]*"/g, "").replace(/\s+(class|role|aria-label)="[^"]*"/g, ""),
    );
  s = s.replace(
    /^<svg\b/,
    `<svg role="img" aria-label="${escapeAttr(label)}" class="${escapeAttr(className)}"`,
  );
  return s;
}

function escapeAttr(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * Rasterises an SVG to a PNG of the given width (height follows the aspect ratio) with sharp.
 * SVG text is drawn with whatever fonts fontconfig finds on the machine.
 */
export async function svgToPng(svg: string, width: number): Promise<Uint8Array> {
  if (!Number.isInteger(width) || width < 1)
    throw new RangeError(`width must be a positive integer, got ${width}`);
  let s = svg.trim();
  // librsvg needs the SVG namespace; inlineSvg() removes it for HTML, so put it back.
  if (!/^<svg[^>]*\sxmlns="/.test(s)) s = s.replace(/^<svg\b/, '<svg xmlns="http://www.w3.org/2000/svg"');
  const match = /^<svg[^>]*\swidth="([\d.]+)/.exec(s);
  const intrinsic = match ? Number(match[1]) : width;
  // Render at (at least) the target resolution, then resize: crisp text at any width.
  const density = Math.max(1, Math.min(2400, (72 * width) / Math.max(1, intrinsic)));
  const out = await sharp(Buffer.from(s), { density }).resize({ width }).png().toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

// ----------------------------------------------------------------------------------------------
// data shaping

/** Bucket means, so that a long curve becomes at most `max` points (x is the bucket's mean x). */
export function downsample(
  points: readonly { x: number; y: number }[],
  max: number,
): { x: number; y: number }[] {
  const finite = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  if (finite.length <= max) return finite.map((p) => ({ x: p.x, y: p.y }));
  const out: { x: number; y: number }[] = [];
  const size = finite.length / max;
  for (let b = 0; b < max; b++) {
    const from = Math.floor(b * size);
    const to = Math.max(from + 1, Math.floor((b + 1) * size));
    let sx = 0;
    let sy = 0;
    for (let i = from; i < to; i++) {
      sx += finite[i]!.x;
      sy += finite[i]!.y;
    }
    out.push({ x: sx / (to - from), y: sy / (to - from) });
  }
  return out;
}

/**
 * Exponential moving average with bias correction (as TensorBoard's smoothing), weight chosen
 * from the curve's length so that about 1/20 of the curve is averaged.
 */
export function smooth(points: readonly { x: number; y: number }[]): { x: number; y: number }[] {
  if (points.length < 8) return points.map((p) => ({ ...p }));
  const beta = Math.min(0.98, Math.max(0.5, 1 - 20 / points.length));
  let m = 0;
  let w = 0;
  return points.map((p) => {
    m = beta * m + (1 - beta) * p.y;
    w = beta * w + (1 - beta);
    return { x: p.x, y: m / w };
  });
}

// ----------------------------------------------------------------------------------------------
// charts

export interface LineSeries {
  name: string;
  colour: string;
  points: { x: number; y: number }[];
  /** One point ringed on the curve (the epoch whose model a run kept); absent: none. */
  marked?: { x: number; y: number } | null;
}

export interface LineChartOptions {
  title: string;
  xTitle: string;
  yTitle: string;
  series: LineSeries[];
  width?: number;
  height?: number;
  /** Draw each series faded and, over it, its smoothed curve (for noisy per-step losses). */
  smoothed?: boolean;
  /** Draw a dot at every point (for short curves such as per-epoch validation). */
  points?: boolean;
  /** "log" uses a log y axis (only honoured when every y is > 0). */
  yScale?: "linear" | "log";
  /** Fixed y domain, e.g. [0, 1] for Dice. */
  yDomain?: [number, number];
  /** At most this many points per series (bucket means); default 500. */
  maxPoints?: number;
  /** x takes whole values only (epochs): ticks at integers. */
  xInteger?: boolean;
}

/** A multi-series line chart as SVG; series keep their order and colours in the legend. */
export async function lineChartSvg(o: LineChartOptions): Promise<string> {
  const maxPoints = o.maxPoints ?? 500;
  const raw: { series: string; x: number; y: number }[] = [];
  const sm: { series: string; x: number; y: number }[] = [];
  for (const s of o.series) {
    const pts = downsample(s.points, maxPoints);
    for (const p of pts) raw.push({ series: s.name, x: p.x, y: p.y });
    if (o.smoothed) for (const p of smooth(pts)) sm.push({ series: s.name, x: p.x, y: p.y });
  }
  const allPositive = raw.length > 0 && raw.every((d) => d.y > 0);
  const yType = o.yScale === "log" && allPositive ? "log" : "linear";
  const colour = {
    field: "series",
    type: "nominal" as const,
    title: null,
    scale: { domain: o.series.map((s) => s.name), range: o.series.map((s) => s.colour) },
    legend: { orient: "top" as const, direction: "horizontal" as const, symbolType: "stroke" },
  };
  const x = {
    field: "x",
    type: "quantitative" as const,
    title: o.xTitle,
    scale: { nice: false, zero: false },
    axis: o.xInteger ? { tickMinStep: 1, format: "d" } : {},
  };
  const y = {
    field: "y",
    type: "quantitative" as const,
    title: o.yTitle,
    scale: o.yDomain ? { domain: o.yDomain, zero: false } : { type: yType, zero: false, nice: true },
  };
  const empty = raw.length === 0;
  const layers: Record<string, unknown>[] = [];
  if (empty) {
    layers.push({
      data: { values: [{ t: "no data" }] },
      mark: { type: "text", fontSize: 13, color: "#8a919c" },
      encoding: { text: { field: "t" } },
    });
  } else if (o.smoothed) {
    layers.push({
      data: { values: raw },
      mark: { type: "line", strokeWidth: 1, opacity: 0.28, interpolate: "linear" },
      encoding: { x, y, color: colour },
    });
    layers.push({
      data: { values: sm },
      mark: { type: "line", strokeWidth: 2.2 },
      encoding: { x, y, color: colour },
    });
  } else {
    layers.push({
      data: { values: raw },
      mark: { type: "line", strokeWidth: 2.2, point: o.points ? { filled: true, size: 36 } : false },
      encoding: { x, y, color: colour },
    });
  }
  const marked = o.series.flatMap((s) => (s.marked ? [{ series: s.name, ...s.marked }] : []));
  if (!empty && marked.length > 0) {
    layers.push({
      name: "marked",
      data: { values: marked },
      mark: { type: "point", shape: "circle", size: 220, filled: false, strokeWidth: 2.2, opacity: 1 },
      encoding: { x, y, color: colour },
    });
  }
  const spec = {
    width: o.width ?? 440,
    height: o.height ?? 240,
    title: o.title,
    layer: layers,
  } as unknown as TopLevelSpec;
  return vegaLiteToSvg(spec);
}

export interface ReliabilityBar {
  lower: number;
  upper: number;
  /** Mean confidence in the bin; ignored (may be null) when count is 0. */
  confidence: number | null;
  /** Fraction of correct pixels in the bin; ignored (may be null) when count is 0. */
  accuracy: number | null;
  count: number;
}

/** ECE = sum over bins of (n_b / N) |accuracy_b - confidence_b|; null when there is no pixel. */
export function eceOfBins(bins: readonly ReliabilityBar[]): number | null {
  let n = 0;
  let s = 0;
  for (const b of bins) {
    if (!(b.count > 0) || b.confidence === null || b.accuracy === null) continue;
    n += b.count;
    s += b.count * Math.abs(b.accuracy - b.confidence);
  }
  return n > 0 ? s / n : null;
}

/**
 * Reliability diagram: per confidence bin, a bar up to the accuracy and an outlined red box
 * from the accuracy to the mean confidence (the calibration gap), with the diagonal of perfect
 * calibration; below it, how many pixels fall in each bin (symmetric-log scale, since most pixels
 * of a segmentation are confidently right). The x range starts at the lowest non-empty bin (for
 * a binary problem the confidence max(p, 1 - p) is never below 0.5).
 */
export async function reliabilitySvg(
  bins: readonly ReliabilityBar[],
  o: { title: string; width?: number; height?: number; histogramHeight?: number } = { title: "Reliability" },
): Promise<string> {
  const used = bins.filter((b) => b.count > 0 && b.confidence !== null && b.accuracy !== null);
  const width = o.width ?? 440;
  const lo = used.length > 0 ? Math.min(...used.map((b) => b.lower)) : 0;
  const xDomain: [number, number] = [Math.max(0, Math.floor(lo * 20) / 20), 1];
  const values = used.map((b) => ({
    lower: b.lower,
    upper: b.upper,
    confidence: b.confidence,
    accuracy: b.accuracy,
    gapTop: Math.max(b.accuracy!, b.confidence!),
    gapBottom: Math.min(b.accuracy!, b.confidence!),
    count: b.count,
  }));
  const xEdge = { field: "lower", type: "quantitative" as const, scale: { domain: xDomain, nice: false } };
  const tooltipless = { strokeWidth: 1, stroke: "#ffffff" };
  const spec = {
    title: o.title,
    vconcat: [
      {
        width,
        height: o.height ?? 240,
        layer: [
          {
            data: { values },
            mark: { type: "rect", color: "#4c78a8", ...tooltipless },
            encoding: {
              x: { ...xEdge, axis: { title: null, labels: false, ticks: false, grid: true } },
              x2: { field: "upper" },
              y: {
                field: "accuracy",
                type: "quantitative",
                title: "accuracy",
                scale: { domain: [0, 1], nice: false },
              },
              y2: { datum: 0 },
            },
          },
          {
            data: { values },
            // Outlined so that it also reads where it lies over the bar (accuracy above confidence).
            mark: { type: "rect", fill: "#e45756", fillOpacity: 0.4, stroke: "#d1372f", strokeWidth: 1.2 },
            encoding: {
              x: xEdge,
              x2: { field: "upper" },
              y: { field: "gapBottom", type: "quantitative" },
              y2: { field: "gapTop" },
            },
          },
          {
            data: { values: [{ a: xDomain[0] }, { a: 1 }] },
            mark: { type: "line", color: "#2b2f36", strokeDash: [5, 4], strokeWidth: 1.5, clip: true },
            encoding: {
              x: { field: "a", type: "quantitative", scale: { domain: xDomain, nice: false } },
              y: { field: "a", type: "quantitative" },
            },
          },
          {
            data: { values: [{ x: xDomain[0], y: 0.97, t: "diagonal = perfectly calibrated" }] },
            mark: { type: "text", align: "left", baseline: "top", dx: 6, fontSize: 11, color: "#5b6270" },
            encoding: {
              x: { field: "x", type: "quantitative" },
              y: { field: "y", type: "quantitative" },
              text: { field: "t" },
            },
          },
        ],
      },
      {
        width,
        height: o.histogramHeight ?? 90,
        data: { values },
        mark: { type: "rect", color: "#9aa1ad", ...tooltipless },
        encoding: {
          x: { ...xEdge, title: "confidence of the predicted class" },
          x2: { field: "upper" },
          y: {
            field: "count",
            type: "quantitative",
            title: "pixels",
            scale: { type: "symlog" },
            axis: {
              values: countTicks(Math.max(0, ...values.map((v) => v.count))),
              // 0, 1, 10, 100, 1k, 10k, 1M: d3's "~s" would share one precision across ticks ("0k").
              labelExpr:
                "datum.value >= 1e6 ? format(datum.value / 1e6, '~g') + 'M' : datum.value >= 1e3 ? format(datum.value / 1e3, '~g') + 'k' : format(datum.value, '~g')",
            },
          },
          y2: { datum: 0 },
        },
      },
    ],
    spacing: 8,
  } as unknown as TopLevelSpec;
  return vegaLiteToSvg(spec);
}

/** Tick values for a symlog count axis: 0 and powers of ten up to max, at most four. */
export function countTicks(max: number): number[] {
  const powers: number[] = [];
  for (let p = 1; p <= max; p *= 10) powers.push(p);
  const step = Math.max(1, Math.ceil(powers.length / 3));
  const picked = powers.filter((_, i) => (powers.length - 1 - i) % step === 0);
  return [0, ...picked];
}

/**
 * A horizontal colour bar as SVG (hand-written: a linear gradient sampled from `colour`), with
 * tick labels under it. `colour(t)` maps t in [0, 1] to RGB 0..255; ticks label t = 0, 0.5, 1
 * with the values `min + t (max - min)`.
 */
export function colourBarSvg(
  colour: (t: number) => readonly [number, number, number],
  o: { min: number; max: number; width?: number; label?: string; digits?: number; id?: string },
): string {
  const w = o.width ?? 160;
  const barH = 10;
  const stops: string[] = [];
  for (let i = 0; i <= 16; i++) {
    const t = i / 16;
    const [r, g, b] = colour(t);
    stops.push(
      `<stop offset="${(t * 100).toFixed(2)}%" stop-color="rgb(${Math.round(r)},${Math.round(g)},${Math.round(b)})"/>`,
    );
  }
  // Deterministic id (same input, same page); equal bars may share one gradient harmlessly.
  const id = o.id ?? `cb-${hashString(`${o.label ?? ""}|${o.min}|${o.max}|${stops.join("")}`)}`;
  const digits = o.digits ?? 2;
  const tick = (t: number) => (o.min + t * (o.max - o.min)).toFixed(digits);
  const h = barH + 16;
  const text = (x: number, anchor: string, s: string) =>
    `<text x="${x}" y="${barH + 13}" text-anchor="${anchor}" font-size="11" fill="#5b6270">${escapeText(s)}</text>`;
  return (
    `<svg class="colourbar" role="img" aria-label="${escapeAttr(o.label ?? "colour scale")}" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">` +
    `<defs><linearGradient id="${id}" x1="0" x2="1" y1="0" y2="0">${stops.join("")}</linearGradient></defs>` +
    `<rect x="0.5" y="0.5" width="${w - 1}" height="${barH}" rx="2" fill="url(#${id})" stroke="#c7ccd4"/>` +
    text(1, "start", tick(0)) +
    text(w / 2, "middle", tick(0.5)) +
    text(w - 1, "end", tick(1)) +
    "</svg>"
  );
}

function escapeText(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** FNV-1a 32-bit, as 8 hex digits. */
function hashString(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}
