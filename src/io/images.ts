// 2-D images: PNG, JPEG, TIFF (decoded by sharp/libvips) and BMP (decoded here: libvips has no
// BMP loader), into plain interleaved pixel arrays; PNG (8- and 16-bit) and BMP encoders.
//
// What the readers return, and where it differs from other tools:
// - `data` is interleaved [height, width, channels], row-major, top row first: a Uint8Array for
//   8-bit images (and for 1/2/4-bit PNGs, which libvips widens to 8 bits, 0/255 for 1-bit), a
//   Uint16Array for 16-bit PNG/TIFF.
// - `channels` is 1 (grey) or 3 (RGB). Alpha is dropped, as PIL's convert("RGB"/"L") does; use
//   toRgb() for the model's 3 channels.
// - Pixel values are the stored ones: no EXIF rotation (PIL does not rotate either), no gamma.
//   Images with an embedded ICC profile other than sRGB (rare in medical data) are converted to
//   sRGB by libvips, where PIL would hand back the stored values. CMYK JPEG/TIFF become RGB.
// - Palette PNGs become RGB (PIL keeps mode "P"); pass { palette: "indices" } to get the palette
//   index per pixel instead, which is what label masks stored as palette PNGs mean.
// - Multi-page TIFFs: the first page. Float or signed TIFF samples are refused (convert first).
//
// The PNG writer is ours (node:zlib deflate), not sharp's: sharp turns one-channel 8-bit input
// into an RGB PNG, and its 16-bit raw input path does not keep values.

import { readFile, writeFile } from "node:fs/promises";
import { deflateSync } from "node:zlib";
import sharp from "sharp";
import { FileError } from "./file-error.js";
import { pngChunk } from "./png-chunk.js";

/** Why an image could not be read or written. */
export type ImageErrorCode =
  | "io" // missing or unreadable file
  | "corrupt" // the bytes do not decode (truncated, damaged)
  | "unsupported" // a valid file in a format or variant we do not read
  | "bad-argument"; // the caller passed an inconsistent image to a writer

/** Every failure in this module: names the file, says what is wrong and what to do. */
export class ImageError extends FileError<ImageErrorCode> {
  override name = "ImageError";
}

export type ImageFormat = "png" | "jpeg" | "tiff" | "bmp";

/** A decoded image: interleaved [height, width, channels], top row first. */
export interface RasterImage {
  width: number;
  height: number;
  /** 1 (grey) or 3 (RGB) from the readers; writers also take 2 (grey + alpha) and 4 (RGBA). */
  channels: number;
  data: Uint8Array | Uint16Array;
  /** 8 for Uint8Array data, 16 for Uint16Array data. */
  bitDepth: 8 | 16;
}

export interface DecodedImage extends RasterImage {
  format: ImageFormat;
  /** True when the file was a palette image (PNG colour type 3, BMP <= 8 bits). */
  palette: boolean;
}

export interface ReadImageOptions {
  /**
   * For palette images: "rgb" (default) gives the palette colours, "indices" the palette index of
   * every pixel as one channel (label masks saved as palette PNGs).
   */
  palette?: "rgb" | "indices";
}

export interface ImageInfo {
  format: ImageFormat;
  width: number;
  height: number;
  /** Channels in the file, alpha included. */
  channels: number;
  bitDepth: number;
}

const FORMATS_HINT = "Supported: PNG, JPEG, TIFF, BMP.";

/** File extensions the dataset readers look for (lower case, with the dot). */
export const IMAGE_EXTENSIONS: readonly string[] = [".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"];

/** The format from the first bytes (never from the name: files get renamed). */
export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  const b = bytes;
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return "png";
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
  if (b.length >= 4 && b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) return "tiff";
  if (b.length >= 4 && b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a) return "tiff";
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return "bmp";
  return undefined;
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const problem =
      e.code === "ENOENT"
        ? "file not found"
        : e.code === "EISDIR"
          ? "is a directory, not an image"
          : `cannot read the file (${e.message})`;
    throw new ImageError(path, "io", problem, e.code === "ENOENT" ? "Check the path." : "", { cause: err });
  }
}

