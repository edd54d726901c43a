// DICOM images (Part 10 files, or a bare data set in implicit VR little endian): the pixel data of
// uncompressed and RLE Lossless transfer syntaxes, as modality values (the 0..255 planes: dicom-display.ts).
// Pure (no Node.js built-ins): the web viewer decodes DICOM with it in the browser. Parsing is
// dicom-parser's; what is done here is the pixel module (PS3.3 C.7.6.3) and the refusals.
//
// Read: implicit and explicit VR little endian, explicit VR big endian, deflated explicit VR
// little endian (with an inflater: Node's zlib by default in Node, DecompressionStream in the
// browser through decodeDicomAsync), RLE Lossless; 8-, 16- and 32-bit samples, signed or not,
// any BitsStored;
// MONOCHROME1/2 and RGB (interleaved or planar); multi-frame. Rescale slope/intercept give the
// modality values (e.g. Hounsfield units).
// Not read: the JPEG family (JPEG, JPEG-LS, JPEG 2000, JPEG XL, ...), float pixel
// data, palette colour and YBR photometric interpretations: each is refused with a message that
// says what the file holds and how to convert it.
//
// To 0..255: dicom-display.ts.

import dicomParser from "dicom-parser";
import { concatBytes } from "../bytes.js";
import { FileError } from "../file-error.js";
import { CODEC_OF, DECODES_TO_RGB, type FrameDecoder } from "./dicom-codecs.js";
import type { SliceHeader } from "./dicom-order.js";

export type DicomErrorCode = "corrupt" | "truncated" | "unsupported" | "bad-argument";

/** Every failure in this module: names the file, says what is wrong and what to do. */
export class DicomError extends FileError<DicomErrorCode> {
  override name = "DicomError";
}

const DAMAGED = "The file is damaged or incomplete: re-export it from the PACS or the scanner.";
const DECOMPRESS =
  "Decompress it first, e.g. `gdcmconv --raw in.dcm out.dcm` (GDCM) or `dcmdjpeg in.dcm out.dcm` (DCMTK).";

export const TRANSFER_SYNTAXES = {
  implicitLittle: "1.2.840.10008.1.2",
  explicitLittle: "1.2.840.10008.1.2.1",
  deflatedExplicitLittle: "1.2.840.10008.1.2.1.99",
  explicitBig: "1.2.840.10008.1.2.2",
} as const;

const UNCOMPRESSED = new Set<string>(Object.values(TRANSFER_SYNTAXES));

/** Names of the compressed transfer syntaxes people meet, for the refusal message. */
const COMPRESSED_NAMES: Record<string, string> = {
  "1.2.840.10008.1.2.4.50": "JPEG Baseline",
  "1.2.840.10008.1.2.4.51": "JPEG Extended",
  "1.2.840.10008.1.2.4.57": "JPEG Lossless",
  "1.2.840.10008.1.2.4.70": "JPEG Lossless SV1",
  "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless",
  "1.2.840.10008.1.2.4.81": "JPEG-LS Near-Lossless",
  "1.2.840.10008.1.2.4.90": "JPEG 2000 Lossless",
  "1.2.840.10008.1.2.4.91": "JPEG 2000",
  "1.2.840.10008.1.2.4.201": "HTJ2K Lossless",
  "1.2.840.10008.1.2.4.202": "HTJ2K Lossless RPCL",
  "1.2.840.10008.1.2.4.203": "HTJ2K",
  "1.2.840.10008.1.2.5": "RLE Lossless",
  "1.2.840.10008.1.2.4.100": "MPEG-2",
  "1.2.840.10008.1.2.4.102": "MPEG-4",
  "1.2.840.10008.1.2.4.110": "JPEG XL Lossless",
  "1.2.840.10008.1.2.4.112": "JPEG XL",
};

