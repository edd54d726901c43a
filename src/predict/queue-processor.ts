// The sandboxed processor of `udeg worker`: BullMQ runs this module in a child process, so ONNX
// Runtime and the image code never hold up the worker's event loop, which renews the job locks (a
// blocked renewal would make Redis hand the job to another worker). The child stays alive between
// jobs and keeps each run it has loaded.
import type { SandboxedJob } from "bullmq";
import type { ExecutionProvider } from "../engine/index.js";
import { UdegPredictor } from "../udeg/predictor.js";
import { predictItem } from "./files.js";
import type { PredictJob, PredictJobResult } from "./queue.js";

/** The device the worker was started with (worker.ts sets it before starting the children). */
export const DEVICE_ENV = "UDEG_WORKER_DEVICE";
/** For the fault tests: sleep this many ms before each job, so a test can kill a worker mid-job. */
export const DELAY_ENV = "UDEG_WORKER_TEST_DELAY_MS";

const loaded = new Map<string, Promise<UdegPredictor>>();

export default async function process(
  job: SandboxedJob<PredictJob, PredictJobResult>,
): Promise<PredictJobResult> {
  const { model, item, out } = job.data;
  const device = (globalThis.process.env[DEVICE_ENV] ?? "cpu") as ExecutionProvider;
  let predictor = loaded.get(model);
  if (!predictor) {
    predictor = UdegPredictor.load(model, { ep: device });
    loaded.set(model, predictor);
    predictor.catch(() => loaded.delete(model)); // a bad run is retried on the next job
  }
  const delay = Number(globalThis.process.env[DELAY_ENV] ?? 0);
  if (delay > 0) await new Promise((r) => setTimeout(r, delay));
  return await predictItem(await predictor, item, out, true);
}
