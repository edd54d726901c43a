// Reader for PyTorch checkpoints written by torch.save (the zip format, PyTorch >= 1.6).
//
// Layout: a zip archive whose entries all sit under one folder, "<name>/":
//   <name>/data.pkl      the pickled object; tensors in it point at storages by key
//   <name>/data/<key>    each storage's raw little-endian bytes
//   <name>/version, and from newer PyTorch <name>/byteorder, <name>/.data/serialization_id
// In data.pkl a tensor is REDUCE(torch._utils._rebuild_tensor_v2, (storage, offset, size,
// stride, requires_grad, backward_hooks)), where storage is a persistent id
// ("storage", torch.FloatStorage, key, location, numel). We resolve only those globals (plus
// OrderedDict and nn.Parameter's rebuild), so a checkpoint can never make us run anything.
//
// Opening parses data.pkl and the zip directory only; tensor bytes are read per tensor on
// demand, so a lazy reader over a 2.5 GB ViT-H file holds one tensor at a time.

import {
  type Checkpoint,
  type CheckpointDType,
  type CheckpointTensor,
  copyBytes,
  ELEMENT_SIZE,
  shapeSize,
  type TensorData,
  viewAs,
} from "./dtypes.js";
import { CheckpointError, MissingTensorError, UnsupportedGlobalError } from "./errors.js";
import { type PickleCallable, type PickleHooks, unpickle } from "./pickle.js";
import { allocateBytes, type ByteSource, fileSource, memorySource } from "./source.js";
import { readZipDirectory, readZipEntry, type ZipEntry } from "./zip.js";

export { type Checkpoint, type CheckpointTensor, toFloat32 } from "./dtypes.js";

export interface PthOptions {
  /** Check each zip entry's CRC-32 (default true; one fast native pass over the bytes). */
  verifyCrc?: boolean;
}

/** Where one tensor lives in the archive, before it is read. */
export interface PthTensorInfo {
  dtype: CheckpointDType;
  shape: number[];
  /** In elements, as torch reports tensor.stride(). */
  stride: number[];
  /** The storage's key: its bytes are the zip entry "<name>/data/<key>". */
  storageKey: string;
  /** In elements. */
  storageOffset: number;
  /** False when reading must gather a strided (e.g. transposed) view into a copy. */
  contiguous: boolean;
}

export interface PthCheckpoint extends Checkpoint {
  /** "model" or "state_dict" when the tensors came from that key of a wrapper dict, else null. */
  unwrappedFrom: string | null;
  /** Names in the state dict whose values are not tensors (ignored). */
  skipped: string[];
}

export interface PthReader {
  readonly name: string;
  readonly unwrappedFrom: string | null;
  readonly skipped: string[];
  /** Tensor names in state-dict order. */
  keys(): string[];
  info(name: string): PthTensorInfo | undefined;
  read(name: string): CheckpointTensor;
  close(): void;
}

/** Opens a .pth file: reads its directory and data.pkl; tensors are read by read(). */
export function openPth(path: string, options: PthOptions = {}): PthReader {
  const src = fileSource(path);
  try {
    return readerFor(src, options);
  } catch (err) {
    src.close();
    throw err;
  }
}

/**
 * Reads every tensor of a .pth file. Tensors that share a storage (tied weights, slices of one
 * buffer) read it once, and contiguous ones then share its memory, as they do in torch.
 */
export function readPth(path: string, options: PthOptions = {}): PthCheckpoint {
  const src = fileSource(path);
  try {
    return readAll(openArchive(src, options));
  } finally {
    src.close();
  }
}

/** Parses a whole .pth already in memory. Contiguous tensors are views of `buf` where aligned. */
export function parsePth(buf: Uint8Array, nameForErrors: string, options: PthOptions = {}): PthCheckpoint {
  return readAll(openArchive(memorySource(buf, nameForErrors), options));
}

