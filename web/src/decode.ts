// Files the viewer opens, as a list of 2-D images (one for a PNG/JPEG, one per slice of a NIfTI
// volume, one per frame of a DICOM file), each as the model's 0..255 planes through the model's
// input rule (src/data/input-rule.ts, from the model's meta.json): the same planes training,
// `udeg eval` and `udeg predict` give the network for the same file.

import { DEFAULT_INPUT_RULE, type InputRule, inputPlanes, volumeWindow } from "../../src/data/input-rule.js";
import { type DicomImage, decodeDicomAsync, sniffDicom } from "../../src/io/dicom/dicom.js";
import type { FrameDecoder } from "../../src/io/dicom/dicom-codecs.js";
import { dicomDisplayMapping } from "../../src/io/dicom/dicom-display.js";
import { orderSlices } from "../../src/io/dicom/dicom-order.js";
import { FileError } from "../../src/io/file-error.js";
import { getSlice, isGzip, parseNiftiUncompressed, sliceCount } from "../../src/io/nifti/nifti-format.js";
import type { PlanarImage } from "../../src/io/planar-image.js";
import { decodePng16, gunzip, inflateRaw, pngHeader } from "./png.js";

export interface OpenedFile {
  name: string;
  kind: "image" | "nifti" | "dicom";
  /** Number of 2-D images (slices, frames). */
  count: number;
  /** Which one to show first (the middle slice of a volume). */
  initial: number;
  /** A line about the file for the page ("NIfTI 181x217x181 int16, window 12..870"). */
  description: string;
  /** The 2-D image `index` as 0..255 planes. */
  image(index: number): PlanarImage;
  /** Which file slice `index` comes from, when several files make the volume (a DICOM series). */
  sliceName?(index: number): string;
}

/** What the page refuses, as the codes of the one FileError (src/io/file-error.ts) it throws. */
type PageFileProblem = "empty" | "corrupt" | "unsupported" | "series";

function refuse(
  name: string,
  code: PageFileProblem,
  problem: string,
  advice = "",
): FileError<PageFileProblem> {
  return new FileError(name, code, problem, advice);
}

export { FileError };

type Sniffed =
  | "png"
  | "jpeg"
  | "gif"
  | "bmp"
  | "webp"
  | "tiff"
  | "gzip"
  | "nifti"
  | "nifti2"
  | "dicom"
  | null;

export function sniff(bytes: Uint8Array, name: string): Sniffed {
  const b = bytes;
  const at = (i: number, ...v: number[]) => v.every((x, k) => b[i + k] === x);
  // "DICM" at 128 first: a Part 10 preamble may be anything, e.g. a TIFF header (pydicom's MR_small.dcm).
  if (at(128, 0x44, 0x49, 0x43, 0x4d)) return "dicom";
  if (at(0, 0x89, 0x50, 0x4e, 0x47)) return "png";
  if (at(0, 0xff, 0xd8, 0xff)) return "jpeg";
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return "gif";
  if (at(0, 0x42, 0x4d)) return "bmp";
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return "webp";
  if (at(0, 0x49, 0x49, 0x2a, 0) || at(0, 0x4d, 0x4d, 0, 0x2a)) return "tiff";
  if (isGzip(b)) return "gzip";
  if (b.length >= 348) {
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const hdr = [v.getInt32(0, true), v.getInt32(0, false)];
    if (hdr.includes(348)) return "nifti";
    if (hdr.includes(540)) return "nifti2";
  }
  if (sniffDicom(b) || /\.dcm$/i.test(name)) return "dicom";
  return null;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 8), (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * Opens a file's bytes; throws FileError (or a decoder's error) with a message for the page.
 * `codecs` loads the compressed-DICOM codecs (the page: codecs.ts; Node tests: dicom-node.ts);
 * `rule` is the model's input rule (meta.json's `input`).
 */
