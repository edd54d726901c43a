// What a dataset hands out.
import type { LabelMap, PlanarImage } from "../io/planar-image.js";

/** One sample as a dataset hands it out: full resolution, before resizing. */
export interface LoadedSample {
  name: string;
  image: PlanarImage;
  mask: LabelMap;
  /** Pixel spacing [rows, cols] where the source has one (NIfTI), else undefined. */
  spacing?: [number, number];
}