/** A decoded DICOM image. */
export interface DicomImage {
  rows: number;
  columns: number;
  frames: number;
  /** 1 (grey) or 3 (RGB). */
  samplesPerPixel: number;
  photometric: "MONOCHROME1" | "MONOCHROME2" | "RGB";
  bitsAllocated: number;
  bitsStored: number;
  signed: boolean;
  rescaleSlope: number;
  rescaleIntercept: number;
  /** The first VOI window of the file, if it has one (in modality values). */
  window?: { center: number; width: number };
  /** Row and column spacing in mm (PixelSpacing), if given. */
  spacing?: [number, number];
  transferSyntax: string;
  /** Identity and geometry, as slice ordering (dicom-order.ts) reads them. */
  header: SliceHeader;
  /** Modality values (rescale applied), one array per frame, [rows, columns, samples] interleaved. */
  frameData: Float32Array[];
}

export interface DecodeDicomOptions {
  /**
   * Inflates raw-deflate bytes, for the deflated transfer syntax. Default: dicom-parser's own
   * (Node's zlib; unavailable in the browser, where decodeDicomAsync inflates beforehand).
   */
  inflate?: (deflated: Uint8Array) => Uint8Array;
  /**
   * Decodes compressed frames (the JPEG family; dicom-codecs.ts). Without it those files are
   * refused; in Node, decodeDicomFile (dicom-node.ts) passes the bundled codecs.
   */
  codecs?: FrameDecoder;
}

/** True when the bytes look like DICOM: a Part 10 preamble ("DICM" at 128) or a bare data set. */
export function sniffDicom(bytes: Uint8Array): boolean {
  if (bytes.length >= 132 && String.fromCharCode(...bytes.subarray(128, 132)) === "DICM") return true;
  return bareDataSet(bytes);
}

/** A data set without preamble: the first tag is a group 0x0008 element (implicit VR LE). */
function bareDataSet(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && bytes[0] === 0x08 && bytes[1] === 0x00 && bytes[3] === 0x00;
}

function isPart10(bytes: Uint8Array): boolean {
  return bytes.length >= 132 && String.fromCharCode(...bytes.subarray(128, 132)) === "DICM";
}

class NeedsInflate extends Error {
  constructor(readonly position: number) {
    super("deflated data set");
  }
}

/** Decodes a DICOM file's image (all frames). `name` is used in errors. */
export function decodeDicom(
  bytes: Uint8Array,
  name = "(dicom)",
  options: DecodeDicomOptions = {},
): DicomImage {
  const inflater = options.inflate
    ? (arr: Uint8Array, position: number) =>
        concatBytes([arr.subarray(0, position), options.inflate!(arr.subarray(position))])
    : undefined;
  return fromDataSet(parse(bytes, name, inflater), name, options.codecs);
}

/**
 * decodeDicom for the browser: a deflated data set is inflated with `inflate` (asynchronous, e.g.
 * DecompressionStream("deflate-raw")) before parsing.
 */
export async function decodeDicomAsync(
  bytes: Uint8Array,
  name: string,
  inflate: (deflated: Uint8Array) => Promise<Uint8Array>,
  codecs?: FrameDecoder,
): Promise<DicomImage> {
  let position = -1;
  try {
    return fromDataSet(
      parse(bytes, name, (_arr, at) => {
        throw new NeedsInflate(at);
      }),
      name,
      codecs,
    );
  } catch (err) {
    if (!(err instanceof NeedsInflate)) throw err;
    position = err.position;
  }
  let inflated: Uint8Array;
  try {
    inflated = await inflate(bytes.subarray(position));
  } catch (err) {
    throw new DicomError(
      name,
      "corrupt",
      `cannot inflate the deflated data set (${(err as Error).message})`,
      DAMAGED,
      {
        cause: err,
      },
    );
  }
  const full = concatBytes([bytes.subarray(0, position), inflated]);
  return fromDataSet(
    parse(bytes, name, () => full),
    name,
    codecs,
  );
}

