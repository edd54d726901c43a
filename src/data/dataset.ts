// Dataset folders: find the samples, their masks and the split; load one sample at a time.
//
// Layouts recognised (openDataset picks one from the folder's contents, or take `layout`):
// - generic:    DIR/images/NAME.ext + DIR/masks/NAME.ext, ext any of PNG/JPEG/TIFF/BMP (the
//               mask's extension may differ from the image's), optional DIR/split.json;
// - kvasir-seg: the same layout as downloaded (Kvasir-SEG/images/*.jpg, masks/*.jpg, masks are
//               JPEG, so 0..255 with compression noise: thresholded at 127);
// - isic2018:   ISIC2018_Task1-2_Training_Input/ISIC_*.jpg + ISIC2018_Task1_Training_GroundTruth/
//               ISIC_*_segmentation.png; the Validation and Test folders, where present with
//               their ground truth, give the val and test parts of the split;
// - busi:       Dataset_BUSI_with_GT/{benign,malignant,normal}/NAME (k).png + NAME (k)_mask.png,
//               extra masks NAME (k)_mask_1.png ... merged by OR; "normal" masks are empty;
// - nifti:      imagesTr/CASE.nii.gz (or nnU-Net's CASE_0000.nii.gz) + labelsTr/CASE.nii.gz
//               (MSD / nnU-Net), read as 2-D slices along a chosen voxel axis. The split is by
//               case, never by slice.
// A folder that wraps one of these (a zip's top folder) is descended into. Each layout is a
// module of layouts/; this file opens a folder, resolves the split and loads samples.
//
// Opening reads only directory listings and a sample of masks (to detect the mask convention);
// images are read by load(), one sample at a time.

import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { readImage, readImageInfo, readImageSource } from "../io/images/images.js";
import { getSlice, type NiftiVolume } from "../io/nifti/nifti.js";
import type { LabelMap } from "../io/planar-image.js";
import { DatasetError, listSome, unreadable } from "./errors.js";
import { DEFAULT_INPUT_RULE, type InputRule, inputPlanes, volumeWindow } from "./input-rule.js";
import {
  detectLayout,
  type LayoutKind,
  type NiftiScanOptions,
  type SampleRef,
  scanLayout,
} from "./layouts/index.js";
import { byName } from "./layouts/scan.js";
import { detectMasks } from "./mask-detection.js";
import { type DetectedConvention, type MaskConvention, maskChannel, toClassIndices } from "./masks.js";
import { makeSplit, readSplit, type Split, type SplitFractions, type SplitPart } from "./split.js";
import type { LoadedSample } from "./types.js";
import { VolumeCache } from "./volume-cache.js";

export type { LayoutKind, SampleRef };

export interface OpenDatasetOptions extends NiftiScanOptions {
  /** Default: detected from the folder's contents. */
  layout?: LayoutKind;
  /** Seed of the generated split (when there is no split.json and the layout has none). Default 0. */
  seed?: number;
  /** Fractions of the generated split. Default [0.8, 0.1, 0.1]. */
  fractions?: SplitFractions;
  /** Ignore DIR/split.json (and the layout's own split) and generate one. Default false. */
  ignoreSplitFile?: boolean;
  /** Mask convention; default detected from a sample of masks. */
  maskConvention?: MaskConvention;
  /** Number of classes including background, for label masks (NIfTI labels, label PNGs). */
  numClasses?: number;
  /** How many masks (2-D) or label volumes (NIfTI) detection reads. Default 32 / 4. */
  detectSamples?: number;
  /**
   * From file to the network's planes (input-rule.ts): 16-bit scaling and the NIfTI window.
   * Default DEFAULT_INPUT_RULE; a run passes its config.input.
   */
  input?: Partial<InputRule>;
  /** NIfTI: bytes of decoded volumes kept in memory. Default 512 MiB. */
  volumeCacheBytes?: number;
}

