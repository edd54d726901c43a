// Importing this module registers every op's VJP rule.
export * from "./elementwise.js";
export * from "./linalg.js";
export * from "./nn.js";
export * from "./reduce.js";
export * from "./shape.js";