export async function openBytes(
  bytes: Uint8Array,
  name: string,
  codecs?: () => Promise<FrameDecoder>,
  rule: InputRule = DEFAULT_INPUT_RULE,
): Promise<OpenedFile> {
  if (bytes.length === 0) throw refuse(name, "empty", "the file is empty");
  let kind = sniff(bytes, name);
  if (kind === "gzip") {
    try {
      bytes = await gunzip(bytes);
    } catch (err) {
      throw refuse(
        name,
        "corrupt",
        `cannot decompress the gzip stream (${(err as Error).message}): the file is damaged or truncated`,
      );
    }
    kind = sniff(bytes, name.replace(/\.gz$/i, ""));
    if (kind !== "nifti" && kind !== "nifti2")
      throw refuse(name, "unsupported", "a gzip file that does not hold a NIfTI volume (.nii.gz)");
  }
  switch (kind) {
    case "nifti":
    case "nifti2":
      return openNifti(bytes, name, rule);
    case "dicom":
      return openDicom(bytes, name, rule, codecs);
    case "tiff":
      throw refuse(
        name,
        "unsupported",
        "TIFF is not decoded in the browser",
        "Convert it to PNG (16-bit PNG keeps the depth).",
      );
    case "png":
    case "jpeg":
    case "gif":
    case "bmp":
    case "webp":
      return openImage(bytes, name, kind, rule);
    default:
      throw refuse(
        name,
        "unsupported",
        `not a file this viewer reads (first bytes ${hex(bytes)})`,
        "Open a PNG or JPEG image, a DICOM file (.dcm) or a NIfTI volume (.nii, .nii.gz).",
      );
  }
}

function openNifti(bytes: Uint8Array, name: string, rule: InputRule): OpenedFile {
  const vol = parseNiftiUncompressed(bytes, name);
  const n = sliceCount(vol, 2);
  const window = volumeWindow(vol, rule);
  const [lo, hi] = window;
  const volumes = vol.shape.slice(3).reduce((a, b) => a * b, 1);
  const dims = vol.shape.slice(0, 3).join("x");
  return {
    name,
    kind: "nifti",
    count: n,
    initial: Math.floor(n / 2),
    description:
      `NIfTI ${dims} ${vol.header.datatype}, slices along the third axis, window ${fmt(lo)}..${fmt(hi)}` +
      (volumes > 1 ? ` (4-D: volume 0 of ${volumes})` : ""),
    image(index: number): PlanarImage {
      return inputPlanes({ kind: "slice", ...getSlice(vol, 2, index), window }, rule);
    },
  };
}

/**
 * Several files opened together: the instances of one DICOM series, decoded, put in slice order
 * as `udeg predict` orders a series folder (dicom-order.ts: along the slice normal, with its
 * checks), one slice per frame; each instance windowed as predict windows it.
 */
export async function openFiles(
  files: readonly { bytes: Uint8Array; name: string }[],
  codecs?: () => Promise<FrameDecoder>,
  rule: InputRule = DEFAULT_INPUT_RULE,
): Promise<OpenedFile> {
  if (files.length === 1) return openBytes(files[0]!.bytes, files[0]!.name, codecs, rule);
  const notDicom = files.find((f) => sniff(f.bytes, f.name) !== "dicom");
  if (notDicom)
    throw refuse(
      notDicom.name,
      "series",
      "several files open together only as one DICOM series",
      "Open other files one at a time.",
    );
  const decoder = codecs ? await codecs() : undefined;
  const decoded: { img: DicomImage; name: string }[] = [];
  for (const f of files)
    decoded.push({ img: await decodeDicomAsync(f.bytes, f.name, inflateRaw, decoder), name: f.name });
  let ordered: typeof decoded;
  try {
    ordered = orderSlices(
      decoded,
      (d) => d.img.header,
      (d) => d.name,
    );
  } catch (err) {
    // orderSlices' messages begin with the instance they concern.
    const [file, ...rest] = (err as Error).message.split(": ");
    throw refuse(file!, "series", rest.join(": ") || "cannot order the series");
  }
  const { rows, columns } = ordered[0]!.img;
  const odd = ordered.find((d) => d.img.rows !== rows || d.img.columns !== columns);
  if (odd)
    throw refuse(odd.name, "series", `${odd.img.columns}x${odd.img.rows}, the series is ${columns}x${rows}`);
  const slices = ordered.flatMap((d) => {
    const mapping = dicomDisplayMapping(d.img);
    return Array.from({ length: d.img.frames }, (_, f) => ({
      name: d.img.frames > 1 ? `${d.name} frame ${f + 1}` : d.name,
      image: () => inputPlanes({ kind: "dicom", image: d.img, frame: f, mapping }, rule),
    }));
  });
  const img = ordered[0]!.img;
  return {
    name: `${ordered[0]!.name} (series of ${ordered.length})`,
    kind: "dicom",
    count: slices.length,
    initial: Math.floor(slices.length / 2),
    description:
      `DICOM series, ${ordered.length} instances in slice order, ${columns}x${rows}, ${img.photometric}, ` +
      `${img.bitsStored}-bit${img.signed ? " signed" : ""}`,
    image: (index) => slices[index]!.image(),
    sliceName: (index) => slices[index]!.name,
  };
}

