// Model checkpoints: safetensors (read and written) and PyTorch .pth (torch.save's zip + pickle,
// read without Python), behind one reader that picks the format from the bytes.
// - safetensors.ts; pth.ts over zip.ts and pickle.ts; source.ts (random access to a file or buffer)
// - dtypes.ts: the tensors both return; errors.ts: CheckpointError, the one error they throw

import { closeSync, openSync, readSync } from "node:fs";
import type { Checkpoint } from "./dtypes.js";
import { CheckpointError } from "./errors.js";
import { readPth } from "./pth.js";
import { readSafetensors } from "./safetensors.js";

export * from "./dtypes.js";
export * from "./errors.js";
export * from "./pth.js";
export * from "./safetensors.js";

/**
 * Reads a .pth or .safetensors checkpoint, chosen by content rather than by extension (people
 * rename files): zip archives are torch.save files, anything else is tried as safetensors.
 */
export function readCheckpoint(path: string): Checkpoint {
  return startsWithZipMagic(path) ? readPth(path) : readSafetensors(path);
}

function startsWithZipMagic(path: string): boolean {
  const head = new Uint8Array(4);
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new CheckpointError(
      path,
      "io",
      `cannot open the file (${(err as Error).message})`,
      "Check the path.",
      {
        cause: err,
      },
    );
  }
  try {
    readSync(fd, head, 0, 4, 0);
  } catch {
    // Unreadable: let the reader below report it with its own message.
  } finally {
    closeSync(fd);
  }
  return head[0] === 0x50 && head[1] === 0x4b && head[2] === 3 && head[3] === 4;
}
