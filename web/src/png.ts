// PNG bits the browser's own decoder cannot do for us: writing an 8-bit grey PNG (the mask, in
// `udeg predict`'s encoding; a canvas only writes RGBA) and reading 16-bit PNGs at full precision
// (a canvas gives 8 bits). Compression through the web's CompressionStream, so Node runs it too.

import { concatBytes } from "../../src/io/bytes.js";
import { pngChunk } from "../../src/io/images/png-chunk.js";

async function through(
  bytes: Uint8Array,
  stream: CompressionStream | DecompressionStream,
): Promise<Uint8Array> {
  const out = new Blob([bytes as BlobPart]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(out).arrayBuffer());
}

export function deflate(bytes: Uint8Array): Promise<Uint8Array> {
  return through(bytes, new CompressionStream("deflate"));
}

export function inflate(bytes: Uint8Array): Promise<Uint8Array> {
  return through(bytes, new DecompressionStream("deflate"));
}

export function inflateRaw(bytes: Uint8Array): Promise<Uint8Array> {
  return through(bytes, new DecompressionStream("deflate-raw"));
}

export function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  return through(bytes, new DecompressionStream("gzip"));
}

/** An 8-bit greyscale PNG of [height, width] values. */
export async function encodeGreyPng(values: Uint8Array, width: number, height: number): Promise<Uint8Array> {
  if (values.length !== width * height)
    throw new Error(`encodeGreyPng: ${values.length} values for ${width}x${height}`);
  const raw = new Uint8Array((width + 1) * height);
  for (let y = 0; y < height; y++) {
    // Filter "up" (2) on every row but the first: masks are mostly runs, this packs well.
    const o = y * (width + 1);
    raw[o] = y === 0 ? 0 : 2;
    for (let x = 0; x < width; x++) {
      const v = values[y * width + x]!;
      raw[o + 1 + x] = y === 0 ? v : (v - values[(y - 1) * width + x]!) & 0xff;
    }
  }
  const ihdr = new Uint8Array(13);
  const hv = new DataView(ihdr.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", await deflate(raw)),
    pngChunk("IEND", new Uint8Array(0)),
  ];
  return concatBytes(parts);
}

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlace: number;
}

/** The IHDR of PNG bytes, or null when they are not a PNG. */
export function pngHeader(bytes: Uint8Array): PngHeader | null {
  if (bytes.length < 33 || bytes[0] !== 0x89 || bytes[1] !== 0x50 || bytes[2] !== 0x4e || bytes[3] !== 0x47)
    return null;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    width: v.getUint32(16),
    height: v.getUint32(20),
    bitDepth: bytes[24]!,
    colorType: bytes[25]!,
    interlace: bytes[28]!,
  };
}

/**
 * A 16-bit, non-interlaced grey / grey+alpha / RGB / RGBA PNG as interleaved samples 0..65535
 * without alpha (1 or 3 channels), as src/io/images/images.ts reads it.
 */
export async function decodePng16(
  bytes: Uint8Array,
  name: string,
): Promise<{ width: number; height: number; channels: 1 | 3; data: Uint16Array }> {
  const h = pngHeader(bytes);
  if (h?.bitDepth !== 16 || h.interlace !== 0 || ![0, 2, 4, 6].includes(h.colorType))
    throw new Error(`${name}: decodePng16 reads non-interlaced 16-bit PNGs only`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const idat: Uint8Array[] = [];
  for (let o = 8; o + 8 <= bytes.length; ) {
    const len = v.getUint32(o);
    const type = String.fromCharCode(...bytes.subarray(o + 4, o + 8));
    if (o + 12 + len > bytes.length)
      throw new Error(`${name}: the PNG ends inside its ${type} chunk (truncated)`);
    if (type === "IDAT") idat.push(bytes.subarray(o + 8, o + 8 + len));
    if (type === "IEND") break;
    o += 12 + len;
  }
  const total = idat.reduce((s, c) => s + c.length, 0);
  const z = new Uint8Array(total);
  let at = 0;
  for (const c of idat) {
    z.set(c, at);
    at += c.length;
  }
  let raw: Uint8Array;
  try {
    raw = await inflate(z);
  } catch (err) {
    throw new Error(
      `${name}: cannot decompress the PNG's image data (${(err as Error).message}); the file is damaged`,
    );
  }
  const samples = [1, 0, 3, 0, 2, 0, 4][h.colorType]!;
  const bpp = samples * 2;
  const rowLen = h.width * bpp;
  if (raw.length < (rowLen + 1) * h.height)
    throw new Error(`${name}: the PNG's image data is incomplete (truncated)`);
  const channels: 1 | 3 = samples >= 3 ? 3 : 1;
  const data = new Uint16Array(h.width * h.height * channels);
  let prev = new Uint8Array(rowLen);
  let cur = new Uint8Array(rowLen);
  for (let y = 0; y < h.height; y++) {
    const o = y * (rowLen + 1);
    const filter = raw[o]!;
    for (let i = 0; i < rowLen; i++) {
      const x = raw[o + 1 + i]!;
      const a = i >= bpp ? cur[i - bpp]! : 0;
      const b = prev[i]!;
      const c = i >= bpp ? prev[i - bpp]! : 0;
      let r: number;
      if (filter === 0) r = x;
      else if (filter === 1) r = x + a;
      else if (filter === 2) r = x + b;
      else if (filter === 3) r = x + ((a + b) >> 1);
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        r = x + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
      } else throw new Error(`${name}: bad PNG row filter ${filter} (the file is damaged)`);
      cur[i] = r & 0xff;
    }
    for (let x = 0; x < h.width; x++) {
      for (let k = 0; k < channels; k++) {
        const s = (x * samples + k) * 2;
        data[(y * h.width + x) * channels + k] = (cur[s]! << 8) | cur[s + 1]!;
      }
    }
    [prev, cur] = [cur, prev];
  }
  return { width: h.width, height: h.height, channels, data };
}
