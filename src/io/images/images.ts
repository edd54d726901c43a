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
// - Single-frame DICOM (any transfer syntax dicom.ts reads): the 0..255 planes `udeg predict` makes
//   of it (dicomToPlanar: stored 8-bit values, else the VOI window or percentiles; then 8-bit, or
//   16-bit = value x 257 to keep the window's fractions), so a model trained on DICOM sees what it
//   will be given. Multi-frame files are refused:
//   they are volumes (`udeg convert` makes a NIfTI of them for the volume datasets).
//
// The PNG writer is ours (node:zlib deflate), not sharp's: sharp turns one-channel 8-bit input
// into an RGB PNG, and its 16-bit raw input path does not keep values.

// BMP and the PNG encoder are modules of their own (bmp.ts, png-encode.ts), the types are in
// image-types.ts.

import { readFile } from "node:fs/promises";
import sharp from "sharp";
import { writeFileAtomic } from "../atomic.js";
import { type DicomImage, sniffDicom } from "../dicom/dicom.js";
import { dicomDisplayMapping, dicomToPlanar } from "../dicom/dicom-display.js";
import { decodeDicomFile } from "../dicom/dicom-node.js";
import { decodeBmp, encodeBmp, parseBmpHeader } from "./bmp.js";
import {
  checkImage,
  type DecodedImage,
  FORMATS_HINT,
  ImageError,
  type ImageFormat,
  type ImageInfo,
  type RasterImage,
  type ReadImageOptions,
} from "./image-types.js";
import { encodePng } from "./png-encode.js";

/** The format from the first bytes (never from the name: files get renamed). */
export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  const b = bytes;
  // DICOM first: a Part 10 preamble may be anything, a TIFF header included.
  if (b.length >= 132 && String.fromCharCode(...b.subarray(128, 132)) === "DICM") return "dicom";
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return "png";
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
  if (b.length >= 4 && b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) return "tiff";
  if (b.length >= 4 && b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a) return "tiff";
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return "bmp";
  if (sniffDicom(b)) return "dicom"; // a bare data set
  return undefined;
}

/** A single-frame DICOM file as the 8-bit image `udeg predict` makes of it. */
async function decodeDicomImage(bytes: Uint8Array, name: string): Promise<DicomImage> {
  const img = await decodeDicomFile(bytes, name);
  if (img.frames !== 1)
    throw new ImageError(
      name,
      "unsupported",
      `a DICOM file of ${img.frames} frames is a volume, not a 2-D image`,
      "Make it a NIfTI volume with `udeg convert --input FILE --out NAME.nii.gz` and use a NIfTI dataset.",
    );
  return img;
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

/**
 * An image file as decoded, before any intensity mapping: a raster (PNG, JPEG, TIFF, BMP) or a
 * single-frame DICOM image. data/input-rule.ts turns either into the network's planes; this is
 * the reader training, eval and `udeg predict` share, so a DICOM's windowed floats reach both
 * unrounded.
 */
export async function readImageSource(
  path: string,
): Promise<{ kind: "raster"; image: DecodedImage } | { kind: "dicom"; image: DicomImage; frame: 0 }> {
  const bytes = await readBytes(path);
  if (sniffFormat(bytes) === "dicom")
    return { kind: "dicom", image: await decodeDicomImage(bytes, path), frame: 0 };
  return { kind: "raster", image: await decodeImage(bytes, path) };
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
  if (format === "dicom") {
    // Interleaved; windowed values keep their fractions as 16-bit (v * 257: 1/257 of a grey level).
    const p = dicomToPlanar(await decodeDicomImage(bytes, name), 0);
    const { width, height, channels } = p;
    const n = width * height;
    const data = p.quantized ? new Uint8Array(n * channels) : new Uint16Array(n * channels);
    const scale = p.quantized ? 1 : 257;
    for (let k = 0; k < channels; k++)
      for (let i = 0; i < n; i++) data[i * channels + k] = Math.round(p.data[k * n + i]! * scale);
    return { width, height, channels, data, bitDepth: p.quantized ? 8 : 16, format, palette: false };
  }
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
  if (format === "dicom") {
    const img = await decodeDicomImage(bytes, path);
    const bitDepth = dicomDisplayMapping(img).kind === "stored" ? 8 : 16;
    return { format, width: img.columns, height: img.rows, channels: img.samplesPerPixel, bitDepth };
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

/** Writes an 8- or 16-bit PNG (see encodePng). */
export async function writePng(path: string, img: RasterImage): Promise<void> {
  const bytes = encodePng(img, path);
  try {
    // Atomic (temporary file + rename): a killed writer never leaves half a file, and a
    // retried prediction job rewrites the same file whole.
    writeFileAtomic(path, bytes);
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
export { decodeBmp, encodeBmp } from "./bmp.js";
export * from "./image-types.js";
export { encodePng } from "./png-encode.js";
