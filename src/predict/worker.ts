// The prediction worker behind `udeg worker --redis URL`: a BullMQ worker that takes prediction
// jobs from the queue (queue.ts) and runs them in sandboxed child processes (queue-processor.ts),
// `concurrency` at a time. close() lets the jobs in hand finish; a worker killed outright loses
// nothing: its jobs stall (no lock renewal) and BullMQ gives them to another worker.
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "bullmq";
import type { ExecutionProvider } from "../engine/index.js";
import { QUEUE_NAME, redisConnection } from "./queue.js";
import { DEVICE_ENV } from "./queue-processor.js";

export interface WorkerOptions {
  redis: string;
  concurrency: number;
  device: ExecutionProvider;
  /** How long a job's lock lasts without renewal; a dead worker's job is retaken after it. */
  lockMs?: number;
}

/** Starts a worker; resolves once it is connected. `close()` finishes the jobs in hand first. */
export async function startWorker(
  o: WorkerOptions,
  log: (line: string) => void = console.error,
): Promise<Worker> {
  process.env[DEVICE_ENV] = o.device;
  // The processor beside this file: .ts when run from source (tsx), .js when built.
  const processor = fileURLToPath(
    new URL(`./queue-processor${extname(fileURLToPath(import.meta.url))}`, import.meta.url),
  );
  // The tests shorten the lock (UDEG_WORKER_LOCK_MS) to see a killed worker's job retaken quickly.
  const lockDuration = o.lockMs ?? (Number(process.env.UDEG_WORKER_LOCK_MS) || 30_000);
  const worker = new Worker(QUEUE_NAME, processor, {
    connection: redisConnection(o.redis),
    concurrency: o.concurrency,
    // Child processes, not worker threads: a crash in native code (ONNX Runtime) takes one job
    // down, not the worker; and Node 20 does not pass `--import` loaders (tsx) to threads.
    useWorkerThreads: false,
    lockDuration,
    stalledInterval: lockDuration,
    maxStalledCount: 3,
  });
  worker.on("active", (job) => log(`start ${job.id}`));
  worker.on("completed", (job) => log(`done ${job.id}`));
  worker.on("failed", (job, err) => log(`failed ${job?.id} (attempt ${job?.attemptsMade}): ${err.message}`));
  // Redis away: the worker keeps trying (it may come back); say so once per distinct error.
  let lastError = "";
  worker.on("error", (err) => {
    if (err.message !== lastError) log(`worker: ${err.message} (${o.redis}; retrying)`);
    lastError = err.message;
  });
  worker.on("ready", () => {
    lastError = "";
  });
  await worker.waitUntilReady();
  log(`udeg worker on ${o.redis}, queue ${QUEUE_NAME}, ${o.concurrency} at a time on ${o.device}`);
  return worker;
}
