// Our PNG encoder (node:zlib deflate), not sharp's: sharp turns one-channel 8-bit input into an
// RGB PNG, and its 16-bit raw input path does not keep values.

import { deflateSync } from "node:zlib";
import { checkImage, type RasterImage } from "./image-types.js";
import { pngChunk } from "./png-chunk.js";

/**
 * Encodes a PNG: 1 channel grey, 2 grey + alpha, 3 RGB, 4 RGBA; 8-bit (Uint8Array) or 16-bit
 * (Uint16Array). Rows are filtered with the usual minimum-sum-of-absolute-differences heuristic.
 */
export function encodePng(img: RasterImage, name = "(png)"): Uint8Array {
  checkImage(img, name);
  const { width, height, channels, data } = img;
  const bytesPer = img.bitDepth === 16 ? 2 : 1;
  const bpp = channels * bytesPer; // bytes per pixel, the filter's left distance
  const rowLen = width * bpp;
  const raw = new Uint8Array((rowLen + 1) * height);
  let prev = new Uint8Array(rowLen);
  let cur = new Uint8Array(rowLen);
  const cand = new Uint8Array(rowLen);
  const best = new Uint8Array(rowLen);
  for (let y = 0; y < height; y++) {
    // Row bytes, big-endian for 16-bit.
    const base = y * width * channels;
    if (bytesPer === 1) cur.set(data.subarray(base, base + width * channels));
    else {
      for (let i = 0; i < width * channels; i++) {
        const s = data[base + i]!;
        cur[2 * i] = s >> 8;
        cur[2 * i + 1] = s & 0xff;
      }
    }
    let bestType = 0;
    let bestScore = Number.POSITIVE_INFINITY;
    for (let type = 0; type < 5; type++) {
      let score = 0;
      for (let i = 0; i < rowLen; i++) {
        const a = i >= bpp ? cur[i - bpp]! : 0;
        const b = prev[i]!;
        const c = i >= bpp ? prev[i - bpp]! : 0;
        const x = cur[i]!;
        let f: number;
        if (type === 0) f = x;
        else if (type === 1) f = x - a;
        else if (type === 2) f = x - b;
        else if (type === 3) f = x - ((a + b) >> 1);
        else {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          f = x - (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
        }
        const byte = f & 0xff;
        cand[i] = byte;
        score += byte < 128 ? byte : 256 - byte;
      }
      if (score < bestScore) {
        bestScore = score;
        bestType = type;
        best.set(cand);
      }
    }
    raw[y * (rowLen + 1)] = bestType;
    raw.set(best, y * (rowLen + 1) + 1);
    [prev, cur] = [cur, prev];
  }
  const ihdr = new Uint8Array(13);
  const hv = new DataView(ihdr.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  ihdr[8] = img.bitDepth;
  ihdr[9] = [0, 0, 4, 2, 6][channels]!;
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", deflateSync(raw, { level: 6 })),
    pngChunk("IEND", new Uint8Array(0)),
  ];
  return Buffer.concat(parts);
}
