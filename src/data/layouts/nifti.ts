// NIfTI datasets (MSD / nnU-Net): imagesTr/CASE.nii.gz (or nnU-Net's CASE_0000.nii.gz) +
// labelsTr/CASE.nii.gz, read as 2-D slices along a chosen voxel axis; the split unit is the case.
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { type Axis, getSlice, readNiftiHeader } from "../../io/nifti/nifti.js";
import { DatasetError, listSome, unreadable } from "../errors.js";
import type { VolumeCache } from "../volume-cache.js";
import { list, type SampleRef, type Scan } from "./scan.js";

/** The options of openDataset that the NIfTI scan reads. */
export interface NiftiScanOptions {
  /** Slicing axis (voxel axis 0, 1 or 2). Default 2. */
  axis?: Axis;
  /** All slices (default) or only slices whose label has foreground (reads all labels at open). */
  slices?: "all" | "foreground";
  /** The _000M file (nnU-Net) or the 4th-dimension index (MSD). Default 0. */
  modality?: number;
}

const NIFTI_EXT = /\.nii(\.gz)?$/i;

export async function scanNifti(root: string, opts: NiftiScanOptions, cache: VolumeCache): Promise<Scan> {
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
