// Compressed DICOM frames (the JPEG family) decoded by maintained codecs, not by code of ours:
// the Cornerstone codec packages that OHIF's viewer uses, C libraries compiled to WASM —
// libjpeg-turbo (JPEG Baseline / Extended, 8-bit), CharLS (JPEG-LS), OpenJPEG (JPEG 2000) — and
// jpeg-lossless-decoder-js (JPEG Lossless, processes 14 and SV1; pure JS, the one Cornerstone
// uses). Being WASM and JS, the same codecs run in Node and in the page.
//
// This module is pure: it takes the loaded codec modules (Node: dicom-node.ts loads them from
// node_modules; the page: web/src/codecs.ts from its bundle) and turns one frame's bytes into the
// little-endian, sample-interleaved bytes the uncompressed path of dicom.ts reads. The checks are
// ours: the decoded size, bit depth and components must be those the DICOM header announces.
//
// Not decoded: 12-bit JPEG Extended (the 8-bit libjpeg-turbo build is the maintained WASM one),
// HTJ2K, JPEG XL, MPEG: refused by dicom.ts with the transfer syntax named.

/** A Cornerstone WASM decoder (one class per codec; same interface). */
export interface WasmFrameDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number };
  getDecodedBuffer(): ArrayBufferView;
  delete(): void;
}

/** The loaded codec modules. */
export interface CodecModules {
  openjpeg: { J2KDecoder: new () => WasmFrameDecoder };
  charls: { JpegLSDecoder: new () => WasmFrameDecoder };
  libjpegTurbo: { JPEGDecoder: new () => WasmFrameDecoder };
  jpegLossless: {
    Decoder: new () => {
      decode(buffer: ArrayBuffer, offset: number, length: number, numBytes: number): Uint8Array | Uint16Array;
    };
  };
}

/** What the DICOM header says one frame holds. */
export interface FrameLayout {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  /** PhotometricInterpretation as stored: says whether a JPEG's 3 components are RGB or YCbCr. */
  photometric: string;
}

export type CodecName = "libjpeg-turbo" | "CharLS" | "OpenJPEG" | "jpeg-lossless-decoder-js";

/** Transfer syntax -> the codec that decodes it. */
export const CODEC_OF: Readonly<Record<string, CodecName>> = {
  "1.2.840.10008.1.2.4.50": "libjpeg-turbo", // JPEG Baseline (process 1)
  "1.2.840.10008.1.2.4.51": "libjpeg-turbo", // JPEG Extended (processes 2 and 4): 8-bit only
  "1.2.840.10008.1.2.4.57": "jpeg-lossless-decoder-js", // JPEG Lossless (process 14)
  "1.2.840.10008.1.2.4.70": "jpeg-lossless-decoder-js", // JPEG Lossless SV1
  "1.2.840.10008.1.2.4.80": "CharLS", // JPEG-LS Lossless
  "1.2.840.10008.1.2.4.81": "CharLS", // JPEG-LS Near-Lossless
  "1.2.840.10008.1.2.4.90": "OpenJPEG", // JPEG 2000 Lossless
  "1.2.840.10008.1.2.4.91": "OpenJPEG", // JPEG 2000
};

/**
 * Codecs that turn YCbCr into RGB while decoding: libjpeg-turbo (a JPEG's YCbCr components) and
 * OpenJPEG (JPEG 2000's ICT/RCT component transform). Their YBR_* frames come out RGB.
 */
export const DECODES_TO_RGB: ReadonlySet<CodecName> = new Set(["libjpeg-turbo", "OpenJPEG"]);

/** Decodes one frame; throws an Error saying what disagrees (dicom.ts names the file). */
export type FrameDecoder = (transferSyntax: string, encoded: Uint8Array, layout: FrameLayout) => Uint8Array;