async function openDicom(
  bytes: Uint8Array,
  name: string,
  rule: InputRule,
  codecs?: () => Promise<FrameDecoder>,
): Promise<OpenedFile> {
  const img = await decodeDicomAsync(bytes, name, inflateRaw, codecs ? await codecs() : undefined);
  const mapping = dicomDisplayMapping(img);
  const how =
    mapping.kind === "stored"
      ? "stored values"
      : mapping.kind === "voi"
        ? `VOI window ${fmt(img.window!.center)} / ${fmt(img.window!.width)}`
        : `window ${fmt(mapping.lo)}..${fmt(mapping.hi)} (percentiles)`;
  return {
    name,
    kind: "dicom",
    count: img.frames,
    initial: 0,
    description:
      `DICOM ${img.columns}x${img.rows}${img.frames > 1 ? `, ${img.frames} frames` : ""}, ${img.photometric}, ` +
      `${img.bitsStored}-bit${img.signed ? " signed" : ""}, ${how}`,
    image: (index) => inputPlanes({ kind: "dicom", image: img, frame: index, mapping }, rule),
  };
}

async function openImage(
  bytes: Uint8Array,
  name: string,
  kind: string,
  rule: InputRule,
): Promise<OpenedFile> {
  const h = kind === "png" ? pngHeader(bytes) : null;
  if (h && h.bitDepth === 16 && h.interlace === 0) {
    const png = await decodePng16(bytes, name);
    const image = inputPlanes({ kind: "raster", image: { ...png, bitDepth: 16 } }, rule);
    return single(
      name,
      `16-bit PNG ${png.width}x${png.height}${png.channels === 1 ? " grey" : " RGB"}`,
      image,
    );
  }
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes as BlobPart]), {
      colorSpaceConversion: "none",
      premultiplyAlpha: "none",
    });
  } catch (err) {
    throw refuse(
      name,
      "corrupt",
      `cannot decode this ${kind.toUpperCase()} file (${(err as Error).message || "decoding failed"})`,
      "The file is damaged or incomplete.",
    );
  }
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true })!;
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, width, height, { colorSpace: "srgb" }).data;
  const n = width * height;
  let grey = true;
  for (let i = 0; i < n && grey; i++)
    grey = rgba[4 * i] === rgba[4 * i + 1] && rgba[4 * i] === rgba[4 * i + 2];
  const rgb = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) rgb[3 * i + c] = rgba[4 * i + c]!;
  const image = inputPlanes(
    { kind: "raster", image: { width, height, channels: 3, data: rgb, bitDepth: 8 } },
    rule,
  );
  return single(name, `${kind.toUpperCase()} ${width}x${height}${grey ? " grey" : " RGB"}`, image);
}

function single(name: string, description: string, image: PlanarImage): OpenedFile {
  return { name, kind: "image", count: 1, initial: 0, description, image: () => image };
}

function fmt(x: number): string {
  return Math.abs(x) >= 100 || Number.isInteger(x) ? String(Math.round(x)) : x.toPrecision(3);
}
