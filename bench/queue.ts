// Batch prediction through the queue against a local `udeg predict`, on this machine: images/s of
// a local run, of 1 worker and of 2 workers (`udeg worker` processes on a real redis-server), and
// the overhead per job (1 worker's time minus local, per image). The model is the demo's UDEG-Net
// from the bundled tiny base (128 px); the inputs are the bundled brain slices. Workers are
// started and ready before the clock starts: what is timed is the submit-to-last-result span.
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { bundledBrainData, demoOverrides } from "../src/demo/demo.js";
import { predictFiles } from "../src/predict/files.js";
import { predictOnQueue } from "../src/predict/queue.js";
import { train } from "../src/train/trainer.js";
import { resolveConfig } from "../src/udeg/config.js";
import { startRedis } from "../test/redis.js";
import { flag, machine, round, updateBenchmarksMd, writeResults } from "./common.js";

const CLI = resolve("test/cli/udeg-cli.ts");

async function startWorkers(n: number, url: string): Promise<ChildProcess[]> {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ChildProcess>((ok, fail) => {
          const child = spawn(process.execPath, ["--import", "tsx", CLI, "worker", "--redis", url], {
            stdio: ["ignore", "ignore", "pipe"],
          });
          child.stderr!.on("data", (d) => {
            if (String(d).includes("udeg worker on")) ok(child);
          });
          child.once("exit", (code) => fail(new Error(`worker exited (${code})`)));
        }),
    ),
  );
}

export async function benchQueue(args: string[]): Promise<void> {
  const count = flag(args, "images", 48);
  const dir = mkdtempSync(join(tmpdir(), "udeg-bench-queue-"));
  const data = bundledBrainData();
  const o = demoOverrides("udeg", 1) as { train: Record<string, unknown> };
  const run = join(dir, "run");
  await train({
    data,
    out: run,
    config: resolveConfig({ overrides: { ...o, train: { ...o.train, maxSteps: 2 } } }),
    progress: false,
    log: () => {},
  });
  const input = join(dir, "in");
  mkdirSync(input);
  const slices = readdirSync(join(data, "images")).sort();
  for (let i = 0; i < count; i++) {
    const f = slices[i % slices.length]!;
    copyFileSync(join(data, "images", f), join(input, `${String(i).padStart(3, "0")}_${f}`));
  }

  const t0 = performance.now();
  await predictFiles({ model: run, input, out: join(dir, "local"), quiet: true }, () => {});
  const localS = (performance.now() - t0) / 1000;
  console.error(`local: ${count} images in ${localS.toFixed(1)} s`);

  const redis = await startRedis();
  const queued: Record<number, number> = {};
  try {
    for (const n of [1, 2]) {
      const workers = await startWorkers(n, redis.url);
      const t = performance.now();
      const { failed } = await predictOnQueue(
        { model: run, input, out: join(dir, `workers-${n}`), redis: redis.url, quiet: true },
        () => {},
      );
      queued[n] = (performance.now() - t) / 1000;
      for (const w of workers) w.kill("SIGTERM");
      if (failed) throw new Error(`${failed} job(s) failed with ${n} worker(s)`);
      console.error(`${n} worker(s): ${count} images in ${queued[n]!.toFixed(1)} s`);
    }
  } finally {
    await redis.stop();
  }
  const results = {
    machine: machine(),
    date: new Date().toISOString(),
    images: count,
    local: { seconds: round(localS, 2), imagesPerSecond: round(count / localS, 2) },
    worker1: { seconds: round(queued[1]!, 2), imagesPerSecond: round(count / queued[1]!, 2) },
    worker2: { seconds: round(queued[2]!, 2), imagesPerSecond: round(count / queued[2]!, 2) },
    overheadMsPerJob: round(((queued[1]! - localS) / count) * 1000, 1),
  };
  writeResults("bench/results/queue.json", results);
  updateBenchmarksMd(
    "queue",
    `
## Batch prediction through the queue (\`npm run bench -- queue\`)

${results.machine}, ${results.date.slice(0, 10)}; UDEG-Net from the bundled tiny base (128 px), ${count} brain slices
(PNG), outputs as \`udeg predict\` writes them; Redis 7 (Debian's redis-server) on loopback; workers
started and ready before the clock starts.

| | time (s) | images/s |
|---|---:|---:|
| local \`udeg predict\` | ${results.local.seconds} | ${results.local.imagesPerSecond} |
| \`--redis\`, 1 \`udeg worker\` | ${results.worker1.seconds} | ${results.worker1.imagesPerSecond} |
| \`--redis\`, 2 \`udeg worker\`s | ${results.worker2.seconds} | ${results.worker2.imagesPerSecond} |

Overhead per job (1 worker minus local, per image): ${results.overheadMsPerJob} ms. On this 2-core
machine two workers share the same two cores as one (ONNX Runtime already uses both), so they add
little here; the queue pays off across machines: one worker per machine (or per GPU), Redis
reachable from all, and the run and the input/output folders on storage every worker sees (NFS,
a shared volume), or DICOMweb studies instead of files.
`,
  );
}
