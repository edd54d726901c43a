// `udeg worker --redis URL`: parse the flags and run predict/worker.ts until Ctrl-C or SIGTERM.
import type { Command } from "commander";
import type { ExecutionProvider } from "../engine/index.js";
import { startWorker, type WorkerOptions } from "../predict/worker.js";
import { DEVICE_HELP, deviceName, positiveInt } from "./parse.js";

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
