// Shared pieces of the benchmarks: timing, the machine description, the PyTorch peer, results.
import { type ChildProcessByStdio, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import * as ort from "onnxruntime-node";
import type { HostTensor } from "../src/engine/index.js";
import { writeJsonAtomic } from "../src/io/atomic.js";
import { InteractiveModel } from "../src/udeg/interactive.js";
import type { WebModelMeta } from "../src/udeg/web-meta.js";

export interface Timing {
  median: number;
  min: number;
  runs: number[];
}

/** Median and min wall time (ms) of `fn` over `repeats` runs after `warmup` untimed ones. */
export async function time(fn: () => Promise<unknown>, repeats: number, warmup: number): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn();
  const runs: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    runs.push(performance.now() - t0);
  }
  return stats(runs);
}

/** Median and min of times measured elsewhere (ms). */
export function stats(runs: number[]): Timing {
  const sorted = [...runs].sort((a, b) => a - b);
  return { median: round(sorted[Math.floor(sorted.length / 2)]!), min: round(sorted[0]!), runs };
}

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function peakRssMb(): number {
  return round(process.resourceUsage().maxRSS / 1024);
}

export function machine(): string {
  const cpu = cpus();
  return `${cpu[0]?.model ?? "unknown CPU"}, ${cpu.length} cores, ${round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

const PEER_PYTHON = "/usr/bin/python3";

/** Run a PyTorch peer script (Debian python3-torch) and parse the JSON it prints. */
export function runPeer(script: string, args: string[] = []): Record<string, unknown> {
  if (!existsSync(PEER_PYTHON))
    throw new Error(`${PEER_PYTHON} not found: apt-get install -y python3-torch libopenblas0-pthread`);
  const r = spawnSync(PEER_PYTHON, [script, ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (r.status !== 0) throw new Error(`peer ${script} failed with exit code ${r.status}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

/**
 * A PyTorch peer kept running and driven by commands on its stdin, one JSON line per answer
 * (bench/peer/udeg_step.py --serve): lets a benchmark alternate blocks of its own and the peer's
 * runs, so that both see the same machine load.
 */
export class PeerProcess {
  private readonly lines: string[] = [];
  private readonly waiting: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  private exited: Error | null = null;

  private constructor(
    private readonly child: ChildProcessByStdio<Writable, Readable, null>,
    private readonly script: string,
  ) {
    createInterface({ input: child.stdout }).on("line", (line) => {
      const w = this.waiting.shift();
      if (w) w.resolve(line);
      else this.lines.push(line);
    });
    child.on("close", (code) => {
      this.exited = new Error(`peer ${script} exited with code ${code}`);
      for (const w of this.waiting.splice(0)) w.reject(this.exited);
    });
  }

  static start(script: string, args: string[] = []): PeerProcess {
    if (!existsSync(PEER_PYTHON))
      throw new Error(`${PEER_PYTHON} not found: apt-get install -y python3-torch libopenblas0-pthread`);
    const child = spawn(PEER_PYTHON, [script, ...args], { stdio: ["pipe", "pipe", "inherit"] });
    return new PeerProcess(child, script);
  }

  /** The peer's next JSON line. */
  next(): Promise<Record<string, unknown>> {
    const line = this.lines.shift();
    const text =
      line !== undefined
        ? Promise.resolve(line)
        : this.exited
          ? Promise.reject(this.exited)
          : new Promise<string>((resolve, reject) => this.waiting.push({ resolve, reject }));
    return text.then((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`peer ${this.script} printed a line that is not JSON: ${l}`);
      }
    });
  }

  /** Send one command line and wait for its answer. */
  request(command: string): Promise<Record<string, unknown>> {
    this.child.stdin.write(`${command}\n`);
    return this.next();
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill();
  }
}

export function gitRevision(): string {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

/** A float32 tensor as a safetensors entry (the peers read our weights and batches this way). */
export function f32Entry(t: HostTensor): { dtype: "float32"; shape: number[]; data: Float32Array } {
  return { dtype: "float32", shape: [...t.shape], data: t.data as Float32Array };
}

/** Write a results JSON atomically. */
export function writeResults(path: string, results: Record<string, unknown>): void {
  writeJsonAtomic(path, results);
}

/**
 * Replace the section between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in BENCHMARKS.md
 * (appending it when missing), so each benchmark owns its table and reruns do not pile up.
 */
export function updateBenchmarksMd(name: string, body: string, file = "BENCHMARKS.md"): void {
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  const section = `${open}\n${body.trim()}\n${close}`;
  let text = existsSync(file)
    ? readFileSync(file, "utf8")
    : "# Benchmarks\n\nWritten by `npm run bench`; each section is replaced when its benchmark reruns.\n";
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  text =
    start >= 0 && end > start
      ? text.slice(0, start) + section + text.slice(end + close.length)
      : `${text.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, text);
}

/** A numeric `--name=value` flag of a benchmark. */
export function flag(args: string[], name: string, dflt: number): number {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  if (!a) return dflt;
  // Every such flag is a count; a typo must stop the benchmark, not run it with NaN and
  // overwrite BENCHMARKS.md with empty tables.
  const v = Number(a.split("=")[1]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`${a}: give a whole number (e.g. --${name}=${dflt})`);
  return v;
}

/** The split export in `dir` (exportWebModels) in onnxruntime-node, through the web viewer's code. */
export async function interactiveModel(dir: string, meta: WebModelMeta): Promise<InteractiveModel> {
  const session = (f: string) => ort.InferenceSession.create(join(dir, f));
  return new InteractiveModel(
    ort,
    await session(meta.files.encoder),
    await session(meta.files.decoder),
    meta,
  );
}
