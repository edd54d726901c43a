// What scanning a dataset folder finds, and the folder helpers every layout shares: listing,
// image-file names, pairing images with masks by base name.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { IMAGE_EXTENSIONS } from "../../io/images/images.js";
import type { Axis } from "../../io/nifti/nifti.js";
import { DatasetError, listSome } from "../errors.js";
import type { Split } from "../split.js";

export type LayoutKind = "generic" | "kvasir-seg" | "isic2018" | "busi" | "nifti";

/** Where a sample's pixels come from. */
export interface SampleRef {
  /** Unique, file-name safe: the image's base name, or CASE_zNNN for a NIfTI slice. */
  name: string;
  /** The split unit: the name itself for 2-D images, the case for NIfTI slices. */
  group: string;
  /** Image file (for NIfTI, the volume). */
  image: string;
  /** Mask file(s); several are merged by OR (BUSI). */
  masks: string[];
  /** BUSI: benign / malignant / normal. */
  category?: string;
  /** NIfTI: which slice, and which volume of a 4-D image (modality). */
  slice?: { axis: Axis; index: number; volume: number };
}

/** What a layout's scan finds. */
export interface Scan {
  layout: LayoutKind;
  root: string;
  samples: SampleRef[];
  /** A split the layout itself defines (ISIC official folders). */
  split?: Split;
  warnings: string[];
}

export function isImageFile(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((e) => lower.endsWith(e));
}

export function imageBase(name: string): string {
  return name.slice(0, name.lastIndexOf("."));
}

export function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface Entries {
  files: string[];
  dirs: string[];
}

export function list(dir: string): Entries {
  let entries: import("node:fs").Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    throw new DatasetError(dir, "unreadable", `cannot list the folder (${(err as Error).message})`, "", {
      cause: err,
    });
  }
  const files: string[] = [];
  const dirs: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith(".")) continue; // hidden files, macOS "._" forks in MSD tarballs
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      try {
        const s = statSync(join(dir, e.name));
        isDir = s.isDirectory();
        isFile = s.isFile();
      } catch {
        continue; // dangling link
      }
    }
    if (isDir) dirs.push(e.name);
    else if (isFile) files.push(e.name);
  }
  return { files: files.sort(byName), dirs: dirs.sort(byName) };
}

/** Pairs images with masks by base name; errors list every image that has no mask. */
export function pairByName(
  imageDir: string,
  maskDir: string,
  maskName: (imageBase: string) => string[],
  warnings: string[],
): SampleRef[] {
  const images = list(imageDir).files;
  const masks = list(maskDir).files.filter(isImageFile);
  const maskByKey = new Map<string, string>();
  for (const m of masks) maskByKey.set(m, m);
  const maskByBase = new Map<string, string>();
  for (const m of masks) {
    const b = imageBase(m);
    if (!maskByBase.has(b)) maskByBase.set(b, m);
  }
  const used = new Set<string>();
  const samples: SampleRef[] = [];
  const missing: string[] = [];
  const seen = new Map<string, string>();
  const skipped: string[] = [];
  for (const file of images) {
    if (!isImageFile(file)) {
      skipped.push(file);
      continue;
    }
    const base = imageBase(file);
    const prev = seen.get(base);
    if (prev !== undefined) {
      throw new DatasetError(
        join(imageDir, file),
        "duplicate-name",
        `two images share the name "${base}" (${prev} and ${file})`,
        "Rename or remove one: masks are matched by base name.",
      );
    }
    seen.set(base, file);
    const mask = maskName(base)
      .map((n) => maskByBase.get(n))
      .find((m) => m !== undefined);
    if (mask === undefined) {
      missing.push(file);
      continue;
    }
    used.add(mask);
    samples.push({ name: base, group: base, image: join(imageDir, file), masks: [join(maskDir, mask)] });
  }
  if (missing.length) {
    throw new DatasetError(
      missing.length === 1 ? join(imageDir, missing[0]!) : imageDir,
      "missing-mask",
      `${missing.length} image(s) without a mask in ${maskDir}: ${listSome(missing)}`,
      `Each image needs a mask with the same base name (${maskName(imageBase(missing[0]!))[0]}.png or another ` +
        "image format) in the masks folder; add the masks or remove those images.",
    );
  }
  if (skipped.length)
    warnings.push(`${imageDir}: skipped ${skipped.length} non-image file(s): ${listSome(skipped)}`);
  const orphans = masks.filter((m) => !used.has(m));
  if (orphans.length)
    warnings.push(`${maskDir}: ${orphans.length} mask(s) without an image, ignored: ${listSome(orphans)}`);
  if (samples.length === 0) {
    throw new DatasetError(imageDir, "not-found", "no images (PNG, JPEG, TIFF or BMP) in this folder");
  }
  return samples;
}
