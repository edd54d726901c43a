// `udeg serve`'s HTTP server (node:http): the built page (dist/web), onnxruntime-web's wasm files
// (from node_modules), /model/meta.json and the model files it names. Everything else is 404.
// Cross-origin isolation headers on every response, so onnxruntime-web may use wasm threads.

import { createReadStream, existsSync, realpathSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { dirname, extname, join, resolve, sep } from "node:path";
import { packageRoot } from "../io/package-files.js";
import type { ServedModel } from "./model-files.js";

export const MIME_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".onnx": "application/octet-stream",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};

/** The headers every response carries. */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
  "X-Content-Type-Options": "nosniff",
};

export function mimeType(path: string): string {
  return MIME_TYPES[extname(path).toLowerCase()] ?? "application/octet-stream";
}

/** The package root: this module runs from src/serve (tsx) or dist/src/serve (built). */
/** dist/web, the page `npm run build` writes; a clear error when it is missing. */
export function defaultWebRoot(): string {
  const root = join(packageRoot(), "dist", "web");
  if (!existsSync(join(root, "index.html"))) {
    throw new Error(
      `the web viewer is not built: ${join(root, "index.html")} is missing. Run \`npm run build\` in ${packageRoot()}`,
    );
  }
  return root;
}

/** onnxruntime-web's dist folder (ort-wasm-*.wasm and .mjs), resolved from node_modules. */
export function ortDistDir(): string {
  const require = createRequire(import.meta.url);
  let wasm: string;
  try {
    wasm = require.resolve("onnxruntime-web/ort-wasm-simd-threaded.wasm");
  } catch (err) {
    throw new Error(`onnxruntime-web is not installed (${(err as Error).message}): run \`npm install\``, {
      cause: err,
    });
  }
  return dirname(wasm);
}

export interface ViewerServerOptions {
  model: ServedModel;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** The built page; default dist/web of the package. */
  webRoot?: string;
  /** onnxruntime-web's dist folder; default resolved from node_modules. */
  ortDir?: string;
  /** One line per request (method, path, status); default silent. */
  log?: (line: string) => void;
}

export interface ViewerServer {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

const ORT_FILE = /^ort-[A-Za-z0-9._-]+\.(wasm|mjs)$/;

/** `path` inside `root` (after resolving symlinks), or null: no way out of the folder. */
function inside(root: string, rel: string): string | null {
  const full = resolve(root, `.${sep}${rel}`);
  if (full !== root && !full.startsWith(root + sep)) return null;
  if (!existsSync(full)) return null;
  const real = realpathSync(full);
  const realRoot = realpathSync(root);
  if (real !== realRoot && !real.startsWith(realRoot + sep)) return null;
  return statSync(real).isFile() ? real : null;
}

function send(
  res: ServerResponse,
  status: number,
  body: string,
  type = "text/plain; charset=utf-8",
  head = false,
): void {
  const bytes = Buffer.from(body, "utf8");
  res.writeHead(status, {
    ...ISOLATION_HEADERS,
    "Content-Type": type,
    "Content-Length": bytes.length,
    "Cache-Control": "no-store",
  });
  res.end(head ? undefined : bytes);
}

function sendFile(req: IncomingMessage, res: ServerResponse, path: string, cache: string): void {
  const size = statSync(path).size;
  res.writeHead(200, {
    ...ISOLATION_HEADERS,
    "Content-Type": mimeType(path),
    "Content-Length": size,
    "Cache-Control": cache,
  });
  if (req.method === "HEAD") {
    res.end();
    return;
  }
  const stream = createReadStream(path);
  stream.on("error", (err) => res.destroy(err));
  stream.pipe(res);
}

/** Starts the viewer's server; resolves once it listens. */
export async function startViewerServer(o: ViewerServerOptions): Promise<ViewerServer> {
  const webRoot = resolve(o.webRoot ?? defaultWebRoot());
  if (!existsSync(join(webRoot, "index.html")))
    throw new Error(`${join(webRoot, "index.html")} is missing: run \`npm run build\``);
  const ortDir = resolve(o.ortDir ?? ortDistDir());
  const metaJson = JSON.stringify(o.model.meta);
  const log = o.log ?? (() => {});

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const head = req.method === "HEAD";
    if (req.method !== "GET" && !head) {
      res.setHeader("Allow", "GET, HEAD");
      send(res, 405, "method not allowed\n");
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname);
    } catch {
      send(res, 400, "bad request path\n", undefined, head);
      return;
    }
    if (path.includes("\0") || path.includes("\\") || path.split("/").includes("..")) {
      send(res, 400, "bad request path\n", undefined, head);
      return;
    }
    if (path === "/model/meta.json") {
      send(res, 200, metaJson, MIME_TYPES[".json"], head);
      return;
    }
    if (path.startsWith("/model/")) {
      const file = o.model.files.get(path.slice("/model/".length));
      if (file && existsSync(file)) sendFile(req, res, file, "no-cache");
      else send(res, 404, "no such model file\n", undefined, head);
      return;
    }
    if (path.startsWith("/ort/")) {
      const name = path.slice("/ort/".length);
      const file = ORT_FILE.test(name) ? inside(ortDir, name) : null;
      if (file) sendFile(req, res, file, "max-age=3600");
      else send(res, 404, "not found\n", undefined, head);
      return;
    }
    const rel = path === "/" ? "index.html" : path.slice(1);
    const file = inside(webRoot, rel);
    if (!file) {
      send(res, 404, "not found\n", undefined, head);
      return;
    }
    sendFile(req, res, file, rel.startsWith("assets/") ? "max-age=31536000, immutable" : "no-cache");
  };

  const server = createServer((req, res) => {
    res.on("finish", () => log(`${req.method} ${req.url} ${res.statusCode}`));
    try {
      handle(req, res);
    } catch (err) {
      if (!res.headersSent) send(res, 500, `internal error: ${(err as Error).message}\n`);
      else res.destroy();
    }
  });
  const host = o.host ?? "127.0.0.1";
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(o.port ?? 8080, host, () => {
      server.off("error", fail);
      ok();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(":") ? `[${host}]` : host === "0.0.0.0" ? "127.0.0.1" : host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    server,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}
