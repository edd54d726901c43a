// `udeg doctor`: what this machine can run udeg on, and for a trained run, whether its training
// and inference graphs stay on the chosen device (no node falling back to the CPU).
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import type { Command } from "commander";
import { type DeviceReport, type ExecutionProvider, fallbackNodes, probeDevice } from "../engine/index.js";
import { graphPlacements } from "../train/placement.js";

interface DoctorOptions {
  device?: ExecutionProvider;
  model?: string;
}

function line(r: DeviceReport): string {
  return `${r.ep.padEnd(7)} ${r.available ? "available" : "not available"}: ${r.detail}${r.warning ? `\n        WARNING: ${r.warning}` : ""}`;
}

export async function doctor(o: DoctorOptions, log: (line: string) => void = console.log): Promise<void> {
  const ort = createRequire(import.meta.url)("onnxruntime-node/package.json") as { version: string };
  log(
    `udeg on Node ${process.version}, onnxruntime-node ${ort.version}, ${availableParallelism()} CPU cores`,
  );
  const eps: ExecutionProvider[] = o.device ? [o.device] : ["cpu", "webgpu", "cuda"];
  const reports = new Map<ExecutionProvider, DeviceReport>();
  for (const ep of eps) {
    const r = await probeDevice(ep);
    reports.set(ep, r);
    log(line(r));
  }
  if (!o.model) return;
  const ep = o.device ?? (reports.get("webgpu")?.available ? "webgpu" : "cpu");
  if (!reports.get(ep)?.available && ep !== "cpu") {
    log(`cannot check ${o.model} on ${ep}: the device is not available`);
    return;
  }
  for (const g of await graphPlacements(o.model)) {
    const p = await fallbackNodes(g.outputs, ep);
    const ops = p.fallback.map((f) => `${f.op} x${f.count}`).join(", ");
    log(`${g.name}: fallback nodes: ${p.fallbackNodes} of ${p.nodes}${ops ? ` (${ops})` : ""} on ${ep}`);
  }
}

export function addDoctorCommand(program: Command): void {
  program
    .command("doctor")
    .description("which devices udeg can use here, and whether a run's graphs stay on the device")
    .option("--device <name>", "cpu | webgpu | cuda (default: all; with --model, webgpu when available)")
    .option("--model <run>", "a run directory: check its training and inference graphs")
    .action(async (f: { device?: string; model?: string }) => {
      if (f.device && !["cpu", "webgpu", "cuda"].includes(f.device))
        throw new Error(`--device must be cpu, webgpu or cuda, got "${f.device}"`);
      await doctor({ device: f.device as ExecutionProvider | undefined, model: f.model });
    });
}
