// Test helper: builds zip archives with the variants torch's writer rarely produces (deflated
// entries, zip64 records), so the reader's handling of them is exercised without large files.
// Not a general zip writer: no data descriptors, no comments, names are UTF-8.

import { deflateRawSync } from "node:zlib";
import { crc32 } from "../../src/io/checkpoints/zip.js";

export interface ZipFileInput {
  name: string;
  data: Uint8Array;
  deflate?: boolean;
}

export interface BuildZipOptions {
  /** Put sizes and offsets in zip64 extra fields and write the zip64 end records. */
  zip64?: boolean;
}

const FULL32 = 0xffffffff;
const FULL16 = 0xffff;

export function buildZip(files: ZipFileInput[], options: BuildZipOptions = {}): Uint8Array {
  const zip64 = options.zip64 ?? false;
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const emit = (b: Uint8Array) => {
    chunks.push(b);
    offset += b.length;
  };
  for (const file of files) {
    const name = new TextEncoder().encode(file.name);
    const body = file.deflate ? new Uint8Array(deflateRawSync(file.data)) : file.data;
    const entry = {
      name,
      method: file.deflate ? 8 : 0,
      crc: crc32(file.data),
      csize: body.length,
      usize: file.data.length,
      offset,
    };
    emit(localHeader(entry, zip64));
    emit(body);
    central.push(centralHeader(entry, zip64));
  }
  const cdOffset = offset;
  for (const c of central) emit(c);
  const cdSize = offset - cdOffset;
  if (zip64) {
    const recordOffset = offset;
    emit(zip64EndRecord(files.length, cdSize, cdOffset));
    emit(zip64Locator(recordOffset));
  }
  emit(endRecord(files.length, cdSize, cdOffset, zip64));
  const out = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

interface EntryFields {
  name: Uint8Array;
  method: number;
  crc: number;
  csize: number;
  usize: number;
  offset: number;
}

function localHeader(e: EntryFields, zip64: boolean): Uint8Array {
  const extra = zip64 ? zip64Extra([e.usize, e.csize]) : new Uint8Array(0);
  const b = new Uint8Array(30 + e.name.length + extra.length);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x04034b50, true);
  v.setUint16(4, zip64 ? 45 : 20, true);
  v.setUint16(6, 0x800, true); // UTF-8 names
  v.setUint16(8, e.method, true);
  v.setUint16(12, 0x21, true); // 1980-01-01
  v.setUint32(14, e.crc, true);
  v.setUint32(18, zip64 ? FULL32 : e.csize, true);
  v.setUint32(22, zip64 ? FULL32 : e.usize, true);
  v.setUint16(26, e.name.length, true);
  v.setUint16(28, extra.length, true);
  b.set(e.name, 30);
  b.set(extra, 30 + e.name.length);
  return b;
}

function centralHeader(e: EntryFields, zip64: boolean): Uint8Array {
  const extra = zip64 ? zip64Extra([e.usize, e.csize, e.offset]) : new Uint8Array(0);
  const b = new Uint8Array(46 + e.name.length + extra.length);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x02014b50, true);
  v.setUint16(4, 45, true);
  v.setUint16(6, zip64 ? 45 : 20, true);
  v.setUint16(8, 0x800, true);
  v.setUint16(10, e.method, true);
  v.setUint16(14, 0x21, true);
  v.setUint32(16, e.crc, true);
  v.setUint32(20, zip64 ? FULL32 : e.csize, true);
  v.setUint32(24, zip64 ? FULL32 : e.usize, true);
  v.setUint16(28, e.name.length, true);
  v.setUint16(30, extra.length, true);
  v.setUint32(42, zip64 ? FULL32 : e.offset, true);
  b.set(e.name, 46);
  b.set(extra, 46 + e.name.length);
  return b;
}

function zip64Extra(values: number[]): Uint8Array {
  const b = new Uint8Array(4 + 8 * values.length);
  const v = new DataView(b.buffer);
  v.setUint16(0, 0x0001, true);
  v.setUint16(2, 8 * values.length, true);
  for (const [i, x] of values.entries()) v.setBigUint64(4 + 8 * i, BigInt(x), true);
  return b;
}

function zip64EndRecord(count: number, cdSize: number, cdOffset: number): Uint8Array {
  const b = new Uint8Array(56);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x06064b50, true);
  v.setBigUint64(4, 44n, true); // size of the rest of the record
  v.setUint16(12, 45, true);
  v.setUint16(14, 45, true);
  v.setBigUint64(24, BigInt(count), true);
  v.setBigUint64(32, BigInt(count), true);
  v.setBigUint64(40, BigInt(cdSize), true);
  v.setBigUint64(48, BigInt(cdOffset), true);
  return b;
}

function zip64Locator(recordOffset: number): Uint8Array {
  const b = new Uint8Array(20);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x07064b50, true);
  v.setBigUint64(8, BigInt(recordOffset), true);
  v.setUint32(16, 1, true);
  return b;
}

function endRecord(count: number, cdSize: number, cdOffset: number, zip64: boolean): Uint8Array {
  const b = new Uint8Array(22);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x06054b50, true);
  v.setUint16(8, zip64 ? FULL16 : count, true);
  v.setUint16(10, zip64 ? FULL16 : count, true);
  v.setUint32(12, zip64 ? FULL32 : cdSize, true);
  v.setUint32(16, zip64 ? FULL32 : cdOffset, true);
  return b;
}
