// The engine's special tests on the WebGPU provider, CPU fallback forbidden (test/webgpu-env.ts).
import "../webgpu-env.js";
import "./special.test.js";
