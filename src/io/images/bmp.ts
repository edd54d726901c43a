// BMP, decoded and encoded here: libvips (sharp) has no BMP loader. Uncompressed 1/4/8-bit
// palette, 24-bit and 32-bit (bit fields too), bottom-up or top-down; RLE and 16-bit are refused.
import {
  checkImage,
  type DecodedImage,
  ImageError,
  type RasterImage,
  type ReadImageOptions,
} from "./image-types.js";

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

export function parseBmpHeader(b: Uint8Array, name: string): BmpHeader {
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
