// `udeg serve`'s server without a browser: routes, MIME types, isolation headers, path traversal,
// and the meta.json it builds for `--onnx` files (single graph, or split beside it).

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { serveModel } from "../../src/cli/serve.js";
import { DEFAULT_INPUT_RULE } from "../../src/data/input-rule.js";
import { buildModel, cast, encodeModel, Graph } from "../../src/engine/index.js";
import { modelFromOnnx, type ServedModel } from "../../src/serve/model-files.js";
import { mimeType, ortDistDir, startViewerServer, type ViewerServer } from "../../src/serve/server.js";

const META = {
  model_size: "64",
  pixel_mean: "[123.675,116.28,103.53]",
  pixel_std: "[58.395,57.12,57.375]",
  input_rule: JSON.stringify({ intensity16: "full-range", window: { kind: "range", min: -100, max: 300 } }),
  postprocess: JSON.stringify({ largestComponent: true }),
  classes: "2",
  preset: "udeg",
  evidential: "true",
  edge: "true",
};

/** A tiny ONNX file with the given inputs (name -> shape) and metadata. */
function onnxFile(
  path: string,
  inputs: Record<string, number[]>,
  metadata: Record<string, string> = META,
): void {
  const g = new Graph();
  const ins = Object.entries(inputs).map(([name, shape]) => g.input(name, shape, "float32"));
  const outs = ins.map((t) => cast(t, "float32"));
  const model = buildModel(ins, outs, { outputNames: ins.map((_, i) => `out${i}`), metadata });
  writeFileSync(path, encodeModel(model));
}

