// A minimal DICOM Part 10 writer for tests: one image (any number of frames) in an uncompressed
// transfer syntax (implicit/explicit VR little endian, explicit VR big endian, deflated), or with
// fake encapsulated pixel data under a compressed transfer syntax, to test the refusals.
import { deflateRawSync } from "node:zlib";
import { TRANSFER_SYNTAXES } from "../../src/io/dicom/dicom.js";

export interface DicomWriteOptions {
  rows: number;
  columns: number;
  /** Stored sample values, frames one after the other, [rows, columns, samples] interleaved. */
  pixels: ArrayLike<number>;
  frames?: number;
  samplesPerPixel?: 1 | 3;
  photometric?: "MONOCHROME1" | "MONOCHROME2" | "RGB" | "PALETTE COLOR" | "YBR_FULL";
  /** For RGB: write the planes one after the other (PlanarConfiguration 1). */
  planar?: boolean;
  bitsAllocated?: 8 | 16 | 32;
  bitsStored?: number;
  signed?: boolean;
  rescaleSlope?: number;
  rescaleIntercept?: number;
  window?: { center: number; width: number };
  spacing?: [number, number];
  transferSyntax?: string;
  /** Write no preamble/"DICM"/meta group: a bare implicit VR little endian data set. */
  bare?: boolean;
}

const LONG_VRS = new Set(["OB", "OW", "OF", "SQ", "UT", "UN"]);

interface Element {
  group: number;
  element: number;
  vr: string;
  value: Uint8Array;
  /** Encapsulated pixel data: undefined length, items follow. */
  undefinedLength?: boolean;
}

function text(s: string, pad = " "): Uint8Array {
  const t = s.length % 2 ? s + pad : s;
  return new Uint8Array([...t].map((c) => c.charCodeAt(0)));
}

function us(v: number, little: boolean): Uint8Array {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, v, little);
  return b;
}

function ul(v: number, little: boolean): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, little);
  return b;
}

function encode(elements: Element[], explicit: boolean, little: boolean): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of elements) {
    const head: number[] = [];
    const tag = new Uint8Array(4);
    const v = new DataView(tag.buffer);
    v.setUint16(0, e.group, little);
    v.setUint16(2, e.element, little);
    head.push(...tag);
    const len = e.undefinedLength ? 0xffffffff : e.value.length;
    if (explicit) {
      head.push(e.vr.charCodeAt(0), e.vr.charCodeAt(1));
      if (LONG_VRS.has(e.vr)) head.push(0, 0, ...ul(len, little));
      else head.push(...us(len, little));
    } else head.push(...ul(len, little));
    parts.push(new Uint8Array(head), e.value);
  }
  const total = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The bytes of a DICOM file holding the image. */
