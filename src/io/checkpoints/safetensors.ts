// safetensors reader and writer (https://github.com/huggingface/safetensors, format section).
//
// Layout: u64 little-endian N | N bytes of UTF-8 JSON header | data section. The header maps
// each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the data
// section) plus an optional "__metadata__" map of strings. We validate exactly what the reference
// Rust reader validates (header size cap, dtype, shape x dtype = byte length, tensors tiling the
// data section with no gaps or overlaps), so a file we accept is one every other reader accepts.
// The writer reproduces the reference writer's byte layout (tensor order, compact JSON,
// space padding to 8 bytes).

import { writeFileAtomic } from "../atomic.js";
import {
  bytesOf,
  type Checkpoint,
  type CheckpointDType,
  type CheckpointTensor,
  dataMatchesDType,
  ELEMENT_SIZE,
  shapeSize,
  viewAs,
} from "./dtypes.js";
import { CheckpointError, MissingTensorError } from "./errors.js";
import { type ByteSource, fileSource, memorySource } from "./source.js";

export {
  type Checkpoint,
  type CheckpointDType,
  type CheckpointTensor,
  toFloat32,
} from "./dtypes.js";

const DTYPE_OF_CODE: Readonly<Record<string, CheckpointDType>> = {
  F32: "float32",
  F16: "float16",
  BF16: "bfloat16",
  F64: "float64",
  I64: "int64",
  I32: "int32",
  U8: "uint8",
  BOOL: "bool",
};

const CODE_OF_DTYPE: Readonly<Record<CheckpointDType, string>> = {
  float32: "F32",
  float16: "F16",
  bfloat16: "BF16",
  float64: "F64",
  int64: "I64",
  int32: "I32",
  uint8: "U8",
  bool: "BOOL",
};

// The reference writer orders tensors by its Dtype enum, largest first, then by name, which
// keeps every tensor aligned to its element size. These are our dtypes' positions in that enum.
const REFERENCE_DTYPE_RANK: Readonly<Record<CheckpointDType, number>> = {
  bool: 0,
  uint8: 1,
  float16: 7,
  bfloat16: 8,
  int32: 9,
  float32: 11,
  float64: 12,
  int64: 13,
};

// The reference reader refuses headers above 100 MB; the check also stops a corrupt length
// field from making us allocate gigabytes.
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = "__metadata__";

/** Where one tensor lives in the file. */
export interface SafetensorsTensorInfo {
  dtype: CheckpointDType;
  shape: number[];
  /** Absolute offset of the first byte in the file. */
  byteOffset: number;
  byteLength: number;
}

/** A parsed header with tensors read on demand. */
export interface SafetensorsReader {
  readonly name: string;
  readonly metadata: Record<string, string>;
  /** Tensor names in file (data offset) order. */
  keys(): string[];
  /** Undefined when the file has no tensor of that name. */
  info(name: string): SafetensorsTensorInfo | undefined;
  /** Reads the tensor's bytes (from a file: into a fresh buffer; from memory: a view when aligned). */
  read(name: string): CheckpointTensor;
  close(): void;
}

/** Opens a file and parses its header only; tensors are read by read(). Close it when done. */
export function openSafetensors(path: string): SafetensorsReader {
  const src = fileSource(path);
  try {
    return readerFor(src);
  } catch (err) {
    src.close();
    throw err;
  }
}

/** Reads every tensor of a file, each into its own buffer (the file is never held whole). */
export function readSafetensors(path: string): Checkpoint {
  const reader = openSafetensors(path);
  try {
    return readAll(reader);
  } finally {
    reader.close();
  }
}

/** Parses a whole file already in memory. Tensor data are views of `buf` where aligned. */
export function parseSafetensors(buf: Uint8Array, nameForErrors: string): Checkpoint {
  return readAll(readerFor(memorySource(buf, nameForErrors)));
}

function readAll(reader: SafetensorsReader): Checkpoint {
  const tensors = new Map<string, CheckpointTensor>();
  for (const name of reader.keys()) tensors.set(name, reader.read(name));
  return { metadata: reader.metadata, tensors };
}

function readerFor(src: ByteSource): SafetensorsReader {
  const { metadata, infos } = parseHeader(src);
  return {
    name: src.name,
    metadata,
    keys: () => [...infos.keys()],
    info: (name) => infos.get(name),
    read(name) {
      const info = infos.get(name);
      if (!info) {
        throw new MissingTensorError(src.name, name);
      }
      const bytes = src.read(info.byteOffset, info.byteLength, `tensor "${name}"`);
      return { dtype: info.dtype, shape: [...info.shape], data: viewAs(info.dtype, bytes) };
    },
    close: () => src.close(),
  };
}

// ---------------------------------------------------------------------------------------------
// Header parsing

interface ParsedHeader {
  metadata: Record<string, string>;
  infos: Map<string, SafetensorsTensorInfo>;
}

