// Which execution provider the engine's op tests run on. The same test files run on the CPU
// provider and, imported by the webgpu-*.test.ts wrappers, on the WebGPU provider with CPU
// fallback forbidden (over SwiftShader where there is no GPU: test/webgpu-env.ts).
import { test as nodeTest } from "node:test";
import type { RuntimeOptions } from "../../src/engine/index.js";

export const DEVICE = process.env.UDEG_TEST_EP === "webgpu" ? "webgpu" : "cpu";

/** Whether the device under test is a software GPU (SwiftShader): no f16 shaders there. */
export const SOFTWARE_GPU = DEVICE === "webgpu" && /swiftshader/i.test(process.env.VK_DRIVER_FILES ?? "");

/** Compile options for the device under test. */
export const RUNTIME: RuntimeOptions =
  DEVICE === "webgpu" ? { ep: "webgpu", cpuFallback: false, threads: 1 } : {};

/** node:test's `test`, with the device in the name when it is not the CPU. */
export const test = ((name: string, ...rest: unknown[]) =>
  (nodeTest as (...a: unknown[]) => unknown)(
    DEVICE === "cpu" ? name : `[${DEVICE}] ${name}`,
    ...rest,
  )) as typeof nodeTest;
