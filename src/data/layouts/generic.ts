// The generic layout (DIR/images/NAME.ext + DIR/masks/NAME.ext) and Kvasir-SEG, which is the
// same as downloaded (masks are JPEG: thresholded at 127 by the mask detection).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { DatasetError } from "../errors.js";
import { pairByName, type Scan } from "./scan.js";

export function scanGeneric(root: string, layout: "generic" | "kvasir-seg"): Scan {
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
