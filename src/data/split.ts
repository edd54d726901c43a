// Train/val/test splits: read split.json, or make a seeded one.
//
// Splits are over *groups*: the sample name for 2-D images, the case for NIfTI volumes (slices
// of one volume must never straddle train and test). split.json may name groups with or without
// their file extension. A generated split is returned, not written into the dataset: the caller
// saves it with the run (writeSplit) so that the dataset folder stays read-only.

import { readFileSync, writeFileSync } from "node:fs";
import { Rng } from "../engine/random.js";
import { DatasetError, listSome } from "./errors.js";

export const SPLIT_PARTS = ["train", "val", "test"] as const;
export type SplitPart = (typeof SPLIT_PARTS)[number];

export interface Split {
  train: string[];
  val: string[];
  test: string[];
}

const EXTENSIONS = [".nii.gz", ".nii", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm"];

/** A name without a known image/volume extension ("a.png" -> "a", "case.nii.gz" -> "case"). */
export function stripExtension(name: string): string {
  const lower = name.toLowerCase();
  for (const ext of EXTENSIONS) if (lower.endsWith(ext)) return name.slice(0, name.length - ext.length);
  return name;
}

/**
 * Reads split.json and resolves its names against the dataset's groups. Errors name the file:
 * bad JSON, a part that is not a list of strings, a name that matches no sample, a name in two
 * parts. Missing parts are empty.
 */
export function readSplit(path: string, groups: readonly string[]): Split {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new DatasetError(path, "bad-split", `cannot read split.json (${(err as Error).message})`, "", {
      cause: err,
    });
  }
  return resolveSplit(json, groups, path);
}

/** Validates a parsed split object against the dataset's groups (see readSplit). */
export function resolveSplit(json: unknown, groups: readonly string[], path = "split.json"): Split {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new DatasetError(
      path,
      "bad-split",
      'expected an object {"train": [...], "val": [...], "test": [...]}',
    );
  }
  const obj = json as Record<string, unknown>;
  const extra = Object.keys(obj).filter((k) => !(SPLIT_PARTS as readonly string[]).includes(k));
  if (extra.length) {
    throw new DatasetError(
      path,
      "bad-split",
      `unknown key(s) ${listSome(extra)}`,
      'Use only "train", "val" and "test".',
    );
  }
  const known = new Set(groups);
  const split: Split = { train: [], val: [], test: [] };
  const owner = new Map<string, SplitPart>();
  const unknown: string[] = [];
  for (const part of SPLIT_PARTS) {
    const list = obj[part];
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.some((x) => typeof x !== "string")) {
      throw new DatasetError(path, "bad-split", `"${part}" must be a list of names`);
    }
    for (const raw of list as string[]) {
      const name = known.has(raw) ? raw : stripExtension(raw);
      if (!known.has(name)) {
        unknown.push(raw);
        continue;
      }
      const prev = owner.get(name);
      if (prev !== undefined && prev !== part) {
        throw new DatasetError(
          path,
          "bad-split",
          `"${raw}" is in both "${prev}" and "${part}"`,
          "A sample must be in one part only.",
        );
      }
      if (prev === undefined) {
        owner.set(name, part);
        split[part].push(name);
      }
    }
  }
  if (unknown.length) {
    throw new DatasetError(
      path,
      "bad-split",
      `${unknown.length} name(s) match no sample in the dataset: ${listSome(unknown)}`,
      "Names are file names (with or without extension) of images, or case names for NIfTI volumes.",
    );
  }
  return split;
}

/** Fractions [train, val, test]; default 80/10/10. */
export type SplitFractions = readonly [number, number, number];

/**
 * A seeded split: groups sorted by name (code points, locale-independent), shuffled with the
 * seed, then cut into train / val / test with round(n * val) and round(n * test) and the rest
 * in train.
 */
export function makeSplit(
  groups: readonly string[],
  seed = 0,
  fractions: SplitFractions = [0.8, 0.1, 0.1],
): Split {
  if (
    fractions.length !== 3 ||
    fractions.some((f) => !(f >= 0)) ||
    fractions.reduce((a, b) => a + b, 0) <= 0
  ) {
    throw new DatasetError("(split)", "bad-argument", `bad split fractions ${JSON.stringify(fractions)}`);
  }
  const total = fractions[0] + fractions[1] + fractions[2];
  const order = [...new Set(groups)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  new Rng(seed, "split").shuffle(order);
  const n = order.length;
  let nVal = Math.round((n * fractions[1]) / total);
  let nTest = Math.round((n * fractions[2]) / total);
  if (fractions[0] > 0 && n > 0 && nVal + nTest >= n) {
    // Keep at least one training sample when training is asked for.
    while (nVal + nTest >= n && (nVal > 0 || nTest > 0)) {
      if (nTest >= nVal && nTest > 0) nTest--;
      else nVal--;
    }
  }
  const nTrain = n - nVal - nTest;
  return {
    train: order.slice(0, nTrain),
    val: order.slice(nTrain, nTrain + nVal),
    test: order.slice(nTrain + nVal),
  };
}

/**
 * A split with a validation part: `split` itself when it has one, else a seeded `fraction` of
 * its training groups (at least one, when there are two or more) moved to val. Training chooses
 * its best epoch on val, never on test.
 */
export function withValidation(split: Split, seed = 0, fraction = 0.1): Split {
  if (split.val.length > 0 || split.train.length < 2) return split;
  const order = [...split.train].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  new Rng(seed, "validation").shuffle(order);
  const n = Math.min(order.length - 1, Math.max(1, Math.round(order.length * fraction)));
  const val = new Set(order.slice(0, n));
  return {
    train: split.train.filter((g) => !val.has(g)),
    val: split.train.filter((g) => val.has(g)),
    test: split.test,
  };
}

/** Writes a split as split.json (e.g. into the run directory). */
export function writeSplit(path: string, split: Split): void {
  writeFileSync(
    path,
    `${JSON.stringify({ train: split.train, val: split.val, test: split.test }, null, 1)}\n`,
  );
}
