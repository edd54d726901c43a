// The data layer: dataset layouts, splits, mask conventions, SAM-style resizing, augmentation,
// batches. Reads files through src/io; knows nothing of models.
export * from "./augment.js";
export * from "./dataset.js";
export * from "./errors.js";
export * from "./input-rule.js";
export * from "./loader.js";
export * from "./masks.js";
export * from "./phantoms/index.js";
export * from "./preprocess.js";
export * from "./split.js";
export * from "./types.js";
