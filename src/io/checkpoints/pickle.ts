// A pickle reader for the opcode subset that torch.save writes for state dicts (protocols 2-5).
//
// Pickle is a small stack machine. Its danger is GLOBAL + REDUCE, which call arbitrary Python
// functions; here they can only reach what the caller's findGlobal returns (pth.ts resolves a
// short whitelist and refuses the rest), so reading an untrusted file runs no foreign code.
// Everything else is bounds-checked: any malformed input ends in a CheckpointError, and every
// opcode consumes at least one byte, so parsing is linear in the input size and cannot hang.
//
// Python values map to: None -> null, bool -> boolean, int -> number (bigint beyond 2^53),
// float -> number, str -> string, bytes -> Uint8Array, tuple and list -> Array,
// dict -> Map. Opcode reference: CPython Lib/pickletools.py.

import { copyBytes } from "./dtypes.js";
import { CheckpointError } from "./errors.js";

export interface PickleHooks {
  /** GLOBAL / STACK_GLOBAL "module name": return the object, or throw to refuse it. */
  findGlobal(module: string, name: string): unknown;
  /** BINPERSID: the object a persistent id (torch: a storage tuple) stands for. */
  persistentLoad(pid: unknown): unknown;
  /** BUILD: apply `state` to `obj` (obj.__setstate__). Missing: BUILD is an error. */
  build?(obj: unknown, state: unknown): void;
}

/**
 * What REDUCE can call. findGlobal returns these for callables; anything else on the stack at
 * REDUCE time is an error.
 */
export type PickleCallable = (args: unknown[]) => unknown;

const HIGHEST_PROTOCOL = 5;

/** Marks the MARK opcode's place on the stack. */
const MARK = Symbol("pickle MARK");

/**
 * Unpickles `bytes`. `file` names the checkpoint in errors; `part` (e.g. "data.pkl") says which
 * part of it the bytes are.
 */
export function unpickle(bytes: Uint8Array, hooks: PickleHooks, file: string, part = "pickle"): unknown {
  return new Unpickler(bytes, hooks, file, part).run();
}

const utf8 = new TextDecoder("utf-8");

class Unpickler {
  private pos = 0;
  private opStart = 0;
  // Python keeps MARK positions on a separate stack; a marker value in the main stack does the
  // same with less code.
  private readonly stack: unknown[] = [];
  readonly memo = new Map<number, unknown>();
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    readonly hooks: PickleHooks,
    private readonly file: string,
    private readonly part: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  run(): unknown {
    while (this.pos < this.bytes.length) {
      this.opStart = this.pos;
      const op = this.bytes[this.pos++]!;
      if (op === STOP) return this.pop();
      const handler = OPCODES.get(op);
      if (!handler) {
        throw this.error(
          `unknown or unsupported opcode 0x${op.toString(16).padStart(2, "0")} ` +
            "(not a state-dict pickle, or the data are corrupt)",
        );
      }
      handler(this);
    }
    throw this.error("ends without a STOP opcode (truncated)");
  }

  error(problem: string): CheckpointError {
    return new CheckpointError(this.file, "bad-pickle", `${this.part}, byte ${this.opStart}: ${problem}`);
  }

  // Operands -----------------------------------------------------------------------------------

