// The files `udeg predict` writes for one image: mask, probability, uncertainty and edge maps
// (16-bit PNG and float32 safetensors), and an overlay a person can look at.
import { join } from "node:path";
import { writeSafetensors } from "../io/checkpoints/index.js";
import { type RasterImage, writePng } from "../io/images/images.js";
import { classColour, contour, heatColour, maskPngValues } from "../udeg/colour-maps.js";
import { foregroundProbability, type UdegPrediction } from "../udeg/prediction.js";

/** 0..1 floats to a 16-bit grey PNG raster. */
function toU16(values: Float32Array, width: number, height: number): RasterImage {
  const data = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = Math.round(Math.min(1, Math.max(0, values[i]!)) * 65535);
  return { width, height, channels: 1, data, bitDepth: 16 };
}

/**
 * The overlay: the image in grey, the uncertainty as a heat map blended in proportion to the
 * uncertainty itself (certain pixels stay clear), and the mask's contour in its class colour (colour-maps.ts).
 * `grey` is the image as one 0..255 plane [H, W].
 */
export function overlayImage(p: UdegPrediction, grey: Float32Array): RasterImage {
  const { width, height } = p;
  const plane = width * height;
  let maxU = 1e-6;
  for (let i = 0; i < plane; i++) maxU = Math.max(maxU, p.uncertainty[i]!);
  const edges = contour(p.labels, width, height);
  const data = new Uint8Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    const g = grey[i]!;
    const t = p.uncertainty[i]! / maxU;
    const [r, gg, b] = heatColour(t);
    const a = 0.65 * t;
    let rgb = [g * (1 - a) + r * a, g * (1 - a) + gg * a, g * (1 - a) + b * a];
    if (edges[i]) rgb = [...classColour(Math.max(1, p.labels[i]!))];
    for (let c = 0; c < 3; c++) data[i * 3 + c] = Math.round(Math.min(255, Math.max(0, rgb[c]!)));
  }
  return { width, height, channels: 3, data, bitDepth: 8 };
}

export interface WrittenPrediction {
  mask: string;
  probability: string;
  uncertainty: string;
  edge: string;
  tensors: string;
  overlay: string;
}

/** Write every output of one image into `dir`, named after `name`. */
export async function writePrediction(
  dir: string,
  name: string,
  p: UdegPrediction,
  grey: Float32Array,
): Promise<WrittenPrediction> {
  const { width, height } = p;
  const files: WrittenPrediction = {
    mask: join(dir, `${name}_mask.png`),
    probability: join(dir, `${name}_prob.png`),
    uncertainty: join(dir, `${name}_uncertainty.png`),
    edge: join(dir, `${name}_edge.png`),
    tensors: join(dir, `${name}.safetensors`),
    overlay: join(dir, `${name}_overlay.png`),
  };
  const mask = maskPngValues(p.labels, p.classes);
  await writePng(files.mask, { width, height, channels: 1, data: mask, bitDepth: 8 });
  const fg = foregroundProbability(p);
  await writePng(files.probability, toU16(fg, width, height));
  await writePng(files.uncertainty, toU16(p.uncertainty, width, height));
  await writePng(files.edge, toU16(p.edge, width, height));
  writeSafetensors(
    files.tensors,
    {
      probability: { dtype: "float32", shape: [p.classes + 1, height, width], data: p.prob },
      uncertainty: { dtype: "float32", shape: [height, width], data: p.uncertainty },
      edge: { dtype: "float32", shape: [height, width], data: p.edge },
      labels: { dtype: "uint8", shape: [height, width], data: p.labels },
    },
    { format: "udeg-prediction" },
  );
  await writePng(files.overlay, overlayImage(p, grey));
  return files;
}