function readAll(archive: Archive): PthCheckpoint {
  // Count each storage's users so its buffer leaves the cache after the last one.
  const users = new Map<string, number>();
  for (const ref of archive.refs.values()) users.set(ref.storage.key, (users.get(ref.storage.key) ?? 0) + 1);
  const cache = new Map<string, Uint8Array>();
  const tensors = new Map<string, CheckpointTensor>();
  for (const [name, ref] of archive.refs) {
    const key = ref.storage.key;
    const bytes = cache.get(key) ?? archive.loadStorage(key);
    const left = users.get(key)! - 1;
    users.set(key, left);
    if (left > 0) cache.set(key, bytes);
    else cache.delete(key);
    tensors.set(name, tensorOf(archive.name, ref, bytes));
  }
  return { metadata: {}, tensors, unwrappedFrom: archive.unwrappedFrom, skipped: archive.skipped };
}

// ---------------------------------------------------------------------------------------------
// What data.pkl's globals and persistent ids turn into

/** torch.FloatStorage and friends: only their dtype matters. */
class StorageType {
  constructor(readonly dtype: CheckpointDType) {}
}

class StorageRef {
  constructor(
    readonly dtype: CheckpointDType,
    readonly key: string,
    readonly numel: number,
  ) {}
}

/** A tensor as data.pkl describes it: a strided view of a storage, not yet read. */
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

const STORAGE_TYPES: Readonly<Record<string, CheckpointDType>> = {
  FloatStorage: "float32",
  HalfStorage: "float16",
  BFloat16Storage: "bfloat16",
  DoubleStorage: "float64",
  LongStorage: "int64",
  IntStorage: "int32",
  ByteStorage: "uint8",
  BoolStorage: "bool",
};

function pickleHooks(file: string): PickleHooks {
  const bad = (problem: string) => new CheckpointError(file, "bad-pickle", `data.pkl: ${problem}`);
  const callables: Record<string, PickleCallable> = {
    "collections.OrderedDict": (args) => {
      // Pickled OrderedDicts are rebuilt empty and filled by SETITEMS.
      if (args.length !== 0) throw bad("OrderedDict called with arguments");
      return new Map();
    },
    "torch._utils._rebuild_tensor_v2": (args) => rebuildTensor(file, args),
    // nn.Parameter(tensor, requires_grad, hooks[, state]): for reading weights, just the tensor.
    "torch._utils._rebuild_parameter": (args) => unwrapParameter(file, args),
    "torch._utils._rebuild_parameter_with_state": (args) => unwrapParameter(file, args),
  };
  return {
    findGlobal(module, name) {
      const full = `${module}.${name}`;
      if (Object.hasOwn(callables, full)) return callables[full];
      if (module === "torch" && Object.hasOwn(STORAGE_TYPES, name)) {
        return new StorageType(STORAGE_TYPES[name]!);
      }
      throw new UnsupportedGlobalError(file, full);
    },
    persistentLoad: (pid) => loadStorageRef(file, pid),
    build(obj, _state) {
      // state_dict() OrderedDicts carry a `_metadata` attribute (module versions) that pickle
      // restores with BUILD. Tensor loading does not need it.
      if (!(obj instanceof Map)) throw bad("BUILD on an object other than a dict");
    },
  };
}

function loadStorageRef(file: string, pid: unknown): StorageRef {
  if (Array.isArray(pid) && pid.length >= 5 && pid[0] === "storage") {
    const [, type, key, , numel] = pid;
    if (type instanceof StorageType && typeof key === "string" && isCount(numel)) {
      return new StorageRef(type.dtype, key, numel);
    }
  }
  throw new CheckpointError(
    file,
    "bad-pickle",
    "data.pkl: a persistent id is not a ('storage', type, key, location, numel) tuple",
  );
}

