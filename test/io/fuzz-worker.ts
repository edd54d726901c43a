// Runs one fuzz campaign inside a worker thread, so the parent test can kill it if a case
// hangs (a synchronous infinite loop would otherwise block the test runner itself).
// Each case's outcome goes back as a message; see fuzz.test.ts for what is asserted.

import { readFileSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { rng as prng } from "../../src/engine/random.js";
import { CheckpointError } from "../../src/io/checkpoints/errors.js";
import { parsePth } from "../../src/io/checkpoints/pth.js";
import { parseSafetensors } from "../../src/io/checkpoints/safetensors.js";

export interface FuzzJob {
  path: string;
  kind: "safetensors" | "pth";
  seed: number;
  cases: number;
}

export interface FuzzResult {
  index: number;
  corruption: string;
  outcome: "ok" | "checkpoint-error" | "other-error";
  /** Error code, or the foreign error's name, message and top stack frame. */
  detail: string;
}

type Rng = () => number;
const int = (rng: Rng, n: number) => Math.floor(rng() * n);

/** Where a format keeps its structure: safetensors at the front, zip at both ends. */
function headerRegions(kind: FuzzJob["kind"], file: Uint8Array): [number, number][] {
  if (kind === "safetensors") {
    const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
    return [[0, 8 + n]];
  }
  const span = Math.min(file.length, 32 * 1024); // data.pkl / central directory and end records
  return [
    [0, span],
    [file.length - span, file.length],
  ];
}

/** Corrupts a copy of `file` one of four ways; returns the bytes and a description. */
function corrupt(kind: FuzzJob["kind"], file: Uint8Array, rng: Rng, index: number): [Uint8Array, string] {
  const buf = new Uint8Array(file);
  switch (index % 4) {
    case 0: {
      const flips = 1 + int(rng, 8);
      for (let k = 0; k < flips; k++) buf[int(rng, buf.length)]! ^= 1 + int(rng, 255);
      return [buf, `flip ${flips} bytes`];
    }
    case 1: {
      const length = int(rng, buf.length);
      return [buf.subarray(0, length), `truncate to ${length}`];
    }
    case 2: {
      const regions = headerRegions(kind, file);
      const [start, end] = regions[int(rng, regions.length)]!;
      const at = start + int(rng, end - start);
      const count = 1 + int(rng, 32);
      for (let k = 0; k < count && at + k < buf.length; k++) buf[at + k] = int(rng, 256);
      return [buf, `overwrite ${count} bytes at ${at}`];
    }
    default: {
      // Small, plausible edits to the structure: digits in the JSON header (offsets, shapes),
      // or single bytes of the pickle/directory. These get past syntax checks more often.
      const [start, end] = headerRegions(kind, file)[0]!;
      const at = start + int(rng, end - start);
      const old = buf[at]!;
      buf[at] = old >= 0x30 && old <= 0x39 ? 0x30 + int(rng, 10) : old ^ (1 << int(rng, 8));
      return [buf, `edit byte ${at}`];
    }
  }
}

export function runCase(job: FuzzJob, file: Uint8Array, index: number): FuzzResult {
  const rng = prng(job.seed * 100_003 + index);
  const [bytes, corruption] = corrupt(job.kind, file, rng, index);
  try {
    if (job.kind === "safetensors") parseSafetensors(bytes, "fuzz.safetensors");
    // Every other group of four cases (one per corruption kind) skips the CRC check, so that
    // damage reaches the pickle reader instead of stopping at the checksum.
    else parsePth(bytes, "fuzz.pth", { verifyCrc: Math.floor(index / 4) % 2 === 0 });
    return { index, corruption, outcome: "ok", detail: "" };
  } catch (err) {
    if (err instanceof CheckpointError)
      return { index, corruption, outcome: "checkpoint-error", detail: err.code };
    const e = err as Error;
    const frame = e?.stack?.split("\n")[1]?.trim() ?? "";
    return { index, corruption, outcome: "other-error", detail: `${e?.name}: ${e?.message} ${frame}` };
  }
}

if (parentPort) {
  const job = workerData as FuzzJob;
  const file = new Uint8Array(readFileSync(job.path));
  for (let i = 0; i < job.cases; i++) parentPort.postMessage(runCase(job, file, i));
  parentPort.postMessage("done");
}
