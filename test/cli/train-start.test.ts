// Where `udeg train` starts (withStartingPoint): the bundled default base unless --sam, --base or
// --scratch says otherwise, and a resumed run keeps the start it was written with.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { withStartingPoint } from "../../src/cli/udeg-commands.js";
import { DEFAULT_BASE, resolveConfig } from "../../src/udeg/config.js";
import { writeRunConfig } from "../../src/udeg/run-folder.js";
import { bundledBaseDir } from "../../src/udeg/setup.js";

const out = "/nonexistent-run";

test("udeg train without --sam or --base adapts the bundled default base, which ships in the package", () => {
  const c = withStartingPoint(resolveConfig({}), { out });
  assert.equal(c.model.base, DEFAULT_BASE);
  assert.equal(c.model.sam, null);
  assert.ok(existsSync(join(bundledBaseDir(DEFAULT_BASE), "model.safetensors")));
});

test("--base and --sam are kept; --scratch means random weights and refuses either", () => {
  const tiny = resolveConfig({ overrides: { model: { base: "tiny" } } });
  assert.equal(withStartingPoint(tiny, { out }).model.base, "tiny");
  const sam = resolveConfig({ overrides: { model: { sam: "/x/sam.pth" } } });
  assert.equal(withStartingPoint(sam, { out }).model.base, null);
  const scratch = withStartingPoint(resolveConfig({}), { out, scratch: true });
  assert.equal(scratch.model.base, null);
  assert.equal(scratch.model.sam, null);
  assert.throws(
    () => withStartingPoint(tiny, { out, scratch: true }),
    /--scratch .*leave out --sam and --base/,
  );
});

test("--resume keeps the start the run was written with (its weights have that model's keys)", () => {
  const run = mkdtempSync(join(tmpdir(), "udeg-start-"));
  writeRunConfig(run, resolveConfig({}));
  assert.equal(withStartingPoint(resolveConfig({}), { out: run, resume: true }).model.base, null);
  const tinyRun = mkdtempSync(join(tmpdir(), "udeg-start-"));
  writeRunConfig(tinyRun, resolveConfig({ overrides: { model: { base: "tiny" } } }));
  assert.equal(withStartingPoint(resolveConfig({}), { out: tinyRun, resume: true }).model.base, "tiny");
  // Without --resume the same folder is a new run: the default base (train then refuses the
  // folder, which holds a run already).
  assert.equal(withStartingPoint(resolveConfig({}), { out: run }).model.base, DEFAULT_BASE);
});
