#!/usr/bin/env node
// Entry point for `npx udeg`: the compiled CLI lives in dist/ (built by `npm ci` via `prepare`).
import { main } from "../dist/src/cli/main.js";

main(process.argv).catch((err) => {
  console.error(`udeg: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