function parseHeader(src: ByteSource): ParsedHeader {
  const fail = (code: "bad-header" | "truncated", problem: string) =>
    new CheckpointError(src.name, code, problem);
  if (src.size < 8) throw fail("truncated", `only ${src.size} bytes, too short for a safetensors file`);
  const lenBytes = src.read(0, 8, "the header length");
  const headerLen = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) {
    throw fail(
      "bad-header",
      `the header length field says ${headerLen} bytes (the format's limit is 100 MB)`,
    );
  }
  const n = Number(headerLen);
  if (n > src.size - 8) {
    throw fail(
      "truncated",
      `the header is ${n} bytes but the file has only ${src.size - 8} after the length`,
    );
  }
  const json = parseHeaderJson(src, src.read(8, n, "the header"));
  const dataStart = 8 + n;
  const metadata = parseMetadata(src, json[METADATA_KEY]);
  const infos: [string, SafetensorsTensorInfo][] = [];
  for (const [name, entry] of Object.entries(json)) {
    if (name !== METADATA_KEY) infos.push([name, parseTensorEntry(src, name, entry, dataStart)]);
  }
  infos.sort((a, b) => a[1].byteOffset - b[1].byteOffset);
  checkTiling(src, infos, dataStart);
  return { metadata, infos: new Map(infos) };
}

function parseHeaderJson(src: ByteSource, bytes: Uint8Array): Record<string, unknown> {
  const bad = (problem: string, cause?: unknown) =>
    new CheckpointError(src.name, "bad-header", problem, undefined, { cause });
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (err) {
    throw bad("the header is not valid UTF-8", err);
  }
  // The reference reader requires the JSON to start right away, and so do we: a file whose
  // first bytes happen to parse as a small length is then rejected with a clear message.
  if (!text.startsWith("{")) throw bad("the header does not start with '{' (not a safetensors file?)");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw bad(`the header is not valid JSON (${(err as Error).message})`, err);
  }
  if (!isPlainObject(json)) throw bad("the header is not a JSON object");
  return json;
}

function parseMetadata(src: ByteSource, value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  const bad = () =>
    new CheckpointError(src.name, "bad-header", `"${METADATA_KEY}" must map names to strings`);
  if (!isPlainObject(value)) throw bad();
  const entries = Object.entries(value);
  if (!entries.every(([, v]) => typeof v === "string")) throw bad();
  // fromEntries defines own properties, so a "__proto__" key stays data, not a prototype.
  return Object.fromEntries(entries) as Record<string, string>;
}

function parseTensorEntry(
  src: ByteSource,
  name: string,
  entry: unknown,
  dataStart: number,
): SafetensorsTensorInfo {
  const bad = (problem: string) =>
    new CheckpointError(src.name, "bad-header", `tensor "${name}": ${problem}`);
  if (!isPlainObject(entry)) throw bad("its header entry is not an object");
  const { dtype: code, shape, data_offsets: offsets } = entry;
  if (typeof code !== "string") throw bad("missing dtype");
  const dtype = DTYPE_OF_CODE[code];
  if (!dtype || !Object.hasOwn(DTYPE_OF_CODE, code)) {
    throw new CheckpointError(
      src.name,
      "unsupported",
      `tensor "${name}" has dtype ${code}, which this reader does not support`,
      `Supported: ${Object.keys(DTYPE_OF_CODE).join(", ")}. Convert the tensor (e.g. to F32) and save again.`,
    );
  }
  if (!Array.isArray(shape)) throw bad("missing shape");
  const count = shapeSize(shape);
  if (count === null) throw bad(`invalid shape ${show(shape)}`);
  if (!Array.isArray(offsets) || offsets.length !== 2) throw bad("data_offsets must be [begin, end]");
  const [begin, end] = offsets as unknown[];
  if (!isOffset(begin) || !isOffset(end) || end < begin) {
    throw bad(`invalid data_offsets ${show(offsets)}`);
  }
  const byteLength = end - begin;
  if (byteLength !== count * ELEMENT_SIZE[dtype]) {
    throw bad(
      `data_offsets span ${byteLength} bytes but ${code}[${shape.join(", ")}] needs ${count * ELEMENT_SIZE[dtype]}`,
    );
  }
  return { dtype, shape: shape as number[], byteOffset: dataStart + begin, byteLength };
}

