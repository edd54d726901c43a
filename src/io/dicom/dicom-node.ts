// DICOM decoding in Node: the one place that hands decodeDicom Node's inflater (deflated transfer
// syntax) and the codec modules from node_modules (the JPEG family, dicom-codecs.ts). Loading the
// four codecs (three WASM instances) takes 70-100 ms once per process (measured, 2 cores); every later call reuses them.
import { createRequire } from "node:module";
import { inflateRawSync } from "node:zlib";
import { type DicomImage, decodeDicom } from "./dicom.js";
import { type CodecModules, type FrameDecoder, frameDecoder } from "./dicom-codecs.js";

const require = createRequire(import.meta.url);
let loading: Promise<FrameDecoder> | null = null;

/** The frame decoder over the bundled codecs, loaded on first use. */
export function nodeFrameDecoder(): Promise<FrameDecoder> {
  loading ??= (async () => {
    // OpenJPEG logs every tile it reads: silenced (a failure still throws, and dicom.ts says so).
    const quiet = { print: () => {}, printErr: () => {} };
    const factory = (id: string) => (require(id) as (o: typeof quiet) => Promise<unknown>)(quiet);
    const [openjpeg, charls, libjpegTurbo] = await Promise.all([
      factory("@cornerstonejs/codec-openjpeg/decodewasmjs"),
      factory("@cornerstonejs/codec-charls/decodewasmjs"),
      factory("@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs"),
    ]);
    const jpegLossless = require("jpeg-lossless-decoder-js");
    return frameDecoder({ openjpeg, charls, libjpegTurbo, jpegLossless } as CodecModules);
  })();
  return loading;
}

/** A DICOM file's image, every transfer syntax udeg reads. `name` is used in errors. */
export async function decodeDicomFile(bytes: Uint8Array, name: string): Promise<DicomImage> {
  return decodeDicom(bytes, name, { inflate: (d) => inflateRawSync(d), codecs: await nodeFrameDecoder() });
}
