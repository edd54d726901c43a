// fs and path for the page: the Emscripten codec modules (codecs.ts) reference them in their
// Node-only branch, which never runs in a browser.
export default {};