  /** The next `n` bytes, as a view. */
  take(n: number): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0 || this.pos + n > this.bytes.length) {
      throw this.error(`an operand of ${n} bytes runs past the end`);
    }
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  u8(): number {
    return this.take(1)[0]!;
  }
  u16(): number {
    this.take(2);
    return this.view.getUint16(this.pos - 2, true);
  }
  i32(): number {
    this.take(4);
    return this.view.getInt32(this.pos - 4, true);
  }
  u32(): number {
    this.take(4);
    return this.view.getUint32(this.pos - 4, true);
  }
  u64(): number {
    this.take(8);
    const v = this.view.getBigUint64(this.pos - 8, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.error("a 64-bit length is out of range");
    return Number(v);
  }
  /** The next `n` bytes, copied (pickled bytes objects must not alias the file buffer). */
  bytesCopy(n: number): Uint8Array {
    return copyBytes(this.take(n));
  }
  f64be(): number {
    this.take(8);
    return this.view.getFloat64(this.pos - 8, false);
  }

  /** A newline-terminated text operand (GLOBAL's module and name). */
  line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) throw this.error("a text operand has no terminating newline");
    const text = utf8.decode(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return text;
  }

  // Stack ----------------------------------------------------------------------------------------

  push(x: unknown): void {
    this.stack.push(x);
  }

  pop(): unknown {
    if (this.stack.length === 0) throw this.error("stack underflow");
    const x = this.stack.pop();
    if (x === MARK) throw this.error("found a MARK where a value was expected");
    return x;
  }

  top(): unknown {
    const x = this.stack[this.stack.length - 1];
    if (this.stack.length === 0 || x === MARK) throw this.error("stack underflow");
    return x;
  }

  /** Pops everything above the most recent MARK, and the MARK. */
  popMark(): unknown[] {
    const at = this.stack.lastIndexOf(MARK);
    if (at < 0) throw this.error("no MARK to pop to");
    const items = this.stack.splice(at);
    items.shift();
    return items;
  }

  memoGet(index: number): void {
    if (!this.memo.has(index)) throw this.error(`memo entry ${index} is read before it is written`);
    this.push(this.memo.get(index));
  }

  // Containers and calls -------------------------------------------------------------------------

  /** SETITEM(S): the items are popped first, then the dict is the new top. */
  setItemsOnTop(kv: unknown[]): void {
    this.setItems(this.top(), kv);
  }

  setItems(target: unknown, kv: unknown[]): Map<unknown, unknown> {
    if (!(target instanceof Map)) throw this.error("SETITEM(S) on something that is not a dict");
    if (kv.length % 2 !== 0) throw this.error("SETITEMS with an odd number of keys and values");
    for (let i = 0; i < kv.length; i += 2) target.set(kv[i], kv[i + 1]);
    return target;
  }

  appendItems(items: unknown[]): void {
    const target = this.top();
    if (!Array.isArray(target)) throw this.error("APPEND(S) on something that is not a list");
    for (const item of items) target.push(item);
  }

  stackGlobal(): unknown {
    const name = this.pop();
    const module = this.pop();
    if (typeof module !== "string" || typeof name !== "string")
      throw this.error("STACK_GLOBAL needs two strings");
    return this.hooks.findGlobal(module, name);
  }

  reduce(): unknown {
    const args = this.pop();
    const callable = this.pop();
    if (typeof callable !== "function") throw this.error("REDUCE on something that is not callable");
    if (!Array.isArray(args)) throw this.error("REDUCE arguments are not a tuple");
    return (callable as PickleCallable)(args);
  }

  build(): void {
    const state = this.pop();
    const obj = this.top();
    if (!this.hooks.build) throw this.error("BUILD is not supported here");
    this.hooks.build(obj, state);
  }
}

const STOP = 0x2e;

type Handler = (p: Unpickler) => void;

