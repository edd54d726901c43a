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
// A folder that wraps one of these (a zip's top folder) is descended into.
//
// Opening reads only directory listings and a sample of masks (to detect the mask convention);
// images are read by load(), one sample at a time.

import { existsSync, readdirSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { type DecodedImage, IMAGE_EXTENSIONS, readImage, readImageInfo, toRgb } from "../io/images.js";
import {
  type Axis,
  getSlice,
  type NiftiVolume,
  readNifti,
  readNiftiHeader,
  scaledVolume,
} from "../io/nifti.js";
import type { LabelMap, PlanarImage } from "../io/planar-image.js";
import { DatasetError, listSome } from "./errors.js";
import {
  countValues,
  type DetectedConvention,
  detectConvention,
  givenConvention,
  type MaskConvention,
  maskChannel,
  mergeCounts,
  toClassIndices,
  type ValueCounts,
} from "./masks.js";
import { toPlanar } from "./preprocess.js";
import { makeSplit, readSplit, type Split, type SplitFractions, type SplitPart } from "./split.js";
import type { LoadedSample } from "./types.js";
import { percentileWindow } from "./volume-window.js";

/** Moved to volume-window.ts (pure, for the web viewer); re-exported here. */
export { percentileWindow };

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

/** How NIfTI intensities become 0..255. */
export type NiftiWindow =
  /** Per volume: the lower/upper percentiles map to 0/255 (default 0.5 / 99.5). */
  | { kind: "percentile"; lower: number; upper: number }
  /** Fixed range, e.g. CT { min: -125, max: 275 }. */
  | { kind: "range"; min: number; max: number };

export interface OpenDatasetOptions {
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
  /** 16-bit images to 0..255: per-image min-max (default) or value / 257. */
  intensity16?: "min-max" | "full-range";
  /** NIfTI: slicing axis (voxel axis 0, 1 or 2). Default 2. */
  axis?: Axis;
  /** NIfTI: all slices (default) or only slices whose label has foreground (reads all labels at open). */
  slices?: "all" | "foreground";
  /** NIfTI: intensity window. Default { kind: "percentile", lower: 0.5, upper: 99.5 }. */
  window?: NiftiWindow;
  /** NIfTI: modality, i.e. the _000M file (nnU-Net) or the 4th-dimension index (MSD). Default 0. */
  modality?: number;
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
  readonly splitSource: "split.json" | "layout" | "generated";
  /** Things worth telling the user that did not stop opening (orphan masks, skipped files). */
  readonly warnings: readonly string[];
  /** The samples of one part of the split. */
  part(part: SplitPart): SampleRef[];
  /** Reads one sample at full resolution: image as 3 planes 0..255, mask as class indices. */
  load(sample: SampleRef | string): Promise<LoadedSample>;
  /** One paragraph for logs: layout, counts, split, mask convention. */
  describe(): string;
}

// ---------------------------------------------------------------------------------------------
// Folder scanning

interface Scan {
  layout: LayoutKind;
  root: string;
  samples: SampleRef[];
  /** A split the layout itself defines (ISIC official folders). */
  split?: Split;
  warnings: string[];
}

const ISIC_INPUT = (part: string) => `ISIC2018_Task1-2_${part}_Input`;
const ISIC_TRUTH = (part: string) => `ISIC2018_Task1_${part}_GroundTruth`;
const BUSI_FOLDER = "Dataset_BUSI_with_GT";
const BUSI_MASK = /^(.*)_mask(?:_(\d+))?\.png$/i;
const NIFTI_EXT = /\.nii(\.gz)?$/i;

function isImageFile(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((e) => lower.endsWith(e));
}

function imageBase(name: string): string {
  return name.slice(0, name.lastIndexOf("."));
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface Entries {
  files: string[];
  dirs: string[];
}

function list(dir: string): Entries {
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

function detectLayout(dir: string, depth = 0): { layout: LayoutKind; root: string } {
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

/** BUSI's class folders, when at least one of them holds NAME_mask.png files. */
function busiCategories(dir: string, dirs: readonly string[]): string[] {
  const named = dirs.filter((d) => ["benign", "malignant", "normal"].includes(d.toLowerCase()));
  return named.some((d) => list(join(dir, d)).files.some((f) => BUSI_MASK.test(f))) ? named : [];
}

/** Pairs images with masks by base name; errors list every image that has no mask. */
function pairByName(
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

function scanGeneric(root: string, layout: "generic" | "kvasir-seg"): Scan {
  const images = join(root, "images");
  const masks = join(root, "masks");
  if (!existsSync(images)) {
    throw new DatasetError(
      root,
      "unknown-layout",
      "no images/ folder",
      "The layout is DIR/images/NAME.ext + DIR/masks/NAME.ext.",
    );
  }
  if (!existsSync(masks)) {
    throw new DatasetError(
      masks,
      "missing-masks-dir",
      "the masks folder is missing (found images/ but no masks/)",
      "Put one mask per image, with the same base name, in DIR/masks/.",
    );
  }
  const warnings: string[] = [];
  const samples = pairByName(images, masks, (b) => [b, `${b}_mask`, `${b}_segmentation`], warnings);
  return { layout, root, samples, warnings };
}

function scanIsic(root: string): Scan {
  const warnings: string[] = [];
  const parts: [string, SplitPart][] = [
    ["Training", "train"],
    ["Validation", "val"],
    ["Test", "test"],
  ];
  const samples: SampleRef[] = [];
  const split: Split = { train: [], val: [], test: [] };
  for (const [part, key] of parts) {
    const input = join(root, ISIC_INPUT(part));
    const truth = join(root, ISIC_TRUTH(part));
    if (!existsSync(input)) continue;
    if (!existsSync(truth)) {
      if (part === "Training") {
        throw new DatasetError(
          truth,
          "missing-masks-dir",
          `the ground-truth folder is missing (found ${ISIC_INPUT(part)} but not ${ISIC_TRUTH(part)})`,
          "Download and unpack ISIC2018_Task1_Training_GroundTruth.zip next to the input folder.",
        );
      }
      warnings.push(`${input}: no ${ISIC_TRUTH(part)} beside it; its images are not used`);
      continue;
    }
    const found = pairByName(input, truth, (b) => [`${b}_segmentation`, b], []);
    for (const s of found) split[key].push(s.group);
    samples.push(...found);
  }
  if (samples.length === 0) {
    throw new DatasetError(root, "not-found", `no ${ISIC_INPUT("Training")} folder with images`);
  }
  const hasLayoutSplit = split.val.length > 0 || split.test.length > 0;
  return { layout: "isic2018", root, samples, split: hasLayoutSplit ? split : undefined, warnings };
}

function scanBusi(dir: string): Scan {
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

async function scanNifti(root: string, opts: OpenDatasetOptions, cache: VolumeCache): Promise<Scan> {
  const imagesDir = join(root, "imagesTr");
  const labelsDir = join(root, "labelsTr");
  if (!existsSync(labelsDir)) {
    throw new DatasetError(
      labelsDir,
      "missing-masks-dir",
      "the labels folder is missing (found imagesTr/ but no labelsTr/)",
      "Put one label volume per case, CASE.nii.gz, in labelsTr/.",
    );
  }
  const axis = opts.axis ?? 2;
  if (axis !== 0 && axis !== 1 && axis !== 2)
    throw new DatasetError(root, "bad-argument", `axis must be 0, 1 or 2, not ${axis}`);
  const modality = opts.modality ?? 0;
  const suffix = `_${String(modality).padStart(4, "0")}`;
  const images = list(imagesDir).files.filter((f) => NIFTI_EXT.test(f));
  const labels = new Set(list(labelsDir).files.filter((f) => NIFTI_EXT.test(f)));
  // nnU-Net names images CASE_0000.nii.gz (one file per modality); MSD names them CASE.nii.gz.
  // A CASE_0001-like name is an nnU-Net modality suffix only if no label carries the full stem.
  const stemHasLabel = (f: string) => {
    const stem = f.replace(NIFTI_EXT, "");
    return labels.has(`${stem}.nii.gz`) || labels.has(`${stem}.nii`);
  };
  const nnunet =
    images.length > 0 && images.every((f) => /_\d{4}\.nii(\.gz)?$/i.test(f)) && !images.some(stemHasLabel);
  const cases: { id: string; image: string; label: string; volume: number }[] = [];
  const missing: string[] = [];
  for (const f of images) {
    const stem = f.replace(NIFTI_EXT, "");
    if (nnunet && !stem.endsWith(suffix)) continue;
    const id = nnunet ? stem.slice(0, -suffix.length) : stem;
    const label = [`${id}.nii.gz`, `${id}.nii`].find((l) => labels.has(l));
    if (!label) {
      missing.push(f);
      continue;
    }
    cases.push({
      id,
      image: join(imagesDir, f),
      label: join(labelsDir, label),
      volume: nnunet ? 0 : modality,
    });
  }
  if (missing.length) {
    throw new DatasetError(
      missing.length === 1 ? join(imagesDir, missing[0]!) : imagesDir,
      "missing-mask",
      `${missing.length} volume(s) without a label in labelsTr/: ${listSome(missing)}`,
      "Each imagesTr/CASE.nii.gz (or CASE_0000.nii.gz) needs labelsTr/CASE.nii.gz.",
    );
  }
  if (cases.length === 0)
    throw new DatasetError(
      imagesDir,
      "not-found",
      `no NIfTI volumes${nnunet ? ` for modality ${modality}` : ""}`,
    );
  const samples: SampleRef[] = [];
  const letter = "xyz"[axis]!;
  for (const c of cases) {
    const [ih, lh] = await Promise.all([headerOf(c.image), headerOf(c.label)]);
    const ishape = ih.dim.slice(1, 4).map((d, k) => (k < ih.dim[0]! ? d : 1));
    const lshape = lh.dim.slice(1, 4).map((d, k) => (k < lh.dim[0]! ? d : 1));
    if (ishape.join() !== lshape.join()) {
      throw new DatasetError(
        c.label,
        "size-mismatch",
        `label volume ${lshape.join("x")} does not match image volume ${ishape.join("x")} (${c.image})`,
        "Resample the label onto the image's grid (nearest neighbour).",
      );
    }
    const nvol = ih.dim[0]! >= 4 ? ih.dim[4]! : 1;
    if (c.volume >= nvol) {
      throw new DatasetError(
        c.image,
        "bad-argument",
        `modality ${c.volume} asked for, the volume has ${nvol}`,
      );
    }
    let indices = Array.from({ length: ishape[axis]! }, (_, i) => i);
    if (opts.slices === "foreground") {
      const vol = await cache.get(c.label);
      indices = indices.filter((i) => getSlice(vol, axis, i).data.some((v) => v !== 0));
    }
    const width = String(Math.max(ishape[axis]! - 1, 0)).length;
    for (const index of indices) {
      samples.push({
        name: `${c.id}_${letter}${String(index).padStart(Math.max(width, 3), "0")}`,
        group: c.id,
        image: c.image,
        masks: [c.label],
        slice: { axis, index, volume: c.volume },
      });
    }
  }
  return { layout: "nifti", root, samples, warnings: [] };
}

async function headerOf(path: string) {
  try {
    return await readNiftiHeader(path);
  } catch (err) {
    throw unreadable(path, "volume", basename(path), err);
  }
}

// ---------------------------------------------------------------------------------------------
// Loading

function unreadable(path: string, role: string, name: string, err: unknown): DatasetError {
  if (err instanceof DatasetError) return err;
  let msg = (err as Error).message ?? String(err);
  if (msg.startsWith(`${path}: `)) msg = msg.slice(path.length + 2);
  return new DatasetError(
    path,
    "unreadable",
    `cannot read the ${role} of sample "${name}": ${msg.replace(/\.$/, "")}`,
    "",
    {
      cause: err,
    },
  );
}

/** Decoded volumes, least recently used evicted past a byte budget; concurrent reads share one decode. */
class VolumeCache {
  private entries = new Map<string, { promise: Promise<NiftiVolume>; bytes: number }>();
  private total = 0;

  constructor(private readonly budget: number) {}

  get(path: string): Promise<NiftiVolume> {
    const hit = this.entries.get(path);
    if (hit) {
      this.entries.delete(path);
      this.entries.set(path, hit);
      return hit.promise;
    }
    const entry = { promise: readNifti(path), bytes: 0 };
    this.entries.set(path, entry);
    entry.promise.then(
      (vol) => {
        if (this.entries.get(path) !== entry) return;
        entry.bytes = vol.data.byteLength;
        this.total += entry.bytes;
        this.evict();
      },
      () => {
        if (this.entries.get(path) === entry) this.entries.delete(path);
      },
    );
    return entry.promise;
  }

  private evict(): void {
    for (const [key, e] of this.entries) {
      if (this.total <= this.budget || this.entries.size <= 1) break;
      if (e.bytes === 0) continue; // still loading
      this.entries.delete(key);
      this.total -= e.bytes;
    }
  }
}

class ImageDataset implements Dataset {
  readonly groups: readonly string[];
  private readonly byName: Map<string, SampleRef>;
  private readonly windows = new Map<string, [number, number]>();

  constructor(
    readonly root: string,
    readonly layout: LayoutKind,
    readonly samples: readonly SampleRef[],
    readonly masks: DetectedConvention,
    readonly split: Split,
    readonly splitSource: "split.json" | "layout" | "generated",
    readonly warnings: readonly string[],
    private readonly opts: OpenDatasetOptions,
    private readonly cache: VolumeCache,
  ) {
    this.groups = [...new Set(samples.map((s) => s.group))].sort(byName);
    this.byName = new Map(samples.map((s) => [s.name, s]));
  }

  get numClasses(): number {
    return this.masks.numClasses;
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
    const [img, ...maskImgs] = await Promise.all([
      readImage(ref.image).catch((e: unknown) => {
        throw unreadable(ref.image, "image", ref.name, e);
      }),
      ...ref.masks.map((m) =>
        readImage(m, { palette: "indices" }).catch((e: unknown) => {
          throw unreadable(m, "mask", ref.name, e);
        }),
      ),
    ]);
    let mask: LabelMap | undefined;
    for (let k = 0; k < maskImgs.length; k++) {
      const m = maskImgs[k]!;
      const file = ref.masks[k]!;
      checkSameSize(img, m, ref.image, file);
      const labels = toClassIndices(maskChannel(m, file), m.width, m.height, this.masks.convention, file);
      if (!mask) mask = labels;
      else
        for (let i = 0; i < labels.data.length; i++) mask.data[i] = Math.max(mask.data[i]!, labels.data[i]!);
    }
    return { name: ref.name, image: this.toImage(img), mask: mask! };
  }

  private toImage(img: DecodedImage): PlanarImage {
    const rgb = toRgb(img);
    const planes = toPlanar(rgb.data, rgb.height, rgb.width, 3);
    if (rgb.bitDepth === 8)
      return { data: planes, channels: 3, height: rgb.height, width: rgb.width, quantized: true };
    let lo = 0;
    let hi = 65535;
    if ((this.opts.intensity16 ?? "min-max") === "min-max") {
      lo = Number.POSITIVE_INFINITY;
      hi = Number.NEGATIVE_INFINITY;
      for (const v of planes) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    const k = hi > lo ? 255 / (hi - lo) : 0;
    for (let i = 0; i < planes.length; i++) planes[i] = (planes[i]! - lo) * k;
    return { data: planes, channels: 3, height: rgb.height, width: rgb.width, quantized: false };
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
    const [lo, hi] = this.windowOf(ref.image, vol);
    const n = img.rows * img.cols;
    const planes = new Float32Array(3 * n);
    const k = hi > lo ? 255 / (hi - lo) : 0;
    for (let i = 0; i < n; i++) {
      const v = (img.data[i]! - lo) * k;
      planes[i] = v > 0 ? Math.min(v, 255) : 0; // NaN -> 0
    }
    planes.copyWithin(n, 0, n);
    planes.copyWithin(2 * n, 0, n);
    const mask = toClassIndices(lab2.data, img.cols, img.rows, this.masks.convention, label);
    return {
      name: ref.name,
      image: { data: planes, channels: 3, height: img.rows, width: img.cols, quantized: false },
      mask,
      spacing: img.spacing,
    };
  }

  private windowOf(path: string, vol: NiftiVolume): [number, number] {
    const w = this.opts.window ?? { kind: "percentile", lower: 0.5, upper: 99.5 };
    if (w.kind === "range") return [w.min, w.max];
    let win = this.windows.get(path);
    if (!win) {
      win = percentileWindow(vol, w.lower, w.upper);
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

function checkSameSize(img: DecodedImage, mask: DecodedImage, imageFile: string, maskFile: string): void {
  if (img.width === mask.width && img.height === mask.height) return;
  throw new DatasetError(
    maskFile,
    "size-mismatch",
    `mask is ${mask.width}x${mask.height} (width x height) but its image ${imageFile} is ${img.width}x${img.height}`,
    `Resize the mask to ${img.width}x${img.height} with nearest-neighbour interpolation (so labels stay labels), ` +
      "or re-export the pair from the same source.",
  );
}

// ---------------------------------------------------------------------------------------------
// Mask convention detection

function evenly<T>(items: readonly T[], n: number): T[] {
  if (items.length <= n) return [...items];
  return Array.from({ length: n }, (_, i) => items[Math.floor((i * items.length) / n)]!);
}

async function detectMasks(
  scan: Scan,
  opts: OpenDatasetOptions,
  cache: VolumeCache,
): Promise<DetectedConvention> {
  if (opts.maskConvention) return givenConvention(opts.maskConvention);
  if (scan.layout === "nifti") {
    const labels = [...new Set(scan.samples.map((s) => s.masks[0]!))];
    const picked = evenly(labels, opts.detectSamples ?? 4);
    let max = 0;
    for (const path of picked) {
      const vol = await cache.get(path).catch((e: unknown) => {
        throw unreadable(path, "label volume", basename(path), e);
      });
      for (const v of scaledVolume(vol)) {
        if (!Number.isInteger(v) || v < 0 || v > 255) {
          throw new DatasetError(
            path,
            "bad-mask",
            `label value ${v} is not a class index 0..255`,
            "Label volumes hold integer classes.",
          );
        }
        if (v > max) max = v;
      }
    }
    const numClasses = Math.max(opts.numClasses ?? 0, max + 1, 2);
    const d = givenConvention({ kind: "labels", numClasses });
    const how = opts.numClasses ? "given" : `max label ${max} in ${picked.length} volume(s)`;
    return { ...d, description: `label volumes, ${numClasses} classes (${how})`, sampled: picked.length };
  }
  if (opts.numClasses !== undefined && opts.numClasses > 2)
    return givenConvention({ kind: "labels", numClasses: opts.numClasses });
  const picked = evenly(scan.samples, opts.detectSamples ?? 32);
  const counts: ValueCounts = new Map();
  let lossy = false;
  let sixteen = false;
  let files = 0;
  for (const s of picked) {
    for (const m of s.masks) {
      const img = await readImage(m, { palette: "indices" }).catch((e: unknown) => {
        throw unreadable(m, "mask", s.name, e);
      });
      if (img.format === "jpeg") lossy = true;
      if (img.bitDepth === 16) sixteen = true;
      mergeCounts(counts, countValues(maskChannel(img, m)));
      files++;
    }
  }
  return detectConvention(counts, { sampled: files, lossy, sixteenBit: sixteen });
}

// ---------------------------------------------------------------------------------------------

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
  let scan: Scan;
  switch (layout) {
    case "generic":
      scan = scanGeneric(root, "generic");
      break;
    case "kvasir-seg":
      scan = scanGeneric(
        existsSync(join(root, "Kvasir-SEG")) ? join(root, "Kvasir-SEG") : root,
        "kvasir-seg",
      );
      break;
    case "isic2018":
      scan = scanIsic(root);
      break;
    case "busi":
      scan = scanBusi(root);
      break;
    case "nifti":
      scan = await scanNifti(root, options, cache);
      break;
    default:
      throw new DatasetError(dir, "bad-argument", `unknown layout "${layout as string}"`);
  }
  scan.samples.sort((a, b) => byName(a.name, b.name));
  const masks = await detectMasks(scan, options, cache);
  const groups = [...new Set(scan.samples.map((s) => s.group))].sort(byName);
  let split: Split;
  let source: "split.json" | "layout" | "generated";
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
        if (mi.width !== img.width || mi.height !== img.height) {
          checkSameSize(
            { ...img, data: new Uint8Array(0), palette: false, bitDepth: 8, channels: 1 },
            { ...mi, data: new Uint8Array(0), palette: false, bitDepth: 8, channels: 1 },
            s.image,
            m,
          );
        }
      }
    } catch (err) {
      if (err instanceof DatasetError) problems.push(err);
      else throw err;
    }
  }
  return problems;
}