export function frameDecoder(modules: CodecModules): FrameDecoder {
  return (ts, encoded, layout) => {
    const codec = CODEC_OF[ts];
    if (!codec) throw new Error(`no codec for transfer syntax ${ts}`);
    if (codec === "libjpeg-turbo" && layout.bitsStored > 8)
      throw new Error(`${layout.bitsStored}-bit JPEG is not decoded (the libjpeg-turbo build is 8-bit)`);
    const bytesPer = layout.bitsAllocated / 8;
    const want = layout.rows * layout.columns * layout.samplesPerPixel * bytesPer;
    let out: Uint8Array;
    if (codec === "jpeg-lossless-decoder-js") {
      // Its own ArrayBuffer: the decoder reads one from offset 0 (and a Buffer's slice() is a view).
      const copy = new Uint8Array(encoded);
      const samples = new modules.jpegLossless.Decoder().decode(copy.buffer, 0, copy.length, bytesPer);
      out = new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength);
    } else {
      const decoder =
        codec === "OpenJPEG"
          ? new modules.openjpeg.J2KDecoder()
          : codec === "CharLS"
            ? new modules.charls.JpegLSDecoder()
            : new modules.libjpegTurbo.JPEGDecoder();
      try {
        const stream =
          codec === "libjpeg-turbo" && layout.photometric === "RGB" ? markedRgb(encoded) : encoded;
        decoder.getEncodedBuffer(stream.length).set(stream);
        decoder.decode();
        const info = decoder.getFrameInfo();
        if (info.width !== layout.columns || info.height !== layout.rows)
          throw new Error(
            `the ${codec} stream is ${info.width} x ${info.height}, the header says ${layout.columns} x ${layout.rows}`,
          );
        if (info.componentCount !== layout.samplesPerPixel)
          throw new Error(
            `the ${codec} stream has ${info.componentCount} component(s), the header says ${layout.samplesPerPixel}`,
          );
        // A copy: the decoded buffer is a view on the WASM heap, freed with the decoder.
        const view = decoder.getDecodedBuffer(); // bytes or samples, depending on the codec
        const decoded = new Uint8Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
        out = info.bitsPerSample <= 8 && bytesPer === 2 ? widen(decoded) : decoded;
      } catch (err) {
        // Emscripten throws numbers (pointers) for C++ exceptions: say which codec failed.
        throw err instanceof Error ? err : new Error(`${codec} could not decode the frame (${String(err)})`);
      } finally {
        decoder.delete();
      }
    }
    if (out.length !== want)
      throw new Error(`${codec} gave ${out.length} bytes for the frame, the header needs ${want}`);
    return out;
  };
}

/**
 * A JPEG whose DICOM header says RGB and which carries neither a JFIF nor an Adobe marker: libjpeg
 * takes 3 components for YCbCr (its default) unless their ids are "R", "G", "B". When the stream
 * itself does not look like YCbCr (component ids 1, 2, 3 as JFIF numbers them, or subsampled
 * chroma), an Adobe APP14 segment with transform 0 makes libjpeg keep them as RGB, as the header
 * says (PS3.5 8.2.1). pydicom's corpus has both: SC_jpeg_no_color_transform.dcm (ids 0, 1, 2:
 * max error 137 without the segment, 0 with it) and SC_rgb_jpeg_lossy_gdcm.dcm (ids 1, 2, 3 and
 * 2x2 luma sampling: YCbCr whatever its header says; left to libjpeg, it matches its RGB twin).
 */
function markedRgb(jpeg: Uint8Array): Uint8Array {
  let ycbcr = false;
  for (let at = 2; at + 4 <= jpeg.length && jpeg[at] === 0xff; ) {
    const marker = jpeg[at + 1]!;
    if (marker === 0xda) break; // start of scan
    const text = String.fromCharCode(...jpeg.subarray(at + 4, at + 9));
    if ((marker === 0xe0 && text.startsWith("JFIF")) || (marker === 0xee && text === "Adobe")) return jpeg;
    if ((marker === 0xc0 || marker === 0xc1) && jpeg[at + 9] === 3) {
      const ids = [0, 1, 2].map((k) => jpeg[at + 10 + 3 * k]);
      const sampling = [0, 1, 2].map((k) => jpeg[at + 11 + 3 * k]);
      ycbcr = ids.join() === "1,2,3" || sampling.some((v) => v !== sampling[0]);
    }
    at += 2 + ((jpeg[at + 2]! << 8) | jpeg[at + 3]!);
  }
  if (ycbcr) return jpeg;
  const adobe = [0xff, 0xee, 0, 14, 0x41, 0x64, 0x6f, 0x62, 0x65, 0, 100, 0, 0, 0, 0, 0];
  const out = new Uint8Array(jpeg.length + adobe.length);
  out.set(jpeg.subarray(0, 2));
  out.set(adobe, 2);
  out.set(jpeg.subarray(2), 2 + adobe.length);
  return out;
}

/** 8-bit samples into 16-bit little-endian ones (a JPEG 2000 stream of <= 8 bits in 16 allocated). */
function widen(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length * 2);
  for (let i = 0; i < bytes.length; i++) out[2 * i] = bytes[i]!;
  return out;
}
