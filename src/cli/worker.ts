// `udeg worker --redis URL`: a BullMQ worker that takes prediction jobs from the queue (queue.ts)
// and runs them in sandboxed child processes (queue-processor.ts), `--concurrency` at a time. Ctrl-C (or
// SIGTERM) lets the jobs in hand finish, then stops; a worker killed outright loses nothing: its
// jobs stall (no lock renewal) and BullMQ gives them to another worker.
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "bullmq";
import type { Command } from "commander";
import type { ExecutionProvider } from "../engine/index.js";
import { DEVICE_HELP, deviceName, positiveInt } from "./parse.js";
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

export function addWorkerCommand(program: Command): void {
  program
    .command("worker")
    .description(
      "take `udeg predict --redis` jobs from a Redis queue and run them (BullMQ); Ctrl-C finishes the current jobs, then stops",
    )
    .requiredOption("--redis <url>", "the Redis server, e.g. redis://queue-host:6379")
    .option("--concurrency <n>", "jobs at a time (each in its own process)", positiveInt("--concurrency"), 1)
    .option("--device <name>", DEVICE_HELP, deviceName("--device"))
    .action(async (f: Omit<WorkerOptions, "device"> & { device?: ExecutionProvider }) => {
      const worker = await startWorker({ ...f, device: f.device ?? "cpu" });
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          console.error(`${signal}: finishing the jobs in hand, then stopping (again to stop now)`);
          process.once(signal, () => process.exit(130));
          void worker.close().then(resolve);
        };
        process.once("SIGINT", () => stop("SIGINT"));
        process.once("SIGTERM", () => stop("SIGTERM"));
      });
    });
}