function parse(
  bytes: Uint8Array,
  name: string,
  inflater?: (arr: Uint8Array, position: number) => Uint8Array,
): dicomParser.DataSet {
  if (bytes.length === 0) throw new DicomError(name, "corrupt", "the file is empty", DAMAGED);
  const part10 = isPart10(bytes);
  if (!part10 && !bareDataSet(bytes)) {
    throw new DicomError(
      name,
      "corrupt",
      'not a DICOM file (no "DICM" marker at byte 128 and no data set at the start)',
      DAMAGED,
    );
  }
  // dicom-parser's typings say the inflater returns void; it returns the inflated bytes.
  const options = {
    ...(part10 ? {} : { TransferSyntaxUID: TRANSFER_SYNTAXES.implicitLittle }),
    ...(inflater ? { inflater: inflater as unknown as (arr: Uint8Array, position: number) => void } : {}),
  };
  try {
    return dicomParser.parseDicom(bytes, options);
  } catch (err) {
    if (err instanceof NeedsInflate) throw err;
    // dicom-parser throws strings as well as errors, sometimes with the partial data set.
    const e = err as { exception?: string; message?: string } | string;
    const msg = typeof e === "string" ? e : (e.exception ?? e.message ?? String(err));
    const truncated = /past end|end of buffer|beyond|truncat/i.test(msg);
    throw new DicomError(
      name,
      truncated ? "truncated" : "corrupt",
      truncated ? `the file ends early (${msg})` : `cannot parse the DICOM data set (${msg})`,
      DAMAGED,
      { cause: err },
    );
  }
}

