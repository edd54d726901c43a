// The web viewer's build: web/ -> dist/web (npm run build). Plain TypeScript, no framework.
// onnxruntime-web is bundled without its wasm: the page loads ort-wasm-*.wasm/.mjs from /ort/,
// which `udeg serve` serves from node_modules (so dist/web stays small).
import { fileURLToPath } from "node:url";
import { defaultClientConditions, defineConfig } from "vite";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here("."),
  base: "./",
  publicDir: false,
  logLevel: "warn",
  resolve: {
    // onnxruntime-web's exports: this condition picks the build that fetches its wasm at run time.
    conditions: ["onnxruntime-web-use-extern-wasm", ...defaultClientConditions],
    // dicom-parser require()s zlib for deflated files; the page inflates those itself.
    // The codecs' Emscripten glue names fs and path in its Node-only branch.
    alias: {
      zlib: here("src/shims/zlib.ts"),
      fs: here("src/shims/node-builtin.ts"),
      path: here("src/shims/node-builtin.ts"),
    },
  },
  build: {
    outDir: here("../dist/web"),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    chunkSizeWarningLimit: 2000,
  },
});
