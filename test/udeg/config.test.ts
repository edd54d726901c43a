import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError, lossConfigOf, resolveConfig } from "../../src/udeg/config.js";

test("presets switch the right parts; file then overrides win, in that order", () => {
  const udeg = resolveConfig();
  assert.equal(udeg.preset, "udeg");
  assert.ok(udeg.model.edge.enabled && udeg.model.evidential && udeg.loss.klWeight > 0);
  const samed = resolveConfig({ preset: "samed" });
  assert.equal(samed.model.edge.enabled, false);
  assert.equal(samed.model.evidential, false);
  assert.equal(lossConfigOf(samed).evidential, false);
  assert.equal(samed.loss.auLambda0, 0);
  assert.equal(resolveConfig({ preset: "no-progressive" }).loss.edgeGamma, 0);
  const dir = mkdtempSync(join(tmpdir(), "udeg-config-"));
  const file = join(dir, "c.json");
  writeFileSync(file, JSON.stringify({ preset: "no-edge", train: { epochs: 7, lr: 0.01 } }));
  const c = resolveConfig({ file, overrides: { train: { lr: 0.002 } } });
  assert.equal(c.preset, "no-edge");
  assert.equal(c.model.edge.enabled, false);
  assert.equal(c.train.epochs, 7);
  assert.equal(c.train.lr, 0.002);
});

test("bad configs fail with every problem and its path", () => {
  assert.throws(
    () => resolveConfig({ overrides: { preset: "bogus" } }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match((e as Error).message, /unknown preset "bogus": use one of udeg, samed/);
      return true;
    },
  );
  assert.throws(
    () => resolveConfig({ overrides: { train: { epochs: -1, lr: "fast" }, model: { nope: 1 } } }),
    /train\.epochs[\s\S]*train\.lr[\s\S]*model[\s\S]*nope|model[\s\S]*nope[\s\S]*train\.epochs/,
  );
  const dir = mkdtempSync(join(tmpdir(), "udeg-config-"));
  writeFileSync(join(dir, "bad.json"), "{ not json");
  assert.throws(() => resolveConfig({ file: join(dir, "bad.json") }), /cannot read config .*bad\.json/);
});