describe("viewer server", () => {
  let dir = "";
  let server: ViewerServer;
  let model: ServedModel;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "udeg-serve-"));
    const web = join(dir, "web");
    mkdirSync(join(web, "assets"), { recursive: true });
    writeFileSync(join(web, "index.html"), "<!doctype html><title>viewer</title>");
    writeFileSync(join(web, "assets", "app.js"), "export {};");
    writeFileSync(join(web, "assets", "app.css"), "body{}");
    writeFileSync(join(dir, "secret.txt"), "do not serve");
    symlinkSync(join(dir, "secret.txt"), join(web, "assets", "link.js"));
    const ort = join(dir, "ort");
    mkdirSync(ort);
    writeFileSync(join(ort, "ort-wasm-simd-threaded.wasm"), new Uint8Array([0, 0x61, 0x73, 0x6d]));
    writeFileSync(join(ort, "ort-wasm-simd-threaded.mjs"), "export default 1;");
    writeFileSync(join(ort, "notes.txt"), "not an ort file");
    const onnx = join(dir, "model.onnx");
    onnxFile(onnx, { image: [64, 64, 3] });
    model = modelFromOnnx(onnx);
    server = await startViewerServer({ model, port: 0, webRoot: web, ortDir: ort });
  });

  after(async () => {
    await server?.close();
  });

  async function get(path: string, init?: RequestInit): Promise<Response> {
    return fetch(new URL(path, server.url), init);
  }

  test("serves the page, assets, ort files and the model with the right types and isolation headers", async () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const cases: [string, string][] = [
      ["/", "text/html; charset=utf-8"],
      ["/index.html", "text/html; charset=utf-8"],
      ["/assets/app.js", "text/javascript; charset=utf-8"],
      ["/assets/app.css", "text/css; charset=utf-8"],
      ["/ort/ort-wasm-simd-threaded.wasm", "application/wasm"],
      ["/ort/ort-wasm-simd-threaded.mjs", "text/javascript; charset=utf-8"],
      ["/model/meta.json", "application/json; charset=utf-8"],
      ["/model/model.onnx", "application/octet-stream"],
    ];
    for (const [path, type] of cases) {
      const res = await get(path);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get("content-type"), type, path);
      assert.equal(res.headers.get("cross-origin-opener-policy"), "same-origin", path);
      assert.equal(res.headers.get("cross-origin-embedder-policy"), "require-corp", path);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff", path);
      await res.arrayBuffer();
    }
    const wasm = new Uint8Array(await (await get("/ort/ort-wasm-simd-threaded.wasm")).arrayBuffer());
    assert.deepEqual([...wasm], [0, 0x61, 0x73, 0x6d]);
    const meta = await (await get("/model/meta.json")).json();
    assert.deepEqual(meta, model.meta);
    const head = await get("/", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal((await head.arrayBuffer()).byteLength, 0);
    assert.equal((await get("/", { method: "POST" })).status, 405);
    // Errors carry the headers too (a blocked response would hide the real error).
    const missing = await get("/nope.js");
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get("cross-origin-embedder-policy"), "require-corp");
  });

  test("refuses path traversal, symlinks out of the folder, unlisted model files and non-ort files", async () => {
    for (const path of [
      "/..%2fsecret.txt",
      "/%2e%2e/secret.txt",
      "/assets/%2e%2e/%2e%2e/secret.txt",
      "/assets/..%5c..%5csecret.txt",
      "/model/..%2fsecret.txt",
      "/model/%2e%2e/secret.txt",
      "/ort/..%2fsecret.txt",
      "/ort/%2e%2e/secret.txt",
      "/assets/%00.js",
      "/%E0%A4%A",
    ]) {
      const res = await get(path);
      assert.ok(res.status === 400 || res.status === 404, `${path}: ${res.status}`);
      assert.doesNotMatch(await res.text(), /do not serve/, path);
    }
    // A raw request line with ../ (fetch would normalise it away).
    const { request } = await import("node:http");
    const raw = await new Promise<{ status: number; body: string }>((ok, fail) => {
      const req = request({ host: "127.0.0.1", port: server.port, path: "/../secret.txt" }, (res) => {
        let body = "";
        res.on("data", (c) => {
          body += c;
        });
        res.on("end", () => ok({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", fail);
      req.end();
    });
    assert.ok(raw.status >= 400 && !raw.body.includes("do not serve"), `raw ../: ${raw.status}`);
    assert.equal((await get("/assets/link.js")).status, 404, "symlink to a file outside the web root");
    assert.equal((await get("/model/secret.txt")).status, 404);
    assert.equal((await get("/model/encoder.onnx")).status, 404, "not in meta.files");
    assert.equal((await get("/ort/notes.txt")).status, 404);
  });

  test("MIME types and the package's onnxruntime-web files", () => {
    assert.equal(mimeType("x.MJS"), "text/javascript; charset=utf-8");
    assert.equal(mimeType("a/b.wasm"), "application/wasm");
    assert.equal(mimeType("noext"), "application/octet-stream");
    const ort = ortDistDir();
    assert.match(ort, /onnxruntime-web[\\/]dist$/);
  });

  test("a web root without index.html says to build", async () => {
    const empty = mkdtempSync(join(tmpdir(), "udeg-serve-empty-"));
    await assert.rejects(startViewerServer({ model, port: 0, webRoot: empty }), /npm run build/);
  });
});

describe("meta.json for --onnx", () => {
  test("a single graph: metadata_props, no point refinement", () => {
    const dir = mkdtempSync(join(tmpdir(), "udeg-onnx-"));
    const path = join(dir, "lesions.onnx");
    onnxFile(path, { image: [64, 64, 3], image_size: [2] });
    const m = modelFromOnnx(path);
    assert.deepEqual(m.meta, {
      format: "udeg-web/1",
      name: "lesions",
      modelSize: 64,
      pixelMean: [123.675, 116.28, 103.53],
      pixelStd: [58.395, 57.12, 57.375],
      // The run's input rule travels in the file (udeg export's input_rule), so the page follows it.
      input: { intensity16: "full-range", window: { kind: "range", min: -100, max: 300 } },
      // So does the mask post-processing it chose on its val part.
      postprocess: { largestComponent: true },
      classes: 2,
      preset: "udeg",
      evidential: true,
      edge: true,
      maxPoints: 0,
      files: { full: "model.onnx" },
      source: path,
    });
    assert.equal(m.files.get("model.onnx"), path);
  });

  test("split files beside it (udeg export --split): encoder + decoder, point slots from the decoder", () => {
    const dir = mkdtempSync(join(tmpdir(), "udeg-onnx-"));
    const path = join(dir, "model.onnx");
    onnxFile(path, { image: [64, 64, 3], image_size: [2] });
    onnxFile(join(dir, "model.encoder.onnx"), { image: [64, 64, 3], image_size: [2] });
    onnxFile(join(dir, "model.decoder.onnx"), {
      image_embeddings: [1, 8, 4, 4],
      dense_prompt: [1, 8, 4, 4],
      point_coords: [1, 12, 2],
      point_labels: [1, 12],
    });
    const m = modelFromOnnx(path);
    assert.equal(m.meta.maxPoints, 12);
    assert.deepEqual(m.meta.files, { encoder: "encoder.onnx", decoder: "decoder.onnx" });
    assert.equal(m.files.get("decoder.onnx"), join(dir, "model.decoder.onnx"));
  });

  test("an input_rule that is not one (not JSON, a setting missing, out of range) is refused, naming the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "udeg-onnx-"));
    const bad = [
      "{not json",
      JSON.stringify({ intensity16: "min-max" }),
      JSON.stringify({ intensity16: "min-max", window: { kind: "percentile", lower: 0.5, upper: 150 } }),
      JSON.stringify({ intensity16: "x", window: { kind: "range", min: 0, max: 1 } }),
    ];
    bad.forEach((rule, k) => {
      const path = join(dir, `bad${k}.onnx`);
      onnxFile(path, { image: [64, 64, 3], image_size: [2] }, { ...META, input_rule: rule });
      assert.throws(
        () => modelFromOnnx(path),
        new RegExp(`bad${k}\\.onnx: metadata input_rule is not an input rule`),
      );
    });
    // An export made before the rule was recorded gets the default, which its training used.
    const { input_rule: _, ...old } = META;
    const path = join(dir, "old.onnx");
    onnxFile(path, { image: [64, 64, 3], image_size: [2] }, old);
    assert.deepEqual(modelFromOnnx(path).meta.input, DEFAULT_INPUT_RULE);
    // ... and no post-processing, as it predicted then; a postprocess that is not one is refused.
    const { postprocess: __, ...older } = META;
    onnxFile(path, { image: [64, 64, 3], image_size: [2] }, older);
    assert.deepEqual(modelFromOnnx(path).meta.postprocess, { largestComponent: false });
    onnxFile(path, { image: [64, 64, 3], image_size: [2] }, { ...META, postprocess: "{}" });
    assert.throws(
      () => modelFromOnnx(path),
      /old\.onnx: metadata postprocess is not a post-processing .*re-export/,
    );
  });

  test("clear errors: not an export, not ONNX, missing file, both flags", () => {
    const dir = mkdtempSync(join(tmpdir(), "udeg-onnx-"));
    const path = join(dir, "other.onnx");
    onnxFile(path, { x: [2] }, { producer: "someone else" });
    assert.throws(() => modelFromOnnx(path), /no udeg metadata .*udeg export/);
    const garbage = join(dir, "garbage.onnx");
    writeFileSync(garbage, "not a model\n");
    assert.throws(() => modelFromOnnx(garbage), /garbage\.onnx is not a readable ONNX file .*udeg export/);
    assert.throws(() => modelFromOnnx(join(dir, "missing.onnx")), /no such file/);
    assert.throws(() => serveModel({ model: "a", onnx: "b" }, () => {}), /not both/);
    assert.throws(() => serveModel({ model: dir }, () => {}), /not a finished udeg run/);
  });
});
