// The zip subset torch.save archives need: central directory (zip64 included), stored and
// deflated entries, CRC-32 checks. No encryption, no multi-disk archives, no writing.
//
// We read from the central directory at the end of the file, as unzip does, because torch's
// writer may put sizes in data descriptors after each entry rather than in the local headers.
// Spec: PKWARE APPNOTE.TXT, sections 4.3 and 4.5.3.

import * as zlib from "node:zlib";
import { crc32Table } from "../images/png-chunk.js";
import { CheckpointError } from "./errors.js";
import type { ByteSource } from "./source.js";

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated; others are rejected when read. */
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const ZIP64_EXTRA_ID = 0x0001;

/** Little-endian field reader over a byte range, with the range check done once by the caller. */
class Fields {
  private readonly view: DataView;
  constructor(bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  u16(at: number): number {
    return this.view.getUint16(at, true);
  }
  u32(at: number): number {
    return this.view.getUint32(at, true);
  }
  /** u64 as a number; null past 2^53 (no real archive is that big: the field is corrupt). */
  u64(at: number): number | null {
    const v = this.view.getBigUint64(at, true);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(v);
  }
}

function badZip(src: ByteSource, problem: string): CheckpointError {
  return new CheckpointError(src.name, "bad-zip", problem);
}

interface Directory {
  count: number;
  offset: number;
  size: number;
}

/** Reads the central directory: every entry by name. */
export function readZipDirectory(src: ByteSource): Map<string, ZipEntry> {
  const dir = findDirectory(src);
  const bytes = src.read(dir.offset, dir.size, "the zip central directory");
  const f = new Fields(bytes);
  const entries = new Map<string, ZipEntry>();
  let at = 0;
  for (let i = 0; i < dir.count; i++) {
    if (at + 46 > bytes.length || f.u32(at) !== SIG_CENTRAL) {
      throw badZip(src, `zip central directory entry ${i} of ${dir.count} is missing or damaged`);
    }
    const nameLen = f.u16(at + 28);
    const extraLen = f.u16(at + 30);
    const commentLen = f.u16(at + 32);
    const end = at + 46 + nameLen + extraLen + commentLen;
    if (end > bytes.length) throw badZip(src, `zip central directory entry ${i} runs past the directory`);
    const entry = parseCentralEntry(src, f, bytes, at, nameLen, extraLen);
    entries.set(entry.name, entry);
    at = end;
  }
  return entries;
}

function parseCentralEntry(
  src: ByteSource,
  f: Fields,
  bytes: Uint8Array,
  at: number,
  nameLen: number,
  extraLen: number,
): ZipEntry {
  const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLen));
  const entry: ZipEntry = {
    name,
    flags: f.u16(at + 8),
    method: f.u16(at + 10),
    crc32: f.u32(at + 16),
    compressedSize: f.u32(at + 20),
    uncompressedSize: f.u32(at + 24),
    localHeaderOffset: f.u32(at + 42),
  };
  const extraStart = at + 46 + nameLen;
  applyZip64Extra(src, entry, f, extraStart, extraStart + extraLen);
  return entry;
}

/**
 * A 32-bit field of 0xFFFFFFFF means "the real value is in the zip64 extra field", which holds
 * only those values, in the order uncompressed size, compressed size, local header offset.
 */
function applyZip64Extra(src: ByteSource, entry: ZipEntry, f: Fields, at: number, end: number): void {
  const FULL = 0xffffffff;
  const wanted = (["uncompressedSize", "compressedSize", "localHeaderOffset"] as const).filter(
    (k) => entry[k] === FULL,
  );
  if (wanted.length === 0) return;
  while (at + 4 <= end) {
    const id = f.u16(at);
    const size = f.u16(at + 2);
    if (at + 4 + size > end) break;
    if (id === ZIP64_EXTRA_ID) {
      if (size < wanted.length * 8) break;
      wanted.forEach((k, i) => {
        const v = f.u64(at + 4 + i * 8);
        if (v === null) throw badZip(src, `zip64 size field of "${entry.name}" is out of range`);
        entry[k] = v;
      });
      return;
    }
    at += 4 + size;
  }
  throw badZip(src, `zip entry "${entry.name}" needs a zip64 extra field that is missing or too short`);
}

