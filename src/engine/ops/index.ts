// The ops: shape rules and ONNX emission. Their gradient rules are in ../grads/.
export * from "./elementwise.js";
export * from "./linalg.js";
export * from "./nn.js";
export * from "./reduce.js";
export * from "./shape.js";
