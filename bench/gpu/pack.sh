#!/usr/bin/env bash
# Packs what `npm run bench -- gpu` needs on a lent GPU machine that has no Node and no network
# (the device tool's machines: PyTorch with CUDA is there, Node and the Vulkan loader are not) into
# .gpu/ (git-ignored), to be carried with `carry: [".gpu"]` and run by bench/gpu/run.sh:
#   node.xz            this machine's Node binary (95 MB raw; xz brings the folder under the 64 MiB carry limit)
#   bench.mjs          bench/gpu.ts and udeg bundled by esbuild, onnxruntime-node left outside
#   node_modules/      onnxruntime-node (binding + libonnxruntime.so.1.xz) and onnxruntime-common
#   debs/              libvulkan1, the Vulkan loader onnxruntime's WebGPU (Dawn) needs
# Usage: bash bench/gpu/pack.sh      (then see bench/gpu/run.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.gpu
rm -rf "$out" && mkdir -p "$out/node_modules" "$out/debs"

xz -T1 -6 -c "$(command -v node)" >"$out/node.xz"

cat >"$out/entry.ts" <<'TS'
import { benchGpu } from "../bench/gpu.js";
await benchGpu(process.argv.slice(2));
TS
node_modules/.bin/esbuild "$out/entry.ts" --bundle --platform=node --format=esm --target=node20 \
  --external:onnxruntime-node --outfile="$out/bench.mjs" --log-level=warning \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
rm "$out/entry.ts"

ort=node_modules/onnxruntime-node
mkdir -p "$out/$ort/bin/napi-v6/linux/x64"
cp -r "$ort/package.json" "$ort/dist" "$out/$ort/"
cp "$ort/bin/napi-v6/linux/x64/onnxruntime_binding.node" "$out/$ort/bin/napi-v6/linux/x64/"
xz -T1 -6 -c "$ort/bin/napi-v6/linux/x64/libonnxruntime.so.1" >"$out/$ort/bin/napi-v6/linux/x64/libonnxruntime.so.1.xz"
cp -r node_modules/onnxruntime-common "$out/node_modules/"

(cd "$out/debs" && apt-get download libvulkan1 >/dev/null)
du -sh "$out"
