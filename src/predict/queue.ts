// Batch prediction over many machines on BullMQ + Redis: the queue, its jobs, and the submitter
// (`udeg predict ... --redis URL`). A job names one input (a file, a NIfTI volume, or one DICOM
// series: paths, never pixels), the run and the output folder, which every worker must reach
// (shared storage). Workers (`udeg worker`, worker.ts) predict with the same code as a local
// `udeg predict` (predict.ts: predictItem), writing each file atomically, so a job that is retried
// after a killed worker rewrites the same files whole. BullMQ does the rest: locks renewed while
// a job runs, stalled jobs (a dead worker's) moved back to the queue, attempts and backoff.
// Each submitter gives its jobs its own id prefix and waits for those only, so several
// submitters can share a queue.
import { randomUUID } from "node:crypto";
import { connect } from "node:net";
import { resolve } from "node:path";
import { type ConnectionOptions, Queue, QueueEvents } from "bullmq";
import { Progress } from "../io/progress.js";
import { requireFinishedRun } from "../udeg/run-folder.js";
import { type DicomwebPredictOptions, imageSeries } from "./dicomweb.js";
import {
  DICOMWEB_TOKEN_ENV,
  itemLabel,
  type PredictedItem,
  type PredictItem,
  type PredictOptions,
  planPredict,
  shardOf,
} from "./files.js";
import { flaggedLine, type ImageTrust, summarize, writePredictSummary } from "./summary.js";

export const QUEUE_NAME = "udeg-predict";

/** What a job carries. Paths are absolute: the worker may run elsewhere (same shared storage). */
export interface PredictJob {
  model: string;
  item: PredictItem;
  /** "" for a DICOMweb job without --out (the results go back to the PACS only). */
  out: string;
}

/** What a finished job returns: its files, and each image's trust entry (summary.json). */
export type PredictJobResult = PredictedItem;

/** A redis:// URL as BullMQ's connection options (ioredis). */
export function redisConnection(url: string): ConnectionOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--redis ${url}: not a URL (redis://host:port[/db])`);
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:")
    throw new Error(`--redis ${url}: use redis://host:port (or rediss:// for TLS)`);
  return {
    host: u.hostname || "127.0.0.1",
    port: Number(u.port || 6379),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
    ...(u.protocol === "rediss:" ? { tls: {} } : {}),
    // BullMQ's workers need this (blocking commands are retried, not failed).
    maxRetriesPerRequest: null,
  };
}

/**
 * Fails fast, with the fix, when nothing answers at the URL: BullMQ's clients would otherwise
 * retry for ever. A plain TCP connection to the server (TLS servers are left to BullMQ).
 */
async function reachRedis(url: string, c: ConnectionOptions, ms: number): Promise<void> {
  if ("tls" in c && c.tls) return;
  const { host, port } = c as { host: string; port: number };
  const error = await new Promise<string | null>((done) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      done(`no answer within ${ms / 1000} s`);
    }, ms);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.end();
      done(null);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      done(err.message);
    });
  });
  if (error)
    throw new Error(
      `--redis ${url}: cannot reach Redis (${error}); start one (redis-server) or check the URL`,
    );
}

export interface SubmitOptions {
  redis: string;
  model: string;
  out?: string;
  /** Tries per job before it is reported failed. */
  attempts?: number;
  quiet?: boolean;
  /** How long to wait for Redis to answer at the start (default 10 s). */
  connectMs?: number;
}

export interface SubmitSummary {
  done: number;
  failed: { input: string; error: string }[];
  written: string[];
  images: ImageTrust[];
}

/**
 * Queues one job per item and waits for all of them: a progress bar over the jobs, then a summary.
 * Resolves with the failures listed (the caller exits non-zero on any).
 */