/** Opcode -> what it does. Codes and names as in CPython's Lib/pickletools.py. */
const OPCODES = new Map<number, Handler>([
  // Protocol and framing: no effect on the result.
  [0x80, (p) => checkProtocol(p, p.u8())], // PROTO
  [0x95, (p) => void p.u64()], // FRAME: a length hint for buffered readers

  // Stack and memo.
  [0x28, (p) => p.push(MARK)], // MARK
  [0x30, (p) => void p.pop()], // POP
  [0x31, (p) => void p.popMark()], // POP_MARK
  [0x32, (p) => p.push(p.top())], // DUP
  [0x71, (p) => void p.memo.set(p.u8(), p.top())], // BINPUT
  [0x72, (p) => void p.memo.set(p.u32(), p.top())], // LONG_BINPUT
  [0x94, (p) => void p.memo.set(p.memo.size, p.top())], // MEMOIZE
  [0x68, (p) => p.memoGet(p.u8())], // BINGET
  [0x6a, (p) => p.memoGet(p.u32())], // LONG_BINGET

  // Constants.
  [0x4e, (p) => p.push(null)], // NONE
  [0x88, (p) => p.push(true)], // NEWTRUE
  [0x89, (p) => p.push(false)], // NEWFALSE
  [0x4b, (p) => p.push(p.u8())], // BININT1
  [0x4d, (p) => p.push(p.u16())], // BININT2
  [0x4a, (p) => p.push(p.i32())], // BININT
  [0x8a, (p) => p.push(decodeLong(p.take(p.u8())))], // LONG1
  [0x8b, (p) => p.push(decodeLong(p.take(p.i32())))], // LONG4
  [0x47, (p) => p.push(p.f64be())], // BINFLOAT
  [0x58, (p) => p.push(utf8.decode(p.take(p.u32())))], // BINUNICODE
  [0x8c, (p) => p.push(utf8.decode(p.take(p.u8())))], // SHORT_BINUNICODE
  [0x8d, (p) => p.push(utf8.decode(p.take(p.u64())))], // BINUNICODE8
  [0x43, (p) => p.push(p.bytesCopy(p.u8()))], // SHORT_BINBYTES
  [0x42, (p) => p.push(p.bytesCopy(p.u32()))], // BINBYTES
  [0x8e, (p) => p.push(p.bytesCopy(p.u64()))], // BINBYTES8

  // Tuples, lists, dicts.
  [0x29, (p) => p.push([])], // EMPTY_TUPLE
  [0x5d, (p) => p.push([])], // EMPTY_LIST
  [0x7d, (p) => p.push(new Map())], // EMPTY_DICT
  [0x85, (p) => p.push(popN(p, 1))], // TUPLE1
  [0x86, (p) => p.push(popN(p, 2))], // TUPLE2
  [0x87, (p) => p.push(popN(p, 3))], // TUPLE3
  [0x74, (p) => p.push(p.popMark())], // TUPLE
  [0x6c, (p) => p.push(p.popMark())], // LIST
  [0x64, (p) => p.push(p.setItems(new Map(), p.popMark()))], // DICT
  [0x73, (p) => p.setItemsOnTop(popN(p, 2))], // SETITEM
  [0x75, (p) => p.setItemsOnTop(p.popMark())], // SETITEMS
  [0x61, (p) => p.appendItems(popN(p, 1))], // APPEND
  [0x65, (p) => p.appendItems(p.popMark())], // APPENDS

  // Reaching outside the pickle: globals, calls, persistent ids.
  [0x63, (p) => p.push(p.hooks.findGlobal(p.line(), p.line()))], // GLOBAL "module\nname\n"
  [0x93, (p) => p.push(p.stackGlobal())], // STACK_GLOBAL
  [0x52, (p) => p.push(p.reduce())], // REDUCE
  [0x62, (p) => p.build()], // BUILD
  [0x51, (p) => p.push(p.hooks.persistentLoad(p.pop()))], // BINPERSID
]);

function checkProtocol(p: Unpickler, version: number): void {
  if (version > HIGHEST_PROTOCOL) throw p.error(`pickle protocol ${version} is newer than 5`);
}

/** Pops the top `n` values, oldest first. */
function popN(p: Unpickler, n: number): unknown[] {
  const out = new Array<unknown>(n);
  for (let i = n - 1; i >= 0; i--) out[i] = p.pop();
  return out;
}

/** Python's LONG encoding: little-endian two's complement, any length (0 bytes = 0). */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  // Via one hex string: linear time even for a (corrupt) megabyte-long operand.
  let hex = "";
  for (let i = bytes.length - 1; i >= 0; i--) hex += bytes[i]!.toString(16).padStart(2, "0");
  let v = BigInt(`0x${hex}`);
  if (bytes[bytes.length - 1]! & 0x80) v -= 1n << BigInt(8 * bytes.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}
