// Corrupted checkpoints must fail with a CheckpointError (or parse), never with another error
// and never hang. Each file gets CASES seeded corruptions (fuzz-worker.ts: byte flips,
// truncation, overwritten header/directory bytes, small structural edits). The cases run in a
// worker thread that is killed if one case takes longer than CASE_TIMEOUT_MS.
// To reproduce a failure, the message gives the file, seed and case index.

import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Worker } from "node:worker_threads";
import { SAM_TINY } from "./fixtures.js";
import type { FuzzJob, FuzzResult } from "./fuzz-worker.js";

const CASES = 200;
const SEED = 20240611;
// Generous: a case normally takes a few ms; the first includes the worker's warm-up.
const CASE_TIMEOUT_MS = 5000;

/** Starts fuzz-worker.ts in a worker; tsx's loader is registered there first (workers do not inherit it). */
function startWorker(job: FuzzJob): Worker {
  const tsx = import.meta.resolve("tsx/esm/api");
  const script = new URL("./fuzz-worker.ts", import.meta.url).href;
  const boot = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(script)}); })`;
  return new Worker(boot, { eval: true, workerData: job });
}

function runCampaign(job: FuzzJob): Promise<FuzzResult[]> {
  return new Promise((resolve, reject) => {
    const results: FuzzResult[] = [];
    const worker = startWorker(job);
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        void worker.terminate();
        reject(
          new Error(`${job.path}: case ${results.length} (seed ${job.seed}) ran over ${CASE_TIMEOUT_MS} ms`),
        );
      }, CASE_TIMEOUT_MS);
    };
    arm();
    worker.on("message", (msg: FuzzResult | "done") => {
      if (msg === "done") {
        clearTimeout(timer);
        void worker.terminate().then(() => resolve(results));
        return;
      }
      results.push(msg);
      arm();
    });
    worker.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

describe("fuzz: corrupted checkpoints fail cleanly", () => {
  const files: [string, FuzzJob["kind"]][] = [
    ["weights.pth", "pth"],
    ["weights.safetensors", "safetensors"],
    ["io.safetensors", "safetensors"],
  ];
  for (const [name, kind] of files) {
    test(`${name}: ${CASES} corruptions`, async (t) => {
      const results = await runCampaign({ path: join(SAM_TINY, name), kind, seed: SEED, cases: CASES });
      assert.equal(results.length, CASES);
      const foreign = results.filter((r) => r.outcome === "other-error");
      assert.deepEqual(
        foreign.map((r) => `case ${r.index} (${r.corruption}): ${r.detail}`),
        [],
        `errors other than CheckpointError (seed ${SEED})`,
      );
      const codes = new Map<string, number>();
      for (const r of results) {
        const key = r.outcome === "ok" ? "parsed" : r.detail;
        codes.set(key, (codes.get(key) ?? 0) + 1);
      }
      t.diagnostic([...codes].map(([k, n]) => `${k}: ${n}`).join(", "));
      // A fuzzer whose every case dies on the same check tests little.
      assert.ok(codes.size >= 3, `outcomes too uniform: ${[...codes.keys()]}`);
    });
  }
});
