// The engine's ops-grad tests on the WebGPU provider, CPU fallback forbidden (test/webgpu-env.ts).
import "../webgpu-env.js";
import "./ops-grad.test.js";