/** As the reference reader: tensors must cover the data section exactly, in order, no overlaps. */
function checkTiling(src: ByteSource, sorted: [string, SafetensorsTensorInfo][], dataStart: number): void {
  let expected = dataStart;
  for (const [name, info] of sorted) {
    const end = info.byteOffset + info.byteLength;
    if (end > src.size) {
      throw new CheckpointError(
        src.name,
        "truncated",
        `tensor "${name}" ends at byte ${end} but the file has only ${src.size}`,
      );
    }
    if (info.byteOffset !== expected) {
      const what = info.byteOffset < expected ? "overlaps the tensor before it" : "leaves a gap before it";
      throw new CheckpointError(
        src.name,
        "bad-header",
        `tensor "${name}" ${what} (data_offsets are inconsistent)`,
      );
    }
    expected = end;
  }
  if (expected !== src.size) {
    throw new CheckpointError(
      src.name,
      "bad-header",
      `${src.size - expected} bytes after the last tensor that no header entry describes`,
    );
  }
}

/**
 * A header value for an error message. Not JSON.stringify alone: JSON.parse accepts arrays
 * nested 100000 deep, and stringifying those overflows the stack.
 */
function show(x: unknown): string {
  const flat = Array.isArray(x) && x.length <= 16 && x.every((v) => v === null || typeof v !== "object");
  if (flat) return JSON.stringify(x);
  return Array.isArray(x) ? `(an array of ${x.length} items, not all numbers)` : `(a ${typeof x})`;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function isOffset(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

// ---------------------------------------------------------------------------------------------
// Writing

export type TensorsToWrite = Map<string, CheckpointTensor> | Record<string, CheckpointTensor>;

interface WritePlan {
  /** Length prefix + padded JSON header. */
  head: Uint8Array;
  /** Each tensor's bytes, in data-section order. */
  parts: Uint8Array[];
}

/**
 * Writes a safetensors file atomically: to `path.tmp-<pid>`, flushed to disk, then renamed over
 * `path`, so a crash or a full disk never leaves a half-written checkpoint under the real name.
 * Tensors are written straight from their buffers, never concatenated in memory.
 * An empty `metadata` writes no "__metadata__" entry, as the reference writer does for None.
 */
export function writeSafetensors(
  path: string,
  tensors: TensorsToWrite,
  metadata: Record<string, string> = {},
): void {
  const plan = planWrite(path, tensors, metadata);
  try {
    writeFileAtomic(path, [plan.head, ...plan.parts]);
  } catch (err) {
    throw new CheckpointError(
      path,
      "io",
      `cannot write the file (${(err as Error).message})`,
      "Check free disk space and permissions.",
      { cause: err },
    );
  }
}

/** The bytes writeSafetensors would write, as one buffer (for small files and tests). */
export function serializeSafetensors(
  tensors: TensorsToWrite,
  metadata: Record<string, string> = {},
): Uint8Array {
  const plan = planWrite("<buffer>", tensors, metadata);
  const total = plan.parts.reduce((sum, p) => sum + p.length, plan.head.length);
  const out = new Uint8Array(total);
  out.set(plan.head, 0);
  let at = plan.head.length;
  for (const part of plan.parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function planWrite(file: string, tensors: TensorsToWrite, metadata: Record<string, string>): WritePlan {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  for (const [name, t] of entries) checkWritable(file, name, t);
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") {
      throw new CheckpointError(
        file,
        "bad-header",
        `metadata "${k}" is not a string`,
        "Metadata values must be strings.",
      );
    }
  }
  entries.sort(
    ([an, a], [bn, b]) =>
      REFERENCE_DTYPE_RANK[b.dtype] - REFERENCE_DTYPE_RANK[a.dtype] || (an < bn ? -1 : an > bn ? 1 : 0),
  );
  // Build the header as an object whose key order is the JSON order: metadata first, then the
  // tensors by offset. Object.defineProperty keeps a "__proto__" tensor name an ordinary key.
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header[METADATA_KEY] = { ...metadata };
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    const bytes = bytesOf(t.data);
    const info = {
      dtype: CODE_OF_DTYPE[t.dtype],
      shape: t.shape,
      data_offsets: [offset, offset + bytes.length],
    };
    Object.defineProperty(header, name, {
      value: info,
      enumerable: true,
      configurable: true,
      writable: true,
    });
    parts.push(bytes);
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + padded).fill(0x20, 8 + json.length); // reference pads with spaces
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  return { head, parts };
}

function checkWritable(file: string, name: string, t: CheckpointTensor): void {
  const bad = (problem: string) =>
    new CheckpointError(file, "bad-tensor", `tensor "${name}": ${problem}`, "Fix the tensor before saving.");
  if (name === METADATA_KEY) throw bad(`the name "${METADATA_KEY}" is reserved by the format`);
  if (!Object.hasOwn(CODE_OF_DTYPE, t.dtype)) throw bad(`unknown dtype ${String(t.dtype)}`);
  const count = shapeSize(t.shape);
  if (count === null) throw bad(`invalid shape [${t.shape}]`);
  if (!dataMatchesDType(t.dtype, t.data))
    throw bad(`${t.dtype} data must be stored in the matching typed array`);
  if (t.data.length !== count)
    throw bad(`shape [${t.shape}] needs ${count} elements, data has ${t.data.length}`);
}