export async function submitPredictions(
  items: readonly PredictItem[],
  o: SubmitOptions,
  log: (line: string) => void = console.error,
): Promise<SubmitSummary> {
  const connection = redisConnection(o.redis);
  await reachRedis(o.redis, connection, o.connectMs ?? 10_000);
  const queue = new Queue<PredictJob, PredictJobResult>(QUEUE_NAME, { connection });
  const events = new QueueEvents(QUEUE_NAME, { connection });
  // Connection errors surface as the timeout below (and retries while running); not as crashes.
  queue.on("error", () => {});
  events.on("error", () => {});
  const batch = randomUUID();
  const attempts = o.attempts ?? 3;
  try {
    const ids = items.map((_, i) => `${batch}-${i}`);
    const labels = new Map(ids.map((id, i) => [id, itemLabel(items[i]!)]));
    const progress = new Progress({ total: items.length, label: "jobs", silent: o.quiet });
    const summary: SubmitSummary = { done: 0, failed: [], written: [], images: [] };
    const finished = new Set<string>();
    let wake: () => void = () => {};
    const settle = async (id: string) => {
      if (!labels.has(id) || finished.has(id)) return;
      const job = await queue.getJob(id);
      if (!job) return;
      const state = await job.getState();
      if (state === "completed") {
        summary.written.push(...(job.returnvalue?.written ?? []));
        summary.images.push(...(job.returnvalue?.images ?? []));
      } else if (state === "failed") summary.failed.push({ input: labels.get(id)!, error: job.failedReason });
      else return; // a failed attempt that will be retried
      finished.add(id);
      summary.done = finished.size - summary.failed.length;
      progress.update(finished.size);
      wake();
    };
    events.on("completed", ({ jobId }) => void settle(jobId));
    events.on("failed", ({ jobId }) => void settle(jobId));
    await queue.addBulk(
      items.map((item, i) => ({
        name: "predict",
        data: { model: resolve(o.model), item, out: o.out ? resolve(o.out) : "" },
        opts: {
          jobId: ids[i]!,
          attempts,
          backoff: { type: "fixed", delay: 1000 },
          removeOnComplete: { age: 24 * 3600 },
          removeOnFail: { age: 7 * 24 * 3600 },
        },
      })),
    );
    log(`queued ${items.length} job(s) on ${o.redis} (batch ${batch}); waiting for workers ...`);
    // Events can be missed across a Redis restart: after 2 s without one, look at every job's
    // state. Only then: sweeping after every event would cost O(jobs^2) Redis calls.
    while (finished.size < ids.length) {
      const quiet = await new Promise<boolean>((r) => {
        const timer = setTimeout(() => r(true), 2000);
        wake = () => {
          clearTimeout(timer);
          r(false);
        };
      });
      if (quiet) for (const id of ids) await settle(id);
    }
    progress.finish();
    return summary;
  } finally {
    await events.close();
    await queue.close();
  }
}

/**
 * `udeg predict --redis URL` with `--input X --out DIR`, or with `--dicomweb URL --study UID`
 * (one job per image series): the inputs (or a shard of them) as jobs; a summary at the end.
 * Returns how many inputs failed (each listed with its error) and how many images are flagged
 * as unlike the training data (OUT/summary.json lists them, as a local run's does).
 */
export async function predictOnQueue(
  o: Omit<PredictOptions, "input" | "out"> & {
    input?: string;
    out?: string;
    redis: string;
    attempts?: number;
    pacs?: Omit<DicomwebPredictOptions, "model">;
  },
  log: (line: string) => void = console.error,
): Promise<{ failed: number; flagged: number }> {
  requireFinishedRun(o.model);
  let items: PredictItem[];
  if (o.pacs) {
    const web = o.pacs;
    if (web.token)
      log(`note: the workers need the token too: export ${DICOMWEB_TOKEN_ENV}=... where they run`);
    items = (await imageSeries(web)).map((s) => ({
      kind: "dicomweb",
      url: web.dicomweb,
      study: web.study,
      series: s.seriesInstanceUID,
      store: web.store !== false,
    }));
  } else {
    if (!o.input || !o.out)
      throw new Error("udeg predict --redis needs --input and --out (or --dicomweb and --study)");
    items = await planPredict(o.input);
  }
  if (o.shard) items = shardOf(items, o.shard);
  const t0 = performance.now();
  const s = await submitPredictions(items, { ...o }, log);
  const seconds = (performance.now() - t0) / 1000;
  log(
    `${s.done} of ${items.length} input(s) predicted${o.out ? ` into ${o.out}` : ""} in ${seconds.toFixed(1)} s` +
      (s.failed.length ? `; ${s.failed.length} failed:` : ""),
  );
  for (const f of s.failed) log(`  ${f.input}: ${f.error}`);
  const summary = summarize(o.model, s.images);
  if (o.out) writePredictSummary(o.out, summary, o.shard);
  log(flaggedLine(summary));
  return { failed: s.failed.length, flagged: summary.flagged };
}
