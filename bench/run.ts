// `npm run bench -- NAME...`: run the named benchmarks (all when none is named).
import { benchEngine } from "./engine.js";
import { benchQuality } from "./quality.js";
import { benchSam } from "./sam.js";
import { benchTrain } from "./train.js";
import { benchWeb } from "./web.js";

const benches: Record<string, (args: string[]) => Promise<void>> = {
  engine: benchEngine,
  quality: benchQuality,
  sam: benchSam,
  train: benchTrain,
  web: benchWeb,
};

const names = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const flags = process.argv.slice(2).filter((a) => a.startsWith("--"));
const chosen = names.length ? names : Object.keys(benches);
for (const name of chosen) {
  const run = benches[name];
  if (!run) {
    console.error(`unknown benchmark "${name}"; available: ${Object.keys(benches).join(", ")}`);
    process.exit(2);
  }
  await run(flags);
}
