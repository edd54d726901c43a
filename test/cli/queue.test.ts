// Batch prediction on BullMQ with a real redis-server (Debian's, started here on a loopback
// port): workers are separate `udeg worker` processes, so that one can be killed with SIGKILL in
// the middle of a job. What must hold: the masks equal a local `udeg predict`'s byte for byte; a
// killed worker's job is finished by another; a Redis restart is survived; a job that keeps
// failing is reported with its error after its attempts while the others finish; two submitters
// on one queue get their own results; --shard K/N partitions the inputs.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { readDicomDataset } from "../../src/io/dicom/dicom-seg.js";
import { qidoSeries } from "../../src/io/dicom/dicomweb.js";
import { planPredict, predictFiles, shardOf } from "../../src/predict/files.js";
import { predictOnQueue, submitPredictions } from "../../src/predict/queue.js";
import { DELAY_ENV } from "../../src/predict/queue-processor.js";
import { makeCtSeries } from "../io/dicom-series.js";
import { startOrthanc } from "../orthanc.js";
import { type RedisServer, startRedis } from "../redis.js";
import { ITK, twoStepRun } from "../train/helpers.js";

const dir = mkdtempSync(join(tmpdir(), "udeg-queue-"));
const CLI = resolve("test/cli/udeg-cli.ts");
let redis: RedisServer;
let run: string;
let input: string;
let local: string;
const workers: ChildProcess[] = [];

/** A `udeg worker` process; `lines` collects what it logs. */
function startWorker(env: Record<string, string> = {}): { child: ChildProcess; lines: string[] } {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", CLI, "worker", "--redis", redis.url],
    // A short lock, so that a killed worker's job is retaken within seconds, not 30.
    { env: { ...process.env, UDEG_WORKER_LOCK_MS: "2000", ...env }, stdio: ["ignore", "ignore", "pipe"] },
  );
  const lines: string[] = [];
  child.stderr!.on("data", (d) => lines.push(...String(d).split("\n").filter(Boolean)));
  workers.push(child);
  return { child, lines };
}

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const stop = (c: ChildProcess) => (c.exitCode === null && c.signalCode === null ? c.kill("SIGKILL") : false);

before(async () => {
  redis = await startRedis();
  run = await twoStepRun(join(dir, "run"));
  input = join(dir, "in");
  mkdirSync(input);
  for (const k of [10, 20, 30, 40, 50, 60])
    copyFileSync(join(ITK, "images", `slice_0${k}.png`), join(input, `slice_0${k}.png`));
  local = join(dir, "local");
  await predictFiles({ model: run, input, out: local, quiet: true }, () => {});
});

after(async () => {
  for (const w of workers) stop(w);
  await redis?.stop();
});

function sameOutputs(out: string): void {
  const names = readdirSync(local).sort();
  assert.deepEqual(readdirSync(out).sort(), names, "the same files (and no temporary ones)");
  // summary.json: every image's trust, in input order whichever worker finished first.
  assert.deepEqual(
    JSON.parse(readFileSync(join(out, "summary.json"), "utf8")).images,
    JSON.parse(readFileSync(join(local, "summary.json"), "utf8")).images,
  );
  for (const f of names.filter((n) => n.endsWith("_mask.png") || n.endsWith(".safetensors")))
    assert.ok(
      readFileSync(join(out, f)).equals(readFileSync(join(local, f))),
      `${f} differs from a local run`,
    );
}

test("two workers, one killed with SIGKILL mid-job: every job finishes, masks byte-equal to a local run", async () => {
  const a = startWorker({ [DELAY_ENV]: "3000" });
  const b = startWorker();
  await until("both workers", () => [a, b].every((w) => w.lines.some((l) => l.startsWith("udeg worker on"))));
  const out = join(dir, "two-workers");
  const submitted = predictOnQueue({ model: run, input, out, redis: redis.url, quiet: true }, () => {});
  await until("worker A to take a job", () => a.lines.some((l) => l.startsWith("start ")));
  const taken = a.lines.find((l) => l.startsWith("start "))!.slice(6);
  a.child.kill("SIGKILL");
  assert.equal((await submitted).failed, 0, "no input failed");
  // B's log line may arrive a moment after the submitter hears of the completion.
  await until(
    `worker B to finish the killed worker's job ${taken}`,
    () => b.lines.includes(`done ${taken}`),
    10_000,
  );
  sameOutputs(out);
  stop(b.child);
});

