// Compiled sessions are cached by their bytes and shared; release frees a session when its last
// user lets go, so a trainer that compiles one validation graph per epoch does not keep them all
// (measured: 0.16 GiB an epoch at 256 px before, runtime.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { type CompiledFunction, compile, Graph, HostTensor, mul } from "../../src/engine/index.js";

/** The same graph each call: the same bytes, so the same cached session. */
function twice(): Promise<CompiledFunction> {
  const g = new Graph();
  const x = g.input("x", [2]);
  return compile([x], [mul(x, 2)]);
}

test("a shared cached session outlives one user's release and is freed by the last", async () => {
  const a = await twice();
  const b = await twice();
  const feed = { x: HostTensor.float32([1, 2], [2]) };
  await a.release();
  await a.release(); // a second release of the same function is a no-op
  assert.deepEqual([...(await b.run(feed)).out0!.data], [2, 4], "b still runs");
  await b.release();
  await assert.rejects(b.run(feed), /disposed|released|Session/i, "the session is freed");
  // The cache no longer holds it: the same graph compiles to a working session again.
  const c = await twice();
  assert.deepEqual([...(await c.run(feed)).out0!.data], [2, 4]);
  await c.release();
});
