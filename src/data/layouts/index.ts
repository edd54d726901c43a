// Dataset layouts behind one interface: `detectLayout` finds which one a folder holds,
// `scanLayout` lists its samples (and its own split, where it has one). One module per layout.
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { DatasetError, listSome } from "../errors.js";
import type { VolumeCache } from "../volume-cache.js";
import { BUSI_FOLDER, busiCategories, scanBusi } from "./busi.js";
import { scanGeneric } from "./generic.js";
import { scanIsic } from "./isic.js";
import { type NiftiScanOptions, scanNifti } from "./nifti.js";
import { type LayoutKind, list, type Scan } from "./scan.js";

export type { LayoutKind, SampleRef, Scan } from "./scan.js";
export type { NiftiScanOptions };

export function detectLayout(dir: string, depth = 0): { layout: LayoutKind; root: string } {
  const { files, dirs } = list(dir);
  const has = (d: string) => dirs.includes(d);
  if (has("imagesTr")) return { layout: "nifti", root: dir };
  if (dirs.some((d) => /^ISIC2018_Task1-2_(Training|Validation|Test)_Input$/.test(d)))
    return { layout: "isic2018", root: dir };
  if (has(BUSI_FOLDER)) return { layout: "busi", root: join(dir, BUSI_FOLDER) };
  if (busiCategories(dir, dirs).length > 0) return { layout: "busi", root: dir };
  if (has("images")) {
    const kvasir = basename(dir) === "Kvasir-SEG" || files.includes("kavsir_bboxes.json");
    return { layout: kvasir ? "kvasir-seg" : "generic", root: dir };
  }
  if (has("Kvasir-SEG")) return { layout: "kvasir-seg", root: join(dir, "Kvasir-SEG") };
  if (dirs.length === 1 && depth < 2) return detectLayout(join(dir, dirs[0]!), depth + 1);
  const seen = [...dirs.map((d) => `${d}/`), ...files].slice(0, 8);
  throw new DatasetError(
    dir,
    "unknown-layout",
    `no dataset layout found (the folder holds ${seen.length ? listSome(seen, 8) : "nothing"})`,
    "Expected images/ + masks/ (optional split.json), Kvasir-SEG, ISIC 2018 Task 1, BUSI " +
      "(Dataset_BUSI_with_GT) or imagesTr/ + labelsTr/ (NIfTI).",
  );
}

/** The samples of a folder in a known layout (`root` as detectLayout found it). */
export async function scanLayout(
  layout: LayoutKind,
  root: string,
  options: NiftiScanOptions,
  cache: VolumeCache,
): Promise<Scan> {
  switch (layout) {
    case "generic":
      return scanGeneric(root, "generic");
    case "kvasir-seg":
      return scanGeneric(
        existsSync(join(root, "Kvasir-SEG")) ? join(root, "Kvasir-SEG") : root,
        "kvasir-seg",
      );
    case "isic2018":
      return scanIsic(root);
    case "busi":
      return scanBusi(root);
    case "nifti":
      return scanNifti(root, options, cache);
    default:
      throw new DatasetError(root, "bad-argument", `unknown layout "${layout as string}"`);
  }
}