function unknownFormat(name: string, bytes: Uint8Array): ImageError {
  const head = Buffer.from(bytes.subarray(0, 8)).toString("hex");
  const problem =
    bytes.length === 0 ? "the file is empty" : `not a PNG, JPEG, TIFF or BMP image (first bytes ${head})`;
  return new ImageError(name, bytes.length === 0 ? "corrupt" : "unsupported", problem, FORMATS_HINT);
}

/** Reads an image file. Errors name the file. */
export async function readImage(path: string, options: ReadImageOptions = {}): Promise<DecodedImage> {
  return decodeImage(await readBytes(path), path, options);
}

/** Decodes image bytes; `name` is used in error messages. */
export async function decodeImage(
  bytes: Uint8Array,
  name: string,
  options: ReadImageOptions = {},
): Promise<DecodedImage> {
  const format = sniffFormat(bytes);
  if (format === undefined) throw unknownFormat(name, bytes);
  if (format === "bmp") return decodeBmp(bytes, name, options);
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let meta: sharp.Metadata;
  try {
    meta = await sharp(buf).metadata();
  } catch (err) {
    throw corrupt(name, format, err);
  }
  if (meta.depth !== "uchar" && meta.depth !== "ushort") {
    throw new ImageError(
      name,
      "unsupported",
      `${format.toUpperCase()} with ${meta.depth} samples is not supported (8- or 16-bit unsigned only)`,
      "Convert it to an 8- or 16-bit PNG.",
    );
  }
  const sixteen = meta.depth === "ushort";
  const grey = meta.space === "b-w" || meta.space === "grey16";
  let raw: { data: Buffer; info: sharp.OutputInfo };
  try {
    raw = await sharp(buf, { failOn: "truncated" })
      .removeAlpha()
      .toColourspace(grey ? (sixteen ? "grey16" : "b-w") : sixteen ? "rgb16" : "srgb")
      .raw({ depth: sixteen ? "ushort" : "uchar" })
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw corrupt(name, format, err);
  }
  const { width, height, channels } = raw.info;
  let data: Uint8Array | Uint16Array;
  if (sixteen) {
    // Copy: the Buffer may not be 2-byte aligned.
    data = new Uint16Array(width * height * channels);
    new Uint8Array(data.buffer).set(raw.data.subarray(0, data.byteLength));
  } else {
    data = new Uint8Array(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength);
  }
  const palette = meta.isPalette === true;
  const img: DecodedImage = { width, height, channels, data, bitDepth: sixteen ? 16 : 8, format, palette };
  if (palette && options.palette === "indices" && format === "png")
    return pngPaletteIndices(img, bytes, name);
  return img;
}

function corrupt(name: string, format: ImageFormat, err: unknown): ImageError {
  const msg = (err as Error).message ?? String(err);
  return new ImageError(
    name,
    "corrupt",
    `cannot decode this ${format.toUpperCase()} file (${msg.trim()})`,
    "The file is damaged or incomplete: re-download or re-export it.",
    { cause: err },
  );
}

/** Size, channels and bit depth from the file's header, without decoding the pixels. */
export async function readImageInfo(path: string): Promise<ImageInfo> {
  const bytes = await readBytes(path);
  const format = sniffFormat(bytes);
  if (format === undefined) throw unknownFormat(path, bytes);
  if (format === "bmp") {
    const h = parseBmpHeader(bytes, path);
    return { format, width: h.width, height: h.height, channels: h.bpp === 32 ? 4 : 3, bitDepth: 8 };
  }
  try {
    const m = await sharp(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).metadata();
    return {
      format,
      width: m.width ?? 0,
      height: m.height ?? 0,
      channels: m.channels ?? 0,
      bitDepth: m.bitsPerSample ?? (m.depth === "ushort" ? 16 : 8),
    };
  } catch (err) {
    throw corrupt(path, format, err);
  }
}