/** Finds the end-of-central-directory record (and its zip64 version when present). */
function findDirectory(src: ByteSource): Directory {
  if (src.size < EOCD_SIZE) {
    throw new CheckpointError(src.name, "truncated", `only ${src.size} bytes, too short for a zip archive`);
  }
  // The record is the last thing in the file, followed only by a comment of up to 64 KiB.
  const tailStart = Math.max(0, src.size - EOCD_SIZE - MAX_COMMENT);
  const tail = src.read(tailStart, src.size - tailStart, "the end of the zip archive");
  const f = new Fields(tail);
  let pos = -1;
  for (let i = tail.length - EOCD_SIZE; i >= 0; i--) {
    if (f.u32(i) === SIG_EOCD && i + EOCD_SIZE + f.u16(i + 20) <= tail.length) {
      pos = i;
      break;
    }
  }
  if (pos < 0) {
    throw new CheckpointError(
      src.name,
      "bad-zip",
      "no zip end-of-directory record (the file is cut short, or not a zip archive)",
    );
  }
  if (f.u16(pos + 4) !== 0 || f.u16(pos + 6) !== 0) {
    throw new CheckpointError(
      src.name,
      "unsupported",
      "multi-part (split) zip archives are not supported",
      "Join the parts into one file.",
    );
  }
  const dir = { count: f.u16(pos + 10), size: f.u32(pos + 12), offset: f.u32(pos + 16) };
  const eocdOffset = tailStart + pos;
  return readZip64Directory(src, eocdOffset) ?? dir;
}

/** The zip64 record, when a locator sits right before the classic record; null otherwise. */
function readZip64Directory(src: ByteSource, eocdOffset: number): Directory | null {
  if (eocdOffset < 20) return null;
  const loc = new Fields(src.read(eocdOffset - 20, 20, "the zip64 locator"));
  if (loc.u32(0) !== SIG_ZIP64_LOCATOR) return null;
  const recordOffset = loc.u64(8);
  if (recordOffset === null) throw badZip(src, "the zip64 locator points outside the file");
  const rec = new Fields(src.read(recordOffset, 56, "the zip64 end-of-directory record"));
  if (rec.u32(0) !== SIG_ZIP64_EOCD) throw badZip(src, "the zip64 end-of-directory record is damaged");
  const count = rec.u64(32);
  const size = rec.u64(40);
  const offset = rec.u64(48);
  if (count === null || size === null || offset === null)
    throw badZip(src, "zip64 directory fields are out of range");
  return { count, size, offset };
}

/**
 * An entry's uncompressed bytes. Stored entries from a file come back as one fresh buffer; from
 * memory, as a view. `verifyCrc` costs one pass over the bytes (native zlib.crc32 where Node
 * has it) and turns silent bit rot into a clear error.
 */
export function readZipEntry(src: ByteSource, entry: ZipEntry, verifyCrc = true): Uint8Array {
  const what = `zip entry "${entry.name}"`;
  if (entry.flags & 1) {
    throw new CheckpointError(
      src.name,
      "unsupported",
      `${what} is encrypted`,
      "Save the checkpoint without encryption.",
    );
  }
  const local = new Fields(src.read(entry.localHeaderOffset, 30, `the local header of ${what}`));
  if (local.u32(0) !== SIG_LOCAL) throw badZip(src, `the local header of ${what} is damaged`);
  // Name and extra lengths come from the local header: torch pads the local extra field so
  // that data start at a 64-byte boundary, and it need not match the central copy.
  const dataStart = entry.localHeaderOffset + 30 + local.u16(26) + local.u16(28);
  const raw = src.read(dataStart, entry.compressedSize, `the data of ${what}`);
  const bytes = decompress(src, entry, raw);
  if (verifyCrc && crc32(bytes) !== entry.crc32) {
    throw new CheckpointError(src.name, "checksum", `${what} fails its CRC-32 check (the data are corrupt)`);
  }
  return bytes;
}

function decompress(src: ByteSource, entry: ZipEntry, raw: Uint8Array): Uint8Array {
  if (entry.method === 0) {
    if (raw.length !== entry.uncompressedSize) {
      throw badZip(src, `stored zip entry "${entry.name}" has different compressed and uncompressed sizes`);
    }
    return raw;
  }
  if (entry.method !== 8) {
    throw new CheckpointError(
      src.name,
      "unsupported",
      `zip entry "${entry.name}" uses compression method ${entry.method}; only stored and deflate are supported`,
      "Re-save the checkpoint with torch.save, which stores entries uncompressed.",
    );
  }
  let out: Uint8Array;
  try {
    // The cap stops a corrupt stream from inflating into gigabytes before we notice.
    out = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.uncompressedSize) });
  } catch (err) {
    throw new CheckpointError(
      src.name,
      "bad-zip",
      `zip entry "${entry.name}" does not inflate (${(err as Error).message})`,
      undefined,
      {
        cause: err,
      },
    );
  }
  if (out.length !== entry.uncompressedSize) {
    throw badZip(
      src,
      `zip entry "${entry.name}" inflates to ${out.length} bytes, not ${entry.uncompressedSize}`,
    );
  }
  return out;
}

// zlib.crc32 arrived in Node 20.15; the package allows 20.3, so keep a table-driven fallback.
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

export function crc32(bytes: Uint8Array): number {
  return nativeCrc32 ? nativeCrc32(bytes) >>> 0 : crc32Table(bytes);
}
