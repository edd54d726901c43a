// `udeg serve`: the web viewer for a trained run or an exported ONNX file. The page runs the model
// in the browser (onnxruntime-web); images never leave the machine the browser runs on.
import { basename, join, resolve } from "node:path";
import type { Command } from "commander";
import { DEFAULT_DEMO } from "../demo/demo.js";
import { modelFromOnnx, modelFromRun, type ServedModel } from "../serve/model-files.js";
import { MODEL_NAME, type MonaiLabelServer, startMonaiLabelServer } from "../serve/monailabel.js";
import { startViewerServer, type ViewerServer } from "../serve/server.js";
import { UdegPredictor } from "../udeg/predictor.js";
import { isFinishedRun } from "../udeg/run-folder.js";
import { positiveInt } from "./parse.js";

export interface ServeOptions {
  model?: string;
  onnx?: string;
  port?: number;
  host?: string;
  /** Serve MONAI Label's REST API (3D Slicer, OHIF) instead of the viewer. */
  monailabel?: boolean;
  token?: string;
  maxUploadMb?: number;
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

function listenError(err: unknown, o: ServeOptions, defaultPort: number): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "EADDRINUSE")
    return new Error(`port ${o.port ?? defaultPort} is in use: pass --port N (0 picks a free port)`, {
      cause: err,
    });
  if (code === "EADDRNOTAVAIL")
    return new Error(`--host ${o.host}: not an address of this machine`, { cause: err });
  return err as Error;
}

/** `udeg serve --monailabel`: MONAI Label's REST API over a trained run (src/serve/monailabel.ts). */
export async function serveMonaiLabel(o: ServeOptions): Promise<MonaiLabelServer> {
  const log = o.log ?? ((line: string) => console.error(line));
  if (o.onnx) throw new Error("--monailabel serves a run: give --model RUN (not --onnx)");
  const run = o.model ?? (isFinishedRun(DEMO_RUN) ? DEMO_RUN : undefined);
  if (!run)
    throw new Error(`--monailabel needs --model RUN (the demo's run ${DEMO_RUN} is not there either)`);
  const predictor = await UdegPredictor.load(run);
  let server: MonaiLabelServer;
  try {
    server = await startMonaiLabelServer({
      predictor,
      name: basename(resolve(run)),
      host: o.host,
      port: o.port ?? 8000,
      token: o.token,
      maxUploadBytes: o.maxUploadMb ? o.maxUploadMb * 2 ** 20 : undefined,
      log,
    });
  } catch (err) {
    throw listenError(err, o, 8000);
  }
  log(`udeg MONAI Label server: ${server.url}  (model "${MODEL_NAME}" from ${run})`);
  log("in 3D Slicer: MONAI Label module, server address above, model udeg, Run; Ctrl-C stops the server");
  return server;
}

/** Prepares the model and starts the server (the command, minus waiting for Ctrl-C). */
export async function serveCommand(o: ServeOptions): Promise<ViewerServer> {
  const log = o.log ?? ((line: string) => console.error(line));
  const model = serveModel(o, log);
  let server: ViewerServer;
  try {
    server = await startViewerServer({ model, host: o.host, port: o.port });
  } catch (err) {
    throw listenError(err, o, 8080);
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
      "the web viewer: PNG/JPEG, DICOM and NIfTI segmented in the browser, with uncertainty, edges and click-to-refine; with --monailabel, MONAI Label's REST API for 3D Slicer",
    )
    .option("--model <run>", "run directory written by udeg train (exported for the browser into RUN/web/)")
    .option("--onnx <file>", "a file written by udeg export (with --split: click-to-refine)")
    .option("--port <n>", "port (0: any free port; default 8080, 8000 with --monailabel)", port)
    .option("--host <address>", "address to listen on", "127.0.0.1")
    .option("--monailabel", "serve MONAI Label's REST API for 3D Slicer / OHIF instead of the viewer")
    .option("--token <token>", "with --monailabel: require Authorization: Bearer TOKEN")
    .option(
      "--max-upload-mb <n>",
      "with --monailabel: largest image upload (default 1024)",
      positiveInt("--max-upload-mb"),
    )
    .action(async (f: ServeOptions & { port?: number; host: string }) => {
      const server = f.monailabel ? await serveMonaiLabel(f) : await serveCommand(f);
      await new Promise<void>((done) => {
        const stop = () => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          console.error("\nstopping the server ...");
          server.close().then(done, done);
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
    });
}
