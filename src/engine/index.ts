// The engine's public surface: build a graph, differentiate it, compile and run it.
export * from "./autodiff.js";
export * from "./devices.js";
export * from "./gradcheck.js";
export * from "./half.js";
export * from "./onnx.js";
export * from "./ops/index.js";
export * from "./optim.js";
export * from "./placement.js";
export * from "./random.js";
export * from "./runtime.js";
export * from "./special.js";
export * from "./tensor.js";
