// The page's DICOM codecs: the same Cornerstone WASM builds (and jpeg-lossless-decoder-js) that
// `udeg predict` uses in Node (src/io/dicom/dicom-node.ts), bundled by Vite as separate chunks and
// .wasm files, and fetched only when the first DICOM file is opened.
import { type CodecModules, type FrameDecoder, frameDecoder } from "../../src/io/dicom/dicom-codecs.js";

type Factory = (o: {
  locateFile: (f: string) => string;
  print: () => void;
  printErr: () => void;
}) => Promise<unknown>;

let loading: Promise<FrameDecoder> | null = null;

export function pageFrameDecoder(): Promise<FrameDecoder> {
  loading ??= (async () => {
    const [oj, ojWasm, ls, lsWasm, jt, jtWasm, jpegLossless] = await Promise.all([
      import("@cornerstonejs/codec-openjpeg/decodewasmjs"),
      import("@cornerstonejs/codec-openjpeg/decodewasm?url"),
      import("@cornerstonejs/codec-charls/decodewasmjs"),
      import("@cornerstonejs/codec-charls/decodewasm?url"),
      import("@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs"),
      import("@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasm?url"),
      import("jpeg-lossless-decoder-js"),
    ]);
    // OpenJPEG logs every tile: silenced (a failure still throws).
    const load = (m: { default: unknown }, wasm: { default: string }) =>
      (m.default as Factory)({ locateFile: () => wasm.default, print: () => {}, printErr: () => {} });
    const [openjpeg, charls, libjpegTurbo] = await Promise.all([
      load(oj, ojWasm),
      load(ls, lsWasm),
      load(jt, jtWasm),
    ]);
    return frameDecoder({ openjpeg, charls, libjpegTurbo, jpegLossless } as unknown as CodecModules);
  })();
  return loading;
}