function fromDataSet(ds: dicomParser.DataSet, name: string, codecs?: FrameDecoder): DicomImage {
  const ts = (ds.string("x00020010") ?? TRANSFER_SYNTAXES.implicitLittle).replace(/\0/g, "").trim();
  const rle = ts === RLE_LOSSLESS;
  const codec = codecs ? CODEC_OF[ts] : undefined;
  if (!UNCOMPRESSED.has(ts) && !rle && !codec) {
    const label = COMPRESSED_NAMES[ts] ?? "a compressed or unknown encoding";
    const why = CODEC_OF[ts]
      ? "this reader was given no codecs (decodeDicom's `codecs` option)"
      : "udeg decodes uncompressed, RLE, JPEG, JPEG-LS and JPEG 2000 (not 12-bit JPEG, HTJ2K, JPEG XL, video)";
    throw new DicomError(
      name,
      "unsupported",
      `compressed DICOM (${label}, transfer syntax ${ts}) is not supported: ${why}`,
      DECOMPRESS,
    );
  }
  const pixel = ds.elements.x7fe00010;
  if (!pixel) {
    if (ds.elements.x7fe00008 || ds.elements.x7fe00009)
      throw new DicomError(
        name,
        "unsupported",
        "float pixel data (7FE0,0008/0009) is not supported",
        "Save it with integer pixel data.",
      );
    throw new DicomError(
      name,
      "unsupported",
      "no pixel data (7FE0,0010): not an image (a structured report, a presentation state, ...?)",
    );
  }
  if (pixel.encapsulatedPixelData && !rle && !codec) {
    throw new DicomError(
      name,
      "unsupported",
      `the pixel data is encapsulated (compressed) although the transfer syntax ${ts} says uncompressed`,
      DECOMPRESS,
    );
  }
  const need = (tag: string, what: string): number => {
    const v = ds.uint16(tag);
    if (v === undefined)
      throw new DicomError(name, "corrupt", `${what} (${tagName(tag)}) is missing`, DAMAGED);
    return v;
  };
  const rows = need("x00280010", "Rows");
  const columns = need("x00280011", "Columns");
  const bitsAllocated = need("x00280100", "BitsAllocated");
  const samplesPerPixel = ds.uint16("x00280002") ?? 1;
  const bitsStored = ds.uint16("x00280101") ?? bitsAllocated;
  const highBit = ds.uint16("x00280102") ?? bitsStored - 1;
  const signed = (ds.uint16("x00280103") ?? 0) === 1;
  const planar = (ds.uint16("x00280006") ?? 0) === 1;
  const frames = Math.max(1, ds.intString("x00280008") ?? 1);
  const stored = (ds.string("x00280004") ?? (samplesPerPixel === 3 ? "RGB" : "MONOCHROME2")).trim();
  // YCbCr that the codec turns into RGB while decoding (JPEG's YCbCr, JPEG 2000's ICT/RCT).
  const codecRgb = codec && DECODES_TO_RGB.has(codec) && /^YBR_(FULL|FULL_422|ICT|RCT)$/.test(stored);
  // Stored YCbCr (uncompressed or RLE, 8-bit): turned into RGB here, as pydicom's
  // convert_color_space does (PS3.3 C.7.6.3.1.2); YBR_FULL_422 stores Y1 Y2 Cb Cr per pixel pair.
  const ybr =
    !codecRgb &&
    samplesPerPixel === 3 &&
    bitsAllocated === 8 &&
    (stored === "YBR_FULL" || stored === "YBR_FULL_422");
  const ybr422 = ybr && stored === "YBR_FULL_422" && !rle;
  const photometric = codecRgb || ybr ? "RGB" : stored;
  if (rows === 0 || columns === 0)
    throw new DicomError(name, "corrupt", `bad image size ${columns}x${rows}`, DAMAGED);
  if (![8, 16, 32].includes(bitsAllocated))
    throw new DicomError(
      name,
      "unsupported",
      `${bitsAllocated}-bit pixel data is not supported (8, 16 or 32 bits allocated)`,
      "Convert it to 8- or 16-bit samples.",
    );
  if (bitsStored < 1 || bitsStored > bitsAllocated || highBit !== bitsStored - 1)
    throw new DicomError(
      name,
      bitsStored < 1 || bitsStored > bitsAllocated ? "corrupt" : "unsupported",
      `BitsStored ${bitsStored} / HighBit ${highBit} with ${bitsAllocated} bits allocated is not supported`,
      DAMAGED,
    );
  const grey = photometric === "MONOCHROME1" || photometric === "MONOCHROME2";
  if (!(grey && samplesPerPixel === 1) && !(photometric === "RGB" && samplesPerPixel === 3)) {
    throw new DicomError(
      name,
      "unsupported",
      `photometric interpretation ${photometric} with ${samplesPerPixel} sample(s) per pixel is not supported (MONOCHROME1, MONOCHROME2 or RGB)`,
      "Convert it to greyscale or RGB.",
    );
  }
  const bytesPer = bitsAllocated / 8;
  const perFrame = rows * columns * samplesPerPixel;
  if (ybr422 && columns % 2 !== 0)
    throw new DicomError(name, "corrupt", `YBR_FULL_422 with an odd number of columns (${columns})`, DAMAGED);
  const storedPerFrame = ybr422 ? rows * columns * 2 : perFrame;
  const needBytes = storedPerFrame * frames * bytesPer;
  let view: DataView;
  let little = ts !== TRANSFER_SYNTAXES.explicitBig;
  let planarLayout = planar;
  if (rle) {
    // RLE Lossless decodes to little-endian, sample-planar frames (PS3.5 G.2).
    const fragments = pixel.fragments ?? [];
    if (!pixel.encapsulatedPixelData || fragments.length < frames)
      throw new DicomError(
        name,
        "corrupt",
        `RLE pixel data with ${fragments.length} fragment(s) for ${frames} frame(s)`,
        DAMAGED,
      );
    const raw = new Uint8Array(needBytes);
    for (let f = 0; f < frames; f++) {
      const bytes = frameBytes(ds, pixel, f, frames, name);
      raw.set(
        decodeRleFrame(bytes, rows * columns, samplesPerPixel, bytesPer, `${name} frame ${f + 1}`),
        f * perFrame * bytesPer,
      );
    }
    view = new DataView(raw.buffer);
    little = true;
    planarLayout = true;
  } else if (codec && codecs) {
    // The codecs give little-endian, sample-interleaved frames.
    const layout = { rows, columns, samplesPerPixel, bitsAllocated, bitsStored, photometric: stored };
    const raw = new Uint8Array(needBytes);
    for (let f = 0; f < frames; f++) {
      let decoded: Uint8Array;
      try {
        decoded = codecs(ts, frameBytes(ds, pixel, f, frames, name), layout);
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        const depth = /is not decoded/.test(msg);
        throw new DicomError(
          name,
          depth ? "unsupported" : "corrupt",
          `frame ${f + 1} of ${frames} (${COMPRESSED_NAMES[ts]}): ${msg}`,
          depth ? DECOMPRESS : DAMAGED,
          { cause: err },
        );
      }
      raw.set(decoded, f * perFrame * bytesPer);
    }
    view = new DataView(raw.buffer);
    little = true;
    planarLayout = false;
  } else {
    const available = Math.min(pixel.length, ds.byteArray.length - pixel.dataOffset);
    if (available < needBytes) {
      throw new DicomError(
        name,
        "truncated",
        `the pixel data holds ${available} bytes, ${frames} frame(s) of ${columns}x${rows}x${samplesPerPixel} at ${bitsAllocated} bits need ${needBytes}`,
        DAMAGED,
      );
    }
    view = new DataView(ds.byteArray.buffer, ds.byteArray.byteOffset + pixel.dataOffset, needBytes);
  }
  const slope = ds.floatString("x00281053") ?? 1;
  const intercept = ds.floatString("x00281052") ?? 0;
  const rescaleSlope = Number.isFinite(slope) && slope !== 0 ? slope : 1;
  const rescaleIntercept = Number.isFinite(intercept) ? intercept : 0;
  const mask = bitsStored >= 32 ? 0xffffffff : 2 ** bitsStored - 1;
  const signBit = 2 ** (bitsStored - 1);
  const read = (i: number): number => {
    let v: number;
    if (bytesPer === 1) v = view.getUint8(i);
    else if (bytesPer === 2) v = view.getUint16(2 * i, little);
    else v = view.getUint32(4 * i, little);
    if (bitsStored < bitsAllocated) v = bitsStored >= 32 ? v : v % (mask + 1);
    if (signed && v >= signBit) v -= 2 * signBit;
    return v;
  };
  const frameData: Float32Array[] = [];
  for (let f = 0; f < frames; f++) {
    const out = new Float32Array(perFrame);
    const base = f * storedPerFrame;
    if (ybr422) {
      for (let j = 0; j < (rows * columns) / 2; j++) {
        const [y1, y2, cb, cr] = [0, 1, 2, 3].map((k) => read(base + 4 * j + k));
        out.set([y1!, cb!, cr!, y2!, cb!, cr!], 6 * j);
      }
    } else if (samplesPerPixel === 3 && planarLayout) {
      const plane = rows * columns;
      for (let c = 0; c < 3; c++)
        for (let p = 0; p < plane; p++)
          out[3 * p + c] = read(base + c * plane + p) * rescaleSlope + rescaleIntercept;
    } else {
      for (let i = 0; i < perFrame; i++) out[i] = read(base + i) * rescaleSlope + rescaleIntercept;
    }
    if (ybr) ybrToRgb(out);
    frameData.push(out);
  }
  const center = ds.floatString("x00281050");
  const width = ds.floatString("x00281051");
  const sx = ds.floatString("x00280030", 0);
  const sy = ds.floatString("x00280030", 1);
  return {
    rows,
    columns,
    frames,
    samplesPerPixel,
    photometric: photometric as DicomImage["photometric"],
    bitsAllocated,
    bitsStored,
    signed,
    rescaleSlope,
    rescaleIntercept,
    ...(center !== undefined && width !== undefined && Number.isFinite(center) && width >= 1
      ? { window: { center, width } }
      : {}),
    ...(sx !== undefined && sy !== undefined && sx > 0 && sy > 0
      ? { spacing: [sx, sy] as [number, number] }
      : {}),
    transferSyntax: ts,
    header: sliceHeader(ds),
    frameData,
  };
}