export function writeDicom(o: DicomWriteOptions): Uint8Array {
  const ts = o.transferSyntax ?? TRANSFER_SYNTAXES.explicitLittle;
  const little = ts !== TRANSFER_SYNTAXES.explicitBig;
  const explicit = ts !== TRANSFER_SYNTAXES.implicitLittle && !o.bare;
  const spp = o.samplesPerPixel ?? 1;
  const bits = o.bitsAllocated ?? 16;
  const frames = o.frames ?? 1;
  const n = o.rows * o.columns * spp * frames;
  if (o.pixels.length !== n) throw new Error(`writeDicom: ${o.pixels.length} values, need ${n}`);
  // Pixel bytes (planar reorder for RGB when asked).
  const bytesPer = bits / 8;
  const pix = new Uint8Array(n * bytesPer + ((n * bytesPer) % 2));
  const pv = new DataView(pix.buffer);
  const plane = o.rows * o.columns;
  for (let f = 0; f < frames; f++) {
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < spp; c++) {
        const src = f * plane * spp + p * spp + c;
        const dst = o.planar && spp === 3 ? f * plane * 3 + c * plane + p : src;
        const v = o.pixels[src]!;
        if (bits === 8) pv.setUint8(dst, v & 0xff);
        else if (bits === 16) pv.setUint16(2 * dst, v & 0xffff, little);
        else pv.setUint32(4 * dst, v >>> 0, little);
      }
    }
  }
  const sopClass = "1.2.840.10008.5.1.4.1.1.4"; // MR Image Storage
  const sopInstance = "1.2.826.0.1.3680043.8.498.1";
  const ds: Element[] = [
    { group: 0x0008, element: 0x0016, vr: "UI", value: text(sopClass, "\0") },
    { group: 0x0008, element: 0x0018, vr: "UI", value: text(sopInstance, "\0") },
    { group: 0x0008, element: 0x0060, vr: "CS", value: text("MR") },
    { group: 0x0028, element: 0x0002, vr: "US", value: us(spp, little) },
    {
      group: 0x0028,
      element: 0x0004,
      vr: "CS",
      value: text(o.photometric ?? (spp === 3 ? "RGB" : "MONOCHROME2")),
    },
  ];
  if (spp === 3) ds.push({ group: 0x0028, element: 0x0006, vr: "US", value: us(o.planar ? 1 : 0, little) });
  if (frames > 1) ds.push({ group: 0x0028, element: 0x0008, vr: "IS", value: text(String(frames)) });
  ds.push(
    { group: 0x0028, element: 0x0010, vr: "US", value: us(o.rows, little) },
    { group: 0x0028, element: 0x0011, vr: "US", value: us(o.columns, little) },
  );
  if (o.spacing) ds.push({ group: 0x0028, element: 0x0030, vr: "DS", value: text(o.spacing.join("\\")) });
  const stored = o.bitsStored ?? bits;
  ds.push(
    { group: 0x0028, element: 0x0100, vr: "US", value: us(bits, little) },
    { group: 0x0028, element: 0x0101, vr: "US", value: us(stored, little) },
    { group: 0x0028, element: 0x0102, vr: "US", value: us(stored - 1, little) },
    { group: 0x0028, element: 0x0103, vr: "US", value: us(o.signed ? 1 : 0, little) },
  );
  if (o.window) {
    ds.push(
      { group: 0x0028, element: 0x1050, vr: "DS", value: text(String(o.window.center)) },
      { group: 0x0028, element: 0x1051, vr: "DS", value: text(String(o.window.width)) },
    );
  }
  if (o.rescaleIntercept !== undefined || o.rescaleSlope !== undefined) {
    ds.push(
      { group: 0x0028, element: 0x1052, vr: "DS", value: text(String(o.rescaleIntercept ?? 0)) },
      { group: 0x0028, element: 0x1053, vr: "DS", value: text(String(o.rescaleSlope ?? 1)) },
    );
  }
  const compressed = !Object.values(TRANSFER_SYNTAXES).includes(ts as never);
  if (compressed) {
    // Encapsulated: an empty basic offset table item, one fragment, a sequence delimiter.
    const frag = pix.subarray(0, Math.min(pix.length, 64));
    const items = new Uint8Array([
      ...[0xfe, 0xff, 0x00, 0xe0],
      ...ul(0, true),
      ...[0xfe, 0xff, 0x00, 0xe0],
      ...ul(frag.length, true),
      ...frag,
      ...[0xfe, 0xff, 0xdd, 0xe0],
      ...ul(0, true),
    ]);
    ds.push({ group: 0x7fe0, element: 0x0010, vr: "OB", value: items, undefinedLength: true });
  } else {
    ds.push({ group: 0x7fe0, element: 0x0010, vr: bits === 8 ? "OB" : "OW", value: pix });
  }
  let body = encode(ds, explicit || compressed, little);
  if (o.bare) return body;
  if (ts === TRANSFER_SYNTAXES.deflatedExplicitLittle) body = deflateRawSync(body);
  const metaElements: Element[] = [
    { group: 0x0002, element: 0x0001, vr: "OB", value: new Uint8Array([0, 1]) },
    { group: 0x0002, element: 0x0002, vr: "UI", value: text(sopClass, "\0") },
    { group: 0x0002, element: 0x0003, vr: "UI", value: text(sopInstance, "\0") },
    { group: 0x0002, element: 0x0010, vr: "UI", value: text(ts, "\0") },
    { group: 0x0002, element: 0x0012, vr: "UI", value: text("1.2.826.0.1.3680043.8.498.9", "\0") },
  ];
  const meta = encode(metaElements, true, true);
  const groupLength = encode(
    [{ group: 0x0002, element: 0x0000, vr: "UL", value: ul(meta.length, true) }],
    true,
    true,
  );
  const out = new Uint8Array(132 + groupLength.length + meta.length + body.length);
  out.set([0x44, 0x49, 0x43, 0x4d], 128);
  out.set(groupLength, 132);
  out.set(meta, 132 + groupLength.length);
  out.set(body, 132 + groupLength.length + meta.length);
  return out;
}
