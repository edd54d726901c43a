// Where the package's own files are (package.json, assets/, dist/web): the one lookup of the
// package root, from src/io (tsx) or dist/src/io (built).
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The package's root folder (the one holding package.json and bin/udeg.js). */
export function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const root of [resolve(here, "..", ".."), resolve(here, "..", "..", "..")]) {
    if (existsSync(join(root, "package.json")) && existsSync(join(root, "bin", "udeg.js"))) return root;
  }
  return resolve(here, "..", "..");
}

/** Path of `assets/<parts...>` if `assets/<parts...>/<marker>` exists in the package, else null. */
export function packageAsset(parts: readonly string[], marker: string): string | null {
  const dir = join(packageRoot(), "assets", ...parts);
  return existsSync(join(dir, marker)) ? dir : null;
}

/** udeg's version, from its package.json (the CLI's --version, the software version in DICOM SEG). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string };
  return pkg.version;
}
