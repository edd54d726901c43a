import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { withGeneratedDocs } from "../../scripts/docs.js";
import { RUN_EXTRAS, RUN_FILES } from "../../src/udeg/run-folder.js";

test("the README's run-directory list is the one src/udeg/run-folder.ts generates (npm run docs)", () => {
  const readme = readFileSync("README.md", "utf8");
  assert.equal(readme, withGeneratedDocs(readme), "README.md is stale: run `npm run docs`");
  for (const e of [...Object.values(RUN_FILES), ...Object.values(RUN_EXTRAS)])
    assert.ok(readme.includes(`\`${e.name}\``), `README lists ${e.name}`);
});
