// Atomic file writes: a temporary file in the same folder, flushed, then renamed over the target,
// so a reader (or a resumed run) never sees a half-written file, even after a crash.
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";

/** All of `bytes` to `fd`, in writes of at most 1 GiB (one writeSync call cannot pass 2 GiB). */
function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength)
    done += writeSync(fd, bytes, done, Math.min(bytes.byteLength - done, 1 << 30));
}

/**
 * Writes `data` (text, bytes, or byte parts written one after another, so a large file need not
 * be concatenated in memory first) to `path` atomically.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array | readonly Uint8Array[]): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const parts =
    typeof data === "string" ? [Buffer.from(data, "utf8")] : data instanceof Uint8Array ? [data] : data;
  try {
    const fd = openSync(tmp, "w");
    try {
      for (const part of parts) writeAll(fd, part);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing to clean up
    }
    throw err;
  }
}

/** Pretty-printed JSON with a trailing newline, written atomically. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}
