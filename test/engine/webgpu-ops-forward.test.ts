// The engine's ops-forward tests on the WebGPU provider, CPU fallback forbidden (test/webgpu-env.ts).
import "../webgpu-env.js";
import "./ops-forward.test.js";