function rebuildTensor(file: string, args: unknown[]): TensorRef {
  const bad = (problem: string) =>
    new CheckpointError(file, "bad-tensor", `data.pkl: _rebuild_tensor_v2 ${problem}`);
  const [storage, offset, shape, stride] = args;
  if (!(storage instanceof StorageRef)) throw bad("got no storage");
  if (!isCount(offset)) throw bad("got an invalid storage offset");
  if (!isCountList(shape) || shapeSize(shape) === null) throw bad("got an invalid size");
  if (!isCountList(stride) || stride.length !== shape.length) throw bad("got an invalid stride");
  const ref = new TensorRef(storage, offset, [...shape], [...stride]);
  if (!fitsStorage(ref)) throw bad(`reaches past the end of its ${storage.numel}-element storage`);
  return ref;
}

function unwrapParameter(file: string, args: unknown[]): TensorRef {
  if (args[0] instanceof TensorRef) return args[0];
  throw new CheckpointError(file, "bad-pickle", "data.pkl: a Parameter does not wrap a tensor");
}

/** Whether the largest element index of the view is inside the storage. */
function fitsStorage(t: TensorRef): boolean {
  if (shapeSize(t.shape) === 0) return true;
  let last = t.offset;
  for (let i = 0; i < t.shape.length; i++) last += (t.shape[i]! - 1) * t.stride[i]!;
  return Number.isSafeInteger(last) && last < t.storage.numel;
}