test("Ctrl-C on a worker finishes the job in hand, then the worker stops", async () => {
  const w = startWorker({ [DELAY_ENV]: "1500" });
  await until("the worker", () => w.lines.some((l) => l.startsWith("udeg worker on")));
  const one = join(dir, "one");
  mkdirSync(one);
  copyFileSync(join(input, "slice_030.png"), join(one, "slice_030.png"));
  const submitted = predictOnQueue(
    { model: run, input: one, out: join(dir, "ctrl-c"), redis: redis.url, quiet: true },
    () => {},
  );
  await until("the job to start", () => w.lines.some((l) => l.startsWith("start ")));
  let finished = false;
  try {
    const exited = new Promise<number | null>((r) => w.child.once("exit", (code) => r(code)));
    w.child.kill("SIGINT");
    assert.equal(await exited, 0, `the worker exits cleanly: ${w.lines.join(" | ")}`);
    assert.ok(
      w.lines.some((l) => l.startsWith("SIGINT: finishing")),
      w.lines.join(" | "),
    );
    assert.ok(
      w.lines.some((l) => l.startsWith("done ")),
      `the job in hand was finished first: ${w.lines.join(" | ")}`,
    );
    assert.equal((await submitted).failed, 0);
    finished = true;
  } finally {
    // Had the worker stopped without the job, another one finishes it, so the submitter (and this
    // test file) ends either way instead of waiting for ever.
    if (!finished) {
      const rescue = startWorker();
      await submitted;
      stop(rescue.child);
    }
  }
});

test("a Redis restart mid-run is survived by the workers and the submitter", async () => {
  const w = startWorker({ [DELAY_ENV]: "700" });
  await until("the worker", () => w.lines.some((l) => l.startsWith("udeg worker on")));
  const out = join(dir, "restart");
  const submitted = predictOnQueue({ model: run, input, out, redis: redis.url, quiet: true }, () => {});
  await until("a first job done", () => w.lines.some((l) => l.startsWith("done ")));
  await redis.restart(1000);
  assert.equal((await submitted).failed, 0);
  sameOutputs(out);
  stop(w.child);
});

test("a job that keeps failing is reported with its error after its attempts; the others finish", async () => {
  const w = startWorker();
  await until("the worker", () => w.lines.some((l) => l.startsWith("udeg worker on")));
  const bad = join(dir, "with-bad");
  mkdirSync(bad);
  for (const f of ["slice_010.png", "slice_020.png"]) copyFileSync(join(input, f), join(bad, f));
  writeFileSync(join(bad, "broken.png"), readFileSync(join(input, "slice_030.png")).subarray(0, 200));
  const lines: string[] = [];
  const failed = await predictOnQueue(
    { model: run, input: bad, out: join(dir, "with-bad-out"), redis: redis.url, attempts: 2, quiet: true },
    (l) => lines.push(l),
  );
  assert.equal(failed.failed, 1);
  const report = lines.join("\n");
  assert.match(report, /2 of 3 input\(s\) predicted .*; 1 failed:/);
  assert.match(report, /broken\.png: .*broken\.png.*cannot decode this PNG/);
  const attemptsLogged = () => w.lines.filter((l) => l.startsWith("failed ") && l.includes("attempt")).length;
  await until("the worker's line for each attempt", () => attemptsLogged() >= 2, 10_000); // as for "done" below
  assert.equal(attemptsLogged(), 2, "tried twice");
  stop(w.child);
});

