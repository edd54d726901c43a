// `npm run bench -- NAME...`: run the named benchmarks (all but gpu when none is named).
import { benchEngine } from "./engine.js";
import { benchGpu } from "./gpu.js";
import { benchInputSize } from "./input-size.js";
import { benchQuality } from "./quality.js";
import { benchQualityReal } from "./quality-real.js";
import { benchQueue } from "./queue.js";
import { benchSam } from "./sam.js";
import { benchTrain } from "./train.js";
import { benchTrust } from "./trust.js";
import { benchWeb } from "./web.js";

const benches: Record<string, (args: string[]) => Promise<void>> = {
  engine: benchEngine,
  gpu: benchGpu,
  "input-size": benchInputSize,
  quality: benchQualityReal,
  "quality-smoke": benchQuality,
  queue: benchQueue,
  sam: benchSam,
  train: benchTrain,
  trust: benchTrust,
  web: benchWeb,
};

const names = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const flags = process.argv.slice(2).filter((a) => a.startsWith("--"));
// `gpu` needs a GPU and PyTorch with CUDA: it runs only when named (bench/gpu/run.sh does);
// `input-size` is a study for choosing a default (about 1 h), not a standing benchmark.
const chosen = names.length ? names : Object.keys(benches).filter((n) => n !== "gpu" && n !== "input-size");
for (const name of chosen) {
  const run = benches[name];
  if (!run) {
    console.error(`unknown benchmark "${name}"; available: ${Object.keys(benches).join(", ")}`);
    process.exit(2);
  }
  await run(flags);
}
