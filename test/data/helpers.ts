// Small synthetic datasets, written into temp folders by the data tests.

import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { encodeImage, type ImageFormat, type RasterImage } from "../../src/io/images/images.js";

/** The real MRI slices with masks and split.json (bundled in assets/data). */
export const ITK_BRAIN = fileURLToPath(new URL("../../assets/data/itk-t1-brain/", import.meta.url));

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `udeg-${prefix}-`));
}

/** A grey or RGB test image: a gradient with a bright disc where the mask is 1. */
export function discImage(
  width: number,
  height: number,
  channels: 1 | 3,
  seed = 0,
): { image: RasterImage; mask: Uint8Array } {
  const data = new Uint8Array(width * height * channels);
  const mask = new Uint8Array(width * height);
  const cx = width * (0.4 + 0.05 * (seed % 4));
  const cy = height * 0.5;
  const r = Math.min(width, height) * 0.25;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inside = (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 < r * r;
      mask[y * width + x] = inside ? 1 : 0;
      for (let c = 0; c < channels; c++)
        data[(y * width + x) * channels + c] = inside ? 220 - 10 * c : (x * 3 + y + c * 20) % 120;
    }
  }
  return { image: { width, height, channels, data, bitDepth: 8 }, mask };
}

/** A one-channel mask image with value `fg` where mask is 1 (`label` maps values instead when given). */
export function maskImage(width: number, height: number, mask: Uint8Array, fg: number): RasterImage {
  const data = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = mask[i]! * fg;
  return { width, height, channels: 1, data, bitDepth: 8 };
}

export async function writeImage(path: string, img: RasterImage, format?: ImageFormat): Promise<void> {
  const fmt =
    format ??
    (path.endsWith(".jpg") ? "jpeg" : path.endsWith(".bmp") ? "bmp" : path.endsWith(".tif") ? "tiff" : "png");
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, await encodeImage(img, fmt, { quality: 85 }));
}