function isCount(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

function isCountList(x: unknown): x is number[] {
  return Array.isArray(x) && x.every(isCount);
}

// ---------------------------------------------------------------------------------------------
// Opening

/** data.pkl's tensors and a way to fetch their storages: what the lazy and eager readers share. */
interface Archive {
  name: string;
  refs: Map<string, TensorRef>;
  unwrappedFrom: string | null;
  skipped: string[];
  /** The storage's bytes, read (and CRC-checked) afresh on each call. */
  loadStorage(key: string): Uint8Array;
}

function openArchive(src: ByteSource, options: PthOptions): Archive {
  const verifyCrc = options.verifyCrc ?? true;
  checkMagic(src);
  const entries = readZipDirectory(src);
  const prefix = findRecordPrefix(src, entries);
  checkByteOrder(src, entries, prefix, verifyCrc);
  const pkl = readZipEntry(src, entries.get(`${prefix}data.pkl`)!, verifyCrc);
  const root = unpickle(pkl, pickleHooks(src.name), src.name, "data.pkl");
  const { dict, unwrappedFrom } = selectStateDict(src.name, root);
  const { refs, skipped } = collectTensors(dict);
  const storageEntry = (key: string) => entries.get(`${prefix}data/${key}`);
  for (const ref of refs.values()) checkStorageEntry(src, ref.storage, storageEntry(ref.storage.key));
  return {
    name: src.name,
    refs,
    unwrappedFrom,
    skipped,
    loadStorage: (key) => readZipEntry(src, storageEntry(key)!, verifyCrc),
  };
}

function readerFor(src: ByteSource, options: PthOptions): PthReader {
  const archive = openArchive(src, options);
  return {
    name: src.name,
    unwrappedFrom: archive.unwrappedFrom,
    skipped: archive.skipped,
    keys: () => [...archive.refs.keys()],
    info: (name) => {
      const ref = archive.refs.get(name);
      return ref && infoOf(ref);
    },
    read(name) {
      const ref = archive.refs.get(name);
      if (!ref) {
        throw new MissingTensorError(src.name, name);
      }
      return tensorOf(src.name, ref, archive.loadStorage(ref.storage.key));
    },
    close: () => src.close(),
  };
}

function tensorOf(file: string, ref: TensorRef, storage: Uint8Array): CheckpointTensor {
  return { dtype: ref.storage.dtype, shape: [...ref.shape], data: materialise(file, ref, storage) };
}

/** Tells the old (pre-1.6) format and non-zip files apart from a damaged zip, for the message. */
function checkMagic(src: ByteSource): void {
  const head = src.read(0, Math.min(4, src.size), "the file's first bytes");
  const isZip = head.length === 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 3 && head[3] === 4;
  if (isZip) return;
  if (head[0] === 0x80) {
    throw new CheckpointError(
      src.name,
      "unsupported",
      "this is the legacy torch.save format (PyTorch < 1.6 or _use_new_zipfile_serialization=False)",
      "Re-save it with a current PyTorch (torch.save(torch.load(f), g)) or convert it to .safetensors.",
    );
  }
  throw new CheckpointError(src.name, "bad-zip", "not a zip archive, so not a torch.save checkpoint");
}

/** The folder all entries sit in: whatever precedes "data.pkl" (torch uses the file's stem). */
function findRecordPrefix(src: ByteSource, entries: Map<string, ZipEntry>): string {
  const pkls = [...entries.keys()].filter((n) => n === "data.pkl" || /^[^/]*\/data\.pkl$/.test(n));
  if (pkls.length === 0) {
    throw new CheckpointError(
      src.name,
      "bad-zip",
      "the archive has no data.pkl",
      "It is not a torch.save checkpoint, or it is damaged: re-download it.",
    );
  }
  if (pkls.length > 1) {
    throw new CheckpointError(
      src.name,
      "unsupported",
      `the archive holds ${pkls.length} data.pkl records, not one`,
      "Save one state dict per file with torch.save.",
    );
  }
  const prefix = pkls[0]!.slice(0, -"data.pkl".length);
  if (entries.has(`${prefix}constants.pkl`)) {
    throw new CheckpointError(
      src.name,
      "unsupported",
      "this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint",
      "Save the weights with torch.save(model.state_dict(), path).",
    );
  }
  return prefix;
}

/** Newer PyTorch records the writer's byte order; we read little-endian data only. */
function checkByteOrder(
  src: ByteSource,
  entries: Map<string, ZipEntry>,
  prefix: string,
  verifyCrc: boolean,
): void {
  const entry = entries.get(`${prefix}byteorder`);
  if (!entry) return; // older writers: always little-endian in practice
  const order = new TextDecoder().decode(readZipEntry(src, entry, verifyCrc)).trim();
  if (order !== "little") {
    throw new CheckpointError(
      src.name,
      "unsupported",
      `the checkpoint was written with "${order}" byte order; only little-endian is supported`,
      "Re-save it on a little-endian machine or convert it to .safetensors.",
    );
  }
}

const WRAPPER_KEYS = ["model", "state_dict"];

/**
 * The dict whose values are the tensors. MedSAM and SAM files are plain state dicts; training
 * scripts often save {"model": state_dict, "optimizer": ..., "epoch": n} instead, so when the
 * top level holds no tensor we look under those keys.
 */
function selectStateDict(
  file: string,
  root: unknown,
): { dict: Map<unknown, unknown>; unwrappedFrom: string | null } {
  if (!(root instanceof Map)) {
    throw new CheckpointError(
      file,
      "unsupported",
      `data.pkl holds a ${describe(root)}, not a dict of tensors`,
      "Save a state dict: torch.save(model.state_dict(), path).",
    );
  }
  if (root.size === 0 || hasTensor(root)) return { dict: root, unwrappedFrom: null };
  for (const key of WRAPPER_KEYS) {
    const inner = root.get(key);
    if (inner instanceof Map && hasTensor(inner)) return { dict: inner, unwrappedFrom: key };
  }
  const keys = [...root.keys()].slice(0, 8).map(keyName).join(", ");
  throw new CheckpointError(
    file,
    "unsupported",
    `found no tensors at the top level (keys: ${keys}) nor under "model" or "state_dict"`,
    "Save a state dict: torch.save(model.state_dict(), path).",
  );
}

function hasTensor(dict: Map<unknown, unknown>): boolean {
  for (const v of dict.values()) if (v instanceof TensorRef) return true;
  return false;
}

function collectTensors(dict: Map<unknown, unknown>): { refs: Map<string, TensorRef>; skipped: string[] } {
  const refs = new Map<string, TensorRef>();
  const skipped: string[] = [];
  for (const [k, v] of dict) {
    if (typeof k === "string" && v instanceof TensorRef) refs.set(k, v);
    else skipped.push(keyName(k));
  }
  return { refs, skipped };
}

/**
 * A dict key for messages. Not String(k): a hostile pickle can nest a tuple key thousands of
 * levels deep, and Array.prototype.toString would recurse until the stack overflows.
 */
function keyName(k: unknown): string {
  if (typeof k === "string") return k;
  if (k === null || typeof k === "number" || typeof k === "bigint" || typeof k === "boolean")
    return String(k);
  return `<${describe(k)}>`;
}

function describe(x: unknown): string {
  if (x === null) return "None";
  if (Array.isArray(x)) return "list or tuple";
  return typeof x;
}

/** Checked at open time so info() is trustworthy and read() fails only on damaged bytes. */
function checkStorageEntry(src: ByteSource, storage: StorageRef, entry: ZipEntry | undefined): void {
  if (!entry) {
    throw new CheckpointError(src.name, "bad-zip", `the archive lacks the data of storage "${storage.key}"`);
  }
  const need = storage.numel * ELEMENT_SIZE[storage.dtype];
  if (entry.uncompressedSize < need) {
    throw new CheckpointError(
      src.name,
      "out-of-bounds",
      `storage "${storage.key}" holds ${entry.uncompressedSize} bytes but its tensors need ${need}`,
    );
  }
}

function infoOf(ref: TensorRef): PthTensorInfo {
  return {
    dtype: ref.storage.dtype,
    shape: [...ref.shape],
    stride: [...ref.stride],
    storageKey: ref.storage.key,
    storageOffset: ref.offset,
    contiguous: isContiguous(ref.shape, ref.stride),
  };
}

// ---------------------------------------------------------------------------------------------
// Materialising a strided view as a contiguous row-major array

/** Row-major contiguity as torch defines it: dimensions of size 1 may have any stride. */
function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] === 1) continue;
    if (stride[i] !== expected) return false;
    expected *= shape[i]!;
  }
  return true;
}