/** YBR_FULL -> RGB in place, 8-bit, with pydicom's coefficients and rounding (floor(x + 0.5), clipped). */
function ybrToRgb(px: Float32Array): void {
  for (let i = 0; i < px.length; i += 3) {
    const y = px[i]!;
    const cb = px[i + 1]! - 128;
    const cr = px[i + 2]! - 128;
    const q = (v: number) => Math.min(255, Math.max(0, Math.floor(v + 0.5)));
    px[i] = q(y + 1.402 * cr);
    px[i + 1] = q(y - ((0.114 * 1.772) / 0.587) * cb - ((0.299 * 1.402) / 0.587) * cr);
    px[i + 2] = q(y + 1.772 * cb);
  }
}

function sliceHeader(ds: dicomParser.DataSet): SliceHeader {
  const text = (tag: string) => (ds.string(tag) ?? "").replace(/\0/g, "").trim();
  const floats = (tag: string, n: number) => {
    const v = Array.from({ length: n }, (_, i) => ds.floatString(tag, i));
    return v.every((x) => x !== undefined && Number.isFinite(x)) ? (v as number[]) : undefined;
  };
  return {
    sopClassUID: text("x00080016"),
    modality: text("x00080060"),
    seriesInstanceUID: text("x0020000e"),
    sopInstanceUID: text("x00080018"),
    instanceNumber: ds.intString("x00200013") ?? 0,
    position: floats("x00200032", 3),
    orientation: floats("x00200037", 6),
  };
}

