// `udeg serve`: the web viewer for a trained run or an exported ONNX file. The page runs the model
// in the browser (onnxruntime-web); images never leave the machine the browser runs on.
import { join } from "node:path";
import type { Command } from "commander";
import { DEFAULT_DEMO } from "../demo/demo.js";
import { modelFromOnnx, modelFromRun, type ServedModel } from "../serve/model-files.js";
import { startViewerServer, type ViewerServer } from "../serve/server.js";
import { isFinishedRun } from "../udeg/run-folder.js";

export interface ServeOptions {
  model?: string;
  onnx?: string;
  port?: number;
  host?: string;
  log?: (line: string) => void;
}

/** The run `udeg serve` uses without --model/--onnx: the demo's brain MRI run. */
export const DEMO_RUN = join(DEFAULT_DEMO.out, "runs", "itk-brain", "udeg");

export function serveModel(o: ServeOptions, log: (line: string) => void): ServedModel {
  if (o.model && o.onnx) throw new Error("give --model RUN or --onnx FILE, not both");
  if (o.onnx) return modelFromOnnx(o.onnx, log);
  if (o.model) return modelFromRun(o.model, log);
  if (isFinishedRun(DEMO_RUN)) {
    log(`no --model given: serving the demo's run ${DEMO_RUN}`);
    return modelFromRun(DEMO_RUN, log);
  }
  throw new Error(
    `give --model RUN (a folder written by \`udeg train\`) or --onnx FILE (\`udeg export\`); ` +
      `without them udeg serve uses the demo's run ${DEMO_RUN}, which is not there (run \`udeg demo\` first)`,
  );
}

/** Prepares the model and starts the server (the command, minus waiting for Ctrl-C). */
export async function serveCommand(o: ServeOptions): Promise<ViewerServer> {
  const log = o.log ?? ((line: string) => console.error(line));
  const model = serveModel(o, log);
  let server: ViewerServer;
  try {
    server = await startViewerServer({ model, host: o.host, port: o.port });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE")
      throw new Error(`port ${o.port ?? 8080} is in use: pass --port N (0 picks a free port)`, {
        cause: err,
      });
    if (code === "EADDRNOTAVAIL")
      throw new Error(`--host ${o.host}: not an address of this machine`, { cause: err });
    throw err;
  }
  log(
    `udeg viewer: ${server.url}  (model ${model.meta.name}, ${model.meta.modelSize} px; ` +
      `${"full" in model.meta.files ? "single graph, no point refinement" : "encoder + decoder, click to refine"})`,
  );
  log("open it in a browser; Ctrl-C stops the server");
  return server;
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--port must be 0..65535, got "${v}"`);
  return n;
}

export function addServeCommand(program: Command): void {
  program
    .command("serve")
    .description(
      "the web viewer: PNG/JPEG, DICOM and NIfTI segmented in the browser, with uncertainty, edges and click-to-refine",
    )
    .option("--model <run>", "run directory written by udeg train (exported for the browser into RUN/web/)")
    .option("--onnx <file>", "a file written by udeg export (with --split: click-to-refine)")
    .option("--port <n>", "port (0: any free port)", port, 8080)
    .option("--host <address>", "address to listen on", "127.0.0.1")
    .action(async (f: { model?: string; onnx?: string; port: number; host: string }) => {
      const server = await serveCommand(f);
      await new Promise<void>((done) => {
        const stop = () => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          console.error("\nstopping the viewer ...");
          server.close().then(done, done);
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
    });
}