// ---------------------------------------------------------------------------------------------
// Channel conversions

/** Three channels: grey is replicated, alpha dropped. Same bit depth. */
export function toRgb(img: RasterImage): RasterImage {
  const { width, height, channels, data } = img;
  if (channels === 3) return img;
  const n = width * height;
  const out = data instanceof Uint16Array ? new Uint16Array(n * 3) : new Uint8Array(n * 3);
  if (channels === 1 || channels === 2) {
    for (let i = 0; i < n; i++) {
      const v = data[i * channels]!;
      out[3 * i] = v;
      out[3 * i + 1] = v;
      out[3 * i + 2] = v;
    }
  } else if (channels === 4) {
    for (let i = 0; i < n; i++) {
      out[3 * i] = data[4 * i]!;
      out[3 * i + 1] = data[4 * i + 1]!;
      out[3 * i + 2] = data[4 * i + 2]!;
    }
  } else {
    throw new ImageError("(image)", "bad-argument", `cannot make RGB from ${channels} channels`);
  }
  return { width, height, channels: 3, data: out, bitDepth: img.bitDepth };
}

/** One channel. RGB uses ITU-R 601 luma like PIL's convert("L") (rounded); alpha dropped. */
export function toGrey(img: RasterImage): RasterImage {
  const { width, height, channels, data } = img;
  if (channels === 1) return img;
  const n = width * height;
  const out = data instanceof Uint16Array ? new Uint16Array(n) : new Uint8Array(n);
  if (channels === 2) {
    for (let i = 0; i < n; i++) out[i] = data[2 * i]!;
  } else {
    for (let i = 0; i < n; i++) {
      const j = i * channels;
      out[i] = Math.round((data[j]! * 299 + data[j + 1]! * 587 + data[j + 2]! * 114) / 1000);
    }
  }
  return { width, height, channels: 1, data: out, bitDepth: img.bitDepth };
}

// ---------------------------------------------------------------------------------------------
// PNG palette indices

/** Maps RGB pixels of a decoded palette PNG back to palette indices using its PLTE chunk. */
function pngPaletteIndices(img: DecodedImage, bytes: Uint8Array, name: string): DecodedImage {
  const plte = findPngChunk(bytes, "PLTE");
  if (!plte) throw new ImageError(name, "corrupt", "palette PNG without a PLTE chunk");
  const lookup = new Map<number, number>();
  for (let k = plte.length / 3 - 1; k >= 0; k--) {
    // Lowest index wins when a palette repeats a colour (padding entries are often all black).
    lookup.set((plte[3 * k]! << 16) | (plte[3 * k + 1]! << 8) | plte[3 * k + 2]!, k);
  }
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  const d = img.data;
  for (let i = 0; i < n; i++) {
    const key =
      img.channels === 1
        ? (d[i]! << 16) | (d[i]! << 8) | d[i]!
        : (d[3 * i]! << 16) | (d[3 * i + 1]! << 8) | d[3 * i + 2]!;
    const k = lookup.get(key);
    if (k === undefined) {
      throw new ImageError(
        name,
        "unsupported",
        "cannot recover palette indices (the decoder changed the palette colours, e.g. through a gamma or colour profile chunk)",
        "Save the mask as a plain greyscale PNG of label values.",
      );
    }
    out[i] = k;
  }
  return { ...img, channels: 1, data: out, bitDepth: 8 };
}