const RLE_LOSSLESS = "1.2.840.10008.1.2.5";

/**
 * Frame `f`'s bytes of encapsulated pixel data: by the basic offset table when there is one,
 * else every fragment for a single frame, one fragment per frame when they match, else split at
 * each fragment that starts a JPEG stream (dicom-parser's reconstructed offset table).
 */
function frameBytes(
  ds: dicomParser.DataSet,
  pixel: dicomParser.Element,
  f: number,
  frames: number,
  name: string,
): Uint8Array {
  const fragments = pixel.fragments ?? [];
  if (fragments.length === 0)
    throw new DicomError(name, "corrupt", "encapsulated pixel data without fragments", DAMAGED);
  if ((pixel.basicOffsetTable ?? []).length > 0) return dicomParser.readEncapsulatedImageFrame(ds, pixel, f);
  if (frames === 1) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixel, 0, fragments.length);
  if (fragments.length === frames) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixel, f, 1);
  const table = dicomParser.createJPEGBasicOffsetTable(ds, pixel);
  return dicomParser.readEncapsulatedImageFrame(ds, pixel, f, table);
}

/**
 * One RLE Lossless frame (PS3.5 Annex G) to little-endian bytes, sample planes one after the
 * other: a 64-byte header of segment offsets, then one PackBits segment per byte of each sample,
 * most significant byte first. Written here: the format is a page long, and the codec packages
 * (Cornerstone's) cover the JPEG family only.
 */
function decodeRleFrame(
  src: Uint8Array,
  pixels: number,
  samples: number,
  bytesPer: number,
  name: string,
): Uint8Array {
  const v = new DataView(src.buffer, src.byteOffset, src.byteLength);
  if (src.length < 64)
    throw new DicomError(name, "corrupt", "RLE frame shorter than its 64-byte header", DAMAGED);
  const segments = v.getUint32(0, true);
  if (segments !== samples * bytesPer)
    throw new DicomError(
      name,
      "corrupt",
      `RLE frame with ${segments} segments, expected ${samples * bytesPer}`,
      DAMAGED,
    );
  const out = new Uint8Array(pixels * samples * bytesPer);
  for (let s = 0; s < segments; s++) {
    const start = v.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? v.getUint32(8 + 4 * s, true) : src.length;
    const sample = Math.floor(s / bytesPer);
    const byte = bytesPer - 1 - (s % bytesPer); // segment 0 of a sample is its most significant byte
    let o = 0;
    let i = start;
    const put = (b: number) => {
      if (o < pixels) out[(sample * pixels + o) * bytesPer + byte] = b;
      o++;
    };
    while (i < end && o < pixels) {
      const n = (src[i++]! << 24) >> 24; // signed byte
      if (n >= 0) for (let k = 0; k <= n && i < end; k++) put(src[i++]!);
      else if (n !== -128) {
        const b = src[i++]!;
        for (let k = 0; k < 1 - n; k++) put(b);
      }
    }
    if (o < pixels)
      throw new DicomError(
        name,
        "truncated",
        `RLE segment ${s + 1} ends after ${o} of ${pixels} pixels`,
        DAMAGED,
      );
  }
  return out;
}

function tagName(tag: string): string {
  return `${tag.slice(1, 5)},${tag.slice(5, 9)}`.toUpperCase();
}
