// Drawing: the image and the heat maps at the image's own resolution (scaled by CSS), the mask
// contour and the clicked points at screen resolution, so lines stay crisp on small images.
import type { PlanarImage } from "../../src/io/planar-image.js";
import { classColour, heatColour } from "../../src/udeg/colour-maps.js";
import type { Click } from "../../src/udeg/interactive.js";
import type { UdegPrediction } from "../../src/udeg/prediction.js";

function clamp255(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

function sized(canvas: HTMLCanvasElement, w: number, h: number): CanvasRenderingContext2D {
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  return canvas.getContext("2d")!;
}

/** The image itself (grey or RGB), at its own resolution. */
export function drawImage(canvas: HTMLCanvasElement, img: PlanarImage): void {
  const { width: w, height: h, channels } = img;
  const ctx = sized(canvas, w, h);
  const out = ctx.createImageData(w, h);
  const n = w * h;
  for (let i = 0; i < n; i++) {
    const r = img.data[i]!;
    const g = channels === 3 ? img.data[n + i]! : r;
    const b = channels === 3 ? img.data[2 * n + i]! : r;
    out.data[4 * i] = clamp255(r);
    out.data[4 * i + 1] = clamp255(g);
    out.data[4 * i + 2] = clamp255(b);
    out.data[4 * i + 3] = 255;
  }
  ctx.putImageData(out, 0, 0);
}

/**
 * Uncertainty as a heat map over [0, max]: colour from the colour bar, opacity growing with the
 * value (certain pixels stay clear), as `udeg predict`'s overlay. Returns the max used.
 */
export function drawHeat(canvas: HTMLCanvasElement, seg: UdegPrediction): number {
  const { width: w, height: h, uncertainty } = seg;
  const ctx = sized(canvas, w, h);
  let max = 1e-6;
  for (const u of uncertainty) if (u > max) max = u;
  const out = ctx.createImageData(w, h);
  for (let i = 0; i < w * h; i++) {
    const t = uncertainty[i]! / max;
    const [r, g, b] = heatColour(t);
    out.data[4 * i] = r;
    out.data[4 * i + 1] = g;
    out.data[4 * i + 2] = b;
    out.data[4 * i + 3] = clamp255(255 * t);
  }
  ctx.putImageData(out, 0, 0);
  return max;
}

/** The colour bar: the heat map's colours left (0) to right (max). */
export function drawColourBar(canvas: HTMLCanvasElement): void {
  const w = canvas.width;
  const h = canvas.height;
  const ctx = canvas.getContext("2d")!;
  const out = ctx.createImageData(w, h);
  for (let x = 0; x < w; x++) {
    const [r, g, b] = heatColour(x / (w - 1));
    for (let y = 0; y < h; y++) {
      const o = 4 * (y * w + x);
      out.data[o] = r;
      out.data[o + 1] = g;
      out.data[o + 2] = b;
      out.data[o + 3] = 255;
    }
  }
  ctx.putImageData(out, 0, 0);
}

/** The edge map: cyan with the edge probability as opacity. */
export function drawEdge(canvas: HTMLCanvasElement, seg: UdegPrediction): void {
  const { width: w, height: h, edge } = seg;
  const ctx = sized(canvas, w, h);
  const out = ctx.createImageData(w, h);
  for (let i = 0; i < w * h; i++) {
    out.data[4 * i] = 0;
    out.data[4 * i + 1] = 230;
    out.data[4 * i + 2] = 255;
    out.data[4 * i + 3] = clamp255(255 * edge[i]!);
  }
  ctx.putImageData(out, 0, 0);
}

/**
 * The mask at screen resolution: a light fill per class and its contour traced along pixel
 * boundaries (so it is exact at any zoom). `cssW` x `cssH` is the displayed size.
 */
export function drawMask(
  canvas: HTMLCanvasElement,
  seg: UdegPrediction | null,
  cssW: number,
  cssH: number,
  dpr: number,
): void {
  const ctx = sized(canvas, Math.round(cssW * dpr), Math.round(cssH * dpr));
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!seg) return;
  const { width: w, height: h, labels, classes } = seg;
  const sx = canvas.width / w;
  const sy = canvas.height / h;
  for (let c = 1; c <= classes; c++) {
    const [r, g, b] = classColour(c);
    // Fill: one rectangle per horizontal run.
    ctx.fillStyle = `rgba(${r}, ${g}, ${b}, 0.18)`;
    for (let y = 0; y < h; y++) {
      let x = 0;
      while (x < w) {
        if (labels[y * w + x] !== c) {
          x++;
          continue;
        }
        const x0 = x;
        while (x < w && labels[y * w + x] === c) x++;
        // Rounded edges, so neighbouring runs and rows meet without overlapping (no darker seams).
        const left = Math.round(x0 * sx);
        const top = Math.round(y * sy);
        ctx.fillRect(left, top, Math.round(x * sx) - left, Math.round((y + 1) * sy) - top);
      }
    }
    // Contour: the pixel edges between class c and anything else.
    ctx.beginPath();
    for (let y = 0; y <= h; y++) {
      for (let x = 0; x < w; x++) {
        const above = y > 0 && labels[(y - 1) * w + x] === c;
        const below = y < h && labels[y * w + x] === c;
        if (above !== below) {
          ctx.moveTo(x * sx, y * sy);
          ctx.lineTo((x + 1) * sx, y * sy);
        }
      }
    }
    for (let x = 0; x <= w; x++) {
      for (let y = 0; y < h; y++) {
        const left = x > 0 && labels[y * w + x - 1] === c;
        const right = x < w && labels[y * w + x] === c;
        if (left !== right) {
          ctx.moveTo(x * sx, y * sy);
          ctx.lineTo(x * sx, (y + 1) * sy);
        }
      }
    }
    ctx.strokeStyle = `rgb(${r}, ${g}, ${b})`;
    ctx.lineWidth = Math.max(1.5, 2 * dpr);
    ctx.lineCap = "square";
    ctx.stroke();
  }
}

/** The clicked points: green + for positive, red - for negative. */
export function drawPoints(
  canvas: HTMLCanvasElement,
  points: readonly Click[],
  imageW: number,
  imageH: number,
  cssW: number,
  cssH: number,
  dpr: number,
): void {
  const ctx = sized(canvas, Math.round(cssW * dpr), Math.round(cssH * dpr));
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const sx = canvas.width / imageW;
  const sy = canvas.height / imageH;
  const r = 7 * dpr;
  for (const p of points) {
    const cx = (p.x + 0.5) * sx;
    const cy = (p.y + 0.5) * sy;
    ctx.beginPath();
    ctx.arc(cx, cy, r, 0, 2 * Math.PI);
    ctx.fillStyle = p.positive ? "rgba(30, 200, 90, 0.95)" : "rgba(235, 60, 60, 0.95)";
    ctx.fill();
    ctx.lineWidth = 1.5 * dpr;
    ctx.strokeStyle = "white";
    ctx.stroke();
    ctx.beginPath();
    ctx.moveTo(cx - r * 0.5, cy);
    ctx.lineTo(cx + r * 0.5, cy);
    if (p.positive) {
      ctx.moveTo(cx, cy - r * 0.5);
      ctx.lineTo(cx, cy + r * 0.5);
    }
    ctx.lineWidth = 2 * dpr;
    ctx.stroke();
  }
}