function findPngChunk(bytes: Uint8Array, type: string): Uint8Array | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 8;
  while (p + 8 <= bytes.length) {
    const len = view.getUint32(p);
    const t = String.fromCharCode(bytes[p + 4]!, bytes[p + 5]!, bytes[p + 6]!, bytes[p + 7]!);
    if (t === type) return bytes.subarray(p + 8, Math.min(p + 8 + len, bytes.length));
    if (t === "IDAT" || t === "IEND") return undefined;
    p += 12 + len;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// BMP

interface BmpHeader {
  width: number;
  height: number;
  topDown: boolean;
  bpp: number;
  compression: number;
  dataOffset: number;
  headerSize: number;
  colorsUsed: number;
  masks?: [number, number, number, number];
}

function parseBmpHeader(b: Uint8Array, name: string): BmpHeader {
  if (b.length < 26) throw new ImageError(name, "corrupt", `BMP file too short (${b.length} bytes)`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dataOffset = v.getUint32(10, true);
  const headerSize = v.getUint32(14, true);
  if (headerSize === 12) {
    throw new ImageError(
      name,
      "unsupported",
      "OS/2 BMP (BITMAPCOREHEADER) is not supported",
      "Convert it to PNG.",
    );
  }
  if (headerSize < 40 || b.length < 14 + headerSize) {
    throw new ImageError(name, "corrupt", `bad BMP info header size ${headerSize}`);
  }
  const width = v.getInt32(18, true);
  const rawHeight = v.getInt32(22, true);
  const bpp = v.getUint16(28, true);
  const compression = v.getUint32(30, true);
  const colorsUsed = v.getUint32(46, true);
  let masks: [number, number, number, number] | undefined;
  if (compression === 3 || compression === 6) {
    // BI_BITFIELDS / BI_ALPHABITFIELDS: masks follow a 40-byte header, or sit inside V2+ headers.
    const at = 54;
    if (b.length < at + 12) throw new ImageError(name, "corrupt", "BMP bit-field masks missing");
    const alpha = headerSize >= 56 || compression === 6 ? v.getUint32(at + 12, true) : 0;
    masks = [v.getUint32(at, true), v.getUint32(at + 4, true), v.getUint32(at + 8, true), alpha];
  }
  if (width <= 0 || rawHeight === 0)
    throw new ImageError(name, "corrupt", `bad BMP size ${width}x${rawHeight}`);
  return {
    width,
    height: Math.abs(rawHeight),
    topDown: rawHeight < 0,
    bpp,
    compression,
    dataOffset,
    headerSize,
    colorsUsed,
    masks,
  };
}

/**
 * Decodes an uncompressed BMP: 1/4/8-bit palette, 24-bit BGR, 32-bit BGRX/BGRA and 32-bit with
 * bit-field masks. RLE-compressed and 16-bit BMPs are refused with an error. Palette images whose
 * palette is all grey come back as one channel (like PIL's mode "L" for such files).
 */
export function decodeBmp(bytes: Uint8Array, name: string, options: ReadImageOptions = {}): DecodedImage {
  const h = parseBmpHeader(bytes, name);
  const { width, height, bpp } = h;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const okCompression = h.compression === 0 || ((h.compression === 3 || h.compression === 6) && bpp === 32);
  if (!okCompression || ![1, 4, 8, 24, 32].includes(bpp)) {
    const what =
      h.compression === 1 || h.compression === 2
        ? "RLE-compressed BMP"
        : h.compression === 4 || h.compression === 5
          ? "BMP with embedded JPEG/PNG"
          : `${bpp}-bit BMP (compression ${h.compression})`;
    throw new ImageError(
      name,
      "unsupported",
      `${what} is not supported (uncompressed 1/4/8/24/32-bit only)`,
      "Convert it to PNG.",
    );
  }
  const stride = Math.ceil((width * bpp) / 32) * 4;
  const need = h.dataOffset + stride * (height - 1) + Math.ceil((width * bpp) / 8);
  if (bytes.length < need) {
    throw new ImageError(
      name,
      "corrupt",
      `BMP truncated: pixel data needs ${need} bytes, the file has ${bytes.length}`,
      "The file is damaged or incomplete: re-download or re-export it.",
    );
  }
  const rowStart = (y: number) => h.dataOffset + (h.topDown ? y : height - 1 - y) * stride;
  const n = width * height;

  if (bpp <= 8) {
    const palStart = 14 + h.headerSize + (h.compression === 3 && h.headerSize === 40 ? 12 : 0);
    const count = h.colorsUsed || 1 << bpp;
    if (palStart + count * 4 > h.dataOffset || palStart + count * 4 > bytes.length) {
      throw new ImageError(
        name,
        "corrupt",
        `BMP palette of ${count} colours does not fit before the pixel data`,
      );
    }
    const idx = new Uint8Array(n);
    const perByte = 8 / bpp;
    const mask = (1 << bpp) - 1;
    for (let y = 0; y < height; y++) {
      const r = rowStart(y);
      for (let x = 0; x < width; x++) {
        const byte = bytes[r + Math.floor(x / perByte)]!;
        const shift = 8 - bpp * ((x % perByte) + 1);
        const k = (byte >> shift) & mask;
        if (k >= count)
          throw new ImageError(name, "corrupt", `BMP pixel uses palette index ${k} of ${count}`);
        idx[y * width + x] = k;
      }
    }
    if (options.palette === "indices") {
      return { width, height, channels: 1, data: idx, bitDepth: 8, format: "bmp", palette: true };
    }
    let grey = true;
    for (let k = 0; k < count; k++) {
      const p = palStart + 4 * k;
      if (bytes[p] !== bytes[p + 1] || bytes[p] !== bytes[p + 2]) grey = false;
    }
    const channels = grey ? 1 : 3;
    const out = new Uint8Array(n * channels);
    for (let i = 0; i < n; i++) {
      const p = palStart + 4 * idx[i]!;
      if (grey) out[i] = bytes[p]!;
      else {
        out[3 * i] = bytes[p + 2]!;
        out[3 * i + 1] = bytes[p + 1]!;
        out[3 * i + 2] = bytes[p]!;
      }
    }
    return { width, height, channels, data: out, bitDepth: 8, format: "bmp", palette: true };
  }

  const out = new Uint8Array(n * 3);
  if (bpp === 24) {
    for (let y = 0; y < height; y++) {
      const r = rowStart(y);
      for (let x = 0; x < width; x++) {
        const s = r + 3 * x;
        const d = 3 * (y * width + x);
        out[d] = bytes[s + 2]!;
        out[d + 1] = bytes[s + 1]!;
        out[d + 2] = bytes[s]!;
      }
    }
  } else {
    const [rm, gm, bm] = h.masks ?? [0xff0000, 0xff00, 0xff, 0];
    const chan = [rm, gm, bm].map((m) => {
      if (m === 0) return { shift: 0, max: 0, mask: 0 };
      let shift = 0;
      while (((m >>> shift) & 1) === 0) shift++;
      return { shift, max: m >>> shift, mask: m };
    });
    for (let y = 0; y < height; y++) {
      const r = rowStart(y);
      for (let x = 0; x < width; x++) {
        const px = v.getUint32(r + 4 * x, true);
        const d = 3 * (y * width + x);
        for (let c = 0; c < 3; c++) {
          const ch = chan[c]!;
          out[d + c] = ch.max === 0 ? 0 : Math.round((((px & ch.mask) >>> ch.shift) * 255) / ch.max);
        }
      }
    }
  }
  return { width, height, channels: 3, data: out, bitDepth: 8, format: "bmp", palette: false };
}

/**
 * Encodes an 8-bit image as BMP: one channel as 8-bit grey palette, three as 24-bit, four as
 * 32-bit BGRA (BI_RGB). Bottom-up rows, as most writers do.
 */
export function encodeBmp(img: RasterImage): Uint8Array {
  checkImage(img, "(bmp)");
  if (img.bitDepth !== 8) throw new ImageError("(bmp)", "bad-argument", "BMP holds 8-bit samples only");
  const { width, height, channels, data } = img;
  if (channels === 2) throw new ImageError("(bmp)", "bad-argument", "BMP has no grey + alpha mode");
  const bpp = channels === 1 ? 8 : channels === 3 ? 24 : 32;
  const stride = Math.ceil((width * bpp) / 32) * 4;
  const palette = channels === 1 ? 256 * 4 : 0;
  const offset = 14 + 40 + palette;
  const out = new Uint8Array(offset + stride * height);
  const v = new DataView(out.buffer);
  out[0] = 0x42;
  out[1] = 0x4d;
  v.setUint32(2, out.length, true);
  v.setUint32(10, offset, true);
  v.setUint32(14, 40, true);
  v.setInt32(18, width, true);
  v.setInt32(22, height, true);
  v.setUint16(26, 1, true);
  v.setUint16(28, bpp, true);
  v.setUint32(34, stride * height, true);
  v.setInt32(38, 2835, true);
  v.setInt32(42, 2835, true);
  if (channels === 1) {
    v.setUint32(46, 256, true);
    for (let k = 0; k < 256; k++) out.fill(k, 54 + 4 * k, 54 + 4 * k + 3);
  }
  for (let y = 0; y < height; y++) {
    const r = offset + (height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const s = (y * width + x) * channels;
      if (channels === 1) out[r + x] = data[s]!;
      else {
        const d = r + x * (bpp / 8);
        out[d] = data[s + 2]!;
        out[d + 1] = data[s + 1]!;
        out[d + 2] = data[s]!;
        if (channels === 4) out[d + 3] = data[s + 3]!;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// PNG writer

function checkImage(img: RasterImage, name: string): void {
  const { width, height, channels, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new ImageError(name, "bad-argument", `bad image size ${width}x${height}`);
  }
  if (![1, 2, 3, 4].includes(channels)) {
    throw new ImageError(name, "bad-argument", `bad channel count ${channels} (1-4)`);
  }
  if (data.length !== width * height * channels) {
    throw new ImageError(
      name,
      "bad-argument",
      `data has ${data.length} samples, ${width}x${height}x${channels} needs ${width * height * channels}`,
    );
  }
  const is16 = data instanceof Uint16Array;
  if ((img.bitDepth === 16) !== is16) {
    throw new ImageError(
      name,
      "bad-argument",
      `bitDepth ${img.bitDepth} does not match ${data.constructor.name} data`,
    );
  }
}

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

/** Writes an 8- or 16-bit PNG (see encodePng). */
export async function writePng(path: string, img: RasterImage): Promise<void> {
  const bytes = encodePng(img, path);
  try {
    await writeFile(path, bytes);
  } catch (err) {
    throw new ImageError(path, "io", `cannot write the file (${(err as Error).message})`, "", { cause: err });
  }
}

/**
 * Encodes an image in any of the supported formats; JPEG and TIFF go through sharp (8-bit only
 * for JPEG). Meant for tests and exports; predictions should be PNG (lossless).
 */
export async function encodeImage(
  img: RasterImage,
  format: ImageFormat,
  options: { quality?: number } = {},
): Promise<Uint8Array> {
  if (format === "png") return encodePng(img);
  if (format === "bmp") return encodeBmp(img);
  checkImage(img, `(${format})`);
  if (img.bitDepth === 16 && format === "jpeg") {
    throw new ImageError("(jpeg)", "bad-argument", "JPEG holds 8-bit samples only");
  }
  // sharp's raw input path is reliable for 8-bit only: go through our PNG for 16-bit.
  const input =
    img.bitDepth === 16
      ? sharp(Buffer.from(encodePng(img)))
      : sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), {
          raw: { width: img.width, height: img.height, channels: img.channels as 1 | 2 | 3 | 4 },
        });
  const grey = img.channels <= 2;
  const out =
    format === "jpeg"
      ? input
          .toColourspace(grey ? "b-w" : "srgb")
          .jpeg({ quality: options.quality ?? 90 })
          .toBuffer()
      : input
          .toColourspace(
            grey ? (img.bitDepth === 16 ? "grey16" : "b-w") : img.bitDepth === 16 ? "rgb16" : "srgb",
          )
          .tiff({ compression: "lzw" })
          .toBuffer();
  return new Uint8Array(await out);
}
