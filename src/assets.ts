// The files the package ships in assets/ (the bundled base model, the ITK brain slices).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Path of `assets/<parts...>` if `assets/<parts...>/<marker>` exists in the package, else null.
 * This module runs from src/ (tsx) or dist/src/ (built), so the package root is one or two
 * folders up.
 */
export function packageAsset(parts: readonly string[], marker: string): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const root of [join(here, ".."), join(here, "..", "..")]) {
    const dir = join(root, "assets", ...parts);
    if (existsSync(join(dir, marker))) return dir;
  }
  return null;
}
