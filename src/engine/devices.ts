// What execution providers this machine offers and what is behind them, for `udeg doctor` and
// for clear errors. onnxruntime does not report the WebGPU adapter, so the Vulkan driver that
// Dawn will load is read from the Vulkan loader's ICD manifests (VK_DRIVER_FILES and the standard
// folders): a software driver (SwiftShader, lavapipe/llvmpipe) computes right but about 100x slower
// than onnxruntime's own CPU provider, and deserves a warning.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { add } from "./ops/elementwise.js";
import { compile, type ExecutionProvider } from "./runtime.js";
import { Graph, HostTensor } from "./tensor.js";

export interface VulkanDriver {
  /** The ICD manifest. */
  manifest: string;
  /** The driver library it names. */
  library: string;
  /** SwiftShader, lavapipe (llvmpipe): a CPU pretending to be a GPU. */
  software: boolean;
  /** A short name: "NVIDIA", "SwiftShader", "lavapipe", "AMD (radv)", ... */
  name: string;
}

const ICD_DIRS = [
  "/etc/vulkan/icd.d",
  "/usr/share/vulkan/icd.d",
  "/usr/local/share/vulkan/icd.d",
  "/usr/local/nvidia/share/vulkan/icd.d",
];

function driverName(library: string): { name: string; software: boolean } {
  const l = library.toLowerCase();
  if (l.includes("swiftshader")) return { name: "SwiftShader", software: true };
  if (l.includes("lvp") || l.includes("llvmpipe")) return { name: "lavapipe (llvmpipe)", software: true };
  if (l.includes("nvidia")) return { name: "NVIDIA", software: false };
  if (l.includes("radeon") || l.includes("amdvlk") || l.includes("radv"))
    return { name: "AMD", software: false };
  if (l.includes("intel")) return { name: "Intel", software: false };
  return { name: library, software: false };
}

/** The Vulkan drivers the loader will consider, in its order (VK_DRIVER_FILES replaces the search). */
export function vulkanDrivers(env: NodeJS.ProcessEnv = process.env): VulkanDriver[] {
  const given = env.VK_DRIVER_FILES ?? env.VK_ICD_FILENAMES;
  const manifests = given
    ? given.split(":").filter(Boolean)
    : ICD_DIRS.filter(existsSync).flatMap((d) =>
        readdirSync(d)
          .filter((f) => f.endsWith(".json"))
          .map((f) => join(d, f)),
      );
  const out: VulkanDriver[] = [];
  for (const manifest of manifests) {
    try {
      const json = JSON.parse(readFileSync(manifest, "utf8")) as { ICD?: { library_path?: string } };
      const library = json.ICD?.library_path;
      if (library) out.push({ manifest, library, ...driverName(library) });
    } catch {
      // an unreadable manifest is skipped, as the loader skips it
    }
  }
  return out;
}

/** Whether the system has a Vulkan loader (libvulkan.so.1), which Dawn needs. */
export function hasVulkanLoader(): boolean {
  const dirs = [
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/lib/x86_64-linux-gnu",
  ];
  return dirs.some((d) => existsSync(join(d, "libvulkan.so.1")));
}

/** Whether onnxruntime-node has its CUDA provider library (its install step downloads it). */
export function hasCudaProvider(): boolean {
  const require = createRequire(import.meta.url);
  const binding = dirname(require.resolve("onnxruntime-node/package.json"));
  const bin = join(binding, "bin", "napi-v6", process.platform, process.arch);
  return existsSync(join(bin, "libonnxruntime_providers_cuda.so"));
}

/** How to get the CUDA provider, for messages. */
export const CUDA_HOWTO =
  "onnxruntime-node's CUDA provider is not installed (this package skips its download: .npmrc has " +
  "onnxruntime-node-install=skip). On a machine with network access and CUDA 12: " +
  "`npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12` (or ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node). " +
  "Without CUDA, --device webgpu runs on any GPU with a Vulkan driver.";

export interface DeviceReport {
  ep: ExecutionProvider;
  available: boolean;
  /** What is behind it, or why it is not available. */
  detail: string;
  warning?: string;
}

/** Probes one execution provider with a one-node session. */
export async function probeDevice(ep: ExecutionProvider): Promise<DeviceReport> {
  if (ep === "cpu") return { ep, available: true, detail: "onnxruntime's CPU provider (MLAS)" };
  if (ep === "cuda" && !hasCudaProvider()) return { ep, available: false, detail: CUDA_HOWTO };
  if (ep === "webgpu" && !hasVulkanLoader())
    return {
      ep,
      available: false,
      detail:
        "no Vulkan loader (libvulkan.so.1): install it (Debian: apt-get install libvulkan1) and a GPU driver",
    };
  try {
    const g = new Graph();
    const x = g.input("x", [4]);
    const fn = await compile([x], [add(x, 1)], { ep, threads: 1 });
    const v = (await fn.run({ x: HostTensor.float32([0, 1, 2, 3], [4]) })).out0!.data as Float32Array;
    if (v[3] !== 4) return { ep, available: false, detail: "a test session ran but returned wrong numbers" };
  } catch (err) {
    const msg = (err as Error).message;
    if (/No supported adapters/.test(msg))
      return {
        ep,
        available: false,
        detail:
          "no WebGPU adapter: the Vulkan loader found no usable driver (install the GPU's Vulkan driver, or set " +
          "VK_DRIVER_FILES to a driver's ICD manifest)",
      };
    return { ep, available: false, detail: `a test session failed: ${msg.split("\n")[0]}` };
  }
  if (ep === "webgpu") {
    const drivers = vulkanDrivers();
    const d = drivers[0];
    if (!d) return { ep, available: true, detail: "a Vulkan device (no ICD manifest found to name it)" };
    const detail = `Vulkan driver ${d.name} (${d.library}, from ${d.manifest})`;
    return d.software
      ? {
          ep,
          available: true,
          detail,
          warning: `${d.name} is a software device: numbers are right, speed is about 1/100 of --device cpu`,
        }
      : { ep, available: true, detail };
  }
  return { ep, available: true, detail: "onnxruntime's CUDA provider" };
}

/** Throws a clear error, saying how to get it, unless `ep` can run here. */
export async function requireDevice(ep: ExecutionProvider): Promise<void> {
  if (ep === "cpu") return;
  const r = await probeDevice(ep);
  if (!r.available) throw new Error(`--device ${ep} is not available: ${r.detail}`);
}