export interface Dataset {
  /** The folder the layout was found in (may be below the folder given). */
  readonly root: string;
  readonly layout: LayoutKind;
  /** All samples, sorted by name. */
  readonly samples: readonly SampleRef[];
  /** Split units (sample names, or NIfTI cases), sorted. */
  readonly groups: readonly string[];
  /** The mask convention and how it was found. */
  readonly masks: DetectedConvention;
  readonly numClasses: number;
  /** Group names per part. */
  readonly split: Split;
  /** Where the split came from; "generated" splits should be saved with the run (writeSplit). */
  readonly splitSource: SplitSource;
  /** Things worth telling the user that did not stop opening (orphan masks, skipped files). */
  readonly warnings: readonly string[];
  /** The samples of one part of the split. */
  part(part: SplitPart): SampleRef[];
  /** Reads one sample at full resolution: image as 3 planes 0..255 (input-rule.ts), mask as class indices. */
  load(sample: SampleRef | string): Promise<LoadedSample>;
  /** One paragraph for logs: layout, counts, split, mask convention. */
  describe(): string;
  /** The same dataset with another split (a run's, with its held-out validation part). */
  withSplit(split: Split, source: SplitSource): Dataset;
}

export type SplitSource = "split.json" | "layout" | "generated" | "run";

class ImageDataset implements Dataset {
  readonly groups: readonly string[];
  private readonly byName: Map<string, SampleRef>;
  private readonly windows = new Map<string, [number, number]>();
  private readonly rule: InputRule;

  constructor(
    readonly root: string,
    readonly layout: LayoutKind,
    readonly samples: readonly SampleRef[],
    readonly masks: DetectedConvention,
    readonly split: Split,
    readonly splitSource: SplitSource,
    readonly warnings: readonly string[],
    private readonly opts: OpenDatasetOptions,
    private readonly cache: VolumeCache,
  ) {
    this.groups = [...new Set(samples.map((s) => s.group))].sort(byName);
    this.byName = new Map(samples.map((s) => [s.name, s]));
    this.rule = { ...DEFAULT_INPUT_RULE, ...opts.input };
  }

  get numClasses(): number {
    return this.masks.numClasses;
  }

  withSplit(split: Split, source: SplitSource): Dataset {
    return new ImageDataset(
      this.root,
      this.layout,
      this.samples,
      this.masks,
      split,
      source,
      this.warnings,
      this.opts,
      this.cache,
    );
  }

  part(part: SplitPart): SampleRef[] {
    const groups = new Set(this.split[part]);
    return this.samples.filter((s) => groups.has(s.group));
  }

  async load(sample: SampleRef | string): Promise<LoadedSample> {
    const ref = typeof sample === "string" ? this.byName.get(sample) : sample;
    if (!ref) throw new DatasetError(this.root, "bad-argument", `no sample named "${sample}"`);
    return ref.slice ? this.loadSlice(ref) : this.loadImage(ref);
  }

  private async loadImage(ref: SampleRef): Promise<LoadedSample> {
    const [source, ...maskImgs] = await Promise.all([
      readImageSource(ref.image).catch((e: unknown) => {
        throw unreadable(ref.image, "image", ref.name, e);
      }),
      ...ref.masks.map((m) =>
        readImage(m, { palette: "indices" }).catch((e: unknown) => {
          throw unreadable(m, "mask", ref.name, e);
        }),
      ),
    ]);
    const image = inputPlanes(source, this.rule);
    let mask: LabelMap | undefined;
    for (let k = 0; k < maskImgs.length; k++) {
      const m = maskImgs[k]!;
      const file = ref.masks[k]!;
      checkSameSize(image, m, ref.image, file);
      const labels = toClassIndices(maskChannel(m, file), m.width, m.height, this.masks.convention, file);
      if (!mask) mask = labels;
      else
        for (let i = 0; i < labels.data.length; i++) mask.data[i] = Math.max(mask.data[i]!, labels.data[i]!);
    }
    return { name: ref.name, image, mask: mask! };
  }

  private async loadSlice(ref: SampleRef): Promise<LoadedSample> {
    const s = ref.slice!;
    const label = ref.masks[0]!;
    const [vol, lab] = await Promise.all([
      this.cache.get(ref.image).catch((e: unknown) => {
        throw unreadable(ref.image, "image volume", ref.name, e);
      }),
      this.cache.get(label).catch((e: unknown) => {
        throw unreadable(label, "label volume", ref.name, e);
      }),
    ]);
    const img = getSlice(vol, s.axis, s.index, s.volume);
    const lab2 = getSlice(lab, s.axis, s.index, 0);
    if (img.rows !== lab2.rows || img.cols !== lab2.cols) {
      throw new DatasetError(
        label,
        "size-mismatch",
        `label slice ${lab2.rows}x${lab2.cols} vs image ${img.rows}x${img.cols}`,
      );
    }
    const image = inputPlanes({ kind: "slice", ...img, window: this.windowOf(ref.image, vol) }, this.rule);
    const mask = toClassIndices(lab2.data, img.cols, img.rows, this.masks.convention, label);
    return {
      name: ref.name,
      image,
      mask,
      spacing: img.spacing,
    };
  }

