// A real Redis for the queue tests: Debian's redis-server on a free loopback port, its data (an
// append-only file, so that a restart keeps the queue) in a temporary folder, stopped (and the
// folder removed) by stop(). restart() stops it and starts it again on the same port and data.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./orthanc.js";

export interface RedisServer {
  url: string;
  /** Stops the server (SIGTERM: it writes its append-only file) and starts it again. */
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

async function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("error", () => resolve(false));
    s.once("data", (d) => {
      s.destroy();
      resolve(String(d).startsWith("+PONG"));
    });
    s.write("PING\r\n");
  });
}

export async function startRedis(): Promise<RedisServer> {
  assert.ok(existsSync("/usr/bin/redis-server"), "redis-server is missing: apt-get install -y redis-server");
  const dir = mkdtempSync(join(tmpdir(), "udeg-redis-"));
  const port = await freePort();
  let child: ChildProcess;
  const start = async () => {
    child = spawn(
      "/usr/bin/redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "yes"],
      { stdio: "ignore" },
    );
    const deadline = Date.now() + 15_000;
    while (!(await pong(port))) {
      if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode})`);
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port} within 15 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const halt = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    async restart(downMs = 500) {
      await halt();
      await new Promise((r) => setTimeout(r, downMs));
      await start();
    },
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