test("two submitters on one queue get their own results", async () => {
  const w = startWorker();
  await until("the worker", () => w.lines.some((l) => l.startsWith("udeg worker on")));
  const items = await planPredict(input);
  const [one, two] = await Promise.all(
    ["sub1", "sub2"].map((name, k) =>
      submitPredictions(items.slice(k * 3, k * 3 + 3), {
        redis: redis.url,
        model: run,
        out: join(dir, name),
        quiet: true,
      }),
    ),
  );
  for (const [s, name] of [
    [one!, "sub1"],
    [two!, "sub2"],
  ] as const) {
    assert.equal(s.done, 3);
    assert.ok(s.written.length > 0 && s.written.every((f) => f.startsWith(join(dir, name))), name);
  }
  stop(w.child);
});

test("a DICOMweb study through a worker: one job per image series, the SEG stored back in the PACS", async () => {
  const pacs = await startOrthanc();
  try {
    const folder = join(dir, "pacs-series");
    const series = makeCtSeries(folder, 3);
    const files = readdirSync(folder).map((f) => readFileSync(join(folder, f)));
    for (const f of files) await pacs.upload(f);
    const study = String(readDicomDataset(files[0]!).StudyInstanceUID);
    const w = startWorker();
    await until("the worker", () => w.lines.some((l) => l.startsWith("udeg worker on")));
    const failed = await predictOnQueue(
      { model: run, redis: redis.url, quiet: true, pacs: { dicomweb: pacs.dicomweb, study } },
      () => {},
    );
    assert.equal(failed.failed, 0);
    // The submitter hears of the completion through Redis, and can do so before the worker's own
    // "completed" handler has printed its line: wait for the line, then count.
    await until("the worker's done line", () => w.lines.some((l) => l.startsWith("done ")), 10_000);
    assert.equal(w.lines.filter((l) => l.startsWith("done ")).length, 1, "one job: the one image series");
    const after = await qidoSeries({ url: pacs.dicomweb }, study);
    assert.deepEqual(
      after.map((x) => x.modality).sort(),
      ["CT", "RWV", "SEG"],
      `the SEG and the uncertainty map were stored beside series ${series}`,
    );
    stop(w.child);
  } finally {
    await pacs.stop();
  }
});

test("no Redis at the URL: a clear error, not a wait for ever", async () => {
  const items = await planPredict(input);
  await assert.rejects(
    submitPredictions(items, {
      redis: "redis://127.0.0.1:1",
      model: run,
      out: join(dir, "none"),
      connectMs: 1000,
    }),
    /--redis redis:\/\/127\.0\.0\.1:1: cannot reach Redis \(connect ECONNREFUSED.*\); start one \(redis-server\) or check the URL/,
  );
});

test("--shard K/N: the shards partition the inputs, and their union predicts what one run does", async () => {
  const items = await planPredict(input);
  const shards = [1, 2, 3].map((k) => shardOf(items, { k, n: 3 }));
  assert.deepEqual(
    shards
      .flat()
      .map((i) => JSON.stringify(i))
      .sort(),
    items.map((i) => JSON.stringify(i)).sort(),
  );
  const out = join(dir, "sharded");
  for (const k of [1, 2])
    await predictFiles({ model: run, input, out, quiet: true, shard: { k, n: 2 } }, () => {});
  // Each shard writes its own summary (summary-K-of-N.json): together they are one run's.
  const shardImages = [1, 2].flatMap(
    (k) => JSON.parse(readFileSync(join(out, `summary-${k}-of-2.json`), "utf8")).images,
  );
  const localImages = JSON.parse(readFileSync(join(local, "summary.json"), "utf8")).images;
  assert.deepEqual(
    shardImages.sort((a, b) => (a.input < b.input ? -1 : 1)),
    localImages,
  );
  for (const k of [1, 2]) rmSync(join(out, `summary-${k}-of-2.json`));
  copyFileSync(join(local, "summary.json"), join(out, "summary.json"));
  sameOutputs(out);
});
