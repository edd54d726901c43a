// The layers of src/, enforced by `npm run lint` (dependency-cruiser): each folder may import
// only from its own layer and the ones below it, and nothing imports in a circle.
//   engine < io < data < sam < udeg < eval < train < predict < serve < demo < cli
// A new top-level folder of src/ sits above train (add it to LAYERS in its place); the lint fails
// until it is listed. The page (web/src) may import src/, never the other way round.
const LAYERS = ["engine", "io", "data", "sam", "udeg", "eval", "train", "predict", "serve", "demo", "cli"];

const above = (i) => LAYERS.slice(i + 1).join("|");

/** One rule per layer: nothing in it imports a layer above it. */
const layerRules = LAYERS.slice(0, -1).map((name, i) => ({
  name: `${name}-imports-upward`,
  comment: `src/${name} is below ${LAYERS.slice(i + 1).join(", ")}: it may not import them (layers: ${LAYERS.join(" < ")})`,
  severity: "error",
  from: { path: `^src/${name}/` },
  to: { path: `^src/(${above(i)})/` },
}));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: "no-circular",
      comment: "modules that import each other in a circle: move the shared part into a module both import",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "unknown-layer",
      comment: `a top-level folder of src/ that is not a layer: add it to LAYERS in .dependency-cruiser.cjs (above train)`,
      severity: "error",
      from: { path: `^src/(?!(${LAYERS.join("|")})/)[^/]+/` },
      to: {},
    },
    {
      name: "src-imports-outside-src",
      comment: "the library imports neither the page, the tests nor the benchmarks",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^(web|test|bench|scripts)/" },
    },
    {
      name: "onnxruntime-outside-engine",
      comment: "only src/engine talks to onnxruntime-node (the page has onnxruntime-web)",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/engine/" },
      to: { path: "onnxruntime-node" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|node_modules)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default"],
    },
  },
};
