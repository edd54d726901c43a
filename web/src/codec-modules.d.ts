// Types for the codec packages, which ship none: each decodewasmjs entry is an Emscripten module
// factory; `?url` imports are Vite's (the asset's URL).
declare module "@cornerstonejs/codec-openjpeg/decodewasmjs" {
  const factory: unknown;
  export default factory;
}
declare module "@cornerstonejs/codec-charls/decodewasmjs" {
  const factory: unknown;
  export default factory;
}
declare module "@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs" {
  const factory: unknown;
  export default factory;
}
declare module "jpeg-lossless-decoder-js";
declare module "*?url" {
  const url: string;
  export default url;
}
