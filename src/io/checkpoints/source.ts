// Random access to a checkpoint's bytes, from a file or from memory, behind one interface.
//
// Files are read at offsets (fs.readSync) instead of whole, so opening a 2.5 GB ViT-H
// checkpoint costs its header only and each tensor is read once, into its own buffer. The
// in-memory source lets the same parsers run on a buffer (tests, fuzzing, downloads).

import * as buffer from "node:buffer";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { CheckpointError } from "./errors.js";

export interface ByteSource {
  /** The path or the caller's name for the buffer; goes into error messages. */
  readonly name: string;
  readonly size: number;
  /**
   * Exactly `length` bytes starting at `offset`. Throws CheckpointError("truncated") naming
   * `what` when the range runs past the end. The result may be a view of a shared buffer:
   * do not write to it.
   */
  read(offset: number, length: number, what: string): Uint8Array;
  close(): void;
}

function checkRange(src: ByteSource, offset: number, length: number, what: string): void {
  const ok = Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0;
  if (!ok || offset + length > src.size) {
    throw new CheckpointError(
      src.name,
      "truncated",
      `${what} (bytes ${offset}..${offset + length}) lies past the end of the ${src.size}-byte file`,
    );
  }
}

export function memorySource(bytes: Uint8Array, name: string): ByteSource {
  const src: ByteSource = {
    name,
    size: bytes.length,
    read(offset, length, what) {
      checkRange(src, offset, length, what);
      return bytes.subarray(offset, offset + length);
    },
    close() {},
  };
  return src;
}

// readSync takes at most 2^31-1 bytes per call; stay well under it.
const READ_CHUNK = 1 << 30;

export function fileSource(path: string): ByteSource {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw ioError(path, err);
  }
  let size: number;
  try {
    size = fstatSync(fd).size;
  } catch (err) {
    closeSync(fd);
    throw ioError(path, err);
  }
  let open = true;
  const src: ByteSource = {
    name: path,
    size,
    read(offset, length, what) {
      if (!open) {
        throw new CheckpointError(path, "io", `read of ${what} after the file was closed`, "Reopen it.");
      }
      checkRange(src, offset, length, what);
      const out = allocateBytes(path, length, what);
      let done = 0;
      while (done < length) {
        const n = readChunk(fd, path, out, done, Math.min(READ_CHUNK, length - done), offset + done);
        if (n === 0) {
          throw new CheckpointError(path, "truncated", `the file shrank while ${what} was being read`);
        }
        done += n;
      }
      return out;
    },
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
  return src;
}

function readChunk(
  fd: number,
  path: string,
  out: Uint8Array,
  at: number,
  length: number,
  position: number,
): number {
  try {
    return readSync(fd, out, at, length, position);
  } catch (err) {
    throw ioError(path, err);
  }
}

function ioError(path: string, err: unknown): CheckpointError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const problem =
    code === "ENOENT"
      ? "no such file"
      : code === "EISDIR"
        ? "is a directory, not a checkpoint file"
        : `cannot read the file (${(err as Error)?.message ?? String(err)})`;
  return new CheckpointError(path, "io", problem, "Check the path and permissions.", { cause: err });
}

/**
 * A fresh buffer of `length` bytes, not zero-filled, in an ArrayBuffer of its own (not Node's
 * shared pool) so it starts 8-byte aligned and tensor views over it need no copy. A length the
 * runtime cannot allocate (beyond Node's buffer limit, or out of memory) becomes a
 * CheckpointError instead of a bare RangeError.
 */
export function allocateBytes(file: string, length: number, what: string): Uint8Array {
  if (length > buffer.constants.MAX_LENGTH) {
    throw new CheckpointError(
      file,
      "unsupported",
      `${what} needs ${length} bytes, more than one buffer can hold (${buffer.constants.MAX_LENGTH})`,
      "Split the tensor, or check that the file is not corrupt.",
    );
  }
  try {
    const out = Buffer.allocUnsafeSlow(length);
    return new Uint8Array(out.buffer, out.byteOffset, length);
  } catch (err) {
    throw new CheckpointError(
      file,
      "io",
      `cannot allocate ${length} bytes for ${what}`,
      "Free some memory.",
      {
        cause: err,
      },
    );
  }
}