function materialise(file: string, ref: TensorRef, storage: Uint8Array): TensorData {
  const { dtype } = ref.storage;
  const size = ELEMENT_SIZE[dtype];
  const n = shapeSize(ref.shape)!;
  if (n === 0) return viewAs(dtype, new Uint8Array(0));
  if (isContiguous(ref.shape, ref.stride)) {
    return viewAs(dtype, storage.subarray(ref.offset * size, (ref.offset + n) * size));
  }
  return viewAs(dtype, gather(file, ref, storage, size, n));
}

/**
 * Copies a strided view element by element into row-major order. Elements are moved as
 * unsigned integers of their width so float bit patterns (NaN payloads included) survive.
 */
function gather(file: string, ref: TensorRef, storage: Uint8Array, size: number, n: number): Uint8Array {
  if (storage.byteOffset % size !== 0) storage = copyBytes(storage);
  const out = allocateBytes(file, n * size, "a strided tensor's copy");
  // 8-byte elements move as two 32-bit words.
  const words = size === 8 ? 2 : 1;
  const src = wordsOf(storage, size / words);
  const dst = wordsOf(out, size / words);
  const { shape, stride } = ref;
  const index = new Array<number>(shape.length).fill(0);
  let at = ref.offset;
  for (let i = 0; i < n; i++) {
    for (let w = 0; w < words; w++) dst[i * words + w] = src[at * words + w]!;
    // Advance the multi-index like an odometer, adjusting the storage position as we go.
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d]! < shape[d]!) {
        at += stride[d]!;
        break;
      }
      at -= (shape[d]! - 1) * stride[d]!;
      index[d] = 0;
    }
  }
  return out;
}

/** `bytes` as unsigned words of `width` bytes (trailing partial word dropped). */
function wordsOf(bytes: Uint8Array, width: number): Uint8Array | Uint16Array | Uint32Array {
  const { buffer, byteOffset, byteLength } = bytes;
  if (width === 1) return bytes;
  if (width === 2) return new Uint16Array(buffer, byteOffset, byteLength >> 1);
  return new Uint32Array(buffer, byteOffset, Math.floor(byteLength / 4));
}
