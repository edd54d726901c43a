#!/usr/bin/env bash
# Runs the GPU benchmark on a lent GPU machine from what bench/gpu/pack.sh put in .gpu/:
#   device run --carry .gpu --command "bash bench/gpu/run.sh"          (the full ViT-B bench)
#   bash bench/gpu/run.sh --smoke                                       (tiny, to try the packing here)
# Unpacks Node and libonnxruntime, installs the Vulkan loader, points Dawn at the NVIDIA ICD (or at
# VK_DRIVER_FILES when already set, e.g. SwiftShader here), logs the adapter, and copies the results
# (bench/results/gpu.json, BENCHMARKS.md) to $OUT when that is set.
set -euo pipefail
cd "$(dirname "$0")/../.."
g=.gpu
[ -f "$g/node.xz" ] || { echo "run.sh: $g/node.xz missing: run bash bench/gpu/pack.sh first and carry .gpu" >&2; exit 2; }
bin=/tmp/udeg-gpu-bin && mkdir -p "$bin"
xz -dc "$g/node.xz" >"$bin/node" && chmod +x "$bin/node"
lib="$g/node_modules/onnxruntime-node/bin/napi-v6/linux/x64"
[ -f "$lib/libonnxruntime.so.1" ] || xz -dk "$lib/libonnxruntime.so.1.xz"
if ! ldconfig -p | grep -q libvulkan.so.1; then
  for f in "$g"/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
export VK_DRIVER_FILES="${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}"
echo "VK_DRIVER_FILES=$VK_DRIVER_FILES"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
mkdir -p bench/results
# bench.mjs logs the WebGPU adapter and refuses to call a software device's numbers GPU numbers.
"$bin/node" "$g/bench.mjs" "$@"
if [ -n "${OUT:-}" ] && [ -f bench/results/gpu.json ]; then cp bench/results/gpu.json BENCHMARKS.md "$OUT/"; fi
