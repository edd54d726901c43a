// BUSI: Dataset_BUSI_with_GT/{benign,malignant,normal}/NAME (k).png + NAME (k)_mask.png, extra
// masks NAME (k)_mask_1.png ... merged by OR; "normal" masks are empty.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { DatasetError, listSome } from "../errors.js";
import { byName, imageBase, list, type SampleRef, type Scan } from "./scan.js";

export const BUSI_FOLDER = "Dataset_BUSI_with_GT";
export const BUSI_MASK = /^(.*)_mask(?:_(\d+))?\.png$/i;

/** BUSI's class folders, when at least one of them holds NAME_mask.png files. */
export function busiCategories(dir: string, dirs: readonly string[]): string[] {
  const named = dirs.filter((d) => ["benign", "malignant", "normal"].includes(d.toLowerCase()));
  return named.some((d) => list(join(dir, d)).files.some((f) => BUSI_MASK.test(f))) ? named : [];
}

export function scanBusi(dir: string): Scan {
  const root = existsSync(join(dir, BUSI_FOLDER)) ? join(dir, BUSI_FOLDER) : dir;
  const categories = busiCategories(root, list(root).dirs);
  if (categories.length === 0) {
    throw new DatasetError(
      root,
      "unknown-layout",
      "not a BUSI folder: no benign/, malignant/ or normal/ subfolder with *_mask.png files",
      "Point at Dataset_BUSI_with_GT (or the folder holding it).",
    );
  }
  const samples: SampleRef[] = [];
  const owner = new Map<string, string>();
  for (const cat of categories) {
    const dir = join(root, cat);
    const files = list(dir).files.filter((f) => f.toLowerCase().endsWith(".png"));
    const masks = new Map<string, { k: number; file: string }[]>();
    const images: string[] = [];
    for (const f of files) {
      const m = BUSI_MASK.exec(f);
      if (m) {
        const list = masks.get(m[1]!) ?? [];
        list.push({ k: m[2] === undefined ? 0 : Number(m[2]), file: f });
        masks.set(m[1]!, list);
      } else images.push(f);
    }
    const missing: string[] = [];
    for (const img of images) {
      const base = imageBase(img);
      const ms = masks.get(base);
      if (!ms) {
        missing.push(img);
        continue;
      }
      if (owner.has(base)) {
        throw new DatasetError(
          join(dir, img),
          "duplicate-name",
          `"${base}" appears in both ${owner.get(base)}/ and ${cat}/`,
        );
      }
      owner.set(base, cat);
      ms.sort((a, b) => a.k - b.k);
      samples.push({
        name: base,
        group: base,
        image: join(dir, img),
        masks: ms.map((m) => join(dir, m.file)),
        category: cat,
      });
    }
    if (missing.length) {
      throw new DatasetError(
        missing.length === 1 ? join(dir, missing[0]!) : dir,
        "missing-mask",
        `${missing.length} image(s) without a mask: ${listSome(missing)}`,
        'BUSI keeps "NAME (k).png" beside "NAME (k)_mask.png"; add the mask or remove the image.',
      );
    }
  }
  return { layout: "busi", root, samples: samples.sort((a, b) => byName(a.name, b.name)), warnings: [] };
}
