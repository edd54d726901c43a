// udeg's library entry point.
export * from "./engine/index.js";
