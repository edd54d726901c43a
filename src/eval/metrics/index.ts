// The metrics (see conventions.ts for every convention): one module per family.
export * from "./boundary.js";
export * from "./calibration.js";
export * from "./conventions.js";
export * from "./evaluate.js";
export * from "./overlap.js";
export * from "./summary.js";
export * from "./surface.js";
export * from "./uncertainty.js";