  private windowOf(path: string, vol: NiftiVolume): [number, number] {
    let win = this.windows.get(path);
    if (!win) {
      win = volumeWindow(vol, this.rule);
      this.windows.set(path, win);
    }
    return win;
  }

  describe(): string {
    const counts = (["train", "val", "test"] as const).map((p) => `${p} ${this.split[p].length}`).join(", ");
    const unit =
      this.layout === "nifti"
        ? `${this.groups.length} cases, ${this.samples.length} slices`
        : `${this.samples.length} images`;
    return (
      `${this.root}: ${this.layout} layout, ${unit}; split (${this.splitSource}): ${counts}; ` +
      `masks: ${this.masks.description}; ${this.numClasses} classes.`
    );
  }
}

function checkSameSize(
  img: { width: number; height: number },
  mask: { width: number; height: number },
  imageFile: string,
  maskFile: string,
): void {
  if (img.width === mask.width && img.height === mask.height) return;
  throw new DatasetError(
    maskFile,
    "size-mismatch",
    `mask is ${mask.width}x${mask.height} (width x height) but its image ${imageFile} is ${img.width}x${img.height}`,
    `Resize the mask to ${img.width}x${img.height} with nearest-neighbour interpolation (so labels stay labels), ` +
      "or re-export the pair from the same source.",
  );
}

/**
 * Opens a dataset folder: finds the layout and samples, detects the mask convention from a
 * sample of masks, and resolves the split (DIR/split.json, else the layout's official parts,
 * else a seeded split that the caller should save with the run).
 */
export async function openDataset(dir: string, options: OpenDatasetOptions = {}): Promise<Dataset> {
  if (!existsSync(dir))
    throw new DatasetError(dir, "not-found", "the dataset folder does not exist", "Check the path.");
  if (!statSync(dir).isDirectory())
    throw new DatasetError(dir, "not-found", "not a folder", "Give the dataset's folder.");
  const cache = new VolumeCache(options.volumeCacheBytes ?? 512 * 2 ** 20);
  let layout = options.layout;
  let root = dir;
  if (layout === undefined) ({ layout, root } = detectLayout(dir));
  const scan = await scanLayout(layout, root, options, cache);
  scan.samples.sort((a, b) => byName(a.name, b.name));
  const masks = await detectMasks(scan, options, cache);
  const groups = [...new Set(scan.samples.map((s) => s.group))].sort(byName);
  let split: Split;
  let source: SplitSource;
  const splitFile = [join(scan.root, "split.json"), join(dir, "split.json")].find((p) => existsSync(p));
  if (splitFile && !options.ignoreSplitFile) {
    split = readSplit(splitFile, groups);
    source = "split.json";
  } else if (scan.split && !options.ignoreSplitFile) {
    split = scan.split;
    source = "layout";
  } else {
    split = makeSplit(groups, options.seed ?? 0, options.fractions);
    source = "generated";
  }
  const inSplit = new Set([...split.train, ...split.val, ...split.test]);
  const left = groups.filter((g) => !inSplit.has(g));
  const warnings = [...scan.warnings];
  if (left.length)
    warnings.push(`${left.length} sample(s) are in no part of the split and are not used: ${listSome(left)}`);
  return new ImageDataset(
    scan.root,
    scan.layout,
    scan.samples,
    masks,
    split,
    source,
    warnings,
    options,
    cache,
  );
}

/** Problems found by checking every pair's sizes from the file headers (no pixel decoding). */
export async function validateDataset(ds: Dataset): Promise<DatasetError[]> {
  const problems: DatasetError[] = [];
  for (const s of ds.samples) {
    if (s.slice) continue; // volumes were checked against their labels when opening
    try {
      const img = await readImageInfo(s.image).catch((e: unknown) => {
        throw unreadable(s.image, "image", s.name, e);
      });
      for (const m of s.masks) {
        const mi = await readImageInfo(m).catch((e: unknown) => {
          throw unreadable(m, "mask", s.name, e);
        });
        checkSameSize(img, mi, s.image, m);
      }
    } catch (err) {
      if (err instanceof DatasetError) problems.push(err);
      else throw err;
    }
  }
  return problems;
}
